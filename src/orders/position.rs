//! Per-symbol position and realised PnL from fills (average-cost method).

use rust_decimal::Decimal;

use crate::types::Side;

/// A position in one symbol, in base units, with its average entry price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Position {
    /// Signed quantity: positive long, negative short.
    pub qty: Decimal,
    /// Average entry price of the open quantity.
    pub avg_price: Decimal,
    /// Realised PnL in the quote currency, before fees.
    pub realized_pnl: Decimal,
    /// Fees paid (as reported per fill, normally quote currency).
    pub fees: Decimal,
    /// Base volume traded.
    pub volume: Decimal,
}

impl Position {
    /// Applies a fill. Returns false, leaving the position as it was, if the figures cannot
    /// be represented (a decimal overflow): a report from the network never panics here.
    pub fn apply(&mut self, side: Side, qty: Decimal, price: Decimal, fee: Decimal) -> bool {
        match self.applied(side, qty, price, fee) {
            Some(p) => {
                *self = p;
                true
            }
            None => false,
        }
    }

    fn applied(&self, side: Side, qty: Decimal, price: Decimal, fee: Decimal) -> Option<Self> {
        let mut p = *self;
        let signed = qty.checked_mul(side.sign())?;
        p.fees = p.fees.checked_add(fee)?;
        p.volume = p.volume.checked_add(qty)?;
        if qty.is_zero() {
            return Some(p);
        }
        let same_direction =
            p.qty.is_zero() || p.qty.is_sign_positive() == signed.is_sign_positive();
        if same_direction {
            let new_qty = p.qty.checked_add(signed)?;
            let held = p.avg_price.checked_mul(p.qty.abs())?;
            let added = price.checked_mul(qty)?;
            p.avg_price = held.checked_add(added)?.checked_div(new_qty.abs())?;
            p.qty = new_qty;
            return Some(p);
        }
        // Reducing (and maybe flipping) the position.
        let closing = qty.min(p.qty.abs());
        let direction = if p.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        let pnl = price
            .checked_sub(p.avg_price)?
            .checked_mul(closing)?
            .checked_mul(direction)?;
        p.realized_pnl = p.realized_pnl.checked_add(pnl)?;
        p.qty = p.qty.checked_add(signed)?;
        if p.qty.is_zero() {
            p.avg_price = Decimal::ZERO;
        } else if p.qty.is_sign_positive() != direction.is_sign_positive() {
            // Flipped: the remainder opens at this price.
            p.avg_price = price;
        }
        Some(p)
    }

    /// Unrealised PnL at `mark`.
    pub fn unrealized_pnl(&self, mark: Decimal) -> Decimal {
        mark.checked_sub(self.avg_price)
            .and_then(|d| d.checked_mul(self.qty))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn average_cost_and_realised_pnl() {
        let mut p = Position::default();
        p.apply(Side::Buy, dec!(1), dec!(100), dec!(0.1));
        p.apply(Side::Buy, dec!(1), dec!(110), dec!(0.1));
        assert_eq!((p.qty, p.avg_price), (dec!(2), dec!(105)));
        p.apply(Side::Sell, dec!(0.5), dec!(120), dec!(0));
        assert_eq!(p.realized_pnl, dec!(7.5));
        assert_eq!(p.qty, dec!(1.5));
        // Flip to short: close 1.5 at 100 (-7.5), open 0.5 short at 100.
        p.apply(Side::Sell, dec!(2), dec!(100), dec!(0));
        assert_eq!(p.realized_pnl, dec!(0));
        assert_eq!((p.qty, p.avg_price), (dec!(-0.5), dec!(100)));
        p.apply(Side::Buy, dec!(0.5), dec!(90), dec!(0));
        assert_eq!((p.qty, p.realized_pnl), (dec!(0), dec!(5)));
        assert_eq!(p.fees, dec!(0.2));
        assert_eq!(p.volume, dec!(5));
        // Unrealised PnL: (mark - average) x signed quantity.
        let mut q = Position::default();
        q.apply(Side::Buy, dec!(1.5), dec!(100), dec!(0));
        assert_eq!(q.unrealized_pnl(dec!(110)), dec!(15));
        assert_eq!(q.unrealized_pnl(dec!(90)), dec!(-15));
        q.apply(Side::Sell, dec!(3), dec!(100), dec!(0));
        assert_eq!(q.unrealized_pnl(dec!(110)), dec!(-15));
        // Buying more at a different price averages by quantity, not by count.
        let mut r = Position::default();
        r.apply(Side::Buy, dec!(1), dec!(100), dec!(0));
        r.apply(Side::Buy, dec!(3), dec!(200), dec!(0));
        assert_eq!(r.avg_price, dec!(175));
    }

    #[test]
    fn zero_quantity_and_overflow_never_panic() {
        let mut p = Position::default();
        // A zero-quantity fill on a flat position divided by zero before.
        assert!(p.apply(Side::Buy, dec!(0), dec!(100), dec!(0.1)));
        assert_eq!((p.qty, p.avg_price, p.fees), (dec!(0), dec!(0), dec!(0.1)));
        p.apply(Side::Buy, dec!(1), dec!(100), dec!(0));
        let before = p;
        // price x qty beyond Decimal: refused, the position unchanged.
        assert!(!p.apply(Side::Buy, Decimal::MAX, Decimal::MAX, dec!(0)));
        assert_eq!(p, before);
        assert_eq!(
            Position {
                avg_price: Decimal::MIN,
                qty: Decimal::MAX,
                ..p
            }
            .unrealized_pnl(Decimal::MAX),
            dec!(0)
        );
    }
}

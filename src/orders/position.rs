//! Per-symbol position and realised PnL from fills (average-cost method).

use rust_decimal::Decimal;

use crate::types::Side;

/// A position in one symbol, in base units, with its average entry price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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
    /// Applies a fill.
    pub fn apply(&mut self, side: Side, qty: Decimal, price: Decimal, fee: Decimal) {
        let signed = qty * side.sign();
        self.fees += fee;
        self.volume += qty;
        let same_direction =
            self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive();
        if same_direction {
            let new_qty = self.qty + signed;
            self.avg_price = (self.avg_price * self.qty.abs() + price * qty) / new_qty.abs();
            self.qty = new_qty;
            return;
        }
        // Reducing (and maybe flipping) the position.
        let closing = qty.min(self.qty.abs());
        let direction = if self.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        self.realized_pnl += (price - self.avg_price) * closing * direction;
        self.qty += signed;
        if self.qty.is_zero() {
            self.avg_price = Decimal::ZERO;
        } else if self.qty.is_sign_positive() != direction.is_sign_positive() {
            // Flipped: the remainder opens at this price.
            self.avg_price = price;
        }
    }

    /// Unrealised PnL at `mark`.
    pub fn unrealized_pnl(&self, mark: Decimal) -> Decimal {
        (mark - self.avg_price) * self.qty
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
    }
}

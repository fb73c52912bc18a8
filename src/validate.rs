//! Pre-trade checks: shape rules (what Kraken would refuse whatever the market) and instrument
//! rules (increments, minimums, pair status). Everything a strategy sends passes here before
//! the wire; every refusal is an [`OrderError`] naming the field and the rule.

use rust_decimal::Decimal;

use crate::error::{Field, OrderError, Rule};
use crate::ids::SymbolId;
use crate::order::{
    AddOrder, AmendOrder, BATCH_ADD_RANGE, BATCH_CANCEL_RANGE, BatchAdd, BatchCancel,
    CancelAllAfter, CancelOrder, Conditional, EditOrder, OrderRef, Quantity, Triggers,
};
use crate::time::Timestamp;
use crate::types::{OrderType, PairStatus, PriceType, Side, TimeInForce};

/// A pair's trading rules, from the `instrument` channel or configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// The pair.
    pub symbol: SymbolId,
    /// Trading status.
    pub status: PairStatus,
    /// Prices must be multiples of this.
    pub price_increment: Decimal,
    /// Quantities must be multiples of this.
    pub qty_increment: Decimal,
    /// Minimum base quantity.
    pub qty_min: Decimal,
    /// Minimum price × quantity.
    pub cost_min: Decimal,
}

/// Error shorthand.
fn err(field: Field, rule: Rule) -> Result<(), OrderError> {
    Err(OrderError::new(field, rule))
}

fn positive(field: Field, v: Decimal) -> Result<(), OrderError> {
    if v.is_sign_positive() && !v.is_zero() {
        Ok(())
    } else {
        err(field, Rule::NotPositive)
    }
}

fn multiple(field: Field, v: Decimal, inc: Decimal) -> Result<(), OrderError> {
    if inc.is_zero() || is_multiple(v, inc) {
        Ok(())
    } else {
        err(field, Rule::NotMultipleOf(inc))
    }
}

/// Whether `v` is a whole multiple of `inc` (not zero). With `v` = m·10⁻ˢ and `inc` = n·10⁻ᵗ,
/// that is n dividing m·10ᵗ⁻ˢ (t ≥ s), or n·10ˢ⁻ᵗ dividing m (s > t): one integer remainder
/// when the mantissas fit 64 bits and the scales differ by at most 19 (every price and
/// quantity a strategy sends), `Decimal`'s general remainder otherwise.
fn is_multiple(v: Decimal, inc: Decimal) -> bool {
    const POW10: [u128; 20] = {
        let mut p = [1u128; 20];
        let mut i = 1;
        while i < 20 {
            p[i] = p[i - 1] * 10;
            i += 1;
        }
        p
    };
    let (m, n) = (v.mantissa().unsigned_abs(), inc.mantissa().unsigned_abs());
    let (s, t) = (v.scale(), inc.scale());
    if m <= u128::from(u64::MAX) && n <= u128::from(u64::MAX) && s.abs_diff(t) < 20 {
        // m, n < 2⁶⁴ and 10¹⁹ < 2⁶⁴: no product below overflows.
        return if t >= s {
            (m * POW10[(t - s) as usize]).is_multiple_of(n)
        } else {
            m.is_multiple_of(n * POW10[(s - t) as usize])
        };
    }
    v.checked_rem(inc).is_some_and(|r| r.is_zero())
}

/// Deadlines must lie 0.5 s to 60 s ahead (Kraken's documented window).
fn deadline_ok(deadline: Option<Timestamp>, now: Timestamp) -> Result<(), OrderError> {
    match deadline {
        Some(d) if d.0 < now.0 + 500_000 || d.0 > now.0 + 60_000_000 => {
            err(Field::Deadline, Rule::OutOfRange)
        }
        _ => Ok(()),
    }
}

fn triggers_ok(t: &Triggers, order_type: OrderType) -> Result<(), OrderError> {
    // A pct trigger may be negative (e.g. -2 % below last); trailing offsets and static prices
    // must be positive.
    if order_type.is_trailing() || t.price_type == PriceType::Static {
        positive(Field::TriggerPrice, t.price)?;
    } else if t.price.is_zero() {
        return err(Field::TriggerPrice, Rule::NotPositive);
    }
    if order_type.is_trailing() && t.price_type == PriceType::Static {
        // Trailing offsets are relative by nature.
        return err(Field::Triggers, Rule::NotAllowedFor(order_type));
    }
    Ok(())
}

fn conditional_ok(c: &Conditional) -> Result<(), OrderError> {
    let t = c.order_type;
    if matches!(
        t,
        OrderType::Market | OrderType::Iceberg | OrderType::SettlePosition
    ) {
        return err(Field::Conditional, Rule::NotAllowedFor(t));
    }
    match (t.needs_limit_price(), c.limit_price) {
        (true, None) => return err(Field::Conditional, Rule::RequiredFor(t)),
        (false, Some(_)) => return err(Field::Conditional, Rule::NotAllowedFor(t)),
        (true, Some(p)) if !t.is_trailing() => positive(Field::Conditional, p)?,
        _ => {}
    }
    match (t.needs_triggers(), c.trigger_price) {
        (true, None) => err(Field::Conditional, Rule::RequiredFor(t)),
        (false, Some(_)) => err(Field::Conditional, Rule::NotAllowedFor(t)),
        _ => Ok(()),
    }
}

impl AddOrder {
    /// Shape rules, independent of the instrument. `now` bounds the deadline and expiry.
    pub fn check_shape(&self, now: Timestamp) -> Result<(), OrderError> {
        let t = self.order_type;
        match self.qty {
            Quantity::Base(q) => positive(Field::OrderQty, q)?,
            Quantity::Quote(q) => {
                positive(Field::CashOrderQty, q)?;
                if t != OrderType::Market || self.side != Side::Buy {
                    return err(Field::CashOrderQty, Rule::NotAllowedFor(t));
                }
                if self.margin {
                    return err(Field::CashOrderQty, Rule::ConflictsWith(Field::Margin));
                }
            }
        }
        match (t.needs_limit_price(), self.limit_price) {
            (true, None) => return err(Field::LimitPrice, Rule::RequiredFor(t)),
            (false, Some(_)) => return err(Field::LimitPrice, Rule::NotAllowedFor(t)),
            (true, Some(p)) if t != OrderType::TrailingStopLimit => positive(Field::LimitPrice, p)?,
            _ => {}
        }
        if self.limit_price_type.is_some() && t != OrderType::TrailingStopLimit {
            return err(Field::LimitPriceType, Rule::NotAllowedFor(t));
        }
        match (t.needs_triggers(), &self.triggers) {
            (true, None) => return err(Field::Triggers, Rule::RequiredFor(t)),
            (false, Some(_)) => return err(Field::Triggers, Rule::NotAllowedFor(t)),
            (true, Some(tr)) => triggers_ok(tr, t)?,
            _ => {}
        }
        match (t == OrderType::Iceberg, self.display_qty) {
            (true, None) => return err(Field::DisplayQty, Rule::RequiredFor(t)),
            (false, Some(_)) => return err(Field::DisplayQty, Rule::NotAllowedFor(t)),
            (true, Some(d)) => {
                positive(Field::DisplayQty, d)?;
                let q = self.base_qty();
                // Checked: a huge display quantity times 15 must not overflow (and panic).
                if d.checked_mul(Decimal::from(15)).is_some_and(|x| x < q) {
                    return err(Field::DisplayQty, Rule::IcebergTooSmall);
                }
                if d > q {
                    return err(Field::DisplayQty, Rule::ExceedsOrderQty);
                }
            }
            _ => {}
        }
        if self.post_only {
            if !matches!(t, OrderType::Limit | OrderType::Iceberg) {
                return err(Field::PostOnly, Rule::NotAllowedFor(t));
            }
            if matches!(self.time_in_force, TimeInForce::Ioc | TimeInForce::Fok) {
                return err(Field::PostOnly, Rule::ConflictsWith(Field::TimeInForce));
            }
        }
        match (self.time_in_force, self.expire_time) {
            (TimeInForce::Gtd, None) => {
                return err(Field::ExpireTime, Rule::RequiredWith(Field::TimeInForce));
            }
            (TimeInForce::Gtd, Some(e)) if e <= now => {
                return err(Field::ExpireTime, Rule::OutOfRange);
            }
            (tif, Some(_)) if tif != TimeInForce::Gtd => {
                return err(Field::ExpireTime, Rule::ConflictsWith(Field::TimeInForce));
            }
            (TimeInForce::Fok, _) if t != OrderType::Limit => {
                return err(Field::TimeInForce, Rule::NotAllowedFor(t));
            }
            _ => {}
        }
        if t == OrderType::SettlePosition && !self.margin {
            return err(Field::Margin, Rule::RequiredFor(t));
        }
        if let Some(c) = &self.conditional {
            conditional_ok(c)?;
        }
        deadline_ok(self.deadline, now)
    }

    /// Instrument rules: pair status, increments, minimums.
    pub fn check_instrument(&self, ins: &Instrument) -> Result<(), OrderError> {
        let t = self.order_type;
        let status_ok = match ins.status {
            PairStatus::Online => true,
            PairStatus::PostOnly => self.post_only,
            PairStatus::LimitOnly => t == OrderType::Limit,
            PairStatus::ReduceOnly => self.reduce_only,
            _ => false,
        };
        if !status_ok {
            return err(Field::Symbol, Rule::PairStatus(ins.status));
        }
        if let Quantity::Base(q) = self.qty {
            if q < ins.qty_min {
                return err(Field::OrderQty, Rule::BelowMinimum(ins.qty_min));
            }
            multiple(Field::OrderQty, q, ins.qty_increment)?;
        }
        if let Some(d) = self.display_qty {
            multiple(Field::DisplayQty, d, ins.qty_increment)?;
        }
        if let (Some(p), false) = (self.limit_price, t == OrderType::TrailingStopLimit) {
            multiple(Field::LimitPrice, p, ins.price_increment)?;
            let Some(cost) = p.checked_mul(self.base_qty()) else {
                return err(Field::OrderQty, Rule::TooLarge);
            };
            if cost < ins.cost_min {
                return err(
                    Field::OrderQty,
                    Rule::CostBelowMinimum {
                        cost,
                        min: ins.cost_min,
                    },
                );
            }
        }
        if let Some(tr) = &self.triggers
            && tr.price_type == PriceType::Static
        {
            multiple(Field::TriggerPrice, tr.price, ins.price_increment)?;
        }
        Ok(())
    }

    /// Shape and instrument rules.
    pub fn validate(&self, ins: &Instrument, now: Timestamp) -> Result<(), OrderError> {
        if ins.symbol != self.symbol {
            return err(Field::Symbol, Rule::UnknownInstrument);
        }
        self.check_shape(now)?;
        self.check_instrument(ins)
    }
}

impl AmendOrder {
    /// Shape rules, and instrument rules when `ins` is given.
    pub fn validate(&self, ins: Option<&Instrument>, now: Timestamp) -> Result<(), OrderError> {
        if let OrderRef::UserRef(_) = self.target {
            return err(Field::OrderUserref, Rule::NamesManyOrders);
        }
        if self.order_qty.is_none()
            && self.display_qty.is_none()
            && self.limit_price.is_none()
            && self.trigger_price.is_none()
        {
            return err(Field::OrderQty, Rule::NothingToChange);
        }
        if let Some(q) = self.order_qty {
            positive(Field::OrderQty, q)?;
        }
        if let Some(d) = self.display_qty {
            positive(Field::DisplayQty, d)?;
        }
        if let Some(ins) = ins {
            if let Some(q) = self.order_qty {
                multiple(Field::OrderQty, q, ins.qty_increment)?;
            }
            if let Some(d) = self.display_qty {
                multiple(Field::DisplayQty, d, ins.qty_increment)?;
            }
            if let (Some(p), None | Some(PriceType::Static)) =
                (self.limit_price, self.limit_price_type)
            {
                positive(Field::LimitPrice, p)?;
                multiple(Field::LimitPrice, p, ins.price_increment)?;
            }
            if matches!(
                ins.status,
                PairStatus::CancelOnly | PairStatus::Maintenance | PairStatus::Delisted
            ) {
                return err(Field::Symbol, Rule::PairStatus(ins.status));
            }
        }
        deadline_ok(self.deadline, now)
    }
}

impl EditOrder {
    /// Shape rules, and instrument rules when `ins` is given.
    pub fn validate(&self, ins: Option<&Instrument>, now: Timestamp) -> Result<(), OrderError> {
        if self.order_qty.is_none()
            && self.limit_price.is_none()
            && self.display_qty.is_none()
            && self.triggers.is_none()
        {
            return err(Field::OrderQty, Rule::NothingToChange);
        }
        if let Some(q) = self.order_qty {
            positive(Field::OrderQty, q)?;
        }
        if let Some(p) = self.limit_price {
            positive(Field::LimitPrice, p)?;
        }
        if let Some(ins) = ins {
            if let Some(q) = self.order_qty {
                if q < ins.qty_min {
                    return err(Field::OrderQty, Rule::BelowMinimum(ins.qty_min));
                }
                multiple(Field::OrderQty, q, ins.qty_increment)?;
            }
            if let Some(p) = self.limit_price {
                multiple(Field::LimitPrice, p, ins.price_increment)?;
            }
        }
        deadline_ok(self.deadline, now)
    }
}

fn no_duplicates(refs: &[OrderRef]) -> Result<(), OrderError> {
    // Quadratic, but n <= 50 and this avoids a hash set allocation.
    for (i, a) in refs.iter().enumerate() {
        if refs[i + 1..].contains(a) {
            return err(Field::Orders, Rule::Duplicate);
        }
    }
    Ok(())
}

impl CancelOrder {
    /// At least one order, no duplicates.
    pub fn validate(&self) -> Result<(), OrderError> {
        if self.refs.is_empty() {
            return err(
                Field::Orders,
                Rule::Count {
                    min: 1,
                    max: crate::order::CANCEL_MAX,
                    got: 0,
                },
            );
        }
        no_duplicates(&self.refs)
    }
}

impl CancelAllAfter {
    /// Timeout below one day.
    pub fn validate(&self) -> Result<(), OrderError> {
        if self.timeout_secs >= 86_400 {
            return err(Field::Timeout, Rule::OutOfRange);
        }
        Ok(())
    }
}

impl BatchAdd {
    /// 2..=15 orders, one symbol, each valid; deadline and validate only at batch level.
    pub fn validate(&self, ins: &Instrument, now: Timestamp) -> Result<(), OrderError> {
        let (min, max) = BATCH_ADD_RANGE;
        let got = self.orders.len();
        if !(min..=max).contains(&got) {
            return err(Field::Orders, Rule::Count { min, max, got });
        }
        for o in &self.orders {
            if o.symbol != self.symbol {
                return err(Field::Symbol, Rule::MixedSymbols);
            }
            if o.deadline.is_some() {
                return err(Field::Deadline, Rule::BatchLevelOnly);
            }
            if o.validate {
                return err(Field::Orders, Rule::BatchLevelOnly);
            }
            o.validate(ins, now)?;
        }
        deadline_ok(self.deadline, now)
    }
}

impl BatchCancel {
    /// 2..=50 unique orders.
    pub fn validate(&self) -> Result<(), OrderError> {
        let (min, max) = BATCH_CANCEL_RANGE;
        let got = self.refs.len();
        if !(min..=max).contains(&got) {
            return err(Field::Orders, Rule::Count { min, max, got });
        }
        no_duplicates(&self.refs)
    }
}

#[cfg(test)]
mod tests {
    use super::is_multiple;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn by_remainder(v: Decimal, inc: Decimal) -> bool {
        v.checked_rem(inc).is_some_and(|r| r.is_zero())
    }

    #[test]
    fn increments_of_every_scale() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        for (v, inc, want) in [
            ("26599.9", "0.1", true),
            ("26599.90", "0.1", true),
            ("26599.95", "0.1", false),
            ("100", "0.5", true),
            ("100.5", "0.5", true),
            ("100.25", "0.5", false),
            ("0.00016000", "0.00000001", true),
            ("0.000000015", "0.00000001", false),
            ("-3.3", "1.1", true),
            ("30", "25", false),
            ("50", "25", true),
            ("7922816251426433759354395033.5", "0.5", true),
        ] {
            assert_eq!(is_multiple(d(v), d(inc)), want, "{v} of {inc}");
            assert_eq!(by_remainder(d(v), d(inc)), want, "{v} of {inc}");
        }
    }

    proptest! {
        /// The integer path agrees with `Decimal`'s remainder, mantissas of any size (so both
        /// paths run), scales 0 to 28.
        #[test]
        fn agrees_with_the_remainder(
            m in any::<i64>(), s in 0u32..=28, n in 1u64..1_000_000, t in 0u32..=28, k in 0i64..1000,
            wide in any::<bool>(),
        ) {
            let inc = Decimal::from_i128_with_scale(i128::from(n), t);
            let v = Decimal::from_i128_with_scale(i128::from(m) * if wide { 1 << 30 } else { 1 }, s);
            prop_assert_eq!(is_multiple(v, inc), by_remainder(v, inc), "{} of {}", v, inc);
            // And a true multiple, when it can be written.
            if let Some(v) = inc.checked_mul(Decimal::from(k)) {
                prop_assert!(is_multiple(v, inc), "{} of {}", v, inc);
            }
        }
    }
}

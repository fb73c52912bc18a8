//! A model of Kraken's per-pair trading rate counter (`docs/kraken-protocol.md` §6).
//!
//! Every transaction adds a fixed cost plus, for amends, edits and cancels, a penalty that
//! shrinks with the order's age; the counter decays continuously at the tier's rate. Kraken
//! rejects with `EOrder:Rate limit exceeded` when the counter reaches the threshold; we refuse
//! locally first. Counts are kept in thousandths so decay is exact integer arithmetic.

use crate::ids::SymbolId;

/// Account tier: sets the threshold and the decay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Threshold 60, decay 1/s.
    Starter,
    /// Threshold 125, decay 2.34/s.
    Intermediate,
    /// Threshold 180, decay 3.75/s.
    Pro,
}

impl Tier {
    /// The counter's threshold (Kraken's `maxratecount`).
    pub const fn threshold(self) -> u32 {
        match self {
            Tier::Starter => 60,
            Tier::Intermediate => 125,
            Tier::Pro => 180,
        }
    }

    /// Decay per second, in thousandths.
    pub const fn decay_milli_per_sec(self) -> u64 {
        match self {
            Tier::Starter => 1_000,
            Tier::Intermediate => 2_340,
            Tier::Pro => 3_750,
        }
    }

    /// Open orders allowed per pair.
    pub const fn max_open_orders(self) -> u32 {
        match self {
            Tier::Starter => 60,
            Tier::Intermediate => 80,
            Tier::Pro => 225,
        }
    }

    /// The tier whose threshold is `maxratecount`, if any.
    pub const fn from_threshold(max: u32) -> Option<Tier> {
        match max {
            60 => Some(Tier::Starter),
            125 => Some(Tier::Intermediate),
            180 => Some(Tier::Pro),
            _ => None,
        }
    }
}

/// A transaction to be charged. Ages are how long the order has rested since it was placed or
/// last amended, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transaction<'a> {
    /// `add_order`: +1.
    Add,
    /// `amend_order`: +1, plus 3/2/1 under 5/10/15 s.
    Amend {
        /// Order age.
        age_ns: u64,
    },
    /// `edit_order`: +1, plus 6/5/4/2/1 under 5/10/15/45/90 s.
    Edit {
        /// Order age.
        age_ns: u64,
    },
    /// `cancel_order`: 8/6/5/4/2/1 under 5/10/15/45/90/300 s.
    Cancel {
        /// Order age.
        age_ns: u64,
    },
    /// `batch_add` of `n` orders: n/2, rounded up (the rounding is unconfirmed; up is the
    /// cautious reading).
    BatchAdd {
        /// Orders in the batch.
        n: u32,
    },
    /// `batch_cancel`: each order's cancel penalty by its own age.
    BatchCancel {
        /// Ages of the cancelled orders.
        ages_ns: &'a [u64],
    },
}

const SEC: u64 = 1_000_000_000;

fn penalty(age_ns: u64, table: &[(u64, u64)]) -> u64 {
    table
        .iter()
        .find(|&&(limit, _)| age_ns < limit * SEC)
        .map_or(0, |&(_, p)| p * 1000)
}

const AMEND: &[(u64, u64)] = &[(5, 3), (10, 2), (15, 1)];
const EDIT: &[(u64, u64)] = &[(5, 6), (10, 5), (15, 4), (45, 2), (90, 1)];
const CANCEL: &[(u64, u64)] = &[(5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1)];

impl Transaction<'_> {
    /// Cost in thousandths of a count.
    pub fn cost_milli(&self) -> u64 {
        match *self {
            Transaction::Add => 1000,
            Transaction::Amend { age_ns } => 1000 + penalty(age_ns, AMEND),
            Transaction::Edit { age_ns } => 1000 + penalty(age_ns, EDIT),
            Transaction::Cancel { age_ns } => penalty(age_ns, CANCEL),
            Transaction::BatchAdd { n } => u64::from(n.div_ceil(2)) * 1000,
            Transaction::BatchCancel { ages_ns } => {
                ages_ns.iter().map(|&a| penalty(a, CANCEL)).sum()
            }
        }
    }
}

/// A transaction refused because it would take the counter to its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "rate limit: counter {counter_milli}/1000 + cost {cost_milli}/1000 would reach {threshold}"
)]
pub struct RateLimited {
    /// Counter now, in thousandths.
    pub counter_milli: u64,
    /// The transaction's cost, in thousandths.
    pub cost_milli: u64,
    /// The threshold.
    pub threshold: u32,
    /// Nanoseconds until the transaction would fit.
    pub retry_after_ns: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct PairCounter {
    milli: u64,
    at_ns: u64,
}

/// Per-pair rate counters for one account.
#[derive(Clone, Debug)]
pub struct RateCounter {
    pairs: Vec<PairCounter>,
    threshold: u32,
    decay_milli_per_sec: u64,
}

impl RateCounter {
    /// Counters for `symbols` pairs at `tier`.
    pub fn new(tier: Tier, symbols: usize) -> Self {
        Self {
            pairs: vec![PairCounter::default(); symbols],
            threshold: tier.threshold(),
            decay_milli_per_sec: tier.decay_milli_per_sec(),
        }
    }

    /// The current threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Calibrates from the `maxratecount` of the executions ack. A known threshold also sets
    /// its tier's decay; an unknown one keeps the configured decay.
    pub fn calibrate(&mut self, maxratecount: u32) {
        self.threshold = maxratecount;
        if let Some(t) = Tier::from_threshold(maxratecount) {
            self.decay_milli_per_sec = t.decay_milli_per_sec();
        }
    }

    fn decayed(&self, p: PairCounter, now_ns: u64) -> u64 {
        let dt = now_ns.saturating_sub(p.at_ns);
        let decay =
            (u128::from(dt) * u128::from(self.decay_milli_per_sec) / u128::from(SEC)) as u64;
        p.milli.saturating_sub(decay)
    }

    /// The counter of `symbol` at `now_ns`, in thousandths.
    pub fn value_milli(&self, symbol: SymbolId, now_ns: u64) -> u64 {
        self.pairs
            .get(usize::from(symbol.0))
            .map_or(0, |&p| self.decayed(p, now_ns))
    }

    /// Charges `tx` to `symbol` if the counter stays below the threshold; refuses otherwise
    /// (and charges nothing: the request is not sent). Symbols outside the table pass.
    pub fn try_charge(
        &mut self,
        symbol: SymbolId,
        tx: Transaction<'_>,
        now_ns: u64,
    ) -> Result<(), RateLimited> {
        let cost = tx.cost_milli();
        let threshold_milli = u64::from(self.threshold) * 1000;
        let Some(p) = self.pairs.get(usize::from(symbol.0)).copied() else {
            return Ok(());
        };
        let current = self.decayed(p, now_ns);
        if current + cost >= threshold_milli {
            // Time for the counter to decay enough that current + cost < threshold.
            let excess = current + cost + 1 - threshold_milli;
            let retry_after_ns = if self.decay_milli_per_sec == 0 {
                u64::MAX
            } else {
                (u128::from(excess) * u128::from(SEC))
                    .div_ceil(u128::from(self.decay_milli_per_sec)) as u64
            };
            return Err(RateLimited {
                counter_milli: current,
                cost_milli: cost,
                threshold: self.threshold,
                retry_after_ns,
            });
        }
        self.pairs[usize::from(symbol.0)] = PairCounter {
            milli: current + cost,
            at_ns: now_ns,
        };
        Ok(())
    }

    /// Charges a transaction that is sent whatever the counter says (a cancel: it reduces risk,
    /// and the model may be pessimistic). If it does not fit, the exchange will most likely
    /// refuse it, and its counter is at the threshold already: so is ours from now on.
    pub fn charge_regardless(&mut self, symbol: SymbolId, tx: Transaction<'_>, now_ns: u64) {
        if self.try_charge(symbol, tx, now_ns).is_err() {
            self.on_rate_limited(symbol, now_ns);
        }
    }

    /// Kraken said `EOrder:Rate limit exceeded`: our model was behind, so snap to the threshold.
    pub fn on_rate_limited(&mut self, symbol: SymbolId, now_ns: u64) {
        if let Some(p) = self.pairs.get_mut(usize::from(symbol.0)) {
            *p = PairCounter {
                milli: u64::from(self.threshold) * 1000,
                at_ns: now_ns,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BTC: SymbolId = SymbolId(0);
    const S: u64 = SEC;

    /// The executions ack's `maxratecount` names the tier (the engine recalibrates from it).
    #[test]
    fn each_tier_is_found_by_its_threshold() {
        for t in [Tier::Starter, Tier::Intermediate, Tier::Pro] {
            assert_eq!(Tier::from_threshold(t.threshold()), Some(t));
        }
        assert_eq!(Tier::from_threshold(0), None);
        assert_eq!(Tier::from_threshold(61), None);
    }

    #[test]
    fn a_cancel_past_the_threshold_is_counted_as_the_exchange_will_count_it() {
        let mut c = RateCounter::new(Tier::Starter, 1);
        for _ in 0..55 {
            c.try_charge(BTC, Transaction::Add, 0).unwrap();
        }
        // A young order's cancel costs 8: it does not fit under 60, but it is sent.
        c.charge_regardless(BTC, Transaction::Cancel { age_ns: 0 }, 0);
        assert_eq!(c.value_milli(BTC, 0), 60_000);
        assert!(c.try_charge(BTC, Transaction::Add, 0).is_err());
        // One that fits is charged as usual.
        let mut d = RateCounter::new(Tier::Starter, 1);
        d.charge_regardless(BTC, Transaction::Cancel { age_ns: 20 * S }, 0);
        assert_eq!(d.value_milli(BTC, 0), 4_000);
    }

    #[test]
    fn costs_follow_the_published_table() {
        let c = |t: Transaction<'_>| t.cost_milli();
        assert_eq!(c(Transaction::Add), 1000);
        for (age, amend, edit, cancel) in [
            (0, 4, 7, 8),
            (4 * S, 4, 7, 8),
            (5 * S, 3, 6, 6),
            (9 * S, 3, 6, 6),
            (10 * S, 2, 5, 5),
            (15 * S, 1, 3, 4),
            (44 * S, 1, 3, 4),
            (45 * S, 1, 2, 2),
            (90 * S, 1, 1, 1),
            (299 * S, 1, 1, 1),
            (300 * S, 1, 1, 0),
        ] {
            assert_eq!(
                c(Transaction::Amend { age_ns: age }),
                amend * 1000,
                "amend {age}"
            );
            assert_eq!(
                c(Transaction::Edit { age_ns: age }),
                edit * 1000,
                "edit {age}"
            );
            assert_eq!(
                c(Transaction::Cancel { age_ns: age }),
                cancel * 1000,
                "cancel {age}"
            );
        }
        assert_eq!(c(Transaction::BatchAdd { n: 2 }), 1000);
        assert_eq!(c(Transaction::BatchAdd { n: 15 }), 8000);
        assert_eq!(
            c(Transaction::BatchCancel {
                ages_ns: &[0, 6 * S, 400 * S]
            }),
            14_000
        );
    }

    #[test]
    fn refuses_before_the_threshold_and_decays() {
        let mut r = RateCounter::new(Tier::Starter, 1);
        for i in 0..59 {
            r.try_charge(BTC, Transaction::Add, 0)
                .unwrap_or_else(|e| panic!("{i}: {e}"));
        }
        assert_eq!(r.value_milli(BTC, 0), 59_000);
        let e = r.try_charge(BTC, Transaction::Add, 0).unwrap_err();
        assert_eq!(
            (e.counter_milli, e.cost_milli, e.threshold),
            (59_000, 1000, 60)
        );
        // Refusals charge nothing.
        assert_eq!(r.value_milli(BTC, 0), 59_000);
        // Starter decays 1/s: after the advertised wait the add fits.
        assert_eq!(e.retry_after_ns, 1_000_000);
        assert!(
            r.try_charge(BTC, Transaction::Add, e.retry_after_ns - 1)
                .is_err()
        );
        r.try_charge(BTC, Transaction::Add, e.retry_after_ns)
            .unwrap();
        assert_eq!(r.value_milli(BTC, 10 * S), 59_999 - 9_999);
        assert_eq!(r.value_milli(BTC, 1000 * S), 0);
    }

    #[test]
    fn calibration_and_snap() {
        let mut r = RateCounter::new(Tier::Starter, 2);
        r.calibrate(180);
        assert_eq!(r.threshold(), 180);
        r.try_charge(BTC, Transaction::Add, 0).unwrap();
        // Pro decays 3.75/s.
        r.on_rate_limited(BTC, 0);
        assert_eq!(r.value_milli(BTC, 0), 180_000);
        assert_eq!(r.value_milli(BTC, S), 176_250);
        assert!(r.try_charge(BTC, Transaction::Add, 0).is_err());
        // Pairs are independent; unknown symbols pass.
        r.try_charge(SymbolId(1), Transaction::Add, 0).unwrap();
        r.try_charge(SymbolId::UNKNOWN, Transaction::Add, 0)
            .unwrap();
    }

    #[test]
    fn intermediate_decay_is_exact() {
        let mut r = RateCounter::new(Tier::Intermediate, 1);
        r.on_rate_limited(BTC, 0);
        assert_eq!(r.value_milli(BTC, 10 * S), 125_000 - 23_400);
        assert_eq!(Tier::Intermediate.max_open_orders(), 80);
    }
}

//! A local model of Kraken's REST call counter (per API key): every private call adds 1,
//! `TradesHistory` and `Ledgers` add 2, order entry (`AddOrder`, `CancelOrder` and the other
//! trading calls) is counted by the trading rate counter instead. The counter decays at a
//! tier-dependent rate; above its maximum Kraken answers `EAPI:Rate limit exceeded`.
//!
//! The engine's background REST work (lookups, trade history, tokens) asks this model first
//! and waits instead of being refused. Deterministic: time is a monotonic count passed in.

use super::Tier;

/// Kraken's REST call counter as we model it. Units are thousandths of a call.
#[derive(Clone, Debug)]
pub struct RestCallCounter {
    max_milli: u64,
    decay_milli_per_sec: u64,
    level_milli: u64,
    at_ns: u64,
}

/// What a private REST call costs on the counter.
pub fn rest_call_cost(method: &str) -> u32 {
    match method {
        "TradesHistory" | "Ledgers" => 2,
        "AddOrder" | "AddOrderBatch" | "CancelOrder" | "CancelOrderBatch" | "AmendOrder"
        | "EditOrder" => 0,
        _ => 1,
    }
}

impl RestCallCounter {
    /// The counter of an account of `tier`: Starter 15 (decay 0.33/s), Intermediate 20
    /// (0.5/s), Pro 20 (1/s).
    pub fn new(tier: Tier) -> Self {
        let (max, decay) = match tier {
            Tier::Starter => (15_000, 330),
            Tier::Intermediate => (20_000, 500),
            Tier::Pro => (20_000, 1_000),
        };
        Self {
            max_milli: max,
            decay_milli_per_sec: decay,
            level_milli: 0,
            at_ns: 0,
        }
    }

    fn decay_to(&mut self, now_ns: u64) {
        // Every tier decays (`decay_milli_per_sec > 0`, see `new`).
        let dt = now_ns.saturating_sub(self.at_ns);
        if dt == 0 {
            return;
        }
        let decayed = (u128::from(dt) * u128::from(self.decay_milli_per_sec) / 1_000_000_000)
            .min(u128::from(u64::MAX)) as u64;
        if decayed >= self.level_milli {
            self.level_milli = 0;
            self.at_ns = now_ns;
        } else {
            // Only the time the decayed thousandths account for is consumed: the rest carries
            // over, so frequent looks at the counter do not slow its decay.
            self.level_milli -= decayed;
            let used =
                (u128::from(decayed) * 1_000_000_000 / u128::from(self.decay_milli_per_sec)) as u64;
            self.at_ns += used;
        }
    }

    /// How long to wait (ns) before a call costing `cost` fits under the maximum.
    pub fn wait_ns(&mut self, cost: u32, now_ns: u64) -> u64 {
        self.decay_to(now_ns);
        let need = self.level_milli + u64::from(cost) * 1_000;
        if need <= self.max_milli {
            return 0;
        }
        // Rounded up: after this long, the call fits.
        (need - self.max_milli)
            .saturating_mul(1_000_000_000)
            .div_ceil(self.decay_milli_per_sec)
    }

    /// Counts a call made now.
    pub fn charge(&mut self, cost: u32, now_ns: u64) {
        self.decay_to(now_ns);
        self.level_milli = self.level_milli.saturating_add(u64::from(cost) * 1_000);
    }

    /// Kraken said the counter is over: ours is at the maximum, whatever it thought.
    pub fn on_rate_limited(&mut self, now_ns: u64) {
        self.decay_to(now_ns);
        self.level_milli = self.level_milli.max(self.max_milli);
    }

    /// The counter's level, in calls.
    pub fn level(&mut self, now_ns: u64) -> f64 {
        self.decay_to(now_ns);
        self.level_milli as f64 / 1_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn starter_allows_fifteen_then_waits_for_the_decay() {
        let mut c = RestCallCounter::new(Tier::Starter);
        for _ in 0..15 {
            assert_eq!(c.wait_ns(1, 0), 0);
            c.charge(1, 0);
        }
        // One more needs 1 call of decay: 1 / 0.33 s.
        let w = c.wait_ns(1, 0);
        assert_eq!(w, (1_000 * S).div_ceil(330));
        assert!(c.wait_ns(1, w - 1) > 0);
        assert_eq!(c.wait_ns(1, w), 0);
        // TradesHistory costs two: one more call of decay.
        assert_eq!(c.wait_ns(2, w), (1_000 * S).div_ceil(330));
        assert_eq!(rest_call_cost("TradesHistory"), 2);
        assert_eq!(rest_call_cost("AddOrder"), 0);
        assert_eq!(rest_call_cost("ClosedOrders"), 1);
    }

    #[test]
    fn pro_decays_one_a_second_and_a_refusal_snaps_to_the_maximum() {
        let mut c = RestCallCounter::new(Tier::Pro);
        c.charge(5, 0);
        assert_eq!(c.level(3 * S), 2.0);
        assert_eq!(c.level(10 * S), 0.0);
        c.on_rate_limited(10 * S);
        assert_eq!(c.level(10 * S), 20.0);
        assert_eq!(c.wait_ns(1, 10 * S), S);
        // Time never runs backwards in the model.
        assert_eq!(c.wait_ns(1, 0), S);
    }
}

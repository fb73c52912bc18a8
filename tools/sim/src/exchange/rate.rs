//! Kraken's rate counters: the per-pair order rate counter (a cost per order action, more for
//! young orders, decaying by tier) and the REST call counter.

use super::{Exchange, Ns};

impl Exchange {
    // ---- rate counter ---------------------------------------------------------------------

    /// Adds `cost` to the account's counter for `pair`; refuses with Kraken's error if that
    /// would reach the threshold. The cost stays counted either way ("fixed count applied on
    /// receipt of the transaction, even if it fails").
    pub(super) fn charge(
        &mut self,
        acct: usize,
        pair: usize,
        cost: f64,
        now: Ns,
    ) -> Result<(), String> {
        let a = &mut self.accounts[acct];
        let (max, decay, _) = a.tier.limits();
        let (v, at) = a.rate.get(&pair).copied().unwrap_or((0.0, now));
        let v = (v - decay * (now.saturating_sub(at) as f64 / 1e9)).max(0.0);
        let next = v + cost;
        // Boundary unconfirmed (≥ or >): "reaches the threshold" reads as ≥.
        if next >= max {
            a.rate.insert(pair, (v + cost.min(1.0), now));
            return Err("EOrder:Rate limit exceeded".into());
        }
        a.rate.insert(pair, (next, now));
        Ok(())
    }

    /// What a private REST call costs on Kraken's REST counter: 2 for the history calls, 0 for
    /// order entry (the trading counter counts it), 1 for the rest.
    pub fn rest_call_cost(method: &str) -> f64 {
        match method {
            "TradesHistory" | "Ledgers" | "QueryLedgers" => 2.0,
            "AddOrder" | "AddOrderBatch" | "AmendOrder" | "EditOrder" | "CancelOrder"
            | "CancelOrderBatch" => 0.0,
            _ => 1.0,
        }
    }

    fn rest_level(&self, acct: usize, now: Ns) -> f64 {
        let a = &self.accounts[acct];
        let Some((_, decay)) = a.tier.rest_limits() else {
            return 0.0;
        };
        let (v, at) = a.rest_calls;
        (v - decay * (now.saturating_sub(at) as f64 / 1e9)).max(0.0)
    }

    /// Charges a private REST call to the account's REST counter, or refuses it with
    /// `EAPI:Rate limit exceeded` when it would pass the tier's maximum. A refused call is not
    /// counted (unconfirmed at Kraken; the docs say only that calls are refused until the
    /// counter has decayed).
    pub fn charge_rest(&mut self, acct: usize, method: &str, now: Ns) -> Result<(), String> {
        let cost = Self::rest_call_cost(method);
        let Some((max, _)) = self.accounts[acct].tier.rest_limits() else {
            return Ok(());
        };
        if !self.rest_counter || cost == 0.0 {
            return Ok(());
        }
        let v = self.rest_level(acct, now);
        // With a millionth of a call's tolerance: the decay is kept in floating point, and a
        // counter a client brought exactly to the maximum must not read as over it.
        if v + cost > max + 1e-6 {
            self.accounts[acct].rest_calls = (v, now);
            self.rest_rate_limited += 1;
            return Err("EAPI:Rate limit exceeded".into());
        }
        self.accounts[acct].rest_calls = (v + cost, now);
        Ok(())
    }

    /// Another client on the same key has spent the REST counter: it stands at its maximum
    /// (the `rest-rate-limit` fault).
    pub fn spend_rest_counter(&mut self, acct: usize, now: Ns) {
        if let Some((max, _)) = self.accounts[acct].tier.rest_limits() {
            self.accounts[acct].rest_calls = (max, now);
        }
    }

    /// The REST counter's level (for tests).
    pub fn rest_counter_level(&self, acct: usize, now: Ns) -> f64 {
        self.rest_level(acct, now)
    }

    /// The counter's current value (for tests).
    pub fn rate_counter(&self, acct: usize, pair: usize, now: Ns) -> f64 {
        let a = &self.accounts[acct];
        let (_, decay, _) = a.tier.limits();
        a.rate.get(&pair).map_or(0.0, |&(v, at)| {
            (v - decay * (now.saturating_sub(at) as f64 / 1e9)).max(0.0)
        })
    }

    pub(super) fn age_penalty(age_ns: Ns, table: &[(u64, f64)]) -> f64 {
        table
            .iter()
            .find(|(s, _)| age_ns < s * 1_000_000_000)
            .map_or(0.0, |(_, p)| *p)
    }
}

//! Seeded histories: a busy account's closed orders, and a trading history before the start.

use rust_decimal::Decimal;

use super::new_order::NewOrder;
use super::{Exchange, Ns};

impl Exchange {
    /// A busy account's history: `n` orders on `symbol` placed and cancelled at `now` (no
    /// rate charge), e.g. so that a lookup must search past thousands of closed orders.
    pub fn seed_closed_orders(
        &mut self,
        acct: usize,
        symbol: &str,
        n: usize,
        now: Ns,
    ) -> Result<(), String> {
        let pi = self.pair_of(symbol).ok_or("unknown symbol")?;
        let p = &self.pairs[pi];
        let px = (p.ref_price / Decimal::from(2)).round_dp(0);
        let qty = p.qty_min;
        for _ in 0..n {
            let o = NewOrder {
                symbol: symbol.to_string(),
                buy: true,
                order_type: "limit".into(),
                qty: Some(qty),
                cash_qty: None,
                limit_price: Some(px),
                trigger_price: None,
                trigger_pct: false,
                tif: "gtc".into(),
                expire_ns: None,
                post_only: false,
                reduce_only: false,
                cl_ord_id: None,
                userref: None,
                display_qty: None,
                deadline_ns: None,
                validate: false,
            };
            let id = self.place(acct, &o, now)?;
            if let Some(&i) = id["order_id"].as_str().and_then(|id| self.index.get(id)) {
                self.close(i, "canceled", "User requested", now);
            }
        }
        Ok(())
    }

    /// A trading history before `now`, seeded: `n` orders, one a minute, alternating sides and
    /// pairs (BTC/USD, ETH/USD) at a price walking from the reference. Three in four take
    /// liquidity and fill at once (the fills land in the ledger, the balances and the trade
    /// history with their past times); every fourth rests far from the market and is still
    /// open. An executions snapshot then replays fills that predate the connection, as
    /// Kraken's does (its last 50).
    pub fn seed_history(&mut self, acct: usize, n: usize, now: Ns, seed: u64) {
        let mut rng = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let pairs: Vec<usize> = ["BTC/USD", "ETH/USD"]
            .iter()
            .filter_map(|s| self.pair_of(s))
            .collect();
        if pairs.is_empty() {
            return;
        }
        let refs: Vec<Decimal> = pairs.iter().map(|&pi| self.pairs[pi].ref_price).collect();
        for i in 0..n {
            let pi = pairs[i % pairs.len()];
            let at = now.saturating_sub((n - i) as u64 * 60 * 1_000_000_000);
            let p = &mut self.pairs[pi];
            // A walk of up to ±5 ticks a minute.
            let step = Decimal::from((next() % 11) as i64 - 5) * p.price_increment;
            p.ref_price += step;
            let rests = i % 4 == 3;
            let buy = (i / pairs.len()).is_multiple_of(2);
            let far = p.ref_price / Decimal::from(if buy { 2 } else { 1 })
                * Decimal::from(if buy { 1 } else { 2 });
            let px = if rests {
                far.round_dp(p.price_precision)
            } else if buy {
                p.ref_price + p.price_increment
            } else {
                p.ref_price - p.price_increment
            };
            let o = NewOrder {
                symbol: p.symbol.clone(),
                buy,
                order_type: "limit".into(),
                qty: Some(p.qty_min * Decimal::from(1 + next() % 5)),
                limit_price: Some(px),
                tif: "gtc".into(),
                ..NewOrder::default()
            };
            let _ = self.place(acct, &o, at);
        }
        for (k, &pi) in pairs.iter().enumerate() {
            self.pairs[pi].ref_price = refs[k];
        }
    }
}

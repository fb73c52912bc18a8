//! Matching: marketable orders taking on arrival, triggers, fills (with their balances and
//! ledger entries), closing orders, and the market's time-driven behaviour (the dead man's
//! switch, expiry, the reference price walk, counterparty flow).

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::orders::SimFill;
use super::wire::{num, rfc3339};
use super::{Exchange, Ns};

impl Exchange {
    /// Matching on arrival: marketable orders take from the synthetic market at the reference
    /// price ± one tick; FOK needs it all, IOC cancels the rest; triggered types wait.
    pub(super) fn on_placed(&mut self, idx: usize, now: Ns) {
        let o = &self.orders[idx];
        let p = &self.pairs[o.pair];
        let (ask, bid) = (
            p.ref_price + p.price_increment,
            p.ref_price - p.price_increment,
        );
        let is_trigger = o.trigger_price.is_some() && !o.triggered;
        if is_trigger {
            self.check_trigger(idx, now);
            return;
        }
        let take_px = if o.buy { ask } else { bid };
        let marketable = match (o.order_type.as_str(), o.limit_price) {
            ("market", _) => true,
            (_, Some(lp)) if !o.order_type.starts_with("trailing") => {
                if o.buy {
                    lp >= ask
                } else {
                    lp <= bid
                }
            }
            _ => true,
        };
        if marketable {
            let q = o.remaining();
            self.fill(idx, q, take_px, false, now);
        } else if o.tif == "ioc" || o.tif == "fok" || o.order_type == "market" {
            self.close(idx, "canceled", "Insufficient liquidity", now);
        }
    }

    fn check_trigger(&mut self, idx: usize, now: Ns) {
        let rp = self.pairs[self.orders[idx].pair].ref_price;
        let o = &mut self.orders[idx];
        let (Some(tp), false) = (o.trigger_price, o.triggered) else {
            return;
        };
        let trailing = o.order_type.starts_with("trailing");
        let offset = |base: Decimal| {
            if o.trigger_pct {
                base * tp / Decimal::from(100)
            } else {
                tp
            }
        };
        let (hit, level) = if trailing {
            // A sell trails the highest price since placement, a buy the lowest; it triggers
            // when the price reverts by the offset.
            o.peak = if o.buy {
                o.peak.min(rp)
            } else {
                o.peak.max(rp)
            };
            let level = if o.buy {
                o.peak + offset(o.peak)
            } else {
                o.peak - offset(o.peak)
            };
            (if o.buy { rp >= level } else { rp <= level }, level)
        } else {
            let level = if o.trigger_pct {
                o.peak + offset(o.peak)
            } else {
                tp
            };
            // Stops trigger when the price moves against the position; take-profits with it.
            let stop = o.order_type.contains("stop");
            let hit = match (stop, o.buy) {
                (true, false) | (false, true) => rp <= level,
                (true, true) | (false, false) => rp >= level,
            };
            (hit, level)
        };
        if hit {
            o.triggered = true;
            if o.order_type.ends_with("-limit") {
                if trailing {
                    // The limit of a trailing-stop-limit is an offset from the trigger level.
                    o.limit_price = o.limit_price.map(|off| level + off);
                }
                o.order_type = "limit".into();
            } else {
                o.order_type = "market".into();
                o.limit_price = None;
            }
            self.sync_open(idx);
            self.on_placed(idx, now);
        }
    }

    fn fill(&mut self, idx: usize, qty: Decimal, price: Decimal, maker: bool, now: Ns) {
        if qty <= Decimal::ZERO {
            return;
        }
        let trade_id = self.next_trade;
        self.next_trade += 1;
        let exec_id = self.kraken_id('T');
        let o = &mut self.orders[idx];
        let p = &self.pairs[o.pair];
        let cost = qty * price;
        let fee = (cost * Self::fee_rate(maker)).round_dp(p.price_precision + 4);
        o.filled += qty;
        o.cum_cost += cost;
        o.fees += fee;
        if o.status == "new" {
            o.status = "partially_filled";
        }
        let f = SimFill {
            exec_id: exec_id.clone(),
            trade_id,
            order_id: o.id.clone(),
            cl_ord_id: o.cl_ord_id.clone(),
            symbol: p.symbol.clone(),
            side: if o.buy { "buy" } else { "sell" },
            qty,
            price,
            fee,
            fee_asset: p.quote.clone(),
            maker,
            timestamp: rfc3339(now),
            at_ns: now,
            account: o.account,
        };
        let (acct, buy, base, quote) = (o.account, o.buy, p.base.clone(), p.quote.clone());
        let complete = o.filled >= o.qty;
        self.sync_open(idx);
        let data = self.trade_json(&self.orders[idx], &f);
        // On the public tape: the taker's side (the counterparty's when ours rested).
        let (pair, taker_buy, taker_type) = if f.maker {
            (self.orders[idx].pair, !buy, "market")
        } else {
            (self.orders[idx].pair, buy, "limit")
        };
        self.tape_trade(pair, taker_buy, f.price, f.qty, taker_type, now);
        self.fills.push(f);
        self.broadcast(acct, "executions", Value::Array(vec![data]));
        // Balances: two ledger entries per trade, sharing the trade id as ref_id.
        let a = &mut self.accounts[acct];
        let (db, dq) = if buy {
            (qty, -(cost + fee))
        } else {
            (-qty, cost - fee)
        };
        *a.balances.entry(base.clone()).or_default() += db;
        *a.balances.entry(quote.clone()).or_default() += dq;
        let entries: Vec<Value> = [(base, db, Decimal::ZERO), (quote, dq, fee)]
            .into_iter()
            .map(|(asset, amount, fee)| {
                a.ledger_seq += 1;
                json!({"ledger_id": format!("L{:05}-{:05}-{:06}", acct, a.ledger_seq / 1_000_000, a.ledger_seq % 1_000_000),
                       "ref_id": exec_id, "timestamp": rfc3339(now), "type": "trade", "asset": asset, "asset_class": "currency",
                       "category": "trade", "wallet_type": "spot", "wallet_id": "main", "amount": num(amount), "fee": num(fee),
                       "balance": num(a.balances[&asset])})
            })
            .collect();
        for e in entries {
            self.broadcast(acct, "balances", Value::Array(vec![e]));
        }
        if complete {
            self.set_open(idx, false);
            self.orders[idx].status = "filled";
            self.orders[idx].closed_ns = Some(now);
            self.stream(idx, "filled", now);
        }
    }

    pub(super) fn close(&mut self, idx: usize, status: &'static str, reason: &str, now: Ns) {
        let o = &mut self.orders[idx];
        if !o.is_open() {
            return;
        }
        o.status = status;
        o.reason = Some(reason.into());
        o.closed_ns = Some(now);
        self.set_open(idx, false);
        let t = if status == "expired" {
            "expired"
        } else {
            "canceled"
        };
        self.stream(idx, t, now);
    }

    pub(super) fn on_placed_amended(&mut self, idx: usize, now: Ns) {
        // An amended price that now crosses takes liquidity.
        let o = &self.orders[idx];
        if o.order_type == "limit" || o.order_type == "iceberg" {
            self.on_placed(idx, now);
        }
    }

    // ---- time -------------------------------------------------------------------------------

    /// Advances the market: the dead man's switch, GTD expiry, the random walk, and
    /// counterparty flow. Called by the server's ticker with the simulated time.
    pub fn tick(&mut self, now: Ns, walk: bool) {
        for a in 0..self.accounts.len() {
            if let Some(t) = self.accounts[a].dead_man
                && now >= t
            {
                self.accounts[a].dead_man = None;
                let open: Vec<usize> = self
                    .open
                    .iter()
                    .copied()
                    .filter(|&i| self.orders[i].account == a && self.orders[i].is_open())
                    .collect();
                for i in open {
                    self.close(i, "canceled", "Dead man's switch", now);
                }
            }
        }
        let expired: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| {
                self.orders[i].is_open() && self.orders[i].expire_ns.is_some_and(|e| now >= e)
            })
            .collect();
        for i in expired {
            self.close(i, "expired", "Order expired", now);
        }
        if walk && self.market_flow {
            for pi in 0..self.pairs.len() {
                let r = self.rand();
                let step = self.pairs[pi].price_increment * Decimal::from((r % 5) as i64 - 2);
                let next = self.pairs[pi].ref_price + step;
                if next > Decimal::ZERO {
                    self.set_reference_price(pi, next, now);
                }
                self.synthetic_trade(pi, now);
                // Counterparty flow: sometimes an aggressive order trades the best resting order.
                if self.rand().is_multiple_of(4) {
                    let buy = self.rand().is_multiple_of(2);
                    let frac = Decimal::new((self.rand() % 100 + 1) as i64, 2);
                    self.counterparty(pi, buy, frac, now);
                }
            }
        }
    }

    /// Sets a pair's reference price; resting orders it crosses fill as makers, triggers fire.
    pub fn set_reference_price(&mut self, pi: usize, price: Decimal, now: Ns) {
        self.pairs[pi].ref_price = price;
        let crossed: Vec<usize> = self
            .resting(pi)
            .into_iter()
            .filter(|&i| {
                let o = &self.orders[i];
                o.limit_price
                    .is_some_and(|lp| if o.buy { price <= lp } else { price >= lp })
            })
            .collect();
        for i in crossed {
            let (q, lp) = (
                self.orders[i].remaining(),
                self.orders[i].limit_price.unwrap_or(price),
            );
            self.fill(i, q, lp, true, now);
        }
        let triggers: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| {
                self.orders[i].pair == pi
                    && self.orders[i].is_open()
                    && self.orders[i].trigger_price.is_some()
                    && !self.orders[i].triggered
            })
            .collect();
        for i in triggers {
            self.check_trigger(i, now);
        }
    }

    fn resting(&self, pi: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| {
                let o = &self.orders[i];
                o.pair == pi
                    && o.is_open()
                    && o.limit_price.is_some()
                    && (o.trigger_price.is_none() || o.triggered)
            })
            .collect();
        v.sort_by_key(|&i| self.orders[i].priority);
        v
    }

    /// An aggressive counterparty order of `frac` × the best resting order's remaining size on
    /// the other side: price-time priority, partial fills.
    pub fn counterparty(&mut self, pi: usize, buy: bool, frac: Decimal, now: Ns) {
        let mut best: Option<usize> = None;
        for i in self.resting(pi) {
            let o = &self.orders[i];
            if o.buy == buy {
                continue;
            }
            let better = best.is_none_or(|b| {
                let (lp, bp) = (
                    o.limit_price.unwrap_or_default(),
                    self.orders[b].limit_price.unwrap_or_default(),
                );
                if o.buy { lp > bp } else { lp < bp }
            });
            if better {
                best = Some(i);
            }
        }
        if let Some(i) = best {
            let p = &self.pairs[pi];
            let rem = self.orders[i].remaining();
            let q = (rem * frac)
                .round_dp(p.qty_precision)
                .max(p.qty_increment)
                .min(rem);
            let lp = self.orders[i].limit_price.unwrap_or(p.ref_price);
            // An iceberg shows only its display quantity: a counterparty takes at most that,
            // then the visible part refills.
            let (q, refill) = match self.orders[i].display_qty {
                Some(d) if self.orders[i].order_type == "iceberg" => {
                    let left = d - self.orders[i].shown_filled;
                    (q.min(left), q >= left)
                }
                _ => (q, false),
            };
            self.fill(i, q, lp, true, now);
            let o = &mut self.orders[i];
            o.shown_filled += q;
            if refill && o.is_open() {
                o.shown_filled = Decimal::ZERO;
                self.stream(i, "iceberg_refill", now);
            }
        }
    }
}

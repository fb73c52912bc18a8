//! Streams: connections, private subscriptions and the frames queued per connection, the
//! `executions` and `balances` snapshots and updates (Kraken's delta shapes), and the
//! `instrument` snapshot.

use serde_json::{Map, Value, json};

use super::orders::{SimFill, SimOrder};
use super::wire::{num, rfc3339};
use super::{Exchange, Ns, Reply};

#[derive(Clone, Debug)]
pub(super) struct Sub {
    pub(super) conn: u64,
    pub(super) account: usize,
    pub(super) channel: &'static str,
    pub(super) seq: u64,
    pub(super) token: String,
}

impl Exchange {
    // ---- connections and subscriptions ----------------------------------------------------

    /// A connection opened.
    pub fn register_conn(&mut self, conn: u64) {
        self.conns.push(conn);
    }

    /// Open connections.
    pub fn known_conns(&self) -> Vec<u64> {
        self.conns.clone()
    }

    /// True if `conn` holds any subscription.
    pub fn has_subscription(&self, conn: u64) -> bool {
        self.subs.iter().any(|s| s.conn == conn)
            || self.public_subs.contains(&conn)
            || self.book_subs.iter().any(|s| s.conn == conn)
            || self.tape_subs.iter().any(|s| s.conn == conn)
    }

    /// Records a public (instrument) subscription, for heartbeats.
    pub fn subscribe_public(&mut self, conn: u64) {
        if !self.public_subs.contains(&conn) {
            self.public_subs.push(conn);
        }
    }

    /// A connection closed: its subscriptions end.
    pub fn disconnect(&mut self, conn: u64) {
        self.subs.retain(|s| s.conn != conn);
        self.public_subs.retain(|&c| c != conn);
        self.book_subs.retain(|s| s.conn != conn);
        self.tape_subs.retain(|s| s.conn != conn);
        self.conns.retain(|&c| c != conn);
        self.outbox.remove(&conn);
    }

    /// Queues a frame for `conn`.
    pub fn queue(&mut self, conn: u64, frame: String) {
        self.push(conn, frame);
    }

    /// Frames waiting for `conn`.
    pub fn take_outbox(&mut self, conn: u64, into: &mut Vec<String>) {
        if let Some(v) = self.outbox.get_mut(&conn) {
            into.append(v);
        }
    }

    fn push(&mut self, conn: u64, frame: String) {
        self.outbox.entry(conn).or_default().push(frame);
    }

    /// Subscribes `conn` to a private channel; returns the ack result, then queues the
    /// snapshot.
    pub fn subscribe_private(
        &mut self,
        conn: u64,
        channel: &'static str,
        token: Option<&str>,
        params: &Map<String, Value>,
        now: Ns,
    ) -> Reply {
        let acct = self.check_token(token, now)?;
        if self
            .subs
            .iter()
            .any(|s| s.conn == conn && s.channel == channel)
        {
            return Err("Already subscribed".into());
        }
        self.subs.push(Sub {
            conn,
            account: acct,
            channel,
            seq: 0,
            token: token.unwrap_or("").into(),
        });
        let b = |k: &str, d: bool| params.get(k).and_then(Value::as_bool).unwrap_or(d);
        if channel == "executions" {
            let (snap_orders, snap_trades) = (b("snap_orders", true), b("snap_trades", false));
            let mut data = Vec::new();
            if snap_orders {
                for o in self.open_iter().filter(|o| o.account == acct) {
                    data.push(self.order_full(o, "new", now));
                }
            }
            if snap_trades {
                let fills: Vec<&SimFill> =
                    self.fills.iter().filter(|f| f.account == acct).collect();
                for f in fills.iter().rev().take(50).rev() {
                    let o = &self.orders[self.index[&f.order_id]];
                    let mut v = self.trade_json(o, f);
                    v["order_status"] = json!(o.status);
                    data.push(v);
                }
            }
            self.emit(conn, channel, "snapshot", Value::Array(data));
            let max = self.accounts[acct].tier.limits().0 as u64;
            Ok(
                json!({"channel": "executions", "maxratecount": max, "snap_orders": snap_orders, "snap_trades": snap_trades}),
            )
        } else {
            // As Kraken: the total across wallets, and each wallet.
            let account = &self.accounts[acct];
            let data: Vec<Value> = account
                .balances
                .iter()
                .map(|(a, v)| {
                    let earn = account.earn.get(a).copied().unwrap_or_default();
                    let mut wallets = vec![json!({"type": "spot", "id": "main", "balance": num(*v)})];
                    if !earn.is_zero() {
                        wallets.push(json!({"type": "earn", "id": "flex", "balance": num(earn)}));
                    }
                    json!({"asset": a, "asset_class": "currency", "balance": num(*v + earn), "wallets": wallets})
                })
                .collect();
            self.emit(conn, channel, "snapshot", Value::Array(data));
            Ok(json!({"channel": "balances", "snapshot": true}))
        }
    }

    /// Ends `conn`'s subscription to `channel`.
    pub fn unsubscribe(&mut self, conn: u64, channel: &str) -> Reply {
        let before = self.subs.len();
        self.subs
            .retain(|s| !(s.conn == conn && s.channel == channel));
        if self.subs.len() == before {
            Err("Subscription Not Found".into())
        } else {
            Ok(json!({"channel": channel}))
        }
    }

    /// The instrument snapshot.
    pub fn instrument_snapshot(&self) -> Value {
        let mut assets: Vec<&str> = self
            .pairs
            .iter()
            .flat_map(|p| [p.base.as_str(), p.quote.as_str()])
            .collect();
        assets.sort_unstable();
        assets.dedup();
        json!({
            "assets": assets.iter().map(|a| json!({"id": a, "status": "enabled", "precision": 10, "precision_display": 5, "borrowable": false, "collateral_value": 1.0, "margin_rate": 0.0})).collect::<Vec<_>>(),
            "pairs": self.pairs.iter().map(|p| json!({
                "symbol": p.symbol, "base": p.base, "quote": p.quote, "status": "online",
                "qty_precision": p.qty_precision, "qty_increment": num(p.qty_increment),
                "price_precision": p.price_precision, "cost_precision": 5, "marginable": false, "has_index": true,
                "cost_min": num(p.cost_min), "tick_size": num(p.price_increment),
                "price_increment": num(p.price_increment), "qty_min": num(p.qty_min),
            })).collect::<Vec<_>>(),
        })
    }

    fn emit(&mut self, conn: u64, channel: &'static str, kind: &str, data: Value) {
        let Some(i) = self
            .subs
            .iter()
            .position(|s| s.conn == conn && s.channel == channel)
        else {
            return;
        };
        self.subs[i].seq += 1;
        let seq = self.subs[i].seq;
        if channel == "executions" && kind == "update" && self.faults.drop_exec_frames > 0 {
            // Fault: this frame is lost; the next one shows a sequence gap.
            self.faults.drop_exec_frames -= 1;
            return;
        }
        let mut data = data;
        if channel == "executions" && kind == "update" && self.faults.unknown_enum > 0 {
            // Fault: a word the documentation does not list, as a new Kraken release might send.
            self.faults.unknown_enum -= 1;
            if let Some(first) = data.as_array_mut().and_then(|a| a.first_mut()) {
                first["order_status"] = json!("pending_replace");
            }
        }
        let frame =
            json!({"channel": channel, "type": kind, "data": data, "sequence": seq}).to_string();
        let dup = channel == "executions"
            && kind == "update"
            && self.faults.dup_percent > 0
            && self.rand() % 100 < u64::from(self.faults.dup_percent);
        if dup {
            // Fault: the frame arrives twice (same sequence).
            self.push(conn, frame.clone());
        }
        self.push(conn, frame);
    }

    pub(super) fn broadcast(&mut self, account: usize, channel: &'static str, data: Value) {
        let conns: Vec<u64> = self
            .subs
            .iter()
            .filter(|s| s.account == account && s.channel == channel)
            .map(|s| s.conn)
            .collect();
        for c in conns {
            self.emit(c, channel, "update", data.clone());
        }
    }

    // ---- executions frames (Kraken's delta shapes) -----------------------------------------

    fn order_full(&self, o: &SimOrder, exec_type: &str, now: Ns) -> Value {
        let p = &self.pairs[o.pair];
        let mut v = json!({
            "order_id": o.id, "symbol": p.symbol, "order_qty": num(o.qty), "cum_cost": num(o.cum_cost),
            "cum_qty": num(o.filled), "time_in_force": o.tif.to_ascii_uppercase(), "exec_type": exec_type,
            "side": if o.buy { "buy" } else { "sell" }, "order_type": o.order_type, "order_userref": o.userref,
            "order_status": if exec_type == "pending_new" { "pending_new" } else { o.status },
            "fee_usd_equiv": num(o.fees), "fee_ccy_pref": "fciq", "timestamp": rfc3339(now),
            "post_only": o.post_only, "reduce_only": o.reduce_only,
        });
        if let Some(lp) = o.limit_price {
            v["limit_price"] = num(lp);
            v["limit_price_type"] = json!("static");
        }
        if let Some(tp) = o.trigger_price {
            v["triggers"] = json!({"reference": "last", "price": num(tp), "price_type": if o.trigger_pct { "pct" } else { "static" }, "status": if o.triggered { "triggered" } else { "untriggered" }});
        }
        if let Some(c) = &o.cl_ord_id {
            v["cl_ord_id"] = json!(c);
        }
        if let Some(d) = o.display_qty {
            v["display_qty"] = num(d);
        }
        v
    }

    pub(super) fn trade_json(&self, o: &SimOrder, f: &SimFill) -> Value {
        let mut v = json!({
            "order_id": o.id, "order_userref": o.userref, "exec_id": f.exec_id, "exec_type": "trade",
            "trade_id": f.trade_id, "symbol": f.symbol, "side": f.side, "last_qty": num(f.qty),
            "last_price": num(f.price), "liquidity_ind": if f.maker { "m" } else { "t" },
            "cost": num((f.qty * f.price).normalize()), "order_type": o.order_type, "timestamp": f.timestamp,
            // A trade says partially_filled even when it completes the order (captured
            // behaviour); completion is the separate `filled` frame.
            "order_status": "partially_filled", "cum_qty": num(o.filled), "cum_cost": num(o.cum_cost),
            "avg_price": num(o.avg_price()), "fee_usd_equiv": num(f.fee),
            "fees": [{"asset": f.fee_asset, "qty": num(f.fee)}],
        });
        if let Some(c) = &o.cl_ord_id {
            v["cl_ord_id"] = json!(c);
        }
        v
    }

    fn delta(&self, o: &SimOrder, exec_type: &str, now: Ns) -> Value {
        let mut v = json!({
            "timestamp": rfc3339(now), "order_status": o.status, "exec_type": exec_type,
            "cum_qty": num(o.filled), "cum_cost": num(o.cum_cost), "fee_usd_equiv": num(o.fees),
            "avg_price": num(o.avg_price()), "order_userref": o.userref, "order_id": o.id,
        });
        // Why, on the reports that have a why: a cancel or an expiry carries it twice (the
        // deprecated `cancel_reason` still sent beside `reason`); an amend in `reason` only.
        match (&o.reason, exec_type) {
            (Some(r), "canceled" | "expired") => {
                v["reason"] = json!(r);
                v["cancel_reason"] = json!(r);
            }
            (Some(r), "restated") => v["reason"] = json!(r),
            _ => {}
        }
        v
    }

    pub(super) fn stream(&mut self, idx: usize, exec_type: &str, now: Ns) {
        let o = &self.orders[idx];
        let data = match exec_type {
            "pending_new" => self.order_full(o, "pending_new", now),
            "amended" => {
                // As Kraken sends it (docs/kraken-protocol.md, "amend"): the new figures,
                // `amended`, and `reason`; no cost, fee or average price.
                let mut v = json!({
                    "timestamp": rfc3339(now), "exec_type": "amended", "order_status": o.status,
                    "cum_qty": num(o.filled), "reason": o.reason.as_deref().unwrap_or("User requested"),
                    "amended": true, "order_qty": num(o.qty), "order_userref": o.userref,
                    "order_id": o.id,
                });
                if let Some(lp) = o.limit_price {
                    v["limit_price"] = num(lp);
                    v["limit_price_type"] = json!("static");
                }
                v
            }
            t => self.delta(o, t, now),
        };
        let acct = o.account;
        self.broadcast(acct, "executions", Value::Array(vec![data]));
    }
}

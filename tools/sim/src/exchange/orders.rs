//! Order entry: the order and fill records, and what each order method does (add, amend,
//! edit, cancel, cancel all, the dead man's switch, batches), validation included.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::new_order::NewOrder;
use super::wire::{dec_param, rfc3339};
use super::{Exchange, Ns, Reply};

/// An order in the simulator.
#[derive(Clone, Debug)]
pub struct SimOrder {
    pub id: String,
    pub cl_ord_id: Option<String>,
    pub userref: i64,
    pub account: usize,
    pub pair: usize,
    pub buy: bool,
    pub order_type: String,
    pub qty: Decimal,
    pub filled: Decimal,
    pub cum_cost: Decimal,
    pub fees: Decimal,
    pub limit_price: Option<Decimal>,
    pub trigger_price: Option<Decimal>,
    pub trigger_pct: bool,
    pub triggered: bool,
    pub tif: String,
    pub expire_ns: Option<Ns>,
    pub post_only: bool,
    pub reduce_only: bool,
    pub display_qty: Option<Decimal>,
    /// Reference price at placement (pct triggers are relative to it), then, for trailing
    /// orders, the best price since: the peak a sell trails, the trough a buy trails.
    pub peak: Decimal,
    /// Quantity filled since the visible part of an iceberg was last refilled.
    pub shown_filled: Decimal,
    pub status: &'static str,
    pub placed_ns: Ns,
    /// When it was opened (`opentm`; an amend does not move it, unlike `placed_ns`).
    pub opened_ns: Ns,
    /// When it closed (`closetm`).
    pub closed_ns: Option<Ns>,
    pub priority: u64,
    pub reason: Option<String>,
}

impl SimOrder {
    pub(super) fn remaining(&self) -> Decimal {
        self.qty - self.filled
    }

    pub(super) fn is_open(&self) -> bool {
        matches!(self.status, "pending_new" | "new" | "partially_filled")
    }

    pub(super) fn avg_price(&self) -> Decimal {
        if self.filled.is_zero() {
            Decimal::ZERO
        } else {
            (self.cum_cost / self.filled).round_dp(10).normalize()
        }
    }
}

/// A fill, as recorded in the ledger.
#[derive(Clone, Debug)]
pub struct SimFill {
    pub exec_id: String,
    pub trade_id: u64,
    pub order_id: String,
    pub cl_ord_id: Option<String>,
    pub symbol: String,
    pub side: &'static str,
    pub qty: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
    pub maker: bool,
    pub timestamp: String,
    /// Exchange time of the trade.
    pub at_ns: Ns,
    pub account: usize,
}

fn multiple(v: Decimal, inc: Decimal) -> bool {
    inc.is_zero() || (v % inc).is_zero()
}

impl Exchange {
    // ---- trading ------------------------------------------------------------------------------

    fn find(&self, acct: usize, order_id: Option<&str>, cl_ord_id: Option<&str>) -> Option<usize> {
        if let Some(id) = order_id {
            return self
                .index
                .get(id)
                .copied()
                .filter(|&i| self.orders[i].account == acct);
        }
        let c = cl_ord_id?;
        // cl_ord_id is unique among open orders only: prefer the open one, else the latest.
        self.open_by_cl_ord_id(acct, c).or_else(|| {
            self.by_cl_ord_id
                .get(c)?
                .iter()
                .rev()
                .copied()
                .find(|&i| self.orders[i].account == acct)
        })
    }

    fn validate_new(&self, acct: usize, n: &NewOrder, now: Ns) -> Result<usize, String> {
        let pi = self
            .pair_of(&n.symbol)
            .ok_or_else(|| format!("Currency pair not supported {}", n.symbol))?;
        let p = &self.pairs[pi];
        if self.status == "maintenance" {
            return Err("EService:Unavailable".into());
        }
        if self.status == "cancel_only" {
            return Err("EService:Market in cancel_only mode".into());
        }
        let needs_limit = matches!(
            n.order_type.as_str(),
            "limit" | "iceberg" | "stop-loss-limit" | "take-profit-limit" | "trailing-stop-limit"
        );
        let needs_trigger = n.order_type.contains("stop") || n.order_type.contains("take-profit");
        if needs_limit && n.limit_price.is_none() {
            return Err("EGeneral:Invalid arguments:limit_price".into());
        }
        if needs_trigger && n.trigger_price.is_none() {
            return Err("EGeneral:Invalid arguments:triggers".into());
        }
        if self.status == "post_only" && !n.post_only {
            return Err("EService:Market in post_only mode".into());
        }
        let qty = match (n.qty, n.cash_qty) {
            (Some(q), _) => q,
            (None, Some(c)) if n.order_type == "market" && n.buy => {
                (c / p.ref_price).round_dp(p.qty_precision)
            }
            _ => return Err("EGeneral:Invalid arguments:order_qty".into()),
        };
        if qty <= Decimal::ZERO {
            return Err("EGeneral:Invalid arguments:order_qty".into());
        }
        if qty < p.qty_min {
            return Err("EOrder:Order minimum not met".into());
        }
        if !multiple(qty, p.qty_increment) {
            return Err("EGeneral:Invalid arguments:order_qty".into());
        }
        if let Some(lp) = n.limit_price
            && !n.order_type.starts_with("trailing")
        {
            if lp <= Decimal::ZERO {
                return Err("EOrder:Invalid price".into());
            }
            if !multiple(lp, p.price_increment) {
                return Err("EOrder:Tick size check failed".into());
            }
        }
        let px = n
            .limit_price
            .filter(|_| !n.order_type.starts_with("trailing"))
            .unwrap_or(p.ref_price);
        if px * qty < p.cost_min {
            return Err("EOrder:Cost minimum not met".into());
        }
        if n.order_type == "iceberg" {
            match n.display_qty {
                Some(d) if d * Decimal::from(15) >= qty && d <= qty => {}
                _ => return Err("EGeneral:Invalid arguments:display-volume".into()),
            }
        }
        if n.tif == "gtd" && n.expire_ns.is_none_or(|e| e <= now) {
            return Err("EGeneral:Invalid arguments:expire_time".into());
        }
        if let Some(d) = n.deadline_ns
            && d < now
        {
            return Err("EService:Deadline elapsed".into());
        }
        if let Some(c) = &n.cl_ord_id
            && self.open_by_cl_ord_id(acct, c).is_some()
        {
            return Err("EOrder:Duplicate order".into());
        }
        let (_, _, max_open) = self.accounts[acct].tier.limits();
        if self.open_count(acct, pi) >= max_open {
            return Err("EOrder:Orders limit exceeded".into());
        }
        // Funds: what this order could spend, plus what open orders have reserved.
        let (asset, need) = if n.buy {
            (&p.quote, px * qty * (Decimal::ONE + Self::fee_rate(false)))
        } else {
            (&p.base, qty)
        };
        let reserved = self.reserved(acct, asset);
        let bal = self.accounts[acct]
            .balances
            .get(asset)
            .copied()
            .unwrap_or_default();
        if bal - reserved < need {
            return Err("EOrder:Insufficient funds".into());
        }
        Ok(pi)
    }

    /// `add_order`: validates, charges the rate counter, places and matches. Returns the ack
    /// result.
    pub fn add_order(&mut self, acct: usize, n: &NewOrder, now: Ns) -> Reply {
        let pi = self
            .pair_of(&n.symbol)
            .ok_or_else(|| format!("Currency pair not supported {}", n.symbol))?;
        self.charge(acct, pi, 1.0, now)?;
        self.place(acct, n, now)
    }

    pub(super) fn place(&mut self, acct: usize, n: &NewOrder, now: Ns) -> Reply {
        let pi = self.validate_new(acct, n, now)?;
        let p = &self.pairs[pi];
        let qty = n.qty.unwrap_or_else(|| {
            (n.cash_qty.unwrap_or_default() / p.ref_price).round_dp(p.qty_precision)
        });
        let (ask, bid) = (
            p.ref_price + p.price_increment,
            p.ref_price - p.price_increment,
        );
        let crosses = match (n.order_type.as_str(), n.limit_price) {
            ("limit" | "iceberg", Some(lp)) => {
                if n.buy {
                    lp >= ask
                } else {
                    lp <= bid
                }
            }
            _ => false,
        };
        if n.post_only && crosses {
            // Captured shape unconfirmed; [NT] lists both. We answer with the method error.
            return Err("EOrder:Post only order".into());
        }
        if n.validate {
            return Ok(json!({"order_id": "", "warnings": ["validate only"]}));
        }
        let id = self.kraken_id('O');
        self.priority += 1;
        let o = SimOrder {
            id: id.clone(),
            cl_ord_id: n.cl_ord_id.clone(),
            userref: n.userref.unwrap_or(0),
            account: acct,
            pair: pi,
            buy: n.buy,
            order_type: n.order_type.clone(),
            qty,
            filled: Decimal::ZERO,
            cum_cost: Decimal::ZERO,
            fees: Decimal::ZERO,
            limit_price: n.limit_price,
            trigger_price: n.trigger_price,
            trigger_pct: n.trigger_pct,
            triggered: false,
            tif: n.tif.clone(),
            expire_ns: n.expire_ns,
            post_only: n.post_only,
            reduce_only: n.reduce_only,
            display_qty: n.display_qty,
            peak: self.pairs[pi].ref_price,
            shown_filled: Decimal::ZERO,
            status: "pending_new",
            placed_ns: now,
            opened_ns: now,
            closed_ns: None,
            priority: self.priority,
            reason: None,
        };
        let idx = self.orders.len();
        if let Some(c) = &o.cl_ord_id {
            self.by_cl_ord_id.entry(c.clone()).or_default().push(idx);
        }
        self.orders.push(o);
        self.index.insert(id.clone(), idx);
        self.set_open(idx, true);
        self.stream(idx, "pending_new", now);
        self.orders[idx].status = "new";
        self.stream(idx, "new", now);
        self.on_placed(idx, now);
        let mut r = json!({"order_id": id});
        if let Some(c) = &n.cl_ord_id {
            r["cl_ord_id"] = json!(c);
        }
        if let Some(u) = n.userref {
            r["order_userref"] = json!(u);
        }
        Ok(r)
    }

    /// `amend_order`: in place, same id; below-filled quantity cancels the rest.
    pub fn amend_order(&mut self, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
        let idx = self
            .find(
                acct,
                p.get("order_id").and_then(Value::as_str),
                p.get("cl_ord_id").and_then(Value::as_str),
            )
            .ok_or("EOrder:Unknown order")?;
        let (qty, lp) = (dec_param(p, "order_qty")?, dec_param(p, "limit_price")?);
        let _ = dec_param(p, "display_qty")?;
        let _ = dec_param(p, "trigger_price")?;
        let age = now.saturating_sub(self.orders[idx].placed_ns);
        let pair = self.orders[idx].pair;
        self.charge(
            acct,
            pair,
            1.0 + Self::age_penalty(age, &[(5, 3.0), (10, 2.0), (15, 1.0)]),
            now,
        )?;
        if !self.orders[idx].is_open() {
            return Err("EOrder:Unknown order".into());
        }
        let pr = &self.pairs[pair];
        if let Some(lp) = lp {
            if !multiple(lp, pr.price_increment) {
                return Err("EOrder:Tick size check failed".into());
            }
            let o = &self.orders[idx];
            let (ask, bid) = (
                pr.ref_price + pr.price_increment,
                pr.ref_price - pr.price_increment,
            );
            let crosses = if o.buy { lp >= ask } else { lp <= bid };
            if crosses && p.get("post_only").and_then(Value::as_bool).unwrap_or(false) {
                return Err("EOrder:Post only order".into());
            }
        }
        let o = &mut self.orders[idx];
        if let Some(q) = qty {
            o.qty = q;
        }
        if lp.is_some() {
            o.limit_price = lp;
        }
        o.placed_ns = now;
        o.reason = Some("User requested".into());
        let id = o.id.clone();
        let cl = o.cl_ord_id.clone();
        let below = o.qty <= o.filled;
        if below {
            o.qty = o.qty.max(o.filled);
        }
        self.sync_open(idx);
        if below {
            self.close(idx, "canceled", "Order quantity reduced below filled", now);
        } else {
            self.stream(idx, "amended", now);
            self.on_placed_amended(idx, now);
        }
        let amend_id = self.kraken_id('A');
        let mut r = json!({"amend_id": amend_id});
        if p.contains_key("order_id") {
            r["order_id"] = json!(id);
        } else if let Some(c) = cl {
            r["cl_ord_id"] = json!(c);
        }
        Ok(r)
    }

    /// `edit_order`: cancel and replace with a new id.
    pub fn edit_order(&mut self, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
        if p.contains_key("cl_ord_id") {
            return Err("EGeneral:Invalid arguments:cl_ord_id not supported by edit_order".into());
        }
        let id = p
            .get("order_id")
            .and_then(Value::as_str)
            .ok_or("EGeneral:Invalid arguments:order_id")?;
        let idx = self
            .find(acct, Some(id), None)
            .ok_or("EOrder:Unknown order")?;
        let (qty, lp) = (dec_param(p, "order_qty")?, dec_param(p, "limit_price")?);
        let age = now.saturating_sub(self.orders[idx].placed_ns);
        let pair = self.orders[idx].pair;
        self.charge(
            acct,
            pair,
            1.0 + Self::age_penalty(age, &[(5, 6.0), (10, 5.0), (15, 4.0), (45, 2.0), (90, 1.0)]),
            now,
        )?;
        let old = self.orders[idx].clone();
        if !old.is_open() {
            return Err("EOrder:Unknown order".into());
        }
        if qty.is_some_and(|q| q < old.filled) {
            return Err("EOrder:Invalid order".into());
        }
        let n = NewOrder {
            symbol: self.pairs[old.pair].symbol.clone(),
            buy: old.buy,
            order_type: old.order_type.clone(),
            qty: Some(qty.unwrap_or(old.qty) - old.filled),
            limit_price: lp.or(old.limit_price),
            trigger_price: old.trigger_price,
            tif: old.tif.clone(),
            // As Kraken does: flags are not carried over; only what the edit sends.
            post_only: p.get("post_only").and_then(Value::as_bool).unwrap_or(false),
            reduce_only: p
                .get("reduce_only")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            userref: p
                .get("order_userref")
                .and_then(Value::as_i64)
                .or(Some(old.userref)),
            ..NewOrder::default()
        };
        // The replacement is validated before the original is cancelled (a refused edit leaves
        // the order as it was), with the original's funds counted as free, since it goes.
        self.set_open(idx, false);
        let valid = self.validate_new(acct, &n, now);
        self.set_open(idx, true);
        valid?;
        self.close(idx, "canceled", "Order replaced", now);
        let r = self.place(acct, &n, now)?;
        Ok(json!({"order_id": r["order_id"], "original_order_id": id}))
    }

    /// `cancel_order` by any mix of ids: one result per cancelled order.
    pub fn cancel_orders(
        &mut self,
        acct: usize,
        ids: &[String],
        cl: &[String],
        userrefs: &[i64],
        now: Ns,
    ) -> Vec<Reply> {
        let mut out = Vec::new();
        for id in ids {
            out.push(
                self.cancel_one(acct, Some(id), None, now)
                    .map(|_| json!({"order_id": id})),
            );
        }
        for c in cl {
            out.push(
                self.cancel_one(acct, None, Some(c), now)
                    .map(|_| json!({"cl_ord_id": c})),
            );
        }
        for &u in userrefs {
            let hits: Vec<usize> = self
                .open
                .iter()
                .copied()
                .filter(|&i| {
                    self.orders[i].account == acct
                        && self.orders[i].userref == u
                        && self.orders[i].is_open()
                })
                .collect();
            if hits.is_empty() {
                out.push(Err("EOrder:Unknown order".into()));
            }
            for i in hits {
                let id = self.orders[i].id.clone();
                out.push(
                    self.cancel_one(acct, Some(&id), None, now)
                        .map(|_| json!({"order_id": id})),
                );
            }
        }
        out
    }

    fn cancel_one(
        &mut self,
        acct: usize,
        id: Option<&str>,
        cl: Option<&str>,
        now: Ns,
    ) -> Result<(), String> {
        let idx = self.find(acct, id, cl).ok_or("EOrder:Unknown order")?;
        let age = now.saturating_sub(self.orders[idx].placed_ns);
        let pair = self.orders[idx].pair;
        self.charge(
            acct,
            pair,
            Self::age_penalty(
                age,
                &[
                    (5, 8.0),
                    (10, 6.0),
                    (15, 5.0),
                    (45, 4.0),
                    (90, 2.0),
                    (300, 1.0),
                ],
            ),
            now,
        )?;
        if !self.orders[idx].is_open() {
            return Err("EOrder:Unknown order".into());
        }
        self.close(idx, "canceled", "User requested", now);
        Ok(())
    }

    pub fn cancel_all(&mut self, acct: usize, now: Ns) -> u64 {
        let open: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| self.orders[i].account == acct && self.orders[i].is_open())
            .collect();
        for &i in &open {
            self.close(i, "canceled", "User requested", now);
        }
        open.len() as u64
    }

    /// `cancel_all_orders_after`: (re)arms or (0) disarms the countdown.
    pub fn cancel_after(&mut self, acct: usize, timeout: u64, now: Ns) -> Result<Value, String> {
        if timeout >= 86_400 {
            return Err("EGeneral:Invalid arguments:timeout".into());
        }
        let a = &mut self.accounts[acct];
        a.dead_man = (timeout > 0).then(|| now + timeout * 1_000_000_000);
        let cur = rfc3339(now / 1_000_000_000 * 1_000_000_000);
        let trig = if timeout > 0 {
            rfc3339((now / 1_000_000_000 + timeout) * 1_000_000_000)
        } else {
            "0".into()
        };
        // Kraken sends second precision.
        Ok(
            json!({"currentTime": format!("{}Z", &cur[..19]), "triggerTime": if timeout > 0 { format!("{}Z", &trig[..19]) } else { trig }}),
        )
    }

    /// `batch_add`: validates all first (one bad order rejects the batch), then places each.
    pub fn batch_add(&mut self, acct: usize, orders: &[NewOrder], now: Ns) -> Reply {
        if !(2..=15).contains(&orders.len()) {
            return Err("EGeneral:Invalid arguments:orders must hold 2 to 15 orders".into());
        }
        let pi = self
            .pair_of(&orders[0].symbol)
            .ok_or_else(|| format!("Currency pair not supported {}", orders[0].symbol))?;
        self.charge(acct, pi, (orders.len() as f64 / 2.0).ceil(), now)?;
        for n in orders {
            let mut shape = n.clone();
            shape.cl_ord_id = None;
            if let Err(e) = self.validate_new(acct, &shape, now)
                && !e.contains("Insufficient funds")
            {
                return Err(e);
            }
        }
        let mut out = Vec::new();
        for n in orders {
            out.push(match self.place(acct, n, now) {
                Ok(v) => v,
                // A per-order pre-match failure (shape undocumented): the element carries it.
                Err(e) => json!({"error": e}),
            });
        }
        Ok(Value::Array(out))
    }
}

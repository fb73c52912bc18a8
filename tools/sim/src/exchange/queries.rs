//! REST order and trade queries: an order by id, Kraken's order description and REST order
//! object, `OpenOrders`, `ClosedOrders`, `QueryOrders` and `TradesHistory`.

use serde_json::{Map, Value, json};

use super::orders::{SimFill, SimOrder};
use super::{Exchange, Reply};

impl Exchange {
    /// The order with Kraken id `id`.
    pub fn order_by_id(&self, id: &str) -> Option<&SimOrder> {
        self.index.get(id).map(|&i| &self.orders[i])
    }

    /// Kraken's description of an order: `buy 0.01000000 XBTUSD @ limit 60000.0`.
    pub fn describe(&self, o: &SimOrder) -> String {
        let p = &self.pairs[o.pair];
        let qty = o.qty.round_dp(p.qty_precision);
        let qty = format!("{:.*}", p.qty_precision as usize, qty);
        let side = if o.buy { "buy" } else { "sell" };
        match o.limit_price {
            Some(px) => format!("{side} {qty} {} @ {} {px}", p.rest_name, o.order_type),
            None => format!("{side} {qty} {} @ {}", p.rest_name, o.order_type),
        }
    }

    /// REST order object (`OpenOrders`/`QueryOrders`): numbers as strings.
    pub fn rest_order(&self, o: &SimOrder) -> Value {
        let p = &self.pairs[o.pair];
        let status = match o.status {
            "pending_new" => "pending",
            "new" | "partially_filled" => "open",
            "filled" => "closed",
            s => s,
        };
        let mut v = json!({
            "refid": null, "userref": o.userref, "cl_ord_id": o.cl_ord_id, "status": status,
            "opentm": o.opened_ns as f64 / 1e9, "starttm": 0, "expiretm": 0,
            "descr": {"pair": p.rest_name, "type": if o.buy { "buy" } else { "sell" }, "ordertype": o.order_type,
                      "price": o.limit_price.unwrap_or_default().to_string(), "price2": "0", "leverage": "none",
                      "order": self.describe(o), "close": ""},
            "vol": o.qty.to_string(), "vol_exec": o.filled.to_string(), "cost": o.cum_cost.to_string(),
            "fee": o.fees.to_string(), "price": o.avg_price().to_string(), "misc": "", "oflags": "fciq",
            "trades": self.fills.iter().filter(|f| f.order_id == o.id).map(|f| f.exec_id.clone()).collect::<Vec<_>>(),
        });
        // Closed orders say when and why, as Kraken's do.
        if let Some(t) = o.closed_ns {
            v["closetm"] = json!(t as f64 / 1e9);
            v["reason"] = json!(o.reason);
        }
        v
    }

    /// REST `TradesHistory`: `acct`'s trades after `start` (unix seconds, exclusive), newest
    /// first, 50 from offset `ofs`, with the total `count`. A trade's txid is its executions
    /// `exec_id`.
    pub fn trades_history(&self, acct: usize, start: Option<f64>, ofs: usize) -> Value {
        let after = |f: &&SimFill| start.is_none_or(|s| f.at_ns as f64 / 1e9 > s);
        let mine: Vec<&SimFill> = self
            .fills
            .iter()
            .rev()
            .filter(|f| f.account == acct)
            .filter(after)
            .collect();
        let mut m = Map::new();
        for f in mine.iter().skip(ofs).take(50) {
            let p = self.pairs.iter().find(|p| p.symbol == f.symbol);
            let ordertype = self
                .index
                .get(&f.order_id)
                .map_or("limit", |&i| self.orders[i].order_type.as_str());
            m.insert(
                f.exec_id.clone(),
                json!({
                    "ordertxid": f.order_id, "postxid": "TKH2SE-M7IF5-CFI7LT",
                    "pair": p.map_or(f.symbol.as_str(), |p| p.key.as_str()),
                    "time": f.at_ns as f64 / 1e9, "type": f.side, "ordertype": ordertype,
                    "price": f.price.to_string(), "cost": (f.qty * f.price).to_string(),
                    "fee": f.fee.to_string(), "vol": f.qty.to_string(), "margin": "0.00000",
                    "leverage": "0", "misc": "", "trade_id": f.trade_id, "maker": f.maker,
                }),
            );
        }
        json!({"trades": m, "count": mine.len()})
    }

    /// Open orders of `acct`, optionally by client id.
    pub fn open_orders(&self, acct: usize, cl_ord_id: Option<&str>) -> Value {
        let mut m = Map::new();
        for o in self.open_iter().filter(|o| o.account == acct) {
            if cl_ord_id.is_none_or(|c| o.cl_ord_id.as_deref() == Some(c)) {
                m.insert(o.id.clone(), self.rest_order(o));
            }
        }
        json!({"open": m})
    }

    /// Closed orders of `acct` (REST `ClosedOrders`), most recent first, 50 from offset `ofs`,
    /// optionally by client id and after `start` (unix seconds, exclusive).
    pub fn closed_orders(
        &self,
        acct: usize,
        cl_ord_id: Option<&str>,
        start: Option<f64>,
        end: Option<f64>,
        ofs: usize,
    ) -> Value {
        // A client id names few orders: those, not the whole history.
        let candidates: Box<dyn Iterator<Item = &SimOrder>> = match cl_ord_id {
            Some(c) => Box::new(
                self.by_cl_ord_id
                    .get(c)
                    .into_iter()
                    .flatten()
                    .rev()
                    .map(|&i| &self.orders[i]),
            ),
            None => Box::new(self.orders.iter().rev()),
        };
        let closed: Vec<&SimOrder> = candidates
            .filter(|o| o.account == acct && !o.is_open() && o.status != "pending_new")
            // Orders opened after `start` (the sim keeps no close time; close ≥ open).
            .filter(|o| start.is_none_or(|s| o.opened_ns as f64 / 1e9 > s))
            .filter(|o| end.is_none_or(|e| o.opened_ns as f64 / 1e9 <= e))
            .collect();
        let mut m = Map::new();
        for o in closed.iter().skip(ofs).take(50) {
            m.insert(o.id.clone(), self.rest_order(o));
        }
        json!({"closed": m, "count": closed.len()})
    }

    /// Orders by id.
    /// `QueryOrders`: as Kraken, one id the account does not have fails the whole call with
    /// `EOrder:Invalid order` (it is not left out of the answer).
    pub fn query_orders(&self, acct: usize, ids: &[&str]) -> Reply {
        let mut m = Map::new();
        for id in ids {
            match self.index.get(*id) {
                Some(&i) if self.orders[i].account == acct => {
                    m.insert(id.to_string(), self.rest_order(&self.orders[i]));
                }
                _ => return Err("EOrder:Invalid order".into()),
            }
        }
        Ok(Value::Object(m))
    }
}

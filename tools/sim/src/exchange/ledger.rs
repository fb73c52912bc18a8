//! The ledger of truth (every order's final state and every fill) and the request log (every
//! order-entry request as received).

use serde_json::{Value, json};

use super::wire::rfc3339;
use super::{Exchange, Ns};

/// One order-entry request as the exchange received it (the request log: what a client
/// really sent, resends included).
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// `ws` or `rest`.
    pub route: &'static str,
    /// The method (`add_order`, `AddOrder`, ...).
    pub method: String,
    /// The client order ids it named (a batch names several).
    pub cl_ord_ids: Vec<String>,
    /// When it arrived.
    pub at: Ns,
    /// When the token it carried was issued (WebSocket requests).
    pub token_issued: Option<Ns>,
}

impl Exchange {
    /// The ledger of truth as JSON.
    pub fn ledger(&self) -> Value {
        json!({
            "orders": self.orders.iter().map(|o| json!({
                "order_id": o.id, "cl_ord_id": o.cl_ord_id, "order_userref": o.userref, "symbol": self.pairs[o.pair].symbol,
                "side": if o.buy { "buy" } else { "sell" }, "order_type": o.order_type, "status": o.status,
                "order_qty": o.qty.to_string(), "filled": o.filled.to_string(), "cum_cost": o.cum_cost.to_string(),
                "fees": o.fees.to_string(), "limit_price": o.limit_price.map(|p| p.to_string()),
                "post_only": o.post_only,
            })).collect::<Vec<_>>(),
            "fills": self.fills.iter().map(|f| json!({
                "exec_id": f.exec_id, "order_id": f.order_id, "cl_ord_id": f.cl_ord_id, "symbol": f.symbol, "side": f.side,
                "qty": f.qty.to_string(), "price": f.price.to_string(), "fee": f.fee.to_string(),
                "liquidity": if f.maker { "m" } else { "t" }, "trade_id": f.trade_id,
            })).collect::<Vec<_>>(),
            "calls": self.private_calls,
            "requests": self.requests.iter().map(|r| json!({
                "route": r.route, "method": r.method, "cl_ord_ids": r.cl_ord_ids, "at": rfc3339(r.at),
                "token_issued": r.token_issued.map(rfc3339),
            })).collect::<Vec<_>>(),
        })
    }

    /// Records an order-entry request in the request log.
    pub fn log_request(
        &mut self,
        route: &'static str,
        method: &str,
        cl_ord_ids: Vec<String>,
        token: Option<&str>,
        at: Ns,
    ) {
        let token_issued = token
            .and_then(|t| self.tokens.get(t))
            .map(|&(_, issued)| issued);
        self.requests.push(LoggedRequest {
            route,
            method: method.to_string(),
            cl_ord_ids,
            at,
            token_issued,
        });
    }
}

//! The normalised new-order request ([`NewOrder`]), and how a WS v2 `add_order` (or
//! `batch_add` element) becomes one; REST's form fields become one in the server.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::Ns;
use super::wire::{dec_param, parse_rfc3339};

/// A normalised new-order request (from WS v2 params or REST form fields).
#[derive(Clone, Debug, Default)]
pub struct NewOrder {
    pub symbol: String,
    pub buy: bool,
    pub order_type: String,
    pub qty: Option<Decimal>,
    pub cash_qty: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub trigger_price: Option<Decimal>,
    pub trigger_pct: bool,
    pub tif: String,
    pub expire_ns: Option<Ns>,
    pub post_only: bool,
    pub reduce_only: bool,
    pub cl_ord_id: Option<String>,
    pub userref: Option<i64>,
    pub display_qty: Option<Decimal>,
    pub deadline_ns: Option<Ns>,
    pub validate: bool,
}

const ORDER_TYPES: &[&str] = &[
    "limit",
    "market",
    "iceberg",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
    "settle-position",
];

fn valid_cl_ord_id(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        36 => b.iter().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        }),
        32 if b.iter().all(u8::is_ascii_hexdigit) => true,
        1..=18 => b.iter().all(|c| (0x20..0x7f).contains(c)),
        _ => false,
    }
}

impl NewOrder {
    /// From WS v2 `add_order` params (or a `batch_add` element with the batch's symbol).
    pub fn from_ws(p: &Map<String, Value>, symbol: Option<&str>) -> Result<Self, String> {
        let s = |k: &str| p.get(k).and_then(Value::as_str);
        let b = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
        let order_type = s("order_type")
            .ok_or("EGeneral:Invalid arguments:order_type")?
            .to_string();
        if !ORDER_TYPES.contains(&order_type.as_str()) {
            return Err("EGeneral:Invalid arguments:order_type".into());
        }
        let buy = match s("side") {
            Some("buy") => true,
            Some("sell") => false,
            _ => return Err("EGeneral:Invalid arguments:side".into()),
        };
        let symbol = symbol
            .or(s("symbol"))
            .ok_or("EGeneral:Invalid arguments:symbol")?
            .to_string();
        let (trigger_price, trigger_pct) = match p.get("triggers") {
            Some(Value::Object(t)) => (
                dec_param(t, "price")?,
                t.get("price_type").and_then(Value::as_str) == Some("pct"),
            ),
            Some(_) => return Err("EGeneral:Invalid arguments:triggers".into()),
            None => (None, false),
        };
        let tif = s("time_in_force").unwrap_or("gtc").to_ascii_lowercase();
        if !["gtc", "gtd", "ioc", "fok"].contains(&tif.as_str()) {
            return Err("EGeneral:Invalid arguments:time_in_force".into());
        }
        let cl_ord_id = s("cl_ord_id").map(str::to_string);
        if let Some(c) = &cl_ord_id
            && !valid_cl_ord_id(c)
        {
            return Err("EGeneral:Invalid arguments:cl_ord_id".into());
        }
        let userref = match p.get("order_userref") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or("EGeneral:Invalid arguments:order_userref")?,
            ),
        };
        if cl_ord_id.is_some() && userref.is_some() {
            return Err(
                "EGeneral:Invalid arguments:cl_ord_id and order_userref are exclusive".into(),
            );
        }
        if p.contains_key("no_mpp") && order_type != "market" {
            return Err("EGeneral:Invalid arguments:no_mpp order option is only available when ordertype = market".into());
        }
        Ok(Self {
            symbol,
            buy,
            order_type,
            qty: dec_param(p, "order_qty")?,
            cash_qty: dec_param(p, "cash_order_qty")?,
            limit_price: dec_param(p, "limit_price")?,
            trigger_price,
            trigger_pct,
            tif,
            expire_ns: s("expire_time").and_then(parse_rfc3339),
            post_only: b("post_only"),
            reduce_only: b("reduce_only"),
            cl_ord_id,
            userref,
            display_qty: dec_param(p, "display_qty")?,
            deadline_ns: s("deadline").and_then(parse_rfc3339),
            validate: b("validate"),
        })
    }
}

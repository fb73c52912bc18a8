//! The REST side: HTTP/1.1 keep-alive connections, the public endpoints, the simulator's own
//! (`/sim/ledger`, `/sim/fault`), and the private methods, one function each behind
//! `private`, with the faults that hit their replies.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Map, Value, json};

use super::Shared;
use super::auth::authenticate;
use crate::exchange::{Exchange, NewOrder, Ns, Reply, dec_str, rest_asset, rfc3339};

/// Serves REST connections (keep-alive HTTP/1.1).
pub fn serve_rest(l: TcpListener, tls: Option<Arc<ServerConfig>>, shared: Arc<Shared>) {
    for s in l.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(s) = s else { continue };
        let shared = shared.clone();
        let tls = tls.clone();
        let _ = thread::Builder::new()
            .name("sim-rest".into())
            .spawn(move || {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                match tls {
                    Some(cfg) => {
                        if let Ok(c) = ServerConnection::new(cfg) {
                            http_loop(StreamOwned::new(c, s), &shared);
                        }
                    }
                    None => http_loop(s, &shared),
                }
            });
    }
}

fn http_loop<S: Read + Write>(s: S, shared: &Shared) {
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len.min(1 << 20)];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let (status, reply) = route(shared, &method, &target, &headers, &body);
        if status == RESET {
            return;
        }
        let ctype = if reply.starts_with('<') {
            "text/html"
        } else {
            "application/json"
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{reply}",
            reply.len()
        );
        let w = r.get_mut();
        if w.write_all(resp.as_bytes())
            .and_then(|()| w.flush())
            .is_err()
        {
            return;
        }
    }
}

fn ok(v: Value) -> String {
    json!({"error": [], "result": v}).to_string()
}

fn err(e: &str) -> String {
    json!({"error": [e]}).to_string()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a form or JSON body into string parameters (JSON arrays kept as JSON).
fn params(headers: &HashMap<String, String>, body: &[u8]) -> Option<Map<String, Value>> {
    let json = headers
        .get("content-type")
        .is_some_and(|c| c.contains("json"));
    if json {
        match serde_json::from_slice::<Value>(body).ok()? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    } else {
        let s = std::str::from_utf8(body).ok()?;
        Some(
            s.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (url_decode(k), Value::String(url_decode(v)))
                })
                .collect(),
        )
    }
}

fn pstr<'a>(p: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    p.get(k).and_then(Value::as_str)
}

/// Private REST methods that enter or change orders (logged, and subject to reply faults).
const ORDER_METHODS: &[&str] = &[
    "AddOrder",
    "AddOrderBatch",
    "AmendOrder",
    "EditOrder",
    "CancelOrder",
    "CancelAll",
    "CancelAllOrdersAfter",
    "CancelOrderBatch",
];

/// Route result meaning: close the connection without answering.
pub const RESET: &str = "RESET";

/// What Kraken's edge sends when the origin's reply does not reach it.
const EDGE_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

/// Answers one REST call: the HTTP status line's code and text, and the body. A status of
/// [`RESET`] means the connection is reset without a reply.
pub fn route(
    shared: &Shared,
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> (&'static str, String) {
    let now = shared.now();
    // A GET's parameters come in its query string.
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    match (method, path) {
        ("GET", "/0/public/Time") => (
            "200 OK",
            ok(json!({"unixtime": now / 1_000_000_000, "rfc1123": rfc3339(now)})),
        ),
        ("GET", "/0/public/SystemStatus") => {
            // Kraken's words for the system's state, as the `status` channel gives them.
            let status = shared.ex().status;
            (
                "200 OK",
                ok(json!({"status": status, "timestamp": rfc3339(now)})),
            )
        }
        ("GET", "/0/public/AssetPairs") => {
            let ex = shared.ex();
            // `pair=` names pairs as a client knows them (altname `XBTUSD`, key `XXBTZUSD`,
            // or wsname `XBT/USD`, comma-separated); the answer is keyed by Kraken's key
            // whatever the name asked, as Kraken's is.
            let wanted: Option<Vec<String>> = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("pair="))
                .map(|v| v.split(',').map(|n| n.replace("%2F", "/")).collect());
            let known = |p: &crate::exchange::Pair, n: &str| {
                n == p.key || n == p.rest_name || n == p.rest_wsname() || n == p.symbol
            };
            if let Some(w) = &wanted
                && w.iter().any(|n| !ex.pairs.iter().any(|p| known(p, n)))
            {
                return (
                    "200 OK",
                    json!({"error": ["EQuery:Unknown asset pair"]}).to_string(),
                );
            }
            let m: Map<String, Value> = ex
                .pairs
                .iter()
                .filter(|p| {
                    wanted
                        .as_ref()
                        .is_none_or(|w| w.iter().any(|n| known(p, n)))
                })
                .map(|p| (p.key.clone(), json!({"altname": p.rest_name, "wsname": p.rest_wsname(), "base": rest_asset(&p.base), "quote": rest_asset(&p.quote),
                    "pair_decimals": p.price_precision, "lot_decimals": p.qty_precision, "ordermin": p.qty_min.to_string(),
                    "costmin": p.cost_min.to_string(), "tick_size": p.price_increment.to_string(), "status": "online"})))
                .collect();
            ("200 OK", ok(Value::Object(m)))
        }
        ("GET", "/0/public/Assets") => {
            let ex = shared.ex();
            let mut m = Map::new();
            for p in &ex.pairs {
                for a in [&p.base, &p.quote] {
                    let key = rest_asset(a);
                    let alt = match key.as_bytes() {
                        [b'X' | b'Z', _, _, _] => key[1..].to_string(),
                        _ => key.clone(),
                    };
                    let fiat = matches!(a.as_str(), "USD" | "EUR" | "GBP" | "JPY" | "CAD");
                    let (decimals, display) = if fiat { (4, 2) } else { (10, 5) };
                    m.insert(
                        key,
                        json!({"aclass": "currency", "altname": alt, "decimals": decimals,
                               "display_decimals": display, "status": "enabled"}),
                    );
                }
            }
            ("200 OK", ok(Value::Object(m)))
        }
        ("GET", "/sim/ledger") => ("200 OK", shared.ex().ledger().to_string()),
        ("POST", "/sim/fault") => {
            let spec = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("fault").and_then(Value::as_str).map(str::to_string));
            match spec.map(|s| shared.fault(&s)) {
                Some(Ok(())) => ("200 OK", ok(json!({"applied": true}))),
                Some(Err(e)) => ("400 Bad Request", err(&e)),
                None => (
                    "400 Bad Request",
                    err("body must be {\"fault\":\"<spec>\"}"),
                ),
            }
        }
        ("POST", p) if p.starts_with("/0/private/") => {
            let name = &p[11..];
            // A slow gateway: the call reaches the matching engine this much later.
            let delay = shared.ex().faults.rest_delay_ms;
            let now = if delay > 0 {
                thread::sleep(Duration::from_millis(delay));
                shared.now()
            } else {
                now
            };
            let reply = private(shared, name, headers, body, now);
            if ORDER_METHODS.contains(&name) {
                // Faults after execution: the call took effect, its reply is lost.
                let mut ex = shared.ex();
                if ex.faults.rest_reset > 0 {
                    ex.faults.rest_reset -= 1;
                    return (RESET, String::new());
                }
                if ex.faults.rest_lose_reply > 0 {
                    ex.faults.rest_lose_reply -= 1;
                    return ("502 Bad Gateway", EDGE_502.to_string());
                }
            }
            ("200 OK", reply)
        }
        _ => ("404 Not Found", err("EGeneral:Unknown method")),
    }
}

fn private(
    shared: &Shared,
    name: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    now: Ns,
) -> String {
    let Some(p) = params(headers, body) else {
        return err("EGeneral:Invalid arguments");
    };
    let mut ex = shared.ex();
    let acct = match authenticate(&mut ex, name, headers, &p, body) {
        Ok(acct) => acct,
        Err(e) => return err(e),
    };
    if ORDER_METHODS.contains(&name) {
        ex.log_request("rest", name, rest_cl_ord_ids(&p), None, now);
    }
    *ex.private_calls.entry(name.to_string()).or_default() += 1;
    if ex.faults.rest_unavailable {
        return err("EService:Unavailable");
    }
    if ex.faults.rest_busy {
        return err("EService:Busy");
    }
    // Counted once the service takes the call (a call it could not take is assumed free).
    if let Err(e) = ex.charge_rest(acct, name, now) {
        return err(&e);
    }
    if ex.faults.no_query_permission
        && matches!(
            name,
            "OpenOrders" | "ClosedOrders" | "QueryOrders" | "TradesHistory" | "QueryTrades"
        )
    {
        // A key allowed to trade but not to query.
        return err("EGeneral:Permission denied");
    }
    let r: Result<Value, String> = match name {
        "GetWebSocketsToken" => get_websockets_token(&mut ex, acct, now),
        "Balance" => balance(&ex, acct),
        "AddOrder" => add_order(&mut ex, acct, &p, now),
        "BalanceEx" => balance_ex(&ex, acct),
        "AddOrderBatch" => add_order_batch(&mut ex, acct, &p, now),
        "AmendOrder" => amend_order(&mut ex, acct, &p, now),
        "EditOrder" => edit_order(&mut ex, acct, &p, now),
        "CancelOrder" => cancel_order(&mut ex, acct, &p, now),
        "CancelAll" => cancel_all(&mut ex, acct, now),
        "CancelAllOrdersAfter" => cancel_all_orders_after(&mut ex, acct, &p, now),
        "CancelOrderBatch" => cancel_order_batch(&mut ex, acct, &p, now),
        "OpenOrders" => open_orders(&ex, acct, &p),
        "ClosedOrders" => closed_orders(&ex, acct, &p),
        "TradesHistory" => trades_history(&ex, acct, &p),
        "QueryOrders" => query_orders(&ex, acct, &p),
        _ => Err("EGeneral:Unknown method".into()),
    };
    match r {
        Ok(v) => ok(v),
        Err(e) => err(&e),
    }
}

/// The client order ids an order-entry call names (for the request log).
fn rest_cl_ord_ids(p: &Map<String, Value>) -> Vec<String> {
    let mut ids: Vec<String> = pstr(p, "cl_ord_id")
        .map(str::to_string)
        .into_iter()
        .collect();
    for k in ["orders", "cl_ord_ids"] {
        if let Some(Value::Array(a)) = p.get(k) {
            ids.extend(a.iter().filter_map(|o| {
                o.as_str()
                    .filter(|_| k == "cl_ord_ids")
                    .or_else(|| o.get("cl_ord_id").and_then(Value::as_str))
                    .map(str::to_string)
            }));
        }
    }
    ids
}

/// `GetWebSocketsToken`.
fn get_websockets_token(ex: &mut Exchange, acct: usize, now: Ns) -> Reply {
    Ok(json!({"token": ex.issue_token(acct, now), "expires": 900}))
}

/// `Balance`.
fn balance(ex: &Exchange, acct: usize) -> Reply {
    Ok(ex.balances(acct))
}

/// `AddOrder`.
fn add_order(ex: &mut Exchange, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
    let s = |k: &str| pstr(p, k);
    rest_order(p, s("pair").unwrap_or(""))
        .and_then(|n| ex.add_order(acct, &n, now))
        .map(|r| {
            // Kraken describes the order it placed: `buy 0.01000000 XBTUSD @ limit 60000.0`.
            let order = r["order_id"]
                .as_str()
                .and_then(|id| ex.order_by_id(id))
                .map(|o| ex.describe(o))
                .unwrap_or_default();
            json!({"descr": {"order": order}, "txid": [r["order_id"]]})
        })
}

/// `BalanceEx`.
fn balance_ex(ex: &Exchange, acct: usize) -> Reply {
    Ok(Value::Object(
        ex.accounts[acct]
            .balances
            .iter()
            .map(|(asset, b)| {
                let hold = ex.reserved(acct, asset);
                (
                    rest_asset(asset),
                    json!({"balance": b.to_string(), "hold_trade": hold.to_string()}),
                )
            })
            .collect(),
    ))
}

/// `AddOrderBatch`.
fn add_order_batch(ex: &mut Exchange, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
    let s = |k: &str| pstr(p, k);
    let pair = s("pair").unwrap_or("").to_string();
    match p.get("orders") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|o| match o {
                Value::Object(m) => rest_order(m, &pair),
                _ => Err("EGeneral:Invalid arguments:orders".into()),
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|orders| ex.batch_add(acct, &orders, now))
            .map(|v| {
                let items: Vec<Value> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|r| match r.get("order_id") {
                                Some(id) => json!({"txid": id, "descr": {"order": "order placed"}}),
                                None => json!({"error": r.get("error")}),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({"orders": items})
            }),
        _ => Err("EGeneral:Invalid arguments:orders".into()),
    }
}

/// `AmendOrder`.
fn amend_order(ex: &mut Exchange, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
    let s = |k: &str| pstr(p, k);
    let mut m = Map::new();
    if let Some(t) = s("txid") {
        m.insert("order_id".into(), json!(t));
    }
    if let Some(c) = s("cl_ord_id") {
        m.insert("cl_ord_id".into(), json!(c));
    }
    for k in ["order_qty", "limit_price", "display_qty", "trigger_price"] {
        if let Some(v) = s(k) {
            match serde_json::Number::from_str(v) {
                Ok(n) => {
                    m.insert(k.into(), Value::Number(n));
                }
                Err(_) => return Err(format!("EGeneral:Invalid arguments:{k}")),
            }
        }
    }
    ex.amend_order(acct, &m, now)
        .map(|r| json!({"amend_id": r["amend_id"]}))
}

/// `EditOrder`.
fn edit_order(ex: &mut Exchange, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
    let s = |k: &str| pstr(p, k);
    let mut m = Map::new();
    m.insert("order_id".into(), json!(s("txid").unwrap_or("")));
    if s("oflags").unwrap_or("").split(',').any(|f| f == "post") {
        m.insert("post_only".into(), json!(true));
    }
    for (from, to) in [("volume", "order_qty"), ("price", "limit_price")] {
        if let Some(v) = s(from).and_then(|v| serde_json::Number::from_str(v).ok()) {
            m.insert(to.into(), Value::Number(v));
        }
    }
    ex.edit_order(acct, &m, now).map(|r| json!({"status": "ok", "txid": r["order_id"], "originaltxid": r["original_order_id"], "orders_cancelled": 1, "descr": {"order": "edited"}}))
}

/// `CancelOrder`.
fn cancel_order(ex: &mut Exchange, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
    let s = |k: &str| pstr(p, k);
    let res = match (s("txid"), s("cl_ord_id")) {
        (Some(t), _) if t.parse::<i64>().is_ok() => {
            ex.cancel_orders(acct, &[], &[], &[t.parse().unwrap_or(0)], now)
        }
        (Some(t), _) => ex.cancel_orders(acct, &[t.to_string()], &[], &[], now),
        (None, Some(c)) => ex.cancel_orders(acct, &[], &[c.to_string()], &[], now),
        (None, None) => vec![Err("EGeneral:Invalid arguments:txid".into())],
    };
    match res.iter().find_map(|r| r.as_ref().err()) {
        Some(e) if res.iter().all(|r| r.is_err()) => Err(e.clone()),
        _ => Ok(json!({"count": res.iter().filter(|r| r.is_ok()).count()})),
    }
}

/// `CancelAll`.
fn cancel_all(ex: &mut Exchange, acct: usize, now: Ns) -> Reply {
    Ok(json!({"count": ex.cancel_all(acct, now)}))
}

/// `CancelAllOrdersAfter` (the dead man's switch).
fn cancel_all_orders_after(
    ex: &mut Exchange,
    acct: usize,
    p: &Map<String, Value>,
    now: Ns,
) -> Reply {
    let s = |k: &str| pstr(p, k);
    match s("timeout").and_then(|t| t.parse::<u64>().ok()) {
        Some(t) => ex.cancel_after(acct, t, now),
        None => Err("EGeneral:Invalid arguments:timeout".into()),
    }
}

/// `CancelOrderBatch`.
fn cancel_order_batch(ex: &mut Exchange, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
    let list = |k: &str| -> Vec<String> {
        p.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (refs, ids): (Vec<String>, Vec<String>) = list("orders")
        .into_iter()
        .partition(|s| s.parse::<i64>().is_ok());
    let refs: Vec<i64> = refs.iter().filter_map(|s| s.parse().ok()).collect();
    let cls = list("cl_ord_ids");
    if ids.len() + refs.len() + cls.len() > 50 {
        Err("EGeneral:Invalid arguments:too many ids".into())
    } else {
        Ok(
            json!({"count": ex.cancel_orders(acct, &ids, &cls, &refs, now).iter().filter(|r| r.is_ok()).count()}),
        )
    }
}

/// `OpenOrders`.
fn open_orders(ex: &Exchange, acct: usize, p: &Map<String, Value>) -> Reply {
    let s = |k: &str| pstr(p, k);
    Ok(ex.open_orders(acct, s("cl_ord_id")))
}

/// `ClosedOrders`.
fn closed_orders(ex: &Exchange, acct: usize, p: &Map<String, Value>) -> Reply {
    let s = |k: &str| pstr(p, k);
    let ofs = s("ofs").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    match (
        s("start").map(str::parse::<f64>).transpose(),
        s("end").map(str::parse::<f64>).transpose(),
    ) {
        (Ok(start), Ok(end)) => Ok(ex.closed_orders(acct, s("cl_ord_id"), start, end, ofs)),
        (Err(_), _) => Err("EGeneral:Invalid arguments:start".into()),
        (_, Err(_)) => Err("EGeneral:Invalid arguments:end".into()),
    }
}

/// `TradesHistory`.
fn trades_history(ex: &Exchange, acct: usize, p: &Map<String, Value>) -> Reply {
    let s = |k: &str| pstr(p, k);
    let start = match s("start") {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .map(Some)
            .map_err(|_| "EGeneral:Invalid arguments:start".to_string()),
    };
    let ofs = s("ofs").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    start.map(|st| ex.trades_history(acct, st, ofs))
}

/// `QueryOrders`.
fn query_orders(ex: &Exchange, acct: usize, p: &Map<String, Value>) -> Reply {
    let s = |k: &str| pstr(p, k);
    let ids: Vec<&str> = s("txid")
        .unwrap_or("")
        .split(',')
        .filter(|x| !x.is_empty())
        .collect();
    if ids.len() > 50 {
        Err("EGeneral:Invalid arguments:txid".into())
    } else {
        ex.query_orders(acct, &ids)
    }
}

/// A REST AddOrder (or AddOrderBatch element) as a normalised order.
fn rest_order(p: &Map<String, Value>, pair: &str) -> Result<NewOrder, String> {
    let s = |k: &str| pstr(p, k);
    let ordertype = s("ordertype")
        .ok_or("EGeneral:Invalid arguments:ordertype")?
        .to_string();
    let buy = match s("type") {
        Some("buy") => true,
        Some("sell") => false,
        _ => return Err("EGeneral:Invalid arguments:type".into()),
    };
    let oflags: Vec<&str> = s("oflags").unwrap_or("").split(',').collect();
    let triggered = ordertype.contains("stop") || ordertype.contains("take-profit");
    let price = s("price");
    let price_pct = price.is_some_and(|p| p.ends_with('%'));
    let price_num = dec_str(price.map(|p| p.trim_end_matches('%')), "price")?;
    let (limit_price, trigger_price) = if triggered {
        (dec_str(s("price2"), "price2")?, price_num)
    } else {
        (price_num, None)
    };
    let volume = dec_str(s("volume"), "volume")?;
    let viqc = oflags.contains(&"viqc");
    Ok(NewOrder {
        symbol: pair.to_string(),
        buy,
        order_type: ordertype,
        qty: if viqc { None } else { volume },
        cash_qty: if viqc { volume } else { None },
        limit_price,
        trigger_price,
        trigger_pct: price_pct,
        tif: s("timeinforce").unwrap_or("GTC").to_ascii_lowercase(),
        expire_ns: s("expiretm")
            .and_then(|t| t.parse::<u64>().ok())
            .map(|t| t * 1_000_000_000),
        post_only: oflags.contains(&"post"),
        reduce_only: s("reduce_only") == Some("true"),
        cl_ord_id: s("cl_ord_id").map(str::to_string),
        userref: s("userref").and_then(|u| u.parse().ok()),
        display_qty: dec_str(s("displayvol"), "displayvol")?,
        deadline_ns: s("deadline").and_then(crate::exchange::parse_rfc3339),
        validate: s("validate") == Some("true"),
    })
}

//! kraken-sim over real sockets, checked the way Kraken behaves: REST auth and errors, the
//! channels' frame shapes, and the transport faults.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use kraken_sim::{Sim, SimConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn sim() -> Sim {
    Sim::start(SimConfig {
        market_flow: false,
        ..SimConfig::default()
    })
    .unwrap()
}

fn http(sim: &Sim, method: &str, path: &str, headers: &[(&str, String)], body: &str) -> Value {
    let addr = sim.rest_url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // The server keeps connections alive: read until the body is complete.
    loop {
        let n = s.read(&mut chunk).unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return serde_json::from_str(&body[..len]).unwrap();
            }
        }
        assert!(n > 0, "connection closed early");
    }
}

fn private(sim: &Sim, name: &str, nonce: u64, extra: &str, secret_override: Option<&str>) -> Value {
    let body = format!("nonce={nonce}{extra}");
    let path = format!("/0/private/{name}");
    let secret = B64
        .decode(secret_override.unwrap_or(sim.api_secret()))
        .unwrap();
    let mut sha = Sha256::new();
    sha.update(nonce.to_string().as_bytes());
    sha.update(body.as_bytes());
    let mut mac = Hmac::<Sha512>::new_from_slice(&secret).unwrap();
    mac.update(path.as_bytes());
    mac.update(&sha.finalize());
    let sign = B64.encode(mac.finalize().into_bytes());
    http(
        sim,
        "POST",
        &path,
        &[
            ("API-Key", sim.api_key().to_string()),
            ("API-Sign", sign),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
        &body,
    )
}

fn token(sim: &Sim) -> String {
    let n = 1_000_000 + Instant::now().elapsed().as_nanos() as u64;
    private(sim, "GetWebSocketsToken", n, "", None)["result"]["token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn ws(sim: &Sim) -> Ws {
    let (w, _) = tungstenite::connect(sim.ws_url()).unwrap();
    if let MaybeTlsStream::Plain(s) = w.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    w
}

fn send(w: &mut Ws, v: Value) {
    w.send(Message::text(v.to_string())).unwrap();
}

/// Reads until a frame matches, returning it (and failing after 5 s).
fn until(w: &mut Ws, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(Message::Text(t)) = w.read()
            && let Ok(v) = serde_json::from_str::<Value>(t.as_str())
            && pred(&v)
        {
            return v;
        }
    }
    panic!("no frame: {what}");
}

#[test]
fn rest_auth_errors_and_public_endpoints() {
    let s = sim();
    assert!(private(&s, "Balance", 10, "", None)["result"]["USD"].is_string());
    assert_eq!(
        private(&s, "Balance", 10, "", None)["error"][0],
        "EAPI:Invalid nonce"
    );
    assert_eq!(
        private(&s, "Balance", 11, "", Some("d3Jvbmc="))["error"][0],
        "EAPI:Invalid signature"
    );
    let bad_key = http(
        &s,
        "POST",
        "/0/private/Balance",
        &[("API-Key", "nope".into()), ("API-Sign", "x".into())],
        "nonce=12",
    );
    assert_eq!(bad_key["error"][0], "EAPI:Invalid key");
    assert!(http(&s, "GET", "/0/public/Time", &[], "")["result"]["unixtime"].is_number());
    assert_eq!(
        http(&s, "GET", "/0/public/SystemStatus", &[], "")["result"]["status"],
        "online"
    );
    // Named as Kraken names it: REST's asset codes, not WebSocket v2's.
    let pairs = http(&s, "GET", "/0/public/AssetPairs", &[], "");
    let btc = &pairs["result"]["XXBTZUSD"];
    assert_eq!(
        (&btc["altname"], &btc["wsname"], &btc["base"], &btc["quote"]),
        (
            &"XBTUSD".into(),
            &"XBT/USD".into(),
            &"XXBT".into(),
            &"ZUSD".into()
        )
    );
    // Another client spent the key's REST call counter: refused as Kraken refuses, while
    // order entry (counted by the trading counter, not this one) still goes.
    s.fault("rest-rate-limit").unwrap();
    assert_eq!(
        private(&s, "Balance", 12, "", None)["error"][0],
        "EAPI:Rate limit exceeded"
    );
    let placed = private(
        &s,
        "AddOrder",
        13,
        "&pair=XBTUSD&type=buy&ordertype=limit&price=30000.0&volume=0.001",
        None,
    );
    assert_eq!(placed["error"], json!([]), "{placed}");
    s.with_exchange(|e| e.rest_counter = false);
    s.fault("rest-busy:on").unwrap();
    let busy = private(
        &s,
        "AddOrder",
        14,
        "&pair=XBTUSD&type=buy&ordertype=limit&price=30000.0&volume=0.001",
        None,
    );
    assert_eq!(busy["error"][0], "EService:Busy");
    s.fault("rest-busy:off").unwrap();
    assert_eq!(
        s.ledger()["orders"].as_array().unwrap().len(),
        1,
        "a busy answer placed nothing"
    );
    s.fault("rest-unavailable:on").unwrap();
    assert_eq!(
        private(&s, "Balance", 15, "", None)["error"][0],
        "EService:Unavailable"
    );
    let r = http(
        &s,
        "POST",
        "/sim/fault",
        &[],
        r#"{"fault":"rest-unavailable:off"}"#,
    );
    assert_eq!(r["result"]["applied"], true);
    assert!(private(&s, "Balance", 16, "", None)["result"].is_object());
    // An id the account does not have fails the whole call, as Kraken answers it.
    assert_eq!(
        private(&s, "QueryOrders", 17, "&txid=OAAAAA-BBBBB-CCCCCC", None)["error"][0],
        "EOrder:Invalid order"
    );
    let r = private(
        &s,
        "AddOrder",
        18,
        "&ordertype=limit&type=buy&volume=0.01&pair=XBTUSD&price=60000.05",
        None,
    );
    assert_eq!(r["error"][0], "EOrder:Tick size check failed");
    // Placed, the order is described as Kraken describes it; its funds are held.
    let r = private(
        &s,
        "AddOrder",
        19,
        "&ordertype=limit&type=buy&volume=0.01&pair=XBTUSD&price=60000",
        None,
    );
    assert_eq!(
        r["result"]["descr"]["order"],
        "buy 0.01000000 XBTUSD @ limit 60000"
    );
    let txid = r["result"]["txid"][0].as_str().unwrap().to_string();
    let bx = private(&s, "BalanceEx", 20, "", None);
    // (With the 0.001 at 30000 placed above.)
    assert_eq!(bx["result"]["ZUSD"]["hold_trade"], "630.0000");
    assert!(bx["result"]["ZUSD"]["balance"].is_string());
    // Closed, it says when and why.
    let c = private(&s, "CancelOrder", 21, &format!("&txid={txid}"), None);
    assert_eq!(c["result"]["count"], 1);
    let q = private(&s, "QueryOrders", 22, &format!("&txid={txid}"), None);
    let o = &q["result"][txid.as_str()];
    assert_eq!(o["status"], "canceled");
    assert_eq!(o["reason"], "User requested");
    assert!(o["closetm"].as_f64().unwrap() >= o["opentm"].as_f64().unwrap());
    let assets = http(&s, "GET", "/0/public/Assets", &[], "");
    assert_eq!(assets["result"]["XXBT"]["altname"], "XBT");
    assert_eq!(assets["result"]["ZUSD"]["display_decimals"], 2);
}

#[test]
fn ws_status_ping_and_strict_params() {
    let s = sim();
    let mut w = ws(&s);
    let st = until(&mut w, "status on connect", |v| v["channel"] == "status");
    assert_eq!(st["data"][0]["system"], "online");
    assert!(
        st["data"][0]["connection_id"].as_u64().unwrap() > i64::MAX as u64,
        "connection_id beyond i64"
    );
    send(&mut w, json!({"method": "ping", "req_id": 1}));
    let p = until(&mut w, "pong", |v| v["method"] == "pong");
    assert!(p.get("success").is_none() && p["req_id"] == 1);
    send(&mut w, json!({"method": "ping", "params": {}, "req_id": 2}));
    let e = until(&mut w, "ping with params", |v| v["req_id"] == 2);
    assert_eq!(
        e["error"],
        "Unsupported field: 'params' for the given msg type: ping"
    );
    let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "error keys in alphabetical order");
    send(
        &mut w,
        json!({"method": "add_order", "req_id": 3, "params": {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 60000.0, "symbol": "BTC/USD", "token": "nope"}}),
    );
    assert_eq!(
        until(&mut w, "bad token", |v| v["req_id"] == 3)["error"],
        "ESession:Invalid session"
    );
    let t = token(&s);
    send(
        &mut w,
        json!({"method": "add_order", "req_id": 4, "params": {"order_type": "limit", "side": "buy", "order_qty": "0.01", "limit_price": 60000.0, "symbol": "BTC/USD", "token": t}}),
    );
    assert_eq!(
        until(&mut w, "string qty", |v| v["req_id"] == 4)["error"],
        "Order_qty field must be a number_float"
    );
    send(
        &mut w,
        json!({"method": "add_order", "params": {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 60000, "symbol": "BTC/USD", "token": t}}),
    );
    let ack = until(&mut w, "ack without req_id", |v| {
        v["method"] == "add_order" && v["success"] == true
    });
    assert!(ack.get("req_id").is_none(), "req_id echoed only when sent");
    send(
        &mut w,
        json!({"method": "subscribe", "req_id": 5, "params": {"channel": "executions", "token": "x"}}),
    );
    assert_eq!(
        until(&mut w, "bad token subscribe", |v| v["req_id"] == 5)["error"],
        "ESession:Invalid session"
    );
}

#[test]
fn executions_balances_heartbeat_and_sequence() {
    let s = sim();
    let t = token(&s);
    let mut w = ws(&s);
    send(
        &mut w,
        json!({"method": "subscribe", "req_id": 1, "params": {"channel": "executions", "token": t, "snap_orders": true, "snap_trades": true}}),
    );
    let ack = until(&mut w, "ack", |v| v["req_id"] == 1);
    assert_eq!(ack["result"]["maxratecount"], 60);
    let snap = until(&mut w, "snapshot", |v| v["type"] == "snapshot");
    assert_eq!(snap["sequence"], 1);
    send(
        &mut w,
        json!({"method": "subscribe", "req_id": 2, "params": {"channel": "balances", "token": t}}),
    );
    until(&mut w, "balances snapshot", |v| {
        v["channel"] == "balances" && v["type"] == "snapshot"
    });
    until(&mut w, "heartbeat when idle", |v| {
        v["channel"] == "heartbeat"
    });
    send(
        &mut w,
        json!({"method": "add_order", "req_id": 3, "params": {"order_type": "limit", "side": "buy", "order_qty": 0.5, "limit_price": 64000.0, "symbol": "BTC/USD", "cl_ord_id": "s-1", "token": t}}),
    );
    let pn = until(&mut w, "pending_new", |v| {
        v["channel"] == "executions" && v["data"][0]["exec_type"] == "pending_new"
    });
    assert_eq!(
        (pn["data"][0]["symbol"].as_str(), pn["sequence"].as_u64()),
        (Some("BTC/USD"), Some(2))
    );
    let new = until(&mut w, "new", |v| {
        v["channel"] == "executions" && v["data"][0]["exec_type"] == "new"
    });
    assert!(
        new["data"][0].get("symbol").is_none(),
        "delta frames omit the symbol"
    );
    assert_eq!(new["sequence"], 3);
    s.inject_aggressive_order("BTC/USD", false, Decimal::ONE)
        .unwrap();
    let tr = until(&mut w, "trade", |v| {
        v["channel"] == "executions" && v["data"][0]["exec_type"] == "trade"
    });
    assert_eq!(
        tr["data"][0]["order_status"], "partially_filled",
        "a completing trade still says partially_filled"
    );
    let exec_id = tr["data"][0]["exec_id"].as_str().unwrap().to_string();
    // Until `filled`, collect the balance updates the trade caused.
    let mut ledger_updates = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < end, "no filled frame");
        if let Ok(Message::Text(m)) = w.read() {
            let v: Value = serde_json::from_str(m.as_str()).unwrap();
            if v["channel"] == "balances" && v["type"] == "update" {
                ledger_updates.push(v);
            } else if v["channel"] == "executions" && v["data"][0]["exec_type"] == "filled" {
                break;
            }
        }
    }
    assert_eq!(ledger_updates.len(), 2, "two ledger updates per trade");
    let (b1, b2) = (&ledger_updates[0], &ledger_updates[1]);
    assert_eq!(b1["data"][0]["ref_id"], exec_id.as_str());
    assert_eq!(b2["data"][0]["ref_id"], exec_id.as_str());
    assert_ne!(
        b1["data"][0]["asset"], b2["data"][0]["asset"],
        "two legs of one trade"
    );
    let ledger = http(&s, "GET", "/sim/ledger", &[], "");
    assert_eq!(ledger["fills"][0]["exec_id"], exec_id.as_str());
    assert_eq!(ledger["orders"][0]["status"], "filled");
}

#[test]
fn faults_drop_gap_delay_and_non_json() {
    let s = sim();
    let t = token(&s);
    let mut w = ws(&s);
    send(
        &mut w,
        json!({"method": "subscribe", "req_id": 1, "params": {"channel": "executions", "token": t}}),
    );
    until(&mut w, "snapshot", |v| v["type"] == "snapshot");
    // A dropped executions frame shows as a sequence gap.
    s.fault("drop-exec-frame").unwrap();
    send(
        &mut w,
        json!({"method": "add_order", "params": {"order_type": "limit", "side": "buy", "order_qty": 0.1, "limit_price": 60000.0, "symbol": "BTC/USD", "token": t}}),
    );
    let new = until(&mut w, "new", |v| {
        v["channel"] == "executions" && v["data"][0]["exec_type"] == "new"
    });
    assert_eq!(new["sequence"], 3, "pending_new (2) was dropped");
    s.fault("non-json").unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut seen = false;
    while Instant::now() < end && !seen {
        if let Ok(Message::Text(m)) = w.read() {
            seen = m.as_str() == "CloudFlare WebSocket proxy restarting";
        }
    }
    assert!(seen, "non-JSON text frame");
    // Applies to every request read after it is set.
    s.fault("delay-us:50000").unwrap();
    let t0 = Instant::now();
    send(&mut w, json!({"method": "ping", "req_id": 9}));
    until(&mut w, "delayed pong", |v| v["req_id"] == 9);
    assert!(t0.elapsed() >= Duration::from_millis(50));
    s.fault("clear").unwrap();
    s.fault("drop-after:0").unwrap();
    send(&mut w, json!({"method": "ping", "req_id": 10}));
    let end = Instant::now() + Duration::from_secs(5);
    let mut closed = false;
    while Instant::now() < end && !closed {
        match w.read() {
            Ok(Message::Close(_))
            | Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(_),
            ) => closed = true,
            Err(tungstenite::Error::Io(e))
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                closed = true
            }
            _ => {}
        }
    }
    assert!(closed, "connection dropped");
    // Wrong path: 404.
    let bad = sim_url_with_path(&s, "/v1");
    assert!(tungstenite::connect(bad).is_err());
}

#[test]
fn refuse_ws_drop_now_and_binary_requests() {
    let s = sim();
    // A request in a binary frame is answered like a text one.
    let mut w = ws(&s);
    w.send(Message::binary(
        json!({"method": "ping", "req_id": 5})
            .to_string()
            .into_bytes(),
    ))
    .unwrap();
    until(&mut w, "pong to a binary ping", |v| {
        v["method"] == "pong" && v["req_id"] == 5
    });
    // drop-now closes the connections that exist, not the ones made after it.
    s.fault("drop-now").unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut closed = false;
    while Instant::now() < end && !closed {
        closed = match w.read() {
            Ok(_) => false,
            Err(tungstenite::Error::Io(e)) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            Err(_) => true,
        };
    }
    assert!(closed, "drop-now closed the live connection");
    let mut w = ws(&s);
    send(&mut w, json!({"method": "ping", "req_id": 6}));
    until(&mut w, "pong on a connection made after the drop", |v| {
        v["req_id"] == 6
    });
    // refuse-ws: the TCP connect succeeds, the WebSocket handshake does not, until lifted.
    s.fault("refuse-ws:on").unwrap();
    assert!(tungstenite::connect(s.ws_url()).is_err());
    send(&mut w, json!({"method": "ping", "req_id": 7}));
    until(&mut w, "existing connections live on", |v| v["req_id"] == 7);
    s.fault("refuse-ws:off").unwrap();
    let mut w = ws(&s);
    send(&mut w, json!({"method": "ping", "req_id": 8}));
    until(&mut w, "pong after refuse-ws:off", |v| v["req_id"] == 8);
}

fn sim_url_with_path(s: &Sim, p: &str) -> String {
    s.ws_url().trim_end_matches("/v2").to_string() + p
}

#[test]
fn edit_replaces_with_a_new_id_and_amend_keeps_it() {
    let s = sim();
    let t = token(&s);
    let mut w = ws(&s);
    send(
        &mut w,
        json!({"method": "add_order", "req_id": 1, "params": {"order_type": "limit", "side": "buy", "order_qty": 0.2, "limit_price": 60000.0, "symbol": "BTC/USD", "cl_ord_id": "ed-1", "token": t}}),
    );
    let id = until(&mut w, "ack", |v| v["req_id"] == 1)["result"]["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    send(
        &mut w,
        json!({"method": "amend_order", "req_id": 2, "params": {"cl_ord_id": "ed-1", "order_qty": 0.3, "token": t}}),
    );
    let a = until(&mut w, "amend", |v| v["req_id"] == 2);
    assert_eq!(
        a["result"]["cl_ord_id"], "ed-1",
        "the amend echoes the id the request used"
    );
    send(
        &mut w,
        json!({"method": "edit_order", "req_id": 3, "params": {"order_id": id, "symbol": "BTC/USD", "limit_price": 60100.0, "token": t}}),
    );
    let e = until(&mut w, "edit", |v| v["req_id"] == 3);
    assert_eq!(e["result"]["original_order_id"], id.as_str());
    assert_ne!(
        e["result"]["order_id"],
        id.as_str(),
        "edit makes a new order id"
    );
    send(
        &mut w,
        json!({"method": "edit_order", "req_id": 4, "params": {"cl_ord_id": "ed-1", "symbol": "BTC/USD", "limit_price": 1.0, "token": t}}),
    );
    assert!(
        until(&mut w, "edit by cl_ord_id", |v| v["req_id"] == 4)["success"] == false,
        "edit does not take cl_ord_id"
    );
    let ledger = s.ledger();
    assert_eq!(ledger["orders"][0]["status"], "canceled");
    assert_eq!(ledger["orders"][0]["order_qty"], "0.3");
    assert_eq!(ledger["orders"][1]["limit_price"], "60100.0");
}

#[test]
fn closed_orders_and_trades_history_over_rest() {
    let s = sim();
    let add = private(
        &s,
        "AddOrder",
        20,
        "&ordertype=limit&type=buy&volume=0.01&pair=XBTUSD&price=64000.0&cl_ord_id=th-1",
        None,
    );
    let txid = add["result"]["txid"][0].as_str().unwrap().to_string();
    // Still open: not among the closed orders, no trades.
    assert_eq!(
        private(&s, "ClosedOrders", 21, "&cl_ord_id=th-1", None)["result"]["count"],
        0
    );
    assert_eq!(
        private(&s, "TradesHistory", 22, "", None)["result"]["count"],
        0
    );
    s.inject_aggressive_order("BTC/USD", false, Decimal::new(5, 1))
        .unwrap();
    s.inject_aggressive_order("BTC/USD", false, Decimal::ONE)
        .unwrap();
    let closed = private(&s, "ClosedOrders", 23, "&cl_ord_id=th-1", None);
    let o = &closed["result"]["closed"][txid.as_str()];
    assert_eq!(o["status"].as_str(), Some("closed"));
    let vol_exec: Decimal = o["vol_exec"].as_str().unwrap().parse().unwrap();
    assert_eq!(vol_exec, Decimal::new(1, 2));
    assert_eq!(o["trades"].as_array().unwrap().len(), 2);
    assert_eq!(
        private(&s, "ClosedOrders", 24, "&cl_ord_id=other", None)["result"]["count"],
        0
    );
    // Both fills, newest first, keyed by the exec_id the executions channel reports.
    let th = private(&s, "TradesHistory", 25, "", None);
    let trades = th["result"]["trades"].as_object().unwrap();
    assert_eq!(th["result"]["count"], 2);
    let ledger = s.ledger();
    for f in ledger["fills"].as_array().unwrap() {
        let t = &trades[f["exec_id"].as_str().unwrap()];
        assert_eq!(t["ordertxid"].as_str(), Some(txid.as_str()));
        assert_eq!(
            (t["pair"].as_str(), t["type"].as_str()),
            (Some("XXBTZUSD"), Some("buy"))
        );
        assert_eq!(t["vol"], f["qty"]);
        assert_eq!(t["price"], f["price"]);
    }
    let times: Vec<f64> = trades
        .values()
        .map(|t| t["time"].as_f64().unwrap())
        .collect();
    // `start` bounds the window from below.
    let older = times.iter().cloned().fold(f64::INFINITY, f64::min);
    let newer = times.iter().cloned().fold(0.0, f64::max);
    let from = |st: f64, n: u64| {
        private(&s, "TradesHistory", n, &format!("&start={st:.6}"), None)["result"]["count"]
            .as_u64()
    };
    assert_eq!(from(older - 1.0, 26), Some(2));
    assert_eq!(from(newer + 1.0, 27), Some(0));
    assert_eq!(
        private(&s, "TradesHistory", 28, "&start=soon", None)["error"][0],
        "EGeneral:Invalid arguments:start"
    );
}

/// An account that traded before: its first executions snapshot replays fills older than the
/// connection (the last 50) and its resting
/// orders, and REST's trade history holds every fill, as Kraken's does.
#[test]
fn a_seeded_history_is_replayed_by_the_first_snapshot() {
    let s = Sim::start(SimConfig {
        market_flow: false,
        history: 80,
        seed: 7,
        ..SimConfig::default()
    })
    .unwrap();
    let start = s.now();
    let ledger = s.ledger();
    let fills = ledger["fills"].as_array().unwrap().len();
    assert_eq!(fills, 60, "three in four of 80 orders filled");
    let t = token(&s);
    let mut w = ws(&s);
    send(
        &mut w,
        json!({"method": "subscribe", "req_id": 1, "params": {"channel": "executions", "snap_orders": true, "snap_trades": true, "token": t}}),
    );
    let snap = until(&mut w, "snapshot", |v| {
        v["channel"] == "executions" && v["type"] == "snapshot"
    });
    let data = snap["data"].as_array().unwrap();
    let trades: Vec<&Value> = data.iter().filter(|d| d["exec_type"] == "trade").collect();
    let open: Vec<&Value> = data.iter().filter(|d| d["exec_type"] != "trade").collect();
    assert_eq!(trades.len(), 50, "the last 50 fills");
    assert_eq!(open.len(), 20, "every fourth order still rests");
    let started = kraken_sim::exchange::rfc3339(start);
    assert!(
        trades
            .iter()
            .all(|d| d["timestamp"].as_str().unwrap() < started.as_str()),
        "every replayed fill predates the connection"
    );
    let history = private(&s, "TradesHistory", 2_000_000_000, "", None);
    assert_eq!(history["result"]["count"], 60, "{history}");
}

/// `AssetPairs?pair=` answers the pairs asked, however named (altname, Kraken's key, wsname,
/// several at once), keyed by Kraken's key as Kraken does; a pair it does not list is
/// `EQuery:Unknown asset pair`. (Third-party book clients look the pair up this way.)
#[test]
fn asset_pairs_answers_the_pair_asked_keyed_by_kraken_s_key() {
    let s = sim();
    for q in ["XBTUSD", "XXBTZUSD", "XBT%2FUSD"] {
        let v = http(
            &s,
            "GET",
            &format!("/0/public/AssetPairs?pair={q}"),
            &[],
            "",
        );
        let keys: Vec<&String> = v["result"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["XXBTZUSD"], "{q}: {v}");
        assert_eq!(v["result"]["XXBTZUSD"]["altname"], "XBTUSD");
    }
    let v = http(
        &s,
        "GET",
        "/0/public/AssetPairs?pair=XBTUSD,ETHUSD",
        &[],
        "",
    );
    assert_eq!(v["result"].as_object().unwrap().len(), 2, "{v}");
    let v = http(&s, "GET", "/0/public/AssetPairs?pair=NOPE", &[], "");
    assert_eq!(v["error"][0], "EQuery:Unknown asset pair");
    let all = http(&s, "GET", "/0/public/AssetPairs", &[], "");
    assert!(all["result"].as_object().unwrap().len() > 2);
}

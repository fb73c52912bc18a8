//! The WebSocket v2 side: accepting connections at `/v2`, each connection's loop (faults
//! included), the request dispatcher, subscriptions, and the envelopes of replies.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Map, Value, json};
use tungstenite::{Message, WebSocket};

use super::Shared;
use super::ws_orders::handle_order;
use crate::exchange::{Exchange, Ns, rfc3339};

/// Binds and serves WebSocket connections.
pub fn serve_ws(l: TcpListener, tls: Option<Arc<ServerConfig>>, shared: Arc<Shared>) {
    for s in l.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(s) = s else { continue };
        let shared = shared.clone();
        let tls = tls.clone();
        let _ = thread::Builder::new().name("sim-ws".into()).spawn(move || {
            if shared.refuse_ws.load(Ordering::Relaxed) {
                return; // dropping the socket closes it before any handshake
            }
            // A `drop-now` from here on closes this connection, even mid-handshake.
            let drop_gen = shared.drop_gen.load(Ordering::Relaxed);
            let _ = s.set_nodelay(true);
            let _ = s.set_read_timeout(Some(Duration::from_millis(5)));
            let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
            match tls {
                Some(cfg) => {
                    let Ok(c) = ServerConnection::new(cfg) else {
                        return;
                    };
                    if let Ok(ws) = accept(StreamOwned::new(c, s)) {
                        ws_loop(ws, conn, drop_gen, &shared);
                    }
                }
                None => {
                    if let Ok(ws) = accept(s) {
                        ws_loop(ws, conn, drop_gen, &shared);
                    }
                }
            }
            shared.ex().disconnect(conn);
        });
    }
}

#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn accept<S: Read + Write>(s: S) -> Result<WebSocket<S>, ()> {
    let mut hs =
        tungstenite::accept_hdr(s, |req: &tungstenite::handshake::server::Request, resp| {
            if req.uri().path() == "/v2" {
                Ok(resp)
            } else {
                let mut r =
                    tungstenite::handshake::server::ErrorResponse::new(Some("not found".into()));
                *r.status_mut() = tungstenite::http::StatusCode::NOT_FOUND;
                Err(r)
            }
        });
    loop {
        match hs {
            Ok(ws) => return Ok(ws),
            Err(tungstenite::HandshakeError::Interrupted(mid)) => hs = mid.handshake(),
            Err(tungstenite::HandshakeError::Failure(_)) => return Err(()),
        }
    }
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

fn ws_loop<S: Read + Write>(mut ws: WebSocket<S>, conn: u64, drop_gen: u64, shared: &Shared) {
    let started = Instant::now();
    let mut sent = 0u64;
    let mut last_sent = Instant::now();
    let mut out: Vec<String> = Vec::new();
    let mut non_json_seen = shared.non_json_gen.load(Ordering::Relaxed);
    out.push(shared.open_conn(conn));
    while !shared.stop.load(Ordering::Relaxed) {
        let net = shared.net().clone();
        if let Some(until) = net.stall_until
            && Instant::now() < until
        {
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        if net
            .drop_every_ms
            .is_some_and(|ms| started.elapsed() >= Duration::from_millis(ms))
            || shared.drop_gen.load(Ordering::Relaxed) != drop_gen
        {
            return;
        }
        let msg = ws.read();
        // kraken-async-rs, which trades against Kraken, sends its requests as binary frames.
        let text = match &msg {
            Ok(Message::Text(t)) => Some(t.as_str()),
            Ok(Message::Binary(b)) => Some(std::str::from_utf8(b).unwrap_or("")),
            _ => None,
        };
        match msg {
            Ok(Message::Text(_) | Message::Binary(_)) => {
                // Faults set before this request was read apply to it: a stall holds it, a
                // delay follows it (no client needs to wait for this thread to notice them).
                let net = shared.net().clone();
                while net.stall_until.is_some_and(|u| Instant::now() < u)
                    && !shared.stop.load(Ordering::Relaxed)
                {
                    thread::sleep(Duration::from_millis(1));
                }
                if shared.drop_gen.load(Ordering::Relaxed) != drop_gen {
                    // Dropped while stalled: the request dies with the connection, unread.
                    return;
                }
                shared.serve_frame(conn, text.unwrap_or(""), shared.now(), &mut out);
                if net.delay_us > 0 {
                    thread::sleep(Duration::from_micros(net.delay_us));
                }
            }
            Ok(Message::Close(_)) => return,
            Ok(_) => {}
            Err(e) if would_block(&e) => {}
            Err(_) => return,
        }
        {
            let mut ex = shared.ex();
            ex.publish_books(conn, shared.now());
            ex.publish_tape(conn);
            ex.take_outbox(conn, &mut out);
        }
        let generation = shared.non_json_gen.load(Ordering::Relaxed);
        if generation != non_json_seen {
            non_json_seen = generation;
            out.push("CloudFlare WebSocket proxy restarting".into());
        }
        if out.is_empty()
            && last_sent.elapsed() >= Duration::from_secs(1)
            && shared.ex().has_subscription(conn)
        {
            out.push(r#"{"channel":"heartbeat"}"#.into());
        }
        for f in out.drain(..) {
            if net.drop_after_frames.is_some_and(|n| sent >= n) {
                return;
            }
            if ws.write(Message::text(f)).is_err() {
                return;
            }
            sent += 1;
            last_sent = Instant::now();
        }
        loop {
            match ws.flush() {
                Ok(()) => break,
                Err(e) if would_block(&e) => {
                    // A client that stops reading must not pin this thread past a drop.
                    if shared.drop_gen.load(Ordering::Relaxed) != drop_gen {
                        return;
                    }
                    thread::sleep(Duration::from_micros(50))
                }
                Err(_) => return,
            }
        }
    }
}

pub(super) fn envelope(
    method: &str,
    req_id: Option<&Value>,
    r: Result<Value, String>,
    t_in: Ns,
    now: Ns,
) -> String {
    let mut m = Map::new();
    match r {
        Ok(v) => {
            m.insert("method".into(), json!(method));
            if let Some(id) = req_id {
                m.insert("req_id".into(), id.clone());
            }
            if !v.is_null() {
                m.insert("result".into(), v);
            }
            m.insert("success".into(), json!(true));
        }
        Err(e) => {
            // Error responses come with their keys in alphabetical order (captured).
            m.insert("error".into(), json!(e));
            m.insert("method".into(), json!(method));
            if let Some(id) = req_id {
                m.insert("req_id".into(), id.clone());
            }
            m.insert("success".into(), json!(false));
        }
    }
    m.insert("time_in".into(), json!(rfc3339(t_in)));
    m.insert("time_out".into(), json!(rfc3339(now)));
    Value::Object(m).to_string()
}

/// A public channel's subscribe or unsubscribe of each pair its `symbol` list names: `f` does
/// it for one pair (its index, its name) and gives its ack. Kraken answers each pair on its
/// own: the first ack is the reply, the others are queued after it; a pair it does not list
/// ends the list with Kraken's error.
fn each_pair(
    ex: &mut Exchange,
    params: &Map<String, Value>,
    method: &str,
    req_id: Option<&Value>,
    now: Ns,
    out: &mut Vec<String>,
    mut f: impl FnMut(&mut Exchange, usize, &str) -> Value,
) -> Result<Value, String> {
    let mut result = Err("EGeneral:Invalid arguments:symbol".into());
    for (i, sym) in strings(params, "symbol")?.iter().enumerate() {
        let Some(pi) = ex.pairs.iter().position(|p| &p.symbol == sym) else {
            return Err(format!("Currency pair not supported {sym}"));
        };
        let ack = f(ex, pi, sym);
        if i == 0 {
            result = Ok(ack);
        } else {
            out.push(envelope(method, req_id, Ok(ack), now, now));
        }
    }
    result
}

pub(super) fn strings(p: &Map<String, Value>, k: &str) -> Result<Vec<String>, String> {
    match p.get(k) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or(format!("EGeneral:Invalid arguments:{k}"))
            })
            .collect(),
        Some(_) => Err(format!("EGeneral:Invalid arguments:{k}")),
    }
}

/// One WS request → the frames to send back (the ack(s) now; stream frames go via the outbox).
pub fn handle(shared: &Shared, conn: u64, text: &str, now: Ns, out: &mut Vec<String>) {
    let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(text) else {
        out.push(envelope(
            "",
            None,
            Err("EGeneral:Invalid arguments:malformed JSON".into()),
            now,
            now,
        ));
        return;
    };
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // A gateway that reads JSON numbers as doubles echoes ids above 2^53 inexactly.
    let rounded = msg
        .get("req_id")
        .and_then(Value::as_u64)
        .filter(|_| shared.ex().faults.req_id_double)
        .map(|id| json!(id as f64 as u64));
    let req_id = rounded.as_ref().or(msg.get("req_id"));
    let empty = Map::new();
    let params = match msg.get("params") {
        Some(Value::Object(p)) => p,
        None => &empty,
        Some(_) => {
            out.push(envelope(
                &method,
                req_id,
                Err("EGeneral:Invalid arguments:params".into()),
                now,
                now,
            ));
            return;
        }
    };
    let token = params.get("token").and_then(Value::as_str);
    let mut ex = shared.ex();
    let reply: Result<Value, String> = match method.as_str() {
        "ping" => {
            if msg.contains_key("params") {
                Err("Unsupported field: 'params' for the given msg type: ping".into())
            } else {
                // Captured pong: method pong, req_id, time_in/time_out, no success field.
                let mut m = Map::new();
                m.insert("method".into(), json!("pong"));
                if let Some(id) = req_id {
                    m.insert("req_id".into(), id.clone());
                }
                m.insert("time_in".into(), json!(rfc3339(now)));
                m.insert("time_out".into(), json!(rfc3339(shared.now())));
                out.push(Value::Object(m).to_string());
                return;
            }
        }
        "subscribe" | "unsubscribe" => {
            match subscription(&mut ex, conn, &method, req_id, params, token, now, out) {
                Some(reply) => reply,
                None => return,
            }
        }
        "add_order"
        | "amend_order"
        | "edit_order"
        | "cancel_order"
        | "cancel_all"
        | "cancel_all_orders_after"
        | "batch_add"
        | "batch_cancel" => {
            ex.log_request("ws", &method, ws_cl_ord_ids(params), token, now);
            if ex.faults.drop_acks > 0 && ex.check_token(token, now).is_ok() {
                // Executed, but the ack is lost on the way back.
                ex.faults.drop_acks -= 1;
                let mut lost = Vec::new();
                drop(ex);
                handle_order(shared, &method, req_id, params, token, now, &mut lost);
                return;
            }
            drop(ex);
            handle_order(shared, &method, req_id, params, token, now, out);
            return;
        }
        _ => Err("Unsupported event".into()),
    };
    finish_reply(shared, &method, req_id, params, reply, now, out);
}

/// A public or private channel's `subscribe` or `unsubscribe`: its reply, or `None` when it
/// gets none.
#[allow(clippy::too_many_arguments)]
fn subscription(
    ex: &mut Exchange,
    conn: u64,
    method: &str,
    req_id: Option<&Value>,
    params: &Map<String, Value>,
    token: Option<&str>,
    now: Ns,
    out: &mut Vec<String>,
) -> Option<Result<Value, String>> {
    let channel = params.get("channel").and_then(Value::as_str).unwrap_or("");
    let sub = method == "subscribe";
    Some(match (channel, sub) {
        ("executions", true) if ex.faults.ignore_exec_subs > 0 => {
            // Never answered, never subscribed.
            ex.faults.ignore_exec_subs -= 1;
            return None;
        }
        ("executions", true) if ex.faults.refuse_exec_subs > 0 => {
            ex.faults.refuse_exec_subs -= 1;
            Err("EGeneral:Internal error".into())
        }
        ("executions", true) => ex.subscribe_private(conn, "executions", token, params, now),
        ("balances", true) => ex.subscribe_private(conn, "balances", token, params, now),
        ("instrument", true) => {
            ex.subscribe_public(conn);
            let snap = ex.instrument_snapshot();
            ex.queue(
                conn,
                json!({"channel": "instrument", "type": "snapshot", "data": snap}).to_string(),
            );
            Ok(
                json!({"channel": "instrument", "snapshot": true, "warnings": ["tick_size is deprecated, use price_increment"]}),
            )
        }
        ("book", sub) => {
            let depth = match params.get("depth") {
                None => Some(10),
                Some(d) => d
                    .as_u64()
                    .map(|d| d as usize)
                    .filter(|d| crate::book::DEPTHS.contains(d)),
            };
            match depth {
                None => Err("EGeneral:Invalid arguments:depth".into()),
                Some(depth) => each_pair(ex, params, method, req_id, now, out, |ex, pi, sym| {
                    if sub {
                        ex.subscribe_book(conn, pi, depth);
                    } else {
                        ex.unsubscribe_book(conn, pi);
                    }
                    json!({"channel": "book", "depth": depth, "snapshot": true, "symbol": sym})
                }),
            }
        }
        ("trade" | "ticker", sub) => {
            let ticker = channel == "ticker";
            each_pair(ex, params, method, req_id, now, out, |ex, pi, sym| {
                if sub {
                    ex.subscribe_tape(conn, pi, ticker);
                } else {
                    ex.unsubscribe_tape(conn, pi, ticker);
                }
                if ticker {
                    json!({"channel": channel, "event_trigger": "trades", "snapshot": true, "symbol": sym})
                } else {
                    json!({"channel": channel, "snapshot": true, "symbol": sym})
                }
            })
        }
        ("executions" | "balances", false) => ex.unsubscribe(conn, channel),
        ("instrument", false) => Ok(json!({"channel": "instrument"})),
        _ => Err("Unsupported event".into()),
    })
}

/// The client order ids a WS order request names.
fn ws_cl_ord_ids(params: &Map<String, Value>) -> Vec<String> {
    let mut ids = Vec::new();
    match params.get("cl_ord_id") {
        Some(Value::String(c)) => ids.push(c.clone()),
        Some(Value::Array(a)) => {
            ids.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)))
        }
        _ => {}
    }
    if let Some(Value::Array(orders)) = params.get("orders") {
        ids.extend(orders.iter().filter_map(|o| {
            o.get("cl_ord_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        }));
    }
    ids
}

/// Writes a request's ack (errors naming a pair carry its symbol, as captured).
pub(super) fn finish_reply(
    shared: &Shared,
    method: &str,
    req_id: Option<&Value>,
    params: &Map<String, Value>,
    reply: Result<Value, String>,
    now: Ns,
    out: &mut Vec<String>,
) {
    let error_has_symbol = matches!(&reply, Err(e) if e.starts_with("Currency pair not supported"));
    let mut frame = envelope(method, req_id, reply, now, shared.now());
    if error_has_symbol
        && let (Ok(Value::Object(mut m)), Some(sym)) =
            (serde_json::from_str::<Value>(&frame), params.get("symbol"))
    {
        m.insert("symbol".into(), sym.clone());
        frame = Value::Object(m).to_string();
    }
    out.push(frame);
}

//! kraken-reflector: the smallest server that speaks enough Kraken WS v2 for a trading client
//! to connect, subscribe and place orders, answering every request with canned frames and no
//! matching. Latency runs use it to separate the client's own cost from an exchange's; it is
//! not an exchange (see `tools/sim` for that).
//!
//! It answers `subscribe` (executions with an empty snapshot, instrument with a fixed pair
//! list, balances), `add_order` (ack, then `pending_new` and `new` on executions),
//! `cancel_order`, `cancel_all`, `cancel_all_orders_after`, `amend_order` and `ping`, and serves
//! `POST /0/private/GetWebSocketsToken` over HTTP. Signatures are not checked, and it reports
//! a `maxratecount` of 1,000,000: it has no rate limit, so benchmarks are not throttled.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tungstenite::{Message, WebSocket};

/// A running reflector.
pub struct Reflector {
    /// `ws://` or `wss://127.0.0.1:<port>/v2`.
    pub ws_url: String,
    /// `http://127.0.0.1:<port>` (REST token endpoint).
    pub rest_url: String,
    /// The CA certificate (PEM) a TLS client must trust.
    pub ca_pem: Option<String>,
    stop: Arc<AtomicBool>,
    ws_addr: SocketAddr,
    ticks: Arc<Ticks>,
}

/// Tick-to-trade: `book` frames written on the connection that subscribes to `book`, one
/// update at a time, each timed at this server from its write to the next `add_order` read
/// (on any connection), wire to wire.
struct Ticks {
    epoch: Instant,
    /// The snapshot, the updates, and how many updates are warm-up.
    frames: Mutex<Option<(String, Vec<String>, usize)>>,
    /// (add_order requests read, cancel_order requests read, when the last add was read).
    progress: Mutex<(u64, u64, u64)>,
    changed: Condvar,
    /// The measured update → add times, ns, once every update is sent.
    samples: Mutex<Option<Vec<u64>>>,
    done: Condvar,
}

impl Ticks {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn count(&self, add: bool, at: u64) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if add {
            p.0 += 1;
            p.2 = at;
        } else {
            p.1 += 1;
        }
        self.changed.notify_all();
    }

    /// Writes the snapshot, then each update once the order the last one caused is
    /// cancelled; records when each update's add_order arrived.
    fn feed<S: Read + Write>(&self, ws: &mut WebSocket<S>, stop: &AtomicBool) {
        let Some((snapshot, updates, warmup)) =
            self.frames.lock().unwrap_or_else(|e| e.into_inner()).take()
        else {
            return;
        };
        let mut samples = Vec::with_capacity(updates.len());
        let wait = |f: &dyn Fn(&(u64, u64, u64)) -> bool| {
            let p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            let (p, _) = self
                .changed
                .wait_timeout_while(p, Duration::from_secs(5), |p| {
                    !f(p) && !stop.load(Ordering::Relaxed)
                })
                .unwrap_or_else(|e| e.into_inner());
            *p
        };
        // The snapshot causes an order too (the strategy reacts to every book it is
        // handed): counted from after its cancel.
        let (adds0, cancels0, _) = wait(&|_| true);
        if ws.send(Message::text(snapshot)).is_err() {
            return;
        }
        let p = wait(&|p| p.0 > adds0 && p.1 > cancels0);
        let (adds0, cancels0) = (p.0, p.1);
        for (i, u) in updates.into_iter().enumerate() {
            let i = i as u64;
            // The order the last update caused is cancelled: the engine is idle again.
            let p = wait(&|p| p.1 >= cancels0 + i);
            if p.1 < cancels0 + i {
                break;
            }
            let t0 = self.now();
            if ws.send(Message::text(u)).is_err() {
                break;
            }
            let p = wait(&|p| p.0 > adds0 + i);
            if p.0 <= adds0 + i {
                break;
            }
            if i >= warmup as u64 {
                samples.push(p.2.saturating_sub(t0));
            }
        }
        *self.samples.lock().unwrap_or_else(|e| e.into_inner()) = Some(samples);
        self.done.notify_all();
    }
}

impl Reflector {
    /// Sets up a tick-to-trade run: the next connection to subscribe to `book` is sent
    /// `snapshot`, then each of `updates` in turn, each after the `cancel_order` for the order
    /// the last one caused; the first `warmup` are not measured.
    pub fn set_tick_to_trade(&self, snapshot: String, updates: Vec<String>, warmup: usize) {
        *self.ticks.frames.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((snapshot, updates, warmup));
    }

    /// The tick-to-trade samples (update written → its add_order read, ns), once every update
    /// was sent, or `None` after `timeout`.
    pub fn tick_to_trade(&self, timeout: Duration) -> Option<Vec<u64>> {
        let s = self.ticks.samples.lock().unwrap_or_else(|e| e.into_inner());
        let (mut s, _) = self
            .ticks
            .done
            .wait_timeout_while(s, timeout, |s| s.is_none())
            .unwrap_or_else(|e| e.into_inner());
        s.take()
    }
}

/// Instruments the reflector lists.
pub const PAIRS: &str = r#"[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"qty_increment":0.00000001,"price_precision":1,"cost_min":0.5,"price_increment":0.1,"qty_min":0.0001},{"symbol":"ETH/USD","base":"ETH","quote":"USD","status":"online","qty_precision":8,"qty_increment":0.00000001,"price_precision":2,"cost_min":0.5,"price_increment":0.01,"qty_min":0.001}]"#;

impl Reflector {
    /// Starts on ephemeral loopback ports; `tls` serves `wss://` with a fresh self-signed
    /// certificate for `localhost`; `spin` makes connection threads busy-poll (benchmarks).
    pub fn start(tls: bool, spin: bool) -> std::io::Result<Self> {
        let ws = TcpListener::bind("127.0.0.1:0")?;
        let rest = TcpListener::bind("127.0.0.1:0")?;
        let ws_addr = ws.local_addr()?;
        let rest_addr = rest.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (server_cfg, ca_pem) = if tls {
            let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .and_then(|b| {
                    b.with_no_client_auth()
                        .with_single_cert(vec![ck.cert.der().clone()], key)
                })
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            (Some(Arc::new(cfg)), Some(ck.cert.pem()))
        } else {
            (None, None)
        };
        let order_seq = Arc::new(AtomicU64::new(1));
        let ticks = Arc::new(Ticks {
            epoch: Instant::now(),
            frames: Mutex::new(None),
            progress: Mutex::new((0, 0, 0)),
            changed: Condvar::new(),
            samples: Mutex::new(None),
            done: Condvar::new(),
        });
        {
            let stop = stop.clone();
            let ticks = ticks.clone();
            thread::Builder::new()
                .name("reflector-ws".into())
                .spawn(move || {
                    for s in ws.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let Ok(s) = s else { continue };
                        let cfg = server_cfg.clone();
                        let seq = order_seq.clone();
                        let stop = stop.clone();
                        let ticks = ticks.clone();
                        let _ = thread::Builder::new()
                            .name("reflector-conn".into())
                            .spawn(move || serve_ws(s, cfg, spin, seq, stop, ticks));
                    }
                })?;
        }
        {
            let stop = stop.clone();
            thread::Builder::new()
                .name("reflector-rest".into())
                .spawn(move || {
                    for s in rest.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if let Ok(s) = s {
                            let _ = thread::Builder::new().spawn(move || serve_rest(s));
                        }
                    }
                })?;
        }
        let host = if tls { "localhost" } else { "127.0.0.1" };
        Ok(Self {
            ws_url: format!(
                "{}://{host}:{}/v2",
                if tls { "wss" } else { "ws" },
                ws_addr.port()
            ),
            rest_url: format!("http://127.0.0.1:{}", rest_addr.port()),
            ca_pem,
            stop,
            ws_addr,
            ticks,
        })
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.ws_addr);
    }
}

fn serve_rest(s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut w = match s.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let reply = if path.ends_with("/GetWebSocketsToken") {
            r#"{"error":[],"result":{"token":"reflector-token+/=","expires":900}}"#
        } else {
            r#"{"error":["EGeneral:Invalid arguments:reflector serves tokens only"]}"#
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// The raw text of a JSON member `"key":<value>` in a flat message (strings without quotes).
fn field<'a>(msg: &'a str, key: &str) -> Option<&'a str> {
    // Clients differ in whitespace (python's json.dumps writes `"key": value`).
    let pat = format!("\"{key}\"");
    let start = msg.find(&pat)? + pat.len();
    let rest = msg[start..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(r) = rest.strip_prefix('"') {
        r.find('"').map(|e| &r[..e])
    } else {
        let e = rest.find([',', '}', ']']).unwrap_or(rest.len());
        Some(rest[..e].trim())
    }
}

const T: &str =
    r#""time_in":"2026-11-24T00:00:00.000000Z","time_out":"2026-11-24T00:00:00.000001Z""#;

struct Session {
    seq: u64,
    orders: Arc<AtomicU64>,
    ticks: Arc<Ticks>,
    /// This connection subscribed to `book`: it becomes the tick-to-trade feed.
    book: bool,
}

impl Session {
    /// Answers `msg`, read at `read_at` (the reflector's clock).
    fn answer(&mut self, msg: &str, read_at: u64, out: &mut Vec<String>) {
        let method = field(msg, "method").unwrap_or("");
        let req = field(msg, "req_id")
            .map(|r| format!(r#""req_id":{r},"#))
            .unwrap_or_default();
        match method {
            "ping" => out.push(format!(r#"{{"method":"pong",{req}{T}}}"#)),
            "subscribe" => match field(msg, "channel").unwrap_or("") {
                "executions" => {
                    out.push(format!(r#"{{"method":"subscribe",{req}"result":{{"channel":"executions","maxratecount":1000000,"snapshot":true}},"success":true,{T}}}"#));
                    self.seq = 1;
                    out.push(r#"{"channel":"executions","type":"snapshot","data":[],"sequence":1}"#.to_string());
                }
                "instrument" => {
                    out.push(format!(r#"{{"method":"subscribe",{req}"result":{{"channel":"instrument","snapshot":true}},"success":true,{T}}}"#));
                    out.push(format!(r#"{{"channel":"instrument","type":"snapshot","data":{{"assets":[],"pairs":{PAIRS}}}}}"#));
                }
                "book" => {
                    out.push(format!(r#"{{"method":"subscribe",{req}"result":{{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"}},"success":true,{T}}}"#));
                    self.book = true;
                }
                ch => out.push(format!(r#"{{"method":"subscribe",{req}"result":{{"channel":"{ch}","snapshot":true}},"success":true,{T}}}"#)),
            },
            "add_order" => {
                self.ticks.count(true, read_at);
                let n = self.orders.fetch_add(1, Ordering::Relaxed);
                let oid = format!("R{:05}-{:05}-{:06}", n / 100_000_000_000 % 100_000, n / 1_000_000 % 100_000, n % 1_000_000);
                let cl = field(msg, "cl_ord_id").map(|c| format!(r#","cl_ord_id":"{c}""#)).unwrap_or_default();
                out.push(format!(r#"{{"method":"add_order",{req}"result":{{"order_id":"{oid}"{cl}}},"success":true,{T}}}"#));
                let sym = field(msg, "symbol").unwrap_or("BTC/USD");
                let side = field(msg, "side").unwrap_or("buy");
                let ty = field(msg, "order_type").unwrap_or("limit");
                let qty = field(msg, "order_qty").unwrap_or("0");
                let px = field(msg, "limit_price").map(|p| format!(r#","limit_price":{p}"#)).unwrap_or_default();
                self.seq += 1;
                out.push(format!(r#"{{"channel":"executions","type":"update","data":[{{"order_id":"{oid}","symbol":"{sym}","order_qty":{qty},"cum_cost":0,"time_in_force":"GTC","exec_type":"pending_new","side":"{side}","order_type":"{ty}"{px},"order_status":"pending_new","order_userref":0{cl},"timestamp":"2026-11-24T00:00:00.000001Z"}}],"sequence":{}}}"#, self.seq));
                self.seq += 1;
                out.push(format!(r#"{{"channel":"executions","type":"update","data":[{{"timestamp":"2026-11-24T00:00:00.000002Z","order_status":"new","exec_type":"new","order_userref":0,"order_id":"{oid}"}}],"sequence":{}}}"#, self.seq));
            }
            "cancel_order" => {
                self.ticks.count(false, read_at);
                let id = field(msg, "order_id").map(|s| s.trim_matches(['[', '"', ']'])).unwrap_or("");
                out.push(format!(r#"{{"method":"cancel_order",{req}"result":{{"order_id":"{id}"}},"success":true,{T}}}"#));
                if !id.is_empty() {
                    self.seq += 1;
                    out.push(format!(r#"{{"channel":"executions","type":"update","data":[{{"timestamp":"2026-11-24T00:00:00.000003Z","order_status":"canceled","exec_type":"canceled","cum_qty":0,"reason":"User requested","order_id":"{id}"}}],"sequence":{}}}"#, self.seq));
                }
            }
            "cancel_all" => out.push(format!(r#"{{"method":"cancel_all",{req}"result":{{"count":0}},"success":true,{T}}}"#)),
            "cancel_all_orders_after" => out.push(format!(r#"{{"method":"cancel_all_orders_after",{req}"result":{{"currentTime":"2026-11-24T00:00:00Z","triggerTime":"2026-11-24T00:01:00Z"}},"success":true,{T}}}"#)),
            "amend_order" => out.push(format!(r#"{{"method":"amend_order",{req}"result":{{"amend_id":"RAMEND-00000-000000"}},"success":true,{T}}}"#)),
            m => out.push(format!(r#"{{"error":"EGeneral:Invalid arguments:reflector does not serve {m}","method":"{m}",{req}"success":false,{T}}}"#)),
        }
    }
}

fn serve_ws(
    s: TcpStream,
    tls: Option<Arc<ServerConfig>>,
    spin: bool,
    orders: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    ticks: Arc<Ticks>,
) {
    let _ = s.set_nodelay(true);
    match tls {
        Some(cfg) => {
            let Ok(conn) = ServerConnection::new(cfg) else {
                return;
            };
            let stream = StreamOwned::new(conn, s);
            if let Ok(ws) = tungstenite::accept(stream) {
                let _ = ws.get_ref().sock.set_nonblocking(spin);
                run(ws, orders, stop, ticks);
            }
        }
        None => {
            if let Ok(ws) = tungstenite::accept(s) {
                let _ = ws.get_ref().set_nonblocking(spin);
                run(ws, orders, stop, ticks);
            }
        }
    }
}

fn run<S: Read + Write>(
    mut ws: WebSocket<S>,
    orders: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    ticks: Arc<Ticks>,
) {
    let mut session = Session {
        seq: 0,
        orders,
        ticks: ticks.clone(),
        book: false,
    };
    let mut out = Vec::new();
    // Heartbeats would need a timer; the engine's watchdog is fed by its own pings instead.
    while !stop.load(Ordering::Relaxed) {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let at = ticks.now();
                session.answer(t.as_str(), at, &mut out);
                for m in out.drain(..) {
                    if ws.send(Message::text(m)).is_err() {
                        return;
                    }
                }
                if std::mem::take(&mut session.book) {
                    ticks.feed(&mut ws, &stop);
                }
            }
            // kraken-async-rs, which trades against Kraken, sends its requests as binary frames.
            Ok(Message::Binary(b)) => {
                let at = ticks.now();
                session.answer(std::str::from_utf8(&b).unwrap_or(""), at, &mut out);
                for m in out.drain(..) {
                    if ws.send(Message::text(m)).is_err() {
                        return;
                    }
                }
            }
            Ok(Message::Close(_)) => return,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let _ = ws.flush();
                std::hint::spin_loop();
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found() {
        let m = r#"{"method":"add_order","params":{"order_type":"limit","side":"buy","order_qty":1.20,"limit_price":26500.4,"cl_ord_id":"a","symbol":"BTC/USD","token":"t"},"req_id":7}"#;
        assert_eq!(field(m, "method"), Some("add_order"));
        assert_eq!(field(m, "req_id"), Some("7"));
        assert_eq!(field(m, "order_qty"), Some("1.20"));
        assert_eq!(field(m, "cl_ord_id"), Some("a"));
        assert_eq!(field(m, "nope"), None);
        let spaced = r#"{"method": "add_order", "params": {"order_qty": 0.01, "cl_ord_id": "b"}, "req_id": 8}"#;
        assert_eq!(field(spaced, "method"), Some("add_order"));
        assert_eq!(field(spaced, "req_id"), Some("8"));
        assert_eq!(field(spaced, "order_qty"), Some("0.01"));
        assert_eq!(field(spaced, "cl_ord_id"), Some("b"));
    }
}

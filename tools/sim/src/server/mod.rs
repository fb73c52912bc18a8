//! The simulator's sockets: WebSocket v2 at `/v2` (ws:// or wss://), REST on its own port
//! (http:// or https://), a ticker thread for time-driven behaviour, and transport faults.
//!
//! This file holds the state every thread shares ([`Shared`]: the exchange, the clock, the
//! transport faults), the ticker and `bind`; `ws` serves WebSocket v2 (`ws_orders` its order
//! methods), `rest` the REST endpoints (`auth` their signature check).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::exchange::{Exchange, Ns};

mod auth;
mod rest;
mod ws;
mod ws_orders;

pub use rest::{RESET, route, serve_rest};
pub use ws::{handle, serve_ws};

/// Transport faults, applied by the connection threads.
#[derive(Clone, Debug, Default)]
pub struct NetFaults {
    /// Close each WS connection after it has sent this many frames.
    pub drop_after_frames: Option<u64>,
    /// Close each WS connection when it is this old (ms).
    pub drop_every_ms: Option<u64>,
    /// Stop reading and writing until then.
    pub stall_until: Option<Instant>,
    /// Delay every response by this many µs.
    pub delay_us: u64,
}

/// State shared by every thread of the simulator.
pub struct Shared {
    pub ex: Mutex<Exchange>,
    pub clock_offset_ns: AtomicU64,
    pub net: Mutex<NetFaults>,
    pub stop: AtomicBool,
    next_conn: AtomicU64,
    /// Bumped by the `non-json` fault: each connection sends one non-JSON text frame when it
    /// sees a new generation.
    non_json_gen: AtomicU64,
    /// Bumped by `drop-now`: connections accepted before it close.
    drop_gen: AtomicU64,
    /// `refuse-ws:on`: new WebSocket connections are closed at once (the TCP accept succeeds,
    /// the handshake never does), until `refuse-ws:off`.
    refuse_ws: AtomicBool,
    /// The manual clock (ns since the epoch; 0: the wall clock runs).
    manual_now: AtomicU64,
}

impl Shared {
    pub fn new(ex: Exchange) -> Self {
        Self {
            ex: Mutex::new(ex),
            clock_offset_ns: AtomicU64::new(0),
            net: Mutex::new(NetFaults::default()),
            stop: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            non_json_gen: AtomicU64::new(0),
            drop_gen: AtomicU64::new(0),
            refuse_ws: AtomicBool::new(false),
            manual_now: AtomicU64::new(0),
        }
    }

    /// Simulated time: wall clock plus what tests advanced, or the manual clock when one is
    /// set (deterministic simulation drives it).
    pub fn now(&self) -> Ns {
        let manual = self.manual_now.load(Ordering::Relaxed);
        if manual != 0 {
            return manual;
        }
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        wall + self.clock_offset_ns.load(Ordering::Relaxed)
    }

    /// Sets the manual clock (ns since the epoch): from then on `now` is whatever was set
    /// last, for a caller that runs the exchange on simulated time without its threads.
    pub fn set_manual_clock(&self, now: Ns) {
        self.manual_now.store(now.max(1), Ordering::Relaxed);
    }

    /// A new WebSocket connection: its id and the `status` frame Kraken sends first.
    pub fn open_conn_in_memory(&self) -> (u64, String) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        (conn, self.open_conn(conn))
    }

    fn open_conn(&self, conn: u64) -> String {
        let mut ex = self.ex();
        ex.register_conn(conn);
        json!({"channel": "status", "type": "update", "data": [{"api_version": "v2", "connection_id": 13_834_774_380_200_032_777u64 + conn, "system": ex.status, "version": "2.0.10"}]}).to_string()
    }

    /// Answers one request frame of connection `conn` read at `now`: the frames to send, in
    /// order (with `ack-after`, the executions it caused come before its ack).
    pub fn serve_frame(&self, conn: u64, text: &str, now: Ns, out: &mut Vec<String>) {
        let mut acks = Vec::new();
        handle(self, conn, text, now, &mut acks);
        let mut ex = self.ex();
        if ex.ack_after() {
            ex.take_outbox(conn, out);
        }
        drop(ex);
        out.append(&mut acks);
    }

    pub fn ex(&self) -> MutexGuard<'_, Exchange> {
        self.ex.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn net(&self) -> MutexGuard<'_, NetFaults> {
        self.net.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a fault spec (`drop-after:N`, `drop-every:MS`, `stall:MS`, `delay-us:D`,
    /// `drop-now`, `refuse-ws:on|off`, `drop-exec-frame`, `invalidate-tokens`,
    /// `rest-unavailable:on|off`, `rest-busy:on|off`, `rest-rate-limit`, `drop-acks:N`, `rest-lose-reply:N`, `rest-reset:N`,
    /// `rest-delay-ms:MS`, `req-id-double:on|off`, `refuse-exec-sub:N`, `ignore-exec-sub:N`,
    /// `no-query-permission:on|off`, `ack-after:PERCENT`, `dup-frames:PERCENT`,
    /// `unknown-enum:N`, `corrupt-book:N`,
    /// `status:online|cancel_only|maintenance|post_only`, `non-json`, `clear`).
    pub fn fault(&self, spec: &str) -> Result<(), String> {
        let (name, arg) = spec.split_once(':').unwrap_or((spec, ""));
        let n = || {
            arg.parse::<u64>()
                .map_err(|_| format!("fault {name} needs a number"))
        };
        match name {
            "drop-after" => self.net().drop_after_frames = Some(n()?),
            "drop-every" => self.net().drop_every_ms = Some(n()?),
            "stall" => self.net().stall_until = Some(Instant::now() + Duration::from_millis(n()?)),
            "delay-us" => self.net().delay_us = n()?,
            "drop-exec-frame" => self.ex().faults.drop_exec_frames += 1,
            "corrupt-book" => self.ex().faults.corrupt_book += n()? as u32,
            "invalidate-tokens" => self.ex().invalidate_tokens(),
            "rest-unavailable" => self.ex().faults.rest_unavailable = arg != "off",
            "rest-busy" => self.ex().faults.rest_busy = arg != "off",
            "rest-rate-limit" => {
                let now = self.now();
                self.ex().spend_rest_counter(0, now);
            }
            "drop-acks" => self.ex().faults.drop_acks = n()? as u32,
            "rest-lose-reply" => self.ex().faults.rest_lose_reply = n()? as u32,
            "rest-reset" => self.ex().faults.rest_reset = n()? as u32,
            "rest-delay-ms" => self.ex().faults.rest_delay_ms = n()?,
            "refuse-exec-sub" => self.ex().faults.refuse_exec_subs = n()? as u32,
            "no-query-permission" => self.ex().faults.no_query_permission = arg != "off",
            "ack-after" => self.ex().faults.ack_after_percent = n()?.min(100) as u8,
            "dup-frames" => self.ex().faults.dup_percent = n()?.min(100) as u8,
            "unknown-enum" => self.ex().faults.unknown_enum = n()? as u32,
            "ignore-exec-sub" => self.ex().faults.ignore_exec_subs = n()? as u32,
            "req-id-double" => self.ex().faults.req_id_double = arg != "off",
            "status" => {
                let s: &'static str = match arg {
                    "online" => "online",
                    "cancel_only" => "cancel_only",
                    "maintenance" => "maintenance",
                    "post_only" => "post_only",
                    _ => return Err(format!("unknown status {arg}")),
                };
                let mut ex = self.ex();
                let frame = ex.set_status(s).to_string();
                ex.broadcast_all(&frame);
            }
            "drop-now" => {
                self.drop_gen.fetch_add(1, Ordering::Relaxed);
            }
            "refuse-ws" => self.refuse_ws.store(arg != "off", Ordering::Relaxed),
            "non-json" => {
                self.non_json_gen.fetch_add(1, Ordering::Relaxed);
            }
            "clear" => {
                self.refuse_ws.store(false, Ordering::Relaxed);
                *self.net() = NetFaults::default();
                let mut ex = self.ex();
                ex.faults = Default::default();
            }
            _ => return Err(format!("unknown fault {spec}")),
        }
        Ok(())
    }
}

impl Exchange {
    /// Queues a raw frame for every connected client.
    pub fn broadcast_all(&mut self, frame: &str) {
        for c in self.known_conns() {
            self.queue(c, frame.to_string());
        }
    }
}

/// The ticker: advances time-driven behaviour every `tick_ms`, and the market walk every
/// `walk_ms`.
pub fn ticker(shared: Arc<Shared>, tick_ms: u64, walk_ms: u64) {
    let mut last_walk = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(tick_ms));
        let walk = last_walk.elapsed() >= Duration::from_millis(walk_ms);
        if walk {
            last_walk = Instant::now();
        }
        let now = shared.now();
        shared.ex().tick(now, walk);
    }
}

/// Binds a listener.
pub fn bind(addr: &str) -> io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr)?;
    let a = l.local_addr()?;
    Ok((l, a))
}

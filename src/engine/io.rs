//! The I/O thread: owns the WebSocket, the decoder and the request map. Its loop drains the
//! command ring (encode, write), reads and decodes frames (push typed events), and runs the
//! timers: request deadlines, the dead man's switch, the watchdog, token refresh, reconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrayvec::ArrayVec;
use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;
use rustc_hash::FxBuildHasher;
use rustls::ClientConfig;
use tungstenite::Message;

use crate::engine::IdleStrategy;
use crate::engine::clock::{now_ns, wall};
use crate::engine::cold::{ColdReply, ColdRequest};
use crate::engine::msg::{Command, ConnectionState, Event, Issued, LargeCommand, Route};
use crate::engine::stats::EngineStats;
use crate::engine::transport::{Connection, WsUrl};
use crate::error::{DecodeError, KrakenErrorKind};
use crate::ids::SymbolTable;
use crate::order::{CancelOrder, OrderRef, Request};
use crate::orders::NotSentReason;
use crate::protocol::messages::{AckResult, Channel, FrameKind, Inbound};
use crate::protocol::{Decoder, Subscription, encode};
use crate::time::Timestamp;

/// How far before a disconnect or gap the trade history is fetched again (µs).
const FILL_RECOVERY_MARGIN_US: i64 = 10_000_000;
/// At most this far back from a loss to the last good executions frame (µs).
const MAX_QUIET_LOOKBACK_US: u64 = 3_600_000_000;
/// Lookup windows, in the exchange's time (by the measured offset), are widened by this
/// (µs); by `FILL_RECOVERY_MARGIN_US` before any measurement.
const LOOKUP_MARGIN_US: i64 = 1_000_000;
/// Lookups with no submission time search the last 15 minutes (µs).
const LOOKUP_LOOKBACK_US: i64 = 15 * 60 * 1_000_000;
/// Pause before reading an incomplete trade history window again, doubling with each failure
/// up to the maximum.
const TRADES_RETRY_NS: u64 = 1_000_000_000;
const TRADES_RETRY_MAX_NS: u64 = 60_000_000_000;
/// Failures in a row after which recovery is reported as failing (it goes on).
const RECOVERY_FAILING_AFTER: u32 = 3;

/// How long a clean stop waits for the answers to requests in flight (at most the request
/// timeout).
const CLOSE_GRACE_NS: u64 = 2_000_000_000;

/// Subscription failures in a row before the connection is made again.
const MAX_SUBSCRIPTION_FAILURES: u32 = 5;
/// A session that stayed up this long resets the reconnect backoff.
const STABLE_SESSION_NS: u64 = 30_000_000_000;

/// The `executions` subscription: open orders and the last trades in the snapshot.
const EXECUTIONS: Subscription = Subscription::Executions {
    snap_orders: true,
    snap_trades: true,
    order_status: true,
    ratecounter: false,
};

/// Internal request ids live above this, apart from the strategy's. Every req_id stays below
/// 2^53, so a gateway that reads JSON numbers as doubles still echoes it exactly.
const INTERNAL: u64 = 1 << 52;

pub(crate) struct IoConfig {
    pub url: WsUrl,
    pub tls: Arc<ClientConfig>,
    pub idle: IdleStrategy,
    pub connect_timeout: Duration,
    pub request_timeout_ns: u64,
    /// How far ahead order requests carry Kraken's `deadline`.
    pub order_deadline_ns: u64,
    pub watchdog_ns: u64,
    pub dead_man_timeout_secs: u32,
    pub dead_man_refresh_ns: u64,
    pub token_refresh_ns: u64,
    pub backoff_min_ns: u64,
    pub backoff_max_ns: u64,
    pub subscribe_balances: bool,
}

#[derive(Clone, Copy)]
struct InFlight {
    deadline_ns: u64,
    sent_ns: u64,
    /// Responses still expected (several for a multi-order cancel).
    responses: u16,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Internal {
    SubscribeExecutions,
    SubscribeBalances,
    SubscribeInstrument,
    Unsubscribe,
    DeadMan,
    Ping,
}

pub(crate) struct Io {
    pub cfg: IoConfig,
    pub symbols: SymbolTable,
    pub cmd_rx: rtrb::Consumer<Issued>,
    pub large_rx: rtrb::Consumer<LargeCommand>,
    pub ev_tx: rtrb::Producer<Event>,
    pub cold_tx: Sender<ColdRequest>,
    pub cold_rx: Receiver<ColdReply>,
    pub stats: Arc<EngineStats>,
    pub stop: Arc<AtomicBool>,
    /// Set with `stop` to end without the clean-shutdown steps (a crash, for tests).
    pub abort: Arc<AtomicBool>,
    conn: Option<Connection>,
    decoder: Decoder,
    out: Vec<u8>,
    token: Option<String>,
    token_at_ns: u64,
    token_pending: bool,
    in_flight: HashMap<u64, InFlight, FxBuildHasher>,
    /// Our own requests in flight, with their deadlines.
    internal: HashMap<u64, (Internal, u64), FxBuildHasher>,
    next_internal: u64,
    exec_seq: Option<u64>,
    ready: bool,
    last_frame_ns: u64,
    last_dead_man_ns: u64,
    attempts: u32,
    next_attempt_ns: u64,
    next_tick_ns: u64,
    rng: u64,
    /// Strategy call → command popped here, ns.
    tick_to_pop: Histogram<u64>,
    /// Strategy call → request handed to the socket (encoded, framed, TLS record written), ns.
    tick_to_wire: Histogram<u64>,
    /// Frame readable → its events pushed to the strategy ring (read, TLS, WebSocket, decode).
    frame_to_ring: Histogram<u64>,
    /// When the frame being handled was found readable.
    readable_ns: u64,
    /// Since when the executions stream may have missed fills (a disconnect or a gap), until
    /// the trade history after it has been asked for.
    fills_at_risk_since: Option<Timestamp>,
    /// A trade history fetch is out.
    trades_fetch_pending: bool,
    /// Where an incomplete trade history read goes on: the window's fixed end, the offset.
    trades_resume: Option<(Timestamp, u64)>,
    /// Trade history reads that failed in a row.
    trades_failures: u32,
    /// Not before then (after a failed or partial fetch).
    trades_fetch_due_ns: u64,
    /// When the last in-sequence executions frame was read (0: none yet).
    last_exec_ns: u64,
    /// A REST refresh of the dead man's switch is out.
    dead_man_rest_pending: bool,
    /// The exchange's clock minus ours (µs), last measured (plus a one-way trip).
    exchange_offset_us: Option<i64>,

    /// The executions subscription has been live at least once.
    ever_ready: bool,
    /// When the current session became ready (0: not ready).
    ready_since_ns: u64,
    /// Subscription failures in a row on this connection.
    sub_failures: u32,
    /// Subscriptions to send again, and when.
    sub_retries: Vec<(Internal, u64)>,
    /// Token fetches failed in a row.
    token_failures: u32,
    /// Events waiting for room in the ring (see `emit`).
    overflow: std::collections::VecDeque<Event>,
}

impl Io {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: IoConfig,
        symbols: SymbolTable,
        cmd_rx: rtrb::Consumer<Issued>,
        large_rx: rtrb::Consumer<LargeCommand>,
        ev_tx: rtrb::Producer<Event>,
        cold_tx: Sender<ColdRequest>,
        cold_rx: Receiver<ColdReply>,
        stats: Arc<EngineStats>,
        stop: Arc<AtomicBool>,
        abort: Arc<AtomicBool>,
    ) -> Self {
        let mut decoder = Decoder::new();
        decoder.reserve(64 * 1024, 1024);
        Self {
            cfg,
            symbols,
            cmd_rx,
            large_rx,
            ev_tx,
            cold_tx,
            cold_rx,
            stats,
            stop,
            abort,
            conn: None,
            decoder,
            out: Vec::with_capacity(8192),
            token: None,
            token_at_ns: 0,
            token_pending: false,
            in_flight: HashMap::with_capacity_and_hasher(4096, FxBuildHasher),
            internal: HashMap::with_capacity_and_hasher(64, FxBuildHasher),
            next_internal: INTERNAL,
            exec_seq: None,
            ready: false,
            last_frame_ns: 0,
            last_dead_man_ns: 0,
            attempts: 0,
            next_attempt_ns: 0,
            next_tick_ns: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
            tick_to_pop: super::latency_histogram(),
            tick_to_wire: super::latency_histogram(),
            frame_to_ring: super::latency_histogram(),
            readable_ns: 0,
            fills_at_risk_since: None,
            trades_fetch_pending: false,
            trades_resume: None,
            trades_failures: 0,
            trades_fetch_due_ns: 0,
            last_exec_ns: 0,
            overflow: std::collections::VecDeque::with_capacity(4096),
            dead_man_rest_pending: false,
            exchange_offset_us: None,

            ever_ready: false,
            ready_since_ns: 0,
            sub_failures: 0,
            sub_retries: Vec::with_capacity(4),
            token_failures: 0,
        }
    }

    /// Pushes an event; events carry fills and are never dropped. When the ring is full (the
    /// strategy stopped polling) they wait in `overflow`, the loop stops reading the socket
    /// until the strategy catches up, and everything else goes on: writes, pings, deadlines
    /// and the dead man's switch. The overflow holds at most one frame's events plus what the
    /// timers report meanwhile.
    fn emit(&mut self, ev: Event) {
        if self.overflow.is_empty() {
            match self.ev_tx.push(ev) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(back)) => {
                    EngineStats::inc(&self.stats.event_ring_stalls);
                    tracing::warn!("event ring full: the strategy is not polling; reading paused");
                    self.overflow.push_back(Event::EventRingFull);
                    self.overflow.push_back(back);
                    return;
                }
            }
        }
        self.overflow.push_back(ev);
    }

    /// Moves held events into the ring. True once none are held.
    fn flush_overflow(&mut self) -> bool {
        while let Some(ev) = self.overflow.pop_front() {
            if let Err(rtrb::PushError::Full(back)) = self.ev_tx.push(ev) {
                self.overflow.push_front(back);
                return false;
            }
        }
        true
    }

    fn set_state(&mut self, s: ConnectionState) {
        self.stats.connected.store(
            matches!(s, ConnectionState::Connected | ConnectionState::Ready),
            Ordering::Relaxed,
        );
        self.stats
            .authenticated
            .store(s == ConnectionState::Ready, Ordering::Relaxed);
        self.emit(Event::Connection(s));
    }

    pub fn run(mut self) {
        self.request_token();
        while !self.stop.load(Ordering::Relaxed) {
            let now = now_ns();
            let mut busy = false;
            if self.conn.is_none() {
                self.try_connect(now);
            }
            busy |= self.drain_commands(false);
            if self.flush_overflow() {
                busy |= self.read_frames();
            } else {
                // Not reading is our choice, not the exchange's silence.
                self.last_frame_ns = now_ns();
            }
            busy |= self.drain_cold();
            let now = now_ns();
            if now >= self.next_tick_ns {
                // Timers need millisecond resolution, not a check on every spin.
                self.next_tick_ns = now + 1_000_000;
                self.timers(now);
            }
            if !busy {
                self.idle();
            }
        }
        if !self.abort.load(Ordering::Relaxed) {
            self.close_gracefully();
        }
        self.shutdown();
        // The strategy side drains the ring while stopping: every held event reaches it.
        while !self.flush_overflow() && !self.abort.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        self.publish_latency();
    }

    /// A clean stop: every command the strategy had been told was accepted is sent (socket
    /// up) or reported `NotSent` (never over REST after shutdown), and the answers to what is
    /// in flight are awaited a little while, so the strategy side can report what stays open.
    fn close_gracefully(&mut self) {
        self.drain_commands(true);
        let grace = now_ns() + self.cfg.request_timeout_ns.min(CLOSE_GRACE_NS);
        while !self.in_flight.is_empty() && self.conn.is_some() && now_ns() < grace {
            let busy = (self.flush_overflow() && self.read_frames()) | self.drain_cold();
            if !busy {
                match self.conn.as_mut() {
                    Some(c) => {
                        let _ = c.wait_readable(Duration::from_millis(1));
                    }
                    None => break,
                }
            }
        }
    }

    fn idle(&mut self) {
        match self.cfg.idle {
            IdleStrategy::Spin => std::hint::spin_loop(),
            IdleStrategy::Yield => std::thread::yield_now(),
            IdleStrategy::Block(d) => match self.conn.as_mut() {
                Some(c) => {
                    let _ = c.wait_readable(d);
                }
                None => std::thread::sleep(d),
            },
        }
    }

    fn request_token(&mut self) {
        if !self.token_pending && self.cold_tx.send(ColdRequest::Token).is_ok() {
            self.token_pending = true;
        }
    }

    fn jitter(&mut self, ns: u64) -> u64 {
        // xorshift: the jitter needs no quality, only spread.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ns / 2 + self.rng % (ns / 2 + 1)
    }

    fn try_connect(&mut self, now: u64) {
        if now < self.next_attempt_ns {
            return;
        }
        // A fresh token for every connection.
        if self.token.is_none() {
            self.request_token();
            return;
        }
        self.attempts += 1;
        self.emit(Event::Connection(ConnectionState::Connecting(
            self.attempts,
        )));
        match Connection::connect(&self.cfg.url, &self.cfg.tls, self.cfg.connect_timeout) {
            Ok(c) => {
                tracing::info!(url = %self.cfg.url.url, attempt = self.attempts, "connected");
                self.conn = Some(c);
                // `attempts` is not reset by a handshake: a server that accepts and then closes
                // must not get a connection every few hundred ms. A session that stayed up
                // resets it (see `disconnect`).
                self.sub_failures = 0;
                self.sub_retries.clear();
                self.exec_seq = None;
                self.last_frame_ns = now_ns();
                self.set_state(ConnectionState::Connected);
                EngineStats::inc(&self.stats.connects);
                self.subscribe_all();
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt = self.attempts, "connect failed");
                self.next_attempt_ns = now_ns() + self.jitter(self.backoff(self.attempts));
            }
        }
    }

    fn internal_id(&mut self, kind: Internal) -> u64 {
        self.next_internal += 1;
        let deadline = now_ns() + self.cfg.request_timeout_ns;
        self.internal.insert(self.next_internal, (kind, deadline));
        self.next_internal
    }

    /// A subscription refused or unanswered: asked again after a backoff; after a few
    /// failures in a row the connection is made again (it has its own backoff).
    fn subscription_failed(&mut self, kind: Internal, why: &str) {
        self.sub_failures += 1;
        tracing::warn!(?why, failures = self.sub_failures, "subscription failed");
        if self.sub_failures > MAX_SUBSCRIPTION_FAILURES {
            self.sub_failures = 0;
            self.disconnect("subscriptions keep failing");
            return;
        }
        let due = now_ns() + self.jitter(self.backoff(self.sub_failures));
        if !self.sub_retries.iter().any(|(k, _)| *k == kind) {
            self.sub_retries.push((kind, due));
        }
    }

    /// Sends again the subscriptions whose retry is due.
    fn retry_subscriptions(&mut self, now: u64) {
        if self.conn.is_none() {
            self.sub_retries.clear();
            return;
        }
        let mut i = 0;
        while i < self.sub_retries.len() {
            let (kind, due) = self.sub_retries[i];
            if due > now {
                i += 1;
                continue;
            }
            self.sub_retries.swap_remove(i);
            self.subscribe(kind);
        }
    }

    /// Reconnect delay after `failures` failures in a row: doubling from `backoff_min`, at
    /// most `backoff_max` (jittered by the caller).
    fn backoff(&self, failures: u32) -> u64 {
        (self.cfg.backoff_min_ns << failures.min(16)).min(self.cfg.backoff_max_ns)
    }

    /// Sends one of our subscriptions (`kind` names it).
    fn subscribe(&mut self, kind: Internal) {
        let token = self.token.clone();
        let (sub, token) = match kind {
            Internal::SubscribeExecutions => (EXECUTIONS, token.as_deref()),
            Internal::SubscribeBalances => {
                (Subscription::Balances { snapshot: true }, token.as_deref())
            }
            Internal::SubscribeInstrument => (Subscription::Instrument { snapshot: true }, None),
            _ => return,
        };
        let id = self.internal_id(kind);
        encode::subscribe(&mut self.out, &sub, token, id);
        self.write_out();
    }

    fn subscribe_all(&mut self) {
        self.subscribe(Internal::SubscribeInstrument);
        self.subscribe(Internal::SubscribeExecutions);
        if self.cfg.subscribe_balances {
            self.subscribe(Internal::SubscribeBalances);
        }
    }

    fn resubscribe_executions(&mut self) {
        let token = self.token.clone();
        let id = self.internal_id(Internal::Unsubscribe);
        encode::unsubscribe(&mut self.out, &EXECUTIONS, token.as_deref(), id);
        self.write_out();
        self.subscribe(Internal::SubscribeExecutions);
        self.exec_seq = None;
    }

    /// Writes `self.out` as one text frame. Returns false (and drops the connection) on error.
    fn write_out(&mut self) -> bool {
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        let Ok(text) = std::str::from_utf8(&self.out) else {
            return true;
        };
        let res = c.send_text(text);
        match res {
            Ok(()) => {
                EngineStats::inc(&self.stats.frames_out);
                true
            }
            // Queued inside tungstenite; the next flush sends it.
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                EngineStats::inc(&self.stats.frames_out);
                true
            }
            Err(e) => {
                self.disconnect(&format!("write: {e}"));
                false
            }
        }
    }

    fn disconnect(&mut self, why: &str) {
        if let Some(mut c) = self.conn.take() {
            tracing::warn!(reason = why, "disconnected");
            c.shutdown();
            self.ready = false;
            // Kraken keeps counting down; re-armed on the next connection.
            self.stats.dead_man_armed.store(false, Ordering::Release);
            self.exec_seq = None;
            // Requests die with the connection: no answer to them can come on another one. The
            // strategy's become unknown outcomes now (looked up, never resent), not at their
            // deadlines.
            self.internal.clear();
            loop {
                let lost: ArrayVec<(u64, InFlight), 64> = self
                    .in_flight
                    .iter()
                    .take(64)
                    .map(|(&id, f)| (id, *f))
                    .collect();
                if lost.is_empty() {
                    break;
                }
                for &(id, _) in &lost {
                    self.in_flight.remove(&id);
                    self.unknown_outcome(id, true);
                }
            }
            self.mark_fills_at_risk();
            // A fresh token for the next connection.
            self.token = None;
            self.request_token();
            self.set_state(ConnectionState::Disconnected);
            // Counted after the event is pushed: a reader of the count finds the event.
            EngineStats::inc(&self.stats.disconnects);
            let now = now_ns();
            if self.ready_since_ns > 0
                && now.saturating_sub(self.ready_since_ns) >= STABLE_SESSION_NS
            {
                self.attempts = 0;
            }
            self.ready_since_ns = 0;
            self.next_attempt_ns = now + self.jitter(self.backoff(self.attempts));
        }
    }

    /// The executions snapshot replays only the last 50 fills: whatever traded while we were
    /// away beyond that is fetched from the trade history once we are subscribed again.
    fn mark_fills_at_risk(&mut self) {
        // From the last executions frame known good (a gap or a silent drop may be noticed
        // late), with a margin for the exchange's clock and for fills already on the wire.
        let quiet_us = if self.last_exec_ns == 0 {
            0
        } else {
            (now_ns().saturating_sub(self.last_exec_ns) / 1_000).min(MAX_QUIET_LOOKBACK_US)
        };
        let since = Timestamp(wall().0 - quiet_us as i64 - FILL_RECOVERY_MARGIN_US);
        self.restore_fills_at_risk(since);
        // A new loss: the window grows, its reading starts over.
        self.trades_resume = None;
    }

    fn restore_fills_at_risk(&mut self, since: Timestamp) {
        let earliest = self.fills_at_risk_since.map_or(since, |s| s.min(since));
        self.fills_at_risk_since = Some(earliest);
    }

    /// Asks the cold thread for the trades of a window at risk, once subscribed again.
    fn fetch_trades_at_risk(&mut self, now: u64) {
        if !self.ready || self.trades_fetch_pending || now < self.trades_fetch_due_ns {
            return;
        }
        if let Some(since) = self.fills_at_risk_since.take() {
            EngineStats::inc(&self.stats.reconciliations);
            self.trades_fetch_pending = true;
            // Up to now (exchange time, with a margin): after that the stream is live again.
            let offset = self.exchange_offset_us.unwrap_or(0);
            let (end, ofs) = self
                .trades_resume
                .unwrap_or((Timestamp(wall().0 + offset + FILL_RECOVERY_MARGIN_US), 0));
            let _ = self.cold_tx.send(ColdRequest::Trades { since, end, ofs });
        }
    }

    /// Reports a request's outcome as unknown; the strategy side looks its orders up. Never
    /// resent.
    fn unknown_outcome(&mut self, req_id: u64, disconnected: bool) {
        EngineStats::inc(&self.stats.unknown_outcomes);
        self.emit(Event::UnknownOutcome {
            req_id,
            disconnected,
        });
    }

    /// Asks the cold thread to look `target` up; `since_ns` (monotonic, 0: unknown) is when
    /// it was submitted, turned into the exchange's wall clock with a margin.
    fn lookup(&mut self, target: OrderRef, since_ns: u64) {
        EngineStats::inc(&self.stats.reconciliations);
        let now = now_ns();
        let wall_now = wall().0;
        // The window the exchange can have opened it in, bounded at both ends around its
        // submission: from then to its `deadline` (every order request carries one, and the
        // exchange refuses it after that, even when a connection was lost with it in flight); widened by the measured clock
        // offset and a second (10 s before any measurement). Small windows read completely, so
        // "not found" after the window closed means not placed.
        // In the exchange's time: our clock shifted by the measured offset.
        let (offset, margin) = self
            .exchange_offset_us
            .map_or((0, FILL_RECOVERY_MARGIN_US), |o| (o, LOOKUP_MARGIN_US));
        // Monotonic ns (past or future) to wall-clock µs.
        let wall_of = |t: u64| wall_now + offset + (t as i64 - now as i64) / 1_000;
        let ex_now = wall_now + offset;
        let (since, until) = if since_ns == 0 || since_ns > now {
            (ex_now - LOOKUP_LOOKBACK_US, ex_now + margin)
        } else {
            let submitted = wall_of(since_ns).max(ex_now - LOOKUP_LOOKBACK_US);
            let last = since_ns.saturating_add(self.cfg.order_deadline_ns);
            (submitted - margin, (wall_of(last) + margin).max(submitted))
        };
        let _ = self.cold_tx.send(ColdRequest::Lookup {
            target,
            since: Timestamp(since),
            until: Timestamp(until),
        });
    }

    /// Sends what the strategy queued. `closing`: the engine is stopping, so what the socket
    /// cannot carry is reported unsent rather than handed to REST.
    fn drain_commands(&mut self, closing: bool) -> bool {
        let mut any = false;
        while let Ok(Issued { cmd, at_ns }) = self.cmd_rx.pop() {
            any = true;
            let now = now_ns();
            if let Command::Lookup { target, since_ns } = cmd {
                self.lookup(target, since_ns);
                continue;
            }
            let (req_id, is_order) = match cmd {
                Command::Add { req_id, .. }
                | Command::Amend { req_id, .. }
                | Command::Edit { req_id, .. } => (req_id, true),
                Command::CancelOne { req_id, .. }
                | Command::CancelAll { req_id }
                | Command::CancelAfter { req_id, .. }
                | Command::Large { req_id } => (req_id, true),
                Command::Lookup { .. } => continue,
            };
            let large = if let Command::Large { .. } = cmd {
                self.large_rx.pop().ok()
            } else {
                None
            };
            if !self.ready && closing {
                self.emit(Event::NotSent {
                    req_id,
                    reason: NotSentReason::Shutdown,
                });
                continue;
            }
            if !self.ready {
                // WebSocket down or unauthenticated: REST fallback.
                if is_order {
                    EngineStats::inc(&self.stats.rest_fallback_orders);
                }
                // A fallback order is good for one request timeout from the strategy's call:
                // later, it is dropped unsent (and Kraken's `deadline` refuses it if it arrives
                // late), so a queue behind slow REST calls never sends a stale order.
                let issued = if at_ns > 0 { at_ns.min(now) } else { now };
                let expires_ns = issued + self.cfg.request_timeout_ns;
                let req = match large {
                    Some(l) => ColdRequest::Large {
                        req_id,
                        cmd: l,
                        sent_ns: now,
                        expires_ns,
                    },
                    None => ColdRequest::Order {
                        req_id,
                        cmd,
                        sent_ns: now,
                        expires_ns,
                    },
                };
                let _ = self.cold_tx.send(req);
                continue;
            }
            let token = self.token.as_deref().unwrap_or("");
            let mut responses = 1u16;
            match (&cmd, &large) {
                (Command::Add { order, .. }, _) => encode::request(
                    &mut self.out,
                    Request::Add(order),
                    &self.symbols,
                    token,
                    req_id,
                ),
                (Command::Amend { amend, .. }, _) => encode::request(
                    &mut self.out,
                    Request::Amend(amend),
                    &self.symbols,
                    token,
                    req_id,
                ),
                (Command::Edit { edit, .. }, _) => encode::request(
                    &mut self.out,
                    Request::Edit(edit),
                    &self.symbols,
                    token,
                    req_id,
                ),
                (Command::CancelOne { target, .. }, _) => {
                    let c = CancelOrder::one(*target);
                    encode::cancel_order(&mut self.out, &c, token, req_id)
                }
                (Command::CancelAll { .. }, _) => encode::cancel_all(&mut self.out, token, req_id),
                (Command::CancelAfter { timeout_secs, .. }, _) => {
                    encode::cancel_all_orders_after(&mut self.out, *timeout_secs, token, req_id)
                }
                (Command::Large { .. }, Some(LargeCommand::Cancel(c))) => {
                    responses = c.refs.len() as u16;
                    encode::cancel_order(&mut self.out, c, token, req_id)
                }
                (Command::Large { .. }, Some(LargeCommand::BatchAdd(b))) => {
                    encode::batch_add(&mut self.out, b, &self.symbols, token, req_id)
                }
                (Command::Large { .. }, Some(LargeCommand::BatchCancel(b))) => {
                    encode::batch_cancel(&mut self.out, b, token, req_id)
                }
                (Command::Large { .. }, None) | (Command::Lookup { .. }, _) => continue,
            }
            self.in_flight.insert(
                req_id,
                InFlight {
                    deadline_ns: now + self.cfg.request_timeout_ns,
                    sent_ns: now,
                    responses,
                },
            );
            if is_order {
                EngineStats::inc(&self.stats.websocket_orders);
            }
            if at_ns > 0 {
                let _ = self.tick_to_pop.record(now.saturating_sub(at_ns).max(1));
            }
            if self.write_out() && at_ns > 0 {
                let _ = self
                    .tick_to_wire
                    .record(now_ns().saturating_sub(at_ns).max(1));
            }
        }
        any
    }

    fn read_frames(&mut self) -> bool {
        let mut any = false;
        loop {
            let Some(c) = self.conn.as_mut() else {
                return any;
            };
            // A frame this read returns was readable by now at the latest: wire-to-strategy
            // starts here, before the read syscall, TLS and WebSocket decoding.
            self.readable_ns = now_ns();
            match c.ws.read() {
                Ok(Message::Text(t)) => {
                    any = true;
                    let now = self.readable_ns;
                    self.last_frame_ns = now;
                    EngineStats::inc(&self.stats.frames_in);
                    self.on_frame(t.as_bytes(), now);
                    let _ = self
                        .frame_to_ring
                        .record(now_ns().saturating_sub(now).max(1));
                }
                Ok(Message::Close(_)) => {
                    self.disconnect("closed by peer");
                    return true;
                }
                Ok(_) => {
                    any = true;
                    self.last_frame_ns = now_ns();
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Flush queued writes (e.g. pong replies tungstenite queued).
                    let _ = c.ws.flush();
                    return any;
                }
                Err(e) => {
                    self.disconnect(&format!("read: {e}"));
                    return true;
                }
            }
        }
    }

    fn on_frame(&mut self, frame: &[u8], now: u64) {
        let msg = match self.decoder.decode(frame, &self.symbols) {
            Ok(m) => m,
            Err(e) => {
                EngineStats::inc(&self.stats.decode_errors);
                if e == DecodeError::NotJson {
                    EngineStats::inc(&self.stats.non_json_frames);
                }
                self.emit(Event::DecodeError(e));
                return;
            }
        };
        match msg {
            Inbound::Response(r) => {
                let Some(id) = r.req_id else {
                    return;
                };
                if id > INTERNAL {
                    self.on_internal(id, &r);
                    return;
                }
                if r.error_kind == Some(KrakenErrorKind::InvalidSession) {
                    // The token died under a live connection: answer this request, then
                    // reconnect with a fresh token; the strategy sees the refusal and may retry
                    // (over REST until we are back).
                    self.on_response(id, r, now);
                    self.disconnect("invalid session on a request");
                    return;
                }
                self.on_response(id, r, now);
            }
            Inbound::Executions {
                kind,
                sequence,
                len,
            } => {
                if let Some(seq) = sequence {
                    match (kind, self.exec_seq) {
                        (FrameKind::Update, Some(last)) if seq <= last => {
                            // Seen already (a duplicate): nothing new in it, not a gap.
                            EngineStats::inc(&self.stats.duplicate_frames);
                            return;
                        }
                        (FrameKind::Update, Some(last)) if seq != last.wrapping_add(1) => {
                            EngineStats::inc(&self.stats.sequence_gaps);
                            tracing::warn!(
                                expected = last.wrapping_add(1),
                                got = seq,
                                "executions sequence gap"
                            );
                            self.emit(Event::SequenceGap {
                                expected: last.wrapping_add(1),
                                got: seq,
                            });
                            // Deliver what arrived (fills dedupe by exec_id), then re-snapshot
                            // and fetch the trades of the gap.
                            self.mark_fills_at_risk();
                            self.exec_seq = Some(seq);
                            self.emit_executions(kind, len);
                            self.resubscribe_executions();
                            return;
                        }
                        _ => self.exec_seq = Some(seq),
                    }
                }
                // In sequence (a gap returned above): fills are known good up to here.
                self.last_exec_ns = now;
                self.emit_executions(kind, len);
            }
            Inbound::Balances { kind, len, .. } => {
                for i in 0..len {
                    let entry = self.decoder.balances()[i];
                    self.emit(Event::Balance {
                        entry,
                        snapshot: kind == FrameKind::Snapshot,
                    });
                }
            }
            Inbound::Instrument { .. } => {
                for i in 0..self.decoder.pairs().len() {
                    let p = self.decoder.pairs()[i];
                    if self.symbols.get(p.symbol.as_str()).is_some() {
                        self.emit(Event::Instrument(p));
                    }
                }
            }
            Inbound::Status(s) => self.emit(Event::Status(s)),
            Inbound::Heartbeat => {}
        }
    }

    /// A response to one of the strategy's requests.
    fn on_response(&mut self, id: u64, r: crate::protocol::messages::Response, now: u64) {
        if r.error_kind == Some(KrakenErrorKind::DeadlineElapsed)
            && !self.internal.values().any(|(k, _)| *k == Internal::Ping)
        {
            // Our deadlines follow the exchange's clock as last measured: measure it again
            // (one ping at a time, however many requests were refused).
            let id = self.internal_id(Internal::Ping);
            encode::ping(&mut self.out, id);
            self.write_out();
        }
        let Some(f) = self.in_flight.get_mut(&id) else {
            // Late answer to a request already reported unknown: still the truth.
            self.emit(Event::Response {
                response: r,
                route: Route::WebSocket,
                sent_ns: 0,
                recv_ns: now,
            });
            return;
        };
        f.responses = f.responses.saturating_sub(1);
        let sent_ns = f.sent_ns;
        if f.responses == 0 || !r.success {
            self.in_flight.remove(&id);
        }
        if let AckResult::Batch { len } = r.result {
            for i in 0..len.min(self.decoder.batch().len()) {
                let item = self.decoder.batch()[i];
                self.emit(Event::BatchItem {
                    index: i as u8,
                    item,
                });
            }
        }
        self.emit(Event::Response {
            response: r,
            route: Route::WebSocket,
            sent_ns,
            recv_ns: now,
        });
    }

    fn emit_executions(&mut self, kind: FrameKind, len: usize) {
        let snapshot = kind == FrameKind::Snapshot;
        if snapshot {
            self.emit(Event::SnapshotBegin);
        }
        for i in 0..len {
            let report = self.decoder.executions()[i];
            if report.unknown_count > 0 {
                self.stats
                    .unknown_values
                    .fetch_add(u64::from(report.unknown_count), Ordering::Relaxed);
            }
            self.emit(Event::Execution {
                report,
                snapshot,
                recv_ns: self.readable_ns,
            });
        }
        if snapshot {
            self.emit(Event::SnapshotEnd);
        }
    }

    fn on_internal(&mut self, id: u64, r: &crate::protocol::messages::Response) {
        let Some((kind, deadline)) = self.internal.remove(&id) else {
            return;
        };
        // The exchange's clock, from its receive time on our own requests (off the hot path):
        // lookups search windows of exchange time.
        if let Some(t_in) = r.time_in {
            let now = now_ns();
            let sent = deadline.saturating_sub(self.cfg.request_timeout_ns);
            let sent_wall = wall().0 - (now.saturating_sub(sent) / 1_000) as i64;
            self.exchange_offset_us = Some(t_in.0 - sent_wall);
            self.stats
                .exchange_offset_us
                .store(t_in.0 - sent_wall, Ordering::Relaxed);
        }
        match (kind, r.success) {
            (Internal::SubscribeExecutions, true) => {
                if let AckResult::Subscription {
                    channel: Channel::Executions,
                    maxratecount,
                    ..
                } = r.result
                    && let Some(m) = maxratecount
                {
                    self.emit(Event::MaxRateCount(m));
                }
                self.sub_failures = 0;
                if !self.ready {
                    self.ready = true;
                    self.ever_ready = true;
                    self.ready_since_ns = now_ns();
                    tracing::info!("executions subscribed: orders go over the WebSocket");
                    self.set_state(ConnectionState::Ready);
                    self.refresh_dead_man(now_ns());
                }
                // Subscribed again after a loss: the fills of the window, from REST (the
                // tracker drops the ones it already has by exec_id).
                self.fetch_trades_at_risk(now_ns());
            }
            (Internal::SubscribeExecutions | Internal::SubscribeBalances, false)
                if r.error_kind == Some(KrakenErrorKind::InvalidSession) =>
            {
                // The token is no good: reconnect with a fresh one.
                self.disconnect("invalid session");
            }
            (
                Internal::SubscribeExecutions
                | Internal::SubscribeBalances
                | Internal::SubscribeInstrument,
                false,
            ) => {
                let why = r.error.map(|e| e.to_string()).unwrap_or_default();
                self.subscription_failed(kind, &why);
            }
            (Internal::DeadMan, true) => {
                self.stats.dead_man_armed.store(true, Ordering::Release);
            }
            (Internal::DeadMan, false) if r.error_kind == Some(KrakenErrorKind::InvalidSession) => {
                self.disconnect("invalid session");
            }
            _ => {}
        }
    }

    fn refresh_dead_man(&mut self, now: u64) {
        self.last_dead_man_ns = now;
        if self.cfg.dead_man_timeout_secs == 0 {
            return;
        }
        if !self.ready {
            // The socket is down but orders may live (some placed over REST meanwhile): keep
            // the switch armed over REST, or it fires on them, and then protects nothing.
            if !self.dead_man_rest_pending
                && self
                    .cold_tx
                    .send(ColdRequest::DeadMan {
                        timeout_secs: self.cfg.dead_man_timeout_secs,
                    })
                    .is_ok()
            {
                self.dead_man_rest_pending = true;
            }
            return;
        }
        let token = self.token.clone().unwrap_or_default();
        let id = self.internal_id(Internal::DeadMan);
        encode::cancel_all_orders_after(&mut self.out, self.cfg.dead_man_timeout_secs, &token, id);
        if self.write_out() {
            EngineStats::inc(&self.stats.dead_man_refreshes);
        }
    }

    fn drain_cold(&mut self) -> bool {
        let mut any = false;
        while let Ok(reply) = self.cold_rx.try_recv() {
            any = true;
            self.on_cold(reply);
        }
        any
    }

    fn on_cold(&mut self, reply: ColdReply) {
        {
            match reply {
                ColdReply::Token(Ok(t)) => {
                    self.token_pending = false;
                    self.token_failures = 0;
                    self.token = Some(t.token);
                    self.token_at_ns = now_ns();
                    EngineStats::inc(&self.stats.tokens_fetched);
                }
                ColdReply::Token(Err(e)) => {
                    self.token_pending = false;
                    EngineStats::inc(&self.stats.token_failures);
                    tracing::warn!(error = %e, "token fetch failed");
                    // Backs off like connections do, not once a second forever.
                    self.token_failures += 1;
                    self.next_attempt_ns =
                        now_ns() + self.jitter(self.backoff(self.token_failures));
                }
                ColdReply::Response {
                    response,
                    items,
                    sent_ns,
                } => {
                    for (i, item) in items.iter().enumerate() {
                        self.emit(Event::BatchItem {
                            index: i as u8,
                            item: *item,
                        });
                    }
                    self.emit(Event::Response {
                        response,
                        route: Route::Rest,
                        sent_ns,
                        recv_ns: now_ns(),
                    });
                }
                ColdReply::Resolved(found) => {
                    for l in found {
                        self.emit(Event::Resolved {
                            target: l.target,
                            order_id: l.order_id,
                            status: l.status,
                            filled: l.filled,
                        });
                    }
                }
                ColdReply::Trades {
                    reports,
                    since,
                    end,
                    next_ofs,
                    complete,
                    error,
                } => {
                    self.trades_fetch_pending = false;
                    if complete {
                        self.trades_failures = 0;
                        self.trades_resume = None;
                    } else {
                        // Read on from where it stopped (the window's end is fixed, so its
                        // pages stay put), later each time it fails.
                        self.trades_failures += 1;
                        tracing::warn!(
                            failures = self.trades_failures,
                            ?error,
                            "trade history incomplete"
                        );
                        self.restore_fills_at_risk(since);
                        if self.trades_resume.is_none_or(|(e, _)| e == end) {
                            self.trades_resume = Some((end, next_ofs));
                        }
                        let delay = (TRADES_RETRY_NS << self.trades_failures.min(5))
                            .min(TRADES_RETRY_MAX_NS);
                        self.trades_fetch_due_ns = now_ns() + delay;
                        if self.trades_failures == RECOVERY_FAILING_AFTER {
                            EngineStats::inc(&self.stats.recovery_failures);
                            let text = error.as_deref().unwrap_or("incomplete");
                            self.emit(Event::RecoveryFailing {
                                error: crate::protocol::messages::Text::truncating(text),
                            });
                        }
                    }
                    // Replayed like a snapshot's trades: fills the tracker lacks are applied,
                    // the rest are recognised by exec_id.
                    for report in reports {
                        self.emit(Event::RecoveredFill { report });
                    }
                }
                ColdReply::Unknown { req_id } => self.unknown_outcome(req_id, false),
                ColdReply::DeadMan { timeout_secs, ok } => {
                    self.dead_man_rest_pending = false;
                    if ok && timeout_secs > 0 {
                        EngineStats::inc(&self.stats.dead_man_refreshes);
                    }
                    self.stats
                        .dead_man_armed
                        .store(ok && timeout_secs > 0, Ordering::Release);
                }
                ColdReply::NotSent { req_id, reason } => {
                    self.emit(Event::NotSent { req_id, reason });
                }
            }
        }
    }

    fn timers(&mut self, now: u64) {
        self.fetch_trades_at_risk(now);
        // Request deadlines: unknown outcome, resolved by lookup, never resent.
        if self.in_flight.values().any(|f| f.deadline_ns <= now) {
            let expired: Vec<(u64, InFlight)> = self
                .in_flight
                .iter()
                .filter(|(_, f)| f.deadline_ns <= now)
                .map(|(&id, f)| (id, *f))
                .collect();
            for (id, _) in expired {
                self.in_flight.remove(&id);
                tracing::warn!(req_id = id, "request timed out: outcome unknown");
                self.unknown_outcome(id, false);
            }
        }
        // Our own requests have deadlines too: a subscription nobody answered is asked again.
        if self.internal.values().any(|&(_, d)| d <= now) {
            let expired: ArrayVec<(u64, Internal), 16> = self
                .internal
                .iter()
                .filter(|(_, (_, d))| *d <= now)
                .take(16)
                .map(|(&id, &(k, _))| (id, k))
                .collect();
            for (id, kind) in expired {
                self.internal.remove(&id);
                if matches!(
                    kind,
                    Internal::SubscribeExecutions
                        | Internal::SubscribeBalances
                        | Internal::SubscribeInstrument
                ) {
                    self.subscription_failed(kind, "no answer");
                }
            }
        }
        self.retry_subscriptions(now);
        if self.conn.is_some() {
            if now.saturating_sub(self.last_frame_ns) > self.cfg.watchdog_ns {
                self.disconnect("watchdog: no frame");
                return;
            }
            if self.ready
                && now.saturating_sub(self.last_dead_man_ns) > self.cfg.dead_man_refresh_ns
            {
                self.refresh_dead_man(now);
            }
        }
        // During an outage (after the first connection armed it), over REST.
        if !self.ready
            && self.ever_ready
            && now.saturating_sub(self.last_dead_man_ns) > self.cfg.dead_man_refresh_ns
        {
            self.refresh_dead_man(now);
        }
        if self.conn.is_some() {
            // Keep the connection alive and the watchdog fed when the exchange is quiet.
            if now.saturating_sub(self.last_frame_ns) > self.cfg.watchdog_ns / 3
                && !self.internal.values().any(|(k, _)| *k == Internal::Ping)
            {
                let id = self.internal_id(Internal::Ping);
                encode::ping(&mut self.out, id);
                self.write_out();
            }
        }
        if self.token.is_some() && now.saturating_sub(self.token_at_ns) > self.cfg.token_refresh_ns
        {
            self.token_at_ns = now;
            self.request_token();
        }
    }

    fn shutdown(&mut self) {
        if self.abort.load(Ordering::Relaxed) {
            // A simulated crash: the socket just goes away, the dead man's switch stays armed.
            self.conn = None;
            let _ = self.cold_tx.send(ColdRequest::Shutdown);
            return;
        }
        self.stats.dead_man_armed.store(false, Ordering::Release);
        // Disarm the dead man's switch on a clean stop (over REST if the socket is down).
        if self.ready && self.cfg.dead_man_timeout_secs > 0 {
            let token = self.token.clone().unwrap_or_default();
            let id = self.internal_id(Internal::DeadMan);
            encode::cancel_all_orders_after(&mut self.out, 0, &token, id);
            self.write_out();
        } else if self.cfg.dead_man_timeout_secs > 0 && self.ever_ready {
            let _ = self.cold_tx.send(ColdRequest::DeadMan { timeout_secs: 0 });
        }
        if let Some(mut c) = self.conn.take() {
            c.shutdown();
        }
        let _ = self.cold_tx.send(ColdRequest::Shutdown);
        // The cold thread answers what it still held (REST orders it will not send now) and
        // exits; its last replies are the strategy's to see.
        loop {
            match self.cold_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(reply) => self.on_cold(reply),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// Hands the I/O thread's histograms to the strategy side (at exit: cold).
    fn publish_latency(&mut self) {
        let take = |h: &mut Histogram<u64>| std::mem::replace(h, super::latency_histogram());
        let hs = super::stats::IoLatency {
            tick_to_pop: take(&mut self.tick_to_pop),
            tick_to_wire: take(&mut self.tick_to_wire),
            frame_to_ring: take(&mut self.frame_to_ring),
        };
        if let Ok(mut slot) = self.stats.io_latency.lock() {
            *slot = Some(hs);
        }
    }
}

//! The connection's session, sans-IO: every rule the I/O thread keeps, with no socket, clock or
//! thread inside (the model is quinn-proto's `Connection`).
//!
//! A driver feeds it what happened, with the time:
//! [`handle_command`](Session::handle_command), [`handle_frame`](Session::handle_frame),
//! [`handle_cold`](Session::handle_cold), [`handle_timeout`](Session::handle_timeout), and the
//! transport's own news ([`handle_connected`](Session::handle_connected),
//! [`handle_connect_failed`](Session::handle_connect_failed),
//! [`handle_disconnected`](Session::handle_disconnected)). It then takes what the session
//! decided: [`poll_transmit`](Session::poll_transmit) (frames to write, or close the socket),
//! [`poll_event`](Session::poll_event) (for the strategy), [`poll_cold`](Session::poll_cold)
//! (for the REST thread), [`poll_connect`](Session::poll_connect) (open a socket now) and
//! [`poll_timeout`](Session::poll_timeout) (when to call again).
//!
//! The rules (docs/kraken-protocol.md): a request with no answer by its deadline, or whose
//! connection dropped, has an unknown outcome and is never resent; an executions sequence gap
//! resubscribes and reads the trade history of the gap; every connection gets a fresh token;
//! reconnects back off with jitter; the dead man's switch is refreshed over the socket, or over
//! REST while it is down.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustc_hash::FxBuildHasher;

use crate::engine::cold::{ColdReply, ColdRequest};
use crate::engine::msg::{Command, ConnectionState, Event, LargeCommand, OrderCommand, Route};
use crate::engine::stats::EngineStats;
use crate::engine::timers::{Timer, Timers};
use crate::error::{DecodeError, KrakenErrorKind};
use crate::ids::{RequestId, SymbolTable};
use crate::order::{CancelOrder, OrderRef, Request};
use crate::orders::NotSentReason;
use crate::protocol::messages::{AckResult, Channel, FrameKind, Inbound, Response};
use crate::protocol::{Decoder, Subscription, encode};
use crate::time::Timestamp;

/// How far before a disconnect or gap the trade history is fetched again (µs).
const FILL_RECOVERY_MARGIN_US: i64 = 10_000_000;
/// At most this far back from a loss to the last good executions frame (µs).
const MAX_QUIET_LOOKBACK_US: u64 = 3_600_000_000;
/// Lookup windows, in the exchange's time (by the measured offset), are widened by this
/// (µs); by `FILL_RECOVERY_MARGIN_US` before any measurement.
const LOOKUP_MARGIN_US: i64 = 1_000_000;
/// The longest `deadline` any process gives a request after sending it
/// ([`crate::engine::order_deadline`] keeps it under a minute).
const MAX_ORDER_DEADLINE_US: i64 = 60_000_000;
/// Lookups with no submission time search the last 15 minutes (µs).
const LOOKUP_LOOKBACK_US: i64 = 15 * 60 * 1_000_000;
/// Pause before reading an incomplete trade history window again, doubling with each failure
/// up to the maximum.
const TRADES_RETRY_NS: u64 = 1_000_000_000;
const TRADES_RETRY_MAX_NS: u64 = 60_000_000_000;
/// Failures in a row after which recovery is reported as failing (it goes on).
const RECOVERY_FAILING_AFTER: u32 = 3;
/// Subscription failures in a row before the connection is made again.
const MAX_SUBSCRIPTION_FAILURES: u32 = 5;
/// A session that stayed up this long resets the reconnect backoff.
const STABLE_SESSION_NS: u64 = 30_000_000_000;

/// How long after an order request's acknowledgement its executions frames may take. A
/// sequence gap shows a lost frame only when a later one arrives; when none does (the lost
/// frame was the last before a quiet spell), this is what notices.
const EXEC_CONFIRM_NS: u64 = 2_000_000_000;

/// After this long without an executions frame the stream is checked with a fresh snapshot
/// (open orders and the last 50 trades): a frame lost last, before a quiet spell, shows no
/// sequence gap, and this is what finds it.
const QUIET_RESYNC_NS: u64 = 60_000_000_000;

/// The `executions` subscription: open orders and the last trades in the snapshot.
pub(crate) const EXECUTIONS: Subscription = Subscription::Executions {
    snap_orders: true,
    snap_trades: true,
    order_status: true,
    ratecounter: false,
};

/// Internal request ids live above this, apart from the strategy's. Every req_id stays below
/// 2^53, so a gateway that reads JSON numbers as doubles still echoes it exactly.
const INTERNAL: u64 = 1 << 52;

/// The session's settings (all durations in ns).
#[derive(Clone, Debug)]
pub(crate) struct SessionConfig {
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
    /// Seeds the reconnect jitter.
    pub seed: u64,
}

pub(crate) use crate::engine::outbox::Transmit;
use crate::engine::outbox::{Backoff, Outbox};

#[derive(Clone, Copy, Debug)]
struct InFlight {
    deadline_ns: u64,
    sent_ns: u64,
    /// Responses still expected (several for a multi-order cancel).
    responses: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Internal {
    SubscribeExecutions,
    SubscribeBalances,
    SubscribeInstrument,
    Unsubscribe,
    DeadMan,
    Ping,
}

/// The socket as the session sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Down,
    /// `poll_connect` said to connect; the driver reports how it went.
    Connecting,
    Up,
}

/// The connection's session. See the module documentation.
pub(crate) struct Session {
    cfg: SessionConfig,
    symbols: SymbolTable,
    stats: Arc<EngineStats>,
    decoder: Decoder,
    timers: Timers,
    link: Link,
    /// The exchange answered our `executions` subscription on this connection.
    ready: bool,
    /// The executions subscription has been live at least once.
    ever_ready: bool,
    /// When the current session became ready.
    ready_since_ns: Option<u64>,
    /// Connection attempts since the last stable session.
    attempts: u32,
    /// Reconnect, token and subscription retry delays.
    backoff: Backoff,
    /// A mapping from our clock to the wall clock: (monotonic ns, wall µs) read together.
    wall_anchor: (u64, i64),

    token: Option<String>,
    token_pending: bool,
    token_failures: u32,

    /// The strategy's requests in flight, and their deadlines in the order they were sent
    /// (every request gets the same timeout, so the front is the earliest; answered ones are
    /// skipped when they reach the front).
    in_flight: HashMap<RequestId, InFlight, FxBuildHasher>,
    deadlines: VecDeque<(u64, RequestId)>,
    /// Our own requests in flight, with their deadlines.
    internal: HashMap<u64, (Internal, u64), FxBuildHasher>,
    next_internal: u64,

    exec_seq: Option<u64>,
    last_frame_ns: u64,
    /// When the last in-sequence executions frame was read.
    last_exec_ns: Option<u64>,
    /// When the earliest acknowledged order request with no executions frame since was
    /// sent (see `EXEC_CONFIRM_NS`).
    exec_expected_since: Option<u64>,
    /// When the frame being handled was found readable.
    frame_ns: u64,
    /// The exchange's clock minus ours (µs), last measured (plus a one-way trip).
    exchange_offset_us: Option<i64>,
    /// Subscription failures in a row on this connection, and the ones to send again (when).
    sub_failures: u32,
    sub_retries: Vec<(Internal, u64)>,

    /// Since when the executions stream may have missed fills (a disconnect or a gap), until
    /// the trade history after it has been asked for.
    fills_at_risk_since: Option<Timestamp>,
    trades_fetch_pending: bool,
    /// The window of the trade history read in flight (while `trades_fetch_pending`).
    trades_inflight_since: Option<Timestamp>,
    /// Where an incomplete trade history read goes on: the window's fixed end, the offset.
    trades_resume: Option<(Timestamp, u64)>,
    trades_failures: u32,
    /// A REST refresh of the dead man's switch is out.
    dead_man_rest_pending: bool,

    /// Frames to write: their bytes back to back, where each ends, and how far the driver took.
    tx: Outbox,
    /// Scratch for encoding one frame.
    out: Vec<u8>,
    events: VecDeque<Event>,
    cold: VecDeque<ColdRequest>,
}

impl Session {
    /// A session that has not connected yet; `now` and `wall` are read together.
    pub fn new(
        cfg: SessionConfig,
        symbols: SymbolTable,
        stats: Arc<EngineStats>,
        now: u64,
        wall: Timestamp,
    ) -> Self {
        let mut decoder = Decoder::new();
        decoder.reserve(64 * 1024, 1024);
        let backoff = Backoff::new(cfg.backoff_min_ns, cfg.backoff_max_ns, cfg.seed);
        let mut s = Self {
            cfg,
            symbols,
            stats,
            decoder,
            timers: Timers::default(),
            link: Link::Down,
            ready: false,
            ever_ready: false,
            ready_since_ns: None,
            attempts: 0,
            backoff,
            wall_anchor: (now, wall.0),
            token: None,
            token_pending: false,
            token_failures: 0,
            in_flight: HashMap::with_capacity_and_hasher(4096, FxBuildHasher),
            deadlines: VecDeque::with_capacity(4096),
            internal: HashMap::with_capacity_and_hasher(64, FxBuildHasher),
            next_internal: INTERNAL,
            exec_seq: None,
            last_frame_ns: now,
            last_exec_ns: None,
            exec_expected_since: None,
            frame_ns: now,
            exchange_offset_us: None,
            sub_failures: 0,
            sub_retries: Vec::with_capacity(4),
            fills_at_risk_since: None,
            trades_fetch_pending: false,
            trades_inflight_since: None,
            trades_resume: None,
            trades_failures: 0,
            dead_man_rest_pending: false,
            tx: Outbox::with_capacity(64 * 1024, 1024),
            out: Vec::with_capacity(8192),
            events: VecDeque::with_capacity(4096),
            cold: VecDeque::with_capacity(64),
        };
        s.request_token();
        s
    }

    // ---- what the driver asks -------------------------------------------------------------

    /// When the session next needs [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Whether to open a socket now. When true, the driver connects and answers with
    /// [`handle_connected`](Self::handle_connected) or
    /// [`handle_connect_failed`](Self::handle_connect_failed).
    pub fn poll_connect(&mut self, now: u64) -> bool {
        if self.link != Link::Down || self.timers.get(Timer::Reconnect).is_some_and(|t| t > now) {
            return false;
        }
        // A fresh token for every connection.
        if self.token.is_none() {
            self.request_token();
            return false;
        }
        self.timers.clear(Timer::Reconnect);
        self.attempts += 1;
        self.link = Link::Connecting;
        self.emit(Event::Connection(ConnectionState::Connecting(
            self.attempts,
        )));
        true
    }

    /// The next frame to write, or the order to close the socket.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        let t = self.tx.poll();
        if let Some(Transmit::Text(_)) = t {
            EngineStats::inc(&self.stats.frames_out);
        }
        t
    }

    /// The next event for the strategy.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Gives back an event the driver could not deliver; it comes out first next time.
    pub fn unpoll_event(&mut self, ev: Event) {
        self.events.push_front(ev);
    }

    /// The next request for the cold (REST) thread.
    pub fn poll_cold(&mut self) -> Option<ColdRequest> {
        self.cold.pop_front()
    }

    /// Requests of the strategy still awaiting their answer.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Orders go over the WebSocket (executions subscribed).
    #[cfg(test)]
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    // ---- what happened --------------------------------------------------------------------

    /// The wall clock, read with `now` (drivers refresh the mapping now and then).
    pub fn handle_wall_clock(&mut self, now: u64, wall: Timestamp) {
        self.wall_anchor = (now, wall.0);
    }

    /// The socket connected (TLS and WebSocket handshakes done).
    pub fn handle_connected(&mut self, now: u64) {
        // `attempts` is not reset by a handshake: a server that accepts and then closes must
        // not get a connection every few hundred ms. A session that stayed up resets it (see
        // `lose_connection`).
        self.link = Link::Up;
        self.tx.set_close(false);
        self.sub_failures = 0;
        self.sub_retries.clear();
        self.timers.clear(Timer::SubscriptionRetry);
        self.exec_seq = None;
        self.last_frame_ns = now;
        self.set_state(ConnectionState::Connected);
        EngineStats::inc(&self.stats.connects);
        self.timers.set(Timer::Watchdog, now + self.cfg.watchdog_ns);
        self.timers
            .set(Timer::KeepAlive, now + self.cfg.watchdog_ns / 3);
        self.subscribe_all(now);
    }

    /// The connection attempt failed.
    pub fn handle_connect_failed(&mut self, now: u64, why: &str) {
        tracing::warn!(error = why, attempt = self.attempts, "connect failed");
        self.link = Link::Down;
        let delay = self.backoff.delay(self.attempts);
        self.timers.set(Timer::Reconnect, now + delay);
    }

    /// The transport failed or the peer closed: the connection is gone.
    pub fn handle_disconnected(&mut self, now: u64, why: &str) {
        if self.link != Link::Down {
            self.lose_connection(now, why);
            // The driver already dropped the socket.
            self.tx.set_close(false);
        }
    }

    /// The driver is not reading the socket (the strategy's ring is full): its silence is our
    /// choice, not the exchange's, so the watchdog does not count it.
    pub fn handle_reading_paused(&mut self, now: u64) {
        self.last_frame_ns = now;
    }

    /// A frame other than text arrived (ping, pong): the connection is alive.
    pub fn handle_control_frame(&mut self, now: u64) {
        self.last_frame_ns = now;
    }

    /// A command from the strategy; `large` is the command an [`OrderCommand::Large`]
    /// announces. `at_ns` is when the strategy issued it (0: unknown). `closing`: the engine is
    /// stopping, so what the socket cannot carry is reported unsent rather than handed to REST.
    pub fn handle_command(
        &mut self,
        now: u64,
        cmd: Command,
        large: Option<&LargeCommand>,
        at_ns: u64,
        closing: bool,
    ) {
        match cmd {
            Command::Order(order) => self.order(now, order, large, at_ns, closing),
            Command::Lookup {
                target,
                since_ns,
                deadline,
            } => self.lookup(now, target, since_ns, deadline),
            Command::Discover { since_ns, deadline } => {
                EngineStats::inc(&self.stats.reconciliations);
                let (since, until) = self.window(now, since_ns, deadline);
                self.cold.push_back(ColdRequest::Discover {
                    since: Timestamp(since),
                    until: Timestamp(until),
                });
            }
            // The public socket's (the driver hands them to its session).
            Command::Market(_) => {}
        }
    }

    /// A trading request: written to the socket, or handed to REST while it is not ready.
    fn order(
        &mut self,
        now: u64,
        cmd: OrderCommand,
        large: Option<&LargeCommand>,
        at_ns: u64,
        closing: bool,
    ) {
        let req_id = cmd.req_id();
        if !self.ready {
            if closing {
                self.emit(Event::NotSent {
                    req_id,
                    reason: NotSentReason::Shutdown,
                });
                return;
            }
            // WebSocket down or unauthenticated: REST fallback.
            EngineStats::inc(&self.stats.rest_fallback_orders);
            // A fallback order is good for one request timeout from the strategy's call:
            // later, it is dropped unsent (and Kraken's `deadline` refuses it if it arrives
            // late), so a queue behind slow REST calls never sends a stale order.
            let issued = if at_ns > 0 { at_ns.min(now) } else { now };
            let expires_ns = issued + self.cfg.request_timeout_ns;
            let req = match large {
                Some(l) => ColdRequest::Large {
                    req_id,
                    cmd: l.clone(),
                    sent_ns: now,
                    expires_ns,
                },
                None if matches!(cmd, OrderCommand::Large { .. }) => return,
                None => ColdRequest::Order {
                    req_id,
                    cmd,
                    sent_ns: now,
                    expires_ns,
                },
            };
            self.cold.push_back(req);
            return;
        }
        let token = self.token.as_deref().unwrap_or("");
        let mut responses = 1u16;
        let id = req_id.0;
        match (&cmd, &large) {
            (OrderCommand::Add { order, .. }, _) => {
                encode::request(&mut self.out, Request::Add(order), &self.symbols, token, id)
            }
            (OrderCommand::Amend { amend, .. }, _) => encode::request(
                &mut self.out,
                Request::Amend(amend),
                &self.symbols,
                token,
                id,
            ),
            (OrderCommand::Edit { edit, .. }, _) => {
                encode::request(&mut self.out, Request::Edit(edit), &self.symbols, token, id)
            }
            (OrderCommand::CancelOne { target, .. }, _) => {
                encode::cancel_order(&mut self.out, &CancelOrder::one(*target), token, id)
            }
            (OrderCommand::CancelAll { .. }, _) => encode::cancel_all(&mut self.out, token, id),
            (OrderCommand::CancelAfter { timeout_secs, .. }, _) => {
                encode::cancel_all_orders_after(&mut self.out, *timeout_secs, token, id)
            }
            (OrderCommand::Large { .. }, Some(LargeCommand::Cancel(c))) => {
                responses = c.refs.len() as u16;
                encode::cancel_order(&mut self.out, c, token, id)
            }
            (OrderCommand::Large { .. }, Some(LargeCommand::BatchAdd(b))) => {
                encode::batch_add(&mut self.out, b, &self.symbols, token, id)
            }
            (OrderCommand::Large { .. }, Some(LargeCommand::BatchCancel(b))) => {
                encode::batch_cancel(&mut self.out, b, token, id)
            }
            // Announced, but its request did not come: nothing to send.
            (OrderCommand::Large { .. }, None) => return,
        }
        let deadline_ns = now + self.cfg.request_timeout_ns;
        self.in_flight.insert(
            req_id,
            InFlight {
                deadline_ns,
                sent_ns: now,
                responses,
            },
        );
        self.deadlines.push_back((deadline_ns, req_id));
        self.timers
            .set_earliest(Timer::RequestDeadline, deadline_ns);
        EngineStats::inc(&self.stats.websocket_orders);
        self.queue_out();
    }

    /// A text frame read at `now` (when it was found readable).
    pub fn handle_frame(&mut self, now: u64, frame: &[u8]) {
        self.last_frame_ns = now;
        self.frame_ns = now;
        EngineStats::inc(&self.stats.frames_in);
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
                    self.on_internal(now, id, &r);
                    return;
                }
                let invalid = r.error_kind == Some(KrakenErrorKind::InvalidSession);
                self.on_response(now, RequestId(id), r);
                if invalid {
                    // The token died under a live connection: this request is answered;
                    // reconnect with a fresh one. The strategy sees the refusal and may retry
                    // (over REST until we are back).
                    self.lose_connection(now, "invalid session on a request");
                }
            }
            Inbound::Executions {
                kind,
                sequence,
                len,
            } => {
                // The stream is alive after what was acknowledged.
                if self.exec_expected_since.take().is_some() {
                    self.timers.clear(Timer::ExecConfirm);
                }
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
                            self.mark_fills_at_risk(now);
                            self.exec_seq = Some(seq);
                            self.emit_executions(kind, len);
                            self.resubscribe_executions(now);
                            return;
                        }
                        _ => self.exec_seq = Some(seq),
                    }
                }
                // In sequence (a gap returned above): fills are known good up to here.
                self.last_exec_ns = Some(now);
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
            // The private socket carries no market data (the public socket is not built yet).
            Inbound::Heartbeat
            | Inbound::Book { .. }
            | Inbound::Trade { .. }
            | Inbound::Ticker { .. } => {}
        }
    }

    /// A reply of the cold (REST) thread.
    pub fn handle_cold(&mut self, now: u64, reply: ColdReply) {
        match reply {
            ColdReply::Token(Ok(t)) => {
                self.token_pending = false;
                self.token_failures = 0;
                self.token = Some(t.token);
                self.timers
                    .set(Timer::TokenRefresh, now + self.cfg.token_refresh_ns);
                EngineStats::inc(&self.stats.tokens_fetched);
            }
            ColdReply::Token(Err(e)) => {
                self.token_pending = false;
                EngineStats::inc(&self.stats.token_failures);
                tracing::warn!(error = %e, "token fetch failed");
                // Backs off like connections do, not once a second forever.
                self.token_failures += 1;
                let delay = self.backoff.delay(self.token_failures);
                self.timers.set(Timer::Reconnect, now + delay);
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
                    recv_ns: now,
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
                self.trades_inflight_since = None;
                if complete {
                    self.trades_failures = 0;
                    self.trades_resume = None;
                } else {
                    // Read on from where it stopped (the window's end is fixed, so its pages
                    // stay put), later each time it fails.
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
                    let delay =
                        (TRADES_RETRY_NS << self.trades_failures.min(5)).min(TRADES_RETRY_MAX_NS);
                    self.timers.set(Timer::TradesFetch, now + delay);
                    if self.trades_failures == RECOVERY_FAILING_AFTER {
                        EngineStats::inc(&self.stats.recovery_failures);
                        let text = error.as_deref().unwrap_or("incomplete");
                        self.emit(Event::RecoveryFailing {
                            error: crate::protocol::messages::Text::truncating(text),
                        });
                    }
                }
                // Replayed like a snapshot's trades: fills the tracker lacks are applied, the
                // rest are recognised by exec_id.
                for report in reports {
                    self.emit(Event::RecoveredFill { report });
                }
                self.fetch_trades_at_risk(now);
                if complete && !self.trades_fetch_pending && self.fills_at_risk_since.is_none() {
                    // After the fills it delivered: on record, nothing is at risk any more.
                    self.emit(Event::FillsAtRisk { since: None });
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

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some(t) = self.timers.take_expired(now) {
            self.on_timer(now, t);
        }
    }

    /// A stop. `crash`: end as a crash does (for tests): the dead man's switch stays armed.
    /// Otherwise the switch is disarmed (over REST if the socket is down). Then the socket is
    /// closed and the cold thread told to stop.
    pub fn handle_shutdown(&mut self, now: u64, crash: bool) {
        if !crash {
            self.stats.dead_man_armed.store(false, Ordering::Release);
            if self.ready && self.cfg.dead_man_timeout_secs > 0 {
                let id = self.internal_id(now, Internal::DeadMan);
                let token = self.token.as_deref().unwrap_or("");
                encode::cancel_all_orders_after(&mut self.out, 0, token, id);
                self.queue_out();
            } else if self.cfg.dead_man_timeout_secs > 0 && self.ever_ready {
                self.cold
                    .push_back(ColdRequest::DeadMan { timeout_secs: 0 });
            }
        }
        if self.link != Link::Down {
            self.link = Link::Down;
            self.ready = false;
            self.tx.set_close(true);
        }
        self.timers = Timers::default();
        self.cold.push_back(ColdRequest::Shutdown);
    }

    // ---- rules ----------------------------------------------------------------------------

    fn on_timer(&mut self, now: u64, t: Timer) {
        match t {
            Timer::RequestDeadline => {
                // Unknown outcome, resolved by lookup, never resent.
                let mut expired = false;
                while let Some(&(deadline, id)) = self.deadlines.front() {
                    if deadline > now {
                        break;
                    }
                    self.deadlines.pop_front();
                    if self
                        .in_flight
                        .get(&id)
                        .is_some_and(|f| f.deadline_ns == deadline)
                    {
                        self.in_flight.remove(&id);
                        tracing::warn!(req_id = id.0, "request timed out: outcome unknown");
                        self.unknown_outcome(id, false);
                        expired = true;
                    }
                }
                self.arm_request_deadline();
                if expired && self.ready {
                    // What lost the answer may have lost executions frames too, the last
                    // ones before a quiet spell among them (no later frame shows that gap):
                    // a fresh snapshot and the trades since settle it.
                    self.mark_fills_at_risk(now);
                    self.resubscribe_executions(now);
                }
            }
            Timer::InternalDeadline => {
                // Our own requests have deadlines too: a subscription nobody answered is
                // asked again.
                let mut expired: arrayvec::ArrayVec<(u64, Internal), 16> = self
                    .internal
                    .iter()
                    .filter(|(_, (_, d))| *d <= now)
                    .take(16)
                    .map(|(&id, &(k, _))| (id, k))
                    .collect();
                // Hash order is not deterministic across runs: handle them in id order.
                expired.sort_unstable_by_key(|&(id, _)| id);
                for (id, kind) in expired {
                    self.internal.remove(&id);
                    if matches!(
                        kind,
                        Internal::SubscribeExecutions
                            | Internal::SubscribeBalances
                            | Internal::SubscribeInstrument
                    ) && self.link == Link::Up
                    {
                        self.subscription_failed(now, kind, "no answer");
                    }
                }
                self.arm_internal_deadline();
            }
            Timer::Watchdog => {
                if self.link != Link::Up {
                    return;
                }
                if now.saturating_sub(self.last_frame_ns) > self.cfg.watchdog_ns {
                    self.lose_connection(now, "watchdog: no frame");
                } else {
                    // Quiet for at most the watchdog time: this is after now.
                    self.timers.set(
                        Timer::Watchdog,
                        self.last_frame_ns + self.cfg.watchdog_ns + 1,
                    );
                }
            }
            Timer::KeepAlive => {
                if self.link != Link::Up {
                    return;
                }
                let quiet_after = self.last_frame_ns + self.cfg.watchdog_ns / 3;
                // Keep the connection alive and the watchdog fed when the exchange is quiet.
                if now > quiet_after && !self.internal.values().any(|(k, _)| *k == Internal::Ping) {
                    self.ping(now);
                }
                let at = if now > quiet_after {
                    now + self.cfg.watchdog_ns / 3
                } else {
                    quiet_after + 1
                };
                self.timers.set(Timer::KeepAlive, at);
            }
            Timer::QuietResync => {
                if !self.ready {
                    return;
                }
                let quiet_since = self
                    .last_exec_ns
                    .unwrap_or(0)
                    .max(self.ready_since_ns.unwrap_or(0));
                if now.saturating_sub(quiet_since) >= QUIET_RESYNC_NS {
                    EngineStats::inc(&self.stats.quiet_resyncs);
                    self.resubscribe_executions(now);
                    // The snapshot counts as hearing from the stream.
                    self.last_exec_ns = Some(now);
                    self.timers.set(Timer::QuietResync, now + QUIET_RESYNC_NS);
                } else {
                    self.timers
                        .set(Timer::QuietResync, quiet_since + QUIET_RESYNC_NS);
                }
            }
            Timer::ExecConfirm => {
                if self.exec_expected_since.take().is_some() && self.ready {
                    // Acknowledged, yet not one executions frame since: the last frames may
                    // be lost with no later one to show the gap. A fresh snapshot settles it
                    // (orders it lacks are looked up), and the trades since are read again.
                    EngineStats::inc(&self.stats.silent_stream_resyncs);
                    tracing::warn!("no executions frame after acknowledged requests: resyncing");
                    self.mark_fills_at_risk(now);
                    self.resubscribe_executions(now);
                }
            }
            Timer::SubscriptionRetry => self.retry_subscriptions(now),
            Timer::TradesFetch => self.fetch_trades_at_risk(now),
            Timer::DeadMan => {
                // Over the socket while ready; during an outage (after the first connection
                // armed it) over REST.
                if self.ready || self.ever_ready {
                    self.refresh_dead_man(now);
                }
            }
            Timer::TokenRefresh => {
                if self.token.is_some() {
                    self.request_token();
                    self.timers
                        .set(Timer::TokenRefresh, now + self.cfg.token_refresh_ns);
                }
            }
            // It woke the driver; `poll_connect` now says to connect.
            Timer::Reconnect => {}
        }
    }

    fn arm_request_deadline(&mut self) {
        match self.deadlines.front() {
            Some(&(d, _)) => self.timers.set(Timer::RequestDeadline, d),
            None => self.timers.clear(Timer::RequestDeadline),
        }
    }

    fn arm_internal_deadline(&mut self) {
        match self.internal.values().map(|&(_, d)| d).min() {
            Some(d) => self.timers.set(Timer::InternalDeadline, d),
            None => self.timers.clear(Timer::InternalDeadline),
        }
    }

    /// Pushes an event for the strategy; events carry fills and are never dropped.
    fn emit(&mut self, ev: Event) {
        self.events.push_back(ev);
    }

    /// Queues the frame in `out` for writing (nothing is written on a connection that is not
    /// up: its requests are lost with it).
    fn queue_out(&mut self) {
        if self.link != Link::Up {
            return;
        }
        self.tx.push(&self.out);
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

    fn request_token(&mut self) {
        if !self.token_pending {
            self.cold.push_back(ColdRequest::Token);
            self.token_pending = true;
        }
    }

    /// The wall clock (µs) at monotonic `t`, by the last reading of both.
    fn wall_at(&self, t: u64) -> i64 {
        let (mono, wall) = self.wall_anchor;
        wall + (t as i64 - mono as i64) / 1_000
    }

    fn internal_id(&mut self, now: u64, kind: Internal) -> u64 {
        self.next_internal += 1;
        let deadline = now + self.cfg.request_timeout_ns;
        self.internal.insert(self.next_internal, (kind, deadline));
        self.timers.set_earliest(Timer::InternalDeadline, deadline);
        self.next_internal
    }

    fn ping(&mut self, now: u64) {
        let id = self.internal_id(now, Internal::Ping);
        encode::ping(&mut self.out, id);
        self.queue_out();
    }

    /// A subscription refused or unanswered: asked again after a backoff; after a few
    /// failures in a row the connection is made again (it has its own backoff).
    fn subscription_failed(&mut self, now: u64, kind: Internal, why: &str) {
        self.sub_failures += 1;
        tracing::warn!(?why, failures = self.sub_failures, "subscription failed");
        if self.sub_failures > MAX_SUBSCRIPTION_FAILURES {
            self.sub_failures = 0;
            self.lose_connection(now, "subscriptions keep failing");
            return;
        }
        let due = now + self.backoff.delay(self.sub_failures);
        if !self.sub_retries.iter().any(|(k, _)| *k == kind) {
            self.sub_retries.push((kind, due));
            self.timers.set_earliest(Timer::SubscriptionRetry, due);
        }
    }

    /// Sends again the subscriptions whose retry is due.
    fn retry_subscriptions(&mut self, now: u64) {
        if self.link != Link::Up {
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
            self.subscribe(now, kind);
        }
        if let Some(next) = self.sub_retries.iter().map(|&(_, d)| d).min() {
            self.timers.set(Timer::SubscriptionRetry, next);
        }
    }

    /// Sends one of our subscriptions (`kind` names it).
    fn subscribe(&mut self, now: u64, kind: Internal) {
        let (sub, private) = match kind {
            Internal::SubscribeExecutions => (EXECUTIONS, true),
            Internal::SubscribeBalances => (Subscription::Balances { snapshot: true }, true),
            Internal::SubscribeInstrument => (Subscription::Instrument { snapshot: true }, false),
            _ => return,
        };
        let id = self.internal_id(now, kind);
        let token = if private { self.token.as_deref() } else { None };
        encode::subscribe(&mut self.out, &sub, token, id);
        self.queue_out();
    }

    fn subscribe_all(&mut self, now: u64) {
        self.subscribe(now, Internal::SubscribeInstrument);
        self.subscribe(now, Internal::SubscribeExecutions);
        if self.cfg.subscribe_balances {
            self.subscribe(now, Internal::SubscribeBalances);
        }
    }

    fn resubscribe_executions(&mut self, now: u64) {
        let id = self.internal_id(now, Internal::Unsubscribe);
        encode::unsubscribe(&mut self.out, &EXECUTIONS, self.token.as_deref(), id);
        self.queue_out();
        self.subscribe(now, Internal::SubscribeExecutions);
        self.exec_seq = None;
    }

    /// The connection is gone (or given up on): everything that lived on it is settled.
    fn lose_connection(&mut self, now: u64, why: &str) {
        tracing::warn!(reason = why, "disconnected");
        self.link = Link::Down;
        self.ready = false;
        // Frames not yet written die with the socket; the driver closes it.
        self.tx.clear();
        self.tx.set_close(true);
        // Kraken keeps counting down; re-armed on the next connection.
        self.stats.dead_man_armed.store(false, Ordering::Release);
        self.exec_seq = None;
        self.timers.clear(Timer::Watchdog);
        self.timers.clear(Timer::KeepAlive);
        self.timers.clear(Timer::SubscriptionRetry);
        self.sub_retries.clear();
        self.exec_expected_since = None;
        self.timers.clear(Timer::ExecConfirm);
        self.timers.clear(Timer::QuietResync);
        // Requests die with the connection: no answer to them can come on another one. The
        // strategy's become unknown outcomes now (looked up, never resent), not at their
        // deadlines. In the order they were sent.
        self.internal.clear();
        self.timers.clear(Timer::InternalDeadline);
        while let Some((_, id)) = self.deadlines.pop_front() {
            if self.in_flight.remove(&id).is_some() {
                self.unknown_outcome(id, true);
            }
        }
        // (None is left: every request in flight has its entry in `deadlines`.)
        self.in_flight.clear();
        self.timers.clear(Timer::RequestDeadline);
        self.mark_fills_at_risk(now);
        // A fresh token for the next connection.
        self.token = None;
        self.timers.clear(Timer::TokenRefresh);
        self.request_token();
        self.set_state(ConnectionState::Disconnected);
        // Counted after the event is queued: a reader of the count finds the event.
        EngineStats::inc(&self.stats.disconnects);
        if self
            .ready_since_ns
            .is_some_and(|t| now.saturating_sub(t) >= STABLE_SESSION_NS)
        {
            self.attempts = 0;
        }
        self.ready_since_ns = None;
        let delay = self.backoff.delay(self.attempts);
        self.timers.set(Timer::Reconnect, now + delay);
    }

    /// The executions snapshot replays only the last 50 fills: whatever traded while we were
    /// away beyond that is fetched from the trade history once we are subscribed again.
    fn mark_fills_at_risk(&mut self, now: u64) {
        // From the last executions frame known good (a gap or a silent drop may be noticed
        // late), with a margin for the exchange's clock and for fills already on the wire.
        let quiet_us = self.last_exec_ns.map_or(0, |t| {
            (now.saturating_sub(t) / 1_000).min(MAX_QUIET_LOOKBACK_US)
        });
        let since = Timestamp(self.wall_at(now) - quiet_us as i64 - FILL_RECOVERY_MARGIN_US);
        self.restore_fills_at_risk(since);
        // A new loss: the window grows, its reading starts over.
        self.trades_resume = None;
    }

    /// Fills from `since` (exchange time) on may have been made while no process listened
    /// (read from the journal of the process before): the trade history from there is read
    /// once subscribed, beyond the 50 fills the snapshot replays. Those already on record are
    /// duplicates; the others are delivered as recovered.
    ///
    /// `exchange_time`: `since` is the exchange's own time of the last fill on record, and
    /// the executions stream is sequenced, so every fill not on record is at or after it (a
    /// second's margin for fills stamped in the same instant); otherwise it is our clock (the
    /// last record's), and the margin covers the clocks' offset.
    pub(crate) fn recover_fills_since(&mut self, since: Timestamp, exchange_time: bool) {
        let margin = if exchange_time {
            LOOKUP_MARGIN_US
        } else {
            FILL_RECOVERY_MARGIN_US
        };
        self.restore_fills_at_risk(Timestamp(since.0 - margin));
    }

    /// Fills at risk since `since` (as journaled by a process that died before reading them
    /// back: a margin already in it).
    pub(crate) fn recover_fills_since_at_risk(&mut self, since: Timestamp) {
        self.restore_fills_at_risk(since);
    }

    fn restore_fills_at_risk(&mut self, since: Timestamp) {
        let earliest = self.fills_at_risk_since.map_or(since, |s| s.min(since));
        self.fills_at_risk_since = Some(earliest);
        // On record for a process started after this one dies: the earliest time still to be
        // read, counting a read in flight.
        let on_record = self
            .trades_inflight_since
            .map_or(earliest, |s| s.min(earliest));
        self.emit(Event::FillsAtRisk {
            since: Some(on_record),
        });
    }

    /// Asks the cold thread for the trades of a window at risk, once subscribed again.
    fn fetch_trades_at_risk(&mut self, now: u64) {
        if !self.ready
            || self.trades_fetch_pending
            || self.timers.get(Timer::TradesFetch).is_some_and(|t| t > now)
        {
            return;
        }
        if let Some(since) = self.fills_at_risk_since.take() {
            EngineStats::inc(&self.stats.reconciliations);
            self.trades_fetch_pending = true;
            self.trades_inflight_since = Some(since);
            // Up to now (exchange time, with a margin): after that the stream is live again.
            let offset = self.exchange_offset_us.unwrap_or(0);
            let (end, ofs) = self.trades_resume.unwrap_or((
                Timestamp(self.wall_at(now) + offset + FILL_RECOVERY_MARGIN_US),
                0,
            ));
            self.cold.push_back(ColdRequest::Trades { since, end, ofs });
        }
    }

    /// Reports a request's outcome as unknown; the strategy side looks its orders up. Never
    /// resent.
    fn unknown_outcome(&mut self, req_id: RequestId, disconnected: bool) {
        EngineStats::inc(&self.stats.unknown_outcomes);
        self.emit(Event::UnknownOutcome {
            req_id,
            disconnected,
        });
    }

    /// Asks the cold thread to look `target` up; `since_ns` (monotonic, 0: unknown) is when
    /// it was submitted, turned into the exchange's wall clock with a margin.
    fn lookup(&mut self, now: u64, target: OrderRef, since_ns: u64, deadline: Option<Timestamp>) {
        EngineStats::inc(&self.stats.reconciliations);
        let (since, until) = self.window(now, since_ns, deadline);
        self.cold.push_back(ColdRequest::Lookup {
            target,
            since: Timestamp(since),
            until: Timestamp(until),
        });
    }

    /// The window (exchange time, µs) the exchange can have opened an order in: from its
    /// submission at `since_ns` (monotonic, 0: unknown) to the deadline its request carried.
    fn window(&self, now: u64, since_ns: u64, deadline: Option<Timestamp>) -> (i64, i64) {
        // The window the exchange can have opened it in, bounded at both ends around its
        // submission: from then to its `deadline` (every order request carries one, and the
        // exchange refuses it after that, even when a connection was lost with it in flight);
        // widened by the measured clock offset and a second (10 s before any measurement).
        // Small windows read completely, so "not found" after the window closed means not
        // placed. In the exchange's time: our clock shifted by the measured offset.
        let (offset, margin) = self
            .exchange_offset_us
            .map_or((0, FILL_RECOVERY_MARGIN_US), |o| (o, LOOKUP_MARGIN_US));
        let ex_now = self.wall_at(now) + offset;
        let (since, until) = if let (0, Some(d)) = (since_ns, deadline) {
            // Submitted before this process began (an intent read back from the journal):
            // its deadline alone bounds it, at both ends. It carried at most an order
            // deadline from its submission (under 60 s whatever that process's settings
            // were), and the exchange refuses it after that.
            (
                d.0.saturating_sub(MAX_ORDER_DEADLINE_US + margin),
                d.0.saturating_add(margin),
            )
        } else if since_ns == 0 || since_ns > now {
            (ex_now - LOOKUP_LOOKBACK_US, ex_now + margin)
        } else {
            let submitted = (self.wall_at(since_ns) + offset).max(ex_now - LOOKUP_LOOKBACK_US);
            let last = since_ns.saturating_add(self.cfg.order_deadline_ns);
            (
                submitted - margin,
                (self.wall_at(last) + offset + margin).max(submitted),
            )
        };
        // The deadline its request carried is the exchange's own bound: the window reaches
        // it whatever our clock offset measures now (a slow network inflates it, then it
        // shrinks back).
        match deadline {
            Some(d) => (
                since.min(d.0 - self.cfg.order_deadline_ns as i64 / 1_000 - margin),
                until.max(d.0 + margin),
            ),
            None => (since, until),
        }
    }

    /// A response to one of the strategy's requests.
    fn on_response(&mut self, now: u64, id: RequestId, r: Response) {
        if r.error_kind == Some(KrakenErrorKind::DeadlineElapsed)
            && !self.internal.values().any(|(k, _)| *k == Internal::Ping)
        {
            // Our deadlines follow the exchange's clock as last measured: measure it again
            // (one ping at a time, however many requests were refused).
            self.ping(now);
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
        let batch_orders = self.decoder.batch().iter().any(|b| b.order_id.is_some());
        if r.success
            && causes_executions(&r, batch_orders)
            && self.ready
            && self.last_exec_ns.is_none_or(|t| t < sent_ns)
        {
            self.exec_expected_since =
                Some(self.exec_expected_since.map_or(sent_ns, |t| t.min(sent_ns)));
            if self.timers.get(Timer::ExecConfirm).is_none() {
                self.timers.set(Timer::ExecConfirm, now + EXEC_CONFIRM_NS);
            }
        }
        if f.responses == 0 || !r.success {
            self.in_flight.remove(&id);
            // Answered requests at the front of the deadline queue leave it now, so it stays
            // as short as what is in flight.
            while let Some(&(_, front)) = self.deadlines.front() {
                if self.in_flight.contains_key(&front) {
                    break;
                }
                self.deadlines.pop_front();
            }
            self.arm_request_deadline();
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
                recv_ns: self.frame_ns,
            });
        }
        if snapshot {
            self.emit(Event::SnapshotEnd);
        }
    }

    fn on_internal(&mut self, now: u64, id: u64, r: &Response) {
        let Some((kind, deadline)) = self.internal.remove(&id) else {
            return;
        };
        // The exchange's clock, from its receive time on our own requests (off the hot path):
        // lookups search windows of exchange time.
        if let Some(t_in) = r.time_in {
            // Its receive time less our send time: the offset plus a one-way trip, an upper
            // bound (deadlines are stamped with it, so they are never early). Its send time
            // less our receive time: a lower bound (whether a deadline has certainly passed
            // at the exchange is judged with it).
            let sent = deadline.saturating_sub(self.cfg.request_timeout_ns);
            let offset = t_in.0 - self.wall_at(sent);
            let lower = r.time_out.unwrap_or(t_in).0 - self.wall_at(now);
            self.exchange_offset_us = Some(offset);
            self.stats
                .exchange_offset_us
                .store(offset, Ordering::Relaxed);
            self.stats
                .exchange_offset_lo_us
                .store(lower.min(offset), Ordering::Relaxed);
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
                    self.ready_since_ns = Some(now);
                    self.timers.set(Timer::QuietResync, now + QUIET_RESYNC_NS);
                    tracing::info!("executions subscribed: orders go over the WebSocket");
                    self.set_state(ConnectionState::Ready);
                    self.refresh_dead_man(now);
                }
                // Subscribed again after a loss: the fills of the window, from REST (the
                // tracker drops the ones it already has by exec_id).
                self.fetch_trades_at_risk(now);
            }
            (Internal::SubscribeExecutions | Internal::SubscribeBalances, false)
                if r.error_kind == Some(KrakenErrorKind::InvalidSession) =>
            {
                // The token is no good: reconnect with a fresh one.
                self.lose_connection(now, "invalid session");
            }
            (
                Internal::SubscribeExecutions
                | Internal::SubscribeBalances
                | Internal::SubscribeInstrument,
                false,
            ) => {
                let why = r.error.map(|e| e.to_string()).unwrap_or_default();
                self.subscription_failed(now, kind, &why);
            }
            (Internal::DeadMan, true) => {
                self.stats.dead_man_armed.store(true, Ordering::Release);
            }
            (Internal::DeadMan, false) if r.error_kind == Some(KrakenErrorKind::InvalidSession) => {
                self.lose_connection(now, "invalid session");
            }
            _ => {}
        }
        self.arm_internal_deadline();
    }

    fn refresh_dead_man(&mut self, now: u64) {
        if self.cfg.dead_man_timeout_secs == 0 {
            return;
        }
        self.timers
            .set(Timer::DeadMan, now + self.cfg.dead_man_refresh_ns + 1);
        if !self.ready {
            // The socket is down but orders may live (some placed over REST meanwhile): keep
            // the switch armed over REST, or it fires on them, and then protects nothing.
            if !self.dead_man_rest_pending {
                self.cold.push_back(ColdRequest::DeadMan {
                    timeout_secs: self.cfg.dead_man_timeout_secs,
                });
                self.dead_man_rest_pending = true;
            }
            return;
        }
        let id = self.internal_id(now, Internal::DeadMan);
        let token = self.token.as_deref().unwrap_or("");
        encode::cancel_all_orders_after(&mut self.out, self.cfg.dead_man_timeout_secs, token, id);
        self.queue_out();
        EngineStats::inc(&self.stats.dead_man_refreshes);
    }
}

/// Whether an acknowledged request changes orders, so executions frames follow it.
fn causes_executions(r: &Response, batch_orders: bool) -> bool {
    use crate::protocol::messages::Method;
    match (r.method, r.result) {
        // Validate-only: no order.
        (Method::AddOrder, AckResult::Order { order_id, .. }) => order_id.is_some(),
        (Method::BatchAdd, _) => batch_orders,
        (Method::AmendOrder | Method::EditOrder | Method::CancelOrder, _) => true,
        (Method::CancelAll | Method::BatchCancel, AckResult::Count(n)) => n > 0,
        (Method::BatchCancel, _) => true,
        _ => false,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

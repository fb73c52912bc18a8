//! The public socket's session, sans-IO (as the private one in `engine::session`): it takes
//! `now`, the socket's events and the strategy's [`MarketCommand`]s, and returns frames to
//! write, events for the strategy and its next wake-up. The I/O thread only moves bytes.
//!
//! What it decides:
//! - **When to connect.** Only while something is subscribed; after a loss, after a jittered
//!   backoff that doubles and resets only once a connection stayed up 30 s. Independent of
//!   the private socket: either can be down while the other trades.
//! - **Subscriptions.** One request per pair and channel (Kraken answers each pair on its
//!   own), sent again on every new connection; one that is refused or unanswered is asked
//!   again after a backoff, and given up (reported) after [`MAX_SUB_FAILURES`].
//! - **Liveness.** Kraken sends a heartbeat a second on a subscribed public socket; a quiet
//!   one gets a ping, and one silent for the watchdog's time is dropped and made again.
//! - **Books.** Frames go to the strategy side in [`BookChunk`]s, where the book is kept and
//!   its checksum checked (so the strategy reads it without locks); a wrong book comes back as
//!   [`MarketCommand::ResyncBook`], answered with an unsubscribe and a subscribe (a new
//!   snapshot).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::engine::msg::{BOOK_CHUNK, BookChunk, ConnectionState, Event, MarketCommand};
pub use crate::engine::outbox::Transmit;
use crate::engine::outbox::{Backoff, Outbox};
use crate::engine::stats::EngineStats;
use crate::engine::timers::{Timer, Timers};
use crate::error::DecodeError;
use crate::ids::{SymbolId, SymbolTable};
use crate::protocol::decode::Decoder;
use crate::protocol::encode::{self, MarketChannel};
use crate::protocol::messages::{BookLevel, FrameKind, Inbound, Text};

/// A subscription refused or unanswered this many times in a row is given up.
pub const MAX_SUB_FAILURES: u32 = 5;
/// A book resubscribed this many times in a row (each within [`RESYNC_WINDOW_NS`] of the
/// last) is given up: its frames keep failing their checksum, and asking again will not help.
pub const MAX_RESYNCS: u32 = 10;
/// Resyncs further apart than this are not "in a row".
const RESYNC_WINDOW_NS: u64 = 60_000_000_000;
/// A connection up this long resets the reconnect backoff.
const STABLE_NS: u64 = 30_000_000_000;

/// The public session's settings.
#[derive(Clone, Copy, Debug)]
pub struct MarketConfig {
    /// No frame for this long: the connection is dead.
    pub watchdog_ns: u64,
    /// A subscription or ping unanswered for this long has failed.
    pub request_timeout_ns: u64,
    /// Reconnect backoff bounds (jittered, doubling).
    pub backoff_min_ns: u64,
    /// See `backoff_min_ns`.
    pub backoff_max_ns: u64,
    /// Seeds the jitter.
    pub seed: u64,
}

impl Default for MarketConfig {
    /// The engine's defaults: a 10 s watchdog (Kraken sends a heartbeat a second), 5 s for
    /// an answer, reconnects backing off from 100 ms to 10 s.
    fn default() -> Self {
        Self {
            watchdog_ns: 10_000_000_000,
            request_timeout_ns: 5_000_000_000,
            backoff_min_ns: 100_000_000,
            backoff_max_ns: 10_000_000_000,
            seed: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SubState {
    /// Wanted, not asked on this connection yet (or waiting for its retry).
    Idle,
    /// Asked; the answer is due by `deadline`.
    Pending { req_id: u64, deadline: u64 },
    /// Acknowledged.
    Live,
    /// Refused too often: not asked again.
    GaveUp,
}

#[derive(Clone, Copy, Debug)]
struct Sub {
    symbol: SymbolId,
    channel: MarketChannel,
    state: SubState,
    failures: u32,
    /// When an `Idle` one is asked (again).
    retry_at: u64,
    /// Book resyncs in a row, and when the last was asked.
    resyncs: u32,
    last_resync: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Down,
    Connecting,
    Up,
}

/// See the module documentation.
pub struct MarketSession {
    cfg: MarketConfig,
    symbols: SymbolTable,
    stats: Arc<EngineStats>,
    decoder: Decoder,
    timers: Timers,
    link: Link,
    attempts: u32,
    up_since: u64,
    /// Reconnect and retry delays.
    backoff: Backoff,
    subs: Vec<Sub>,
    next_id: u64,
    /// A ping's id and deadline.
    ping: Option<(u64, u64)>,
    last_frame_ns: u64,
    /// Every wanted subscription acknowledged on this connection (reported once).
    ready: bool,
    tx: Outbox,
    out: Vec<u8>,
    events: VecDeque<Event>,
}

impl MarketSession {
    /// A session with nothing subscribed (it connects once something is).
    pub fn new(cfg: MarketConfig, symbols: SymbolTable, stats: Arc<EngineStats>, now: u64) -> Self {
        let mut decoder = Decoder::new();
        decoder.reserve(256 * 1024, 1024);
        Self {
            backoff: Backoff::new(cfg.backoff_min_ns, cfg.backoff_max_ns, cfg.seed),
            cfg,
            symbols,
            stats,
            decoder,
            timers: Timers::default(),
            link: Link::Down,
            attempts: 0,
            up_since: now,
            subs: Vec::with_capacity(64),
            next_id: 1,
            ping: None,
            last_frame_ns: now,
            ready: false,
            tx: Outbox::with_capacity(16 * 1024, 256),
            out: Vec::with_capacity(1024),
            // A 1,000-level snapshot is 2,000 levels: 125 chunks a side.
            events: VecDeque::with_capacity(4096),
        }
    }

    // ---- what the driver asks -------------------------------------------------------------

    /// When the session next needs [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Whether to open the socket now (something is subscribed, the backoff has passed).
    pub fn poll_connect(&mut self, now: u64) -> bool {
        if self.link != Link::Down
            || self.timers.get(Timer::Reconnect).is_some_and(|t| t > now)
            || !self.subs.iter().any(|s| s.state != SubState::GaveUp)
        {
            return false;
        }
        self.timers.clear(Timer::Reconnect);
        self.attempts += 1;
        self.link = Link::Connecting;
        self.events
            .push_back(Event::MarketConnection(ConnectionState::Connecting(
                self.attempts,
            )));
        true
    }

    /// The next frame to write, or the order to close the socket.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        self.tx.poll()
    }

    /// The next event for the strategy.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Gives back an event the driver could not deliver; it comes out first next time.
    pub fn unpoll_event(&mut self, ev: Event) {
        self.events.push_front(ev);
    }

    /// Whether the socket is up.
    pub fn is_connected(&self) -> bool {
        self.link == Link::Up
    }

    // ---- what happened --------------------------------------------------------------------

    /// The socket connected.
    pub fn handle_connected(&mut self, now: u64) {
        self.link = Link::Up;
        self.up_since = now;
        self.last_frame_ns = now;
        self.tx.set_close(false);
        self.ready = false;
        self.ping = None;
        EngineStats::inc(&self.stats.market_connects);
        self.events
            .push_back(Event::MarketConnection(ConnectionState::Connected));
        self.timers.set(Timer::Watchdog, now + self.cfg.watchdog_ns);
        self.timers
            .set(Timer::KeepAlive, now + self.cfg.watchdog_ns / 3);
        for i in 0..self.subs.len() {
            if self.subs[i].state != SubState::GaveUp {
                self.subs[i].state = SubState::Idle;
                self.send_subscribe(now, i);
            }
        }
    }

    /// The connection attempt failed.
    pub fn handle_connect_failed(&mut self, now: u64, why: &str) {
        tracing::warn!(
            error = why,
            attempt = self.attempts,
            "public socket: connect failed"
        );
        self.link = Link::Down;
        self.events
            .push_back(Event::MarketConnection(ConnectionState::Disconnected));
        let delay = self.backoff.delay(self.attempts);
        self.timers.set(Timer::Reconnect, now + delay);
    }

    /// The transport failed or the peer closed.
    pub fn handle_disconnected(&mut self, now: u64, why: &str) {
        if self.link != Link::Down {
            self.lose_connection(now, why);
            self.tx.set_close(false);
        }
    }

    /// The driver is not reading (the strategy's ring is full): not the exchange's silence.
    pub fn handle_reading_paused(&mut self, now: u64) {
        self.last_frame_ns = now;
    }

    /// A control frame (ping, pong) arrived.
    pub fn handle_control_frame(&mut self, now: u64) {
        self.last_frame_ns = now;
    }

    /// A command of the strategy's.
    pub fn handle_command(&mut self, now: u64, cmd: MarketCommand) {
        match cmd {
            MarketCommand::Subscribe { symbol, channel } => {
                if let Some(i) = self.find(symbol, channel) {
                    if self.subs[i].channel == channel && self.subs[i].state != SubState::GaveUp {
                        return;
                    }
                    // Another depth: the old one goes first.
                    self.send_unsubscribe(now, i);
                    self.subs.swap_remove(i);
                }
                self.subs.push(Sub {
                    symbol,
                    channel,
                    state: SubState::Idle,
                    failures: 0,
                    retry_at: now,
                    resyncs: 0,
                    last_resync: 0,
                });
                self.ready = false;
                let i = self.subs.len() - 1;
                self.send_subscribe(now, i);
            }
            MarketCommand::Unsubscribe { symbol, channel } => {
                if let Some(i) = self.find(symbol, channel) {
                    self.send_unsubscribe(now, i);
                    self.subs.swap_remove(i);
                    self.arm_deadline();
                    self.arm_retry();
                    self.check_ready();
                }
            }
            MarketCommand::ResyncBook { symbol } => {
                let Some(i) = self.find(symbol, MarketChannel::Book { depth: 0 }) else {
                    return;
                };
                if self.link != Link::Up || self.subs[i].state == SubState::GaveUp {
                    // A reconnect subscribes anew, with a snapshot.
                    return;
                }
                // In a row: backing off, and given up after `MAX_RESYNCS`.
                let s = &mut self.subs[i];
                // (The first has `resyncs` 0: 0 + 1 either way.)
                s.resyncs = if now.saturating_sub(s.last_resync) < RESYNC_WINDOW_NS {
                    s.resyncs + 1
                } else {
                    1
                };
                s.last_resync = now;
                let resyncs = s.resyncs;
                EngineStats::inc(&self.stats.book_resyncs);
                self.send_unsubscribe(now, i);
                if resyncs > MAX_RESYNCS {
                    let channel = self.subs[i].channel;
                    self.subs[i].state = SubState::GaveUp;
                    tracing::warn!(resyncs, "book keeps failing its checksum: given up");
                    self.events.push_back(Event::MarketSubscription {
                        symbol,
                        channel,
                        error: Some(Text::truncating("the book keeps failing its checksum")),
                        gave_up: true,
                    });
                    self.arm_deadline();
                    return;
                }
                self.subs[i].state = SubState::Idle;
                self.subs[i].retry_at = if resyncs <= 1 {
                    now
                } else {
                    now + self.backoff.base(resyncs - 1)
                };
                self.send_subscribe(now, i);
            }
        }
    }

    /// A text frame read at `now`.
    pub fn handle_frame(&mut self, now: u64, frame: &[u8]) {
        self.last_frame_ns = now;
        EngineStats::inc(&self.stats.market_frames_in);
        let msg = match self.decoder.decode(frame, &self.symbols) {
            Ok(m) => m,
            Err(e) => {
                EngineStats::inc(&self.stats.decode_errors);
                if e == DecodeError::NotJson {
                    EngineStats::inc(&self.stats.non_json_frames);
                }
                self.events.push_back(Event::DecodeError(e));
                return;
            }
        };
        match msg {
            Inbound::Book {
                kind,
                symbol,
                checksum,
                timestamp,
            } => {
                // Only while the subscription is acknowledged: before that, what arrives
                // belongs to the one it replaced (another depth, or a resync's unsubscribe:
                // Kraken answers in order, and the new snapshot follows the new ack).
                // Unsubscribed pairs (frames in flight) and pairs not asked for are dropped.
                if !self
                    .find(symbol, MarketChannel::Book { depth: 0 })
                    .is_some_and(|i| self.subs[i].state == SubState::Live)
                {
                    return;
                }
                self.emit_book(now, symbol, kind, checksum, timestamp);
            }
            Inbound::Trade { kind, .. } => {
                for &trade in self.decoder.trades() {
                    if self.find(trade.symbol, MarketChannel::Trade).is_some() {
                        self.events.push_back(Event::Trade {
                            trade,
                            snapshot: kind == FrameKind::Snapshot,
                            recv_ns: now,
                        });
                    }
                }
            }
            Inbound::Ticker { .. } => {
                for &ticker in self.decoder.tickers() {
                    if self.find(ticker.symbol, MarketChannel::Ticker).is_some() {
                        self.events.push_back(Event::Ticker {
                            ticker,
                            recv_ns: now,
                        });
                    }
                }
            }
            Inbound::Response(r) => {
                let Some(id) = r.req_id else {
                    return;
                };
                if self.ping.is_some_and(|(p, _)| p == id) {
                    self.ping = None;
                    return;
                }
                let Some(i) = self.subs.iter().position(
                    |s| matches!(s.state, SubState::Pending { req_id, .. } if req_id == id),
                ) else {
                    // An unsubscribe's answer, or one for a subscription since replaced.
                    return;
                };
                if r.success {
                    let s = &mut self.subs[i];
                    s.state = SubState::Live;
                    s.failures = 0;
                    let (symbol, channel) = (s.symbol, s.channel);
                    self.events.push_back(Event::MarketSubscription {
                        symbol,
                        channel,
                        error: None,
                        gave_up: false,
                    });
                    self.check_ready();
                } else {
                    let why = r.error.unwrap_or_else(|| Text::truncating("refused"));
                    self.sub_failed(now, i, why);
                }
            }
            // Heartbeats only feed the watchdog; the private socket reports the status.
            _ => {}
        }
        self.arm_deadline();
    }

    /// Timers due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some(t) = self.timers.take_expired(now) {
            match t {
                Timer::Watchdog => {
                    if self.link != Link::Up {
                        continue;
                    }
                    let due = self.last_frame_ns + self.cfg.watchdog_ns;
                    if due <= now {
                        self.lose_connection(now, "public socket silent");
                    } else {
                        self.timers.set(Timer::Watchdog, due);
                    }
                }
                Timer::KeepAlive => {
                    if self.link != Link::Up {
                        continue;
                    }
                    let quiet = self.last_frame_ns + self.cfg.watchdog_ns / 3;
                    if quiet > now {
                        self.timers.set(Timer::KeepAlive, quiet);
                        continue;
                    }
                    if self.ping.is_none() {
                        self.next_id += 1;
                        let id = self.next_id;
                        self.ping = Some((id, now + self.cfg.request_timeout_ns));
                        encode::ping(&mut self.out, id);
                        self.queue_out();
                        self.arm_deadline();
                    }
                    self.timers
                        .set(Timer::KeepAlive, now + self.cfg.watchdog_ns / 3);
                }
                Timer::InternalDeadline => {
                    if self.ping.is_some_and(|(_, d)| d <= now) {
                        // The watchdog decides; a lost pong alone is no reason to drop.
                        self.ping = None;
                    }
                    for i in 0..self.subs.len() {
                        if matches!(self.subs[i].state, SubState::Pending { deadline, .. } if deadline <= now)
                        {
                            self.sub_failed(now, i, Text::truncating("no answer"));
                        }
                    }
                    self.arm_deadline();
                }
                Timer::SubscriptionRetry => {
                    for i in 0..self.subs.len() {
                        let s = self.subs[i];
                        if s.state == SubState::Idle && s.retry_at <= now {
                            self.send_subscribe(now, i);
                        }
                    }
                    self.arm_retry();
                }
                _ => {}
            }
        }
    }

    /// A stop: the socket is closed.
    pub fn handle_shutdown(&mut self) {
        if self.link != Link::Down {
            self.link = Link::Down;
            self.tx.set_close(true);
        }
        self.timers = Timers::default();
    }

    // ---- rules ----------------------------------------------------------------------------

    /// The subscription of `symbol` to `channel`'s kind (a book at any depth).
    fn find(&self, symbol: SymbolId, channel: MarketChannel) -> Option<usize> {
        let same =
            |c: MarketChannel| std::mem::discriminant(&c) == std::mem::discriminant(&channel);
        self.subs
            .iter()
            .position(|s| s.symbol == symbol && same(s.channel))
    }

    fn send_subscribe(&mut self, now: u64, i: usize) {
        if self.link != Link::Up || self.subs[i].retry_at > now {
            self.arm_retry();
            return;
        }
        let name = self.symbols.name(self.subs[i].symbol);
        self.next_id += 1;
        let req_id = self.next_id;
        encode::market_subscription(&mut self.out, true, self.subs[i].channel, name, req_id);
        self.subs[i].state = SubState::Pending {
            req_id,
            deadline: now + self.cfg.request_timeout_ns,
        };
        self.queue_out();
        self.arm_deadline();
    }

    fn send_unsubscribe(&mut self, _now: u64, i: usize) {
        if self.link != Link::Up
            || !matches!(
                self.subs[i].state,
                SubState::Live | SubState::Pending { .. }
            )
        {
            return;
        }
        let name = self.symbols.name(self.subs[i].symbol);
        self.next_id += 1;
        encode::market_subscription(
            &mut self.out,
            false,
            self.subs[i].channel,
            name,
            self.next_id,
        );
        self.queue_out();
    }

    fn sub_failed(&mut self, now: u64, i: usize, why: Text) {
        let s = &mut self.subs[i];
        s.failures += 1;
        let gave_up = s.failures >= MAX_SUB_FAILURES;
        tracing::warn!(
            error = why.as_str(),
            failures = s.failures,
            gave_up,
            "market-data subscription failed"
        );
        let (symbol, channel, failures) = (s.symbol, s.channel, s.failures);
        if gave_up {
            s.state = SubState::GaveUp;
        } else {
            s.state = SubState::Idle;
            s.retry_at = now + self.backoff.base(failures);
        }
        self.events.push_back(Event::MarketSubscription {
            symbol,
            channel,
            error: Some(why),
            gave_up,
        });
        self.arm_retry();
        self.check_ready();
    }

    fn check_ready(&mut self) {
        if !self.ready
            && self.link == Link::Up
            && self
                .subs
                .iter()
                .all(|s| matches!(s.state, SubState::Live | SubState::GaveUp))
        {
            self.ready = true;
            self.events
                .push_back(Event::MarketConnection(ConnectionState::Ready));
        }
    }

    fn arm_deadline(&mut self) {
        let subs = self.subs.iter().filter_map(|s| match s.state {
            SubState::Pending { deadline, .. } => Some(deadline),
            _ => None,
        });
        match subs.chain(self.ping.map(|(_, d)| d)).min() {
            Some(d) => self.timers.set(Timer::InternalDeadline, d),
            None => self.timers.clear(Timer::InternalDeadline),
        }
    }

    fn arm_retry(&mut self) {
        if self.link != Link::Up {
            self.timers.clear(Timer::SubscriptionRetry);
            return;
        }
        match self
            .subs
            .iter()
            .filter(|s| s.state == SubState::Idle)
            .map(|s| s.retry_at)
            .min()
        {
            Some(t) => self.timers.set(Timer::SubscriptionRetry, t),
            None => self.timers.clear(Timer::SubscriptionRetry),
        }
    }

    /// The frame's levels, in chunks: bids then asks, the first chunk marked, the last too.
    fn emit_book(
        &mut self,
        now: u64,
        symbol: SymbolId,
        kind: FrameKind,
        checksum: Option<u32>,
        timestamp: Option<crate::time::Timestamp>,
    ) {
        EngineStats::inc(&self.stats.book_frames);
        let (bids, asks) = (self.decoder.book_bids(), self.decoder.book_asks());
        let mut chunk = BookChunk {
            symbol,
            kind,
            first: true,
            last: false,
            n_bids: 0,
            n_asks: 0,
            levels: [BookLevel::default(); BOOK_CHUNK],
            checksum,
            timestamp,
            recv_ns: now,
        };
        let total = bids.len() + asks.len();
        let mut n = 0;
        for (i, (&l, bid)) in bids
            .iter()
            .map(|l| (l, true))
            .chain(asks.iter().map(|l| (l, false)))
            .enumerate()
        {
            chunk.levels[n] = l;
            n += 1;
            if bid {
                chunk.n_bids += 1;
            } else {
                chunk.n_asks += 1;
            }
            if n == BOOK_CHUNK && i + 1 < total {
                self.events.push_back(Event::Book(chunk));
                chunk.first = false;
                chunk.n_bids = 0;
                chunk.n_asks = 0;
                n = 0;
            }
        }
        chunk.last = true;
        self.events.push_back(Event::Book(chunk));
    }

    fn queue_out(&mut self) {
        if self.link != Link::Up {
            return;
        }
        self.tx.push(&self.out);
    }

    fn lose_connection(&mut self, now: u64, why: &str) {
        tracing::warn!(reason = why, "public socket: disconnected");
        if now.saturating_sub(self.up_since) >= STABLE_NS {
            self.attempts = 0;
        }
        self.link = Link::Down;
        self.ready = false;
        self.ping = None;
        self.tx.clear();
        self.tx.set_close(true);
        for s in &mut self.subs {
            if s.state != SubState::GaveUp {
                s.state = SubState::Idle;
                s.retry_at = now;
            }
        }
        EngineStats::inc(&self.stats.market_disconnects);
        self.events
            .push_back(Event::MarketConnection(ConnectionState::Disconnected));
        for t in [
            Timer::Watchdog,
            Timer::KeepAlive,
            Timer::InternalDeadline,
            Timer::SubscriptionRetry,
        ] {
            self.timers.clear(t);
        }
        let delay = self.backoff.delay(self.attempts);
        self.timers.set(Timer::Reconnect, now + delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    fn session() -> MarketSession {
        let cfg = MarketConfig {
            seed: 7,
            ..MarketConfig::default()
        };
        let syms = SymbolTable::from_names(["BTC/USD", "ETH/USD"]);
        MarketSession::new(cfg, syms, Arc::new(EngineStats::default()), 0)
    }

    const BTC: SymbolId = SymbolId(0);
    const BOOK10: MarketChannel = MarketChannel::Book { depth: 10 };

    fn sent(s: &mut MarketSession) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(t) = s.poll_transmit() {
            match t {
                Transmit::Text(b) => v.push(String::from_utf8(b.to_vec()).unwrap()),
                Transmit::Close => v.push("CLOSE".into()),
            }
        }
        v
    }

    fn events(s: &mut MarketSession) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn req_id(frame: &str) -> u64 {
        let v: serde_json::Value = serde_json::from_str(frame).unwrap();
        v["req_id"].as_u64().unwrap()
    }

    fn ack(s: &mut MarketSession, now: u64, id: u64, ok: bool) {
        let f = if ok {
            format!(
                r#"{{"method":"subscribe","req_id":{id},"result":{{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"}},"success":true,"time_in":"2026-12-02T10:00:00.000000Z","time_out":"2026-12-02T10:00:00.000001Z"}}"#
            )
        } else {
            format!(
                r#"{{"method":"subscribe","req_id":{id},"error":"EGeneral:Internal error","success":false,"time_in":"2026-12-02T10:00:00.000000Z","time_out":"2026-12-02T10:00:00.000001Z"}}"#
            )
        };
        s.handle_frame(now, f.as_bytes());
    }

    /// Subscribes BTC/USD's book and connects; returns the subscribe request's id.
    fn connected_with_book(s: &mut MarketSession) -> u64 {
        s.handle_command(
            0,
            MarketCommand::Subscribe {
                symbol: BTC,
                channel: BOOK10,
            },
        );
        assert!(s.poll_connect(0));
        s.handle_connected(MS);
        let out = sent(s);
        assert_eq!(out.len(), 1);
        req_id(&out[0])
    }

    /// Subscribes BTC/USD's book and ETH/USD's trades and connects; returns the two
    /// subscribe requests' ids.
    fn connected_with_book_and_trade(s: &mut MarketSession) -> (u64, u64) {
        s.handle_command(
            0,
            MarketCommand::Subscribe {
                symbol: BTC,
                channel: BOOK10,
            },
        );
        let trade = MarketCommand::Subscribe {
            symbol: SymbolId(1),
            channel: MarketChannel::Trade,
        };
        s.handle_command(0, trade);
        assert!(s.poll_connect(0));
        s.handle_connected(MS);
        let out = sent(s);
        assert_eq!(out.len(), 2);
        (req_id(&out[0]), req_id(&out[1]))
    }

    /// Refuses the subscription asked as `id` at `now`, and each time it is asked again,
    /// until it is given up, keeping the socket alive meanwhile; returns the time then.
    fn refuse_until_given_up(s: &mut MarketSession, mut now: u64, mut id: u64) -> u64 {
        for n in 1..=MAX_SUB_FAILURES {
            ack(s, now, id, false);
            if n == MAX_SUB_FAILURES {
                break;
            }
            let f = loop {
                now = s.poll_timeout().unwrap();
                s.handle_frame(now, br#"{"channel":"heartbeat"}"#);
                s.handle_timeout(now);
                if let Some(f) = sent(s)
                    .into_iter()
                    .find(|f| f.contains(r#""method":"subscribe""#))
                {
                    break f;
                }
            };
            id = req_id(&f);
        }
        now
    }

    #[test]
    fn it_connects_only_once_something_is_subscribed_and_subscribes_each_pair_on_its_own() {
        let mut s = session();
        assert!(!s.poll_connect(0), "nothing subscribed: no socket");
        s.handle_command(
            0,
            MarketCommand::Subscribe {
                symbol: BTC,
                channel: BOOK10,
            },
        );
        s.handle_command(
            0,
            MarketCommand::Subscribe {
                symbol: SymbolId(1),
                channel: MarketChannel::Trade,
            },
        );
        assert!(
            sent(&mut s).is_empty(),
            "nothing written before the socket is up"
        );
        assert!(s.poll_connect(0));
        assert!(!s.poll_connect(0), "one attempt at a time");
        s.handle_connected(MS);
        let out = sent(&mut s);
        assert_eq!(out.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(v["method"], "subscribe");
        assert_eq!(v["params"]["channel"], "book");
        assert_eq!(v["params"]["symbol"], serde_json::json!(["BTC/USD"]));
        assert_eq!(v["params"]["depth"], 10);
        assert!(
            v["params"].get("token").is_none(),
            "no token on the public socket"
        );
        let v: serde_json::Value = serde_json::from_str(&out[1]).unwrap();
        assert_eq!(v["params"]["channel"], "trade");
        assert_eq!(v["params"]["symbol"], serde_json::json!(["ETH/USD"]));
        assert!(v["params"].get("depth").is_none());

        ack(&mut s, 2 * MS, req_id(&out[0]), true);
        let ev = events(&mut s);
        assert!(ev.iter().any(|e| matches!(
            e,
            Event::MarketSubscription {
                symbol: BTC,
                error: None,
                ..
            }
        )));
        assert!(
            !ev.iter()
                .any(|e| matches!(e, Event::MarketConnection(ConnectionState::Ready))),
            "not every subscription is live yet"
        );
        ack(&mut s, 2 * MS, req_id(&out[1]), true);
        assert!(
            events(&mut s)
                .iter()
                .any(|e| matches!(e, Event::MarketConnection(ConnectionState::Ready)))
        );
    }

    #[test]
    fn a_book_frame_reaches_the_strategy_in_chunks_bids_then_asks() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        events(&mut s);
        // 20 bids and 5 asks: two chunks (16 + 9).
        let lv = |p: u32| format!(r#"{{"price":{p}.5,"qty":0.25}}"#);
        let bids: Vec<String> = (0..20).map(|i| lv(100 - i)).collect();
        let asks: Vec<String> = (0..5).map(|i| lv(200 + i)).collect();
        let f = format!(
            r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}],"checksum":42}}]}}"#,
            bids.join(","),
            asks.join(",")
        );
        s.handle_frame(3 * MS, f.as_bytes());
        let ev = events(&mut s);
        let chunks: Vec<&BookChunk> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Book(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].first && !chunks[0].last && chunks[1].last && !chunks[1].first);
        assert_eq!((chunks[0].n_bids, chunks[0].n_asks), (16, 0));
        assert_eq!((chunks[1].n_bids, chunks[1].n_asks), (4, 5));
        assert_eq!(chunks[1].asks()[0].price.to_string(), "200.5");
        assert_eq!(chunks[1].bids()[3].price.to_string(), "81.5");
        assert!(chunks.iter().all(|c| c.checksum == Some(42)
            && c.kind == FrameKind::Snapshot
            && c.recv_ns == 3 * MS));

        // A frame of exactly one chunk's levels is one chunk, first and last.
        let bids: Vec<String> = (0..BOOK_CHUNK as u32 - 2).map(|i| lv(100 - i)).collect();
        let f = format!(
            r#"{{"channel":"book","type":"update","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{},{}],"checksum":42}}]}}"#,
            bids.join(","),
            lv(200),
            lv(201)
        );
        s.handle_frame(3 * MS, f.as_bytes());
        let ev = events(&mut s);
        assert!(
            matches!(&ev[..], [Event::Book(c)] if c.first && c.last && c.n_bids as usize == BOOK_CHUNK - 2 && c.n_asks == 2),
            "{ev:?}"
        );

        // A frame of a pair not subscribed is dropped.
        let other = r#"{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[{"price":1.5,"qty":1}],"asks":[],"checksum":1}]}"#;
        s.handle_frame(4 * MS, other.as_bytes());
        assert!(events(&mut s).is_empty());
    }

    #[test]
    fn a_resync_unsubscribes_then_subscribes_again() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        s.handle_command(3 * MS, MarketCommand::ResyncBook { symbol: BTC });
        let out = sent(&mut s);
        assert_eq!(out.len(), 2);
        assert!(
            out[0].contains(r#""method":"unsubscribe""#) && out[0].contains(r#""channel":"book""#)
        );
        assert!(
            out[1].contains(r#""method":"subscribe""#) && out[1].contains(r#""snapshot":true"#)
        );
        assert_eq!(
            s.stats
                .book_resyncs
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // Another depth replaces the subscription the same way.
        s.handle_command(
            4 * MS,
            MarketCommand::Subscribe {
                symbol: BTC,
                channel: MarketChannel::Book { depth: 25 },
            },
        );
        let out = sent(&mut s);
        assert_eq!(out.len(), 2);
        assert!(out[0].contains("unsubscribe") && out[1].contains(r#""depth":25"#));
    }

    #[test]
    fn resyncs_in_a_row_back_off_then_give_up_and_frames_wait_for_the_new_ack() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        let update = br#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.5,"qty":1}],"asks":[],"checksum":1}]}"#;
        let mut now = 3 * MS;
        for n in 1..=MAX_RESYNCS {
            events(&mut s);
            s.handle_command(now, MarketCommand::ResyncBook { symbol: BTC });
            let out = sent(&mut s);
            assert!(out[0].contains("unsubscribe"));
            let sub = if n == 1 {
                assert_eq!(out.len(), 2, "the first at once");
                out[1].clone()
            } else {
                assert_eq!(out.len(), 1, "then after a backoff");
                let earliest = now + ((100 * MS) << (n - 1)).min(10 * S);
                let mut sub = None;
                for _ in 0..20 {
                    now = s.poll_timeout().unwrap();
                    s.handle_frame(now, br#"{"channel":"heartbeat"}"#);
                    s.handle_timeout(now);
                    sub = sent(&mut s)
                        .into_iter()
                        .find(|f| f.contains(r#""method":"subscribe""#));
                    if sub.is_some() {
                        break;
                    }
                }
                assert_eq!(now, earliest, "resync {n} asked again at its backoff");
                sub.expect("subscribed again")
            };
            // The old subscription's frames, until the new ack, are dropped.
            s.handle_frame(now, update);
            assert!(!events(&mut s).iter().any(|e| matches!(e, Event::Book(_))));
            let id = req_id(&sub);
            ack(&mut s, now, id, true);
            s.handle_frame(now, update);
            assert!(events(&mut s).iter().any(|e| matches!(e, Event::Book(_))));
            now += S;
        }
        s.handle_command(now, MarketCommand::ResyncBook { symbol: BTC });
        assert!(
            events(&mut s)
                .iter()
                .any(|e| matches!(e, Event::MarketSubscription { gave_up: true, .. }))
        );
        let out = sent(&mut s);
        assert_eq!(out.len(), 1, "unsubscribed, not asked again: {out:?}");
    }

    #[test]
    fn a_refused_subscription_is_asked_again_after_a_backoff_then_given_up() {
        let mut s = session();
        let mut id = connected_with_book(&mut s);
        let mut now = 2 * MS;
        for n in 1..=MAX_SUB_FAILURES {
            ack(&mut s, now, id, false);
            let ev = events(&mut s);
            let gave_up = n == MAX_SUB_FAILURES;
            assert!(ev.iter().any(|e| matches!(e, Event::MarketSubscription { error: Some(_), gave_up: g, .. } if *g == gave_up)), "{ev:?}");
            assert!(sent(&mut s).is_empty(), "not at once");
            if gave_up {
                break;
            }
            let due = s.poll_timeout().unwrap();
            assert!(due >= now + ((100 * MS) << n).min(10 * S), "backs off");
            now = due;
            s.handle_timeout(now);
            let out = sent(&mut s);
            assert_eq!(out.len(), 1, "asked again");
            id = req_id(&out[0]);
        }
        // Given up: it is not asked again, however long the socket stays up.
        for k in 1..=12 {
            let t = now + k * 5 * S;
            s.handle_frame(t, br#"{"channel":"heartbeat"}"#);
            s.handle_timeout(t);
        }
        assert!(s.is_connected());
        let out = sent(&mut s);
        assert!(!out.iter().any(|f| f.contains("subscribe")), "{out:?}");
    }

    #[test]
    fn an_unanswered_subscription_is_asked_again() {
        let mut s = session();
        connected_with_book(&mut s);
        s.handle_timeout(MS + 5 * S);
        assert!(events(&mut s).iter().any(|e| matches!(
            e,
            Event::MarketSubscription {
                error: Some(_),
                gave_up: false,
                ..
            }
        )));
        let due = s.poll_timeout().unwrap();
        s.handle_timeout(due);
        assert!(
            sent(&mut s)
                .iter()
                .any(|f| f.contains(r#""method":"subscribe""#))
        );
    }

    #[test]
    fn a_silent_socket_is_dropped_and_made_again_with_its_subscriptions() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        events(&mut s);
        // Quiet: a ping first (a third of the watchdog).
        s.handle_timeout(2 * MS + 4 * S);
        assert!(
            sent(&mut s)
                .iter()
                .any(|f| f.contains(r#""method":"ping""#))
        );
        // Still nothing: dropped.
        let mut now = 2 * MS + 4 * S;
        for _ in 0..100 {
            if !s.is_connected() {
                break;
            }
            now = s.poll_timeout().unwrap();
            s.handle_timeout(now);
        }
        assert!(!s.is_connected(), "dropped within a few wake-ups");
        assert!(now >= 2 * MS + 10 * S, "not before the watchdog's time");
        assert_eq!(sent(&mut s), vec!["CLOSE"]);
        assert!(
            events(&mut s)
                .iter()
                .any(|e| matches!(e, Event::MarketConnection(ConnectionState::Disconnected)))
        );
        assert!(!s.poll_connect(now), "after a backoff");
        let again = s.poll_timeout().unwrap();
        assert!(again > now);
        assert!(s.poll_connect(again));
        s.handle_connected(again + MS);
        let out = sent(&mut s);
        assert_eq!(out.len(), 1);
        assert!(out[0].contains(r#""channel":"book""#) && out[0].contains(r#""snapshot":true"#));
    }

    /// Connection attempts are counted and each failure backs off twice as long, jittered
    /// within the upper half; one that stayed up 30 s starts the count again, one that did
    /// not carries it on.
    #[test]
    fn failed_connects_back_off_doubling_and_a_stable_connection_resets_the_count() {
        let mut s = session();
        s.handle_command(
            0,
            MarketCommand::Subscribe {
                symbol: BTC,
                channel: BOOK10,
            },
        );
        let mut now = 0;
        for k in 1..=5u32 {
            assert!(s.poll_connect(now));
            assert!(matches!(
                events(&mut s)[..],
                [Event::MarketConnection(ConnectionState::Connecting(n))] if n == k
            ));
            s.handle_connect_failed(now, "refused");
            assert!(matches!(
                events(&mut s)[..],
                [Event::MarketConnection(ConnectionState::Disconnected)]
            ));
            let due = s.poll_timeout().unwrap();
            let base = (100 * MS) << k;
            assert!(
                (base / 2..=base).contains(&(due - now)),
                "attempt {k}: {}",
                due - now
            );
            assert!(!s.poll_connect(due - 1), "not before its backoff");
            now = due;
        }
        // Up for less than 30 s: the count goes on.
        assert!(s.poll_connect(now));
        s.handle_connected(now);
        s.handle_disconnected(now + 29 * S, "reset");
        now += 29 * S;
        let due = s.poll_timeout().unwrap();
        assert!(
            (((100 * MS) << 6) / 2..=(100 * MS) << 6).contains(&(due - now)),
            "still backing off: {}",
            due - now
        );
        assert!(s.poll_connect(due));
        events(&mut s);
        // Up for 30 s: the next loss starts again from the shortest delay, as attempt 1.
        s.handle_connected(due);
        s.handle_frame(due + 30 * S, br#"{"channel":"heartbeat"}"#);
        s.handle_disconnected(due + 30 * S, "reset");
        now = due + 30 * S;
        let again = s.poll_timeout().unwrap();
        assert!(again - now <= 100 * MS, "reset: {}", again - now);
        events(&mut s);
        assert!(s.poll_connect(again));
        assert!(matches!(
            events(&mut s)[..],
            [Event::MarketConnection(ConnectionState::Connecting(1))]
        ));
    }

    /// Trades and tickers of the pairs subscribed to reach the strategy, each with the time
    /// its frame was read and whether it came with the snapshot; other pairs' are dropped.
    #[test]
    fn trades_and_tickers_of_subscribed_pairs_reach_the_strategy_and_no_others() {
        let mut s = session();
        let eth = SymbolId(1);
        for (symbol, channel) in [(BTC, MarketChannel::Trade), (eth, MarketChannel::Ticker)] {
            s.handle_command(0, MarketCommand::Subscribe { symbol, channel });
        }
        assert!(s.poll_connect(0));
        s.handle_connected(MS);
        events(&mut s);
        let trade = |kind: &str| {
            format!(
                r#"{{"channel":"trade","type":"{kind}","data":[{{"symbol":"BTC/USD","side":"buy","price":100.5,"qty":0.25,"ord_type":"limit","trade_id":7,"timestamp":"2026-12-02T10:00:00.000000Z"}},{{"symbol":"ETH/USD","side":"sell","price":3.5,"qty":1,"ord_type":"market","trade_id":8,"timestamp":"2026-12-02T10:00:00.000000Z"}}]}}"#
            )
        };
        s.handle_frame(2 * MS, trade("snapshot").as_bytes());
        s.handle_frame(3 * MS, trade("update").as_bytes());
        let got: Vec<(u64, bool, u64)> = events(&mut s)
            .into_iter()
            .map(|e| match e {
                Event::Trade {
                    trade,
                    snapshot,
                    recv_ns,
                } => {
                    assert_eq!(
                        (trade.symbol, trade.price.to_string()),
                        (BTC, "100.5".into())
                    );
                    (trade.trade_id.unwrap(), snapshot, recv_ns)
                }
                e => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [(7, true, 2 * MS), (7, false, 3 * MS)],
            "ETH/USD's trade dropped"
        );
        let ticker = |sym: &str| {
            format!(
                r#"{{"channel":"ticker","type":"update","data":[{{"symbol":"{sym}","bid":3.25,"bid_qty":1.0,"ask":3.5,"ask_qty":2.0,"last":3.3,"volume":10.0,"vwap":3.3,"low":3.0,"high":4.0,"change":0.1,"change_pct":3.1}}]}}"#
            )
        };
        s.handle_frame(4 * MS, ticker("BTC/USD").as_bytes());
        assert!(events(&mut s).is_empty(), "BTC/USD's ticker not asked for");
        s.handle_frame(5 * MS, ticker("ETH/USD").as_bytes());
        match &events(&mut s)[..] {
            [Event::Ticker { ticker, recv_ns }] => {
                assert_eq!((ticker.symbol, *recv_ns), (eth, 5 * MS));
                assert_eq!(ticker.bid.unwrap().to_string(), "3.25");
            }
            ev => panic!("{ev:?}"),
        }
    }

    /// A frame that is not JSON, or not valid JSON, is reported and counted, and the session
    /// reads on.
    #[test]
    fn undecodable_frames_are_reported_and_counted_by_kind() {
        use std::sync::atomic::Ordering::Relaxed;
        let mut s = session();
        connected_with_book(&mut s);
        events(&mut s);
        s.handle_frame(2 * MS, b"hello");
        s.handle_frame(2 * MS, br#"{"channel":"book","#);
        s.handle_frame(2 * MS, br#"{"channel":"#);
        let ev = events(&mut s);
        assert!(
            matches!(
                ev[..],
                [
                    Event::DecodeError(DecodeError::NotJson),
                    Event::DecodeError(DecodeError::Malformed),
                    Event::DecodeError(DecodeError::Malformed)
                ]
            ),
            "{ev:?}"
        );
        assert_eq!(s.stats.decode_errors.load(Relaxed), 3);
        assert_eq!(
            s.stats.non_json_frames.load(Relaxed),
            1,
            "only the one not JSON"
        );
        assert_eq!(s.stats.market_frames_in.load(Relaxed), 3);
    }

    /// What keeps the watchdog quiet: a text frame, a control frame (pong), or the driver
    /// not reading because the strategy's ring is full; and only those.
    #[test]
    fn control_frames_and_paused_reading_count_as_life_but_only_for_the_watchdog_s_time() {
        type Feed = fn(&mut MarketSession, u64);
        let feeds: [(&str, Feed); 3] = [
            ("text", |s, t| {
                s.handle_frame(t, br#"{"channel":"heartbeat"}"#)
            }),
            ("control", |s, t| s.handle_control_frame(t)),
            ("paused", |s, t| s.handle_reading_paused(t)),
        ];
        for (name, feed) in feeds {
            let mut s = session();
            connected_with_book(&mut s);
            // Life at 9 s: the 10 s watchdog moves to 19 s.
            feed(&mut s, 9 * S);
            s.handle_timeout(MS + 10 * S);
            assert!(s.is_connected(), "{name}: alive at 10 s");
            s.handle_timeout(19 * S - 1);
            assert!(s.is_connected(), "{name}: alive until 19 s");
            s.handle_timeout(19 * S);
            assert!(
                !s.is_connected(),
                "{name}: silent since 9 s: dropped at 19 s"
            );
        }
    }

    /// Subscribing what is already subscribed asks nothing; a subscription given up is asked
    /// again when the strategy subscribes it again.
    #[test]
    fn subscribing_again_asks_only_for_what_was_given_up() {
        let mut s = session();
        let mut id = connected_with_book(&mut s);
        let again = MarketCommand::Subscribe {
            symbol: BTC,
            channel: BOOK10,
        };
        s.handle_command(2 * MS, again);
        assert!(sent(&mut s).is_empty(), "pending: not asked twice");
        ack(&mut s, 2 * MS, id, true);
        s.handle_command(2 * MS, again);
        assert!(sent(&mut s).is_empty(), "live: not asked twice");
        // Refused until given up.
        s.handle_command(3 * MS, MarketCommand::ResyncBook { symbol: BTC });
        id = req_id(&sent(&mut s)[1]);
        let mut now = 3 * MS;
        now = refuse_until_given_up(&mut s, now, id);
        assert!(
            events(&mut s)
                .iter()
                .any(|e| matches!(e, Event::MarketSubscription { gave_up: true, .. }))
        );
        s.handle_command(now, again);
        let out = sent(&mut s);
        assert!(
            matches!(&out[..], [f] if f.contains(r#""method":"subscribe""#)),
            "{out:?}"
        );
    }

    /// A resync while the socket is down does nothing: the reconnect subscribes anew (with
    /// a snapshot), once.
    #[test]
    fn a_resync_while_down_does_nothing_and_the_reconnect_subscribes_once() {
        use std::sync::atomic::Ordering::Relaxed;
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        s.handle_disconnected(3 * MS, "reset");
        s.handle_command(4 * MS, MarketCommand::ResyncBook { symbol: BTC });
        assert_eq!(s.stats.book_resyncs.load(Relaxed), 0);
        let at = s.poll_timeout().unwrap();
        assert!(s.poll_connect(at));
        s.handle_connected(at);
        let out = sent(&mut s);
        assert_eq!(out.len(), 1, "subscribed once: {out:?}");
        assert!(out[0].contains(r#""method":"subscribe""#));
    }

    /// Resyncs are "in a row" only within 60 s of the last: one a minute or more later is
    /// asked at once, as the first.
    #[test]
    fn resyncs_a_minute_apart_are_not_in_a_row() {
        let mut s = session();
        let mut id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        let mut now = 3 * MS;
        for (gap, at_once) in [
            (0, true),
            (60 * S - 1, false),
            (60 * S, true),
            (60 * S, true),
        ] {
            now += gap;
            // Kept alive and acknowledged in between.
            s.handle_frame(now, br#"{"channel":"heartbeat"}"#);
            s.handle_timeout(now);
            sent(&mut s);
            s.handle_command(now, MarketCommand::ResyncBook { symbol: BTC });
            let out = sent(&mut s);
            assert_eq!(out.len() == 2, at_once, "after {gap} ns: {out:?}");
            if at_once {
                id = req_id(&out[1]);
                ack(&mut s, now, id, true);
            } else {
                // The second in a row waits for the first backoff step, exactly.
                let due = now + 200 * MS;
                let mut t = now;
                while let Some(next) = s.poll_timeout().filter(|&n| n <= due) {
                    t = next;
                    s.handle_timeout(t);
                }
                let f = sent(&mut s)
                    .into_iter()
                    .find(|f| f.contains(r#""method":"subscribe""#));
                id = req_id(&f.expect("asked after the backoff"));
                assert_eq!(t, due);
                ack(&mut s, t, id, true);
            }
        }
    }

    /// A pong is matched to its ping by id: a subscription's answer that arrives while a
    /// ping is out still makes the subscription live, and the pong then clears the ping
    /// (the next quiet spell gets a new one).
    #[test]
    fn answers_are_told_from_pongs_by_their_id() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        let quiet = MS + 10 * S / 3;
        s.handle_timeout(quiet);
        let out = sent(&mut s);
        let ping = out
            .iter()
            .find(|f| f.contains(r#""method":"ping""#))
            .expect("a ping");
        let ping_id = req_id(ping);
        events(&mut s);
        ack(&mut s, quiet + MS, id, true);
        assert!(
            events(&mut s)
                .iter()
                .any(|e| matches!(e, Event::MarketSubscription { error: None, .. })),
            "the answer is not taken for the pong"
        );
        let pong = format!(
            r#"{{"method":"pong","req_id":{ping_id},"time_in":"2026-12-02T10:00:00.000000Z","time_out":"2026-12-02T10:00:00.000001Z"}}"#
        );
        s.handle_frame(quiet + 2 * MS, pong.as_bytes());
        let next = quiet + 2 * MS + 10 * S / 3;
        s.handle_timeout(next);
        assert!(
            sent(&mut s)
                .iter()
                .any(|f| f.contains(r#""method":"ping""#)),
            "the pong cleared the ping: a new one"
        );
    }

    /// A socket with nothing to say but its pongs stays up: a ping after each third of the
    /// watchdog's time without a frame, never sooner, each with an id of its own.
    #[test]
    fn a_quiet_socket_that_answers_its_pings_stays_up() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        let mut last_frame = 2 * MS;
        let mut ids = vec![id];
        let mut now = 2 * MS;
        while now < 60 * S {
            now = s.poll_timeout().unwrap();
            s.handle_timeout(now);
            for f in sent(&mut s) {
                assert!(f.contains(r#""method":"ping""#), "{f}");
                assert!(
                    now - last_frame >= 10 * S / 3,
                    "a ping {} ns after a frame",
                    now - last_frame
                );
                let ping = req_id(&f);
                assert!(
                    ping > *ids.last().unwrap(),
                    "ids grow: {ping} after {ids:?}"
                );
                ids.push(ping);
                let pong = format!(
                    r#"{{"method":"pong","req_id":{ping},"time_in":"2026-12-02T10:00:00.000000Z","time_out":"2026-12-02T10:00:00.000001Z"}}"#
                );
                last_frame = now + MS;
                s.handle_frame(last_frame, pong.as_bytes());
            }
            assert!(s.is_connected(), "dropped at {now}");
        }
        assert!(
            ids.len() >= 17,
            "a ping every 3.3 s for a minute: {}",
            ids.len()
        );
    }

    /// A retry asks again only what failed: a live subscription beside it is left alone.
    #[test]
    fn a_retry_asks_only_the_subscription_that_failed() {
        let mut s = session();
        let (book, trade) = connected_with_book_and_trade(&mut s);
        ack(&mut s, 2 * MS, book, true);
        ack(&mut s, 2 * MS, trade, false);
        let due = s.poll_timeout().unwrap();
        s.handle_timeout(due);
        let out = sent(&mut s);
        assert!(
            matches!(&out[..], [f] if f.contains(r#""channel":"trade""#)),
            "only the trade subscription again: {out:?}"
        );
    }

    /// A stop closes the socket and leaves nothing to wake up for.
    #[test]
    fn a_stop_closes_the_socket_and_clears_the_timers() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        s.handle_shutdown();
        assert_eq!(sent(&mut s), ["CLOSE"]);
        assert!(!s.is_connected());
        assert_eq!(s.poll_timeout(), None);
    }

    /// Every request on the socket carries an id of its own, growing: subscribes,
    /// unsubscribes and pings alike (answers are matched by it).
    #[test]
    fn every_request_has_an_id_of_its_own() {
        let mut s = session();
        let (book, trade) = connected_with_book_and_trade(&mut s);
        ack(&mut s, 2 * MS, book, true);
        s.handle_command(3 * MS, MarketCommand::ResyncBook { symbol: BTC });
        s.handle_command(
            3 * MS,
            MarketCommand::Unsubscribe {
                symbol: SymbolId(1),
                channel: MarketChannel::Trade,
            },
        );
        // Quiet since the ack at 2 ms: a ping.
        s.handle_timeout(2 * MS + 10 * S / 3);
        let out = sent(&mut s);
        let methods: Vec<&str> = out
            .iter()
            .map(|f| {
                ["unsubscribe", "subscribe", "ping"]
                    .into_iter()
                    .find(|m| f.contains(&format!(r#""method":"{m}""#)))
                    .unwrap()
            })
            .collect();
        assert_eq!(methods, ["unsubscribe", "subscribe", "unsubscribe", "ping"]);
        let ids: Vec<u64> = [book, trade]
            .into_iter()
            .chain(out.iter().map(|f| req_id(f)))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    /// Unsubscribing what is waiting for its retry asks nothing of Kraken (it holds no such
    /// subscription), and the retry is dropped with it.
    #[test]
    fn unsubscribing_a_subscription_waiting_to_retry_sends_nothing() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, false);
        s.handle_command(
            3 * MS,
            MarketCommand::Unsubscribe {
                symbol: BTC,
                channel: BOOK10,
            },
        );
        assert!(sent(&mut s).is_empty());
        s.handle_timeout(S);
        assert!(sent(&mut s).is_empty(), "no retry");
    }

    /// A subscription given up stays given up across a reconnect: the new connection asks
    /// only for the others.
    #[test]
    fn a_subscription_given_up_is_not_asked_again_after_a_reconnect() {
        let mut s = session();
        let (book, trade) = connected_with_book_and_trade(&mut s);
        ack(&mut s, 2 * MS, trade, true);
        let mut now = 2 * MS;
        now = refuse_until_given_up(&mut s, now, book);
        s.handle_disconnected(now, "reset");
        let at = s.poll_timeout().unwrap();
        assert!(s.poll_connect(at));
        s.handle_connected(at);
        let out = sent(&mut s);
        assert!(
            matches!(&out[..], [f] if f.contains(r#""channel":"trade""#)),
            "{out:?}"
        );
    }

    /// An event the driver could not deliver comes out first next time.
    #[test]
    fn an_event_given_back_comes_out_first() {
        let mut s = session();
        s.handle_command(
            0,
            MarketCommand::Subscribe {
                symbol: BTC,
                channel: BOOK10,
            },
        );
        assert!(s.poll_connect(0));
        s.handle_connected(MS);
        let first = s.poll_event().unwrap();
        assert!(matches!(
            first,
            Event::MarketConnection(ConnectionState::Connecting(1))
        ));
        s.unpoll_event(first);
        assert!(matches!(
            events(&mut s)[..],
            [
                Event::MarketConnection(ConnectionState::Connecting(1)),
                Event::MarketConnection(ConnectionState::Connected)
            ]
        ));
    }

    #[test]
    fn an_unsubscribed_pair_s_frames_are_dropped_and_nothing_left_keeps_the_socket() {
        let mut s = session();
        let id = connected_with_book(&mut s);
        ack(&mut s, 2 * MS, id, true);
        s.handle_command(
            3 * MS,
            MarketCommand::Unsubscribe {
                symbol: BTC,
                channel: BOOK10,
            },
        );
        assert!(sent(&mut s)[0].contains("unsubscribe"));
        events(&mut s);
        let f = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.5,"qty":1}],"asks":[],"checksum":1}]}"#;
        s.handle_frame(4 * MS, f.as_bytes());
        assert!(events(&mut s).is_empty());
        s.handle_disconnected(5 * MS, "test");
        s.handle_timeout(60 * S);
        assert!(
            !s.poll_connect(60 * S),
            "nothing subscribed: not made again"
        );
    }
}

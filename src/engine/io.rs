//! The I/O thread: a pump between the socket and the [`Session`], and between the rings and
//! the `Session`. Every rule lives in the session (sans-IO); this file only moves bytes and
//! entries, reads the clock, and measures latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::engine::ws_frame::Frame;
use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;
use rustls::ClientConfig;

use crate::engine::IdleStrategy;
use crate::engine::clock::{now_ns, wall};
use crate::engine::cold::{ColdReply, ColdRequest};
use crate::engine::msg::{Command, Event, Issued, LargeCommand, take_large};
use crate::engine::session::Session;
use crate::engine::stats::EngineStats;
use crate::engine::transport::{self, Connection, Sent, WsUrl};
use crate::market::feed::{Feed, Read};

/// How long a clean stop waits for the answers to requests in flight (at most the request
/// timeout).
const CLOSE_GRACE_NS: u64 = 2_000_000_000;
/// How often the session's wall-clock mapping is refreshed.
const WALL_REFRESH_NS: u64 = 1_000_000;

pub(crate) struct IoConfig {
    pub url: WsUrl,
    pub tls: Arc<ClientConfig>,
    pub idle: IdleStrategy,
    pub connect_timeout: Duration,
    pub request_timeout_ns: u64,
}

pub(crate) struct Io {
    pub cfg: IoConfig,
    pub session: Session,
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
    /// The event ring was found full and is not drained yet.
    stalled: bool,
    next_wall_ns: u64,
    /// Strategy call → command popped here, ns.
    tick_to_pop: Histogram<u64>,
    /// Strategy call → request handed to the socket (encoded, framed, TLS record written), ns.
    tick_to_wire: Histogram<u64>,
    /// Frame readable → its events pushed to the strategy ring (read, TLS, WebSocket, decode).
    frame_to_ring: Histogram<u64>,
    /// The public (market-data) socket, on this thread too.
    market: Feed,
    /// Turned by the strategy's thread (same-thread mode): a turn returns after a frame.
    pub inline: bool,
}

impl Io {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: IoConfig,
        session: Session,
        cmd_rx: rtrb::Consumer<Issued>,
        large_rx: rtrb::Consumer<LargeCommand>,
        ev_tx: rtrb::Producer<Event>,
        cold_tx: Sender<ColdRequest>,
        cold_rx: Receiver<ColdReply>,
        stats: Arc<EngineStats>,
        stop: Arc<AtomicBool>,
        abort: Arc<AtomicBool>,
        market: Feed,
    ) -> Self {
        Self {
            market,
            inline: false,
            cfg,
            session,
            cmd_rx,
            large_rx,
            ev_tx,
            cold_tx,
            cold_rx,
            stats,
            stop,
            abort,
            conn: None,
            stalled: false,
            next_wall_ns: 0,
            tick_to_pop: super::latency_histogram(),
            tick_to_wire: super::latency_histogram(),
            frame_to_ring: super::latency_histogram(),
        }
    }

    /// The I/O thread's loop: turns until told to stop, idling as configured when a turn
    /// found nothing to do, then stops cleanly (or as a crash, if aborted).
    pub fn run(mut self) {
        self.pump_out();
        while !self.stop.load(Ordering::Relaxed) {
            if !self.turn() {
                self.idle();
            }
        }
        self.finish(false);
    }

    /// One turn of the loop: connect if due, hand commands to the sessions, read both
    /// sockets, take the cold thread's replies, run due timers. True if it did something.
    /// The same-thread mode calls it from `Trader::poll`.
    pub fn turn(&mut self) -> bool {
        let mut busy = false;
        let now = now_ns();
        if now >= self.next_wall_ns {
            self.next_wall_ns = now + WALL_REFRESH_NS;
            self.session.handle_wall_clock(now, wall());
        }
        if self.session.poll_connect(now) {
            self.connect();
        }
        if self.market.poll_connect(now) {
            self.flush_events();
        }
        busy |= self.drain_commands(false);
        if self.flush_events() {
            // Both sockets each turn (in same-thread mode a frame from each at most).
            busy |= self.read_frames();
            busy |= self.read_market_frames();
        } else {
            // Not reading is our choice, not the exchange's silence.
            let now = now_ns();
            self.session.handle_reading_paused(now);
            self.market.session.handle_reading_paused(now);
        }
        busy |= self.drain_cold();
        let now = now_ns();
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
            self.pump_out();
        }
        self.market.handle_timeout(now);
        busy
    }

    /// The stop, once `stop` is set: clean (every accepted command sent or reported unsent,
    /// the answers in flight awaited a little, the dead man's switch disarmed), or a crash if
    /// `abort` is set. `inline`: on the strategy's own thread (same-thread mode), which drains
    /// the ring itself afterwards, so this does not wait for room in it.
    pub fn finish(&mut self, inline: bool) {
        let crash = self.abort.load(Ordering::Relaxed);
        if crash {
            // A simulated crash: the socket just goes away, the dead man's switch stays armed.
            self.conn = None;
        } else {
            self.close_gracefully();
        }
        self.session.handle_shutdown(now_ns(), crash);
        self.pump_out();
        self.market.shutdown();
        // The cold thread answers what it still held (REST orders it will not send now) and
        // exits; its last replies are the strategy's to see.
        loop {
            match self.cold_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(reply) => {
                    self.session.handle_cold(now_ns(), reply);
                    self.pump_out();
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        // The strategy side drains the ring while stopping: every held event reaches it.
        while !inline && !self.flush_events() && !self.abort.load(Ordering::Relaxed) {
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
        while self.session.in_flight() > 0 && self.conn.is_some() && now_ns() < grace {
            let busy = (self.flush_events() && self.read_frames()) | self.drain_cold();
            if !busy && let Some(c) = self.conn.as_mut() {
                let _ = c.wait_readable(Duration::from_millis(1));
            }
        }
    }

    fn idle(&mut self) {
        match self.cfg.idle {
            IdleStrategy::Spin => std::hint::spin_loop(),
            IdleStrategy::Yield => std::thread::yield_now(),
            IdleStrategy::Block(d) => {
                // Not past either session's next timer.
                let now = now_ns();
                let d = [
                    self.session.poll_timeout(),
                    self.market.session.poll_timeout(),
                ]
                .into_iter()
                .flatten()
                .fold(d, |d, t| d.min(Duration::from_nanos(t.saturating_sub(now))));
                // Each socket has its own poller: with both up, each is waited on for half.
                match (self.conn.as_mut(), self.market.is_connected()) {
                    (Some(c), true) => {
                        let _ = c.wait_readable(d / 2);
                        self.market.wait(d / 2);
                    }
                    (Some(c), false) => {
                        let _ = c.wait_readable(d);
                    }
                    (None, _) => self.market.wait(d),
                }
            }
        }
    }

    fn connect(&mut self) {
        match Connection::connect(&self.cfg.url, &self.cfg.tls, self.cfg.connect_timeout) {
            Ok(c) => {
                tracing::info!(url = %self.cfg.url.url, "connected");
                self.conn = Some(c);
                self.session.handle_connected(now_ns());
            }
            Err(e) => self.session.handle_connect_failed(now_ns(), &e.to_string()),
        }
        self.pump_out();
    }

    /// Writes what the session queued, closes the socket if it says so, hands REST work to
    /// the cold thread and events to the strategy. True if a frame was written.
    pub fn pump_out(&mut self) -> bool {
        let mut wrote = false;
        while let Some(t) = self.session.poll_transmit() {
            match transport::transmit(&mut self.conn, t) {
                Sent::Wrote => wrote = true,
                Sent::Nothing => {}
                Sent::Lost(why) => self.session.handle_disconnected(now_ns(), &why),
            }
        }
        while let Some(req) = self.session.poll_cold() {
            let _ = self.cold_tx.send(req);
        }
        self.flush_events();
        wrote
    }

    /// Moves the session's events into the ring; events carry fills and are never dropped.
    /// When the ring is full (the strategy stopped polling) they wait in the session, the loop
    /// stops reading the socket until the strategy catches up, and everything else goes on:
    /// writes, pings, deadlines and the dead man's switch. True once none are held.
    ///
    /// Same-thread mode has no ring to fill: the events stay in the sessions, and the
    /// strategy's own `poll` takes them with [`Io::next_event`] after the turn (a turn reads at
    /// most one frame a socket, so they hold at most one frame's events, as before a flush).
    pub fn flush_events(&mut self) -> bool {
        if self.inline {
            return true;
        }
        // The private session's first, then the public one's: each socket's frames are
        // handled (and their events flushed) one at a time, so this is their arrival order.
        while let Some((ev, public)) = self
            .session
            .poll_event()
            .map(|e| (e, false))
            .or_else(|| self.market.session.poll_event().map(|e| (e, true)))
        {
            if let Err(rtrb::PushError::Full(back)) = self.ev_tx.push(ev) {
                if public {
                    self.market.session.unpoll_event(back);
                } else {
                    self.session.unpoll_event(back);
                }
                if !self.stalled {
                    self.stalled = true;
                    EngineStats::inc(&self.stats.event_ring_stalls);
                    tracing::warn!("event ring full: the strategy is not polling; reading paused");
                    self.session.unpoll_event(Event::EventRingFull);
                }
                return false;
            }
        }
        self.stalled = false;
        true
    }

    /// Same-thread mode: the next event for the strategy, the private session's before the
    /// public one's (the order [`Io::flush_events`] keeps in the ring), moved out once.
    pub fn next_event(&mut self) -> Option<Event> {
        self.session
            .poll_event()
            .or_else(|| self.market.session.poll_event())
    }

    /// Hands what the strategy queued to the session.
    pub fn drain_commands(&mut self, closing: bool) -> bool {
        let mut any = false;
        while let Ok(issued) = self.cmd_rx.pop() {
            any = true;
            self.handle_issued(issued, closing);
        }
        any
    }

    /// Whether commands wait in the ring (same-thread mode hands a command straight to
    /// [`Io::handle_issued`] only behind none, so none is overtaken).
    pub fn commands_queued(&self) -> bool {
        !self.cmd_rx.is_empty()
    }

    /// Hands one command to its session and writes what it makes.
    pub fn handle_issued(&mut self, Issued { cmd, at_ns }: Issued, closing: bool) {
        let now = now_ns();
        if let Command::Market(m) = cmd {
            self.market.session.handle_command(now, m);
            self.market.pump_out();
            self.flush_events();
            return;
        }
        let large = take_large(&cmd, &mut self.large_rx);
        self.session
            .handle_command(now, cmd, large.as_ref(), at_ns, closing);
        if at_ns > 0 && matches!(cmd, Command::Order(_)) {
            let _ = self.tick_to_pop.record(now.saturating_sub(at_ns).max(1));
        }
        if self.pump_out() && at_ns > 0 {
            let _ = self
                .tick_to_wire
                .record(now_ns().saturating_sub(at_ns).max(1));
        }
    }

    fn read_frames(&mut self) -> bool {
        let mut any = false;
        loop {
            let Some(c) = self.conn.as_mut() else {
                return any;
            };
            // A frame this read returns was readable by now at the latest: wire-to-strategy
            // starts here, before the read syscall, TLS and WebSocket decoding.
            let readable = now_ns();
            match c.read() {
                Ok(Some(Frame::Text(t))) => {
                    any = true;
                    self.session.handle_frame(readable, t);
                    self.pump_out();
                    let _ = self
                        .frame_to_ring
                        .record(now_ns().saturating_sub(readable).max(1));
                }
                Ok(Some(Frame::Close(_))) => {
                    self.drop_connection("closed by peer");
                    return true;
                }
                Ok(Some(_)) => {
                    any = true;
                    self.session.handle_control_frame(readable);
                }
                Ok(None) => {
                    // Write what is queued (a pong, the rest of a request).
                    let _ = c.flush();
                    return any;
                }
                Err(e) => {
                    self.drop_connection(&format!("read: {e}"));
                    return true;
                }
            }
            if self.stalled || (self.inline && any) {
                // The ring filled up: leave the rest in the socket until the strategy polls.
                // Or the strategy is this thread: it hears of the frame first.
                return any;
            }
        }
    }

    fn drop_connection(&mut self, why: &str) {
        if let Some(mut c) = self.conn.take() {
            c.shutdown();
        }
        self.session.handle_disconnected(now_ns(), why);
        self.pump_out();
    }

    fn read_market_frames(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.market.read_one() {
                Read::Frame => {
                    any = true;
                    if !self.flush_events() || self.inline {
                        // The ring filled up: the rest waits in the socket. Or the strategy
                        // is this thread: it hears of the frame first.
                        return any;
                    }
                }
                Read::Control => any = true,
                Read::Nothing => return any,
                Read::Lost => {
                    self.flush_events();
                    return true;
                }
            }
        }
    }

    fn drain_cold(&mut self) -> bool {
        let mut any = false;
        while let Ok(reply) = self.cold_rx.try_recv() {
            any = true;
            self.session.handle_cold(now_ns(), reply);
            self.pump_out();
        }
        any
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

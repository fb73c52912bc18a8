//! The engine's measures: round trips against the reflector or kraken-sim (optionally with
//! resting orders in the book), the engine's own tick-to-wire and wire-to-strategy split, and
//! open-loop runs at a fixed order rate.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kraken_exec::engine::{self, EngineConfig, IdleStrategy, LatencyReport, Statistics, Strategy};
use kraken_exec::internals::now_ns;
use kraken_exec::orders::StatusChange;
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side};
use kraken_reflector::Reflector;
use kraken_sim::{Sim, SimConfig, Tier};
use rust_decimal::Decimal;

use crate::{hist, pin};

/// `--same-thread`: engines run with `Threading::SameThread`, the strategy's thread (which
/// then drives the sockets) pinned to core 1, where the I/O thread would have been.
pub static SAME_THREAD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn same_thread() -> bool {
    SAME_THREAD.load(std::sync::atomic::Ordering::Relaxed)
}

/// The strategy thread's core: 0, or 1 in same-thread mode (it is the I/O thread too).
fn strategy_core() -> usize {
    usize::from(same_thread())
}

/// The server an engine run talks to.
pub enum Server {
    /// Canned answers: the client's own cost.
    Reflector(Reflector),
    /// The exchange simulator (matching, rate counter, ledger): what a strategy would see.
    Sim(Sim),
}

impl Server {
    /// A reflector whose threads run on `core` (they inherit the mask of the thread that
    /// starts them).
    pub fn reflector(core: usize) -> Self {
        std::thread::spawn(move || {
            pin(core);
            Server::Reflector(Reflector::start(true, false).expect("reflector"))
        })
        .join()
        .expect("reflector start")
    }

    /// kraken-sim, its threads on `core`.
    pub fn sim(core: usize) -> Self {
        std::thread::spawn(move || {
            pin(core);
            Self::sim_here()
        })
        .join()
        .expect("sim start")
    }

    fn sim_here() -> Self {
        Server::Sim(
            Sim::start(SimConfig {
                tls: true,
                market_flow: false,
                tier: Tier::Unlimited,
                ..SimConfig::default()
            })
            .expect("kraken-sim"),
        )
    }

    fn config(&self) -> EngineConfig {
        let mut cfg = match self {
            Server::Reflector(r) => {
                let creds = Credentials {
                    key: "bench".into(),
                    secret: ApiSecret::from_base64("c2VjcmV0").expect("base64"),
                };
                let mut cfg = EngineConfig::new(creds, &["BTC/USD"]);
                cfg.ws_url = r.ws_url.clone();
                cfg.public_ws_url = r.ws_url.clone();
                cfg.rest_url = r.rest_url.clone();
                // The reflector answers REST in plain HTTP on loopback.
                cfg.allow_insecure_local = true;
                cfg.extra_ca_pem = r.ca_pem.clone().map(String::into_bytes);
                cfg
            }
            Server::Sim(s) => {
                let mut cfg = EngineConfig::simulator(s, &["BTC/USD"]);
                cfg.tier = kraken_exec::risk::Tier::Pro;
                cfg
            }
        };
        // `KRAKEN_LATENCY_JOURNAL=DIR`: the same run with the journal on (a fresh one).
        if let Some(dir) = std::env::var_os("KRAKEN_LATENCY_JOURNAL") {
            let dir = std::path::PathBuf::from(dir);
            let _ = std::fs::remove_dir_all(&dir);
            cfg.journal = Some(kraken_exec::journal::JournalConfig::new(dir));
        }
        cfg.idle = IdleStrategy::Spin;
        cfg.io_core = Some(1);
        if same_thread() {
            cfg.threading = kraken_exec::engine::Threading::SameThread;
        }
        cfg.subscribe_balances = false;
        cfg.ring_capacity = 4096;
        cfg
    }
}

/// Records the client order ids that reached `Open` and `Canceled`.
#[derive(Default)]
struct Acks {
    open: Vec<ClOrdId>,
    canceled: usize,
}

impl Strategy for Acks {
    fn on_status_change(&mut self, c: &StatusChange) {
        match (c.to, c.cl_ord_id) {
            (OrderStatus::Open, Some(id)) => self.open.push(id),
            (OrderStatus::Canceled, _) => self.canceled += 1,
            _ => {}
        }
    }
}

/// What one engine run measured.
pub struct EngineRun {
    /// `add_order` called → the order `Open` in the strategy (its ack applied).
    pub add: Histogram<u64>,
    /// `add_order` called → its first `executions` report applied in the strategy.
    pub add_to_exec: Histogram<u64>,
    /// `cancel_order` called → `Canceled` in the strategy.
    pub cancel: Histogram<u64>,
    /// The engine's own histograms.
    pub report: LatencyReport,
    pub stats: Statistics,
}

fn poll_until(t: &mut engine::Trader, acks: &mut Acks, done: impl Fn(&Acks) -> bool) {
    while !done(acks) {
        if t.poll(acks) == 0 {
            // Leave the second core's time slices to the server thread.
            std::thread::yield_now();
        }
    }
}

/// Buys far below the market: they rest on the simulator and never trade.
const PRICE: Decimal = Decimal::from_parts(300_001, 0, 0, false, 1);
const QTY: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// An engine on `server`, ready, with this (strategy) thread on core 0.
fn start(server: &Server) -> (engine::Trader, Acks, kraken_exec::SymbolId) {
    let mut t = engine::start(server.config()).expect("engine");
    pin(strategy_core());
    let mut acks = Acks::default();
    assert!(
        t.wait_ready(&mut acks, Duration::from_secs(10)),
        "engine not ready"
    );
    let btc = t.symbol("BTC/USD").expect("symbol");
    (t, acks, btc)
}

/// An engine on a server and the round trips made so far: one add → ack, cancel → ack at a
/// time (the measure of [`rtt`], also taken in turns with the floor by [`interleaved`]).
pub struct RoundTrips {
    t: engine::Trader,
    acks: Acks,
    btc: kraken_exec::SymbolId,
    next: u64,
}

/// One round trip's figures, ns.
pub struct RoundTrip {
    /// `add_order` called → the order `Open` in the strategy.
    pub add: u64,
    /// `add_order` called → its first `executions` report applied.
    pub add_to_exec: u64,
    /// `cancel_order` called → `Canceled` in the strategy.
    pub cancel: u64,
}

impl RoundTrips {
    /// An engine on `server`, ready, with `resting` orders left open in the book (and the
    /// engine's tracker) throughout.
    pub fn start(server: &Server, resting: usize) -> Self {
        let (mut t, mut acks, btc) = start(server);
        for i in 0..resting {
            let id = ClOrdId::with_counter("rest", i as u64).expect("id");
            t.add_order(AddOrder::limit(btc, Side::Buy, QTY, PRICE).cl_ord_id(id))
                .expect("resting order");
            if i % 64 == 63 {
                poll_until(&mut t, &mut acks, |a| a.open.len() > i - 32);
            }
        }
        poll_until(&mut t, &mut acks, |a| a.open.len() >= resting);
        Self {
            t,
            acks,
            btc,
            next: 0,
        }
    }

    /// One add → ack, then its cancel → ack.
    pub fn one(&mut self) -> RoundTrip {
        let Self { t, acks, btc, next } = self;
        let id = ClOrdId::with_counter("b", *next).expect("id");
        *next += 1;
        acks.open.clear();
        // The engine's own clock, so the tracker's stamps compare.
        let t0 = now_ns();
        t.add_order(AddOrder::limit(*btc, Side::Buy, QTY, PRICE).cl_ord_id(id))
            .expect("add_order");
        poll_until(t, acks, |a| a.open.contains(&id));
        let t1 = now_ns();
        // The first executions report (`pending_new`) may come just after the ack.
        let first = |t: &engine::Trader| {
            t.order_status(&OrderRef::ClOrdId(id))
                .map_or(0, |o| o.first_report_ns)
        };
        while first(t) == 0 {
            if t.poll(acks) == 0 {
                std::thread::yield_now();
            }
        }
        let t_exec = first(t);
        let before = acks.canceled;
        // The reflector knows orders by Kraken id only.
        let oid = t
            .order_status(&OrderRef::ClOrdId(id))
            .and_then(|o| o.order_id)
            .expect("an acked order has an id");
        let t2 = now_ns();
        t.cancel_order(OrderRef::OrderId(oid))
            .expect("cancel_order");
        poll_until(t, acks, |a| a.canceled > before);
        RoundTrip {
            add: t1 - t0,
            add_to_exec: t_exec.saturating_sub(t0).max(1),
            cancel: now_ns() - t2,
        }
    }

    /// Stops the engine: its statistics and its own histograms.
    pub fn finish(self, resting: usize) -> (Statistics, LatencyReport) {
        assert_eq!(
            self.t.active_orders().count(),
            resting,
            "only the resting orders are left"
        );
        let stats = self.t.statistics();
        (stats, self.t.shutdown().latency)
    }
}

/// `n` add → ack, cancel → ack round trips (after `warmup`), one at a time, with `resting`
/// orders left open in the book (and the engine's tracker) throughout.
pub fn rtt(server: &Server, n: usize, warmup: usize, resting: usize) -> EngineRun {
    let mut rt = RoundTrips::start(server, resting);
    let (mut add_h, mut exec_h, mut cancel_h) = (hist(), hist(), hist());
    for i in 0..n + warmup {
        let r = rt.one();
        if i >= warmup {
            let _ = add_h.record(r.add);
            let _ = exec_h.record(r.add_to_exec);
            let _ = cancel_h.record(r.cancel);
        }
    }
    let (stats, report) = rt.finish(resting);
    EngineRun {
        add: add_h,
        add_to_exec: exec_h,
        cancel: cancel_h,
        report,
        stats,
    }
}

/// The floor's round trip and the engine's add → ack (same-thread mode) in turns, `batch`
/// round trips of one then `batch` of the other, on the same thread and core, so a slow spell
/// of the machine falls on both rather than on whichever was being measured then. Returns both
/// histograms and, per turn, the engine's median minus the floor's (ns).
pub fn interleaved(
    server: &Server,
    floor: &mut crate::FloorWss,
    n: usize,
    warmup: usize,
    batch: usize,
) -> (Histogram<u64>, Histogram<u64>, Vec<i64>) {
    SAME_THREAD.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut rt = RoundTrips::start(server, 0);
    let (mut floor_h, mut ours_h) = (hist(), hist());
    let mut diffs = Vec::new();
    let batch = batch.max(1);
    let mut done = 0;
    while done < n + warmup {
        let (mut f, mut o) = (hist(), hist());
        for _ in 0..batch {
            let _ = f.record(floor.round_trip());
        }
        for _ in 0..batch {
            let _ = o.record(rt.one().add);
        }
        if done >= warmup {
            floor_h.add(&f).expect("same bounds");
            ours_h.add(&o).expect("same bounds");
            diffs.push(o.value_at_quantile(0.5) as i64 - f.value_at_quantile(0.5) as i64);
        }
        done += batch;
    }
    let _ = rt.finish(0);
    (floor_h, ours_h, diffs)
}

/// Open loop at `rate` orders/s for `n` orders: each add is cancelled when acked; records add
/// → ack per order (timed from its scheduled send time, so queueing shows).
pub fn paced(server: &Server, rate: u64, n: usize) -> (Histogram<u64>, Statistics) {
    let (mut t, mut acks, btc) = start(server);
    let gap = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut due = vec![Instant::now(); n];
    let mut h = hist();
    let (mut sent, mut acked) = (0usize, 0usize);
    let start = Instant::now();
    while acked < n {
        let now = Instant::now();
        if sent < n && now >= start + gap * sent as u32 {
            due[sent] = start + gap * sent as u32;
            let id = ClOrdId::with_counter("p", sent as u64).expect("id");
            if t.add_order(AddOrder::limit(btc, Side::Buy, QTY, PRICE).cl_ord_id(id))
                .is_ok()
            {
                sent += 1;
            }
        }
        if t.poll(&mut acks) == 0
            && sent < n
            && Instant::now() + gap / 2 < start + gap * sent as u32
        {
            // Ahead of schedule and nothing to do: leave the core to the server.
            std::thread::yield_now();
        } else if sent >= n {
            std::thread::yield_now();
        }
        let at = Instant::now();
        for id in acks.open.drain(..) {
            let i: usize = id.as_str()[1..].parse().expect("p<counter>");
            let _ = h.record((at - due[i]).as_nanos() as u64);
            acked += 1;
            if let Some(oid) = t
                .order_status(&OrderRef::ClOrdId(id))
                .and_then(|o| o.order_id)
            {
                let _ = t.cancel_order(OrderRef::OrderId(oid));
            }
        }
    }
    let s = t.statistics();
    let _ = t.shutdown();
    (h, s)
}

/// A `book` frame of BTC/USD with these levels (prices with one decimal, quantities with
/// eight, as Kraken writes them).
fn book_frame(kind: &str, bids: &[(i64, i64)], asks: &[(i64, i64)], checksum: u32) -> String {
    let side = |ls: &[(i64, i64)]| {
        ls.iter()
            .map(|&(p, q)| {
                format!(
                    r#"{{"price":{},"qty":{}}}"#,
                    Decimal::new(p, 1),
                    Decimal::new(q, 8)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}],"checksum":{checksum},"timestamp":"2026-12-02T10:00:00.000000Z"}}]}}"#,
        side(bids),
        side(asks)
    )
}

/// A snapshot of ten levels a side and `n` one-level updates of the best bid (its quantity
/// changing), each with the checksum the book has after it (computed with the engine's book,
/// which the tests check against Kraken's own frames).
fn book_frames(n: usize) -> (String, Vec<String>) {
    use kraken_exec::market::Book;
    use kraken_exec::protocol::{Decoder, Inbound};
    let syms = kraken_exec::SymbolTable::from_names(["BTC/USD"]);
    let mut d = Decoder::new();
    let mut shadow = Book::new(10);
    let mut apply = |f: &str| {
        let Ok(Inbound::Book { kind, .. }) = d.decode(f.as_bytes(), &syms) else {
            panic!("a book frame");
        };
        shadow.apply(kind, d.book_bids(), d.book_asks(), None);
        shadow.checksum()
    };
    let bids: Vec<(i64, i64)> = (0..10).map(|i| (650_000 - i, 50_000_000)).collect();
    let asks: Vec<(i64, i64)> = (0..10).map(|i| (650_001 + i, 25_000_000)).collect();
    let cs = apply(&book_frame("snapshot", &bids, &asks, 0));
    let snapshot = book_frame("snapshot", &bids, &asks, cs);
    let updates = (0..n)
        .map(|i| {
            let lv = [(650_000, 50_000_000 + 1 + (i % 1000) as i64)];
            let cs = apply(&book_frame("update", &lv, &[], 0));
            book_frame("update", &lv, &[], cs)
        })
        .collect();
    (snapshot, updates)
}

/// The strategy of a tick-to-trade run: every book update it is handed gets an order (a bid
/// far below it), cancelled once open.
#[derive(Default)]
struct Reactor {
    fire: bool,
    open: Option<kraken_exec::OrderId>,
}

impl Strategy for Reactor {
    fn on_book(&mut self, _: kraken_exec::SymbolId, _: &kraken_exec::market::Book) {
        self.fire = true;
    }
    fn on_status_change(&mut self, c: &StatusChange) {
        if c.to == OrderStatus::Open {
            self.open = c.order_id;
        }
    }
}

/// Tick-to-trade against the reflector, wire to wire at the server: it writes a book update
/// on the public socket, the engine checks it and hands it to the strategy, which calls
/// `add_order`; the server times the update's write to the order's read. One at a time: the
/// next update follows the cancel of the last order. Returns the samples (ns).
pub fn tick_to_trade(server: &Server, n: usize, warmup: usize) -> Histogram<u64> {
    let Server::Reflector(r) = server else {
        panic!("tick-to-trade runs against the reflector");
    };
    let (snapshot, updates) = book_frames(n + warmup);
    r.set_tick_to_trade(snapshot, updates, warmup);
    let mut t = engine::start(server.config()).expect("engine");
    pin(strategy_core());
    let mut s = Reactor::default();
    assert!(
        t.wait_ready(&mut s, Duration::from_secs(10)),
        "engine not ready"
    );
    let btc = t.symbol("BTC/USD").expect("symbol");
    t.subscribe_book(btc, 10).expect("subscribe");
    let mut i = 0u64;
    let end = Instant::now() + Duration::from_secs(60 + n as u64 / 1000);
    let samples = loop {
        if t.poll(&mut s) == 0 && !s.fire && s.open.is_none() {
            std::thread::yield_now();
        }
        if std::mem::take(&mut s.fire)
            && let Some(bid) = t.book(btc).and_then(|b| b.best_bid())
        {
            i += 1;
            let id = ClOrdId::with_counter("t", i).expect("id");
            t.add_order(
                AddOrder::limit(btc, Side::Buy, QTY, bid.price - Decimal::from(10_000))
                    .cl_ord_id(id),
            )
            .expect("add_order");
        }
        if let Some(oid) = s.open.take() {
            t.cancel_order(OrderRef::OrderId(oid))
                .expect("cancel_order");
        }
        if i as usize >= n + warmup
            && let Some(v) = r.tick_to_trade(Duration::from_millis(1))
        {
            break v;
        }
        assert!(Instant::now() < end, "tick-to-trade run stalled at {i}");
    };
    let mut h = hist();
    for v in samples {
        let _ = h.record(v.max(1));
    }
    let st = t.statistics().market;
    println!(
        "  ({} book frames, {} checksum mismatches; book frame → on_book p50 {:.2} µs)",
        st.book_frames,
        st.book_mismatches,
        st.book_to_strategy.p50 as f64 / 1e3
    );
    let _ = t.shutdown();
    h
}

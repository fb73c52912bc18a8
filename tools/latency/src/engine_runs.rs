//! The engine's measures: round trips against the reflector or kraken-sim (optionally with
//! resting orders in the book), the engine's own tick-to-wire and wire-to-strategy split, and
//! open-loop runs at a fixed order rate.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kraken_exec::engine::clock::now_ns;
use kraken_exec::engine::{self, EngineConfig, IdleStrategy, LatencyReport, Statistics, Strategy};
use kraken_exec::orders::StatusChange;
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side};
use kraken_reflector::Reflector;
use kraken_sim::{Sim, SimConfig, Tier};
use rust_decimal::Decimal;

use crate::{hist, pin};

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
    pin(0);
    let mut acks = Acks::default();
    assert!(
        t.wait_ready(&mut acks, Duration::from_secs(10)),
        "engine not ready"
    );
    let btc = t.symbol("BTC/USD").expect("symbol");
    (t, acks, btc)
}

/// `n` add → ack, cancel → ack round trips (after `warmup`), one at a time, with `resting`
/// orders left open in the book (and the engine's tracker) throughout.
pub fn rtt(server: &Server, n: usize, warmup: usize, resting: usize) -> EngineRun {
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
    let (mut add_h, mut exec_h, mut cancel_h) = (hist(), hist(), hist());
    for i in 0..n + warmup {
        let id = ClOrdId::with_counter("b", i as u64).expect("id");
        acks.open.clear();
        // The engine's own clock, so the tracker's stamps compare.
        let t0 = now_ns();
        t.add_order(AddOrder::limit(btc, Side::Buy, QTY, PRICE).cl_ord_id(id))
            .expect("add_order");
        poll_until(&mut t, &mut acks, |a| a.open.contains(&id));
        let t1 = now_ns();
        // The first executions report (`pending_new`) may come just after the ack.
        let first = |t: &engine::Trader| {
            t.order_status(&OrderRef::ClOrdId(id))
                .map_or(0, |o| o.first_report_ns)
        };
        while first(&t) == 0 {
            if t.poll(&mut acks) == 0 {
                std::thread::yield_now();
            }
        }
        let t_exec = first(&t);
        let before = acks.canceled;
        // The reflector knows orders by Kraken id only.
        let oid = t
            .order_status(&OrderRef::ClOrdId(id))
            .and_then(|o| o.order_id)
            .expect("an acked order has an id");
        let t2 = now_ns();
        t.cancel_order(OrderRef::Id(oid)).expect("cancel_order");
        poll_until(&mut t, &mut acks, |a| a.canceled > before);
        if i >= warmup {
            let _ = add_h.record(t1 - t0);
            let _ = exec_h.record(t_exec.saturating_sub(t0).max(1));
            let _ = cancel_h.record(now_ns() - t2);
        }
    }
    assert_eq!(
        t.active_orders().count(),
        resting,
        "only the resting orders are left"
    );
    let stats = t.statistics();
    let report = t.shutdown().latency;
    EngineRun {
        add: add_h,
        add_to_exec: exec_h,
        cancel: cancel_h,
        report,
        stats,
    }
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
                let _ = t.cancel_order(OrderRef::Id(oid));
            }
        }
    }
    let s = t.statistics();
    t.shutdown();
    (h, s)
}

//! Same-thread mode (`Threading::SameThread`): no I/O thread; the strategy's thread drives
//! both sockets from `poll` and from its order calls, with the same `Trader` API.

use std::time::{Duration, Instant};

use kraken_exec::engine::{self, EngineConfig, Strategy, Threading};
use kraken_exec::market::Book;
use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side, SymbolId};
use rust_decimal_macros::dec;

#[derive(Default)]
struct Books(u32);

impl Strategy for Books {
    fn on_book(&mut self, _: SymbolId, b: &Book) {
        assert!(b.is_valid());
        self.0 += 1;
    }
}

/// The names of this process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_strategy_thread_drives_the_sockets_itself() {
    let sim = kraken_sim::Sim::start(kraken_sim::SimConfig {
        walk_interval: Duration::from_millis(20),
        ..kraken_sim::SimConfig::default()
    })
    .unwrap();
    let mut cfg = EngineConfig::simulator(&sim, &["BTC/USD"]);
    cfg.threading = Threading::SameThread;
    let mut t = engine::start(cfg).unwrap();
    // A new thread's name shows in /proc once the thread itself has run to set it: wait for
    // the cold thread's (bounded), then check there is no I/O thread beside it.
    let end = Instant::now() + Duration::from_secs(10);
    let names = loop {
        let names = threads();
        if names.iter().any(|n| n == "kraken-cold") {
            break names;
        }
        assert!(Instant::now() < end, "no cold thread: {names:?}");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        !names.iter().any(|n| n == "kraken-io"),
        "no I/O thread: {names:?}"
    );
    let mut s = Books::default();
    assert!(t.wait_ready(&mut s, Duration::from_secs(10)));
    let btc = t.symbol("BTC/USD").unwrap();
    t.subscribe_book(btc, 10).unwrap();

    let end = Instant::now() + Duration::from_secs(10);
    while s.0 < 5 {
        assert!(Instant::now() < end, "{} books", s.0);
        t.poll(&mut s);
        std::thread::sleep(Duration::from_millis(1));
    }
    // The simulator's counterparty flow would trade with the order: stopped.
    sim.with_exchange(|e| e.market_flow = false);

    // The order is on the wire when `add_order` returns: the exchange logs it with no poll.
    let id = ClOrdId::new("same-1").unwrap();
    let logged = |sim: &kraken_sim::Sim| {
        sim.with_exchange(|e| {
            e.requests
                .iter()
                .any(|r| r.cl_ord_ids.iter().any(|c| c == "same-1"))
        })
    };
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(30000)).cl_ord_id(id))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while !logged(&sim) {
        assert!(Instant::now() < end, "the add never reached the exchange");
        std::thread::sleep(Duration::from_millis(1));
    }
    let end = Instant::now() + Duration::from_secs(10);
    let status = |t: &engine::Trader| t.order_status(&OrderRef::ClOrdId(id)).map(|o| o.status);
    while status(&t) != Some(OrderStatus::Open) {
        assert!(Instant::now() < end, "{:?}", status(&t));
        t.poll(&mut s);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(t.book(btc).is_some());
    t.cancel_order(OrderRef::ClOrdId(id)).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while status(&t) != Some(OrderStatus::Canceled) {
        assert!(Instant::now() < end, "{:?}", status(&t));
        t.poll(&mut s);
        std::thread::sleep(Duration::from_millis(1));
    }
    // A clean stop from this thread: the dead man's switch disarmed, nothing left unanswered.
    let report = t.shutdown();
    assert!(report.unanswered.is_empty() && report.not_sent.is_empty());
    assert!(
        report.latency.tick_to_wire.len() >= 2,
        "the I/O side's histograms are handed over"
    );
}

//! A small market maker against the embedded simulator: one bid and one ask around the
//! market, amended in place as it moves, for ten seconds; then the fills, position and PnL.
//! (The `kraken-exec demo` command runs a fuller version with a status line and a ledger
//! reconciliation.)
//!
//! `cargo run --release --example market_maker`

use std::time::{Duration, Instant};

use kraken_exec::engine::{self, EngineConfig, Strategy};
use kraken_exec::orders::Fill;
use kraken_exec::risk::Tier;
use kraken_exec::{AddOrder, AmendOrder, ClOrdId, OrderRef, Side};
use kraken_sim::{Sim, SimConfig};
use rust_decimal_macros::dec;

struct Fills(u32);
impl Strategy for Fills {
    fn on_execution(&mut self, f: &Fill) {
        self.0 += 1;
        println!("fill: {:?} {} @ {}", f.side, f.qty, f.price);
    }
}

fn main() {
    let sim = Sim::start(SimConfig {
        tls: true,
        tier: kraken_sim::Tier::Pro,
        walk_interval: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .expect("simulator");
    let mut cfg = EngineConfig::simulator(&sim, &["BTC/USD"]);
    cfg.tier = Tier::Pro;
    let mut t = engine::start(cfg).expect("engine");
    let mut fills = Fills(0);
    assert!(
        t.wait_ready(&mut fills, Duration::from_secs(10)),
        "not connected"
    );
    let btc = t.symbol("BTC/USD").unwrap();

    // The simulator's reference price stands in for a market-data feed.
    let mid = || sim.with_exchange(|e| e.pairs[0].ref_price);
    let (bid, ask) = (
        ClOrdId::new("mm-bid").unwrap(),
        ClOrdId::new("mm-ask").unwrap(),
    );
    let half = dec!(0.3);
    let mut quoted = mid();
    t.add_order(
        AddOrder::limit(btc, Side::Buy, dec!(0.01), quoted - half)
            .post_only()
            .cl_ord_id(bid),
    )
    .unwrap();
    t.add_order(
        AddOrder::limit(btc, Side::Sell, dec!(0.01), quoted + half)
            .post_only()
            .cl_ord_id(ask),
    )
    .unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        t.poll(&mut fills);
        let m = mid();
        if (m - quoted).abs() >= dec!(0.2) {
            for (id, px) in [(bid, m - half), (ask, m + half)] {
                let live = t
                    .order_status(&OrderRef::ClOrdId(id))
                    .is_some_and(|o| o.status.is_active());
                if live {
                    let _ = t.amend_order(AmendOrder::new(OrderRef::ClOrdId(id)).price(px));
                }
            }
            quoted = m;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = t.cancel_all();
    std::thread::sleep(Duration::from_millis(200));
    t.poll(&mut fills);
    for (sym, p) in t.positions() {
        let upnl = p.unrealized_pnl(mid());
        println!(
            "{}: {} fills, position {}, realised {}, unrealised {}, fees {}",
            t.symbols().name(sym),
            fills.0,
            p.qty,
            p.realized_pnl.round_dp(4),
            upnl.round_dp(4),
            p.fees.round_dp(4)
        );
    }
    let _ = t.shutdown();
}

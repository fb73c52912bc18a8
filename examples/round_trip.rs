//! A minimal order round trip against the embedded simulator: place, see it open, cancel.
//!
//! `cargo run --release --example round_trip`

use std::time::Duration;

use kraken_exec::engine::{self, EngineConfig, Strategy};
use kraken_exec::orders::StatusChange;
use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side};
use kraken_sim::{Sim, SimConfig};
use rust_decimal_macros::dec;

struct Print;
impl Strategy for Print {
    fn on_status_change(&mut self, c: &StatusChange) {
        println!("{:?}  {:?} -> {:?}", c.cl_ord_id, c.from, c.to);
    }
}

fn main() {
    let sim = Sim::start(SimConfig {
        tls: true,
        market_flow: false,
        ..SimConfig::default()
    })
    .expect("simulator");
    let cfg = EngineConfig::simulator(&sim, &["BTC/USD"]);
    let mut trader = engine::start(cfg).expect("engine");
    assert!(
        trader.wait_ready(&mut Print, Duration::from_secs(10)),
        "not connected"
    );

    let btc = trader.symbol("BTC/USD").unwrap();
    let id = ClOrdId::new("example-1").unwrap();
    trader
        .add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(60000)).cl_ord_id(id))
        .unwrap();
    wait(&mut trader, id, OrderStatus::Open);
    trader.cancel_order(OrderRef::ClOrdId(id)).unwrap();
    wait(&mut trader, id, OrderStatus::Canceled);
    let _ = trader.shutdown();
}

fn wait(t: &mut engine::Trader, id: ClOrdId, want: OrderStatus) {
    while t.order_status(&OrderRef::ClOrdId(id)).map(|o| o.status) != Some(want) {
        t.poll(&mut Print);
        std::thread::sleep(Duration::from_millis(1));
    }
}

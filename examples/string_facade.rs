//! The string-level facade for existing bots: `place_order("BTC/USD", "buy", "0.01", "limit",
//! Some("65000"))`, with the clear errors it gives for bad input.
//!
//! `cargo run --release --example string_facade`

use std::time::Duration;

use kraken_exec::engine::{self, EngineConfig};
use kraken_sim::{Sim, SimConfig};

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
        trader.wait_ready(&mut (), Duration::from_secs(10)),
        "not connected"
    );

    for (sym, side, qty, ty, px) in [
        ("BTC/USD", "buy", "0.01", "limit", Some("60000")),
        ("BTC/USD", "sell", "0.01", "market", None),
        ("BTC/USD", "buy", "0.01", "limit", None),
        ("BTC/USD", "buy", "0.01", "limit", Some("60000.05")),
        ("BTC/USD", "hold", "0.01", "limit", Some("60000")),
        ("DOGE/USD", "buy", "1", "market", None),
        ("BTC/USD", "buy", "lots", "market", None),
    ] {
        match trader.place_order(sym, side, qty, ty, px) {
            Ok(req) => println!("{sym} {side} {qty} {ty} {px:?}: sent as request {req}"),
            Err(e) => println!("{sym} {side} {qty} {ty} {px:?}: refused: {e}"),
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    trader.poll(&mut ());
    println!("active orders: {}", trader.active_orders().count());
    let _ = trader.shutdown();
}

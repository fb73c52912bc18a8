//! The string-level facade for existing bots: `place_order("BTC/USD", "buy", "0.01", "limit",
//! Some("65000"))`, with the clear errors it gives for bad input.
//!
//! `cargo run --release --example string_facade`

use std::time::Duration;

use kraken_exec::engine::{self, EngineConfig, IdleStrategy};
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_sim::{Sim, SimConfig};

fn main() {
    let sim = Sim::start(SimConfig {
        tls: true,
        market_flow: false,
        ..SimConfig::default()
    })
    .expect("simulator");
    let creds = Credentials {
        key: sim.api_key().into(),
        secret: ApiSecret::from_base64(sim.api_secret()).unwrap(),
    };
    let mut cfg = EngineConfig::new(creds, &["BTC/USD"]);
    cfg.ws_url = sim.ws_url().into();
    cfg.rest_url = sim.rest_url().into();
    cfg.extra_ca_pem = sim.ca_pem().map(|p| p.as_bytes().to_vec());
    cfg.idle = IdleStrategy::Yield;
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
    trader.shutdown();
}

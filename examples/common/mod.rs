//! What the examples that measure the engine against the reflector share (`#[path]`-included).

use std::time::Duration;

use kraken_exec::OrderStatus;
use kraken_exec::engine::{EngineConfig, IdleStrategy, Strategy};
use kraken_exec::orders::StatusChange;
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_reflector::Reflector;

/// Counts orders that reached `Open` (`.0`) and `Canceled` (`.1`).
#[derive(Default)]
pub struct Acks(pub u64, pub u64);

impl Strategy for Acks {
    fn on_status_change(&mut self, c: &StatusChange) {
        match c.to {
            OrderStatus::Open => self.0 += 1,
            OrderStatus::Canceled => self.1 += 1,
            _ => {}
        }
    }
}

/// An engine configuration for `r` (TLS WebSocket, plain REST on loopback), blocking when
/// idle, without balances or the dead man's switch.
pub fn reflector_config(r: &Reflector) -> EngineConfig {
    let creds = Credentials {
        key: "k".into(),
        secret: ApiSecret::from_base64("c2VjcmV0").unwrap(),
    };
    let mut cfg = EngineConfig::new(creds, &["BTC/USD"]);
    cfg.ws_url = r.ws_url.clone();
    cfg.public_ws_url = r.ws_url.clone();
    cfg.rest_url = r.rest_url.clone();
    // The reflector answers REST in plain HTTP on loopback.
    cfg.allow_insecure_local = true;
    cfg.extra_ca_pem = r.ca_pem.clone().map(String::into_bytes);
    cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
    cfg.subscribe_balances = false;
    cfg.dead_man_timeout = None;
    cfg
}

/// Polls `t` until the condition on the counts holds.
pub type Wait<'a> =
    dyn FnMut(&mut kraken_exec::engine::Trader, &mut Acks, &dyn Fn(&Acks) -> bool) + 'a;

/// One round trip against the reflector: a limit buy tagged `prefix` + `i`, awaited open, then
/// cancelled by its order id (the reflector cancels by order id), awaited cancelled. `wait`
/// polls until its condition on the counts holds.
pub fn round_trip(
    t: &mut kraken_exec::engine::Trader,
    acks: &mut Acks,
    prefix: &str,
    i: u64,
    wait: &mut Wait<'_>,
) {
    use kraken_exec::{AddOrder, ClOrdId, OrderRef, Side};
    use rust_decimal::Decimal;
    let btc = t.symbol("BTC/USD").expect("configured");
    let id = ClOrdId::with_counter(prefix, i).unwrap();
    let open = acks.0;
    t.add_order(
        AddOrder::limit(btc, Side::Buy, Decimal::new(1, 2), Decimal::new(650001, 1)).cl_ord_id(id),
    )
    .unwrap();
    wait(t, acks, &|a| a.0 > open);
    let oid = t
        .order_status(&OrderRef::ClOrdId(id))
        .and_then(|o| o.order_id)
        .expect("open with an order id");
    let canceled = acks.1;
    t.cancel_order(OrderRef::OrderId(oid)).unwrap();
    wait(t, acks, &|a| a.1 > canceled);
}

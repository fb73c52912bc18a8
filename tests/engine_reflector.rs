//! The engine's drivers over real TLS sockets, against the reflector (canned answers). The
//! exchange behaviour itself is tested against kraken-sim.

use std::time::{Duration, Instant};

use kraken_exec::engine::{
    self, ConnectionState, EngineConfig, IdleStrategy, Strategy, TradeError,
};
use kraken_exec::orders::{Fill, StatusChange};
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side};
use kraken_reflector::Reflector;
use rust_decimal_macros::dec;

#[derive(Default)]
struct Recorder {
    changes: Vec<StatusChange>,
    fills: Vec<Fill>,
    connection: Vec<ConnectionState>,
}

impl Strategy for Recorder {
    fn on_status_change(&mut self, c: &StatusChange) {
        self.changes.push(*c);
    }
    fn on_execution(&mut self, f: &Fill) {
        self.fills.push(*f);
    }
    fn on_connection(&mut self, s: ConnectionState) {
        self.connection.push(s);
    }
}

fn config(r: &Reflector) -> EngineConfig {
    let creds = Credentials {
        key: "reflector-key".into(),
        secret: ApiSecret::from_base64("c2VjcmV0").unwrap(),
    };
    let mut cfg = EngineConfig::new(creds, &["BTC/USD", "ETH/USD"]);
    cfg.ws_url = r.ws_url.clone();
    cfg.rest_url = r.rest_url.clone();
    // The reflector answers REST in plain HTTP on loopback.
    cfg.allow_insecure_local = true;
    cfg.extra_ca_pem = r.ca_pem.clone().map(String::into_bytes);
    cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
    cfg
}

fn poll_until(
    t: &mut engine::Trader,
    rec: &mut Recorder,
    what: impl Fn(&engine::Trader) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        t.poll(rec);
        if what(t) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn connects_over_tls_places_and_cancels() {
    let r = Reflector::start(true, false).unwrap();
    let mut t = engine::start(config(&r)).unwrap();
    let mut rec = Recorder::default();
    assert!(
        t.wait_ready(&mut rec, Duration::from_secs(10)),
        "engine never became ready"
    );
    assert!(rec.connection.contains(&ConnectionState::Ready));
    let btc = t.symbol("BTC/USD").unwrap();
    assert!(
        t.instrument(btc).is_some(),
        "instrument rules loaded from the channel"
    );

    let c1 = ClOrdId::new("smoke-1").unwrap();
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(65000.1)).cl_ord_id(c1))
        .unwrap();
    assert!(poll_until(&mut t, &mut rec, |t| t
        .order_status(&OrderRef::ClOrdId(c1))
        .is_some_and(
            |o| o.status == OrderStatus::Open && o.order_id.is_some()
        )));
    let oid = t
        .order_status(&OrderRef::ClOrdId(c1))
        .unwrap()
        .order_id
        .unwrap();

    t.cancel_order(OrderRef::OrderId(oid)).unwrap();
    assert!(poll_until(&mut t, &mut rec, |t| t
        .order_status(&OrderRef::OrderId(oid))
        .is_some_and(|o| o.status == OrderStatus::Canceled)));
    let seen: Vec<_> = rec
        .changes
        .iter()
        .filter(|c| c.cl_ord_id == Some(c1) || c.order_id == Some(oid))
        .map(|c| c.to)
        .collect();
    assert_eq!(
        seen,
        vec![
            OrderStatus::Pending,
            OrderStatus::Open,
            OrderStatus::Canceled
        ]
    );

    // Refused before the wire: price off the 0.1 tick.
    let e = t
        .add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(65000.15)))
        .unwrap_err();
    assert!(matches!(e, TradeError::Invalid(_)), "{e:?}");

    let s = t.statistics();
    assert!(s.connected && s.authenticated);
    assert_eq!(s.websocket_orders, 2);
    assert_eq!(s.rest_fallback_orders, 0);
    assert_eq!(s.refused_locally, 1);
    assert!(s.ack.count >= 2 && s.ack.p50 > 0);
    assert!(
        s.dead_man_refreshes >= 1,
        "dead man's switch armed on connect"
    );
    let _ = t.shutdown();
}

//! The strategy thread of a running engine allocates nothing per order in steady state:
//! `add_order`, `cancel_order` and `poll` (events, tracker, callbacks), over real TLS sockets;
//! the I/O thread allocates exactly its documented figure (counted per named thread).

use std::time::{Duration, Instant};

use kraken_exec::engine::{self, EngineConfig, IdleStrategy, Strategy};
use kraken_exec::orders::StatusChange;
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side};
use kraken_reflector::Reflector;
use rust_decimal::Decimal;

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static A: counting::Counting = counting::Counting;

#[derive(Default)]
struct Acks {
    open: u64,
    canceled: u64,
}

impl Strategy for Acks {
    fn on_status_change(&mut self, c: &StatusChange) {
        match c.to {
            OrderStatus::Open => self.open += 1,
            OrderStatus::Canceled => self.canceled += 1,
            _ => {}
        }
    }
}

#[test]
fn neither_thread_allocates_per_order() {
    let r = Reflector::start(true, false).unwrap();
    let creds = Credentials {
        key: "k".into(),
        secret: ApiSecret::from_base64("c2VjcmV0").unwrap(),
    };
    let mut cfg = EngineConfig::new(creds, &["BTC/USD"]);
    cfg.ws_url = r.ws_url.clone();
    cfg.rest_url = r.rest_url.clone();
    // The reflector answers REST in plain HTTP on loopback.
    cfg.allow_insecure_local = true;
    cfg.extra_ca_pem = r.ca_pem.clone().map(String::into_bytes);
    cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
    cfg.subscribe_balances = false;
    let mut t = engine::start(cfg).unwrap();
    let mut acks = Acks::default();
    assert!(t.wait_ready(&mut acks, Duration::from_secs(10)));
    let btc = t.symbol("BTC/USD").unwrap();
    let px = Decimal::new(650001, 1);
    let round = |t: &mut engine::Trader, acks: &mut Acks, i: u64| {
        let id = ClOrdId::with_counter("a-", i).unwrap();
        let open = acks.open;
        t.add_order(AddOrder::limit(btc, Side::Buy, Decimal::new(1, 2), px).cl_ord_id(id))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while acks.open == open && Instant::now() < deadline {
            if t.poll(acks) == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let oid = t
            .order_status(&OrderRef::ClOrdId(id))
            .and_then(|o| o.order_id)
            .expect("acked");
        let canceled = acks.canceled;
        t.cancel_order(OrderRef::OrderId(oid)).unwrap();
        while acks.canceled == canceled && Instant::now() < deadline {
            if t.poll(acks) == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        assert!(acks.canceled > canceled, "order {i} not cancelled in time");
    };
    for i in 0..500 {
        round(&mut t, &mut acks, i);
    }
    let before = counting::allocs();
    let io_before = counting::allocs_of("kraken-io");
    for i in 500..1000 {
        round(&mut t, &mut acks, i);
    }
    let allocs = counting::allocs() - before;
    let io = counting::allocs_of("kraken-io") - io_before;
    // Over TLS: rustls does the handshake only; records are sealed and opened by our own layer
    // (`engine/tls13.rs`), frames read and written by ours (`engine/ws_frame.rs`), in reused
    // buffers. A round is 2 requests and 5 frames (the add's ack, `pending_new` and `new`; the
    // cancel's ack and `canceled`), heartbeats and pings between them.
    assert_eq!(
        io, 0,
        "I/O thread allocations over 500 add+cancel round trips over TLS"
    );
    assert_eq!(
        allocs, 0,
        "strategy-thread allocations over 500 add+cancel round trips"
    );
    assert_eq!((acks.open, acks.canceled), (1000, 1000));
    // The counter does count on this thread.
    counting::assert_counts();
    let _ = t.shutdown();
}

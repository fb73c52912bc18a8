//! The engine end to end against kraken-sim over TLS: every outcome asserted exactly, and the
//! engine's view reconciled against the simulator's ledger.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use kraken_exec::engine::{ConnectionState, TradeError, Trader};
use kraken_exec::risk::Tier;
use kraken_exec::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, ClOrdId, DecodeError, OrderRef, OrderStatus, Side,
};
use kraken_sim::{Sim, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

#[path = "support/sim_engine.rs"]
mod sim_engine;
use sim_engine::*;

/// An empty directory for a test's journal.
fn journal_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kxj-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every fill the simulator recorded is in the engine's view exactly once, and every order's
/// filled quantity and final status agree.
fn reconcile(t: &Trader, rec: &Rec, s: &Sim) {
    let ledger = s.ledger();
    let fills = ledger["fills"].as_array().unwrap();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for f in &rec.fills {
        *seen.entry(f.exec_id.as_str()).or_default() += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "a fill was delivered twice");
    assert_eq!(
        rec.fills.len(),
        fills.len(),
        "fills: engine {} vs ledger {}",
        rec.fills.len(),
        fills.len()
    );
    for f in fills {
        let id = f["exec_id"].as_str().unwrap();
        let mine = rec
            .fills
            .iter()
            .find(|m| m.exec_id.as_str() == id)
            .unwrap_or_else(|| panic!("lost fill {id}"));
        assert_eq!(mine.qty, d(&f["qty"]), "qty of {id}");
        assert_eq!(mine.price, d(&f["price"]), "price of {id}");
        assert_eq!(
            mine.fee.map(|f| f.qty).unwrap_or_default(),
            d(&f["fee"]),
            "fee of {id}"
        );
    }
    // Every order at the exchange is known to the engine (by id or client id) in the same
    // state...
    let orders = ledger["orders"].as_array().unwrap();
    for o in orders {
        let id = kraken_exec::OrderId::new(o["order_id"].as_str().unwrap()).unwrap();
        let mine = t.order_status(&OrderRef::OrderId(id)).or_else(|| {
            o["cl_ord_id"]
                .as_str()
                .and_then(|c| t.order_status(&OrderRef::ClOrdId(cid(c))))
                .filter(|m| m.order_id.is_none_or(|m| m == id))
        });
        let mine =
            mine.unwrap_or_else(|| panic!("the engine does not know {id} ({})", o["cl_ord_id"]));
        assert_eq!(mine.filled_qty, d(&o["filled"]), "filled of {id}");
        let want = match o["status"].as_str().unwrap() {
            "filled" => OrderStatus::Filled,
            "canceled" => OrderStatus::Canceled,
            "expired" => OrderStatus::Expired,
            "new" if d(&o["filled"]).is_zero() => OrderStatus::Open,
            "new" | "partially_filled" => OrderStatus::PartiallyFilled,
            other => panic!("status {other}"),
        };
        assert_eq!(mine.status, want, "status of {id}");
    }
    // ... and every order the engine holds as placed is at the exchange; what it settled as
    // not placed is not.
    for mine in t.tracker().orders() {
        let at_exchange = orders.iter().any(|o| {
            mine.order_id.is_some_and(|id| o["order_id"] == id.as_str())
                || (mine.order_id.is_none()
                    && mine.cl_ord_id.is_some_and(|c| o["cl_ord_id"] == c.as_str()))
        });
        assert_eq!(
            at_exchange,
            mine.status != OrderStatus::Rejected,
            "{:?} ({:?}) is {:?} in the engine",
            mine.order_id,
            mine.cl_ord_id,
            mine.status
        );
    }
}

#[test]
fn lifecycle_with_partial_fills_matches_the_ledger() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    let btc = t.symbol("BTC/USD").unwrap();
    let c = cid("life-1");
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(1), dec!(64000)).cl_ord_id(c))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, c)
        == Some(OrderStatus::Open)));
    s.inject_aggressive_order("BTC/USD", false, dec!(0.25))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, c)
        == Some(OrderStatus::PartiallyFilled)));
    let o = *t.order_status(&OrderRef::ClOrdId(c)).unwrap();
    assert_eq!((o.filled_qty, o.remaining_qty()), (dec!(0.25), dec!(0.75)));
    s.set_reference_price("BTC/USD", dec!(63990)).unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, c)
        == Some(OrderStatus::Filled)));
    let o = *t.order_status(&OrderRef::ClOrdId(c)).unwrap();
    assert_eq!(
        (o.filled_qty, o.avg_price, o.fill_count),
        (dec!(1), dec!(64000), 2)
    );
    assert_eq!(rec.fills.len(), 2);
    assert_eq!(rec.fills.iter().map(|f| f.qty).sum::<Decimal>(), dec!(1));
    let pos = t.positions().find(|(sym, _)| *sym == btc).unwrap().1.qty;
    assert_eq!(pos, dec!(1));
    let st = t.statistics();
    assert_eq!(
        (
            st.tracker.orders_submitted,
            st.tracker.orders_filled,
            st.tracker.fills
        ),
        (1, 1, 2)
    );
    reconcile(&t, &rec, &s);
    let _ = t.shutdown();
}

#[test]
fn amend_keeps_the_id_cancel_cancel_all_and_batches() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    let btc = t.symbol("BTC/USD").unwrap();
    let a = cid("am-1");
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.5), dec!(60000)).cl_ord_id(a))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, a)
        == Some(OrderStatus::Open)));
    let id = t
        .order_status(&OrderRef::ClOrdId(a))
        .unwrap()
        .order_id
        .unwrap();
    t.amend_order(
        AmendOrder::new(OrderRef::OrderId(id))
            .price(dec!(60100))
            .qty(dec!(0.6)),
    )
    .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| t
        .order_status(&OrderRef::OrderId(id))
        .is_some_and(|o| o.amends == 1)));
    let o = *t.order_status(&OrderRef::OrderId(id)).unwrap();
    assert_eq!(
        (o.order_id, o.limit_price, o.order_qty, o.status),
        (Some(id), Some(dec!(60100)), dec!(0.6), OrderStatus::Open)
    );

    t.cancel_order(OrderRef::ClOrdId(a)).unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, a)
        == Some(OrderStatus::Canceled)));

    let mut orders = ArrayVec::new();
    for (i, px) in [dec!(59000), dec!(59100), dec!(59200)]
        .into_iter()
        .enumerate()
    {
        orders.push(
            AddOrder::limit(btc, Side::Buy, dec!(0.1), px)
                .cl_ord_id(ClOrdId::with_counter("bt-", i as u64).unwrap()),
        );
    }
    t.batch_add(BatchAdd {
        symbol: btc,
        orders,
        deadline: None,
        validate: false,
    })
    .unwrap();
    let ids: Vec<ClOrdId> = (0..3)
        .map(|i| ClOrdId::with_counter("bt-", i).unwrap())
        .collect();
    assert!(until(&mut t, &mut rec, 5, |t, _| ids
        .iter()
        .all(|c| status(t, *c) == Some(OrderStatus::Open))));
    let mut bc = BatchCancel::default();
    bc.refs.push(OrderRef::ClOrdId(ids[0]));
    bc.refs.push(OrderRef::OrderId(
        t.order_status(&OrderRef::ClOrdId(ids[1]))
            .unwrap()
            .order_id
            .unwrap(),
    ));
    t.batch_cancel(bc).unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, ids[0])
        == Some(OrderStatus::Canceled)
        && status(t, ids[1]) == Some(OrderStatus::Canceled)));
    assert_eq!(status(&t, ids[2]), Some(OrderStatus::Open));

    t.add_order(AddOrder::limit(btc, Side::Sell, dec!(0.1), dec!(70000)).cl_ord_id(cid("ca-1")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("ca-1"))
        == Some(OrderStatus::Open)));
    t.cancel_all().unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| t.active_orders().count() == 0));
    let st = t.statistics();
    assert_eq!(st.tracker.orders_cancelled, 5);
    assert_eq!(st.rest_fallback_orders, 0);
    reconcile(&t, &rec, &s);
    let _ = t.shutdown();
}

/// How many requests of `method` the simulator received (its request log).
fn methods_received(s: &Sim, method: &str) -> usize {
    requests(s).iter().filter(|r| r["method"] == method).count()
}

#[test]
fn dead_mans_switch_is_refreshed_while_alive_and_fires_after_a_crash() {
    let s = sim(false);
    let (mut t, mut rec) = start_armed(&s, |c| {
        c.dead_man_timeout = Some(Duration::from_secs(2));
        c.dead_man_refresh = Duration::from_millis(300);
    });
    let btc = t.symbol("BTC/USD").unwrap();
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("dm-1")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("dm-1"))
        == Some(OrderStatus::Open)
        && t.statistics().dead_man_armed));
    // Alive: twice the switch's timeout passes on the exchange's clock, and the refreshes
    // that reach it keep the order.
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        t.poll(&mut rec);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        s.ledger()["orders"][0]["status"],
        "new",
        "refreshed while alive"
    );
    assert!(methods_received(&s, "cancel_all_orders_after") >= 8);
    // Crashed: nothing disarms it; within its timeout the exchange cancels the order.
    t.kill();
    let end = Instant::now() + Duration::from_secs(5);
    while s.ledger()["orders"][0]["status"] != "canceled" && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.ledger()["orders"][0]["status"], "canceled");
}

/// Places `n` bids of 0.4 BTC 10 apart below 64,000, tagged `prefix` and a counter, and waits
/// until all rest: an aggressive sell then fills them in order.
fn resting_bids(t: &mut Trader, rec: &mut Rec, prefix: &str, n: u64) {
    let btc = t.symbol("BTC/USD").unwrap();
    let ids: Vec<ClOrdId> = (0..n)
        .map(|i| ClOrdId::with_counter(prefix, i).unwrap())
        .collect();
    for (i, c) in ids.iter().enumerate() {
        let px = dec!(64000) - Decimal::from(i as i64 * 10);
        t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.4), px).cl_ord_id(*c))
            .unwrap();
    }
    assert!(until(t, rec, 5, |t, _| ids
        .iter()
        .all(|c| status(t, *c) == Some(OrderStatus::Open))));
}

#[test]
fn a_dropped_executions_frame_is_a_gap_recovered_without_a_disconnect() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    resting_bids(&mut t, &mut rec, "gap-", 4);
    // The frame with the first fill is lost; the next one shows the gap.
    s.fault("drop-exec-frame").unwrap();
    s.inject_aggressive_order("BTC/USD", false, dec!(0.5))
        .unwrap();
    s.inject_aggressive_order("BTC/USD", false, dec!(0.5))
        .unwrap();
    let want = s.ledger()["fills"].as_array().unwrap().len();
    assert!(want >= 2);
    assert!(
        until(&mut t, &mut rec, 10, |_, r| r.fills.len() == want),
        "fills {} of {want}",
        rec.fills.len()
    );
    let st = t.statistics();
    assert_eq!((st.sequence_gaps, st.disconnects), (1, 0));
    reconcile(&t, &rec, &s);
    let _ = t.shutdown();
}

#[test]
fn clean_shutdown_disarms_the_switch() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |c| c.dead_man_timeout = Some(Duration::from_secs(60)));
    let btc = t.symbol("BTC/USD").unwrap();
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("dm-2")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("dm-2"))
        == Some(OrderStatus::Open)));
    let _ = t.shutdown();
    // The disarm was written before the socket closed; the exchange has it once it has read
    // it (bounded polling of its state, not a guess of how long that takes).
    let end = Instant::now() + Duration::from_secs(5);
    while s.with_exchange(|e| e.dead_man_armed(0)) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.advance(Duration::from_secs(120));
    assert_eq!(s.ledger()["orders"][0]["status"], "new");
}

#[test]
fn local_rate_limit_refuses_before_the_exchange_would() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |c| c.tier = Tier::Starter);
    let btc = t.symbol("BTC/USD").unwrap();
    let mut refused = None;
    let started = Instant::now();
    for i in 0..70u64 {
        let o = AddOrder::limit(btc, Side::Buy, dec!(0.001), dec!(50000))
            .cl_ord_id(ClOrdId::with_counter("rl-", i).unwrap());
        match t.add_order(o) {
            Ok(_) => {}
            Err(TradeError::RateLimited(e)) => {
                refused = Some((i, e));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (i, e) = refused.expect("the local counter refused");
    // The counter decays a point a second of wall time while the loop runs, so a slow machine
    // lets a few more through; the exact count is proven on simulated time
    // (dst::tests::the_local_rate_counter_refuses_the_add_that_would_reach_the_threshold).
    let decayed = started.elapsed().as_secs() + 1;
    assert!(
        (59..=59 + decayed).contains(&i),
        "refused at add {i}: the 60th would reach Kraken's threshold of 60, less {decayed} decayed"
    );
    assert_eq!(e.threshold, 60);
    // The first 59 are under the threshold however the two counters decay: all open, none
    // refused by the exchange. One let through by decay can be at the threshold's edge, where
    // the exchange's counter (decaying from arrival, not from sending) may still refuse it.
    let first: Vec<ClOrdId> = (0..59)
        .map(|k| ClOrdId::with_counter("rl-", k).unwrap())
        .collect();
    let open = |t: &Trader| {
        first
            .iter()
            .filter(|&&id| {
                t.order_status(&OrderRef::ClOrdId(id))
                    .is_some_and(|o| o.status == OrderStatus::Open)
            })
            .count()
    };
    assert!(until(&mut t, &mut rec, 5, |t, _| open(t) == 59));
    assert!(
        rec.changes
            .iter()
            .all(|c| c.to != OrderStatus::Rejected
                || !c.cl_ord_id.is_some_and(|id| first.contains(&id))),
        "the exchange refused none of the first 59"
    );
    let _ = t.shutdown();
}

/// The add_order requests the simulator received for `cl_ord_id` (its request log).
fn adds_received(s: &Sim, cl_ord_id: &str) -> usize {
    requests_naming(s, cl_ord_id)
        .iter()
        .filter(|r| r["method"] == "add_order")
        .count()
}

#[test]
fn a_request_stalled_past_its_deadline_is_unknown_then_refused_by_the_exchange() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |c| {
        c.request_timeout = Duration::from_millis(300);
        c.watchdog = Duration::from_secs(30);
    });
    let btc = t.symbol("BTC/USD").unwrap();
    // Every request read from now on waits out the stall.
    s.fault("stall:1500").unwrap();
    let c = cid("st-1");
    let req = t
        .add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(c))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |_, r| r.unknown.contains(&req)));
    assert!(
        rec.changes
            .iter()
            .any(|ch| ch.cl_ord_id == Some(c) && ch.to == OrderStatus::Unknown)
    );
    // The request reaches the matching engine after its deadline (0.6 s): refused there. The
    // late answer (or the lookup after the deadline) settles it as not placed, never resent.
    assert!(until(&mut t, &mut rec, 10, |t, _| status(t, c)
        == Some(OrderStatus::Rejected)));
    assert!(s.ledger()["orders"].as_array().unwrap().is_empty());
    assert_eq!(adds_received(&s, "st-1"), 1, "sent once");
    let _ = t.shutdown();
}

#[test]
fn a_placed_order_whose_ack_is_lost_is_found_and_never_resent() {
    let s = sim(false);
    // The dead man's switch is armed first: the lost ack is the add's.
    let (mut t, mut rec) = start_armed(&s, |c| c.request_timeout = Duration::from_millis(500));
    let btc = t.symbol("BTC/USD").unwrap();
    s.fault("drop-acks:1").unwrap();
    let c = cid("al-1");
    let req = t
        .add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(c))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, r| r.unknown.contains(&req)
        && status(t, c) == Some(OrderStatus::Open)));
    assert_eq!(s.ledger()["orders"][0]["status"], "new");
    assert_eq!(adds_received(&s, "al-1"), 1, "sent once");
    assert_eq!(t.tracker().orders().count(), 1, "one record");
    let _ = t.shutdown();
}

#[test]
fn requests_lost_with_the_connection_are_unknown_at_once_and_one_incident() {
    let s = sim(false);
    // Deadlines 3 s away: an unknown outcome seen within 1.5 s comes from the drop, not a
    // deadline. Two failures open the breaker: the drop is one, the lost requests must not
    // add more.
    let (mut t, mut rec) = start(&s, |c| {
        c.request_timeout = Duration::from_secs(3);
        c.breaker_threshold = 2;
    });
    let btc = t.symbol("BTC/USD").unwrap();
    s.fault("stall:300").unwrap();
    let ids = ["lo-0", "lo-1", "lo-2"].map(cid);
    let mut reqs = Vec::new();
    for (i, c) in ids.iter().enumerate() {
        let px = dec!(60000) + Decimal::from(i as i64);
        reqs.push(
            t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), px).cl_ord_id(*c))
                .unwrap(),
        );
    }
    // The simulator drops the connection when its stall ends, without reading the requests.
    s.fault("drop-now").unwrap();
    assert!(
        until(&mut t, &mut rec, 1, |_, r| reqs
            .iter()
            .all(|q| r.unknown.contains(q))),
        "unknown: {:?} of {reqs:?}",
        rec.unknown
    );
    assert!(rec.states.contains(&ConnectionState::Disconnected));
    assert!(!t.statistics().breaker_open, "one incident, one failure");
    // Never resent: once their deadlines passed, the lookups find nothing, so each is
    // settled as not placed.
    assert!(until(&mut t, &mut rec, 10, |t, _| ids
        .iter()
        .all(|c| status(t, *c) == Some(OrderStatus::Rejected))));
    assert_eq!(s.ledger()["orders"].as_array().unwrap().len(), 0);
    let _ = t.shutdown();
}

#[test]
fn lookups_that_fail_are_asked_again_without_settling_the_order() {
    let s = sim(false);
    let (mut t, mut rec) = start_armed(&s, |c| c.request_timeout = Duration::from_secs(2));
    let btc = t.symbol("BTC/USD").unwrap();
    s.fault("stall:300").unwrap();
    let c = cid("lf-1");
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(c))
        .unwrap();
    // REST is down while the engine looks the lost request up.
    s.fault("rest-unavailable:on").unwrap();
    s.fault("drop-now").unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, c)
        == Some(OrderStatus::Unknown)));
    // Failed lookups say nothing: for longer than three attempts would take, still unknown.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!until(&mut t, &mut rec, 4, |t, _| status(t, c)
        != Some(OrderStatus::Unknown)));
    // REST back: the order is not there (it never reached the book), so it is settled.
    // (The token retries of the outage, every 200 ms in this test's configuration, have
    // filled the REST call counter, Starter's 15; it makes room at 0.33 calls a second.)
    s.fault("rest-unavailable:off").unwrap();
    assert!(until(&mut t, &mut rec, 20, |t, _| status(t, c)
        == Some(OrderStatus::Rejected)));
    assert_eq!(
        s.with_exchange(|e| e.rest_rate_limited),
        0,
        "the engine kept to it"
    );
    assert_eq!(s.ledger()["orders"].as_array().unwrap().len(), 0);
    let _ = t.shutdown();
}

#[test]
fn fills_beyond_the_snapshot_while_away_come_from_the_trade_history() {
    let s = Sim::start(SimConfig {
        tls: true,
        market_flow: false,
        tier: kraken_sim::Tier::Pro,
        ..SimConfig::default()
    })
    .unwrap();
    let (mut t, mut rec) = start(&s, |c| c.tier = Tier::Pro);
    let btc = t.symbol("BTC/USD").unwrap();
    let n = 64; // more than the 50 fills a reconnect snapshot replays
    for i in 0..n {
        let px = dec!(64000) - Decimal::from(i);
        t.add_order(
            AddOrder::limit(btc, Side::Buy, dec!(0.001), px)
                .cl_ord_id(ClOrdId::with_counter("away-", i).unwrap()),
        )
        .unwrap();
    }
    assert!(until(&mut t, &mut rec, 10, |t, _| t
        .active_orders()
        .filter(|o| o.status == OrderStatus::Open)
        .count()
        == n as usize));
    // Away: the socket drops and cannot come back while the market fills every order.
    s.fault("refuse-ws:on").unwrap();
    s.fault("drop-now").unwrap();
    assert!(until(&mut t, &mut rec, 5, |_, r| downs(r) == 1));
    for _ in 0..n {
        s.inject_aggressive_order("BTC/USD", false, dec!(1))
            .unwrap();
    }
    assert_eq!(
        s.with_exchange(|e| e.fills.len()),
        n as usize,
        "{}",
        s.ledger()
    );
    t.poll(&mut rec);
    assert!(rec.fills.is_empty(), "nothing arrived while away");
    s.fault("refuse-ws:off").unwrap();
    assert!(
        until(&mut t, &mut rec, 10, |t, r| r.fills.len() == n as usize
            && t.active_orders().count() == 0),
        "{} fills of {n}, {} active",
        rec.fills.len(),
        t.active_orders().count()
    );
    reconcile(&t, &rec, &s);
    let st = t.statistics();
    assert_eq!(st.tracker.fills, n);
    assert!(
        st.tracker.duplicate_fills >= 50,
        "the snapshot's 50 came twice"
    );
    let _ = t.shutdown();
}

#[test]
fn token_invalidation_falls_back_to_rest_then_recovers() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    let btc = t.symbol("BTC/USD").unwrap();
    // `Ready` comes with the executions ack; wait for the balances snapshot and the dead man's
    // switch too, so that no authenticated request is still on its way to meet the
    // invalidated token.
    assert!(until(&mut t, &mut rec, 5, |t, r| r.balances > 0
        && t.statistics().dead_man_armed));
    // The WebSocket stays down until the test lifts this: a window in which orders must go
    // over REST, however the threads are scheduled.
    s.fault("refuse-ws:on").unwrap();
    s.fault("invalidate-tokens").unwrap();
    // The next WS request fails with ESession:Invalid session; the engine drops the socket to
    // reconnect with a fresh token.
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("tk-0")))
        .unwrap();
    assert!(
        until(&mut t, &mut rec, 5, |t, r| r
            .states
            .contains(&ConnectionState::Disconnected)
            && status(t, cid("tk-0")) == Some(OrderStatus::Rejected)),
        "tk-0 {:?}, states {:?}",
        status(&t, cid("tk-0")),
        rec.states
    );
    // Meanwhile: REST.
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60010)).cl_ord_id(cid("tk-1")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("tk-1"))
        == Some(OrderStatus::Open)));
    assert_eq!(t.statistics().rest_fallback_orders, 1);
    assert_ne!(t.connection(), ConnectionState::Ready);
    // Back on the WebSocket with a fresh token.
    s.fault("refuse-ws:off").unwrap();
    assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
        == ConnectionState::Ready));
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60020)).cl_ord_id(cid("tk-2")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("tk-2"))
        == Some(OrderStatus::Open)));
    let st = t.statistics();
    assert_eq!(
        (st.connects, st.rest_fallback_orders, st.websocket_orders),
        (2, 1, 2)
    );
    assert!(st.tokens_fetched >= 2, "fresh token");
    reconcile(&t, &rec, &s);
    let _ = t.shutdown();
}

#[test]
fn watchdog_reconnects_a_silent_connection() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |c| c.watchdog = Duration::from_millis(900));
    s.fault("stall:2500").unwrap();
    assert!(
        until(&mut t, &mut rec, 5, |t, _| t.statistics().disconnects >= 1),
        "watchdog fired"
    );
    s.fault("clear").unwrap();
    assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
        == ConnectionState::Ready
        && t.statistics().connects >= 2));
    let _ = t.shutdown();
}

#[test]
fn string_facade_parses_or_refuses_clearly() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    t.place_order("BTC/USD", "buy", "0.01", "limit", Some("65000"))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| t.active_orders().any(
        |o| o.status == OrderStatus::Open && o.limit_price == Some(dec!(65000))
    )));
    assert_eq!(
        t.place_order("BTC/USD", "hold", "0.01", "limit", Some("1")),
        Err(TradeError::BadArgument("side"))
    );
    assert_eq!(
        t.place_order("BTC/USD", "buy", "lots", "market", None),
        Err(TradeError::BadArgument("qty"))
    );
    assert_eq!(
        t.place_order("BTC/USD", "buy", "0.01", "limit", Some("x")),
        Err(TradeError::BadArgument("price"))
    );
    assert_eq!(
        t.place_order("BTC/USD", "buy", "0.01", "stop", None),
        Err(TradeError::BadArgument("order_type"))
    );
    assert_eq!(
        t.place_order("DOGE/USD", "buy", "1", "market", None),
        Err(TradeError::UnknownSymbol)
    );
    assert!(matches!(
        t.place_order("BTC/USD", "buy", "0.01", "limit", None),
        Err(TradeError::Invalid(_))
    ));
    let _ = t.shutdown();
}

#[test]
fn breaker_opens_on_consecutive_failures_and_resets() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |c| {
        c.breaker_threshold = 3;
        c.breaker_cooldown = Duration::from_millis(800);
    });
    let btc = t.symbol("BTC/USD").unwrap();
    s.fault("rest-unavailable:on").unwrap();
    s.fault("invalidate-tokens").unwrap();
    s.fault("drop-now").unwrap();
    // The socket drops and cannot come back (no token over REST): orders fall back to REST,
    // which fails; the breaker opens.
    let mut opened = false;
    for i in 0..40u64 {
        match t.add_order(
            AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000))
                .cl_ord_id(ClOrdId::with_counter("br-", i).unwrap()),
        ) {
            Err(TradeError::BreakerOpen(_)) => {
                opened = true;
                break;
            }
            _ => {
                for _ in 0..20 {
                    t.poll(&mut rec);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    assert!(opened, "breaker never opened: {:?}", t.statistics());
    assert!(t.statistics().breaker_open);
    // Cancels always pass.
    assert!(t.cancel_all().is_ok());
    s.fault("clear").unwrap();
    s.fault("rest-unavailable:off").unwrap();
    assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
        == ConnectionState::Ready));
    std::thread::sleep(Duration::from_millis(900));
    assert!(
        t.add_order(
            AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("br-ok"))
        )
        .is_ok(),
        "breaker reset after the cool-down"
    );
    let _ = t.shutdown();
}

#[test]
fn dropped_connection_and_dropped_frame_lose_and_double_nothing() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    resting_bids(&mut t, &mut rec, "df-", 6);
    // A frame of the fill stream is lost: the next shows a gap, the engine re-snapshots.
    s.fault("drop-exec-frame").unwrap();
    s.inject_aggressive_order("BTC/USD", false, dec!(0.5))
        .unwrap();
    s.inject_aggressive_order("BTC/USD", false, dec!(0.5))
        .unwrap();
    // Then the connection drops mid-stream; fills keep happening while we are away.
    s.fault("drop-now").unwrap();
    s.inject_aggressive_order("BTC/USD", false, dec!(1))
        .unwrap();
    s.inject_aggressive_order("BTC/USD", false, dec!(0.5))
        .unwrap();
    assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
        == ConnectionState::Ready
        && t.statistics().connects >= 2));
    let want = s.ledger()["fills"].as_array().unwrap().len();
    assert!(
        until(&mut t, &mut rec, 10, |_, r| r.fills.len() >= want),
        "fills {} of {want}",
        rec.fills.len()
    );
    reconcile(&t, &rec, &s);
    assert_eq!(t.statistics().disconnects, 1);
    let _ = t.shutdown();
}

#[test]
fn non_json_frame_is_counted_and_the_loop_survives() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    s.fault("non-json").unwrap();
    assert!(until(&mut t, &mut rec, 5, |_, r| r
        .decode_errors
        .contains(&DecodeError::NotJson)));
    let btc = t.symbol("BTC/USD").unwrap();
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("nj-1")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("nj-1"))
        == Some(OrderStatus::Open)));
    let st = t.statistics();
    assert_eq!((st.non_json_frames, st.connects), (1, 1));
    let _ = t.shutdown();
}

#[test]
fn soak_with_disconnects_reconciles_with_zero_differences() {
    // 10,000 orders and 20 disconnects by default (about 10 s in a debug build);
    // `SOAK_ORDERS=100000 SOAK_DISCONNECTS=200` for a longer one.
    let orders: u64 = std::env::var("SOAK_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let drops: u64 = std::env::var("SOAK_DISCONNECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // The simulator's rate limits are off (Tier::Unlimited; it reports its threshold in the
    // ack and the engine calibrates), its market walks and trades against us.
    let s = Sim::start(SimConfig {
        tls: true,
        market_flow: true,
        walk_interval: Duration::from_millis(20),
        tier: kraken_sim::Tier::Unlimited,
        ..SimConfig::default()
    })
    .unwrap();
    // Its REST counter is off too, so the engine's model of it is.
    let (mut t, mut rec) = start(&s, |c| {
        c.tier = Tier::Pro;
        c.model_rest_counter = false;
    });
    let btc = t.symbol("BTC/USD").unwrap();
    let every = (orders / (drops + 1)).max(1);
    let mut dropped = 0u64;
    let mut since_drop = u64::MAX;
    for sent in 0..orders {
        // A few orders go over REST while the socket is down, the rest over the WebSocket.
        if since_drop == 8 {
            assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
                == ConnectionState::Ready));
        }
        since_drop = since_drop.saturating_add(1);
        if sent > 0 && sent % every == 0 && dropped < drops {
            // Drop only a live, subscribed connection, and wait until the engine has seen it,
            // so each drop is a real disconnect with orders and fills in flight.
            // `Ready` and the disconnects come from the same event stream, so a `Ready` seen
            // here is the live connection's, never a stale one from before the last drop.
            assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
                == ConnectionState::Ready));
            let before = downs(&rec);
            s.fault("drop-now").unwrap();
            assert!(
                until(&mut t, &mut rec, 10, |_, r| downs(r) > before),
                "drop {dropped} not seen: {:?}",
                t.statistics()
            );
            dropped += 1;
            since_drop = 0;
        }
        let side = if sent % 2 == 0 { Side::Buy } else { Side::Sell };
        let off = Decimal::from((sent % 7) as i64);
        let px = if side == Side::Buy {
            dec!(64999.0) - off
        } else {
            dec!(65001.0) + off
        };
        let o = AddOrder::limit(btc, side, dec!(0.001), px)
            .cl_ord_id(ClOrdId::with_counter("sk-", sent).unwrap());
        loop {
            match t.add_order(o) {
                Ok(_) => break,
                Err(TradeError::BreakerOpen(_) | TradeError::Backpressure) => {
                    t.poll(&mut rec);
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        }
        if sent % 50 == 49 {
            let _ = t.cancel_all();
        }
        t.poll(&mut rec);
    }
    assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
        == ConnectionState::Ready));
    // Every request answered or resolved first: a REST add still queued behind the final
    // cancel_all would rightly stay open.
    let unsettled = |t: &Trader| {
        t.active_orders()
            .filter(|o| !matches!(o.status, OrderStatus::Open | OrderStatus::PartiallyFilled))
            .map(|o| (o.cl_ord_id, o.order_id, o.status))
            .collect::<Vec<_>>()
    };
    assert!(
        until(&mut t, &mut rec, 60, |t, _| unsettled(t).is_empty()),
        "unsettled: {:?}; {:?}",
        unsettled(&t).iter().take(5).collect::<Vec<_>>(),
        t.statistics()
    );
    let _ = t.cancel_all();
    s.with_exchange(|e| e.market_flow = false);
    let settled = until(&mut t, &mut rec, 30, |t, r| {
        r.fills.len() == s.with_exchange(|e| e.fills.len()) && t.active_orders().count() == 0
    });
    let st = t.statistics();
    assert!(
        settled,
        "not settled: {} fills of {}, {} active ({:?}); {st:?}",
        rec.fills.len(),
        s.with_exchange(|e| e.fills.len()),
        t.active_orders().count(),
        t.active_orders()
            .take(5)
            .map(|o| (o.cl_ord_id, o.order_id, o.status))
            .collect::<Vec<_>>()
    );
    reconcile(&t, &rec, &s);
    assert!(
        st.disconnects >= drops,
        "disconnects {} < {drops}",
        st.disconnects
    );
    assert_eq!(st.tracker.orders_submitted, orders);
    assert!(
        st.rest_fallback_orders > 0 && st.websocket_orders > 0,
        "both routes carried orders: {st:?}"
    );
    assert!(st.tracker.fills > 0, "the market traded against us");
    let _ = t.shutdown();
}

/// When the token a logged request carried was issued (the simulator's request log).
fn token_issued(s: &Sim, cl_ord_id: &str) -> String {
    requests_naming(s, cl_ord_id)
        .first()
        .and_then(|r| r["token_issued"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn token_calls(s: &Sim) -> u64 {
    s.ledger()["calls"]["GetWebSocketsToken"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn tokens_are_refreshed_and_outlive_their_15_minutes_only_while_held() {
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |c| {
        c.token_refresh = Duration::from_secs(3600); // no proactive refresh in this part
        c.dead_man_refresh = Duration::from_millis(200);
    });
    let btc = t.symbol("BTC/USD").unwrap();
    assert_eq!(token_calls(&s), 1);
    let first = s.now();
    // 16 simulated minutes later the token is past its 900 s, but the live private
    // subscription holds it: trading goes on over the same connection, with that token. (The
    // engine sees the exchange's clock move, for its deadlines, from its next refresh of the
    // dead man's switch.)
    s.advance(Duration::from_secs(16 * 60));
    assert!(until(&mut t, &mut rec, 5, |t, _| t
        .statistics()
        .exchange_offset_us
        > 15 * 60 * 1_000_000));
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("tok-1")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("tok-1"))
        == Some(OrderStatus::Open)));
    assert_eq!(token_calls(&s), 1, "no new token was needed");
    let held = token_issued(&s, "tok-1");
    assert!(
        held.as_str() < kraken_sim::exchange::rfc3339(first + 1_000_000_000).as_str(),
        "tok-1 carried the first token: {held}"
    );
    // Its connection gone, nothing holds the old token: a new connection needs a fresh one.
    s.fault("drop-now").unwrap();
    assert!(until(&mut t, &mut rec, 10, |t, _| t.statistics().connects
        >= 2
        && t.connection() == ConnectionState::Ready));
    assert_eq!(token_calls(&s), 2, "a fresh token for the new connection");
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60010)).cl_ord_id(cid("tok-2")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("tok-2"))
        == Some(OrderStatus::Open)));
    assert!(
        token_issued(&s, "tok-2") > held,
        "tok-2 carried the fresh token"
    );
    assert_eq!(t.statistics().rest_fallback_orders, 0);
    let _ = t.shutdown();

    // Proactive refresh: a new token every `token_refresh`, one at a time, and requests carry
    // the newest.
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |c| c.token_refresh = Duration::from_millis(300));
    assert!(until(&mut t, &mut rec, 5, |_, _| token_calls(&s) >= 3));
    let before = s.now();
    std::thread::sleep(Duration::from_millis(400));
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("tok-3")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("tok-3"))
        == Some(OrderStatus::Open)));
    assert!(token_issued(&s, "tok-3") > kraken_sim::exchange::rfc3339(before));
    let _ = t.shutdown();
}

/// Polls until `f` (which may act on the trader) returns true, or `secs` pass.
fn retry(t: &mut Trader, rec: &mut Rec, secs: u64, mut f: impl FnMut(&mut Trader) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        t.poll(rec);
        if f(t) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// A maintenance window as Kraken runs one: `post_only`, then `cancel_only`, then
/// `maintenance` with the socket closed and new connections refused, then back online. The
/// engine holds back what each status forbids (locally, with the status as the reason),
/// reconnects when the exchange is back, trades again, and has lost no fill: a fill made while
/// it was away is delivered once, and its orders agree with the ledger.
#[test]
fn a_maintenance_window_from_post_only_to_maintenance_and_back() {
    use kraken_exec::SystemStatus;
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    let btc = t.symbol("BTC/USD").unwrap();
    let order = |px| AddOrder::limit(btc, Side::Buy, dec!(0.1), px);
    t.add_order(order(dec!(60000)).cl_ord_id(cid("mw-1")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("mw-1"))
        == Some(OrderStatus::Open)));
    s.fault("status:post_only").unwrap();
    assert!(retry(&mut t, &mut rec, 5, |t| matches!(
        t.add_order(order(dec!(60000))),
        Err(TradeError::Invalid(_))
    )));
    t.add_order(order(dec!(60001)).post_only().cl_ord_id(cid("mw-2")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("mw-2"))
        == Some(OrderStatus::Open)));
    s.fault("status:cancel_only").unwrap();
    assert!(retry(&mut t, &mut rec, 5, |t| t
        .add_order(order(dec!(60000)).post_only())
        == Err(TradeError::MarketClosed(SystemStatus::CancelOnly))));
    t.cancel_order(OrderRef::ClOrdId(cid("mw-2"))).unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("mw-2"))
        == Some(OrderStatus::Canceled)));
    // Maintenance: the socket closes and new ones are refused; meanwhile the order that
    // rests through it fills.
    s.fault("status:maintenance").unwrap();
    assert!(retry(&mut t, &mut rec, 5, |t| t
        .add_order(order(dec!(60000)).post_only())
        == Err(TradeError::MarketClosed(SystemStatus::Maintenance))));
    s.fault("refuse-ws:on").unwrap();
    s.fault("drop-now").unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| t.connection()
        != ConnectionState::Ready));
    let now = s.now();
    s.with_exchange(|e| e.counterparty(0, false, Decimal::ONE, now));
    s.fault("status:online").unwrap();
    s.fault("refuse-ws:off").unwrap();
    assert!(until(&mut t, &mut rec, 10, |t, _| t.connection()
        == ConnectionState::Ready));
    assert!(
        retry(&mut t, &mut rec, 5, |t| t
            .add_order(order(dec!(60000)).cl_ord_id(cid("mw-3")))
            .is_ok()),
        "orders pass again once online"
    );
    assert!(until(&mut t, &mut rec, 10, |t, r| status(t, cid("mw-1"))
        == Some(OrderStatus::Filled)
        && status(t, cid("mw-3")) == Some(OrderStatus::Open)
        && r.fills.len() == 1));
    assert!(rec.states.contains(&ConnectionState::Disconnected));
    reconcile(&t, &rec, &s);
    let _ = t.shutdown();
}

#[test]
fn exchange_status_is_respected() {
    use kraken_exec::SystemStatus;
    let s = sim(false);
    let (mut t, mut rec) = start(&s, |_| {});
    let btc = t.symbol("BTC/USD").unwrap();
    let order = |px| AddOrder::limit(btc, Side::Buy, dec!(0.1), px);
    t.add_order(order(dec!(60000)).cl_ord_id(cid("ss-1")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("ss-1"))
        == Some(OrderStatus::Open)));
    s.fault("status:cancel_only").unwrap();
    assert!(retry(&mut t, &mut rec, 5, |t| t
        .add_order(order(dec!(60000)))
        == Err(TradeError::MarketClosed(SystemStatus::CancelOnly))));
    // Cancels pass in cancel-only.
    t.cancel_order(OrderRef::ClOrdId(cid("ss-1"))).unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, cid("ss-1"))
        == Some(OrderStatus::Canceled)));
    s.fault("status:maintenance").unwrap();
    assert!(retry(&mut t, &mut rec, 5, |t| t.cancel_all()
        == Err(TradeError::MarketClosed(SystemStatus::Maintenance))));
    s.fault("status:online").unwrap();
    assert!(
        retry(&mut t, &mut rec, 5, |t| t
            .add_order(order(dec!(60000)))
            .is_ok()),
        "orders pass again once online"
    );
    let _ = t.shutdown();
}

/// With a journal configured, every request the strategy made is on record as an intent,
/// every acceptance after its intent, and every fill the ledger holds, each written before
/// the strategy heard of it (the strategy reads the journal from its own callback and finds
/// the fill there already).
#[test]
fn the_journal_records_requests_outcomes_and_fills_before_the_strategy_hears() {
    use kraken_exec::journal::{self, Entry, JournalConfig};
    struct Checking {
        rec: Rec,
        dir: std::path::PathBuf,
        found_first: Vec<bool>,
    }
    impl kraken_exec::engine::Strategy for Checking {
        fn on_execution(&mut self, f: &kraken_exec::orders::Fill) {
            let on_record = journal::read(&self.dir)
                .unwrap()
                .entries
                .iter()
                .any(|(_, _, e)| matches!(e, Entry::Fill(j) if j.exec_id == f.exec_id));
            self.found_first.push(on_record);
            self.rec.on_execution(f);
        }
        fn on_ack(&mut self, a: &kraken_exec::orders::RequestAck) {
            self.rec.on_ack(a);
        }
    }
    let dir = journal_dir("engine");
    let s = sim(false);
    let j = JournalConfig::new(&dir);
    let (mut t, _) = start(&s, |c| c.journal = Some(j));
    let mut st = Checking {
        rec: Rec::default(),
        dir: dir.clone(),
        found_first: Vec::new(),
    };
    let btc = t.symbol("BTC/USD").unwrap();
    let rest = t
        .add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(cid("j-1")))
        .unwrap();
    let take = t
        .add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(70000)).cl_ord_id(cid("j-2")))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while st.rec.fills.is_empty() || st.rec.acks.len() < 2 {
        assert!(Instant::now() < deadline, "the orders were answered");
        t.poll(&mut st);
        std::thread::sleep(Duration::from_millis(2));
    }
    let cancel = t.cancel_order(OrderRef::ClOrdId(cid("j-1"))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while st.rec.acks.len() < 3 {
        assert!(Instant::now() < deadline, "the cancel was answered");
        t.poll(&mut st);
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = t.shutdown();
    assert!(
        !st.found_first.is_empty() && st.found_first.iter().all(|&x| x),
        "each fill was on record before the strategy heard of it: {:?}",
        st.found_first
    );
    let entries: Vec<Entry> = journal::read(&dir)
        .unwrap()
        .entries
        .into_iter()
        .map(|x| x.2)
        .collect();
    let pos = |want: &dyn Fn(&Entry) -> bool| entries.iter().position(want);
    for req in [rest, take, cancel] {
        let intent = pos(&|e| matches!(e, Entry::Intent { req_id, .. } if *req_id == req));
        let ack = pos(&|e| matches!(e, Entry::Ack { req_id, .. } if *req_id == req));
        assert!(
            matches!((intent, ack), (Some(i), Some(a)) if i < a),
            "request {req}: intent {intent:?}, ack {ack:?}"
        );
    }
    let ledger = s.ledger();
    let mut theirs: Vec<&str> = ledger["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["exec_id"].as_str().unwrap())
        .collect();
    let mut ours: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Fill(f) => Some(f.exec_id.as_str().to_string()),
            _ => None,
        })
        .collect();
    theirs.sort_unstable();
    ours.sort_unstable();
    assert_eq!(ours, theirs, "the journal's fills are the ledger's");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A restart with the journal of the run before: the executions snapshot replays that run's
/// fills, and none is delivered again (they are on record) or counted twice in the position;
/// a fill made while no process ran is delivered once. Without the journal, the same restart
/// delivers the old fill again as new (what the journal is for).
#[test]
fn a_restart_from_the_journal_delivers_no_old_fill_again_and_loses_none_made_while_down() {
    use kraken_exec::journal::JournalConfig;
    use kraken_exec::orders::FillOrigin;
    let dir = journal_dir("restart");
    let s = sim(false);
    let with_journal = |c: &mut kraken_exec::engine::EngineConfig| {
        c.journal = Some(JournalConfig::new(&dir));
    };
    // The first run: one order fills at once, one rests.
    let (mut t, mut rec) = start(&s, with_journal);
    let btc = t.symbol("BTC/USD").unwrap();
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(70000)).cl_ord_id(cid("r-1")))
        .unwrap();
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.2), dec!(64000)).cl_ord_id(cid("r-2")))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, r| r.fills.len() == 1
        && status(t, cid("r-2")) == Some(OrderStatus::Open)));
    assert_eq!(rec.fills[0].origin, FillOrigin::Live);
    let _ = t.shutdown();
    // While no process runs, the resting order fills (all of it).
    s.inject_aggressive_order("BTC/USD", false, dec!(1))
        .unwrap();
    assert_eq!(s.ledger()["fills"].as_array().unwrap().len(), 2);
    // The second run, from the journal.
    let (mut t, mut rec) = start(&s, with_journal);
    let ok = until(&mut t, &mut rec, 5, |t, r| {
        t.connection() == ConnectionState::Ready && !r.fills.is_empty()
    });
    assert!(
        ok,
        "{:?} {:?} {:?}",
        t.connection(),
        status(&t, cid("r-2")),
        rec.fills
    );
    // Give a replayed fill time to show up, were it to.
    let _ = until(&mut t, &mut rec, 1, |_, _| false);
    assert_eq!(
        rec.fills.len(),
        1,
        "only the fill made while down: {:?}",
        rec.fills
    );
    assert_eq!(
        (rec.fills[0].qty, rec.fills[0].origin),
        (dec!(0.2), FillOrigin::Recovered)
    );
    assert_eq!(t.statistics().tracker.restored_fills, 1);
    let pos = t.positions().find(|(sym, _)| *sym == btc).unwrap().1.qty;
    assert_eq!(pos, dec!(0.3), "both fills in the position, each once");
    let _ = t.shutdown();
    // The same restart without a journal hears both fills again, from before its start: as
    // history, in neither its position nor its count of fills.
    let (mut t, mut rec) = start(&s, |_| {});
    assert!(until(&mut t, &mut rec, 5, |_, r| r.fills.len() == 2));
    assert!(
        rec.fills.iter().all(|f| f.origin == FillOrigin::Historical),
        "{:?}",
        rec.fills
    );
    let st = t.statistics().tracker;
    assert_eq!((st.fills, st.historical_fills), (0, 2));
    let pos = t
        .positions()
        .find(|(sym, _)| *sym == btc)
        .map_or(dec!(0), |p| p.1.qty);
    assert_eq!(pos, dec!(0), "history is not in the position");
    let _ = t.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Fills made while no process ran reach beyond the 50 the executions snapshot replays: the
/// restart reads the trade history from the journal's last fill, and each is delivered once,
/// as recovered. (Before, only the snapshot's 50 of the 55 were.)
#[test]
fn a_restart_recovers_every_fill_made_while_down_not_only_the_snapshots_fifty() {
    use kraken_exec::journal::JournalConfig;
    use kraken_exec::orders::FillOrigin;
    let dir = journal_dir("history");
    let s = sim(false);
    let with_journal = |c: &mut kraken_exec::engine::EngineConfig| {
        c.journal = Some(JournalConfig::new(&dir));
    };
    let (mut t, mut rec) = start(&s, with_journal);
    let btc = t.symbol("BTC/USD").unwrap();
    let c = cid("deep-1");
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(1), dec!(64000)).cl_ord_id(c))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, c)
        == Some(OrderStatus::Open)));
    s.inject_aggressive_order("BTC/USD", false, dec!(0.5))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |_, r| r.fills.len() == 1));
    let _ = t.shutdown();
    // While down: 55 more fills of the resting order.
    for _ in 0..55 {
        s.inject_aggressive_order("BTC/USD", false, dec!(0.01))
            .unwrap();
    }
    let ledger = s.ledger()["fills"].as_array().unwrap().clone();
    assert_eq!(ledger.len(), 56);
    let (mut t, mut rec) = start(&s, with_journal);
    let ok = until(&mut t, &mut rec, 10, |_, r| r.fills.len() >= 55);
    let _ = until(&mut t, &mut rec, 1, |_, _| false);
    assert!(ok, "recovered {} of 55", rec.fills.len());
    assert_eq!(rec.fills.len(), 55, "each once");
    assert!(rec.fills.iter().all(|f| f.origin == FillOrigin::Recovered));
    let mut ids: Vec<&str> = rec.fills.iter().map(|f| f.exec_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 55);
    let filled: Decimal = ledger.iter().map(|f| d(&f["qty"])).sum();
    let pos = t.positions().find(|(sym, _)| *sym == btc).unwrap().1.qty;
    assert_eq!(pos, filled, "the position holds every fill once");
    let o = t.order_status(&OrderRef::ClOrdId(c)).unwrap();
    assert_eq!(o.filled_qty, filled);
    let _ = t.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A process died with two adds in flight: one had reached the exchange, one had not. The
/// next process, from the journal, sends neither again: it looks both up, finds the first
/// open and settles the second as never placed once its deadline has passed. The orders the
/// journal leaves live keep their client ids reserved.
#[test]
fn adds_in_flight_at_a_crash_are_looked_up_never_resent_and_live_client_ids_stay_taken() {
    use kraken_exec::journal::{Entry, Journal, JournalConfig};
    use kraken_exec::protocol::messages::Method;
    use kraken_exec::{SymbolId, Timestamp};
    let dir = journal_dir("inflight");
    let s = sim(false);
    let with_journal = |c: &mut kraken_exec::engine::EngineConfig| {
        c.journal = Some(JournalConfig::new(&dir));
    };
    // The first process leaves an order resting.
    let (mut t, mut rec) = start(&s, with_journal);
    let btc = t.symbol("BTC/USD").unwrap();
    let live = cid("live-1");
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(64000)).cl_ord_id(live))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, live)
        == Some(OrderStatus::Open)));
    let _ = t.shutdown();
    // The second records two adds and dies before either's answer: the first reached the
    // exchange (placed here as its request would have placed it), the second did not, and
    // its deadline has passed.
    let cfg = config(&s);
    let (mut j, _) =
        Journal::open(JournalConfig::new(&dir), &cfg.credentials.key, &cfg.symbols).unwrap();
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64,
    );
    let intent = |req_id, c: &str, deadline: i64| Entry::Intent {
        req_id,
        method: Method::AddOrder,
        cl_ord_id: Some(cid(c)),
        order_id: None,
        symbol: SymbolId(0),
        side: Some(Side::Buy),
        qty: Some(dec!(0.1)),
        price: Some(dec!(63000)),
        deadline: Some(Timestamp(now.0 + deadline)),
        validate: false,
    };
    j.append(&Entry::Start { instance: 2 }, now.0, 0).unwrap();
    j.append(
        &intent(kraken_exec::RequestId(1), "hit-1", 5_000_000),
        now.0,
        0,
    )
    .unwrap();
    j.append(
        &intent(kraken_exec::RequestId(2), "gone-1", -1_000_000),
        now.0,
        0,
    )
    .unwrap();
    drop(j);
    s.with_exchange(|e| {
        let acct = e
            .accounts
            .iter()
            .position(|a| a.key == cfg.credentials.key)
            .unwrap();
        let n = kraken_sim::exchange::NewOrder {
            symbol: "BTC/USD".into(),
            buy: true,
            order_type: "limit".into(),
            qty: Some(dec!(0.1)),
            limit_price: Some(dec!(63000)),
            tif: "gtc".into(),
            cl_ord_id: Some("hit-1".into()),
            ..Default::default()
        };
        e.add_order(acct, &n, s.now()).unwrap();
    });
    let adds_before = requests(&s).len();
    // The third process, from the journal.
    let (mut t, mut rec) = start(&s, with_journal);
    assert_eq!(t.statistics().tracker.restored_orders, 3);
    let (hit, gone) = (cid("hit-1"), cid("gone-1"));
    for c in [live, hit, gone] {
        assert!(
            matches!(
                t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(62000)).cl_ord_id(c)),
                Err(TradeError::ClOrdIdInUse(x)) if x == c
            ),
            "{c:?} is still taken"
        );
    }
    let ok = until(&mut t, &mut rec, 10, |t, _| {
        status(t, hit) == Some(OrderStatus::Open) && status(t, gone) == Some(OrderStatus::Rejected)
    });
    assert!(ok, "{:?} {:?}", status(&t, hit), status(&t, gone));
    assert_eq!(status(&t, live), Some(OrderStatus::Open));
    assert!(
        rec.changes
            .iter()
            .any(|ch| ch.cl_ord_id == Some(hit) && ch.to == OrderStatus::Open),
        "the strategy hears how the unknown add ended"
    );
    let sent: Vec<serde_json::Value> = requests(&s).split_off(adds_before);
    assert!(
        sent.iter().all(|r| !r["cl_ord_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "hit-1" || c == "gone-1")),
        "nothing was sent again: {sent:?}"
    );
    reconcile(&t, &rec, &s);
    let _ = t.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A journal bounded to two small segments deletes its oldest as it goes: what they held is
/// carried over at the start of each new one, so a restart still knows the position (every
/// fill once), the order placed before the deleted segments (its client id still taken), and
/// the fills the snapshot replays (none delivered again). (Before, the position held only the
/// fills of the segments left, and the early order was forgotten.)
#[test]
fn a_bounded_journal_that_deleted_its_oldest_segments_still_recovers_the_state() {
    use kraken_exec::journal::JournalConfig;
    let dir = journal_dir("bounded");
    let s = sim(false);
    let bounded = |c: &mut kraken_exec::engine::EngineConfig| {
        let mut j = JournalConfig::new(&dir);
        j.segment_bytes = 128 * 256;
        j.max_segments = 2;
        c.journal = Some(j);
    };
    let (mut t, mut rec) = start(&s, bounded);
    let btc = t.symbol("BTC/USD").unwrap();
    let early = cid("early-1");
    t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(60000)).cl_ord_id(early))
        .unwrap();
    let c = cid("filled-often");
    t.add_order(AddOrder::limit(btc, Side::Sell, dec!(2), dec!(66000)).cl_ord_id(c))
        .unwrap();
    assert!(until(&mut t, &mut rec, 5, |t, _| status(t, c)
        == Some(OrderStatus::Open)
        && status(t, early) == Some(OrderStatus::Open)));
    // Enough fills for several segments (a fill and its status changes are ~3 records).
    for i in 0..250 {
        s.inject_aggressive_order("BTC/USD", true, dec!(0.01))
            .unwrap();
        assert!(
            until(&mut t, &mut rec, 5, |_, r| r.fills.len() > i),
            "fill {i}"
        );
    }
    let _ = t.shutdown();
    let mut segments: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 2);
    assert_ne!(segments[0], "00000000.kxj", "the oldest was deleted");
    let ledger = s.ledger()["fills"].as_array().unwrap().clone();
    assert_eq!(ledger.len(), 250);
    let net: Decimal = ledger.iter().map(|f| -d(&f["qty"])).sum();
    let (mut t, mut rec) = start(&s, bounded);
    let _ = until(&mut t, &mut rec, 1, |_, _| false);
    assert!(rec.fills.is_empty(), "none again: {:?}", rec.fills.len());
    let pos = t.positions().find(|(sym, _)| *sym == btc).unwrap().1.qty;
    assert_eq!(pos, net, "the position holds every fill once");
    assert_eq!(status(&t, early), Some(OrderStatus::Open));
    assert!(matches!(
        t.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(59000)).cl_ord_id(early)),
        Err(TradeError::ClOrdIdInUse(_))
    ));
    let _ = t.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

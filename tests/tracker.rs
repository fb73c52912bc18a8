//! OrderTracker sequences, fed real frames through the real decoder.

use arrayvec::ArrayVec;
use kraken_exec::orders::{Fill, StatusChange, TrackerEvent};
use kraken_exec::protocol::{Decoder, Inbound, Method};
use kraken_exec::{
    AddOrder, BatchAdd, ClOrdId, EditOrder, KrakenErrorKind, OrderId, OrderRef, OrderStatus,
    OrderTracker, RequestId, Side, SymbolTable, TrackerConfig,
};
use rust_decimal_macros::dec;

struct Harness {
    t: OrderTracker,
    d: Decoder,
    syms: SymbolTable,
    events: Vec<TrackerEvent>,
    now: u64,
}

const OID: &str = "OK4GJX-KSTLS-7DZZO5";

impl Harness {
    fn new() -> Self {
        Self::with(TrackerConfig::default())
    }

    fn with(cfg: TrackerConfig) -> Self {
        let syms = SymbolTable::from_names(["BTC/USD", "ETH/USD"]);
        Self {
            t: OrderTracker::new(cfg, syms.len()),
            d: Decoder::new(),
            syms,
            events: Vec::new(),
            now: 0,
        }
    }

    fn feed(&mut self, json: &str) {
        self.now += 1_000;
        let Self {
            t,
            d,
            syms,
            events,
            now,
        } = self;
        match d.decode(json.as_bytes(), syms).unwrap() {
            Inbound::Executions { kind, .. } => {
                t.on_executions(kind, d.executions(), *now, &mut |e| events.push(e))
            }
            Inbound::Response(r) => t.on_response(&r, d.batch(), *now, &mut |e| events.push(e)),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn submit(&mut self, req_id: u64, o: &AddOrder) {
        let Self { t, events, now, .. } = self;
        t.submit_add(RequestId(req_id), o, *now, &mut |e| events.push(e));
    }

    fn take(&mut self) -> Vec<TrackerEvent> {
        std::mem::take(&mut self.events)
    }

    fn fills(&mut self) -> Vec<Fill> {
        self.take()
            .into_iter()
            .filter_map(|e| {
                if let TrackerEvent::Execution(f) = e {
                    Some(f)
                } else {
                    None
                }
            })
            .collect()
    }

    fn status(&self) -> OrderStatus {
        self.t
            .by_order_id(&OrderId::new(OID).unwrap())
            .unwrap()
            .status
    }
}

fn ack(req_id: u64, oid: &str) -> String {
    format!(
        r#"{{"method":"add_order","req_id":{req_id},"result":{{"order_id":"{oid}"}},"success":true}}"#
    )
}

fn exec(seq: u64, body: &str) -> String {
    format!(r#"{{"channel":"executions","type":"update","data":[{{{body}}}],"sequence":{seq}}}"#)
}

fn pending_new(oid: &str, cl: &str) -> String {
    exec(
        1,
        &format!(
            r#""order_id":"{oid}","symbol":"BTC/USD","order_qty":1.0,"exec_type":"pending_new","side":"buy","order_type":"limit","limit_price":100.0,"order_status":"pending_new","cl_ord_id":"{cl}","timestamp":"2024-01-01T00:00:00Z""#
        ),
    )
}

fn trade(oid: &str, exec_id: &str, qty: &str, price: &str, cum: &str, status: &str) -> String {
    exec(
        2,
        &format!(
            r#""order_id":"{oid}","exec_id":"{exec_id}","exec_type":"trade","trade_id":1,"symbol":"BTC/USD","side":"buy","last_qty":{qty},"last_price":{price},"liquidity_ind":"m","order_status":"{status}","cum_qty":{cum},"fees":[{{"asset":"USD","qty":0.01}}]"#
        ),
    )
}

fn changes(ev: &[TrackerEvent]) -> Vec<(Option<OrderStatus>, OrderStatus)> {
    ev.iter()
        .filter_map(|e| {
            if let TrackerEvent::StatusChange(StatusChange { from, to, .. }) = e {
                Some((*from, *to))
            } else {
                None
            }
        })
        .collect()
}

fn order() -> AddOrder {
    AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0))
        .cl_ord_id(ClOrdId::new("c1").unwrap())
}

#[test]
fn full_lifecycle_with_partial_fills() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&pending_new(OID, "c1"));
    h.feed(&exec(
        3,
        &format!(r#""order_id":"{OID}","exec_type":"new","order_status":"new""#),
    ));
    assert_eq!(
        changes(&h.take()),
        vec![
            (None, OrderStatus::Pending),
            (Some(OrderStatus::Pending), OrderStatus::Open)
        ]
    );
    h.feed(&trade(OID, "T1", "0.4", "99.0", "0.4", "partially_filled"));
    h.feed(&trade(OID, "T2", "0.6", "100.0", "1.0", "partially_filled"));
    // A trade that completes the order still says partially_filled; completion comes separately.
    assert_eq!(h.status(), OrderStatus::PartiallyFilled);
    let ev = h.take();
    let fills: Vec<_> = ev
        .iter()
        .filter_map(|e| {
            if let TrackerEvent::Execution(f) = e {
                Some(*f)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(fills.len(), 2);
    assert_eq!(
        (fills[0].qty, fills[0].remaining_qty),
        (dec!(0.4), dec!(0.6))
    );
    assert_eq!(
        (fills[1].filled_qty, fills[1].remaining_qty),
        (dec!(1.0), dec!(0))
    );
    assert_eq!(fills[1].cl_ord_id.unwrap().as_str(), "c1");
    h.feed(&exec(5, &format!(r#""order_id":"{OID}","exec_type":"filled","order_status":"filled","cum_qty":1.0,"avg_price":99.6"#)));
    assert_eq!(
        changes(&h.take()),
        vec![(Some(OrderStatus::PartiallyFilled), OrderStatus::Filled)]
    );
    let o = *h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!(
        (o.filled_qty, o.remaining_qty(), o.avg_price, o.fill_count),
        (dec!(1.0), dec!(0), dec!(99.6), 2)
    );
    assert_eq!(o.fees()[0].qty, dec!(0.02));
    let p = h.t.position(kraken_exec::SymbolId(0));
    assert_eq!((p.qty, p.avg_price), (dec!(1.0), dec!(99.6)));
    let s = h.t.stats();
    assert_eq!(
        (
            s.orders_submitted,
            s.orders_filled,
            s.fills,
            s.active_orders,
            s.execution_messages
        ),
        (1, 1, 2, 0, 5)
    );
    assert_eq!(h.t.history().len(), 2);
    assert_eq!(h.t.active_orders().count(), 0);
}

#[test]
fn executions_before_ack_join_by_cl_ord_id() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&pending_new(OID, "c1"));
    h.feed(&trade(OID, "T1", "1.0", "100.0", "1.0", "partially_filled"));
    h.feed(&ack(1, OID));
    assert_eq!(h.t.orders().count(), 1, "one order, not two");
    assert_eq!(
        h.status(),
        OrderStatus::PartiallyFilled,
        "the late ack does not move it back"
    );
    assert_eq!(
        h.t.by_cl_ord_id(&ClOrdId::new("c1").unwrap())
            .unwrap()
            .order_id
            .unwrap()
            .as_str(),
        OID
    );
    // A reference finds it by either id; a userref names no one order.
    let by = |r: OrderRef| h.t.by_ref(&r).map(|o| o.order_id.unwrap());
    let oid = OrderId::new(OID).unwrap();
    assert_eq!(by(OrderRef::OrderId(oid)), Some(oid));
    assert_eq!(
        by(OrderRef::ClOrdId(ClOrdId::new("c1").unwrap())),
        Some(oid)
    );
    assert_eq!(by(OrderRef::ClOrdId(ClOrdId::new("c2").unwrap())), None);
    assert_eq!(by(OrderRef::UserRef(0)), None);
}

#[test]
fn executions_before_ack_without_client_id_merge_on_ack() {
    let mut h = Harness::new();
    let o = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0));
    h.submit(9, &o);
    h.feed(&exec(1, &format!(r#""order_id":"{OID}","symbol":"BTC/USD","order_qty":1.0,"exec_type":"pending_new","side":"buy","order_status":"pending_new""#)));
    h.feed(&trade(OID, "T1", "0.5", "100.0", "0.5", "partially_filled"));
    assert_eq!(h.t.orders().count(), 2);
    h.feed(&ack(9, OID));
    assert_eq!(h.t.orders().count(), 1);
    assert_eq!(h.t.stats().active_orders, 1);
    let o = h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!(
        (o.status, o.filled_qty, o.req_id),
        (OrderStatus::PartiallyFilled, dec!(0.5), Some(RequestId(9)))
    );
}

#[test]
fn duplicate_fills_are_counted_once() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&trade(OID, "T1", "0.4", "99.0", "0.4", "partially_filled"));
    h.feed(&trade(OID, "T1", "0.4", "99.0", "0.4", "partially_filled"));
    assert_eq!(h.fills().len(), 1);
    let o = h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!(o.filled_qty, dec!(0.4));
    assert_eq!(h.t.stats().duplicate_fills, 1);
    assert_eq!(h.t.position(kraken_exec::SymbolId(0)).qty, dec!(0.4));
}

#[test]
fn amend_keeps_the_order() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.t.submit_other(
        RequestId(2),
        Method::AmendOrder,
        Some(&OrderRef::OrderId(OrderId::new(OID).unwrap())),
    );
    h.feed(r#"{"method":"amend_order","req_id":2,"result":{"amend_id":"TTW6PD-RC36L-ZZSWNU","order_id":"OK4GJX-KSTLS-7DZZO5"},"success":true}"#);
    h.feed(&exec(4, &format!(r#""order_id":"{OID}","exec_type":"amended","order_status":"new","order_qty":2.0,"limit_price":101.5,"reason":"User requested","amended":true"#)));
    let o = h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!(
        (o.order_qty, o.limit_price, o.amends, o.status),
        (dec!(2.0), Some(dec!(101.5)), 1, OrderStatus::Open)
    );
    assert_eq!(h.t.orders().count(), 1);
    // A failed amend is reported against the order and changes nothing.
    h.t.submit_other(
        RequestId(3),
        Method::AmendOrder,
        Some(&OrderRef::OrderId(OrderId::new(OID).unwrap())),
    );
    h.take();
    h.feed(r#"{"method":"amend_order","req_id":3,"error":"EOrder:Invalid price","success":false}"#);
    let ev = h.take();
    assert!(
        matches!(ev[..], [TrackerEvent::Rejected(f)] if f.kind == KrakenErrorKind::InvalidPrice && f.order_id.unwrap().as_str() == OID)
    );
    assert_eq!(h.status(), OrderStatus::Open);
}

#[test]
fn fill_after_cancel_request() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    let r = OrderRef::ClOrdId(ClOrdId::new("c1").unwrap());
    h.t.submit_cancel(RequestId(2), Method::CancelOrder, &[r], 1);
    assert!(
        h.t.by_order_id(&OrderId::new(OID).unwrap())
            .unwrap()
            .cancel_pending
    );
    h.feed(&trade(OID, "T1", "0.3", "100.0", "0.3", "partially_filled"));
    h.feed(r#"{"method":"cancel_order","req_id":2,"result":{"cl_ord_id":"c1"},"success":true}"#);
    h.feed(&exec(6, &format!(r#""order_id":"{OID}","exec_type":"canceled","order_status":"canceled","cum_qty":0.3,"reason":"User requested""#)));
    let o = *h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!(
        (o.status, o.filled_qty, o.remaining_qty(), o.cancel_pending),
        (OrderStatus::Canceled, dec!(0.3), dec!(0.7), false)
    );
    assert_eq!(o.reason.unwrap().as_str(), "User requested");
    assert_eq!(h.t.stats().orders_cancelled, 1);
    // Nothing moves a terminal order back.
    h.feed(&exec(
        7,
        &format!(r#""order_id":"{OID}","exec_type":"new","order_status":"new""#),
    ));
    assert_eq!(h.status(), OrderStatus::Canceled);
}

#[test]
fn rejects_and_unknown_outcomes() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(
        r#"{"error":"EOrder:Insufficient funds","method":"add_order","req_id":1,"success":false}"#,
    );
    let ev = h.take();
    assert!(
        matches!(ev[1], TrackerEvent::Rejected(f) if f.kind == KrakenErrorKind::InsufficientFunds)
    );
    assert_eq!(
        changes(&ev),
        vec![
            (None, OrderStatus::Pending),
            (Some(OrderStatus::Pending), OrderStatus::Rejected)
        ]
    );
    let o = h.t.by_cl_ord_id(&ClOrdId::new("c1").unwrap()).unwrap();
    assert_eq!(o.error.unwrap().as_str(), "EOrder:Insufficient funds");
    assert_eq!(h.t.stats().orders_rejected, 1);

    // A timed-out add becomes Unknown; a late ack or a lookup resolves it.
    let o2 = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0))
        .cl_ord_id(ClOrdId::new("c2").unwrap());
    h.submit(2, &o2);
    h.t.on_timeout(RequestId(2), 5_000, &mut |_| {});
    let c2 = ClOrdId::new("c2").unwrap();
    assert_eq!(h.t.by_cl_ord_id(&c2).unwrap().status, OrderStatus::Unknown);
    assert_eq!(h.t.stats().unknown_outcomes, 1);
    // The executions stream (after a resubscribe) says it is live.
    h.feed(&pending_new("OUNKNW-00000-000001", "c2"));
    assert_eq!(
        h.t.by_cl_ord_id(&c2).unwrap().status,
        OrderStatus::PendingNew
    );
    // "Not found" does not touch an order the stream has shown to be live.
    h.t.resolve(&OrderRef::ClOrdId(c2), None, None, None, 6_000, &mut |_| {});
    assert_eq!(
        h.t.by_cl_ord_id(&c2).unwrap().status,
        OrderStatus::PendingNew
    );
    h.t.resolve(
        &OrderRef::ClOrdId(c2),
        None,
        Some(OrderStatus::Canceled),
        None,
        6_000,
        &mut |_| {},
    );
    assert_eq!(h.t.by_cl_ord_id(&c2).unwrap().status, OrderStatus::Canceled);

    // A timed-out add the exchange never heard of is settled as rejected; one it has is
    // settled with its id and fills.
    let c4 = ClOrdId::new("c4").unwrap();
    h.submit(
        4,
        &AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0)).cl_ord_id(c4),
    );
    h.t.on_timeout(RequestId(4), 7_000, &mut |_| {});
    h.t.resolve(&OrderRef::ClOrdId(c4), None, None, None, 8_000, &mut |_| {});
    assert_eq!(
        h.t.by_cl_ord_id(&c4).unwrap().status,
        OrderStatus::Unknown,
        "one miss is not proof"
    );
    assert!(h.t.give_up(&OrderRef::ClOrdId(c4), 9_000, &mut |_| {}));
    assert!(
        !h.t.give_up(&OrderRef::ClOrdId(c2), 9_000, &mut |_| {}),
        "only Unknown orders are given up"
    );
    let o = h.t.by_cl_ord_id(&c4).unwrap();
    assert_eq!(o.status, OrderStatus::Rejected);
    assert_eq!(
        o.error.unwrap().as_str(),
        "not found after an unknown outcome"
    );
    let c5 = ClOrdId::new("c5").unwrap();
    h.submit(
        5,
        &AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0)).cl_ord_id(c5),
    );
    h.t.on_timeout(RequestId(5), 7_000, &mut |_| {});
    let id5 = OrderId::new("OFOUND-00000-000005").unwrap();
    h.t.resolve(
        &OrderRef::ClOrdId(c5),
        Some(id5),
        Some(OrderStatus::PartiallyFilled),
        Some(dec!(0.25)),
        8_000,
        &mut |_| {},
    );
    let o = h.t.by_order_id(&id5).unwrap();
    assert_eq!(
        (o.status, o.filled_qty, o.cl_ord_id),
        (OrderStatus::PartiallyFilled, dec!(0.25), Some(c5))
    );
}

#[test]
fn reconnect_snapshot_replays_fills_and_flags_vanished_orders() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&trade(OID, "T1", "0.2", "100.0", "0.2", "partially_filled"));
    let other = AddOrder::limit(kraken_exec::SymbolId(0), Side::Sell, dec!(1.0), dec!(120.0))
        .cl_ord_id(ClOrdId::new("c3").unwrap());
    h.submit(2, &other);
    h.feed(&ack(2, "OVANSH-00000-000002"));
    h.take();
    // After a reconnect: the snapshot lists our first order (now 0.5 filled) and its fills,
    // T1 (seen) and T2 (missed while away); the second order is gone.
    let snap = format!(
        concat!(
            r#"{{"channel":"executions","type":"snapshot","sequence":1,"data":["#,
            r#"{{"order_id":"{o}","exec_type":"new","order_status":"partially_filled","symbol":"BTC/USD","side":"buy","order_qty":1.0,"cum_qty":0.5,"limit_price":100.0,"cl_ord_id":"c1"}},"#,
            r#"{{"order_id":"{o}","exec_id":"T1","exec_type":"trade","last_qty":0.2,"last_price":100.0,"order_status":"filled","side":"buy","symbol":"BTC/USD"}},"#,
            r#"{{"order_id":"{o}","exec_id":"T2","exec_type":"trade","last_qty":0.3,"last_price":100.0,"order_status":"filled","side":"buy","symbol":"BTC/USD"}}"#,
            r#"]}}"#
        ),
        o = OID
    );
    h.feed(&snap);
    let ev = h.take();
    let fills: Vec<_> = ev
        .iter()
        .filter_map(|e| {
            if let TrackerEvent::Execution(f) = e {
                Some(f.exec_id)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].as_str(), "T2");
    let o = *h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    // The snapshot's trades say "filled" about the order's later state; quantities say otherwise.
    assert_eq!(
        (o.status, o.filled_qty),
        (OrderStatus::PartiallyFilled, dec!(0.5))
    );
    let gone = h.t.by_cl_ord_id(&ClOrdId::new("c3").unwrap()).unwrap();
    assert_eq!(gone.status, OrderStatus::Unknown);
    assert_eq!(h.t.position(kraken_exec::SymbolId(0)).qty, dec!(0.5));
}

#[test]
fn batch_add_and_edit() {
    let mut h = Harness::new();
    let btc = kraken_exec::SymbolId(0);
    let mut orders = ArrayVec::new();
    orders.push(AddOrder::limit(btc, Side::Buy, dec!(1), dec!(99)).userref(1));
    orders.push(AddOrder::limit(btc, Side::Buy, dec!(1), dec!(98)).userref(2));
    orders.push(AddOrder::limit(btc, Side::Buy, dec!(1), dec!(97)).userref(3));
    let b = BatchAdd {
        symbol: btc,
        orders,
        deadline: None,
        validate: false,
    };
    {
        let Harness { t, events, .. } = &mut h;
        t.submit_batch(RequestId(7), &b, 0, &mut |e| events.push(e));
    }
    h.feed(r#"{"method":"batch_add","req_id":7,"result":[{"order_id":"OB0000-00000-000001","order_userref":1},{"order_id":"OB0000-00000-000002","order_userref":2},{"order_userref":3,"error":"EOrder:Insufficient funds"}],"success":true}"#);
    let st = |id: &str| {
        h.t.by_order_id(&OrderId::new(id).unwrap())
            .map(|o| o.status)
    };
    assert_eq!(st("OB0000-00000-000001"), Some(OrderStatus::Open));
    assert_eq!(st("OB0000-00000-000002"), Some(OrderStatus::Open));
    assert_eq!(h.t.stats().orders_rejected, 1);
    assert_eq!(h.t.active_orders().count(), 2);

    let mut e = EditOrder::new(OrderId::new("OB0000-00000-000001").unwrap(), btc);
    e.limit_price = Some(dec!(99.5));
    h.t.submit_edit(RequestId(8), &e);
    h.feed(r#"{"method":"edit_order","req_id":8,"result":{"order_id":"OB0000-00000-00000N","original_order_id":"OB0000-00000-000001"},"success":true}"#);
    let st = |h: &Harness, id: &str| {
        h.t.by_order_id(&OrderId::new(id).unwrap())
            .map(|o| (o.status, o.limit_price))
    };
    assert_eq!(
        st(&h, "OB0000-00000-000001"),
        Some((OrderStatus::Canceled, Some(dec!(99))))
    );
    // The replacement's figures are the exchange's: none assumed from the request...
    assert_eq!(
        st(&h, "OB0000-00000-00000N"),
        Some((OrderStatus::Open, None))
    );
    // ... until its executions report says.
    h.feed(&exec(
        3,
        r#""order_id":"OB0000-00000-00000N","symbol":"BTC/USD","order_qty":1.0,"exec_type":"new","side":"buy","order_type":"limit","limit_price":99.5,"order_status":"new""#,
    ));
    assert_eq!(
        st(&h, "OB0000-00000-00000N"),
        Some((OrderStatus::Open, Some(dec!(99.5))))
    );
}

#[test]
fn bounded_history_and_retention() {
    let mut cfg = TrackerConfig::default();
    cfg.history_limit = 3;
    cfg.retention = 2;
    cfg.capacity = 8;
    cfg.dedup_capacity = 64;
    cfg.max_in_flight = 8;
    let mut h = Harness::with(cfg);
    for i in 0..5u64 {
        let oid = format!("OR0000-00000-00000{i}");
        let o = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0));
        h.submit(i, &o);
        h.feed(&ack(i, &oid));
        h.feed(&trade(
            &oid,
            &format!("T{i}"),
            "1.0",
            "100.0",
            "1.0",
            "partially_filled",
        ));
        h.feed(&exec(
            9,
            &format!(
                r#""order_id":"{oid}","exec_type":"filled","order_status":"filled","cum_qty":1.0"#
            ),
        ));
    }
    assert_eq!(h.t.history().len(), 3);
    assert_eq!(h.t.history().next().unwrap().exec_id.as_str(), "T2");
    assert_eq!(
        h.t.orders().count(),
        2,
        "only the two most recent completed orders are kept"
    );
    assert!(
        h.t.by_order_id(&OrderId::new("OR0000-00000-000000").unwrap())
            .is_none()
    );
    assert!(
        h.t.by_order_id(&OrderId::new("OR0000-00000-000004").unwrap())
            .is_some()
    );
    assert_eq!(h.t.stats().orders_filled, 5);
}

#[test]
fn orders_placed_elsewhere_are_tracked_from_executions() {
    let mut h = Harness::new();
    h.feed(&pending_new(OID, "web-1"));
    h.feed(&trade(OID, "T1", "1.0", "100.0", "1.0", "partially_filled"));
    let o = h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!(
        (o.status, o.side, o.filled_qty),
        (OrderStatus::PartiallyFilled, Some(Side::Buy), dec!(1.0))
    );
    assert_eq!(h.t.stats().orders_submitted, 0);
}

/// Issue 9, item 4: a snapshot's trade of an older, closed order that used the same cl_ord_id
/// must not join the pending order (before the fix the new order took the old order_id and
/// cum_qty and became Filled).
#[test]
fn a_reused_cl_ord_id_does_not_join_a_snapshot_report_of_an_older_order() {
    let mut h = Harness::new();
    let cl = ClOrdId::new("reuse-1").unwrap();
    let o = AddOrder::limit(
        h.syms.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(1),
        dec!(100),
    )
    .cl_ord_id(cl);
    h.submit(7, &o);
    // The reconnect snapshot replays the old order's trade, cl_ord_id and all.
    h.feed(r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"OLDOLD-AAAAA-BBBBBB","exec_id":"TOLD11-AAAAA-BBBBBB","exec_type":"trade","symbol":"BTC/USD","side":"buy","last_qty":1.0,"last_price":99.0,"cum_qty":1.0,"order_qty":1.0,"order_status":"filled","cl_ord_id":"reuse-1"}],"sequence":1}"#);
    let mine = h.t.by_cl_ord_id(&cl).unwrap();
    assert_eq!(
        mine.status,
        OrderStatus::Pending,
        "still waiting for its own ack"
    );
    assert_eq!(mine.order_id, None);
    assert_eq!(mine.filled_qty, dec!(0));
    // A live delta of the old order (a trade, not a birth) does not join either.
    h.feed(&trade(
        "OLDOLD-AAAAA-BBBBBB",
        "TOLD22-AAAAA-BBBBBB",
        "0.0",
        "99.0",
        "1.0",
        "filled",
    ));
    assert_eq!(h.t.by_cl_ord_id(&cl).unwrap().order_id, None);
    // Its own ack names it; its own birth report joins it.
    h.feed(&ack(7, OID));
    let mine = h.t.by_cl_ord_id(&cl).unwrap();
    assert_eq!(
        (mine.order_id.unwrap().as_str(), mine.status),
        (OID, OrderStatus::Open)
    );
    assert_eq!(mine.filled_qty, dec!(0));
    let old =
        h.t.by_order_id(&OrderId::new("OLDOLD-AAAAA-BBBBBB").unwrap())
            .unwrap();
    assert_eq!(old.status, OrderStatus::Filled);
}

/// The live birth report of the pending order still joins it before its ack.
#[test]
fn a_live_birth_report_joins_the_pending_order_by_cl_ord_id() {
    let mut h = Harness::new();
    let cl = ClOrdId::new("born-1").unwrap();
    let o = AddOrder::limit(
        h.syms.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(1),
        dec!(100),
    )
    .cl_ord_id(cl);
    h.submit(8, &o);
    h.feed(&pending_new(OID, "born-1"));
    assert_eq!(
        h.t.by_cl_ord_id(&cl).unwrap().order_id.unwrap().as_str(),
        OID
    );
    assert_eq!(h.t.orders().count(), 1, "one record, not two");
}

/// Issue 9, item 15: a validate-only add creates no order; its outcome is the request's own.
#[test]
fn validate_only_adds_leave_no_active_order() {
    let mut h = Harness::new();
    let o = AddOrder::limit(
        h.syms.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(1),
        dec!(100),
    )
    .cl_ord_id(ClOrdId::new("val-1").unwrap())
    .validate_only();
    h.submit(9, &o);
    assert_eq!(h.t.active_orders().count(), 0);
    // Kraken's validate ack carries no order id.
    h.feed(r#"{"method":"add_order","req_id":9,"result":{"cl_ord_id":"val-1","order_id":""},"success":true}"#);
    let ev = h.take();
    assert!(
        matches!(ev[..], [TrackerEvent::Accepted(a)] if a.req_id == RequestId(9) && a.order_id.is_none()),
        "{ev:?}"
    );
    assert_eq!(h.t.active_orders().count(), 0);
    assert_eq!(h.t.orders().count(), 0);
}

/// Issue 9, item 1: every request gets its own outcome by req_id; an add that never left
/// the engine is settled, not left pending.
#[test]
fn requests_report_their_own_outcome_and_unsent_ones_are_settled() {
    let mut h = Harness::new();
    let btc = h.syms.get("BTC/USD").unwrap();
    h.submit(10, &AddOrder::limit(btc, Side::Buy, dec!(1), dec!(100)));
    h.submit(11, &AddOrder::limit(btc, Side::Buy, dec!(1), dec!(101)));
    h.take();
    h.feed(&ack(10, OID));
    let ev = h.take();
    assert!(
        ev.iter().any(|e| matches!(e, TrackerEvent::Accepted(a) if a.req_id == RequestId(10) && a.order_id.map(|i| i.as_str() == OID) == Some(true))),
        "{ev:?}"
    );
    assert_eq!(
        h.t.requests_in_flight().collect::<Vec<_>>(),
        [RequestId(11)]
    );
    let Harness { t, events, now, .. } = &mut h;
    t.not_sent(
        RequestId(11),
        kraken_exec::orders::NotSentReason::Shutdown,
        *now,
        &mut |e| events.push(e),
    );
    let ev = h.take();
    assert!(
        ev.iter()
            .any(|e| matches!(e, TrackerEvent::NotSent(n) if n.req_id == RequestId(11)))
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, TrackerEvent::StatusChange(c) if c.to == OrderStatus::Rejected))
    );
    assert_eq!(h.t.requests_in_flight().count(), 0);
    assert_eq!(h.t.active_orders().count(), 1, "only the acked order");
}

/// Item 6: an answer that arrives after its request was declared unknown still settles the
/// order (it used to be dropped as unmatched).
#[test]
fn a_late_ack_after_an_unknown_outcome_still_settles_the_order() {
    let mut h = Harness::new();
    let o = AddOrder::limit(
        h.syms.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(1),
        dec!(100),
    )
    .cl_ord_id(ClOrdId::new("late-1").unwrap());
    h.submit(12, &o);
    h.t.on_timeout(RequestId(12), 5_000, &mut |_| {});
    h.feed(&ack(12, OID));
    assert_eq!(h.status(), OrderStatus::Open);
    assert_eq!(h.t.stats().unmatched_responses, 0);
    assert_eq!(h.t.orders().count(), 1);
}

/// A snapshot frame holding one report.
fn snapshot_of(body: &str) -> String {
    format!(r#"{{"channel":"executions","type":"snapshot","data":[{{{body}}}],"sequence":1}}"#)
}

fn replayed_trade(oid: &str, cl: &str, exec_id: &str) -> String {
    snapshot_of(&format!(
        r#""order_id":"{oid}","cl_ord_id":"{cl}","exec_id":"{exec_id}","exec_type":"trade","trade_id":1,"symbol":"BTC/USD","side":"buy","last_qty":1.0,"last_price":100.0,"liquidity_ind":"m","order_status":"filled","cum_qty":1.0,"order_qty":1.0,"timestamp":"2024-01-01T00:00:00Z","fees":[{{"asset":"USD","qty":0.01}}]"#
    ))
}

/// After a restart, the snapshot replays a fill the journal holds, of an order that had closed
/// (so it was not tracked again): nothing is created and nothing told. (It used to create a
/// record of the closed order, announce it as new, and have it looked up.)
#[test]
fn a_replayed_fill_on_record_of_an_order_no_longer_tracked_creates_nothing() {
    let mut h = Harness::new();
    h.t.restore_fill(&kraken_exec::journal::FillEntry {
        exec_id: kraken_exec::ExecId::new("TX-ON-RECORD").unwrap(),
        order_id: OrderId::new(OID).unwrap(),
        cl_ord_id: None,
        symbol: kraken_exec::SymbolId(0),
        side: Some(Side::Buy),
        qty: dec!(1.0),
        price: dec!(100.0),
        fee: None,
        fee_asset: Default::default(),
        liquidity: None,
        timestamp: None,
        historical: false,
    });
    h.feed(&replayed_trade(OID, "c1", "TX-ON-RECORD"));
    assert!(h.t.by_order_id(&OrderId::new(OID).unwrap()).is_none());
    assert!(h.take().is_empty(), "nothing to tell");
    assert_eq!(h.t.stats().duplicate_fills, 1);
    // A fill not on record of the same kind still makes its record (and is delivered).
    h.feed(&replayed_trade("OTHER1-ORDER-ID0001", "c2", "TX-NEW"));
    assert_eq!(h.fills().len(), 1);
}

/// An add left in flight by a crash is restored `Unknown` under its client id. The snapshot
/// replays the fill of the order it became (under that client id): the report does not take
/// the id from it, and the lookup by client id then joins the two into one record. (The
/// replayed report used to take the id, the lookup resolved that record, and the restored
/// one stayed `Unknown` for good.)
#[test]
fn a_restored_unknown_add_keeps_its_client_id_and_its_lookup_joins_the_replayed_order() {
    let mut h = Harness::new();
    let c1 = ClOrdId::new("c1").unwrap();
    let target = h.t.restore_order(&unknown_add(c1), 0);
    assert_eq!(target, Some(OrderRef::ClOrdId(c1)));
    h.feed(&replayed_trade(OID, "c1", "TX-1"));
    assert_eq!(h.fills().len(), 1, "the fill is delivered once");
    let by_cl = h.t.by_cl_ord_id(&c1).unwrap();
    assert_eq!((by_cl.order_id, by_cl.status), (None, OrderStatus::Unknown));
    let oid = OrderId::new(OID).unwrap();
    let now = h.now;
    let events = &mut h.events;
    h.t.resolve(
        &OrderRef::ClOrdId(c1),
        Some(oid),
        Some(OrderStatus::Filled),
        Some(dec!(1.0)),
        now,
        &mut |e| events.push(e),
    );
    let o = h.t.by_cl_ord_id(&c1).unwrap();
    assert_eq!(
        (o.order_id, o.status, o.filled_qty),
        (Some(oid), OrderStatus::Filled, dec!(1.0))
    );
    assert_eq!(h.t.by_order_id(&oid).map(|o| o.cl_ord_id), Some(Some(c1)));
    assert_eq!(
        h.t.orders().filter(|o| o.cl_ord_id == Some(c1)).count(),
        1,
        "one record"
    );
}

/// An add an earlier process left in flight, as its journal gives it back: `Unknown`, no
/// Kraken id.
fn unknown_add(c: ClOrdId) -> kraken_exec::journal::RecoveredOrder {
    kraken_exec::journal::RecoveredOrder {
        cl_ord_id: Some(c),
        order_id: None,
        symbol: kraken_exec::SymbolId(0),
        side: Some(Side::Buy),
        qty: Some(dec!(1.0)),
        price: Some(dec!(100.0)),
        filled: dec!(0),
        status: OrderStatus::Unknown,
        deadline: None,
    }
}

/// What the strategy reads back (mutation testing, issue 10, found these unchecked here): the
/// order a request in flight created, by its request id; the positions its fills made.
#[test]
fn a_request_s_order_and_the_positions_read_back() {
    let mut h = Harness::new();
    h.submit(1, &order());
    assert_eq!(
        h.t.by_req_id(RequestId(1)).map(|o| o.cl_ord_id),
        Some(Some(ClOrdId::new("c1").unwrap()))
    );
    assert!(h.t.by_req_id(RequestId(2)).is_none());
    h.feed(&ack(1, OID));
    h.feed(&trade(OID, "T1", "0.4", "99.9", "0.4", "partially_filled"));
    let pos: Vec<_> = h.t.positions().filter(|(_, p)| !p.qty.is_zero()).collect();
    assert_eq!(pos.len(), 1);
    assert_eq!(
        (pos[0].0, pos[0].1.qty),
        (kraken_exec::SymbolId(0), dec!(0.4))
    );
}

/// A client id names the order a local submission is waiting for: a snapshot's report of an
/// older order that used the same id does not take it (mutation testing found the rule
/// unchecked here).
#[test]
fn a_waiting_submission_keeps_its_client_id_against_an_older_order_s_report() {
    let mut h = Harness::new();
    h.submit(1, &order());
    let snap = r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"OOLDER-ORDER-ID0001","cl_ord_id":"c1","exec_id":"TOLD1","exec_type":"trade","trade_id":9,"symbol":"BTC/USD","side":"buy","last_qty":1.0,"last_price":100.0,"liquidity_ind":"m","order_status":"filled","cum_qty":1.0,"order_qty":1.0,"timestamp":"2024-01-01T00:00:00Z","fees":[{"asset":"USD","qty":0.01}]}],"sequence":1}"#;
    h.feed(snap);
    let o = h.t.by_cl_ord_id(&ClOrdId::new("c1").unwrap()).unwrap();
    assert_eq!((o.order_id, o.status), (None, OrderStatus::Pending));
    // Its ack then names it; the older order keeps its own record.
    h.feed(&ack(1, OID));
    let o = h.t.by_cl_ord_id(&ClOrdId::new("c1").unwrap()).unwrap();
    assert_eq!(o.order_id, Some(OrderId::new(OID).unwrap()));
    assert!(
        h.t.by_order_id(&OrderId::new("OOLDER-ORDER-ID0001").unwrap())
            .is_some()
    );
}

/// A live order keeps its client id against a closed older order's report (a snapshot's
/// trade of it): the id names the live order until it closes.
#[test]
fn a_live_order_keeps_its_client_id_against_a_closed_order_s_report() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&pending_new(OID, "c1"));
    // The live order's own report first, the older order's trade after it: nothing after
    // gives the id back.
    let snap = r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","cl_ord_id":"c1","exec_type":"new","order_status":"new","symbol":"BTC/USD","side":"buy","order_qty":1.0,"limit_price":100.0,"order_type":"limit","timestamp":"2024-01-01T00:00:01Z"},{"order_id":"OOLDER-ORDER-ID0001","cl_ord_id":"c1","exec_id":"TOLD1","exec_type":"trade","trade_id":9,"symbol":"BTC/USD","side":"buy","last_qty":1.0,"last_price":100.0,"liquidity_ind":"m","order_status":"filled","cum_qty":1.0,"order_qty":1.0,"timestamp":"2024-01-01T00:00:00Z","fees":[{"asset":"USD","qty":0.01}]}],"sequence":2}"#;
    h.feed(snap);
    let o = h.t.by_cl_ord_id(&ClOrdId::new("c1").unwrap()).unwrap();
    assert_eq!(o.order_id, Some(OrderId::new(OID).unwrap()));
    assert!(o.status.is_active());
}

/// Each reason an order was not sent reads as its own text, all saying so (the text is the
/// rejected order's `reason` the strategy and the CLI show).
#[test]
fn not_sent_reasons_read_as_their_own_words() {
    use kraken_exec::orders::NotSentReason as R;
    let all = [
        R::Shutdown,
        R::Expired,
        R::NoRestPair,
        R::PacingExpired,
        R::CanceledWhileQueued,
    ];
    let texts: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
    assert!(
        texts
            .iter()
            .all(|t| t.starts_with("not sent: ") && t.len() > 12)
    );
    let mut unique = texts.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "{texts:?}");
}

/// An order the tracker learns of from a report alone (a snapshot's trade of one it never
/// tracked) is found by its client id.
#[test]
fn an_order_known_only_from_a_report_is_found_by_its_client_id() {
    let mut h = Harness::new();
    let snap = r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"OOLDER-ORDER-ID0001","cl_ord_id":"cx","exec_id":"TOLD1","exec_type":"trade","trade_id":9,"symbol":"BTC/USD","side":"buy","last_qty":1.0,"last_price":100.0,"liquidity_ind":"m","order_status":"filled","cum_qty":1.0,"order_qty":1.0,"timestamp":"2024-01-01T00:00:00Z","fees":[{"asset":"USD","qty":0.01}]}],"sequence":1}"#;
    h.feed(snap);
    let o = h.t.by_cl_ord_id(&ClOrdId::new("cx").unwrap()).unwrap();
    assert_eq!(
        o.order_id,
        Some(OrderId::new("OOLDER-ORDER-ID0001").unwrap())
    );
}

/// The snapshot lists a submission's order before its ack arrives: the client id still names
/// the submission (whose ack then joins the two into one record), not the snapshot's record.
#[test]
fn a_snapshot_listing_a_submission_before_its_ack_leaves_it_the_client_id() {
    let mut h = Harness::new();
    h.submit(1, &order());
    let snap = r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","cl_ord_id":"c1","exec_type":"new","order_status":"new","symbol":"BTC/USD","side":"buy","order_qty":1.0,"limit_price":100.0,"order_type":"limit","timestamp":"2024-01-01T00:00:01Z"}],"sequence":1}"#;
    h.feed(snap);
    let c1 = ClOrdId::new("c1").unwrap();
    let o = h.t.by_cl_ord_id(&c1).unwrap();
    assert_eq!((o.order_id, o.req_id), (None, Some(RequestId(1))));
    h.feed(&ack(1, OID));
    let o = h.t.by_cl_ord_id(&c1).unwrap();
    assert_eq!(o.order_id, Some(OrderId::new(OID).unwrap()));
    assert_eq!(h.t.orders().filter(|o| o.cl_ord_id == Some(c1)).count(), 1);
}

/// An add left in flight by a crash (restored `Unknown`, no Kraken id) keeps its client id
/// when the snapshot lists its order open (not only when it replays a closed one's trade):
/// its lookup, by that id, then joins the two.
#[test]
fn a_restored_unknown_add_keeps_its_client_id_when_its_order_is_listed_open() {
    let mut h = Harness::new();
    let c1 = ClOrdId::new("c1").unwrap();
    h.t.restore_order(&unknown_add(c1), 0);
    let snap = r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","cl_ord_id":"c1","exec_type":"new","order_status":"new","symbol":"BTC/USD","side":"buy","order_qty":1.0,"limit_price":100.0,"order_type":"limit","timestamp":"2024-01-01T00:00:01Z"}],"sequence":1}"#;
    h.feed(snap);
    let o = h.t.by_cl_ord_id(&c1).unwrap();
    assert_eq!((o.order_id, o.status), (None, OrderStatus::Unknown));
}

// Mutation testing of the tracker (issue "Make the tests prove what their names claim"): each
// test below kills mutants of `src/orders/tracker.rs` that the tests above let survive.

/// A trade of 0.1 at 100 on `OID` with one fee of `fee` in `asset`.
fn trade_with_fee(exec_id: &str, asset: &str, fee: &str) -> String {
    exec(
        2,
        &format!(
            r#""order_id":"{OID}","exec_id":"{exec_id}","exec_type":"trade","symbol":"BTC/USD","side":"buy","last_qty":0.1,"last_price":100.0,"order_status":"partially_filled","fees":[{{"asset":"{asset}","qty":{fee}}}]"#
        ),
    )
}

/// An order sums its fees per asset and keeps the first two assets (`MAX_FEES`); a fill
/// charged in a third asset is still applied, its fee dropped (nothing written past the end).
#[test]
fn an_order_sums_fees_per_asset_and_drops_a_third_asset() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&trade_with_fee("T1", "USD", "0.01"));
    h.feed(&trade_with_fee("T2", "BTC", "0.0001"));
    h.feed(&trade_with_fee("T3", "ETH", "0.5"));
    h.feed(&trade_with_fee("T4", "USD", "0.02"));
    assert_eq!(h.fills().len(), 4);
    let o = h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    let fees: Vec<_> = o.fees().iter().map(|f| (f.asset.as_str(), f.qty)).collect();
    assert_eq!(fees, [("USD", dec!(0.03)), ("BTC", dec!(0.0001))]);
    assert_eq!((o.fill_count, o.filled_qty), (4, dec!(0.4)));
}

/// Snapshot trades of `OID` (a buy of 1.0) at the given times, `(exec_id, qty, time)`.
fn snapshot_trades(trades: &[(&str, &str, &str)]) -> String {
    let data: Vec<String> = trades
        .iter()
        .map(|(id, qty, ts)| {
            format!(
                r#"{{"order_id":"{OID}","exec_id":"{id}","exec_type":"trade","symbol":"BTC/USD","side":"buy","order_qty":1.0,"last_qty":{qty},"last_price":100.0,"order_status":"partially_filled","timestamp":"{ts}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"channel":"executions","type":"snapshot","data":[{}],"sequence":1}}"#,
        data.join(",")
    )
}

/// Caught-up fills older than the engine's records are `Historical`: delivered, in the order's
/// figures, but not counted, not in the position, not in the history. One at the very instant
/// the records start, or later, is `Recovered` and counted; a live fill is `Live` whatever its
/// time.
#[test]
fn caught_up_fills_older_than_the_records_are_historical_and_not_counted() {
    use kraken_exec::orders::FillOrigin;
    let mut h = Harness::new();
    h.t.set_history_before(kraken_exec::Timestamp::parse_rfc3339(
        "2024-01-01T00:00:10Z",
    ));
    h.feed(&snapshot_trades(&[
        ("T1", "0.1", "2024-01-01T00:00:09Z"),
        ("T2", "0.2", "2024-01-01T00:00:10Z"),
        ("T3", "0.3", "2024-01-01T00:00:11Z"),
    ]));
    h.feed(&exec(
        2,
        &format!(
            r#""order_id":"{OID}","exec_id":"T4","exec_type":"trade","symbol":"BTC/USD","side":"buy","last_qty":0.1,"last_price":100.0,"order_status":"partially_filled","timestamp":"2024-01-01T00:00:05Z""#
        ),
    ));
    let origins: Vec<_> = h
        .fills()
        .iter()
        .map(|f| (f.exec_id.as_str().to_owned(), f.origin))
        .collect();
    assert_eq!(
        origins,
        [
            ("T1".to_owned(), FillOrigin::Historical),
            ("T2".to_owned(), FillOrigin::Recovered),
            ("T3".to_owned(), FillOrigin::Recovered),
            ("T4".to_owned(), FillOrigin::Live),
        ]
    );
    let s = h.t.stats();
    assert_eq!((s.historical_fills, s.fills), (1, 3));
    assert_eq!(h.t.position(kraken_exec::SymbolId(0)).qty, dec!(0.6));
    assert_eq!(h.t.history().len(), 3);
    // The order's own figures take every fill (they are the exchange's).
    let o = h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!((o.filled_qty, o.fill_count), (dec!(0.7), 4));
}

/// With `history_limit` 0 no fill is kept, yet every fill is delivered and counted.
#[test]
fn a_history_limit_of_zero_keeps_no_fill_but_delivers_and_counts_each() {
    let mut cfg = TrackerConfig::default();
    cfg.history_limit = 0;
    let mut h = Harness::with(cfg);
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&trade(OID, "T1", "0.4", "99.0", "0.4", "partially_filled"));
    h.feed(&trade(OID, "T2", "0.6", "99.0", "1.0", "partially_filled"));
    assert_eq!(h.fills().len(), 2);
    assert_eq!(h.t.stats().fills, 2);
    assert_eq!(h.t.history().len(), 0);
}

fn cancel_answer(req_id: u64, oid: &str) -> String {
    format!(
        r#"{{"method":"cancel_order","req_id":{req_id},"result":{{"order_id":"{oid}"}},"success":true}}"#
    )
}

fn accepted(ev: &[TrackerEvent]) -> Vec<RequestId> {
    ev.iter()
        .filter_map(|e| {
            if let TrackerEvent::Accepted(a) = e {
                Some(a.req_id)
            } else {
                None
            }
        })
        .collect()
}

/// `cancel_order` of two orders gets one answer per order: the request is accepted once, after
/// its second answer, and stays in flight until then.
#[test]
fn a_cancel_answered_per_order_is_accepted_once_after_its_last_answer() {
    const OID2: &str = "OSECND-00000-000002";
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    let o2 = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(99.0))
        .cl_ord_id(ClOrdId::new("c2").unwrap());
    h.submit(2, &o2);
    h.feed(&ack(2, OID2));
    let refs = [
        OrderRef::OrderId(OrderId::new(OID).unwrap()),
        OrderRef::OrderId(OrderId::new(OID2).unwrap()),
    ];
    h.t.submit_cancel(RequestId(3), Method::CancelOrder, &refs, 2);
    h.take();
    h.feed(&cancel_answer(3, OID));
    assert_eq!(accepted(&h.take()), [], "one answer of two");
    assert_eq!(h.t.requests_in_flight().collect::<Vec<_>>(), [RequestId(3)]);
    h.feed(&cancel_answer(3, OID2));
    assert_eq!(accepted(&h.take()), [RequestId(3)]);
    assert_eq!(h.t.requests_in_flight().count(), 0);
}

/// A refused cancel is reported against its order, counted, and the order is no longer marked
/// as being cancelled (it stays open).
#[test]
fn a_refused_cancel_is_reported_against_its_order_and_clears_cancel_pending() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    let id = OrderId::new(OID).unwrap();
    h.t.submit_cancel(
        RequestId(2),
        Method::CancelOrder,
        &[OrderRef::OrderId(id)],
        1,
    );
    assert!(h.t.by_order_id(&id).unwrap().cancel_pending);
    h.take();
    h.feed(
        r#"{"method":"cancel_order","req_id":2,"error":"EOrder:Unknown order","success":false}"#,
    );
    let ev = h.take();
    assert!(
        matches!(ev[..], [TrackerEvent::Rejected(f)] if f.method == Method::CancelOrder && f.order_id == Some(id) && f.req_id == Some(RequestId(2))),
        "{ev:?}"
    );
    let o = h.t.by_order_id(&id).unwrap();
    assert_eq!((o.status, o.cancel_pending), (OrderStatus::Open, false));
    assert_eq!(h.t.stats().request_errors, 1);
}

/// Answers to order requests the tracker never sent are counted as unmatched and change
/// nothing; answers to other methods are not counted.
#[test]
fn answers_to_unknown_order_requests_are_counted_as_unmatched() {
    let mut h = Harness::new();
    h.feed(&ack(99, OID));
    h.feed(&cancel_answer(98, OID));
    h.feed(r#"{"method":"cancel_all","req_id":97,"result":{"count":0},"success":true}"#);
    assert_eq!(h.t.stats().unmatched_responses, 2);
    assert!(h.take().is_empty());
    assert_eq!(h.t.orders().count(), 0);
}

/// Timed-out requests are kept for a late answer, the newest `max_in_flight` of them: a late
/// ack of an older one is unmatched (its order stays `Unknown`), the kept ones settle theirs.
#[test]
fn late_answers_settle_the_newest_max_in_flight_timed_out_requests() {
    let mut cfg = TrackerConfig::default();
    cfg.max_in_flight = 2;
    let mut h = Harness::with(cfg);
    for i in 1..=3u64 {
        let o = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0))
            .cl_ord_id(ClOrdId::new(&format!("c{i}")).unwrap());
        h.submit(i, &o);
        h.t.on_timeout(RequestId(i), 5_000, &mut |_| {});
    }
    let status = |h: &Harness, c: &str| {
        h.t.by_cl_ord_id(&ClOrdId::new(c).unwrap())
            .map(|o| o.status)
    };
    h.feed(&ack(1, "OLATE1-00000-000001"));
    h.feed(&ack(2, "OLATE2-00000-000002"));
    h.feed(&ack(3, "OLATE3-00000-000003"));
    assert_eq!(status(&h, "c1"), Some(OrderStatus::Unknown));
    assert_eq!(status(&h, "c2"), Some(OrderStatus::Open));
    assert_eq!(status(&h, "c3"), Some(OrderStatus::Open));
    assert_eq!(h.t.stats().unmatched_responses, 1);
    assert_eq!(h.t.stats().unknown_outcomes, 3);
}

/// An expired order is counted and leaves the active orders.
#[test]
fn an_expired_order_is_counted_and_leaves_the_active_orders() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    assert_eq!(h.t.stats().active_orders, 1);
    h.feed(&exec(
        3,
        &format!(r#""order_id":"{OID}","exec_type":"expired","order_status":"expired""#),
    ));
    assert_eq!(h.status(), OrderStatus::Expired);
    let s = h.t.stats();
    assert_eq!((s.orders_expired, s.active_orders), (1, 0));
    assert_eq!(h.t.active_orders().count(), 0);
}

/// A lookup names each order of a request by its Kraken id when known, else by its client
/// id; an order with neither (a userref only) is left out, and a request not in flight names
/// none.
#[test]
fn a_lookup_names_a_request_s_orders_by_kraken_id_else_client_id() {
    let mut h = Harness::new();
    let btc = kraken_exec::SymbolId(0);
    let ca = ClOrdId::new("ca").unwrap();
    let mut orders = ArrayVec::new();
    orders.push(AddOrder::limit(btc, Side::Buy, dec!(1), dec!(99)).cl_ord_id(ca));
    orders.push(AddOrder::limit(btc, Side::Buy, dec!(1), dec!(98)).userref(5));
    let b = BatchAdd {
        symbol: btc,
        orders,
        deadline: None,
        validate: false,
    };
    {
        let Harness { t, events, .. } = &mut h;
        t.submit_batch(RequestId(1), &b, 0, &mut |e| events.push(e));
    }
    assert_eq!(
        h.t.lookup_refs(RequestId(1)).as_slice(),
        [OrderRef::ClOrdId(ca)]
    );
    h.submit(2, &order());
    h.feed(&ack(2, OID));
    let c1 = OrderRef::ClOrdId(ClOrdId::new("c1").unwrap());
    h.t.submit_cancel(RequestId(3), Method::CancelOrder, &[c1], 1);
    assert_eq!(
        h.t.lookup_refs(RequestId(3)).as_slice(),
        [OrderRef::OrderId(OrderId::new(OID).unwrap())]
    );
    assert!(h.t.lookup_refs(RequestId(4)).is_empty());
}

/// The method of a request in flight is known by its id until its answer arrives.
#[test]
fn the_method_of_a_request_is_known_while_it_is_in_flight() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    let id = OrderId::new(OID).unwrap();
    let mut e = EditOrder::new(id, kraken_exec::SymbolId(0));
    e.limit_price = Some(dec!(99.5));
    h.t.submit_edit(RequestId(2), &e);
    assert_eq!(h.t.method_of(RequestId(2)), Some(Method::EditOrder));
    assert_eq!(h.t.method_of(RequestId(3)), None);
    h.feed(r#"{"method":"edit_order","req_id":2,"result":{"order_id":"OEDITD-00000-000002","original_order_id":"OK4GJX-KSTLS-7DZZO5"},"success":true}"#);
    assert_eq!(h.t.method_of(RequestId(2)), None);
}

/// An order of the account the tracker had no record of is adopted as the exchange shows it,
/// and announced as new; adopting it again changes nothing and tells nothing.
#[test]
fn an_adopted_order_is_recorded_and_announced_once() {
    let mut h = Harness::new();
    let id = OrderId::new("OADOPT-00000-000001").unwrap();
    let Harness { t, events, .. } = &mut h;
    assert!(
        t.adopt(id, OrderStatus::PartiallyFilled, dec!(0.3), 5, &mut |e| {
            events.push(e)
        })
    );
    let ev = h.take();
    assert!(
        matches!(ev[..], [TrackerEvent::StatusChange(c)] if c.order_id == Some(id) && c.from.is_none() && c.to == OrderStatus::PartiallyFilled),
        "{ev:?}"
    );
    let o = h.t.by_order_id(&id).unwrap();
    assert_eq!(
        (o.status, o.filled_qty),
        (OrderStatus::PartiallyFilled, dec!(0.3))
    );
    assert_eq!(h.t.stats().active_orders, 1);
    let Harness { t, events, .. } = &mut h;
    assert!(!t.adopt(id, OrderStatus::Open, dec!(0), 6, &mut |e| events.push(e)));
    assert!(h.take().is_empty());
    let o = h.t.by_order_id(&id).unwrap();
    assert_eq!(
        (o.status, o.filled_qty),
        (OrderStatus::PartiallyFilled, dec!(0.3))
    );
    assert_eq!(h.t.orders().count(), 1);
}

/// What an earlier run's journal gives back: its fills are counted once each (and known, so
/// a replay is a duplicate); a live order is tracked again without an event and needs no
/// lookup; an order already tracked (by its Kraken id) is not restored twice; an add whose
/// outcome was unknown is looked up by its Kraken id when it has one.
#[test]
fn restored_fills_and_orders_are_counted_once_and_only_unknown_ones_are_looked_up() {
    let mut h = Harness::new();
    let id = OrderId::new(OID).unwrap();
    let c1 = ClOrdId::new("c1").unwrap();
    let fill = kraken_exec::journal::FillEntry {
        exec_id: kraken_exec::ExecId::new("TX-1").unwrap(),
        order_id: id,
        cl_ord_id: Some(c1),
        symbol: kraken_exec::SymbolId(0),
        side: Some(Side::Buy),
        qty: dec!(0.4),
        price: dec!(100.0),
        fee: None,
        fee_asset: Default::default(),
        liquidity: None,
        timestamp: None,
        historical: false,
    };
    h.t.restore_fill(&fill);
    h.t.restore_fill(&fill);
    assert_eq!(h.t.stats().restored_fills, 1);
    let open = kraken_exec::journal::RecoveredOrder {
        cl_ord_id: Some(c1),
        order_id: Some(id),
        symbol: kraken_exec::SymbolId(0),
        side: Some(Side::Buy),
        qty: Some(dec!(1.0)),
        price: Some(dec!(100.0)),
        filled: dec!(0.4),
        status: OrderStatus::PartiallyFilled,
        deadline: None,
    };
    assert_eq!(
        h.t.restore_order(&open, 0),
        None,
        "a live order needs no lookup"
    );
    let o = h.t.by_order_id(&id).unwrap();
    assert_eq!(
        (o.status, o.filled_qty, o.remaining_qty(), o.cl_ord_id),
        (OrderStatus::PartiallyFilled, dec!(0.4), dec!(0.6), Some(c1))
    );
    let by_id_only = kraken_exec::journal::RecoveredOrder {
        cl_ord_id: None,
        ..open
    };
    assert_eq!(h.t.restore_order(&by_id_only, 0), None);
    assert_eq!(h.t.orders().count(), 1, "not restored twice");
    assert_eq!(h.t.stats().restored_orders, 1);
    let id2 = OrderId::new("OUNKWN-00000-000002").unwrap();
    let unknown = kraken_exec::journal::RecoveredOrder {
        cl_ord_id: Some(ClOrdId::new("c2").unwrap()),
        order_id: Some(id2),
        status: OrderStatus::Unknown,
        filled: dec!(0),
        ..open
    };
    assert_eq!(h.t.restore_order(&unknown, 0), Some(OrderRef::OrderId(id2)));
    assert_eq!(h.t.stats().restored_orders, 2);
    assert!(
        h.take().is_empty(),
        "no event: the strategy heard of them then"
    );
    // The snapshot replays the fill on record: a duplicate, not delivered again.
    h.feed(&trade(
        OID,
        "TX-1",
        "0.4",
        "100.0",
        "0.4",
        "partially_filled",
    ));
    assert!(h.fills().is_empty());
    assert_eq!(h.t.stats().duplicate_fills, 1);
}

/// A position as an earlier run left it is read back, and later fills add to it.
#[test]
fn a_restored_position_is_read_back_and_fills_add_to_it() {
    let mut h = Harness::new();
    let eth = kraken_exec::SymbolId(1);
    let mut p = kraken_exec::orders::Position::default();
    assert!(p.apply(Side::Buy, dec!(2), dec!(100), dec!(0)));
    h.t.restore_position(eth, p);
    assert_eq!(h.t.position(eth), p);
    assert_eq!(h.t.position(kraken_exec::SymbolId(0)).qty, dec!(0));
    h.feed(&exec(
        2,
        r#""order_id":"OETHBY-00000-000001","exec_id":"TE1","exec_type":"trade","symbol":"ETH/USD","side":"buy","last_qty":1.0,"last_price":130.0,"order_status":"partially_filled""#,
    ));
    let q = h.t.position(eth);
    assert_eq!((q.qty, q.avg_price), (dec!(3), dec!(110)));
}

/// A snapshot's trade of an open order does not list the order (trades are replayed for
/// closed orders too): the order, not otherwise listed, becomes `Unknown`.
#[test]
fn a_snapshot_s_trade_alone_does_not_list_an_order_as_open() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&snapshot_trades(&[("T1", "0.3", "2024-01-01T00:00:01Z")]));
    let o = h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!((o.status, o.filled_qty), (OrderStatus::Unknown, dec!(0.3)));
    assert_eq!(h.fills().len(), 1);
}

/// Kraken's userref 0 means "none": it never replaces the order's userref; another value does.
#[test]
fn a_report_s_userref_of_zero_leaves_the_order_s_userref() {
    let mut h = Harness::new();
    let o = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0)).userref(7);
    h.submit(1, &o);
    h.feed(&ack(1, OID));
    h.feed(&exec(
        3,
        &format!(r#""order_id":"{OID}","exec_type":"new","order_status":"new","order_userref":0"#),
    ));
    let userref = |h: &Harness| {
        h.t.by_order_id(&OrderId::new(OID).unwrap())
            .unwrap()
            .userref
    };
    assert_eq!(userref(&h), Some(7));
    h.feed(&exec(
        4,
        &format!(
            r#""order_id":"{OID}","exec_type":"amended","order_status":"new","order_userref":9"#
        ),
    ));
    assert_eq!(userref(&h), Some(9));
}

/// A reported average price wins over the fills' own average, but a reported zero is
/// ignored; the time of an order's first report is kept.
#[test]
fn a_reported_average_price_wins_unless_zero_and_the_first_report_time_is_kept() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&trade(OID, "T1", "0.5", "100.0", "0.5", "partially_filled"));
    let first = h.now;
    let o = *h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!((o.avg_price, o.first_report_ns), (dec!(100), first));
    h.feed(&exec(
        3,
        &format!(r#""order_id":"{OID}","exec_type":"new","order_status":"partially_filled","avg_price":0"#),
    ));
    let o = *h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!((o.avg_price, o.first_report_ns), (dec!(100), first));
    h.feed(&exec(
        4,
        &format!(r#""order_id":"{OID}","exec_type":"new","order_status":"partially_filled","avg_price":100.5"#),
    ));
    let o = *h.t.by_order_id(&OrderId::new(OID).unwrap()).unwrap();
    assert_eq!((o.avg_price, o.first_report_ns), (dec!(100.5), first));
    assert!(o.updated_ns > first);
}

/// A live birth report joins only a record still waiting for its id: a rejected add with the
/// same client id stays rejected, and the new order gets its own record.
#[test]
fn a_birth_report_does_not_join_a_rejected_add_with_its_client_id() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(
        r#"{"error":"EOrder:Insufficient funds","method":"add_order","req_id":1,"success":false}"#,
    );
    h.feed(&pending_new(OID, "c1"));
    assert_eq!(h.status(), OrderStatus::PendingNew);
    assert_eq!(h.t.orders().count(), 2);
    assert_eq!(
        h.t.orders()
            .filter(|o| o.status == OrderStatus::Rejected && o.order_id.is_none())
            .count(),
        1
    );
}

/// An order without a client id, as `exec` reports it: born, filled whole, closed.
fn born_and_filled(oid: &str, exec_id: &str) -> [String; 3] {
    [
        exec(
            1,
            &format!(
                r#""order_id":"{oid}","symbol":"BTC/USD","order_qty":1.0,"exec_type":"pending_new","side":"buy","order_status":"pending_new""#
            ),
        ),
        trade(oid, exec_id, "1.0", "100.0", "1.0", "partially_filled"),
        exec(
            3,
            &format!(
                r#""order_id":"{oid}","exec_type":"filled","order_status":"filled","cum_qty":1.0"#
            ),
        ),
    ]
}

/// An order completed by its executions before its ack is joined to its submission on the
/// ack and then counts once among the retained completed orders: with `retention` 1, the next
/// completed order is the one kept (the record the join freed, reused by that next order, is
/// not forgotten in its place).
#[test]
fn an_order_completed_before_its_ack_counts_once_among_the_retained() {
    const OID_A: &str = "OAAAAA-00000-000001";
    const OID_B: &str = "OBBBBB-00000-000002";
    let mut cfg = TrackerConfig::default();
    cfg.retention = 1;
    let mut h = Harness::with(cfg);
    let no_cl = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0));
    h.submit(1, &no_cl);
    for f in born_and_filled(OID_A, "TA") {
        h.feed(&f);
    }
    assert_eq!(
        h.t.orders().count(),
        2,
        "the submission and the report's record"
    );
    h.feed(&ack(1, OID_A));
    assert_eq!(h.t.orders().count(), 1, "joined");
    let a = h.t.by_order_id(&OrderId::new(OID_A).unwrap()).unwrap();
    assert_eq!(
        (a.status, a.req_id),
        (OrderStatus::Filled, Some(RequestId(1)))
    );
    assert_eq!(h.t.stats().active_orders, 0);
    h.submit(2, &no_cl);
    h.feed(&ack(2, OID_B));
    for f in born_and_filled(OID_B, "TB") {
        h.feed(&f);
    }
    let b =
        h.t.by_order_id(&OrderId::new(OID_B).unwrap())
            .map(|o| o.status);
    assert_eq!(
        b,
        Some(OrderStatus::Filled),
        "the newest completed order is kept"
    );
    assert!(h.t.by_order_id(&OrderId::new(OID_A).unwrap()).is_none());
    assert_eq!(h.t.orders().count(), 1);
}

/// A completed order forgotten beyond `retention` no longer answers to its client id, also
/// once its record is reused by a newer order.
#[test]
fn a_forgotten_order_s_client_id_names_no_order() {
    let mut cfg = TrackerConfig::default();
    cfg.retention = 1;
    let mut h = Harness::with(cfg);
    for (i, oid) in [(1u64, "OFIRST-00000-000001"), (2, "OSECND-00000-000002")] {
        let o = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0))
            .cl_ord_id(ClOrdId::new(&format!("c{i}")).unwrap());
        h.submit(i, &o);
        h.feed(&ack(i, oid));
        h.feed(&exec(
            3,
            &format!(r#""order_id":"{oid}","exec_type":"canceled","order_status":"canceled""#),
        ));
    }
    let c = |s: &str| ClOrdId::new(s).unwrap();
    assert!(h.t.by_cl_ord_id(&c("c1")).is_none());
    assert!(h.t.by_cl_ord_id(&c("c2")).is_some());
    let o3 = AddOrder::limit(kraken_exec::SymbolId(0), Side::Buy, dec!(1.0), dec!(100.0))
        .cl_ord_id(c("c3"));
    h.submit(3, &o3);
    assert!(h.t.by_cl_ord_id(&c("c1")).is_none(), "not the newer order");
    assert_eq!(
        h.t.by_cl_ord_id(&c("c3")).map(|o| o.req_id),
        Some(Some(RequestId(3)))
    );
}

/// A client id reused after its order closed (by an order placed elsewhere) names the new
/// order; the closed one keeps its record.
#[test]
fn a_client_id_reused_after_its_order_closed_names_the_new_order() {
    const NEWER: &str = "ONEWER-00000-000002";
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.feed(&trade(OID, "T1", "1.0", "100.0", "1.0", "partially_filled"));
    h.feed(&exec(
        3,
        &format!(
            r#""order_id":"{OID}","exec_type":"filled","order_status":"filled","cum_qty":1.0"#
        ),
    ));
    h.feed(&pending_new(NEWER, "c1"));
    let o = h.t.by_cl_ord_id(&ClOrdId::new("c1").unwrap()).unwrap();
    assert_eq!(
        (o.order_id, o.status),
        (Some(OrderId::new(NEWER).unwrap()), OrderStatus::PendingNew)
    );
    assert_eq!(h.status(), OrderStatus::Filled);
}

/// A trade report that fills nothing (no quantity) says nothing about the order's status: it
/// stays open, and no fill is delivered.
#[test]
fn a_trade_report_that_fills_nothing_leaves_the_order_open() {
    let mut h = Harness::new();
    h.submit(1, &order());
    h.feed(&ack(1, OID));
    h.take();
    h.feed(&exec(
        3,
        &format!(r#""order_id":"{OID}","exec_type":"trade","order_status":"partially_filled""#),
    ));
    assert_eq!(h.status(), OrderStatus::Open);
    assert!(h.take().is_empty());
}

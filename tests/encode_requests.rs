//! Exact wire text of every request we send.

use arrayvec::ArrayVec;
use kraken_exec::protocol::{Subscription, encode};
use kraken_exec::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelOrder, ClOrdId, Conditional, EditOrder,
    FeePreference, OrderId, OrderRef, OrderType, PriceType, Side, StpType, SymbolTable,
    TimeInForce, Timestamp, Triggers,
};
use rust_decimal_macros::dec;

fn syms() -> SymbolTable {
    SymbolTable::from_names(["BTC/USD", "MATIC/USD"])
}

fn s(buf: &[u8]) -> &str {
    std::str::from_utf8(buf).unwrap()
}

#[test]
fn add_order_limit_matches_the_docs_example() {
    let sy = syms();
    let o = AddOrder::limit(
        sy.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(1.2),
        dec!(26500.4),
    )
    .userref(100054);
    let mut b = Vec::new();
    encode::add_order(
        &mut b,
        &o,
        &sy,
        "G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY",
        123456789,
    );
    assert_eq!(
        s(&b),
        r#"{"method":"add_order","params":{"order_type":"limit","side":"buy","order_qty":1.2,"limit_price":26500.4,"order_userref":100054,"symbol":"BTC/USD","token":"G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY"},"req_id":123456789}"#
    );
}

#[test]
fn add_order_every_field() {
    let sy = syms();
    let t0 = Timestamp::parse_rfc3339("2026-11-24T10:00:00Z").unwrap();
    let o = AddOrder::triggered(
        sy.get("MATIC/USD").unwrap(),
        Side::Sell,
        OrderType::StopLoss,
        dec!(100),
        Triggers::offset(dec!(-2.0), PriceType::Pct),
    )
    .time_in_force(TimeInForce::Ioc)
    .reduce_only()
    .margin()
    .effective_at(t0)
    .deadline(Timestamp(t0.0 + 5_000_000))
    .cl_ord_id(ClOrdId::new("2c6be801-1f53-4f79-a0bb-4ea1c95dfae9").unwrap())
    .with_conditional(Conditional {
        order_type: OrderType::StopLossLimit,
        limit_price: Some(dec!(0.5)),
        limit_price_type: None,
        trigger_price: Some(dec!(0.55)),
        trigger_price_type: Some(PriceType::Static),
    })
    .fee_preference(FeePreference::Base)
    .stp(StpType::CancelBoth)
    .validate_only();
    let mut b = Vec::new();
    encode::add_order(&mut b, &o, &sy, "t", 1);
    assert_eq!(
        s(&b),
        concat!(
            r#"{"method":"add_order","params":{"order_type":"stop-loss","side":"sell","order_qty":100,"#,
            r#""triggers":{"reference":"last","price":-2.0,"price_type":"pct"},"time_in_force":"ioc","margin":true,"#,
            r#""reduce_only":true,"effective_time":"2026-11-24T10:00:00.000000Z","cl_ord_id":"2c6be801-1f53-4f79-a0bb-4ea1c95dfae9","#,
            r#""conditional":{"order_type":"stop-loss-limit","limit_price":0.5,"trigger_price":0.55,"trigger_price_type":"static"},"#,
            r#""fee_preference":"base","stp_type":"cancel_both","symbol":"MATIC/USD","deadline":"2026-11-24T10:00:05.000000Z","#,
            r#""validate":true,"token":"t"},"req_id":1}"#
        )
    );
    let q = AddOrder::market_buy_quote(sy.get("BTC/USD").unwrap(), dec!(250.00));
    encode::add_order(&mut b, &q, &sy, "t", 2);
    assert!(s(&b).contains(r#""cash_order_qty":250.00"#) && !s(&b).contains("\"order_qty\""));
    let ice = AddOrder::iceberg(
        sy.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(1.5),
        dec!(60000),
        dec!(0.1),
    )
    .post_only()
    .good_till(t0);
    encode::add_order(&mut b, &ice, &sy, "t", 3);
    assert!(
        s(&b).contains(
            r#""time_in_force":"gtd","post_only":true,"expire_time":"2026-11-24T10:00:00.000000Z""#
        ),
        "{}",
        s(&b)
    );
    assert!(s(&b).contains(r#""display_qty":0.1"#));
}

#[test]
fn amend_edit_cancel() {
    let sy = syms();
    let id = OrderId::new("OK4GJX-KSTLS-7DZZO5").unwrap();
    let mut b = Vec::new();
    let mut a = AmendOrder::new(OrderRef::OrderId(id))
        .price(dec!(26500.5))
        .qty(dec!(0.010));
    a.post_only = true;
    encode::amend_order(&mut b, &a, &sy, "t", 4);
    assert_eq!(
        s(&b),
        r#"{"method":"amend_order","params":{"order_id":"OK4GJX-KSTLS-7DZZO5","order_qty":0.010,"limit_price":26500.5,"post_only":true,"token":"t"},"req_id":4}"#
    );
    let a = AmendOrder::new(OrderRef::ClOrdId(ClOrdId::new("bid-1").unwrap())).price(dec!(1));
    encode::amend_order(&mut b, &a, &sy, "t", 5);
    assert!(
        s(&b).starts_with(
            r#"{"method":"amend_order","params":{"cl_ord_id":"bid-1","limit_price":1,"#
        )
    );

    let mut e = EditOrder::new(id, sy.get("BTC/USD").unwrap());
    e.order_qty = Some(dec!(2));
    e.order_userref = Some(7);
    encode::edit_order(&mut b, &e, &sy, "t", 6);
    assert_eq!(
        s(&b),
        r#"{"method":"edit_order","params":{"order_id":"OK4GJX-KSTLS-7DZZO5","symbol":"BTC/USD","order_qty":2,"order_userref":7,"token":"t"},"req_id":6}"#
    );

    let mut c = CancelOrder::one(OrderRef::OrderId(id));
    c.refs.push(OrderRef::UserRef(12));
    c.refs.push(OrderRef::ClOrdId(ClOrdId::new("x").unwrap()));
    c.refs.push(OrderRef::UserRef(-3));
    encode::cancel_order(&mut b, &c, "t", 7);
    assert_eq!(
        s(&b),
        r#"{"method":"cancel_order","params":{"order_id":["OK4GJX-KSTLS-7DZZO5"],"cl_ord_id":["x"],"order_userref":[12,-3],"token":"t"},"req_id":7}"#
    );
    encode::cancel_all(&mut b, "t", 8);
    assert_eq!(
        s(&b),
        r#"{"method":"cancel_all","params":{"token":"t"},"req_id":8}"#
    );
    encode::cancel_all_orders_after(&mut b, 60, "t", 9);
    assert_eq!(
        s(&b),
        r#"{"method":"cancel_all_orders_after","params":{"timeout":60,"token":"t"},"req_id":9}"#
    );
}

#[test]
fn batches() {
    let sy = syms();
    let btc = sy.get("BTC/USD").unwrap();
    let mut orders = ArrayVec::new();
    orders.push(AddOrder::limit(btc, Side::Buy, dec!(0.123456789), dec!(1010.10)).userref(1));
    orders.push(
        AddOrder::limit(btc, Side::Sell, dec!(0.987654321), dec!(2020.20))
            .userref(2)
            .stp(StpType::CancelBoth),
    );
    let batch = BatchAdd {
        symbol: btc,
        orders,
        deadline: Some(Timestamp::parse_rfc3339("2022-06-13T08:09:10.123456Z").unwrap()),
        validate: false,
    };
    let mut b = Vec::new();
    encode::batch_add(&mut b, &batch, &sy, "t", 1234567890);
    assert_eq!(
        s(&b),
        concat!(
            r#"{"method":"batch_add","params":{"symbol":"BTC/USD","orders":["#,
            r#"{"order_type":"limit","side":"buy","order_qty":0.123456789,"limit_price":1010.10,"order_userref":1},"#,
            r#"{"order_type":"limit","side":"sell","order_qty":0.987654321,"limit_price":2020.20,"order_userref":2,"stp_type":"cancel_both"}],"#,
            r#""deadline":"2022-06-13T08:09:10.123456Z","token":"t"},"req_id":1234567890}"#
        )
    );
    let mut bc = BatchCancel::default();
    bc.refs.push(OrderRef::UserRef(1));
    bc.refs.push(OrderRef::UserRef(2));
    bc.refs.push(OrderRef::OrderId(
        OrderId::new("ORDERX-IDXXX-XXXXX3").unwrap(),
    ));
    encode::batch_cancel(&mut b, &bc, "t", 1234567890);
    assert_eq!(
        s(&b),
        r#"{"method":"batch_cancel","params":{"orders":["1","2","ORDERX-IDXXX-XXXXX3"],"token":"t"},"req_id":1234567890}"#
    );
}

#[test]
fn subscriptions_and_ping() {
    let mut b = Vec::new();
    let ex = Subscription::Executions {
        snap_orders: true,
        snap_trades: true,
        order_status: true,
        ratecounter: false,
    };
    encode::subscribe(&mut b, &ex, Some("tok"), 0);
    assert_eq!(
        s(&b),
        r#"{"method":"subscribe","params":{"channel":"executions","snap_orders":true,"snap_trades":true,"order_status":true,"token":"tok"},"req_id":0}"#
    );
    encode::unsubscribe(&mut b, &ex, Some("tok"), 1);
    assert_eq!(
        s(&b),
        r#"{"method":"unsubscribe","params":{"channel":"executions","token":"tok"},"req_id":1}"#
    );
    encode::subscribe(
        &mut b,
        &Subscription::Balances { snapshot: true },
        Some("tok"),
        2,
    );
    assert_eq!(
        s(&b),
        r#"{"method":"subscribe","params":{"channel":"balances","snapshot":true,"token":"tok"},"req_id":2}"#
    );
    // Public channel: no token even if one is at hand.
    encode::subscribe(
        &mut b,
        &Subscription::Instrument { snapshot: true },
        Some("tok"),
        3,
    );
    assert_eq!(
        s(&b),
        r#"{"method":"subscribe","params":{"channel":"instrument","snapshot":true},"req_id":3}"#
    );
    encode::ping(&mut b, 42);
    assert_eq!(s(&b), r#"{"method":"ping","req_id":42}"#);
}

/// `encode::request`, the one entry the session calls, writes each kind of request exactly as
/// its own encoder does (the tests above call the encoders directly).
#[test]
fn every_kind_of_request_goes_through_its_own_encoder() {
    use kraken_exec::{CancelAllAfter, Request};
    let sy = syms();
    let btc = sy.get("BTC/USD").unwrap();
    let id = OrderId::new("OK4GJX-KSTLS-7DZZO5").unwrap();
    let add = AddOrder::limit(btc, Side::Buy, dec!(1), dec!(2)).userref(3);
    let amend = AmendOrder::new(OrderRef::OrderId(id)).price(dec!(3));
    let mut edit = EditOrder::new(id, btc);
    edit.order_qty = Some(dec!(4));
    let cancel = CancelOrder::one(OrderRef::OrderId(id));
    let after = CancelAllAfter::of(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut orders = ArrayVec::new();
    orders.push(add);
    orders.push(add);
    let batch = BatchAdd {
        symbol: btc,
        orders,
        deadline: None,
        validate: false,
    };
    let mut bc = BatchCancel::default();
    bc.refs.push(OrderRef::UserRef(1));
    bc.refs.push(OrderRef::UserRef(2));
    let (mut via, mut direct) = (Vec::new(), Vec::new());
    let mut check = |r: Request<'_>, method: &str, own: &dyn Fn(&mut Vec<u8>)| {
        encode::request(&mut via, r, &sy, "t", 77);
        own(&mut direct);
        assert_eq!(s(&via), s(&direct));
        assert!(
            s(&via).starts_with(&format!(r#"{{"method":"{method}","#)),
            "{}",
            s(&via)
        );
    };
    check(Request::Add(&add), "add_order", &|b| {
        encode::add_order(b, &add, &sy, "t", 77)
    });
    check(Request::Amend(&amend), "amend_order", &|b| {
        encode::amend_order(b, &amend, &sy, "t", 77)
    });
    check(Request::Edit(&edit), "edit_order", &|b| {
        encode::edit_order(b, &edit, &sy, "t", 77)
    });
    check(Request::Cancel(&cancel), "cancel_order", &|b| {
        encode::cancel_order(b, &cancel, "t", 77)
    });
    check(Request::CancelAll, "cancel_all", &|b| {
        encode::cancel_all(b, "t", 77)
    });
    check(
        Request::CancelAllAfter(after),
        "cancel_all_orders_after",
        &|b| encode::cancel_all_orders_after(b, 60, "t", 77),
    );
    check(Request::BatchAdd(&batch), "batch_add", &|b| {
        encode::batch_add(b, &batch, &sy, "t", 77)
    });
    check(Request::BatchCancel(&bc), "batch_cancel", &|b| {
        encode::batch_cancel(b, &bc, "t", 77)
    });
}

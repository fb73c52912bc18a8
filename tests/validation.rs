//! Every pre-trade rule refuses with the field and the rule it names.

use arrayvec::ArrayVec;
use kraken_exec::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelAllAfter, CancelOrder, ClOrdId,
    ClOrdIdError, Conditional, EditOrder, Field, Instrument, OrderId, OrderRef, OrderType,
    PairStatus, PriceType, Quantity, Rule, Side, SymbolId, TimeInForce, Timestamp, Triggers,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const BTC: SymbolId = SymbolId(0);
const NOW: Timestamp = Timestamp(1_700_000_000_000_000);

fn btc() -> Instrument {
    Instrument {
        symbol: BTC,
        status: PairStatus::Online,
        price_increment: dec!(0.1),
        qty_increment: dec!(0.00000001),
        qty_min: dec!(0.0001),
        cost_min: dec!(0.5),
    }
}

fn limit() -> AddOrder {
    AddOrder::limit(BTC, Side::Buy, dec!(0.01), dec!(65000.1))
}

fn refused(o: &AddOrder) -> (Field, Rule) {
    let e = o.validate(&btc(), NOW).unwrap_err();
    (e.field, e.rule)
}

#[test]
fn valid_orders_pass() {
    limit().validate(&btc(), NOW).unwrap();
    AddOrder::market(BTC, Side::Sell, dec!(0.5))
        .validate(&btc(), NOW)
        .unwrap();
    AddOrder::market_buy_quote(BTC, dec!(100))
        .validate(&btc(), NOW)
        .unwrap();
    AddOrder::iceberg(BTC, Side::Buy, dec!(1.5), dec!(60000), dec!(0.1))
        .post_only()
        .validate(&btc(), NOW)
        .unwrap();
    // An iceberg may show its whole quantity.
    AddOrder::iceberg(BTC, Side::Buy, dec!(1.5), dec!(60000), dec!(1.5))
        .validate(&btc(), NOW)
        .unwrap();
    AddOrder::triggered(
        BTC,
        Side::Sell,
        OrderType::StopLoss,
        dec!(1),
        Triggers::at(dec!(50000)),
    )
    .validate(&btc(), NOW)
    .unwrap();
    AddOrder::triggered(
        BTC,
        Side::Sell,
        OrderType::StopLoss,
        dec!(1),
        Triggers::offset(dec!(-2), PriceType::Pct),
    )
    .validate(&btc(), NOW)
    .unwrap();
    AddOrder::triggered_limit(
        BTC,
        Side::Sell,
        OrderType::TakeProfitLimit,
        dec!(1),
        Triggers::at(dec!(70000)),
        dec!(69999.9),
    )
    .validate(&btc(), NOW)
    .unwrap();
    AddOrder::triggered(
        BTC,
        Side::Sell,
        OrderType::TrailingStop,
        dec!(1),
        Triggers::offset(dec!(1.5), PriceType::Pct),
    )
    .validate(&btc(), NOW)
    .unwrap();
    AddOrder::triggered_limit(
        BTC,
        Side::Sell,
        OrderType::TrailingStopLimit,
        dec!(1),
        Triggers::offset(dec!(100), PriceType::Quote),
        dec!(-50),
    )
    .limit_price_type(PriceType::Quote)
    .validate(&btc(), NOW)
    .unwrap();
    AddOrder::settle_position(BTC, Side::Buy, dec!(1))
        .validate(&btc(), NOW)
        .unwrap();
    limit()
        .good_till(Timestamp(NOW.0 + 3_600_000_000))
        .validate(&btc(), NOW)
        .unwrap();
    limit()
        .time_in_force(TimeInForce::Fok)
        .validate(&btc(), NOW)
        .unwrap();
    limit()
        .deadline(Timestamp(NOW.0 + 5_000_000))
        .validate(&btc(), NOW)
        .unwrap();
}

#[test]
fn shape_rules() {
    let mut o = limit();
    o.limit_price = None;
    assert_eq!(
        refused(&o),
        (Field::LimitPrice, Rule::RequiredFor(OrderType::Limit))
    );
    let mut o = AddOrder::market(BTC, Side::Buy, dec!(1));
    o.limit_price = Some(dec!(1));
    assert_eq!(
        refused(&o),
        (Field::LimitPrice, Rule::NotAllowedFor(OrderType::Market))
    );
    assert_eq!(
        refused(&AddOrder::limit(BTC, Side::Buy, dec!(0), dec!(1))),
        (Field::OrderQty, Rule::NotPositive)
    );
    assert_eq!(
        refused(&AddOrder::limit(BTC, Side::Buy, dec!(1), dec!(-1))),
        (Field::LimitPrice, Rule::NotPositive)
    );
    let mut o = AddOrder::market_buy_quote(BTC, dec!(10));
    o.side = Side::Sell;
    assert_eq!(
        refused(&o),
        (Field::CashOrderQty, Rule::NotAllowedFor(OrderType::Market))
    );
    assert_eq!(
        refused(&AddOrder::market_buy_quote(BTC, dec!(10)).margin()),
        (Field::CashOrderQty, Rule::ConflictsWith(Field::Margin))
    );
    let mut o = AddOrder::market(BTC, Side::Sell, dec!(1));
    o.order_type = OrderType::StopLoss;
    assert_eq!(
        refused(&o),
        (Field::Triggers, Rule::RequiredFor(OrderType::StopLoss))
    );
    let mut o = limit();
    o.triggers = Some(Triggers::at(dec!(1)));
    assert_eq!(
        refused(&o),
        (Field::Triggers, Rule::NotAllowedFor(OrderType::Limit))
    );
    assert_eq!(
        refused(&AddOrder::triggered(
            BTC,
            Side::Sell,
            OrderType::TrailingStop,
            dec!(1),
            Triggers::at(dec!(100))
        )),
        (
            Field::Triggers,
            Rule::NotAllowedFor(OrderType::TrailingStop)
        )
    );
    assert_eq!(
        refused(&AddOrder::triggered(
            BTC,
            Side::Sell,
            OrderType::StopLoss,
            dec!(1),
            Triggers::at(dec!(-1))
        )),
        (Field::TriggerPrice, Rule::NotPositive)
    );
    assert_eq!(
        refused(&limit().limit_price_type(PriceType::Pct)),
        (Field::LimitPriceType, Rule::NotAllowedFor(OrderType::Limit))
    );
    // Iceberg display quantity: at least 1/15 of the order, at most all of it.
    assert_eq!(
        refused(&AddOrder::iceberg(
            BTC,
            Side::Buy,
            dec!(1.5),
            dec!(60000),
            dec!(0.09)
        )),
        (Field::DisplayQty, Rule::IcebergTooSmall)
    );
    assert_eq!(
        refused(&AddOrder::iceberg(
            BTC,
            Side::Buy,
            dec!(1.5),
            dec!(60000),
            dec!(2)
        )),
        (Field::DisplayQty, Rule::ExceedsOrderQty)
    );
    let mut o = AddOrder::iceberg(BTC, Side::Buy, dec!(1.5), dec!(60000), dec!(0.1));
    o.display_qty = None;
    assert_eq!(
        refused(&o),
        (Field::DisplayQty, Rule::RequiredFor(OrderType::Iceberg))
    );
    let mut o = limit();
    o.display_qty = Some(dec!(0.001));
    assert_eq!(
        refused(&o),
        (Field::DisplayQty, Rule::NotAllowedFor(OrderType::Limit))
    );
    // Post-only.
    assert_eq!(
        refused(&AddOrder::market(BTC, Side::Buy, dec!(1)).post_only()),
        (Field::PostOnly, Rule::NotAllowedFor(OrderType::Market))
    );
    assert_eq!(
        refused(&limit().post_only().time_in_force(TimeInForce::Ioc)),
        (Field::PostOnly, Rule::ConflictsWith(Field::TimeInForce))
    );
    // Time in force.
    assert_eq!(
        refused(&limit().time_in_force(TimeInForce::Gtd)),
        (Field::ExpireTime, Rule::RequiredWith(Field::TimeInForce))
    );
    assert_eq!(
        refused(&limit().good_till(NOW)),
        (Field::ExpireTime, Rule::OutOfRange)
    );
    let mut o = limit();
    o.expire_time = Some(Timestamp(NOW.0 + 1_000_000));
    assert_eq!(
        refused(&o),
        (Field::ExpireTime, Rule::ConflictsWith(Field::TimeInForce))
    );
    assert_eq!(
        refused(&AddOrder::market(BTC, Side::Buy, dec!(1)).time_in_force(TimeInForce::Fok)),
        (Field::TimeInForce, Rule::NotAllowedFor(OrderType::Market))
    );
    // Deadline window 0.5 s .. 60 s.
    assert_eq!(
        refused(&limit().deadline(Timestamp(NOW.0 + 100_000))),
        (Field::Deadline, Rule::OutOfRange)
    );
    assert_eq!(
        refused(&limit().deadline(Timestamp(NOW.0 + 61_000_000))),
        (Field::Deadline, Rule::OutOfRange)
    );
    // Both ends are in the window, a microsecond beyond either is not.
    for ahead in [500_000, 60_000_000] {
        limit()
            .deadline(Timestamp(NOW.0 + ahead))
            .validate(&btc(), NOW)
            .unwrap();
    }
    for ahead in [499_999, 60_000_001] {
        assert_eq!(
            refused(&limit().deadline(Timestamp(NOW.0 + ahead))),
            (Field::Deadline, Rule::OutOfRange)
        );
    }
    // Settle-position needs margin.
    let mut o = AddOrder::settle_position(BTC, Side::Buy, dec!(1));
    o.margin = false;
    assert_eq!(
        refused(&o),
        (Field::Margin, Rule::RequiredFor(OrderType::SettlePosition))
    );
    // Conditional close.
    let c = Conditional {
        order_type: OrderType::StopLossLimit,
        limit_price: None,
        limit_price_type: None,
        trigger_price: Some(dec!(1)),
        trigger_price_type: None,
    };
    assert_eq!(
        refused(&limit().with_conditional(c)),
        (
            Field::Conditional,
            Rule::RequiredFor(OrderType::StopLossLimit)
        )
    );
    let c = Conditional {
        order_type: OrderType::Market,
        limit_price: None,
        limit_price_type: None,
        trigger_price: None,
        trigger_price_type: None,
    };
    assert_eq!(
        refused(&limit().with_conditional(c)),
        (Field::Conditional, Rule::NotAllowedFor(OrderType::Market))
    );
    // Each close type with the prices it takes and no other; a trailing limit is an offset
    // (any sign), any other limit must be positive.
    let close = |t, limit_price, trigger_price| {
        limit().with_conditional(Conditional {
            order_type: t,
            limit_price,
            limit_price_type: None,
            trigger_price,
            trigger_price_type: None,
        })
    };
    let one = Some(dec!(1));
    for (t, l, tr) in [
        (OrderType::Limit, one, None),
        (OrderType::StopLoss, None, one),
        (OrderType::StopLossLimit, one, one),
        (OrderType::TrailingStopLimit, Some(dec!(-2)), one),
    ] {
        close(t, l, tr).validate(&btc(), NOW).unwrap();
    }
    for (t, l, tr, why) in [
        (
            OrderType::StopLoss,
            one,
            one,
            Rule::NotAllowedFor(OrderType::StopLoss),
        ),
        (
            OrderType::StopLoss,
            None,
            None,
            Rule::RequiredFor(OrderType::StopLoss),
        ),
        (
            OrderType::Limit,
            one,
            one,
            Rule::NotAllowedFor(OrderType::Limit),
        ),
        (
            OrderType::StopLossLimit,
            Some(dec!(0)),
            one,
            Rule::NotPositive,
        ),
    ] {
        assert_eq!(
            refused(&close(t, l, tr)),
            (Field::Conditional, why),
            "{t:?}"
        );
    }
}

#[test]
fn instrument_rules() {
    assert_eq!(
        refused(&AddOrder::limit(BTC, Side::Buy, dec!(0.00001), dec!(65000))),
        (Field::OrderQty, Rule::BelowMinimum(dec!(0.0001)))
    );
    assert_eq!(
        refused(&AddOrder::limit(
            BTC,
            Side::Buy,
            dec!(0.000100001),
            dec!(65000)
        )),
        (Field::OrderQty, Rule::NotMultipleOf(dec!(0.00000001)))
    );
    assert_eq!(
        refused(&AddOrder::limit(BTC, Side::Buy, dec!(0.01), dec!(65000.15))),
        (Field::LimitPrice, Rule::NotMultipleOf(dec!(0.1)))
    );
    assert_eq!(
        refused(&AddOrder::limit(BTC, Side::Buy, dec!(0.0001), dec!(1000))),
        (
            Field::OrderQty,
            Rule::CostBelowMinimum {
                cost: dec!(0.1),
                min: dec!(0.5)
            }
        )
    );
    assert_eq!(
        refused(&AddOrder::triggered(
            BTC,
            Side::Sell,
            OrderType::StopLoss,
            dec!(1),
            Triggers::at(dec!(50000.05))
        )),
        (Field::TriggerPrice, Rule::NotMultipleOf(dec!(0.1)))
    );
    let ins = |status| Instrument { status, ..btc() };
    for (status, order, ok) in [
        (PairStatus::CancelOnly, limit(), false),
        (PairStatus::Maintenance, limit(), false),
        (PairStatus::Delisted, limit(), false),
        (PairStatus::PostOnly, limit(), false),
        (PairStatus::PostOnly, limit().post_only(), true),
        (
            PairStatus::LimitOnly,
            AddOrder::market(BTC, Side::Buy, dec!(1)),
            false,
        ),
        (PairStatus::LimitOnly, limit(), true),
        (PairStatus::ReduceOnly, limit(), false),
        (PairStatus::ReduceOnly, limit().reduce_only(), true),
    ] {
        let r = order.validate(&ins(status), NOW);
        assert_eq!(r.is_ok(), ok, "{status:?}");
        if !ok {
            assert_eq!(r.unwrap_err().rule, Rule::PairStatus(status));
        }
    }
    let other = Instrument {
        symbol: SymbolId(1),
        ..btc()
    };
    assert_eq!(
        limit().validate(&other, NOW).unwrap_err().rule,
        Rule::UnknownInstrument
    );
    // Quote quantity skips the base minimum.
    assert!(matches!(
        AddOrder::market_buy_quote(BTC, dec!(0.01)).qty,
        Quantity::Quote(_)
    ));
    AddOrder::market_buy_quote(BTC, dec!(0.01))
        .validate(&btc(), NOW)
        .unwrap();
}

#[test]
fn amend_edit_cancel_rules() {
    let id = OrderId::new("OK4GJX-KSTLS-7DZZO5").unwrap();
    let a = AmendOrder::new(OrderRef::OrderId(id));
    assert_eq!(
        a.validate(None, NOW).unwrap_err().rule,
        Rule::NothingToChange
    );
    a.price(dec!(65000.1)).validate(Some(&btc()), NOW).unwrap();
    // One reference type for cancels and amends; a userref names many orders, an amend one.
    assert_eq!(
        AmendOrder::new(OrderRef::UserRef(7))
            .price(dec!(65000.1))
            .validate(Some(&btc()), NOW)
            .unwrap_err(),
        kraken_exec::OrderError {
            field: Field::OrderUserref,
            rule: Rule::NamesManyOrders
        }
    );
    assert_eq!(
        a.price(dec!(65000.11))
            .validate(Some(&btc()), NOW)
            .unwrap_err()
            .rule,
        Rule::NotMultipleOf(dec!(0.1))
    );
    assert_eq!(
        a.qty(dec!(-1)).validate(None, NOW).unwrap_err(),
        kraken_exec::OrderError {
            field: Field::OrderQty,
            rule: Rule::NotPositive
        }
    );
    let cancel_only = Instrument {
        status: PairStatus::CancelOnly,
        ..btc()
    };
    assert_eq!(
        a.qty(dec!(1))
            .validate(Some(&cancel_only), NOW)
            .unwrap_err()
            .rule,
        Rule::PairStatus(PairStatus::CancelOnly)
    );

    let e = EditOrder::new(id, BTC);
    assert_eq!(
        e.validate(None, NOW).unwrap_err().rule,
        Rule::NothingToChange
    );
    let mut e2 = e;
    e2.order_qty = Some(dec!(0.00001));
    assert_eq!(
        e2.validate(Some(&btc()), NOW).unwrap_err().rule,
        Rule::BelowMinimum(dec!(0.0001))
    );
    // The minimum itself is allowed.
    e2.order_qty = Some(dec!(0.0001));
    e2.validate(Some(&btc()), NOW).unwrap();
    // So is a cost of exactly the minimum (0.0001 x 5000.0 = 0.5).
    AddOrder::limit(BTC, Side::Buy, dec!(0.0001), dec!(5000.0))
        .validate(&btc(), NOW)
        .unwrap();

    assert_eq!(
        CancelOrder::default().validate().unwrap_err().rule,
        Rule::Count {
            min: 1,
            max: 16,
            got: 0
        }
    );
    let mut c = CancelOrder::one(OrderRef::OrderId(id));
    c.validate().unwrap();
    c.refs.push(OrderRef::OrderId(id));
    assert_eq!(c.validate().unwrap_err().rule, Rule::Duplicate);

    CancelAllAfter { timeout_secs: 60 }.validate().unwrap();
    CancelAllAfter { timeout_secs: 0 }.validate().unwrap();
    assert_eq!(
        CancelAllAfter {
            timeout_secs: 86_400
        }
        .validate()
        .unwrap_err()
        .rule,
        Rule::OutOfRange
    );
}

#[test]
fn batch_rules() {
    let mk = |n: usize| {
        let mut orders = ArrayVec::new();
        for i in 0..n {
            orders.push(
                AddOrder::limit(BTC, Side::Buy, dec!(0.01), dec!(60000) + Decimal::from(i))
                    .userref(i as i32),
            );
        }
        BatchAdd {
            symbol: BTC,
            orders,
            deadline: None,
            validate: false,
        }
    };
    assert_eq!(
        mk(1).validate(&btc(), NOW).unwrap_err().rule,
        Rule::Count {
            min: 2,
            max: 15,
            got: 1
        }
    );
    mk(2).validate(&btc(), NOW).unwrap();
    mk(15).validate(&btc(), NOW).unwrap();
    let mut b = mk(3);
    b.orders[1].symbol = SymbolId(1);
    assert_eq!(
        b.validate(&btc(), NOW).unwrap_err().rule,
        Rule::MixedSymbols
    );
    let mut b = mk(3);
    b.orders[2] = b.orders[2].deadline(Timestamp(NOW.0 + 5_000_000));
    assert_eq!(
        b.validate(&btc(), NOW).unwrap_err(),
        kraken_exec::OrderError {
            field: Field::Deadline,
            rule: Rule::BatchLevelOnly
        }
    );
    let mut b = mk(3);
    b.orders[0].limit_price = Some(dec!(60000.05));
    assert_eq!(
        b.validate(&btc(), NOW).unwrap_err().field,
        Field::LimitPrice
    );

    let mut bc = BatchCancel::default();
    bc.refs.push(OrderRef::UserRef(1));
    assert_eq!(
        bc.validate().unwrap_err().rule,
        Rule::Count {
            min: 2,
            max: 50,
            got: 1
        }
    );
    bc.refs.push(OrderRef::UserRef(2));
    bc.validate().unwrap();
    bc.refs.push(OrderRef::UserRef(2));
    assert_eq!(bc.validate().unwrap_err().rule, Rule::Duplicate);
}

#[test]
fn cl_ord_id_formats() {
    use kraken_exec::ids::ClOrdIdFormat::*;
    for (s, f) in [
        ("2c6be801-1f53-4f79-a0bb-4ea1c95dfae9", LongUuid),
        ("2c6be8011f534f79a0bb4ea1c95dfae9", ShortUuid),
        ("a", Text),
        ("exactly-18-chars!!", Text),
    ] {
        assert_eq!(ClOrdId::new(s).unwrap().format(), Some(f), "{s}");
    }
    for (s, e) in [
        ("", ClOrdIdError::Empty),
        ("nineteen-characters", ClOrdIdError::TooLong),
        (
            "2c6be801-1f53-4f79-a0bb-4ea1c95dfaeX",
            ClOrdIdError::BadUuid,
        ),
        ("2c6be8011f534f79a0bb4ea1c95dfaeZ", ClOrdIdError::TooLong),
        ("héllo", ClOrdIdError::NotAscii),
        ("tab\there", ClOrdIdError::ControlChar),
    ] {
        assert_eq!(ClOrdId::new(s), Err(e), "{s}");
    }
    assert_eq!(
        ClOrdId::with_counter("mm-bid-", 42).unwrap().as_str(),
        "mm-bid-42"
    );
    assert_eq!(
        ClOrdId::with_counter("a-long-prefix-", 123456),
        Err(ClOrdIdError::TooLong)
    );
    assert_eq!(std::mem::size_of::<ClOrdId>(), 37);
}

#[test]
fn the_dead_man_s_switch_takes_whole_seconds_under_a_day_or_none_to_disarm() {
    use std::time::Duration;
    let secs = |d| CancelAllAfter::of(d).map(|c| c.timeout_secs);
    assert_eq!(secs(None), Ok(0));
    assert_eq!(secs(Some(Duration::from_secs(60))), Ok(60));
    assert_eq!(secs(Some(Duration::from_secs(86_399))), Ok(86_399));
    for (bad, rule) in [
        (Duration::ZERO, Rule::OutOfRange),
        (Duration::from_millis(1_500), Rule::NotWholeSeconds),
        (Duration::from_secs(86_400), Rule::OutOfRange),
        (Duration::from_secs(u64::MAX), Rule::OutOfRange),
    ] {
        assert_eq!(
            secs(Some(bad)).unwrap_err(),
            kraken_exec::OrderError {
                field: Field::Timeout,
                rule
            },
            "{bad:?}"
        );
    }
}

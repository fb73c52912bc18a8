//! Unit tests of the exchange state machine.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::*;

const S: Ns = 1_000_000_000;
const T0: Ns = 1_764_000_000 * S;

fn ex() -> Exchange {
    let mut e = Exchange::new(
        default_pairs(),
        vec![Account::new("k", b"s", Tier::Starter)],
        7,
    );
    e.market_flow = false;
    e
}

fn limit(buy: bool, qty: &str, px: &str) -> NewOrder {
    NewOrder {
        symbol: "BTC/USD".into(),
        buy,
        order_type: "limit".into(),
        qty: Some(Decimal::from_str(qty).unwrap()),
        limit_price: Some(Decimal::from_str(px).unwrap()),
        tif: "gtc".into(),
        ..NewOrder::default()
    }
}

#[test]
fn the_rest_counter_refuses_past_the_tier_and_decays() {
    let mut e = ex();
    let limited = "EAPI:Rate limit exceeded".to_string();
    // Starter: 15 calls; order entry is not counted here.
    for _ in 0..15 {
        assert_eq!(e.charge_rest(0, "Balance", T0), Ok(()));
    }
    assert_eq!(e.charge_rest(0, "AddOrder", T0), Ok(()));
    assert_eq!(e.charge_rest(0, "Balance", T0), Err(limited.clone()));
    assert_eq!(e.rest_rate_limited, 1);
    // A refused call is not counted: one call of decay (1 / 0.33 s) makes room for one.
    assert_eq!(
        e.charge_rest(0, "Balance", T0 + 3 * S),
        Err(limited.clone())
    );
    assert_eq!(e.charge_rest(0, "Balance", T0 + 3_100_000_000), Ok(()));
    // History calls cost two.
    assert_eq!(
        e.charge_rest(0, "TradesHistory", T0 + 6_200_000_000),
        Err(limited.clone())
    );
    assert_eq!(
        e.charge_rest(0, "TradesHistory", T0 + 9_200_000_000),
        Ok(())
    );
    assert!(e.rest_counter_level(0, T0 + 9_200_000_000) > 14.9);
    // Another client on the key spends it; the counter decays to zero in time.
    e.spend_rest_counter(0, T0 + 10 * S);
    assert_eq!(e.rest_counter_level(0, T0 + 10 * S), 15.0);
    assert_eq!(e.rest_counter_level(0, T0 + 60 * S), 0.0);
    // Off, or an unlimited account: never refused.
    e.rest_counter = false;
    e.spend_rest_counter(0, T0 + 70 * S);
    assert_eq!(e.charge_rest(0, "Balance", T0 + 70 * S), Ok(()));
    let mut u = Exchange::new(
        default_pairs(),
        vec![Account::new("k", b"s", Tier::Unlimited)],
        7,
    );
    for _ in 0..1000 {
        assert_eq!(u.charge_rest(0, "Ledgers", T0), Ok(()));
    }
}

/// What open orders hold, and how many rest, are running sums: after every kind of change
/// they equal a count over the orders themselves.
#[test]
fn what_open_orders_hold_is_kept_as_they_change() {
    let mut e = ex();
    let check = |e: &Exchange, step: &str| {
        for asset in ["USD", "BTC"] {
            let scan: Decimal = e
                .orders
                .iter()
                .filter(|o| o.is_open())
                .map(|o| {
                    let px = o.limit_price.unwrap_or(e.pairs[o.pair].ref_price);
                    match (o.buy, asset) {
                        (true, "USD") => px * o.remaining(),
                        (false, "BTC") => o.remaining(),
                        _ => Decimal::ZERO,
                    }
                })
                .sum();
            assert_eq!(e.reserved(0, asset), scan, "{asset} after {step}");
        }
        let open = e.orders.iter().filter(|o| o.is_open()).count();
        assert_eq!(e.open_count(0, 0), open, "count after {step}");
    };
    let buy = e.add_order(0, &limit(true, "1", "64000"), T0).unwrap();
    let buy = buy["order_id"].as_str().unwrap().to_string();
    e.add_order(0, &limit(false, "2", "66000"), T0).unwrap();
    check(&e, "placing");
    e.counterparty(0, false, Decimal::new(25, 2), T0);
    check(&e, "a partial fill");
    let mut amend = Map::new();
    amend.insert("order_id".into(), json!(buy));
    amend.insert("order_qty".into(), json!(0.8));
    amend.insert("limit_price".into(), json!(63000.0));
    e.amend_order(0, &amend, T0 + 20 * S).unwrap();
    check(&e, "an amend");
    let mut edit = Map::new();
    edit.insert("order_id".into(), json!(buy));
    edit.insert("limit_price".into(), json!(62000.0));
    let edited = e.edit_order(0, &edit, T0 + 200 * S).unwrap();
    check(&e, "an edit");
    let mut stop = limit(false, "0.5", "1");
    stop.order_type = "stop-loss".into();
    stop.limit_price = None;
    stop.trigger_price = Some(Decimal::from(64500));
    e.add_order(0, &stop, T0 + 200 * S).unwrap();
    check(&e, "a stop waiting");
    e.set_reference_price(0, Decimal::from(64400), T0 + 201 * S);
    check(&e, "the stop triggered and the price moved");
    // A trailing stop-limit's limit is set when it triggers (an offset until then).
    let mut trail = limit(true, "0.1", "-500");
    trail.order_type = "trailing-stop-limit".into();
    trail.trigger_price = Some(Decimal::from(100));
    e.add_order(0, &trail, T0 + 202 * S).unwrap();
    check(&e, "a trailing stop-limit waiting");
    e.set_reference_price(0, Decimal::from(64600), T0 + 203 * S);
    assert!(e.orders.iter().any(|o| o.triggered && o.is_open()));
    check(&e, "the trailing stop-limit triggered and rests");
    let new = edited["order_id"].as_str().unwrap().to_string();
    assert!(e.cancel_orders(0, &[new], &[], &[], T0 + 300 * S)[0].is_ok());
    check(&e, "a cancel");
}

#[test]
fn resting_order_fills_partially_then_fully() {
    let mut e = ex();
    let r = e.add_order(0, &limit(true, "1", "64000"), T0).unwrap();
    let id = r["order_id"].as_str().unwrap().to_string();
    assert_eq!(e.orders[0].status, "new");
    e.counterparty(0, false, Decimal::new(25, 2), T0);
    assert_eq!(
        (e.orders[0].status, e.orders[0].filled),
        ("partially_filled", Decimal::new(25, 2))
    );
    e.set_reference_price(0, Decimal::from(63990), T0);
    assert_eq!(e.orders[0].status, "filled");
    assert_eq!(e.fills.len(), 2);
    assert!(
        e.fills
            .iter()
            .all(|f| f.order_id == id && f.maker && f.price == Decimal::from(64000))
    );
}

#[test]
fn marketable_orders_take_and_post_only_refuses() {
    let mut e = ex();
    e.add_order(0, &limit(true, "0.5", "70000"), T0).unwrap();
    assert_eq!(e.orders[0].status, "filled");
    assert_eq!(e.fills[0].price, Decimal::from_str("65000.1").unwrap());
    assert!(!e.fills[0].maker);
    let mut p = limit(true, "0.5", "70000");
    p.post_only = true;
    assert_eq!(
        e.add_order(0, &p, T0).unwrap_err(),
        "EOrder:Post only order"
    );
    let mut ioc = limit(true, "0.5", "60000");
    ioc.tif = "ioc".into();
    e.add_order(0, &ioc, T0).unwrap();
    assert_eq!(e.orders.last().unwrap().status, "canceled");
}

#[test]
fn instrument_rules_and_funds() {
    let mut e = ex();
    assert_eq!(
        e.add_order(0, &limit(true, "0.00001", "64000"), T0)
            .unwrap_err(),
        "EOrder:Order minimum not met"
    );
    assert_eq!(
        e.add_order(0, &limit(true, "1", "64000.05"), T0)
            .unwrap_err(),
        "EOrder:Tick size check failed"
    );
    assert_eq!(
        e.add_order(0, &limit(true, "0.0001", "1000"), T0)
            .unwrap_err(),
        "EOrder:Cost minimum not met"
    );
    assert_eq!(
        e.add_order(0, &limit(true, "1000", "64000"), T0)
            .unwrap_err(),
        "EOrder:Insufficient funds"
    );
    assert_eq!(
        e.add_order(0, &limit(false, "101", "66000"), T0)
            .unwrap_err(),
        "EOrder:Insufficient funds"
    );
}

#[test]
fn rate_counter_follows_the_model() {
    let mut e = ex();
    for i in 0..59 {
        e.add_order(0, &limit(true, "0.001", "60000"), T0)
            .unwrap_or_else(|err| panic!("{i} {err}"));
    }
    assert_eq!(
        e.add_order(0, &limit(true, "0.001", "60000"), T0)
            .unwrap_err(),
        "EOrder:Rate limit exceeded"
    );
    // Starter decays 1/s.
    assert!((e.rate_counter(0, 0, T0 + 10 * S) - 50.0).abs() < 1e-6);
    e.add_order(0, &limit(true, "0.001", "60000"), T0 + 10 * S)
        .unwrap();
    // A cancel of a fresh order costs 8.
    let before = e.rate_counter(0, 0, T0 + 10 * S);
    let id = e.orders.last().unwrap().id.clone();
    e.cancel_orders(0, &[id], &[], &[], T0 + 10 * S);
    assert!((e.rate_counter(0, 0, T0 + 10 * S) - before - 8.0).abs() < 1e-6);
}

#[test]
fn dead_mans_switch_and_expiry() {
    let mut e = ex();
    e.add_order(0, &limit(true, "0.1", "60000"), T0).unwrap();
    e.cancel_after(0, 60, T0).unwrap();
    e.tick(T0 + 59 * S, false);
    assert_eq!(e.orders[0].status, "new");
    e.tick(T0 + 60 * S, false);
    assert_eq!(e.orders[0].status, "canceled");
    let mut g = limit(true, "0.1", "60000");
    g.tif = "gtd".into();
    g.expire_ns = Some(T0 + 100 * S);
    e.add_order(0, &g, T0 + 61 * S).unwrap();
    e.tick(T0 + 100 * S, false);
    assert_eq!(e.orders[1].status, "expired");
}

/// Reports carry their `reason` as Kraken's do: an amend in `reason` alone, with the key set
/// of Kraken's documented amend report; a cancel in `reason` and the deprecated
/// `cancel_reason`; a fill in neither, even after an amend.
#[test]
fn reports_give_their_reason_as_kraken_does() {
    let mut e = ex();
    let t = e.issue_token(0, T0);
    e.subscribe_private(1, "executions", Some(&t), &Map::new(), T0)
        .unwrap();
    let id = e.add_order(0, &limit(true, "1", "64000"), T0).unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut amend = Map::new();
    amend.insert("order_id".into(), json!(id));
    amend.insert("limit_price".into(), json!(64100.0));
    e.amend_order(0, &amend, T0 + S).unwrap();
    e.counterparty(0, false, Decimal::ONE, T0 + 2 * S);
    let other = e
        .add_order(0, &limit(true, "1", "60000"), T0 + 3 * S)
        .unwrap();
    let other = other["order_id"].as_str().unwrap().to_string();
    assert!(e.cancel_orders(0, &[other], &[], &[], T0 + 4 * S)[0].is_ok());
    let mut frames = Vec::new();
    e.take_outbox(1, &mut frames);
    let reports: Vec<Value> = frames
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter(|v| v["type"] == "update")
        .flat_map(|v| v["data"].as_array().cloned().unwrap_or_default())
        .collect();
    let by = |t: &str| {
        reports
            .iter()
            .find(|r| r["exec_type"] == t)
            .cloned()
            .unwrap()
    };
    let amended = by("amended");
    let mut keys: Vec<&str> = amended
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "amended",
            "cum_qty",
            "exec_type",
            "limit_price",
            "limit_price_type",
            "order_id",
            "order_qty",
            "order_status",
            "order_userref",
            "reason",
            "timestamp"
        ]
    );
    assert_eq!(amended["reason"], "User requested");
    let canceled = by("canceled");
    assert_eq!(
        (&canceled["reason"], &canceled["cancel_reason"]),
        (&json!("User requested"), &json!("User requested"))
    );
    for t in ["trade", "filled"] {
        assert!(by(t).get("reason").is_none(), "{t} carries no reason");
    }
}

#[test]
fn tokens_expire_unless_held() {
    let mut e = ex();
    let t = e.issue_token(0, T0);
    assert_eq!(e.check_token(Some(&t), T0 + 899 * S), Ok(0));
    assert!(e.check_token(Some(&t), T0 + 900 * S).is_err());
    let t2 = e.issue_token(0, T0);
    e.subscribe_private(1, "executions", Some(&t2), &Map::new(), T0)
        .unwrap();
    assert_eq!(e.check_token(Some(&t2), T0 + 3600 * S), Ok(0));
    e.disconnect(1);
    assert!(e.check_token(Some(&t2), T0 + 3600 * S).is_err());
}

#[test]
fn numbers_must_be_numbers() {
    let p: Map<String, Value> =
        serde_json::from_str(r#"{"limit_price":"1.5","cash_order_qty":"2"}"#).unwrap();
    assert_eq!(
        dec_param(&p, "limit_price").unwrap_err(),
        "Limit_price field must be a number_float"
    );
    assert_eq!(
        dec_param(&p, "cash_order_qty").unwrap_err(),
        "Cash_order_qty field must be a number_float"
    );
    let p: Map<String, Value> =
        serde_json::from_str(r#"{"order_qty":100,"limit_price":26500.40}"#).unwrap();
    assert_eq!(
        dec_param(&p, "order_qty").unwrap(),
        Some(Decimal::from(100))
    );
    assert_eq!(
        dec_param(&p, "limit_price").unwrap(),
        Some(Decimal::from_str("26500.4").unwrap())
    );
}

#[test]
fn trailing_stop_follows_the_peak() {
    let mut e = ex();
    let n = NewOrder {
        symbol: "BTC/USD".into(),
        buy: false,
        order_type: "trailing-stop".into(),
        qty: Some(Decimal::from_str("0.1").unwrap()),
        trigger_price: Some(Decimal::from(100)),
        tif: "gtc".into(),
        ..NewOrder::default()
    };
    e.add_order(0, &n, T0).unwrap();
    e.set_reference_price(0, Decimal::from(65500), T0);
    e.set_reference_price(0, Decimal::from(65450), T0);
    assert_eq!(
        e.orders[0].status, "new",
        "50 below the 65500 peak: not yet"
    );
    e.set_reference_price(0, Decimal::from(65400), T0);
    assert_eq!(
        e.orders[0].status, "filled",
        "100 below the peak: triggered, sold at market"
    );
    assert_eq!(e.fills[0].price, Decimal::from_str("65399.9").unwrap());
}

#[test]
fn pct_stop_is_relative_to_the_price_at_placement() {
    let mut e = ex();
    let n = NewOrder {
        symbol: "BTC/USD".into(),
        buy: false,
        order_type: "stop-loss".into(),
        qty: Some(Decimal::from_str("0.1").unwrap()),
        trigger_price: Some(Decimal::from(-2)),
        trigger_pct: true,
        tif: "gtc".into(),
        ..NewOrder::default()
    };
    e.add_order(0, &n, T0).unwrap();
    e.set_reference_price(0, Decimal::from(63800), T0);
    assert_eq!(e.orders[0].status, "new");
    e.set_reference_price(0, Decimal::from(63700), T0);
    assert_eq!(e.orders[0].status, "filled", "2% below 65000 is 63700");
}

#[test]
fn iceberg_shows_only_its_display_quantity() {
    let mut e = ex();
    let n = NewOrder {
        symbol: "BTC/USD".into(),
        buy: true,
        order_type: "iceberg".into(),
        qty: Some(Decimal::from(1)),
        limit_price: Some(Decimal::from(64000)),
        display_qty: Some(Decimal::from_str("0.1").unwrap()),
        tif: "gtc".into(),
        ..NewOrder::default()
    };
    e.add_order(0, &n, T0).unwrap();
    e.counterparty(0, false, Decimal::ONE, T0);
    assert_eq!(
        e.orders[0].filled,
        Decimal::from_str("0.1").unwrap(),
        "one visible slice"
    );
    e.counterparty(0, false, Decimal::ONE, T0);
    assert_eq!(
        e.orders[0].filled,
        Decimal::from_str("0.2").unwrap(),
        "refilled"
    );
}

#[test]
fn time_formats() {
    assert_eq!(
        rfc3339(1_695_378_785_709_950_000),
        "2023-09-22T10:33:05.709950Z"
    );
    assert_eq!(
        parse_rfc3339("2023-09-22T10:33:05.709950Z"),
        Some(1_695_378_785_709_950_000)
    );
}

//! REST bodies, signing and envelopes.

use arrayvec::ArrayVec;
use kraken_exec::protocol::rest::{self, ApiSecret, RestError, RestOrderStatus};
use kraken_exec::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, ClOrdId, EditOrder, KrakenErrorKind, OrderId,
    OrderRef, OrderType, PriceType, Side, SymbolId, TimeInForce, Triggers,
};
use rust_decimal_macros::dec;

const SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";

fn s(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn add_order_body_signs_like_the_published_vector() {
    let o = AddOrder::limit(SymbolId(0), Side::Buy, dec!(1.25), dec!(37500));
    let mut b = Vec::new();
    rest::add_order_form(&mut b, 1616492376594, &o, "XBTUSD");
    assert_eq!(
        s(&b),
        "nonce=1616492376594&ordertype=limit&type=buy&volume=1.25&price=37500&pair=XBTUSD"
    );
    // Same parameters in the guide's order give the guide's signature.
    let guide = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
    let secret = ApiSecret::from_base64(SECRET).unwrap();
    assert_eq!(
        rest::sign("/0/private/AddOrder", 1616492376594, guide, &secret),
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    );
}

#[test]
fn add_order_bodies_map_v2_fields_to_rest() {
    let mut b = Vec::new();
    let o = AddOrder::triggered_limit(
        SymbolId(0),
        Side::Sell,
        OrderType::StopLossLimit,
        dec!(2),
        Triggers::at(dec!(30000)).on_index(),
        dec!(29900),
    )
    .cl_ord_id(ClOrdId::new("sl-1").unwrap())
    .time_in_force(TimeInForce::Ioc);
    rest::add_order_form(&mut b, 1, &o, "XBTUSD");
    assert_eq!(
        s(&b),
        "nonce=1&ordertype=stop-loss-limit&type=sell&volume=2&price=30000&price2=29900&trigger=index&timeinforce=IOC&cl_ord_id=sl-1&pair=XBTUSD"
    );
    let t = AddOrder::triggered(
        SymbolId(0),
        Side::Sell,
        OrderType::TrailingStop,
        dec!(1),
        Triggers::offset(dec!(1.5), PriceType::Pct),
    );
    rest::add_order_form(&mut b, 2, &t, "XBTUSD");
    assert!(s(&b).contains("&price=1.5%25&"), "{}", s(&b));
    let q = AddOrder::market_buy_quote(SymbolId(0), dec!(100)).userref(-5);
    rest::add_order_form(&mut b, 3, &q, "XBTUSD");
    assert_eq!(
        s(&b),
        "nonce=3&ordertype=market&type=buy&volume=100&oflags=viqc&userref=-5&pair=XBTUSD"
    );
    let p = AddOrder::limit(SymbolId(0), Side::Buy, dec!(1), dec!(2))
        .post_only()
        .stp(kraken_exec::StpType::CancelOldest);
    rest::add_order_form(&mut b, 4, &p, "XBTUSD");
    assert_eq!(
        s(&b),
        "nonce=4&ordertype=limit&type=buy&volume=1&price=2&oflags=post&stptype=cancel-oldest&pair=XBTUSD"
    );
}

#[test]
fn other_bodies() {
    let mut b = Vec::new();
    let id = OrderId::new("OK4GJX-KSTLS-7DZZO5").unwrap();
    rest::amend_order_form(
        &mut b,
        5,
        &AmendOrder::new(OrderRef::OrderId(id))
            .price(dec!(101.5))
            .qty(dec!(2)),
    );
    assert_eq!(
        s(&b),
        "nonce=5&txid=OK4GJX-KSTLS-7DZZO5&order_qty=2&limit_price=101.5"
    );
    let mut e = EditOrder::new(id, SymbolId(0));
    e.order_qty = Some(dec!(3));
    e.post_only = Some(true);
    rest::edit_order_form(&mut b, 6, &e, "XBTUSD");
    assert_eq!(
        s(&b),
        "nonce=6&txid=OK4GJX-KSTLS-7DZZO5&pair=XBTUSD&volume=3&oflags=post"
    );
    rest::cancel_order_form(&mut b, 7, &OrderRef::ClOrdId(ClOrdId::new("a b").unwrap()));
    assert_eq!(s(&b), "nonce=7&cl_ord_id=a%20b");
    rest::cancel_all_after_form(&mut b, 8, 60);
    assert_eq!(s(&b), "nonce=8&timeout=60");
    rest::nonce_form(&mut b, 9);
    assert_eq!(s(&b), "nonce=9");
    rest::query_orders_form(&mut b, 10, &["A", "B"]);
    assert_eq!(s(&b), "nonce=10&trades=true&txid=A%2CB");
    rest::open_orders_form(&mut b, 11, Some("c1"));
    assert_eq!(s(&b), "nonce=11&trades=true&cl_ord_id=c1");

    let mut orders = ArrayVec::new();
    orders.push(AddOrder::limit(SymbolId(0), Side::Buy, dec!(1), dec!(2)));
    orders.push(AddOrder::limit(SymbolId(0), Side::Sell, dec!(1), dec!(3)).userref(4));
    rest::add_order_batch_json(
        &mut b,
        12,
        &BatchAdd {
            symbol: SymbolId(0),
            orders,
            deadline: None,
            validate: true,
        },
        "XBTUSD",
    );
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["nonce"], "12");
    assert_eq!(v["pair"], "XBTUSD");
    assert_eq!(v["validate"], true);
    assert_eq!(v["orders"][1]["price"], "3");
    assert_eq!(v["orders"][1]["userref"], "4");
    let mut bc = BatchCancel::default();
    bc.refs.push(OrderRef::OrderId(id));
    bc.refs.push(OrderRef::UserRef(7));
    bc.refs.push(OrderRef::ClOrdId(ClOrdId::new("c9").unwrap()));
    rest::cancel_order_batch_json(&mut b, 13, &bc);
    assert_eq!(
        s(&b),
        r#"{"nonce":"13","orders":["OK4GJX-KSTLS-7DZZO5","7"],"cl_ord_ids":["c9"]}"#
    );
}

#[test]
fn envelopes() {
    let tok = rest::parse_token(&mut br#"{"error":[],"result":{"token":"nmc39wCfFqn0mirRrpHMFOu0xfq4VVghFy+UPzpVcJo","expires":900}}"#.to_vec()).unwrap();
    assert_eq!(
        (tok.token.as_str(), tok.expires_secs),
        ("nmc39wCfFqn0mirRrpHMFOu0xfq4VVghFy+UPzpVcJo", 900)
    );
    let ids = rest::parse_add_order(&mut br#"{"error":[],"result":{"descr":{"order":"buy 1.25000000 XBTUSD @ limit 37500.0"},"txid":["OUF4EM-FRGI2-MQMWZD"]}}"#.to_vec()).unwrap();
    assert_eq!(ids, vec!["OUF4EM-FRGI2-MQMWZD"]);
    let err = rest::parse_add_order(&mut br#"{"error":["EOrder:Insufficient funds"]}"#.to_vec())
        .unwrap_err();
    assert_eq!(err.kind(), Some(KrakenErrorKind::InsufficientFunds));
    assert_eq!(
        err,
        RestError::Kraken(vec!["EOrder:Insufficient funds".into()])
    );
    assert_eq!(
        rest::parse_count(&mut br#"{"error":[],"result":{"count":4}}"#.to_vec()).unwrap(),
        4
    );
    assert_eq!(
        rest::parse_amend(
            &mut br#"{"error":[],"result":{"amend_id":"TVB4ER-X5QP3-ADURMW"}}"#.to_vec()
        )
        .unwrap(),
        "TVB4ER-X5QP3-ADURMW"
    );
    assert_eq!(
        rest::parse_edit(&mut br#"{"error":[],"result":{"status":"ok","txid":"NEW","originaltxid":"OLD","volume":"1","price":"2","orders_cancelled":1,"descr":{"order":"x"}}}"#.to_vec()).unwrap(),
        ("NEW".to_string(), "OLD".to_string())
    );
    let (now, trig) = rest::parse_cancel_after(&mut br#"{"error":[],"result":{"currentTime":"2023-03-24T17:41:56Z","triggerTime":"2023-03-24T17:42:56Z"}}"#.to_vec()).unwrap();
    assert_eq!(trig.unwrap().secs() - now.unwrap().secs(), 60);
    let batch = rest::parse_add_order_batch(&mut br#"{"error":[],"result":{"orders":[{"txid":"A","descr":{"order":"x"}},{"error":"EOrder:Invalid price"}]}}"#.to_vec()).unwrap();
    assert_eq!(
        batch,
        vec![Ok("A".to_string()), Err("EOrder:Invalid price".to_string())]
    );
    assert_eq!(
        rest::parse_count(&mut b"<html>".to_vec()).unwrap_err(),
        RestError::Malformed("not JSON")
    );
    assert_eq!(
        rest::parse_count(&mut br#"{"result":{}}"#.to_vec()).unwrap_err(),
        RestError::Malformed("no error field")
    );
}

#[test]
fn open_and_query_orders() {
    let open = br#"{"error":[],"result":{"open":{"OQCLML-BW3P3-BUCMWZ":{"refid":null,"userref":0,"cl_ord_id":"c1","status":"open","opentm":1688666559.8974,"starttm":0,"expiretm":0,"descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"30010.0","price2":"0","leverage":"none","order":"buy 1.25 XBTUSD @ limit 30010.0","close":""},"vol":"1.25000000","vol_exec":"0.37500000","cost":"11253.7","fee":"0.00000","price":"30010.0","stopprice":"0.00000","limitprice":"0.00000","misc":"","oflags":"fciq","trades":["TCCCTY-WE2O6-P3NB37"]}}}}"#;
    let o = rest::parse_orders(&mut open.to_vec()).unwrap();
    assert_eq!(o.len(), 1);
    let o = &o[0];
    assert_eq!(o.txid, "OQCLML-BW3P3-BUCMWZ");
    assert_eq!(o.status, RestOrderStatus::Open);
    assert_eq!(o.cl_ord_id.as_deref(), Some("c1"));
    assert_eq!(
        (o.vol, o.vol_exec, o.limit_price),
        (dec!(1.25000000), dec!(0.37500000), dec!(30010.0))
    );
    assert_eq!(o.vol_exec.to_string(), "0.37500000");
    assert_eq!(
        (o.side, o.order_type),
        (Some(Side::Buy), Some(OrderType::Limit))
    );
    assert_eq!(o.trades, vec!["TCCCTY-WE2O6-P3NB37"]);
    let q = br#"{"error":[],"result":{"OB":{"status":"canceled","userref":5,"descr":{"pair":"XBTUSD","type":"sell","ordertype":"market","price":"0"},"vol":"1","vol_exec":"0","cost":"0","fee":"0","price":"0"},"OA":{"status":"closed","descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"2"},"vol":"1","vol_exec":"1","cost":"2","fee":"0.01","price":"2"}}}"#;
    let q = rest::parse_orders(&mut q.to_vec()).unwrap();
    assert_eq!(
        q.iter()
            .map(|o| (o.txid.as_str(), o.status))
            .collect::<Vec<_>>(),
        vec![
            ("OA", RestOrderStatus::Closed),
            ("OB", RestOrderStatus::Canceled)
        ]
    );
    assert_eq!(q[1].userref, 5);
    assert!(
        rest::parse_orders(&mut br#"{"error":[],"result":{"X":{"status":"weird"}}}"#.to_vec())
            .is_err()
    );
}

#[test]
fn closed_orders_and_trades_history() {
    let closed = br#"{"error":[],"result":{"closed":{"OA":{"status":"closed","cl_ord_id":"c9","descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"2"},"vol":"1","vol_exec":"1","cost":"2","fee":"0.01","price":"2"}},"count":1}}"#;
    let c = rest::parse_orders(&mut closed.to_vec()).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].txid.as_str(), c[0].status, c[0].cl_ord_id.as_deref()),
        ("OA", RestOrderStatus::Closed, Some("c9"))
    );
    // Kraken's documented shape: numbers as strings, time as float seconds.
    let th = br#"{"error":[],"result":{"trades":{"THVRQM-33VKH-UCI7BS":{"ordertxid":"OQCLML-BW3P3-BUCMWZ","postxid":"TKH2SE-M7IF5-CFI7LT","pair":"XXBTZUSD","time":1688667796.8802,"type":"buy","ordertype":"limit","price":"30010.00000","cost":"600.20000","fee":"0.00000","vol":"0.02000000","margin":"0.00000","misc":"","trade_id":93748276,"maker":true},"TCWJEG-FL4SZ-3FKGH6":{"ordertxid":"OQCLML-BW3P3-BUCMWZ","postxid":"TKH2SE-M7IF5-CFI7LT","pair":"XXBTZUSD","time":1688667769.6396,"type":"buy","ordertype":"limit","price":"30010.00000","cost":"300.10000","fee":"0.00000","vol":"0.01000000","margin":"0.00000","misc":""}},"count":2346}}"#;
    let (t, count) = rest::parse_trades_history(&mut th.to_vec()).unwrap();
    assert_eq!(count, 2346);
    assert_eq!(
        t.iter().map(|t| t.txid.as_str()).collect::<Vec<_>>(),
        ["THVRQM-33VKH-UCI7BS", "TCWJEG-FL4SZ-3FKGH6"],
        "newest first"
    );
    assert_eq!(t[0].order_txid, "OQCLML-BW3P3-BUCMWZ");
    assert_eq!(
        (t[0].vol, t[0].price),
        (dec!(0.02000000), dec!(30010.00000))
    );
    assert_eq!(t[0].vol.to_string(), "0.02000000", "scale kept");
    assert_eq!(t[0].time.0, 1_688_667_796_880_200);
    assert_eq!(
        (t[0].side, t[0].maker, t[0].trade_id),
        (Some(Side::Buy), Some(true), Some(93748276))
    );
    assert_eq!((t[1].maker, t[1].trade_id), (None, None));
    assert!(
        rest::parse_trades_history(&mut br#"{"error":[],"result":{"count":0}}"#.to_vec()).is_err()
    );
    assert!(
        rest::parse_trades_history(
            &mut br#"{"error":[],"result":{"trades":{"T":{"pair":"X","time":1.0}},"count":1}}"#
                .to_vec()
        )
        .is_err(),
        "a trade without its order is refused"
    );
    let mut body = Vec::new();
    rest::trades_history_form(
        &mut body,
        7,
        kraken_exec::time::Timestamp(1_688_667_769_639_600),
        Some(kraken_exec::time::Timestamp(1_688_667_800_000_001)),
        50,
    );
    assert_eq!(
        s(&body),
        "nonce=7&start=1688667769&end=1688667801&ofs=50&consolidate_taker=false"
    );
    rest::closed_orders_since_form(
        &mut body,
        8,
        kraken_exec::time::Timestamp(1_000_000_500_000),
        None,
        0,
        None,
    );
    assert_eq!(s(&body), "nonce=8&start=1000000&ofs=0&closetime=open");
    rest::closed_orders_since_form(
        &mut body,
        9,
        kraken_exec::time::Timestamp(1_000_000_500_000),
        Some(kraken_exec::time::Timestamp(1_000_060_000_001)),
        0,
        Some("c9"),
    );
    assert_eq!(
        s(&body),
        "nonce=9&start=1000000&end=1000061&ofs=0&closetime=open&cl_ord_id=c9"
    );
    // As Kraken answers: keys, altnames and wsnames all differ from the v2 symbol's text.
    let mut pairs = br#"{"error":[],"result":{"XXBTZUSD":{"altname":"XBTUSD","wsname":"XBT/USD","base":"XXBT","quote":"ZUSD"},"XDGUSD":{"altname":"XDGUSD","wsname":"XDG/USD","base":"XXDG","quote":"ZUSD"},"SOLUSD":{"altname":"SOLUSD","base":"SOL","quote":"ZUSD"},"XETHXXBT":{"altname":"ETHXBT","wsname":"ETH/XBT","base":"XETH","quote":"XXBT"}}}"#.to_vec();
    let pairs = rest::parse_asset_pairs(&mut pairs).unwrap();
    let key =
        |sym: &str| rest::rest_pair_for(sym, &pairs).map(|p| (p.key.as_str(), p.altname.as_str()));
    assert_eq!(key("BTC/USD"), Some(("XXBTZUSD", "XBTUSD")));
    assert_eq!(key("DOGE/USD"), Some(("XDGUSD", "XDGUSD")));
    assert_eq!(key("ETH/BTC"), Some(("XETHXXBT", "ETHXBT")));
    // No wsname: base and quote decide.
    assert_eq!(key("SOL/USD"), Some(("SOLUSD", "SOLUSD")));
    assert_eq!(key("ADA/USD"), None, "an unlisted pair is not guessed");
    assert_eq!(
        key("BTCUSD"),
        None,
        "a symbol without a slash is not a v2 symbol"
    );
    let page = br#"{"error":[],"result":{"closed":{"OA":{"status":"canceled","descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"2"},"vol":"1","vol_exec":"0","cost":"0","fee":"0","price":"0"}},"count":51}}"#;
    let (o, count) = rest::parse_orders_page(&mut page.to_vec()).unwrap();
    assert_eq!(
        (o.len(), o[0].status, count),
        (1, RestOrderStatus::Canceled, 51)
    );
}

proptest::proptest! {
    /// The REST parsers take whatever a server (or a proxy) sends: arbitrary bytes and
    /// mutations of real responses give a typed error or a value, never a panic.
    #[test]
    fn rest_parsers_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        idx in proptest::prelude::any::<proptest::sample::Index>(),
        b in proptest::prelude::any::<u8>(),
        cut in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let real = br#"{"error":[],"result":{"trades":{"THVRQM-33VKH-UCI7BS":{"ordertxid":"OQCLML-BW3P3-BUCMWZ","pair":"XXBTZUSD","time":1688667796.8802,"type":"buy","price":"30010.00000","cost":"600.20000","fee":"0.00000","vol":"0.02000000"}},"count":1,"closed":{"OA":{"status":"closed","descr":{"pair":"XBTUSD","type":"buy","price":"2"},"vol":"1","vol_exec":"1"}},"XXBTZUSD":{"altname":"XBTUSD"}}}"#;
        let mut m = real.to_vec();
        let i = idx.index(m.len());
        m[i] = b;
        m.truncate(cut.index(m.len() + 1));
        for input in [&bytes, &m] {
            let _ = rest::parse_trades_history(&mut input.clone());
            let _ = rest::parse_orders_page(&mut input.clone());
            let _ = rest::parse_orders(&mut input.clone());
            let _ = rest::parse_asset_pairs(&mut input.clone());
            let _ = rest::parse_token(&mut input.clone());
            let _ = rest::parse_add_order(&mut input.clone());
        }
    }
}

/// Only Kraken's own error answer is a rejection: a transport failure, a body that is not a
/// Kraken envelope, or a call our counter held back says nothing of whether the call ran
/// (a held call never left, and the caller retries it; it is not refused by the exchange).
#[test]
fn only_kraken_s_own_answer_is_an_exchange_error() {
    assert!(RestError::Kraken(vec!["EOrder:Insufficient funds".into()]).is_exchange_error());
    for e in [
        RestError::Transport("timed out".into()),
        RestError::Malformed("html page"),
        RestError::Throttled { wait_ms: 10 },
        RestError::BadSecret,
    ] {
        assert!(!e.is_exchange_error(), "{e:?}");
    }
}

/// REST writes a relative price with its sign and a percentage with `%`: a trailing offset
/// (even one given as static, which only a close template can carry) as `+X`, a quote offset
/// as `+X` or `-X`.
#[test]
fn relative_prices_are_written_with_their_sign() {
    let mut b = Vec::new();
    let below = AddOrder::triggered(
        SymbolId(0),
        Side::Sell,
        OrderType::StopLoss,
        dec!(1),
        Triggers::offset(dec!(-100), PriceType::Quote),
    );
    rest::add_order_form(&mut b, 1, &below, "XBTUSD");
    assert!(s(&b).contains("&price=-100&"), "{}", s(&b));
    let above = AddOrder::triggered(
        SymbolId(0),
        Side::Buy,
        OrderType::StopLoss,
        dec!(1),
        Triggers::offset(dec!(100), PriceType::Quote),
    );
    rest::add_order_form(&mut b, 2, &above, "XBTUSD");
    assert!(s(&b).contains("&price=%2B100&"), "{}", s(&b));
    let close = AddOrder::limit(SymbolId(0), Side::Buy, dec!(1), dec!(30000)).with_conditional(
        kraken_exec::Conditional {
            order_type: OrderType::TrailingStop,
            limit_price: None,
            limit_price_type: None,
            trigger_price: Some(dec!(50)),
            trigger_price_type: None,
        },
    );
    rest::add_order_form(&mut b, 3, &close, "XBTUSD");
    assert!(
        s(&b).contains("&close%5Bordertype%5D=trailing-stop&close%5Bprice%5D=%2B50&"),
        "{}",
        s(&b)
    );
}

/// Every status `QueryOrders` may report, and the open time to the microsecond.
#[test]
fn every_order_status_and_the_open_time() {
    let body = br#"{"error":[],"result":{"OP":{"status":"pending","opentm":1688666559.897412,"descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"2"},"vol":"1","vol_exec":"0","cost":"0","fee":"0","price":"0"},"OX":{"status":"expired","descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"2"},"vol":"1","vol_exec":"0","cost":"0","fee":"0","price":"0"}}}"#;
    let o = rest::parse_orders(&mut body.to_vec()).unwrap();
    assert_eq!(
        o.iter()
            .map(|o| (o.txid.as_str(), o.status))
            .collect::<Vec<_>>(),
        vec![
            ("OP", RestOrderStatus::Pending),
            ("OX", RestOrderStatus::Expired)
        ]
    );
    assert_eq!(
        o[0].opentm.unwrap().to_string(),
        "2023-07-06T18:02:39.897412Z"
    );
    assert_eq!(o[1].opentm, None);
}

/// Only a legacy four-letter key (`X`/`Z` class prefix on a known code) loses its prefix:
/// `METH` (mETH) is its own asset, not ETH.
#[test]
fn only_legacy_asset_keys_lose_their_prefix() {
    assert_eq!(rest::v2_asset("XETH"), "ETH");
    assert_eq!(rest::v2_asset("ZUSD"), "USD");
    assert_eq!(rest::v2_asset("XXBT"), "BTC");
    assert_eq!(rest::v2_asset("METH"), "METH");
    assert_eq!(rest::v2_asset("XTZ"), "XTZ");
}

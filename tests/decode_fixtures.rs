//! Decoding of every inbound message shape documented or captured (`docs/kraken-protocol.md`).
//! The fixtures are written from those shapes (ids and values are ours).

use kraken_exec::protocol::{AckResult, Channel, Decoder, FrameKind, Inbound, Method, Response};
use kraken_exec::{
    DecodeError, ExecType, KrakenErrorKind, Liquidity, OrderType, PairStatus, PriceType, Side,
    SymbolId, SymbolTable, SystemStatus, TimeInForce, Timestamp, TriggerReference, TriggerStatus,
    WireOrderStatus,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn symbols() -> SymbolTable {
    SymbolTable::from_names(["BTC/USD", "ETH/USD", "ETH/BTC", "ADX/USD", "FET/USD"])
}

fn decode(d: &mut Decoder, s: &str) -> Result<Inbound, DecodeError> {
    d.decode(s.as_bytes(), &symbols())
}

fn response(s: &str) -> Response {
    match decode(&mut Decoder::new(), s).unwrap() {
        Inbound::Response(r) => r,
        other => panic!("not a response: {other:?}"),
    }
}

#[test]
fn add_order_ack_with_userref() {
    let r = response(
        r#"{"method":"add_order","req_id":123456789,"result":{"order_id":"AA5JGQ-SBMRC-SCJ7J7","order_userref":100054},"success":true,"time_in":"2023-09-21T14:15:07.197274Z","time_out":"2023-09-21T14:15:07.205301Z"}"#,
    );
    assert_eq!(r.method, Method::AddOrder);
    assert_eq!(r.req_id, Some(123456789));
    assert!(r.success);
    assert_eq!(
        r.time_in,
        Timestamp::parse_rfc3339("2023-09-21T14:15:07.197274Z")
    );
    let AckResult::Order {
        order_id,
        cl_ord_id,
        order_userref,
    } = r.result
    else {
        panic!("{:?}", r.result)
    };
    assert_eq!(order_id.unwrap().as_str(), "AA5JGQ-SBMRC-SCJ7J7");
    assert_eq!(cl_ord_id, None);
    assert_eq!(order_userref, Some(100054));
}

#[test]
fn add_order_ack_with_cl_ord_id_and_error_shapes() {
    let r = response(
        r#"{"method":"add_order","req_id":0,"result":{"order_id":"OPS23M-VS41G-DDE5Z2","cl_ord_id":"client-zero"},"success":true,"time_in":"2024-05-19T19:58:40.170724Z","time_out":"2024-05-19T19:58:40.170758Z"}"#,
    );
    let AckResult::Order { cl_ord_id, .. } = r.result else {
        panic!()
    };
    assert_eq!(cl_ord_id.unwrap().as_str(), "client-zero");

    // Errors come with alphabetically ordered keys and extra fields.
    let e = response(
        r#"{"error":"ESession:Invalid session","method":"subscribe","req_id":42,"status":"error","success":false,"time_in":"2023-04-19T12:04:41.320119Z","time_out":"2023-04-19T12:04:41.980119Z"}"#,
    );
    assert!(!e.success);
    assert_eq!(e.method, Method::Subscribe);
    assert_eq!(e.error.unwrap().as_str(), "ESession:Invalid session");
    assert_eq!(e.error_kind, Some(KrakenErrorKind::InvalidSession));
    assert_eq!(e.result, AckResult::None);

    let e = response(
        r#"{"error":"Cash_order_qty field must be a number_float","method":"add_order","req_id":7,"success":false,"time_in":"2024-05-19T19:58:40.170724Z","time_out":"2024-05-19T19:58:40.170758Z"}"#,
    );
    assert_eq!(e.error_kind, Some(KrakenErrorKind::NotANumber));

    let e = response(
        r#"{"error":"Currency pair not supported WWW/USD","method":"subscribe","req_id":0,"success":false,"symbol":"WWW/USD","time_in":"2025-08-26T00:09:18.071184Z","time_out":"2025-08-26T00:09:18.071225Z"}"#,
    );
    assert_eq!(e.error_kind, Some(KrakenErrorKind::Other));
    // A long error is truncated, not refused.
    let long = format!(
        r#"{{"error":"EGeneral:Invalid arguments:{}","method":"add_order","success":false}}"#,
        "x".repeat(500)
    );
    let e = response(&long);
    assert_eq!(e.error_kind, Some(KrakenErrorKind::InvalidArguments));
    assert_eq!(e.req_id, None);
}

#[test]
fn pong_has_no_success_field() {
    let r = response(
        r#"{"method":"pong","req_id":1,"time_in":"2024-05-20T11:08:49.272922Z","time_out":"2024-05-20T11:08:49.272940Z"}"#,
    );
    assert_eq!(r.method, Method::Pong);
    assert!(r.success);
    let r = response(
        r#"{"error":"Unsupported field: 'params' for the given msg type: ping","method":"ping","req_id":0,"success":false,"time_in":"2024-05-19T19:58:40.170724Z","time_out":"2024-05-19T19:58:40.170758Z"}"#,
    );
    assert_eq!(r.method, Method::Other);
    assert_eq!(r.error_kind, Some(KrakenErrorKind::UnsupportedField));
}

#[test]
fn amend_edit_cancel_acks() {
    let r = response(
        r#"{"method":"amend_order","result":{"amend_id":"TTW6PD-RC36L-ZZSWNU","cl_ord_id":"2c6be801-1f53-4f79-a0bb-4ea1c95dfae9"},"success":true,"time_in":"2024-07-26T13:39:04.922699Z","time_out":"2024-07-26T13:39:04.924912Z"}"#,
    );
    let AckResult::Amend {
        amend_id,
        order_id,
        cl_ord_id,
    } = r.result
    else {
        panic!()
    };
    assert_eq!(amend_id.unwrap().as_str(), "TTW6PD-RC36L-ZZSWNU");
    assert_eq!(order_id, None);
    assert_eq!(
        cl_ord_id.unwrap().as_str(),
        "2c6be801-1f53-4f79-a0bb-4ea1c95dfae9"
    );

    let r = response(
        r#"{"method":"edit_order","req_id":1234567890,"result":{"order_id":"ORDERX-IDXXX-XXXXX2","original_order_id":"ORDERX-IDXXX-XXXXX1"},"success":true,"time_in":"2022-07-15T12:56:09.876488Z","time_out":"2022-07-15T12:56:09.923422Z"}"#,
    );
    let AckResult::Edit {
        order_id,
        original_order_id,
    } = r.result
    else {
        panic!()
    };
    assert_eq!(order_id.unwrap().as_str(), "ORDERX-IDXXX-XXXXX2");
    assert_eq!(original_order_id.unwrap().as_str(), "ORDERX-IDXXX-XXXXX1");

    // One response per cancelled order, same req_id.
    let mut d = Decoder::new();
    for id in ["OLUMT4-UTEGU-ZYM7E9", "OM5CRX-N2HAL-GFGWE9"] {
        let s = format!(
            r#"{{"method":"cancel_order","req_id":123456789,"result":{{"order_id":"{id}"}},"success":true,"time_in":"2023-09-21T14:36:57.428972Z","time_out":"2023-09-21T14:36:57.437952Z"}}"#
        );
        let Inbound::Response(r) = decode(&mut d, &s).unwrap() else {
            panic!()
        };
        assert_eq!(r.req_id, Some(123456789));
        assert!(matches!(r.result, AckResult::Order { order_id: Some(o), .. } if o.as_str() == id));
    }

    let r = response(
        r#"{"method":"cancel_all","req_id":1234567890,"result":{"count":1},"success":true,"time_in":"2023-09-26T13:09:48.463201Z","time_out":"2023-09-26T13:09:48.471419Z"}"#,
    );
    assert_eq!(r.result, AckResult::Count(1));

    let r = response(
        r#"{"method":"cancel_all_orders_after","req_id":1234567890,"result":{"currentTime":"2023-09-21T15:49:29Z","triggerTime":"2023-09-21T15:51:09Z"},"success":true,"time_in":"2023-09-21T15:49:28.627900Z","time_out":"2023-09-21T15:49:28.649057Z"}"#,
    );
    let AckResult::CancelAfter {
        current_time,
        trigger_time,
    } = r.result
    else {
        panic!()
    };
    assert_eq!(
        trigger_time.unwrap().secs() - current_time.unwrap().secs(),
        100
    );
    // Disarmed: the trigger time is not a time (shape unconfirmed); accepted as None.
    let r = response(
        r#"{"method":"cancel_all_orders_after","result":{"currentTime":"2023-09-21T15:49:29Z","triggerTime":"0"},"success":true}"#,
    );
    assert!(matches!(
        r.result,
        AckResult::CancelAfter {
            trigger_time: None,
            ..
        }
    ));
}

#[test]
fn batch_cancel_both_observed_shapes() {
    let documented = response(
        r#"{"method":"batch_cancel","req_id":1234567890,"result":{"count":3},"success":true,"time_in":"2022-06-13T08:09:10.123456Z","time_out":"2022-06-13T08:09:10.789012Z"}"#,
    );
    assert_eq!(documented.result, AckResult::Count(3));
    let captured = response(
        r#"{"method":"batch_cancel","orders_cancelled":2,"req_id":0,"success":true,"time_in":"2024-05-19T19:29:58.063754Z","time_out":"2024-05-19T19:29:58.071569Z"}"#,
    );
    assert_eq!(captured.result, AckResult::Count(2));
}

#[test]
fn batch_add_array_result_and_alternatives() {
    let mut d = Decoder::new();
    let s = r#"{"method":"batch_add","req_id":1234567890,"result":[{"order_id":"ORDERX-IDXXX-XXXXX1","order_userref":1},{"order_id":"ORDERX-IDXXX-XXXXX2","order_userref":2,"warnings":["w"]}],"success":true,"time_in":"2022-06-13T08:09:10.123456Z","time_out":"2022-06-13T08:09:10.789012Z"}"#;
    let Inbound::Response(r) = decode(&mut d, s).unwrap() else {
        panic!()
    };
    assert_eq!(r.result, AckResult::Batch { len: 2 });
    assert_eq!(r.warnings, 1);
    assert_eq!(
        d.batch()[1].order_id.unwrap().as_str(),
        "ORDERX-IDXXX-XXXXX2"
    );
    assert_eq!(d.batch()[0].order_userref, Some(1));

    // The synthetic object shape with per-order errors is accepted too.
    let s = r#"{"method":"batch_add","req_id":5,"result":{"orders":[{"order_id":"OA-1","success":true},{"cl_ord_id":"O-B","success":false,"error":"EOrder:Invalid price"}]},"success":true}"#;
    let Inbound::Response(r) = decode(&mut d, s).unwrap() else {
        panic!()
    };
    assert_eq!(r.result, AckResult::Batch { len: 2 });
    assert_eq!(d.batch()[1].error.unwrap().as_str(), "EOrder:Invalid price");
    assert_eq!(d.batch()[1].cl_ord_id.unwrap().as_str(), "O-B");
}

#[test]
fn subscribe_acks() {
    let r = response(
        r#"{"method":"subscribe","req_id":0,"result":{"channel":"executions","maxratecount":180,"snapshot":true,"warnings":["cancel_reason is deprecated, use reason","stop_price is deprecated, use triggers.price","trigger is deprecated use triggers.reference","triggered_price is deprecated use triggers.last_price"]},"success":true,"time_in":"2024-05-19T19:30:36.343170Z","time_out":"2024-05-19T19:30:36.350083Z"}"#,
    );
    assert_eq!(
        r.result,
        AckResult::Subscription {
            channel: Channel::Executions,
            maxratecount: Some(180),
            symbol: None
        }
    );
    assert_eq!(r.warnings, 4);
    let r = response(
        r#"{"method":"subscribe","result":{"channel":"executions","maxratecount":125,"snap_orders":true,"snap_trades":true},"success":true,"time_in":"2024-05-19T19:30:36.343170Z","time_out":"2024-05-19T19:30:36.350083Z"}"#,
    );
    assert!(matches!(
        r.result,
        AckResult::Subscription {
            maxratecount: Some(125),
            ..
        }
    ));
    let r = response(
        r#"{"method":"subscribe","req_id":42,"result":{"channel":"ticker","event_trigger":"trades","snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2024-05-15T11:20:43.013486Z","time_out":"2024-05-15T11:20:43.013545Z"}"#,
    );
    assert_eq!(
        r.result,
        AckResult::Subscription {
            channel: Channel::Other,
            maxratecount: None,
            symbol: Some(SymbolId(0))
        }
    );
    let r =
        response(r#"{"method":"unsubscribe","result":{"channel":"executions"},"success":true}"#);
    assert_eq!(r.method, Method::Unsubscribe);
    let r = response(
        r#"{"error": "Subscription Not Found", "method": "subscribe", "req_id": 123456789, "success": false, "symbol": "BTC/USD", "time_in": "2024-05-19T19:30:36.343170Z", "time_out": "2024-05-19T19:30:36.350083Z"}"#,
    );
    assert!(!r.success);
    assert_eq!(r.req_id, Some(123_456_789));
    assert_eq!(r.method, Method::Subscribe);
    assert_eq!(r.error.unwrap().as_str(), "Subscription Not Found");
    assert_eq!(r.error_kind, Some(KrakenErrorKind::Other));
    assert_eq!(
        r.time_out,
        Timestamp::parse_rfc3339("2024-05-19T19:30:36.350083Z")
    );
}

#[test]
fn executions_lifecycle_frames_from_the_docs() {
    let mut d = Decoder::new();
    let pending = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"symbol":"BTC/USD","order_qty":0.005,"cum_cost":0.0,"time_in_force":"GTC","exec_type":"pending_new","side":"sell","order_type":"limit","limit_price_type":"static","limit_price":26500.0,"stop_price":0.0,"order_status":"pending_new","fee_usd_equiv":0.0,"fee_ccy_pref":"fciq","timestamp":"2023-09-22T10:33:05.709950Z"}],"sequence":8}"#;
    let Inbound::Executions {
        kind,
        sequence,
        len,
    } = decode(&mut d, pending).unwrap()
    else {
        panic!()
    };
    assert_eq!((kind, sequence, len), (FrameKind::Update, Some(8), 1));
    let r = d.executions()[0];
    assert_eq!(r.exec_type, Some(ExecType::PendingNew));
    assert_eq!(r.order_status, Some(WireOrderStatus::PendingNew));
    assert_eq!(r.symbol, Some(SymbolId(0)));
    assert_eq!(r.side, Some(Side::Sell));
    assert_eq!(r.order_type, Some(OrderType::Limit));
    assert_eq!(r.time_in_force, Some(TimeInForce::Gtc));
    assert_eq!(r.limit_price_type, Some(PriceType::Static));
    assert_eq!(r.order_qty, Some(dec!(0.005)));
    assert_eq!(r.limit_price.unwrap().to_string(), "26500.0");
    assert_eq!(r.order_userref, Some(3));

    let new = r#"{"channel":"executions","type":"update","data":[{"timestamp":"2023-09-22T10:33:05.709982Z","order_status":"new","exec_type":"new","order_userref":3,"order_id":"OK4GJX-KSTLS-7DZZO5"}],"sequence":9}"#;
    decode(&mut d, new).unwrap();
    let r = d.executions()[0];
    assert_eq!(
        (r.exec_type, r.symbol, r.side),
        (Some(ExecType::New), None, None)
    );

    let trade = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade","trade_id":62887576,"symbol":"BTC/USD","side":"sell","last_qty":0.005,"last_price":26599.9,"liquidity_ind":"t","cost":132.9995,"order_type":"limit","timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled","cum_qty":0.005,"cum_cost":132.9995,"avg_price":26599.9,"fee_usd_equiv":0.3458,"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}"#;
    decode(&mut d, trade).unwrap();
    let r = d.executions()[0];
    assert!(r.is_fill());
    assert_eq!(r.exec_id.unwrap().as_str(), "TGBB7L-HT5LX-J3BZ4A");
    assert_eq!(r.trade_id, Some(62887576));
    assert_eq!(
        (r.last_qty, r.last_price),
        (Some(dec!(0.005)), Some(dec!(26599.9)))
    );
    assert_eq!(r.cost, Some(dec!(132.9995)));
    assert_eq!(r.liquidity, Some(Liquidity::Taker));
    assert_eq!(r.fees().len(), 1);
    assert_eq!(r.fees()[0].asset.as_str(), "USD");
    assert_eq!(r.fees()[0].qty, dec!(0.3458));
    assert_eq!(r.order_status, Some(WireOrderStatus::PartiallyFilled));
}

#[test]
fn executions_captured_shapes() {
    let mut d = Decoder::new();
    let stop = r#"{"channel":"executions","type":"update","data":[{"order_id":"AHOJQ8-1E72C-8M2VQH","symbol":"ADX/USD","order_qty":81.36256082,"cum_cost":0,"time_in_force":"GTC","exec_type":"pending_new","side":"buy","order_type":"stop-loss-limit","order_userref":0,"limit_price_type":"static","triggers":{"price":0.2,"price_type":"static","reference":"index","status":"untriggered"},"stop_price":0.2,"limit_price":0.2,"trigger":"index","order_status":"pending_new","fee_usd_equiv":0,"fee_ccy_pref":"fciq","timestamp":"2024-05-18T12:01:56.165888Z"}],"sequence":120}"#;
    decode(&mut d, stop).unwrap();
    let r = d.executions()[0];
    let t = r.triggers.unwrap();
    assert_eq!(t.reference, Some(TriggerReference::Index));
    assert_eq!(t.status, Some(TriggerStatus::Untriggered));
    assert_eq!(t.price, Some(dec!(0.2)));
    assert_eq!(r.order_qty.unwrap().to_string(), "81.36256082");

    let cancel = r#"{"channel":"executions","type":"update","data":[{"timestamp":"2024-05-18T12:58:40.165132Z","order_status":"canceled","exec_type":"canceled","cum_qty":0.00000000,"cum_cost":0.000000,"fee_usd_equiv":0.000000,"avg_price":0.00000,"order_userref":0,"cancel_reason":"User requested","reason":"User requested","order_id":"KIUEL4-G3PWU-HOJTYU"}],"sequence":143}"#;
    decode(&mut d, cancel).unwrap();
    let r = d.executions()[0];
    assert_eq!(r.exec_type, Some(ExecType::Canceled));
    assert_eq!(r.reason.unwrap().as_str(), "User requested");
    // Scale is kept: 0.00000000 has eight decimals.
    assert_eq!(r.cum_qty.unwrap().scale(), 8);

    let amend = r#"{"channel":"executions","type":"update","data":[{"timestamp":"2024-10-13T13:38:39.273886Z","exec_type":"amended","order_status":"new","cum_qty":0.00000000,"reason":"User requested","amended":true,"order_qty":5.10000000,"limit_price":0.9600,"limit_price_type":"static","order_userref":0,"order_id":"6LYQGW-FH922-U6JTUM"}],"sequence":20}"#;
    decode(&mut d, amend).unwrap();
    let r = d.executions()[0];
    assert_eq!(r.amended, Some(true));
    assert_eq!(r.order_qty.unwrap().to_string(), "5.10000000");
    assert_eq!(r.limit_price.unwrap().to_string(), "0.9600");

    let snap = r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"8G1X9R-F6HH0-R2FYZ0","order_userref":0,"exec_id":"0CVSSH-KVM0J-TCXLSQ","exec_type":"trade","trade_id":2125408,"symbol":"FET/USD","side":"buy","last_qty":25.00000000,"last_price":0.6017,"liquidity_ind":"m","margin":true,"margin_borrow":true,"liquidated":true,"cost":14.013500,"order_status":"filled","order_type":"limit","timestamp":"2024-01-28T21:03:18.167719Z","fee_usd_equiv":0.024028,"fees":[{"asset":"USD","qty":0.024038}]}],"sequence":1}"#;
    let Inbound::Executions { kind, .. } = decode(&mut d, snap).unwrap() else {
        panic!()
    };
    assert_eq!(kind, FrameKind::Snapshot);
    let r = d.executions()[0];
    assert_eq!(r.margin, Some(true));
    assert_eq!(r.liquidity, Some(Liquidity::Maker));
    assert_eq!(r.symbol, Some(SymbolId(4)));

    // Empty snapshot; unknown symbol; unknown exec_type and unknown fields are tolerated.
    let Inbound::Executions { len, .. } = decode(
        &mut d,
        r#"{"channel":"executions","type":"snapshot","data":[],"sequence":1}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(len, 0);
    decode(
        &mut d,
        r#"{"channel":"executions","type":"update","data":[{"order_id":"X","exec_type":"brand_new","symbol":"DOGE/EUR","ext_ord_id":"z","nested":{"a":[1,{"b":2}]},"sender_sub_id":null}],"sequence":2}"#,
    )
    .unwrap();
    let r = d.executions()[0];
    assert_eq!(r.exec_type, None);
    assert_eq!(r.symbol, Some(SymbolId::UNKNOWN));
}

#[test]
fn executions_errors_are_typed() {
    let mut d = Decoder::new();
    assert_eq!(
        decode(
            &mut d,
            r#"{"channel":"executions","type":"update","data":[{"exec_type":"new"}],"sequence":2}"#
        ),
        Err(DecodeError::MissingField("order_id"))
    );
    assert_eq!(
        decode(
            &mut d,
            r#"{"channel":"executions","type":"update","data":[{"order_id":"A","exec_type":"trade","last_qty":"0.5"}]}"#
        ),
        Err(DecodeError::InvalidField("last_qty"))
    );
    assert_eq!(
        decode(
            &mut d,
            r#"{"channel":"executions","type":"update","data":{"order_id":"A"}}"#
        ),
        Err(DecodeError::InvalidField("data"))
    );
    assert_eq!(
        decode(
            &mut d,
            r#"{"channel":"executions","type":"delta","data":[]}"#
        ),
        Err(DecodeError::InvalidField("type"))
    );
}

/// A count or id that cannot be negative: `-0` is zero (simd-json reads it as a signed zero),
/// any other negative number is refused, never wrapped to a huge unsigned one.
#[test]
fn unsigned_members_take_minus_zero_and_refuse_negatives() {
    let mut d = Decoder::new();
    let trade = |id: &str| {
        format!(
            r#"{{"channel":"executions","type":"update","data":[{{"order_id":"A","exec_type":"trade","trade_id":{id}}}]}}"#
        )
    };
    assert!(decode(&mut d, &trade("-0")).is_ok());
    assert_eq!(d.executions()[0].trade_id, Some(0));
    assert_eq!(
        decode(&mut d, &trade("-1")),
        Err(DecodeError::InvalidField("trade_id"))
    );
    assert_eq!(
        decode(
            &mut d,
            r#"{"channel":"executions","type":"update","data":[],"sequence":-7}"#
        ),
        Err(DecodeError::InvalidField("sequence"))
    );
}
#[test]
fn balances_status_heartbeat_instrument() {
    let mut d = Decoder::new();
    let upd = r#"{"channel":"balances","type":"update","data":[{"ledger_id":"DATKX6-PEHL1-HZKND8","ref_id":"LKAKN2-N0N12-VKQNLN","timestamp":"2024-05-24T14:01:53.526524Z","type":"trade","asset":"USD","asset_class":"currency","category":"trade","wallet_type":"spot","wallet_id":"main","amount":-19.9743,"fee":0.0499,"balance":118.0677}],"sequence":4}"#;
    let Inbound::Balances {
        kind,
        sequence,
        len,
    } = decode(&mut d, upd).unwrap()
    else {
        panic!()
    };
    assert_eq!((kind, sequence, len), (FrameKind::Update, Some(4), 1));
    let b = d.balances()[0];
    assert_eq!(b.asset.as_str(), "USD");
    assert_eq!(b.amount, Some(dec!(-19.9743)));
    assert_eq!(b.balance, Some(dec!(118.0677)));
    assert_eq!(b.kind.unwrap().as_str(), "trade");
    assert_eq!(b.ref_id.unwrap().as_str(), "LKAKN2-N0N12-VKQNLN");
    let snap = r#"{"channel":"balances","type":"snapshot","data":[{"asset":"BTC","asset_class":"currency","balance":1.2,"wallets":[{"type":"spot","id":"main","balance":1.2}]},{"asset":"USD","asset_class":"currency","balance":100000}],"sequence":1}"#;
    let Inbound::Balances { kind, len, .. } = decode(&mut d, snap).unwrap() else {
        panic!()
    };
    assert_eq!((kind, len), (FrameKind::Snapshot, 2));
    assert_eq!(d.balances()[1].balance, Some(dec!(100000)));

    let st = r#"{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,"system":"online","version":"2.0.4"}],"type":"update"}"#;
    let Inbound::Status(s) = decode(&mut d, st).unwrap() else {
        panic!()
    };
    assert_eq!(s.connection_id, Some(12393906104898154338));
    assert_eq!(s.system, Some(SystemStatus::Online));
    let st = r#"{"channel":"status","data":[{"api_version":"v2","system":"maintenance","version":"2.0.6"}],"type":"update"}"#;
    let Inbound::Status(s) = decode(&mut d, st).unwrap() else {
        panic!()
    };
    assert_eq!(
        (s.system, s.connection_id),
        (Some(SystemStatus::Maintenance), None)
    );

    assert_eq!(
        decode(&mut d, r#"{"channel":"heartbeat"}"#),
        Ok(Inbound::Heartbeat)
    );

    let ins = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","status":"enabled","precision":10,"precision_display":5,"borrowable":true,"collateral_value":1.0,"margin_rate":0.01}],"pairs":[{"symbol":"ETH/BTC","base":"ETH","quote":"BTC","status":"online","qty_precision":8,"qty_increment":0.00000001,"price_precision":5,"cost_precision":10,"marginable":true,"has_index":true,"cost_min":0.00002,"margin_initial":0.20,"position_limit_long":1000,"position_limit_short":600,"tick_size":0.00001,"price_increment":0.00001,"qty_min":0.00200000}]}}"#;
    let Inbound::Instrument {
        kind,
        pairs,
        assets,
    } = decode(&mut d, ins).unwrap()
    else {
        panic!()
    };
    assert_eq!((kind, pairs, assets), (FrameKind::Snapshot, 1, 1));
    let p = d.pairs()[0];
    assert_eq!(p.symbol.as_str(), "ETH/BTC");
    assert_eq!(p.status, Some(PairStatus::Online));
    assert_eq!(p.price_increment, Some(dec!(0.00001)));
    assert_eq!(p.qty_min.unwrap().to_string(), "0.00200000");
    assert_eq!(p.cost_min, Some(dec!(0.00002)));
    assert_eq!(d.assets()[0].precision, Some(10));
}

#[test]
fn non_json_and_unknown_frames() {
    let mut d = Decoder::new();
    assert_eq!(
        decode(&mut d, "CloudFlare WebSocket proxy restarting"),
        Err(DecodeError::NotJson)
    );
    assert_eq!(decode(&mut d, ""), Err(DecodeError::NotJson));
    assert_eq!(decode(&mut d, "{\"channel\":"), Err(DecodeError::Malformed));
    assert_eq!(decode(&mut d, "[1,2]"), Err(DecodeError::UnknownMessage));
    // A channel the engine does not read (`ticker` is read since the market data work).
    assert_eq!(
        decode(&mut d, r#"{"channel":"ohlc","data":[]}"#),
        Err(DecodeError::UnknownMessage)
    );
    assert_eq!(
        decode(&mut d, r#"{"hello":"world"}"#),
        Err(DecodeError::UnknownMessage)
    );
    // The decoder is fine afterwards.
    assert_eq!(
        decode(&mut d, r#"{"channel":"heartbeat"}"#),
        Ok(Inbound::Heartbeat)
    );
}

#[test]
fn escaped_strings_do_not_disturb_numbers() {
    let mut d = Decoder::new();
    let s = r#"{"channel":"executions","type":"update","data":[{"reason":"a \"quoted\" \\ reason \u00e9","order_id":"O\u0041","exec_type":"trade","exec_id":"T1","last_qty":1.50,"last_price":2e3,"cum_qty":15E-1}],"sequence":3}"#;
    decode(&mut d, s).unwrap();
    let r = d.executions()[0];
    assert_eq!(r.order_id.as_str(), "OA");
    assert_eq!(r.reason.unwrap().as_str(), "a \"quoted\" \\ reason ?");
    assert_eq!(r.last_qty.unwrap().to_string(), "1.50");
    assert_eq!(r.last_price, Some(dec!(2000)));
    assert_eq!(r.cum_qty, Some(Decimal::new(15, 1)));
}

#[test]
fn escaped_keys_still_locate_their_numbers() {
    let mut d = Decoder::new();
    let s = r#"{"channel":"executions","type":"update","data":[{"order_id":"A","exec_type":"trade","exec_id":"T","last\u005fqty" :  1.50,"last_price":2.000}]}"#;
    decode(&mut d, s).unwrap();
    let r = d.executions()[0];
    assert_eq!(r.last_qty.unwrap().to_string(), "1.50");
    assert_eq!(r.last_price.unwrap().to_string(), "2.000");
}

/// Issue 9, item 12: a value this version does not know costs that field, never the frame
/// (before, one new `order_status` word lost the whole frame, fills included).
#[test]
fn unknown_enum_words_and_unreadable_times_keep_the_rest_of_the_frame() {
    let mut d = Decoder::new();
    let frame = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade","symbol":"BTC/USD","side":"buy","last_qty":0.5,"last_price":100.0,"order_status":"pending_replace","liquidity_ind":"x","timestamp":"yesterday","triggers":{"reference":"last","price":99.0,"price_type":"static","status":"dormant"},"fees":[{"asset":"USD","qty":0.01}]},{"order_id":"OTHER0-KSTLS-7DZZO5","exec_type":"hibernated","order_status":"new"}],"sequence":3}"#;
    let Inbound::Executions { len, .. } = decode(&mut d, frame).unwrap() else {
        panic!("executions");
    };
    assert_eq!(len, 2);
    let r = d.executions()[0];
    assert_eq!(r.exec_type, Some(ExecType::Trade));
    assert_eq!(r.last_qty, Some(dec!(0.5)));
    assert_eq!(
        (r.order_status, r.liquidity, r.timestamp),
        (None, None, None)
    );
    assert_eq!(r.triggers.unwrap().status, None);
    assert_eq!(r.triggers.unwrap().price, Some(dec!(99.0)));
    let u = r.unknown.unwrap();
    assert_eq!(
        (u.field, u.raw.as_str()),
        ("order_status", "pending_replace")
    );
    assert_eq!(r.unknown_count, 4);
    let other = d.executions()[1];
    assert_eq!(other.exec_type, None);
    assert_eq!(other.order_status, Some(WireOrderStatus::New));
    assert_eq!(other.unknown.unwrap().raw.as_str(), "hibernated");

    // An ack whose time cannot be read is still the ack.
    let r = response(
        r#"{"method":"add_order","req_id":5,"result":{"order_id":"AA5JGQ-SBMRC-SCJ7J7"},"success":true,"time_in":"soon","time_out":"2023-09-21T14:15:07.205301Z"}"#,
    );
    assert!(r.success && r.req_id == Some(5) && r.time_in.is_none());
}

/// Issue 9, item 16: a balances update names its wallet (the captured [KAR] shape); only a
/// spot one says what is spendable.
#[test]
fn balance_updates_name_their_wallet() {
    let mut d = Decoder::new();
    let frame = r#"{"channel":"balances","type":"update","data":[{"ledger_id":"DATKX6-PEHL1-HZKND8","ref_id":"LKAKN2-N0N12-VKQNLN","timestamp":"2024-05-24T14:01:53.526524Z","type":"trade","asset":"USD","asset_class":"currency","category":"trade","wallet_type":"spot","wallet_id":"main","amount":-19.9743,"fee":0.0499,"balance":118.0677}],"sequence":4}"#;
    let Inbound::Balances { len, .. } = decode(&mut d, frame).unwrap() else {
        panic!("balances");
    };
    assert_eq!(len, 1);
    let b = d.balances()[0];
    assert_eq!(b.wallet_type.unwrap().as_str(), "spot");
    assert_eq!(b.wallet_id.unwrap().as_str(), "main");
    assert_eq!(b.spot(), Some(dec!(118.0677)));
    let earn = frame.replace(r#""wallet_type":"spot""#, r#""wallet_type":"earn""#);
    decode(&mut d, &earn).unwrap();
    assert_eq!(
        d.balances()[0].spot(),
        None,
        "an earn balance is not spendable"
    );
}

/// A member name written with an escape (`\u005f` for `_`) is still that member, and the
/// number after it is still read from its own digits (scale kept), not from simd-json's `f64`.
#[test]
fn escaped_member_names_still_locate_their_digits() {
    let frame = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_type":"trade","exec_id":"TGBB7L-HT5LX-J3BZ4A","last\u005fqty":0.00016000,"last_price":26599.90,"cum\u005fcost":4.2560000}],"sequence":11}"#;
    let mut d = Decoder::new();
    assert!(matches!(
        decode(&mut d, frame).unwrap(),
        Inbound::Executions { .. }
    ));
    let r = &d.executions()[0];
    let qty = r.last_qty.unwrap();
    assert_eq!((qty, qty.scale()), (dec!(0.00016000), 8));
    let price = r.last_price.unwrap();
    assert_eq!((price, price.scale()), (dec!(26599.90), 2));
    let cost = r.cum_cost.unwrap();
    assert_eq!((cost, cost.scale()), (dec!(4.2560000), 7));
}

/// A frame written with whitespace around its colons and commas (not Kraken's way, but JSON)
/// gives the same digits as the compact one: each number is still read from its own text.
#[test]
fn whitespace_between_members_still_locates_their_digits() {
    let compact = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_type":"trade","exec_id":"TGBB7L-HT5LX-J3BZ4A","last_qty":0.00016000,"last_price":26599.90,"cum_cost":4.2560000,"fees":[{"asset":"USD","qty":0.34580}]}],"sequence":11}"#;
    let figures = |frame: &str| {
        let mut d = Decoder::new();
        decode(&mut d, frame).unwrap();
        let r = d.executions()[0];
        [r.last_qty, r.last_price, r.cum_cost, Some(r.fees()[0].qty)]
            .map(|v| v.unwrap().to_string())
    };
    let want = ["0.00016000", "26599.90", "4.2560000", "0.34580"];
    assert_eq!(figures(compact), want);
    for (colon, comma) in [(": ", ", "), (" :\t", ",\n "), (":\r\n ", " ,")] {
        let spaced = compact
            .replace("\":", &format!("\"{colon}"))
            .replace(",\"", &format!("{comma}\""));
        assert_eq!(figures(&spaced), want, "{spaced}");
    }
}

/// Every member the decoder reads lands in its own field (mutation testing found these read
/// but never checked): an iceberg's display quantity, reduce-only, effective and expiry
/// times, the deprecated `cancel_reason` when `reason` is absent, a trigger's price type and
/// last price; a balance's ledger id, time and wallets.
#[test]
fn every_member_we_read_lands_in_its_own_field() {
    let mut d = Decoder::new();
    let frame = r#"{"channel":"executions","type":"update","data":[{"order_id":"OAAAAA-BBBBB-CCCCCC","exec_type":"new","order_status":"new","display_qty":0.25,"reduce_only":true,"effective_time":"2024-05-18T12:00:00.000001Z","expire_time":"2024-05-19T12:00:00.5Z","cancel_reason":"Post only order","triggers":{"reference":"last","price":1.5,"price_type":"pct","status":"triggered","last_price":27001.5},"timestamp":"2024-05-18T12:01:56.165888Z"}],"sequence":7}"#;
    decode(&mut d, frame).unwrap();
    let r = d.executions()[0];
    assert_eq!(r.display_qty.unwrap().to_string(), "0.25");
    assert_eq!(r.reduce_only, Some(true));
    assert_eq!(
        r.effective_time,
        Timestamp::parse_rfc3339("2024-05-18T12:00:00.000001Z")
    );
    assert_eq!(
        r.expire_time,
        Timestamp::parse_rfc3339("2024-05-19T12:00:00.5Z")
    );
    assert_eq!(r.reason.unwrap().as_str(), "Post only order");
    let t = r.triggers.unwrap();
    assert_eq!(t.price_type, Some(PriceType::Pct));
    assert_eq!(t.last_price.unwrap().to_string(), "27001.5");
    assert_eq!(t.price.unwrap().to_string(), "1.5");

    let snap = r#"{"channel":"balances","type":"snapshot","data":[{"asset":"BTC","asset_class":"currency","ledger_id":"L4UESK-KG3EQ-UFO4T5","timestamp":"2024-05-24T14:01:53.526524Z","balance":1.75,"wallets":[{"type":"spot","id":"main","balance":1.5},{"type":"earn","id":"flex","balance":0.25}]}],"sequence":1}"#;
    decode(&mut d, snap).unwrap();
    let b = d.balances()[0];
    assert_eq!(b.ledger_id.unwrap().as_str(), "L4UESK-KG3EQ-UFO4T5");
    assert_eq!(
        b.timestamp,
        Timestamp::parse_rfc3339("2024-05-24T14:01:53.526524Z")
    );
    assert_eq!(b.wallet_count, 2);
    let w: Vec<_> = b.wallets[..2]
        .iter()
        .map(|w| (w.kind.as_str(), w.id.as_str(), w.balance.to_string()))
        .collect();
    assert_eq!(
        w,
        [
            ("spot", "main", "1.5".to_string()),
            ("earn", "flex", "0.25".to_string())
        ]
    );
}

/// The decoder's `Debug` names it and shows none of its buffers (which hold the last frame: a
/// logged decoder must not dump account data).
#[test]
fn the_decoder_debugs_as_its_name_without_its_buffers() {
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let mut d = Decoder::new();
    let _ = d.decode(br#"{"channel":"heartbeat"}"#, &syms);
    assert_eq!(format!("{d:?}"), "Decoder { .. }");
}

/// An amend's ack names the order it amended and counts its warnings.
#[test]
fn an_amend_ack_s_order_id_and_warnings() {
    let r = response(
        r#"{"method":"amend_order","req_id":9,"result":{"amend_id":"TTW6PD-RC36L-ZZSWNU","order_id":"OAMND1-AAAAA-BBBBBB","warnings":["price rounded","qty rounded"]},"success":true}"#,
    );
    let AckResult::Amend { order_id, .. } = r.result else {
        panic!("{:?}", r.result)
    };
    assert_eq!(order_id.unwrap().as_str(), "OAMND1-AAAAA-BBBBBB");
    assert_eq!(r.warnings, 2);
}

/// `req_id` and `error` sent as null read as absent, and `success` is read as sent: `false`
/// with no error text is still a failure.
#[test]
fn an_ack_s_null_members_and_its_own_success_flag() {
    let r = response(
        r#"{"method":"add_order","req_id":null,"error":null,"result":{"order_id":"OAAAAA-BBBBB-CCCCCC"},"success":true}"#,
    );
    assert_eq!((r.req_id, r.error, r.success), (None, None, true));
    let r = response(r#"{"method":"add_order","req_id":7,"success":false}"#);
    assert_eq!((r.req_id, r.success), (Some(7), false));
    assert_eq!(r.error, None);
}

/// A book frame: one pair, its timestamp; a second pair in the same frame, or a level missing
/// its price or its quantity, is refused (the levels of two pairs could not be told apart).
#[test]
fn a_book_frame_holds_one_pair_whole_levels_and_its_timestamp() {
    let mut d = Decoder::new();
    let one = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":100.5,"qty":1.25}],"asks":[],"checksum":123,"timestamp":"2024-10-03T02:46:57.050170Z"}]}"#;
    let Inbound::Book {
        kind,
        symbol,
        checksum,
        timestamp,
    } = decode(&mut d, one).unwrap()
    else {
        panic!("a book frame")
    };
    assert_eq!(
        (kind, symbol),
        (FrameKind::Update, symbols().get("BTC/USD").unwrap())
    );
    assert_eq!(checksum, Some(123));
    assert_eq!(
        timestamp.unwrap().to_string(),
        "2024-10-03T02:46:57.050170Z"
    );
    assert_eq!(d.book_bids().len(), 1);
    let entry =
        r#"{"symbol":"BTC/USD","bids":[{"price":100.5,"qty":1.25}],"asks":[],"checksum":123}"#;
    let two = format!(
        r#"{{"channel":"book","type":"update","data":[{entry},{}]}}"#,
        entry.replace("BTC", "ETH")
    );
    assert_eq!(decode(&mut d, &two), Err(DecodeError::InvalidField("data")));
    for half in [r#"{"price":100.5}"#, r#"{"qty":1.25}"#] {
        let f = one.replace(r#"{"price":100.5,"qty":1.25}"#, half);
        assert_eq!(
            decode(&mut d, &f),
            Err(DecodeError::InvalidField("bids")),
            "{f}"
        );
    }
}

/// Every member of a public trade and of a ticker lands in its own field.
#[test]
fn every_member_of_a_trade_and_a_ticker_lands_in_its_own_field() {
    let mut d = Decoder::new();
    let trade = r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell","price":26599.9,"qty":0.005,"ord_type":"market","trade_id":42,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#;
    decode(&mut d, trade).unwrap();
    let t = d.trades()[0];
    assert_eq!(t.ord_type, Some(OrderType::Market));
    let ticker = r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":1.1,"bid_qty":2.2,"ask":3.3,"ask_qty":4.4,"last":5.5,"volume":6.6,"vwap":7.7,"low":8.8,"high":9.9,"change":-1.01,"change_pct":-2.02,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#;
    decode(&mut d, ticker).unwrap();
    let k = d.tickers()[0];
    let got = [
        k.bid,
        k.bid_qty,
        k.ask,
        k.ask_qty,
        k.last,
        k.volume,
        k.vwap,
        k.low,
        k.high,
        k.change,
        k.change_pct,
    ];
    let want = [
        "1.1", "2.2", "3.3", "4.4", "5.5", "6.6", "7.7", "8.8", "9.9", "-1.01", "-2.02",
    ];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.map(|v| v.to_string()).as_deref(), Some(w));
    }
    assert_eq!(
        k.timestamp.unwrap().to_string(),
        "2023-09-25T07:49:37.708706Z"
    );
}

/// Every member of an instrument pair and asset we read lands in its own field; a member
/// sent as null leaves its field empty.
#[test]
fn every_member_of_an_instrument_lands_in_its_own_field() {
    let mut d = Decoder::new();
    let ins = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"XBT","status":"depositonly","precision":10}],"pairs":[{"symbol":"BTC/USD","base":"XBT","quote":"ZUSD","status":"post_only","qty_precision":8,"qty_increment":0.00000001,"price_precision":1,"price_increment":0.1,"qty_min":0.0001,"cost_min":0.5},{"symbol":"ETH/USD","base":null,"qty_increment":null}]}}"#;
    decode(&mut d, ins).unwrap();
    let p = d.pairs()[0];
    assert_eq!(
        (p.symbol.as_str(), p.base.as_str(), p.quote.as_str()),
        ("BTC/USD", "XBT", "ZUSD")
    );
    assert_eq!(p.status, Some(PairStatus::PostOnly));
    assert_eq!((p.price_precision, p.qty_precision), (Some(1), Some(8)));
    assert_eq!(p.qty_increment.unwrap().to_string(), "0.00000001");
    assert_eq!(p.price_increment.unwrap().to_string(), "0.1");
    let q = d.pairs()[1];
    assert_eq!(
        (q.symbol.as_str(), q.base.as_str(), q.qty_increment),
        ("ETH/USD", "", None)
    );
    let a = d.assets()[0];
    assert_eq!(
        (a.id.as_str(), a.status.as_str(), a.precision),
        ("XBT", "depositonly", Some(10))
    );
}

/// A frame of exactly `MAX_FRAME` bytes is read; one byte more is refused before parsing.
#[test]
fn frames_longer_than_max_frame_are_refused() {
    use kraken_exec::protocol::decode::MAX_FRAME;
    let mut d = Decoder::new();
    let head = r#"{"channel":"heartbeat"}"#;
    let mut f = String::with_capacity(MAX_FRAME + 1);
    f.push_str(head);
    f.extend(std::iter::repeat_n(' ', MAX_FRAME - head.len()));
    assert_eq!(decode(&mut d, &f), Ok(Inbound::Heartbeat));
    f.push(' ');
    assert_eq!(decode(&mut d, &f), Err(DecodeError::Malformed));
}

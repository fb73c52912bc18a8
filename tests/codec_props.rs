//! Property tests of the codec: exact decimals, encode/decode round trips, and no panics on
//! arbitrary input.

use kraken_exec::protocol::{Decoder, Inbound, encode};
use kraken_exec::{
    AddOrder, ClOrdId, ExecType, OrderType, PriceType, Side, SymbolTable, TimeInForce, Timestamp,
    Triggers,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn symbols() -> SymbolTable {
    SymbolTable::from_names(["BTC/USD", "ETH/USD"])
}

/// Any decimal with up to 15 significant digits and up to 15 decimals, either sign.
fn decimal15() -> impl Strategy<Value = Decimal> {
    (0i64..1_000_000_000_000_000, 0u32..=15, any::<bool>())
        .prop_map(|(m, s, neg)| Decimal::new(if neg { -m } else { m }, s))
}

fn positive15() -> impl Strategy<Value = Decimal> {
    (1i64..1_000_000_000_000_000, 0u32..=15).prop_map(|(m, s)| Decimal::new(m, s))
}

fn frame_with(field: &str, text: &str) -> String {
    format!(
        r#"{{"channel":"executions","type":"update","data":[{{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_type":"trade","exec_id":"T","{field}":{text}}}],"sequence":1}}"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Numbers decode to the identical Decimal: same value and same scale.
    #[test]
    fn decimals_decode_exactly(d in decimal15()) {
        let text = d.to_string();
        let mut dec = Decoder::new();
        let f = frame_with("last_price", &text);
        let Inbound::Executions { .. } = dec.decode(f.as_bytes(), &symbols()).unwrap() else { panic!() };
        let got = dec.executions()[0].last_price.unwrap();
        prop_assert_eq!(got, d);
        prop_assert_eq!(got.scale(), d.scale());
        prop_assert_eq!(got.to_string(), text);
    }

    /// Exponent forms decode to the same value.
    #[test]
    fn exponent_forms_decode(m in 1i64..1_000_000_000_000_000, e in -20i32..10) {
        let text = format!("{m}e{e}");
        let mut dec = Decoder::new();
        let f = frame_with("last_qty", &text);
        dec.decode(f.as_bytes(), &symbols()).unwrap();
        let got = dec.executions()[0].last_qty.unwrap();
        let want = if e >= 0 {
            Decimal::from(m) * Decimal::from(10i64.pow(e as u32))
        } else {
            Decimal::new(m, (-e) as u32)
        };
        prop_assert_eq!(got, want);
    }

    /// Our encoder writes the decimal's own digits, which our decoder reads back identically.
    #[test]
    fn encoded_numbers_round_trip(qty in positive15(), price in positive15(), uref in any::<i32>()) {
        let syms = symbols();
        let o = AddOrder::limit(syms.get("ETH/USD").unwrap(), Side::Buy, qty, price).userref(uref);
        let mut buf = Vec::new();
        encode::add_order(&mut buf, &o, &syms, "tok", 1);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        prop_assert_eq!(v["params"]["order_userref"].as_i64(), Some(i64::from(uref)));
        // Feed the exact number text back through the decoder.
        let s = std::str::from_utf8(&buf).unwrap();
        let raw = |k: &str| {
            let start = s.find(&format!("\"{k}\":")).unwrap() + k.len() + 3;
            let end = start + s[start..].find([',', '}']).unwrap();
            s[start..end].to_string()
        };
        let f = format!(
            r#"{{"channel":"executions","type":"update","data":[{{"order_id":"A","exec_type":"new","order_qty":{},"limit_price":{}}}]}}"#,
            raw("order_qty"), raw("limit_price")
        );
        let mut dec = Decoder::new();
        dec.decode(f.as_bytes(), &syms).unwrap();
        let r = dec.executions()[0];
        prop_assert_eq!(r.order_qty.unwrap().to_string(), qty.to_string());
        prop_assert_eq!(r.limit_price.unwrap().to_string(), price.to_string());
    }

    /// Arbitrary bytes never panic the decoder, and it keeps working afterwards.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut dec = Decoder::new();
        let _ = dec.decode(&bytes, &symbols());
        prop_assert_eq!(dec.decode(br#"{"channel":"heartbeat"}"#, &symbols()), Ok(Inbound::Heartbeat));
    }

    /// Mutations of real frames (byte flips, truncation) never panic.
    #[test]
    fn mutated_frames_never_panic(idx in any::<proptest::sample::Index>(), b in any::<u8>(), cut in any::<proptest::sample::Index>(), which in 0usize..4) {
        let frames = [
            r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade","trade_id":62887576,"symbol":"BTC/USD","side":"sell","last_qty":0.005,"last_price":26599.9,"liquidity_ind":"t","cost":132.9995,"order_type":"limit","timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled","cum_qty":0.005,"cum_cost":132.9995,"avg_price":26599.9,"fee_usd_equiv":0.3458,"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}"#,
            r#"{"method":"batch_add","req_id":1234567890,"result":[{"order_id":"ORDERX-IDXXX-XXXXX1","order_userref":1},{"order_id":"ORDERX-IDXXX-XXXXX2","order_userref":2}],"success":true,"time_in":"2022-06-13T08:09:10.123456Z","time_out":"2022-06-13T08:09:10.789012Z"}"#,
            r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","status":"enabled","precision":10}],"pairs":[{"symbol":"ETH/BTC","base":"ETH","quote":"BTC","status":"online","qty_increment":0.00000001,"price_increment":0.00001,"qty_min":0.00200000,"cost_min":0.00002}]}}"#,
            r#"{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,"system":"online","version":"2.0.4"}],"type":"update"}"#,
        ];
        let mut f = frames[which].as_bytes().to_vec();
        let i = idx.index(f.len());
        f[i] = b;
        f.truncate(cut.index(f.len() + 1));
        let mut dec = Decoder::new();
        let _ = dec.decode(&f, &symbols());
    }

    /// Random execution reports, written as JSON in random field order, decode to what was written.
    #[test]
    fn execution_reports_round_trip(
        qty in positive15(), cum in decimal15(), price in positive15(),
        uref in any::<i32>(), trade_id in any::<u64>(),
        side in prop_oneof![Just(Side::Buy), Just(Side::Sell)],
        ty in proptest::sample::select(OrderType::ALL.to_vec()),
        et in proptest::sample::select(ExecType::ALL.to_vec()),
        cl in "[a-zA-Z0-9 _-]{1,18}",
        micros in 0i64..4_000_000_000_000_000,
        shuffle in any::<u64>(),
    ) {
        let ts = Timestamp(micros);
        let mut fields = vec![
            format!(r#""order_id":"OABCDE-FGHIJ-KLMNOP""#),
            format!(r#""exec_type":"{}""#, et.as_str()),
            format!(r#""order_qty":{qty}"#),
            format!(r#""cum_qty":{cum}"#),
            format!(r#""last_price":{price}"#),
            format!(r#""order_userref":{uref}"#),
            format!(r#""trade_id":{trade_id}"#),
            format!(r#""side":"{}""#, side.as_str()),
            format!(r#""order_type":"{}""#, ty.as_str()),
            format!(r#""cl_ord_id":"{cl}""#),
            format!(r#""timestamp":"{ts}""#),
            r#""unknown_field":{"x":[1,2,{"y":null}]}"#.to_string(),
        ];
        // Deterministic shuffle from the seed.
        let mut s = shuffle;
        for i in (1..fields.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            fields.swap(i, (s >> 33) as usize % (i + 1));
        }
        let f = format!(r#"{{"channel":"executions","type":"update","data":[{{{}}}],"sequence":5}}"#, fields.join(","));
        let mut dec = Decoder::new();
        let Inbound::Executions { sequence, len, .. } = dec.decode(f.as_bytes(), &symbols()).unwrap() else { panic!() };
        prop_assert_eq!((sequence, len), (Some(5), 1));
        let r = dec.executions()[0];
        prop_assert_eq!(r.order_id.as_str(), "OABCDE-FGHIJ-KLMNOP");
        prop_assert_eq!(r.exec_type, Some(et));
        prop_assert_eq!(r.order_qty, Some(qty));
        prop_assert_eq!(r.cum_qty, Some(cum));
        prop_assert_eq!(r.last_price, Some(price));
        prop_assert_eq!(r.order_userref, Some(i64::from(uref)));
        prop_assert_eq!(r.trade_id, Some(trade_id));
        prop_assert_eq!(r.side, Some(side));
        prop_assert_eq!(r.order_type, Some(ty));
        let got_cl = r.cl_ord_id.unwrap();
        prop_assert_eq!(got_cl.as_str(), cl.as_str());
        prop_assert_eq!(r.timestamp, Some(ts));
    }

    /// Every add_order the builders can make encodes to valid JSON carrying its fields.
    #[test]
    fn add_order_encodes_valid_json(
        qty in positive15(), price in positive15(), off in positive15(),
        ty in proptest::sample::select(OrderType::ALL.to_vec()),
        tif in proptest::sample::select(vec![TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok]),
        post in any::<bool>(), reduce in any::<bool>(), id in "[a-z0-9\"\\\\]{1,18}",
    ) {
        let syms = symbols();
        let btc = syms.get("BTC/USD").unwrap();
        let mut o = match (ty.needs_triggers(), ty.needs_limit_price()) {
            (true, true) => AddOrder::triggered_limit(btc, Side::Sell, ty, qty, Triggers::offset(off, PriceType::Pct), price),
            (true, false) => AddOrder::triggered(btc, Side::Sell, ty, qty, Triggers::at(off).on_index()),
            (false, true) if ty == OrderType::Iceberg => AddOrder::iceberg(btc, Side::Buy, qty, price, qty),
            (false, true) => AddOrder::limit(btc, Side::Buy, qty, price),
            _ if ty == OrderType::SettlePosition => AddOrder::settle_position(btc, Side::Buy, qty),
            _ => AddOrder::market(btc, Side::Buy, qty),
        };
        o = o.time_in_force(tif).cl_ord_id(ClOrdId::new(&id).unwrap());
        o.post_only = post;
        o.reduce_only = reduce;
        let mut buf = Vec::new();
        encode::add_order(&mut buf, &o, &syms, "tok+/=", 99);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        prop_assert_eq!(v["method"].as_str(), Some("add_order"));
        prop_assert_eq!(v["req_id"].as_u64(), Some(99));
        let p = &v["params"];
        prop_assert_eq!(p["order_type"].as_str(), Some(ty.as_str()));
        prop_assert_eq!(p["symbol"].as_str(), Some("BTC/USD"));
        prop_assert_eq!(p["token"].as_str(), Some("tok+/="));
        prop_assert_eq!(p["cl_ord_id"].as_str(), Some(id.as_str()));
        prop_assert!(p["order_qty"].is_number());
        prop_assert_eq!(p["limit_price"].is_number(), ty.needs_limit_price());
        prop_assert_eq!(p["triggers"].is_object(), ty.needs_triggers());
        prop_assert_eq!(p["post_only"].as_bool().unwrap_or(false), post);
        prop_assert_eq!(p["reduce_only"].as_bool().unwrap_or(false), reduce);
        let tif_sent = p["time_in_force"].as_str().unwrap_or("gtc");
        prop_assert_eq!(tif_sent, tif.as_str());
    }
}

//! Hot-path pieces of the core: decode of an execution `trade` update (ours vs serde_json typed
//! deserialization of the same frame, in the same run), encode of `add_order`, tracker apply.
//!
//! Run: `cargo bench --bench codec`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kraken_exec::protocol::{Decoder, FrameKind, Inbound, encode};
use kraken_exec::{AddOrder, ClOrdId, OrderTracker, Side, SymbolTable, TrackerConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;

/// The documented single-fill `trade` update (Kraken's executions documentation), 563 bytes.
const TRADE: &str = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade","trade_id":62887576,"symbol":"BTC/USD","side":"sell","last_qty":0.005,"last_price":26599.9,"liquidity_ind":"t","cost":132.9995,"order_type":"limit","timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled","cum_qty":0.005,"cum_cost":132.9995,"avg_price":26599.9,"fee_usd_equiv":0.3458,"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}"#;

/// The typed struct a serde-based client would deserialize into (decimals via f64, as
/// kraken-async-rs does with `rust_decimal::serde::float`).
#[derive(Deserialize)]
#[allow(dead_code)]
struct Msg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    data: Vec<Exec<'a>>,
    sequence: u64,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Exec<'a> {
    order_id: &'a str,
    order_userref: Option<i64>,
    exec_id: Option<&'a str>,
    exec_type: &'a str,
    trade_id: Option<u64>,
    symbol: Option<&'a str>,
    side: Option<&'a str>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    last_qty: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    last_price: Option<Decimal>,
    liquidity_ind: Option<&'a str>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    cost: Option<Decimal>,
    order_type: Option<&'a str>,
    timestamp: &'a str,
    order_status: Option<&'a str>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    cum_qty: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    cum_cost: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    avg_price: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    fee_usd_equiv: Option<Decimal>,
    #[serde(borrow, default)]
    fees: Vec<FeeS<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FeeS<'a> {
    asset: &'a str,
    #[serde(with = "rust_decimal::serde::float")]
    qty: Decimal,
}

fn decode(c: &mut Criterion) {
    let syms = SymbolTable::from_names(["BTC/USD", "ETH/USD"]);
    let mut d = Decoder::new();
    let mut g = c.benchmark_group("decode_trade_update");
    g.bench_function("kraken_exec", |b| {
        b.iter(|| {
            let r = d.decode(black_box(TRADE.as_bytes()), &syms).unwrap();
            black_box((r, d.executions()[0].last_price));
        })
    });
    g.bench_function("serde_json_typed", |b| {
        b.iter(|| {
            let m: Msg<'_> = serde_json::from_str(black_box(TRADE)).unwrap();
            black_box(m.data[0].last_price);
        })
    });
    let mut buf = TRADE.as_bytes().to_vec();
    let mut buffers = simd_json::Buffers::new(TRADE.len());
    let mut tape = simd_json::Tape::null();
    let pad = simd_json::INPUT_PADDING;
    g.bench_function("simd_json_tape_only", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(TRADE.as_bytes());
            buf.resize(TRADE.len() + pad, 0);
            let mut t = std::mem::replace(&mut tape, simd_json::Tape(Vec::new())).reset();
            simd_json::fill_tape_padded(&mut buf, TRADE.len(), &mut buffers, &mut t).unwrap();
            black_box(t.0.len());
            tape = t.reset();
        })
    });
    g.finish();
}

fn encode_add(c: &mut Criterion) {
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let o = AddOrder::limit(
        syms.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(0.0125),
        dec!(65000.1),
    )
    .post_only()
    .cl_ord_id(ClOrdId::new("mm-bid-000123").unwrap());
    let mut out = Vec::with_capacity(512);
    let token = "G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY";
    c.bench_function("encode_add_order", |b| {
        b.iter(|| {
            encode::add_order(&mut out, black_box(&o), &syms, token, black_box(123_456));
            black_box(out.len());
        })
    });
    c.bench_function("validate_add_order", |b| {
        b.iter(|| {
            black_box(&o)
                .check_shape(kraken_exec::Timestamp(0))
                .unwrap()
        })
    });
}

fn tracker_apply(c: &mut Criterion) {
    let syms = SymbolTable::from_names(["BTC/USD", "ETH/USD"]);
    let mut d = Decoder::new();
    let mut t = OrderTracker::new(TrackerConfig::default(), syms.len());
    // One open order, then the same fill report applied repeatedly: after the first, each is a
    // duplicate; to measure the full new-fill path, exec ids are rotated through the frame.
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for i in 0..100_000u32 {
        frames.push(
            TRADE
                .replace("TGBB7L-HT5LX-J3BZ4A", &format!("T{i:018}"))
                .into_bytes(),
        );
    }
    let ack = br#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","symbol":"BTC/USD","order_qty":1000000,"exec_type":"new","side":"sell","order_status":"new"}],"sequence":1}"#;
    let Inbound::Executions { .. } = d.decode(ack, &syms).unwrap() else {
        panic!()
    };
    t.on_executions(FrameKind::Update, d.executions(), 0, &mut |_| {});
    let reports: Vec<_> = frames
        .iter()
        .map(|f| {
            d.decode(f, &syms).unwrap();
            d.executions()[0]
        })
        .collect();
    let mut i = 0usize;
    let mut events = 0u64;
    c.bench_function("tracker_apply_fill", |b| {
        b.iter(|| {
            let r = &reports[i % reports.len()];
            i += 1;
            t.on_executions(
                FrameKind::Update,
                std::slice::from_ref(r),
                i as u64,
                &mut |_| events += 1,
            );
        })
    });
    black_box(events);
}

criterion_group!(benches, decode, encode_add, tracker_apply);
criterion_main!(benches);

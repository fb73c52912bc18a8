//! The order book's hot path (issue 14): a `book` update decoded and applied, and Kraken's
//! checksum of the top ten checked, for updates of one and of ten levels; beside a serde-based
//! client's way in the same run (typed deserialization with decimals through `f64`, as
//! kraken-async-rs does, into `BTreeMap` sides; no checksum, which `f64` cannot reproduce).
//!
//! Run: `cargo bench --bench book`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kraken_exec::SymbolTable;
use kraken_exec::market::{Applied, Book};
use kraken_exec::protocol::{Decoder, Inbound};
use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Msg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    data: Vec<Data<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Data<'a> {
    symbol: &'a str,
    bids: Vec<Level>,
    asks: Vec<Level>,
    checksum: u32,
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct Level {
    #[serde(with = "rust_decimal::serde::float")]
    price: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    qty: Decimal,
}

fn level(p: u64, q: &str) -> String {
    format!(r#"{{"price":{}.{},"qty":{q}}}"#, p / 10, p % 10)
}

/// A snapshot of 10 levels a side, and 64 updates of `n` bid levels each, with the checksums
/// the book will have after each (so every apply is checked and matches).
fn frames(n: u64) -> (String, Vec<String>) {
    let bids: Vec<String> = (0..10).map(|i| level(650_000 - i, "0.50000000")).collect();
    let asks: Vec<String> = (0..10).map(|i| level(650_001 + i, "0.25000000")).collect();
    let snapshot = format!(
        r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}],"checksum":0}}]}}"#,
        bids.join(","),
        asks.join(",")
    );
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let mut d = Decoder::new();
    let mut shadow = Book::new(10);
    if let Ok(Inbound::Book { kind, .. }) = d.decode(snapshot.as_bytes(), &syms) {
        shadow.apply(kind, d.book_bids(), d.book_asks(), None);
    }
    let mut out = Vec::new();
    for i in 0..64u64 {
        let levels: Vec<String> = (0..n)
            .map(|k| {
                let q = if (i + k) % 4 == 0 { "0" } else { "1.25000000" };
                level(650_000 - (i * 3 + k) % 12, q)
            })
            .collect();
        let body = format!(
            r#"{{"channel":"book","type":"update","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[],"checksum":CS,"timestamp":"2024-10-03T02:46:57.050170Z"}}]}}"#,
            levels.join(",")
        );
        if let Ok(Inbound::Book { kind, .. }) = d.decode(body.replace("CS", "0").as_bytes(), &syms)
        {
            shadow.apply(kind, d.book_bids(), d.book_asks(), None);
        }
        out.push(body.replace("CS", &shadow.checksum().to_string()));
    }
    (snapshot, out)
}

fn bench(c: &mut Criterion) {
    let syms = SymbolTable::from_names(["BTC/USD"]);
    for n in [1u64, 10] {
        let (snapshot, updates) = frames(n);
        let mut g = c.benchmark_group(format!("book update of {n} level(s)"));
        g.bench_function("kraken_exec: decode + apply + checksum check", |b| {
            let mut d = Decoder::new();
            let mut book = Book::new(10);
            let reset = |d: &mut Decoder, book: &mut Book| {
                if let Ok(Inbound::Book { kind, .. }) = d.decode(snapshot.as_bytes(), &syms) {
                    book.apply(kind, d.book_bids(), d.book_asks(), None);
                }
            };
            reset(&mut d, &mut book);
            let mut i = 0;
            b.iter(|| {
                if i == updates.len() {
                    reset(&mut d, &mut book);
                    i = 0;
                }
                let f = &updates[i];
                i += 1;
                let Ok(Inbound::Book { kind, checksum, .. }) =
                    d.decode(black_box(f.as_bytes()), &syms)
                else {
                    panic!("a book frame")
                };
                let r = book.apply(kind, d.book_bids(), d.book_asks(), checksum);
                debug_assert_eq!(r, Applied::Ok);
                black_box(r)
            })
        });
        g.bench_function(
            "serde_json typed (f64) + BTreeMap apply, no checksum",
            |b| {
                let mut bids: BTreeMap<Decimal, Decimal> = BTreeMap::new();
                let mut i = 0;
                b.iter(|| {
                    if i == updates.len() {
                        bids.clear();
                        i = 0;
                    }
                    let f = &updates[i];
                    i += 1;
                    let m: Msg<'_> = serde_json::from_str(black_box(f)).unwrap();
                    for d in &m.data {
                        for l in &d.bids {
                            if l.qty.is_zero() {
                                bids.remove(&l.price);
                            } else {
                                bids.insert(l.price, l.qty);
                            }
                        }
                        while bids.len() > 10 {
                            let worst = *bids.keys().next().unwrap();
                            bids.remove(&worst);
                        }
                    }
                    black_box(bids.len())
                })
            },
        );
        g.finish();
    }
    let (snapshot, _) = frames(1);
    let mut d = Decoder::new();
    let mut book = Book::new(10);
    if let Ok(Inbound::Book { kind, .. }) = d.decode(snapshot.as_bytes(), &syms) {
        book.apply(kind, d.book_bids(), d.book_asks(), None);
    }
    c.bench_function("book checksum of the top ten (20 levels)", |b| {
        b.iter(|| black_box(&book).checksum())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

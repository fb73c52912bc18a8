//! Proves the hot path allocates nothing in steady state: encode, decode and tracker apply,
//! counted by a global allocator that counts this thread's allocations.

use kraken_exec::protocol::{Decoder, Inbound, encode};
use kraken_exec::{
    AddOrder, AmendOrder, ClOrdId, OrderRef, OrderTracker, RequestId, Side, SymbolTable,
    TrackerConfig,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static A: counting::Counting = counting::Counting;

use counting::allocs;

fn oid(i: u64) -> String {
    format!("O{:05}-{:05}-{:06}", i % 100_000, i % 7, i)
}

/// Frames for one order's life: ack, pending_new, new, two trades, filled.
fn frames(i: u64, req_id: u64) -> Vec<String> {
    let o = oid(i);
    vec![
        format!(
            r#"{{"method":"add_order","req_id":{req_id},"result":{{"order_id":"{o}","cl_ord_id":"c{i}"}},"success":true,"time_in":"2023-09-21T14:15:07.197274Z","time_out":"2023-09-21T14:15:07.205301Z"}}"#
        ),
        format!(
            r#"{{"channel":"executions","type":"update","data":[{{"order_id":"{o}","symbol":"BTC/USD","order_qty":1.0,"exec_type":"pending_new","side":"buy","order_type":"limit","limit_price":100.0,"order_status":"pending_new","cl_ord_id":"c{i}","timestamp":"2024-01-01T00:00:00.000001Z"}}],"sequence":{}}}"#,
            i * 5
        ),
        format!(
            r#"{{"channel":"executions","type":"update","data":[{{"timestamp":"2023-09-22T10:33:05.709982Z","order_status":"new","exec_type":"new","order_userref":0,"order_id":"{o}"}}],"sequence":{}}}"#,
            i * 5 + 1
        ),
        format!(
            r#"{{"channel":"executions","type":"update","data":[{{"order_id":"{o}","exec_id":"T{i}A","exec_type":"trade","trade_id":62887576,"symbol":"BTC/USD","side":"buy","last_qty":0.4,"last_price":99.9,"liquidity_ind":"t","cost":39.96,"order_type":"limit","timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled","cum_qty":0.4,"cum_cost":39.96,"avg_price":99.9,"fee_usd_equiv":0.1,"fees":[{{"asset":"USD","qty":0.1}}],"reason":"escaped \"text\""}}],"sequence":{}}}"#,
            i * 5 + 2
        ),
        format!(
            r#"{{"channel":"executions","type":"update","data":[{{"order_id":"{o}","exec_id":"T{i}B","exec_type":"trade","trade_id":62887577,"symbol":"BTC/USD","side":"buy","last_qty":0.6,"last_price":100.0,"liquidity_ind":"m","cost":60.0,"order_type":"limit","timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled","cum_qty":1.0,"cum_cost":99.96,"avg_price":99.96,"fee_usd_equiv":0.1,"fees":[{{"asset":"USD","qty":0.1}}]}}],"sequence":{}}}"#,
            i * 5 + 3
        ),
        format!(
            r#"{{"channel":"executions","type":"update","data":[{{"order_id":"{o}","exec_type":"filled","order_status":"filled","cum_qty":1.0,"avg_price":99.96,"timestamp":"2023-09-22T10:33:05.709999Z"}}],"sequence":{}}}"#,
            i * 5 + 4
        ),
    ]
}

#[test]
fn steady_state_encode_decode_and_track_allocate_nothing() {
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let btc = syms.get("BTC/USD").unwrap();
    let mut dec = Decoder::new();
    // A small retention makes the measured phase recycle slots and map entries.
    let mut cfg = TrackerConfig::default();
    cfg.retention = 500;
    let mut tracker = OrderTracker::new(cfg, syms.len());
    let mut out = Vec::with_capacity(1024);
    let token = "G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY";
    let mut sink_count = 0u64;

    // Prepare every frame up front (test setup allocates; the measured loop must not).
    let warm = 2_000u64;
    let measured = 2_000u64;
    let all: Vec<Vec<String>> = (0..warm + measured).map(|i| frames(i, i + 1)).collect();
    let orders: Vec<AddOrder> = (0..warm + measured)
        .map(|i| {
            AddOrder::limit(
                btc,
                Side::Buy,
                dec!(1.0),
                dec!(100.0) + Decimal::new(i as i64 % 10, 1),
            )
            .cl_ord_id(ClOrdId::with_counter("c", i).unwrap())
        })
        .collect();
    let amend = AmendOrder::new(OrderRef::ClOrdId(ClOrdId::new("c1").unwrap())).price(dec!(101.5));

    let mut run = |range: std::ops::Range<u64>,
                   dec: &mut Decoder,
                   tracker: &mut OrderTracker,
                   out: &mut Vec<u8>| {
        for i in range {
            let o = &orders[i as usize];
            o.check_shape(kraken_exec::Timestamp(0)).unwrap();
            encode::add_order(out, o, &syms, token, i + 1);
            tracker.submit_add(kraken_exec::RequestId(i + 1), o, i, &mut |_| {
                sink_count += 1
            });
            encode::amend_order(out, &amend, &syms, token, i + 1);
            for f in &all[i as usize] {
                match dec.decode(f.as_bytes(), &syms).unwrap() {
                    Inbound::Response(r) => {
                        tracker.on_response(&r, dec.batch(), i, &mut |_| sink_count += 1)
                    }
                    Inbound::Executions { kind, .. } => {
                        tracker.on_executions(kind, dec.executions(), i, &mut |_| sink_count += 1)
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    };
    run(0..warm, &mut dec, &mut tracker, &mut out);
    let before = allocs();
    run(warm..warm + measured, &mut dec, &mut tracker, &mut out);
    let after = allocs();
    assert_eq!(
        after - before,
        0,
        "allocations in {measured} steady-state order lifecycles"
    );
    // The work was real: every order filled, events were delivered.
    assert_eq!(tracker.stats().orders_filled, warm + measured);
    assert_eq!(tracker.stats().fills, 2 * (warm + measured));
    assert!(sink_count > 4 * (warm + measured));
    // And the counter does count on this thread.
    counting::assert_counts();
}

/// A journal append (a fill, an intent) allocates nothing: a record built in place, copied
/// into the map, no syscall under the default sync policy. Rotation (a new segment) is the one
/// place that allocates, once per segment; this run stays inside one.
#[test]
fn journal_appends_allocate_nothing() {
    use kraken_exec::journal::{Entry, FillEntry, Journal, JournalConfig};
    use kraken_exec::{AssetCode, ExecId, OrderId, SymbolId, Timestamp};
    let dir = std::env::temp_dir().join(format!("kxj-alloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut j, _) = Journal::open(JournalConfig::new(&dir), "key", &["BTC/USD"]).unwrap();
    let fill = Entry::Fill(FillEntry {
        exec_id: ExecId::new("TZX2WP-XSEOP-FJP7PL").unwrap(),
        order_id: OrderId::new("OAVY7T-MV5VK-KHDF5X").unwrap(),
        cl_ord_id: Some(ClOrdId::new("mm-bid-000001").unwrap()),
        symbol: SymbolId(0),
        side: Some(Side::Buy),
        qty: dec!(0.5),
        price: dec!(64999.9),
        fee: Some(dec!(0.0845)),
        fee_asset: AssetCode::new("USD").unwrap(),
        liquidity: None,
        timestamp: Some(Timestamp(1_735_689_600_123_456)),
        historical: false,
    });
    let intent = Entry::Intent {
        req_id: RequestId(7),
        method: kraken_exec::protocol::messages::Method::AddOrder,
        cl_ord_id: Some(ClOrdId::new("mm-bid-000002").unwrap()),
        order_id: None,
        symbol: SymbolId(0),
        side: Some(Side::Sell),
        qty: Some(dec!(0.1)),
        price: Some(dec!(65000)),
        deadline: Some(Timestamp(1_735_689_605_000_000)),
        validate: false,
    };
    for i in 0..100 {
        j.append(&fill, i, 0).unwrap();
    }
    let before = allocs();
    for i in 0..10_000 {
        j.append(&fill, i, 0).unwrap();
        j.append(&intent, i, 0).unwrap();
    }
    assert_eq!(allocs() - before, 0, "allocations in 20,000 appends");
    counting::assert_counts();
    drop(j);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A book frame decoded and applied, and Kraken's checksum computed, allocate nothing once the
/// book and the decoder are built: a snapshot of 10 levels a side, then updates of one and of
/// ten levels (inserts, changes and removals), each checksummed.
/// A snapshot of 10 levels a side, then 200 updates of one and of ten levels (inserts,
/// changes and removals), each with the checksum the book will have.
fn book_frames() -> (String, Vec<String>) {
    use kraken_exec::market::Book;
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let mut d = Decoder::new();
    let level = |p: u64, q: &str| format!(r#"{{"price":{}.{},"qty":{q}}}"#, p / 10, p % 10);
    let bids: Vec<String> = (0..10).map(|i| level(650_000 - i, "0.50000000")).collect();
    let asks: Vec<String> = (0..10).map(|i| level(650_001 + i, "0.25000000")).collect();
    let snapshot = format!(
        r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}]}}]}}"#,
        bids.join(","),
        asks.join(",")
    );
    let Inbound::Book { kind, .. } = d.decode(snapshot.as_bytes(), &syms).unwrap() else {
        panic!("book");
    };
    let mut shadow = Book::new(10);
    shadow.apply(kind, d.book_bids(), d.book_asks(), None);
    let mut frames = Vec::new();
    for i in 0..200u64 {
        let n = if i % 2 == 0 { 1 } else { 10 };
        let levels: Vec<String> = (0..n)
            .map(|k| {
                let p = 650_000 - (i * 7 + k) % 15;
                level(p, if (i + k) % 3 == 0 { "0" } else { "1.25000000" })
            })
            .collect();
        let body = format!(
            r#"{{"channel":"book","type":"update","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[],"checksum":CS,"timestamp":"2024-10-03T02:46:57.050170Z"}}]}}"#,
            levels.join(",")
        );
        let Inbound::Book { kind, .. } =
            d.decode(body.replace("CS", "0").as_bytes(), &syms).unwrap()
        else {
            panic!("book");
        };
        shadow.apply(kind, d.book_bids(), d.book_asks(), None);
        frames.push(body.replace("CS", &shadow.checksum().to_string()));
    }
    (snapshot, frames)
}

#[test]
fn book_frames_decode_apply_and_checksum_allocate_nothing() {
    use kraken_exec::market::{Applied, Book};
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let mut d = Decoder::new();
    let mut book = Book::new(10);
    let (snapshot, frames) = book_frames();
    let Inbound::Book { kind, .. } = d.decode(snapshot.as_bytes(), &syms).unwrap() else {
        panic!("book");
    };
    book.apply(kind, d.book_bids(), d.book_asks(), None);
    let before = allocs();
    for f in &frames {
        let Inbound::Book { kind, checksum, .. } = d.decode(f.as_bytes(), &syms).unwrap() else {
            panic!("book");
        };
        assert_eq!(
            book.apply(kind, d.book_bids(), d.book_asks(), checksum),
            Applied::Ok
        );
    }
    assert_eq!(allocs() - before, 0, "allocations in 200 book frames");
}

/// The engine's path of a book frame, wire to strategy, allocates nothing: the public
/// socket's session decodes it into chunks (I/O thread), the strategy side's books gather and
/// apply them and check the checksum.
#[test]
fn the_public_session_and_the_books_allocate_nothing_per_frame() {
    use kraken_exec::internals::EngineStats;
    use kraken_exec::internals::{BookOutcome, Books, MarketConfig, MarketSession};
    use kraken_exec::internals::{Event, MarketCommand};
    use kraken_exec::protocol::MarketChannel;
    let btc = kraken_exec::SymbolId(0);
    let cfg = MarketConfig::default();
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let mut s = MarketSession::new(cfg, syms, std::sync::Arc::new(EngineStats::default()), 0);
    s.handle_command(
        0,
        MarketCommand::Subscribe {
            symbol: btc,
            channel: MarketChannel::Book { depth: 10 },
        },
    );
    assert!(s.poll_connect(0));
    s.handle_connected(1);
    let mut sub = String::new();
    while let Some(kraken_exec::internals::Transmit::Text(f)) = s.poll_transmit() {
        sub = String::from_utf8(f.to_vec()).unwrap();
    }
    // Acknowledged, as Kraken does before the snapshot.
    let id: serde_json::Value = serde_json::from_str(&sub).unwrap();
    let ack = format!(
        r#"{{"method":"subscribe","req_id":{},"result":{{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"}},"success":true,"time_in":"2026-12-02T10:00:00.000000Z","time_out":"2026-12-02T10:00:00.000001Z"}}"#,
        id["req_id"]
    );
    s.handle_frame(1, ack.as_bytes());
    let mut books = Books::new();
    books.track(btc, 10);
    let (snapshot, frames) = book_frames();
    let run = |s: &mut MarketSession, books: &mut Books, f: &str, now: u64| {
        s.handle_frame(now, f.as_bytes());
        let mut changed = 0;
        while let Some(ev) = s.poll_event() {
            if let Event::Book(c) = ev
                && books.on_chunk(&c) == BookOutcome::Changed
            {
                changed += 1;
            }
        }
        changed
    };
    assert_eq!(run(&mut s, &mut books, &snapshot, 2), 1);
    let before = allocs();
    let mut changed = 0;
    for (i, f) in frames.iter().enumerate() {
        changed += run(&mut s, &mut books, f, 3 + i as u64);
    }
    assert_eq!(allocs() - before, 0, "allocations in 200 book frames");
    assert_eq!(changed, 200, "every frame applied and checked");
}

/// A trade frame with `n` trades.
fn trade_frame(n: u64) -> String {
    let trades: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"symbol":"BTC/USD","side":"buy","price":{}.{},"qty":0.{:08},"ord_type":"limit","trade_id":{},"timestamp":"2023-09-25T07:49:37.708706Z"}}"#,
                26_000 + i,
                i % 10,
                i + 1,
                4_665_906 + i
            )
        })
        .collect();
    format!(
        r#"{{"channel":"trade","type":"update","data":[{}]}}"#,
        trades.join(",")
    )
}

/// `Decoder::new` and `Decoder::reserve` size every buffer, simd-json's included, for frames up
/// to the length and element count they name, so the first such frame read on the hot path
/// allocates nothing (no warm-up frame needed).
#[test]
fn a_new_decoder_takes_its_first_frames_up_to_what_it_reserved_without_allocating() {
    let syms = SymbolTable::from_names(["BTC/USD"]);
    // `new` reserves for 4,096 bytes: a trade frame just under that.
    let mut n = 1;
    while trade_frame(n + 1).len() <= 4_096 {
        n += 1;
    }
    let small = trade_frame(n);
    assert!(small.len() > 3_900, "{}", small.len());
    let mut d = Decoder::new();
    let before = allocs();
    assert!(matches!(
        d.decode(small.as_bytes(), &syms),
        Ok(Inbound::Trade { .. })
    ));
    assert_eq!(d.trades().len() as u64, n);
    assert_eq!(
        allocs() - before,
        0,
        "allocations on a new decoder's first 4 KiB frame"
    );

    // `reserve` for 200 elements in up to 30,000 bytes.
    let big = trade_frame(200);
    assert!(big.len() <= 30_000 && big.len() > 29_000, "{}", big.len());
    let mut d = Decoder::new();
    d.reserve(30_000, 200);
    let before = allocs();
    assert!(matches!(
        d.decode(big.as_bytes(), &syms),
        Ok(Inbound::Trade { .. })
    ));
    assert_eq!(d.trades().len(), 200);
    assert_eq!(
        allocs() - before,
        0,
        "allocations on the first frame after reserve"
    );
}

//! Market data on frames captured from Kraken and from kraken-sim: the book and Kraken's checksum
//! through the real decoder and the real book (the digits as sent, trailing zeros included,
//! must give Kraken's CRC32), and `trade` and `ticker` decoded exactly.
//!
//! Source of the captured frames: `tests/fixtures/captured/book-algo-usd.jsonl`, from the README of
//! github.com/WillySeahh/gsrTest (`readMe.md` @ 5f84e1cd), which prints the first frames its
//! client received from `wss://ws.kraken.com/v2` for ALGO/USD on 2024-10-03: a snapshot of
//! ten levels a side, then an update, each with Kraken's checksum (see the fixtures' README).

use kraken_exec::SymbolTable;
use kraken_exec::market::{Applied, Book};
use kraken_exec::protocol::{Decoder, Inbound};

const CAPTURE: &str = include_str!("fixtures/captured/book-algo-usd.jsonl");

fn frame(n: usize) -> &'static str {
    CAPTURE.lines().nth(n).unwrap()
}

fn apply(d: &mut Decoder, book: &mut Book, frame: &str, syms: &SymbolTable) -> (Applied, u32) {
    let Inbound::Book {
        kind,
        symbol,
        checksum,
        ..
    } = d.decode(frame.as_bytes(), syms).unwrap()
    else {
        panic!("not a book frame");
    };
    assert_eq!(Some(symbol), syms.get("ALGO/USD"));
    let r = book.apply(kind, d.book_bids(), d.book_asks(), checksum);
    (r, checksum.unwrap())
}

#[test]
fn kraken_s_own_frames_give_kraken_s_checksums() {
    let syms = SymbolTable::from_names(["ALGO/USD"]);
    let mut d = Decoder::new();
    let mut book = Book::new(10);
    let (r, expected) = apply(&mut d, &mut book, frame(1), &syms);
    assert_eq!(r, Applied::Ok, "snapshot");
    assert_eq!(book.checksum(), expected);
    assert_eq!(book.bids().len(), 10);
    assert_eq!(book.best_bid().unwrap().price.to_string(), "0.12291");
    assert_eq!(book.best_ask().unwrap().price.to_string(), "0.12307");
    // Trailing zeros are the frame's own and count in the checksum.
    assert_eq!(book.bids()[4].qty.to_string(), "9705.60000000");
    let (r, expected) = apply(&mut d, &mut book, frame(2), &syms);
    assert_eq!(r, Applied::Ok, "update");
    assert_eq!(book.checksum(), expected);
    assert_eq!(book.bids()[6].qty.to_string(), "6597.51731160");
}

/// One digit off anywhere in the top ten (here the update's quantity) is a mismatch, and the
/// book says it is no longer in sync.
#[test]
fn a_changed_digit_is_a_mismatch() {
    let syms = SymbolTable::from_names(["ALGO/USD"]);
    let mut d = Decoder::new();
    let mut book = Book::new(10);
    apply(&mut d, &mut book, frame(1), &syms);
    let wrong = frame(2).replace("6597.51731160", "6597.51731161");
    let (r, _) = apply(&mut d, &mut book, &wrong, &syms);
    assert!(
        matches!(
            r,
            Applied::Mismatch {
                expected: 1100635717,
                ..
            }
        ),
        "{r:?}"
    );
    assert!(!book.is_valid());
    // A trailing zero dropped (what a float round trip does) is a mismatch too.
    let mut book = Book::new(10);
    let floaty = frame(1).replace("9705.60000000", "9705.6");
    let (r, _) = apply(&mut d, &mut book, &floaty, &syms);
    assert!(matches!(r, Applied::Mismatch { .. }), "{r:?}");
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A kraken-sim whose market walks every 20 ms, and a WebSocket to it reading with a short
/// timeout.
fn sim_and_socket() -> (kraken_sim::Sim, Ws) {
    use std::time::Duration;
    let s = kraken_sim::Sim::start(kraken_sim::SimConfig {
        walk_interval: Duration::from_millis(20),
        ..kraken_sim::SimConfig::default()
    })
    .unwrap();
    let (w, _) = tungstenite::connect(s.ws_url()).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = w.get_ref() {
        t.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    (s, w)
}

/// kraken-sim publishes `book` as Kraken does: a snapshot, then updates as its market walks,
/// each with a checksum our book reproduces; after the `corrupt-book` fault the book
/// mismatches, and a resubscription (a new snapshot) puts it right.
#[test]
fn the_simulator_s_book_keeps_kraken_s_checksums_and_its_fault_is_caught() {
    use std::time::{Duration, Instant};
    use tungstenite::Message;
    let (s, mut w) = sim_and_socket();
    let sub = |w: &mut Ws, m: &str| {
        w.send(Message::text(format!(
            r#"{{"method":"{m}","params":{{"channel":"book","symbol":["BTC/USD"],"depth":10}},"req_id":7}}"#
        )))
        .unwrap();
    };
    sub(&mut w, "subscribe");
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let mut d = Decoder::new();
    let mut book = Book::new(10);
    let (mut ok, mut bad, mut snapshots) = (0, 0, 0);
    let mut faulted = false;
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end && !(faulted && ok >= 40 && snapshots >= 2) {
        let Ok(Message::Text(t)) = w.read() else {
            continue;
        };
        let Ok(Inbound::Book { kind, checksum, .. }) = d.decode(t.as_bytes(), &syms) else {
            continue;
        };
        if kind == kraken_exec::protocol::FrameKind::Snapshot {
            snapshots += 1;
        }
        match book.apply(kind, d.book_bids(), d.book_asks(), checksum) {
            Applied::Ok => ok += 1,
            Applied::Mismatch { .. } => {
                bad += 1;
                // What the engine will do: start again from a snapshot.
                sub(&mut w, "unsubscribe");
                sub(&mut w, "subscribe");
            }
            Applied::NoSnapshot => {}
        }
        if ok == 20 && !faulted {
            s.fault("corrupt-book:1").unwrap();
            faulted = true;
        }
        let (b, a) = (book.best_bid(), book.best_ask());
        if let (Some(b), Some(a)) = (b, a) {
            assert!(b.price < a.price, "crossed: {} / {}", b.price, a.price);
        }
    }
    assert!(ok >= 40, "{ok} frames matched");
    assert_eq!(bad, 1, "the corrupted update, and only it, mismatched");
    assert!(
        snapshots >= 2 && book.is_valid(),
        "resubscribed and in sync again"
    );
}

/// `trade` and `ticker` frames (in the shape Kraken's documentation gives them) decode into
/// typed entries with every figure exact, digits as sent.
#[test]
fn trade_and_ticker_frames_decode_exactly() {
    use kraken_exec::Side;
    let syms = SymbolTable::from_names(["MATIC/USD", "ALGO/USD"]);
    let mut d = Decoder::new();
    let trade = r#"{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.00000000,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"},{"symbol":"MATIC/USD","side":"buy","price":0.5118,"qty":1.5,"ord_type":"limit","trade_id":4665907,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#;
    let Ok(Inbound::Trade { len: 2, .. }) = d.decode(trade.as_bytes(), &syms) else {
        panic!("two trades");
    };
    let t = d.trades()[0];
    assert_eq!(t.symbol, syms.get("MATIC/USD").unwrap());
    assert_eq!((t.side, t.trade_id), (Some(Side::Sell), Some(4665906)));
    assert_eq!(
        (t.price.to_string(), t.qty.to_string()),
        ("0.5117".into(), "40.00000000".into())
    );
    assert_eq!(
        t.timestamp.unwrap().to_string(),
        "2023-09-25T07:49:37.708706Z"
    );
    assert_eq!(d.trades()[1].side, Some(Side::Buy));
    let ticker = r#"{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10035,"ask_qty":740.0,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17}]}"#;
    let Ok(Inbound::Ticker { len: 1, .. }) = d.decode(ticker.as_bytes(), &syms) else {
        panic!("a ticker");
    };
    let k = d.tickers()[0];
    assert_eq!(k.symbol, syms.get("ALGO/USD").unwrap());
    let s = |v: Option<rust_decimal::Decimal>| v.unwrap().to_string();
    assert_eq!(
        [
            s(k.bid),
            s(k.bid_qty),
            s(k.ask),
            s(k.volume),
            s(k.change),
            s(k.change_pct)
        ],
        [
            "0.10025",
            "740.0",
            "0.10035",
            "997038.98383185",
            "-0.00017",
            "-0.17"
        ]
    );
    // A pair not interned is named UNKNOWN, never another pair.
    let other = ticker.replace("ALGO/USD", "DOGE/USD");
    d.decode(other.as_bytes(), &syms).unwrap();
    assert_eq!(d.tickers()[0].symbol, kraken_exec::SymbolId::UNKNOWN);
}

/// kraken-sim's public tape: a `trade` snapshot then updates as its market trades with itself
/// (trade ids in sequence per pair), our own fills on it with their figures, and `ticker`
/// updates with a bid below the ask; all decoded by the engine's decoder.
#[test]
fn the_simulator_s_tape_and_ticker_move_and_carry_our_fills() {
    use std::time::{Duration, Instant};
    use tungstenite::Message;
    let (s, mut w) = sim_and_socket();
    for ch in ["trade", "ticker"] {
        w.send(Message::text(format!(
            r#"{{"method":"subscribe","params":{{"channel":"{ch}","symbol":["BTC/USD"]}},"req_id":1}}"#
        )))
        .unwrap();
    }
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let mut d = Decoder::new();
    let (mut trades, mut tickers, mut snapshots) = (Vec::new(), 0, 0);
    let mut injected = false;
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && !(trades.len() >= 20 && tickers >= 5 && injected) {
        if trades.len() >= 10 && !injected {
            // A resting sell of ours, then a counterparty takes part of it.
            s.with_exchange(|e| {
                let n = kraken_sim::exchange::NewOrder {
                    symbol: "BTC/USD".into(),
                    buy: false,
                    order_type: "limit".into(),
                    qty: Some(rust_decimal_macros::dec!(0.5)),
                    limit_price: Some(e.pairs[0].ref_price + rust_decimal_macros::dec!(50)),
                    tif: "gtc".into(),
                    ..Default::default()
                };
                e.add_order(0, &n, s.now()).unwrap();
            });
            s.inject_aggressive_order("BTC/USD", true, rust_decimal_macros::dec!(0.5))
                .unwrap();
            injected = true;
        }
        let Ok(Message::Text(t)) = w.read() else {
            continue;
        };
        match d.decode(t.as_bytes(), &syms) {
            Ok(Inbound::Trade { kind, .. }) => {
                if kind == kraken_exec::protocol::FrameKind::Snapshot {
                    snapshots += 1;
                }
                trades.extend_from_slice(d.trades());
            }
            Ok(Inbound::Ticker { .. }) => {
                let k = d.tickers()[0];
                assert!(k.bid.unwrap() < k.ask.unwrap(), "{k:?}");
                assert!(k.last.is_some() && k.volume.is_some());
                tickers += 1;
            }
            _ => {}
        }
    }
    assert!(snapshots >= 1, "a trade snapshot");
    assert!(trades.len() >= 20, "{} trades", trades.len());
    let ids: Vec<u64> = trades.iter().map(|t| t.trade_id.unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "ids in sequence: {ids:?}"
    );
    // The market stops; what it traded meanwhile is read off the tape too.
    s.with_exchange(|e| e.market_flow = false);
    let quiet = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet {
        if let Ok(Message::Text(t)) = w.read()
            && let Ok(Inbound::Trade { .. }) = d.decode(t.as_bytes(), &syms)
        {
            trades.extend_from_slice(d.trades());
        }
    }
    // Each fill of our resting sell (the injected taker's, and the market flow's) is on the
    // tape with its figures, as the taker's buy.
    let ours = s.ledger()["fills"].as_array().unwrap().clone();
    assert!(!ours.is_empty());
    let dec =
        |v: &serde_json::Value| -> rust_decimal::Decimal { v.as_str().unwrap().parse().unwrap() };
    for f in &ours {
        let (q, px) = (dec(&f["qty"]), dec(&f["price"]));
        assert!(
            trades
                .iter()
                .any(|t| t.qty == q && t.price == px && t.side == Some(kraken_exec::Side::Buy)),
            "our fill {q} @ {px} is on the tape as the taker's buy"
        );
    }
    assert!(tickers >= 5);
}

/// The engine end to end: its public socket subscribes the simulator's book, trades and
/// ticker; every book handed to the strategy matches Kraken's checksum and is not crossed; a
/// corrupted update is caught, reported, never handed out, and the book rebuilt from a new
/// snapshot.
#[test]
fn the_engine_s_book_is_checked_withheld_when_wrong_and_rebuilt() {
    use kraken_exec::engine::{self, ConnectionState, EngineConfig, Strategy};
    use kraken_exec::market::BookInvalid;
    use kraken_exec::protocol::{PublicTrade, Ticker};
    use std::time::{Duration, Instant};

    #[derive(Default)]
    struct S {
        books: u32,
        books_after_invalid: u32,
        invalid: Vec<BookInvalid>,
        trades: u32,
        tickers: u32,
        market_ready: bool,
    }
    impl Strategy for S {
        fn on_book(&mut self, _: kraken_exec::SymbolId, book: &Book) {
            assert!(book.is_valid());
            if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                assert!(b.price < a.price, "crossed: {} / {}", b.price, a.price);
            }
            self.books += 1;
            if !self.invalid.is_empty() {
                self.books_after_invalid += 1;
            }
        }
        fn on_book_invalid(&mut self, _: kraken_exec::SymbolId, why: BookInvalid) {
            self.invalid.push(why);
        }
        fn on_trade(&mut self, t: &PublicTrade, _: bool) {
            assert!(t.price > rust_decimal::Decimal::ZERO && t.qty > rust_decimal::Decimal::ZERO);
            self.trades += 1;
        }
        fn on_ticker(&mut self, _: &Ticker) {
            self.tickers += 1;
        }
        fn on_market_connection(&mut self, s: ConnectionState) {
            self.market_ready |= s == ConnectionState::Ready;
        }
    }

    let sim = kraken_sim::Sim::start(kraken_sim::SimConfig {
        walk_interval: Duration::from_millis(20),
        ..kraken_sim::SimConfig::default()
    })
    .unwrap();
    let mut trader = engine::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    let mut s = S::default();
    assert!(trader.wait_ready(&mut s, Duration::from_secs(10)));
    let btc = trader.symbol("BTC/USD").unwrap();
    assert!(
        trader.subscribe_book(btc, 7).is_err(),
        "a depth Kraken does not offer"
    );
    trader.subscribe_book(btc, 10).unwrap();
    trader.subscribe_trades(btc).unwrap();
    trader.subscribe_ticker(btc).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let mut faulted = false;
    while Instant::now() < end && !(s.books_after_invalid >= 10 && s.trades > 0 && s.tickers > 0) {
        trader.poll(&mut s);
        if s.books >= 10 && !faulted {
            sim.fault("corrupt-book:1").unwrap();
            faulted = true;
        }
        if !s.invalid.is_empty() && s.books_after_invalid == 0 {
            assert!(trader.book(btc).is_none(), "a wrong book is not handed out");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(s.market_ready, "every subscription acknowledged");
    assert!(s.books >= 10, "{} books", s.books);
    assert!(
        matches!(s.invalid.as_slice(), [BookInvalid::ChecksumMismatch { .. }]),
        "the corrupted update, and only it: {:?}",
        s.invalid
    );
    assert!(s.books_after_invalid >= 10, "rebuilt from a new snapshot");
    assert!(
        trader
            .book(btc)
            .is_some_and(|b| b.is_valid() && b.bids().len() == 10)
    );
    assert!(
        s.trades > 0 && s.tickers > 0,
        "{} trades, {} tickers",
        s.trades,
        s.tickers
    );
    let st = trader.statistics().market;
    assert_eq!(
        (st.book_mismatches, st.book_resyncs, st.connects),
        (1, 1, 1),
        "{st:?}"
    );
    assert!(
        st.book_frames >= 20 && st.book_to_strategy.count > 0,
        "{st:?}"
    );

    // The sockets are dropped: the book is withheld until the reconnect's snapshot.
    let books = s.books;
    sim.fault("drop-now").unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && !(s.invalid.len() == 2 && s.books >= books + 10) {
        trader.poll(&mut s);
        if s.invalid.len() == 2 && s.books == books {
            assert!(
                trader.book(btc).is_none(),
                "no book while the public socket is down"
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        s.invalid.get(1),
        Some(&BookInvalid::Disconnected),
        "{:?}",
        s.invalid
    );
    assert!(s.books >= books + 10, "rebuilt after the reconnect");
    let st = trader.statistics().market;
    assert_eq!(
        (st.connects, st.disconnects, st.book_resyncs),
        (2, 1, 1),
        "{st:?}"
    );
    let _ = trader.shutdown();
}

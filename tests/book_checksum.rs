//! Kraken's book checksum on frames captured from Kraken itself, through the real decoder and
//! the real book: the digits as sent (trailing zeros included) must give Kraken's CRC32.
//!
//! Source of the frames: the README of github.com/WillySeahh/gsrTest, which prints the first
//! two `book` frames its client received from `wss://ws.kraken.com/v2` for ALGO/USD on
//! 2024-10-03 (a snapshot of ten levels a side, then an update), each with Kraken's checksum.

use kraken_exec::SymbolTable;
use kraken_exec::market::{Applied, Book};
use kraken_exec::protocol::{Decoder, Inbound};

const SNAPSHOT: &str = r#"{"channel":"book","type":"snapshot","data":[{"symbol":"ALGO/USD","bids":[{"price":0.12291,"qty":27039.62776299},{"price":0.12290,"qty":8136.33288180},{"price":0.12287,"qty":10984.20817349},{"price":0.12283,"qty":28027.05025639},{"price":0.12280,"qty":9705.60000000},{"price":0.12279,"qty":15215.53522714},{"price":0.12275,"qty":4067.00000000},{"price":0.12274,"qty":30639.39949109},{"price":0.12268,"qty":2531.96119986},{"price":0.12267,"qty":16299.00000000}],"asks":[{"price":0.12307,"qty":600.00000000},{"price":0.12308,"qty":4042.11919517},{"price":0.12312,"qty":10284.53891000},{"price":0.12314,"qty":16155.08885299},{"price":0.12315,"qty":5186.05778473},{"price":0.12316,"qty":32828.24000000},{"price":0.12317,"qty":7751.65718582},{"price":0.12318,"qty":32298.82000000},{"price":0.12319,"qty":1864.66899600},{"price":0.12322,"qty":4718.99755630}],"checksum":2375857985}]}"#;
const UPDATE: &str = r#"{"channel":"book","type":"update","data":[{"symbol":"ALGO/USD","bids":[{"price":0.12275,"qty":6597.51731160}],"asks":[],"checksum":1100635717,"timestamp":"2024-10-03T02:46:57.050170Z"}]}"#;

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
    let (r, expected) = apply(&mut d, &mut book, SNAPSHOT, &syms);
    assert_eq!(r, Applied::Ok, "snapshot");
    assert_eq!(book.checksum(), expected);
    assert_eq!(book.bids().len(), 10);
    assert_eq!(book.best_bid().unwrap().price.to_string(), "0.12291");
    assert_eq!(book.best_ask().unwrap().price.to_string(), "0.12307");
    // Trailing zeros are the frame's own and count in the checksum.
    assert_eq!(book.bids()[4].qty.to_string(), "9705.60000000");
    let (r, expected) = apply(&mut d, &mut book, UPDATE, &syms);
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
    apply(&mut d, &mut book, SNAPSHOT, &syms);
    let wrong = UPDATE.replace("6597.51731160", "6597.51731161");
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
    let floaty = SNAPSHOT.replace("9705.60000000", "9705.6");
    let (r, _) = apply(&mut d, &mut book, &floaty, &syms);
    assert!(matches!(r, Applied::Mismatch { .. }), "{r:?}");
}

//! One pair's order book from Kraken's `book` channel, sans-IO: a snapshot, then updates, each
//! checked against Kraken's CRC32 of the top ten levels.
//!
//! Levels are kept best first in two vectors allocated once (for the subscribed depth and the
//! levels one frame can add before it is truncated), with exact decimals: the digits each
//! level arrived with, since the checksum is over them. Applying a frame and computing the
//! checksum allocate nothing.
//!
//! Kraken's rules (docs.kraken.com, "Book checksum (WebSocket v2)"): apply every level of a
//! frame, a quantity of zero removing its level; then truncate each side to the subscribed
//! depth (Kraken sends no removal for levels that fall out of it); the checksum is the CRC32
//! (IEEE) of the top ten asks, low to high, then the top ten bids, high to low, each level
//! written as its price then its quantity with the decimal point and leading zeros removed.

use rust_decimal::Decimal;

use crate::protocol::messages::{BookLevel, FrameKind};
use crate::types::Side;

/// Levels Kraken sends in one checksummed view.
pub const CHECKSUM_LEVELS: usize = 10;

/// The depths Kraken's `book` channel offers.
pub const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];

/// A level of the book: its price and quantity as sent, and (kept with them, so a checksum
/// renders only what changed) the digits Kraken's checksum takes of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    text: [u8; TEXT],
    len: u8,
}

/// Room for a level's checksum digits: two mantissas of at most 29 digits each... in practice
/// 19 (Kraken's prices and quantities fit a `u64` mantissa); longer ones are cut, which only
/// makes their checksum mismatch.
const TEXT: usize = 40;

impl Level {
    fn of(l: BookLevel) -> Self {
        let mut lv = Level {
            price: l.price,
            qty: l.qty,
            text: [0; TEXT],
            len: 0,
        };
        let n = write_digits(l.price, &mut lv.text);
        let m = write_digits(l.qty, &mut lv.text[n..]);
        lv.len = (n + m) as u8;
        lv
    }

    /// The level as the decoder gives it.
    pub fn as_book_level(&self) -> BookLevel {
        BookLevel {
            price: self.price,
            qty: self.qty,
        }
    }
}

/// What applying a frame found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The book matches the frame's checksum (or the frame carried none).
    Ok,
    /// The book does not match: it is not to be trusted until a new snapshot.
    Mismatch {
        /// Kraken's checksum.
        expected: u32,
        /// Ours.
        computed: u32,
    },
    /// An update before any snapshot: ignored.
    NoSnapshot,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Book {
    depth: usize,
    /// Best (highest) first.
    bids: Vec<Level>,
    /// Best (lowest) first.
    asks: Vec<Level>,
    /// A snapshot was applied and nothing since mismatched.
    valid: bool,
}

impl Book {
    /// An empty book for a subscription of `depth` levels (one of [`DEPTHS`]; others are
    /// kept as given, at least the ten the checksum covers).
    pub fn new(depth: usize) -> Self {
        let room = frame_room(depth);
        Self {
            depth: depth.max(CHECKSUM_LEVELS),
            bids: Vec::with_capacity(room),
            asks: Vec::with_capacity(room),
            valid: false,
        }
    }

    /// The subscribed depth.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether the book is in sync: a snapshot applied, no mismatch since.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// Bids, best (highest price) first.
    pub fn bids(&self) -> &[Level] {
        &self.bids
    }

    /// Asks, best (lowest price) first.
    pub fn asks(&self) -> &[Level] {
        &self.asks
    }

    /// The best bid.
    pub fn best_bid(&self) -> Option<BookLevel> {
        self.bids.first().map(Level::as_book_level)
    }

    /// The best ask.
    pub fn best_ask(&self) -> Option<BookLevel> {
        self.asks.first().map(Level::as_book_level)
    }

    /// The quantity resting at `price` on `side`.
    pub fn qty_at(&self, side: Side, price: Decimal) -> Option<Decimal> {
        let levels = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        find(levels, side, price).ok().map(|i| levels[i].qty)
    }

    /// Forgets every level (a resubscription follows).
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.valid = false;
    }

    /// Applies a `book` frame's levels and checks the result against its checksum.
    pub fn apply(
        &mut self,
        kind: FrameKind,
        bids: &[BookLevel],
        asks: &[BookLevel],
        checksum: Option<u32>,
    ) -> Applied {
        match kind {
            FrameKind::Snapshot => {
                self.bids.clear();
                self.asks.clear();
                self.valid = true;
            }
            FrameKind::Update if !self.valid => return Applied::NoSnapshot,
            FrameKind::Update => {}
        }
        for l in bids {
            upsert(&mut self.bids, Side::Buy, *l, self.depth);
        }
        for l in asks {
            upsert(&mut self.asks, Side::Sell, *l, self.depth);
        }
        self.bids.truncate(self.depth);
        self.asks.truncate(self.depth);
        match checksum {
            Some(expected) => {
                let computed = self.checksum();
                if computed == expected {
                    Applied::Ok
                } else {
                    self.valid = false;
                    Applied::Mismatch { expected, computed }
                }
            }
            None => Applied::Ok,
        }
    }

    /// Kraken's checksum of the top ten levels (see the module documentation): the digits each
    /// level keeps, one after another, then one CRC32 over them.
    pub fn checksum(&self) -> u32 {
        let mut buf = [0u8; 2 * CHECKSUM_LEVELS * TEXT];
        let mut n = 0;
        for l in self
            .asks
            .iter()
            .take(CHECKSUM_LEVELS)
            .chain(self.bids.iter().take(CHECKSUM_LEVELS))
        {
            let len = usize::from(l.len);
            buf[n..n + len].copy_from_slice(&l.text[..len]);
            n += len;
        }
        crc32fast::hash(&buf[..n])
    }
}

/// Levels one side of a book subscribed at `depth` holds without growing: the depth, and the
/// depth again plus 64 new levels that one frame can add before the side is cut back to it
/// mid-frame (past that, a removal later in the same frame could leave a level missing).
pub(crate) fn frame_room(depth: usize) -> usize {
    depth.max(CHECKSUM_LEVELS) * 2 + 64
}

/// A level's position on its side (best first), or where it would go.
fn find(levels: &[Level], side: Side, price: Decimal) -> Result<usize, usize> {
    match side {
        Side::Buy => levels.binary_search_by(|l| price.cmp(&l.price)),
        Side::Sell => levels.binary_search_by(|l| l.price.cmp(&price)),
    }
}

/// Sets, adds or (quantity zero) removes a level. Beyond its room the side is truncated to
/// `depth` first, so it never grows past what it was given (no allocation).
fn upsert(levels: &mut Vec<Level>, side: Side, l: BookLevel, depth: usize) {
    match find(levels, side, l.price) {
        Ok(i) if l.qty.is_zero() => {
            levels.remove(i);
        }
        Ok(i) => levels[i] = Level::of(l),
        Err(_) if l.qty.is_zero() => {}
        Err(i) => {
            if levels.len() == levels.capacity() {
                levels.truncate(depth);
                if i > levels.len() {
                    // Worse than every level kept: beyond the depth.
                    return;
                }
            }
            levels.insert(i, Level::of(l));
        }
    }
}

/// Writes the decimal digits of `v`'s mantissa (its digits as sent with the point and leading
/// zeros removed: `0.00100000` has mantissa 100000) at the start of `out`; their count. Cut to
/// `out`'s length. No allocation; a `u64` division per digit (Kraken's mantissas fit).
fn write_digits(v: Decimal, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 40];
    let mut i = tmp.len();
    let m = v.mantissa().unsigned_abs();
    if let Ok(mut m) = u64::try_from(m) {
        loop {
            i -= 1;
            tmp[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
    } else {
        let mut m = m;
        loop {
            i -= 1;
            tmp[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 || i == 0 {
                break;
            }
        }
    }
    let n = (tmp.len() - i).min(out.len());
    out[..n].copy_from_slice(&tmp[i..i + n]);
    n
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn l(price: &str, qty: &str) -> BookLevel {
        BookLevel {
            price: Decimal::from_str(price).unwrap(),
            qty: Decimal::from_str(qty).unwrap(),
        }
    }

    fn digits(v: Decimal, b: &mut [u8; 40]) -> &[u8] {
        let n = write_digits(v, b);
        &b[..n]
    }

    #[test]
    fn digits_are_the_mantissa_as_sent() {
        let mut b = [0u8; 40];
        assert_eq!(
            digits(Decimal::from_str("45285.2").unwrap(), &mut b),
            b"452852"
        );
        assert_eq!(
            digits(Decimal::from_str("0.00100000").unwrap(), &mut b),
            b"100000"
        );
        assert_eq!(
            digits(Decimal::from_str("9705.60000000").unwrap(), &mut b),
            b"970560000000"
        );
        assert_eq!(digits(Decimal::from_str("0").unwrap(), &mut b), b"0");
    }

    /// Levels sort best first, a zero removes, each side is cut to the depth after a frame,
    /// and an update before a snapshot is refused.
    #[test]
    fn levels_sort_remove_and_truncate_as_kraken_says() {
        let mut b = Book::new(10);
        assert_eq!(
            b.apply(FrameKind::Update, &[l("1", "1")], &[], None),
            Applied::NoSnapshot
        );
        let bids: Vec<BookLevel> = (0..10).map(|i| l(&format!("{}", 100 - i), "1")).collect();
        let asks: Vec<BookLevel> = (0..10).map(|i| l(&format!("{}", 101 + i), "1")).collect();
        assert_eq!(
            b.apply(FrameKind::Snapshot, &bids, &asks, None),
            Applied::Ok
        );
        // A better bid and a removal in one frame: the cut comes after the whole frame, so
        // the worst level stays (Kraken's view of the top ten is the same).
        b.apply(
            FrameKind::Update,
            &[l("100.5", "2"), l("95", "0")],
            &[],
            None,
        );
        assert_eq!(b.bids().len(), 10);
        assert_eq!(b.best_bid(), Some(l("100.5", "2")));
        assert_eq!(b.bids().last().unwrap().price, Decimal::from(91));
        // A better bid alone pushes the worst out.
        b.apply(FrameKind::Update, &[l("100.7", "1")], &[], None);
        assert_eq!(b.bids().len(), 10);
        assert_eq!(b.bids().last().unwrap().price, Decimal::from(92));
        assert_eq!(b.qty_at(Side::Buy, Decimal::from(95)), None);
        // An ask update changes a quantity in place, by value whatever its scale.
        b.apply(FrameKind::Update, &[], &[l("101.0", "3.50")], None);
        assert_eq!(
            b.qty_at(Side::Sell, Decimal::from(101)),
            Some(Decimal::from_str("3.50").unwrap())
        );
        assert_eq!(b.asks().len(), 10);
    }

    /// Mantissas past a `u64` (up to a `Decimal`'s 29 digits) are written whole.
    #[test]
    fn digits_of_a_mantissa_past_a_u64_are_written_whole() {
        let mut b = [0u8; 40];
        for s in [
            "18446744073709551616",           // u64::MAX + 1
            "1234567890.123456789012345678",  // 28 digits
            "7922816251426433759354395033.5", // 29: Decimal's largest mantissa
            "0.0000000000000000000000000001", // scale 28, mantissa 1
        ] {
            let want: String = s.replace('.', "").trim_start_matches('0').to_owned();
            assert_eq!(
                digits(Decimal::from_str(s).unwrap(), &mut b),
                want.as_bytes(),
                "{s}"
            );
        }
    }

    /// The checksum's text of twenty levels of 19-digit prices and quantities (38 digits
    /// each): every level counts, against Kraken's rule applied to the decimal text.
    #[test]
    fn the_checksum_covers_ten_long_levels_a_side() {
        let lv = |p: i64, q: i64| BookLevel {
            price: Decimal::new(p, 10),
            qty: Decimal::new(q, 12),
        };
        let asks: Vec<_> = (0..10)
            .map(|i| lv(1_000_000_000_000_000_000 + i, 9_000_000_000_000_000_000 + i))
            .collect();
        let bids: Vec<_> = (0..10)
            .map(|i| lv(5_000_000_000_000_000_000 - i, 8_000_000_000_000_000_000 + i))
            .collect();
        let mut b = Book::new(10);
        b.apply(FrameKind::Snapshot, &bids, &asks, None);
        let text = |d: Decimal| {
            d.to_string()
                .replace('.', "")
                .trim_start_matches('0')
                .to_owned()
        };
        let all: String = asks
            .iter()
            .chain(&bids)
            .map(|l| text(l.price) + &text(l.qty))
            .collect();
        assert_eq!(all.len(), 20 * 38);
        assert_eq!(b.checksum(), crc32fast::hash(all.as_bytes()));
    }

    /// A removal of a price the book does not hold changes nothing (no zero level is added).
    #[test]
    fn removing_a_level_not_in_the_book_changes_nothing() {
        let mut b = Book::new(10);
        let bids: Vec<BookLevel> = (0..10).map(|i| l(&format!("{}", 100 - i), "1")).collect();
        b.apply(FrameKind::Snapshot, &bids, &[l("101", "1")], None);
        let before = (b.bids().to_vec(), b.checksum());
        b.apply(
            FrameKind::Update,
            &[l("100.5", "0"), l("95.5", "0")],
            &[],
            None,
        );
        assert_eq!((b.bids().to_vec(), b.checksum()), before);
    }

    /// Within a frame nothing is cut until its end: two better levels and two removals leave
    /// the ten the whole frame makes.
    #[test]
    fn a_frame_that_adds_then_removes_keeps_its_ten() {
        let mut b = Book::new(10);
        let bids: Vec<BookLevel> = (0..10).map(|i| l(&format!("{}", 100 - i), "1")).collect();
        b.apply(FrameKind::Snapshot, &bids, &[], None);
        b.apply(
            FrameKind::Update,
            &[
                l("100.5", "1"),
                l("100.7", "1"),
                l("100", "0"),
                l("99", "0"),
            ],
            &[],
            None,
        );
        let prices: Vec<String> = b.bids().iter().map(|l| l.price.to_string()).collect();
        assert_eq!(
            prices,
            [
                "100.7", "100.5", "98", "97", "96", "95", "94", "93", "92", "91"
            ]
        );
    }

    /// A frame with more new levels than a side has room for: the side is cut to the depth
    /// where it is full and never grows; a level just past the depth is kept until the
    /// frame's end (a removal later in the frame brings it in), one further out is dropped.
    #[test]
    fn a_side_full_within_a_frame_is_cut_to_its_depth_and_never_grows() {
        let mut b = Book::new(10);
        let cap = b.bids.capacity();
        assert!(cap >= frame_room(10));
        let mut frame: Vec<BookLevel> =
            (0..cap).map(|i| l(&format!("{}", 1000 - i), "1")).collect();
        // Full now: 990.5 goes just below the tenth (index 10), then the best is removed.
        frame.push(l("990.5", "2"));
        frame.push(l("1000", "0"));
        b.apply(FrameKind::Snapshot, &frame, &[], None);
        assert_eq!(b.bids.capacity(), cap, "never grown");
        let prices: Vec<String> = b.bids().iter().map(|l| l.price.to_string()).collect();
        assert_eq!(
            prices,
            [
                "999", "998", "997", "996", "995", "994", "993", "992", "991", "990.5"
            ]
        );
        // Full again, and a level beyond every one kept: dropped.
        let mut b = Book::new(10);
        let mut frame: Vec<BookLevel> =
            (0..cap).map(|i| l(&format!("{}", 1000 - i), "1")).collect();
        frame.push(l("1", "1"));
        b.apply(FrameKind::Snapshot, &frame, &[], None);
        assert_eq!(b.bids.capacity(), cap);
        assert_eq!(b.bids().len(), 10);
        assert_eq!(b.bids().last().unwrap().price, Decimal::from(991));
    }

    /// A side has room for the depth and as many again plus 64: a frame that adds that many
    /// better levels and then removes them all leaves the book as it was (nothing cut early).
    #[test]
    fn a_frame_adding_its_room_and_removing_it_again_leaves_the_book_as_it_was() {
        let mut b = Book::new(10);
        let bids: Vec<BookLevel> = (0..10).map(|i| l(&format!("{}", 100 - i), "1")).collect();
        b.apply(FrameKind::Snapshot, &bids, &[], None);
        let before = b.bids().to_vec();
        // The depth's 10, and 64.
        let added = 10 + 64;
        let mut frame: Vec<BookLevel> = (0..added)
            .map(|i| l(&format!("{}", 200 + i), "1"))
            .collect();
        frame.extend((0..added).map(|i| l(&format!("{}", 200 + i), "0")));
        b.apply(FrameKind::Update, &frame, &[], None);
        assert_eq!(b.bids(), &before[..]);
    }

    /// A mismatch is reported and the book is not trusted again until a snapshot.
    #[test]
    fn a_mismatch_invalidates_the_book_until_the_next_snapshot() {
        let mut b = Book::new(10);
        b.apply(FrameKind::Snapshot, &[l("1", "1")], &[l("2", "1")], None);
        let right = b.checksum();
        assert!(matches!(
            b.apply(FrameKind::Update, &[l("1", "2")], &[], Some(right)),
            Applied::Mismatch { expected, .. } if expected == right
        ));
        assert!(!b.is_valid());
        assert_eq!(
            b.apply(FrameKind::Update, &[l("1", "3")], &[], None),
            Applied::NoSnapshot
        );
    }
}

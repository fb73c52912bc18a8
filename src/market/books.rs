//! The strategy side's books, sans-IO: [`BookChunk`]s from the public socket's session are
//! gathered into whole frames and applied, each checked against Kraken's checksum. A book
//! found wrong is withheld from the strategy and a new snapshot asked for; so is every book
//! while the public socket is down.

use crate::engine::msg::BookChunk;
use crate::ids::SymbolId;
use crate::market::book::{Applied, Book, frame_room};
use crate::protocol::messages::BookLevel;

/// Why a book is not to be trusted (until its next snapshot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BookInvalid {
    /// The book after a frame does not match the frame's checksum.
    ChecksumMismatch {
        /// Kraken's.
        expected: u32,
        /// Ours.
        computed: u32,
    },
    /// An update arrived with no snapshot before it (a sequence problem).
    NoSnapshot,
    /// The public socket went down: updates are being missed.
    Disconnected,
}

/// What a chunk did to its book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookOutcome {
    /// The frame is not complete yet, or its pair is not tracked, or it was expected to be
    /// ignored (updates between a wrong book and its new snapshot).
    Nothing,
    /// The book changed and matches Kraken's checksum.
    Changed,
    /// The book was found wrong: withheld; a resubscription is queued (see
    /// [`Books::take_resync`]).
    Invalid(BookInvalid),
}

#[derive(Clone, Debug)]
struct Tracked {
    book: Book,
    /// A new snapshot is asked for: updates until it are ignored, silently.
    resync_pending: bool,
}

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Books {
    books: Vec<Option<Tracked>>,
    /// The frame being gathered.
    bids: Vec<BookLevel>,
    asks: Vec<BookLevel>,
    /// Pairs whose book must be subscribed again, not yet asked.
    resyncs: Vec<SymbolId>,
    /// Books found wrong.
    invalid: u64,
    /// The pair whose frame is being gathered (its first chunk taken in).
    gathering: Option<SymbolId>,
}

impl Books {
    /// No book tracked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks `symbol`'s book at `depth` (allocates its levels: cold).
    pub fn track(&mut self, symbol: SymbolId, depth: usize) {
        let i = usize::from(symbol.0);
        if self.books.len() <= i {
            self.books.resize(i + 1, None);
        }
        let room = frame_room(depth);
        self.bids.reserve(room.saturating_sub(self.bids.len()));
        self.asks.reserve(room.saturating_sub(self.asks.len()));
        self.resyncs.reserve(self.books.len());
        self.books[i] = Some(Tracked {
            book: Book::new(depth),
            resync_pending: false,
        });
    }

    /// Stops tracking `symbol`'s book.
    pub fn untrack(&mut self, symbol: SymbolId) {
        if let Some(b) = self.books.get_mut(usize::from(symbol.0)) {
            *b = None;
        }
        self.resyncs.retain(|s| *s != symbol);
    }

    /// `symbol`'s book, if tracked and in sync.
    pub fn get(&self, symbol: SymbolId) -> Option<&Book> {
        self.books
            .get(usize::from(symbol.0))
            .and_then(Option::as_ref)
            .map(|t| &t.book)
            .filter(|b| b.is_valid())
    }

    /// The depth of `symbol`'s book, if tracked (in sync or not).
    pub fn depth(&self, symbol: SymbolId) -> Option<usize> {
        self.books
            .get(usize::from(symbol.0))
            .and_then(Option::as_ref)
            .map(|t| t.book.depth())
    }

    /// Books found wrong so far.
    pub fn invalid_count(&self) -> u64 {
        self.invalid
    }

    /// Takes in a chunk of a `book` frame; the frame is applied with its last chunk.
    pub fn on_chunk(&mut self, c: &BookChunk) -> BookOutcome {
        let Some(Some(t)) = self.books.get_mut(usize::from(c.symbol.0)) else {
            self.gathering = None;
            return BookOutcome::Nothing;
        };
        if c.first {
            self.bids.clear();
            self.asks.clear();
            self.gathering = Some(c.symbol);
        } else if self.gathering != Some(c.symbol) {
            // The rest of a frame whose start was not taken in (tracked since): dropped
            // whole, never applied with another frame's levels.
            return BookOutcome::Nothing;
        }
        self.bids.extend_from_slice(c.bids());
        self.asks.extend_from_slice(c.asks());
        if !c.last {
            return BookOutcome::Nothing;
        }
        self.gathering = None;
        let why = match t.book.apply(c.kind, &self.bids, &self.asks, c.checksum) {
            // (`resync_pending` is read only while the book is invalid, and every way to an
            // invalid book sets it: a snapshot that puts the book right need not clear it.)
            Applied::Ok => return BookOutcome::Changed,
            Applied::Mismatch { expected, computed } => {
                BookInvalid::ChecksumMismatch { expected, computed }
            }
            // Expected while a new snapshot is on its way.
            Applied::NoSnapshot if t.resync_pending => return BookOutcome::Nothing,
            Applied::NoSnapshot => BookInvalid::NoSnapshot,
        };
        t.resync_pending = true;
        self.invalid += 1;
        if !self.resyncs.contains(&c.symbol) {
            self.resyncs.push(c.symbol);
        }
        BookOutcome::Invalid(why)
    }

    /// The public socket went down: every book is dropped until the reconnect's snapshot.
    /// `f` hears of each that was in sync.
    pub fn on_disconnected(&mut self, mut f: impl FnMut(SymbolId)) {
        self.resyncs.clear();
        for (i, t) in self.books.iter_mut().enumerate() {
            if let Some(t) = t {
                let was = t.book.is_valid();
                t.book.clear();
                // The reconnect subscribes anew: no resync of ours is needed.
                t.resync_pending = true;
                if was {
                    f(SymbolId(i as u16));
                }
            }
        }
    }

    /// The next pair whose book must be subscribed again.
    pub fn take_resync(&mut self) -> Option<SymbolId> {
        if self.resyncs.is_empty() {
            None
        } else {
            Some(self.resyncs.remove(0))
        }
    }

    /// Gives back a pair `take_resync` returned (its command could not be queued).
    pub fn untake_resync(&mut self, symbol: SymbolId) {
        self.resyncs.insert(0, symbol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::msg::BOOK_CHUNK;
    use crate::protocol::messages::FrameKind;
    use rust_decimal::Decimal;

    const BTC: SymbolId = SymbolId(0);

    fn lv(p: i64, q: i64) -> BookLevel {
        BookLevel {
            price: Decimal::new(p, 1),
            qty: Decimal::new(q, 2),
        }
    }

    /// One frame as the session chunks it.
    fn chunks(
        kind: FrameKind,
        bids: &[BookLevel],
        asks: &[BookLevel],
        checksum: u32,
    ) -> Vec<BookChunk> {
        let all: Vec<(BookLevel, bool)> = bids
            .iter()
            .map(|l| (*l, true))
            .chain(asks.iter().map(|l| (*l, false)))
            .collect();
        let parts: Vec<&[(BookLevel, bool)]> = if all.is_empty() {
            vec![&[]]
        } else {
            all.chunks(BOOK_CHUNK).collect()
        };
        let n = parts.len();
        parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let mut c = BookChunk {
                    symbol: BTC,
                    kind,
                    first: i == 0,
                    last: i + 1 == n,
                    n_bids: 0,
                    n_asks: 0,
                    levels: [BookLevel::default(); BOOK_CHUNK],
                    checksum: Some(checksum),
                    timestamp: None,
                    recv_ns: 0,
                };
                for (j, (l, bid)) in part.iter().enumerate() {
                    c.levels[j] = *l;
                    if *bid { c.n_bids += 1 } else { c.n_asks += 1 }
                }
                c
            })
            .collect()
    }

    fn feed(b: &mut Books, cs: &[BookChunk]) -> BookOutcome {
        let mut last = BookOutcome::Nothing;
        for c in cs {
            last = b.on_chunk(c);
        }
        last
    }

    /// The checksum a book of these levels has (Kraken's, via the checked `Book`).
    fn sum(bids: &[BookLevel], asks: &[BookLevel]) -> u32 {
        let mut b = Book::new(10);
        b.apply(FrameKind::Snapshot, bids, asks, None);
        b.checksum()
    }

    #[test]
    fn a_frame_in_several_chunks_is_applied_whole_and_a_wrong_one_is_withheld_until_its_snapshot() {
        let mut b = Books::new();
        b.track(BTC, 25);
        let bids: Vec<_> = (0..20).map(|i| lv(1000 - i, 5)).collect();
        let asks: Vec<_> = (0..20).map(|i| lv(1100 + i, 7)).collect();
        let cs = chunks(FrameKind::Snapshot, &bids, &asks, sum(&bids, &asks));
        assert!(cs.len() == 3);
        assert_eq!(b.on_chunk(&cs[0]), BookOutcome::Nothing, "not whole yet");
        assert!(b.get(BTC).is_none());
        assert_eq!(feed(&mut b, &cs[1..]), BookOutcome::Changed);
        let book = b.get(BTC).unwrap();
        assert_eq!((book.bids().len(), book.asks().len()), (20, 20));
        assert_eq!(book.best_bid().unwrap().price, Decimal::new(1000, 1));

        // An update whose checksum is not the book's: withheld, a resync queued once.
        let up = chunks(FrameKind::Update, &[lv(1000, 9)], &[], 12345);
        assert!(matches!(
            feed(&mut b, &up),
            BookOutcome::Invalid(BookInvalid::ChecksumMismatch {
                expected: 12345,
                ..
            })
        ));
        assert!(b.get(BTC).is_none(), "never handed out wrong");
        assert_eq!(b.take_resync(), Some(BTC));
        assert_eq!(b.take_resync(), None);
        // Updates until the new snapshot are ignored, quietly.
        let up = chunks(FrameKind::Update, &[lv(999, 1)], &[], 1);
        assert_eq!(feed(&mut b, &up), BookOutcome::Nothing);
        assert_eq!(b.take_resync(), None);
        assert_eq!(b.invalid_count(), 1);
        let cs = chunks(
            FrameKind::Snapshot,
            &bids[..3],
            &asks[..3],
            sum(&bids[..3], &asks[..3]),
        );
        assert_eq!(feed(&mut b, &cs), BookOutcome::Changed);
        assert_eq!(b.get(BTC).unwrap().bids().len(), 3);
    }

    /// Tracking reserves the room of one frame at the depth: Kraken's largest snapshot is
    /// gathered and applied without growing a buffer, and nothing is reserved many times over.
    #[test]
    fn the_largest_snapshot_is_gathered_without_growing_and_room_is_not_overreserved() {
        let mut b = Books::new();
        b.track(BTC, 1000);
        let room = frame_room(1000);
        let caps = |b: &Books| (b.bids.capacity(), b.asks.capacity());
        let before = caps(&b);
        assert!(before.0 >= room && before.1 >= room);
        assert!(
            before.0 < 2 * room && before.1 < 2 * room,
            "{before:?} for {room}"
        );
        let bids: Vec<_> = (0..1000).map(|i| lv(100_000 - i, 5)).collect();
        let asks: Vec<_> = (0..1000).map(|i| lv(100_001 + i, 7)).collect();
        let mut top = Book::new(1000);
        top.apply(FrameKind::Snapshot, &bids, &asks, None);
        let cs = chunks(FrameKind::Snapshot, &bids, &asks, top.checksum());
        assert_eq!(feed(&mut b, &cs), BookOutcome::Changed);
        assert_eq!(caps(&b), before, "gathered without growing");
        assert_eq!(b.get(BTC).unwrap().bids().len(), 1000);
    }

    #[test]
    fn an_update_with_no_snapshot_is_a_sequence_problem_and_a_disconnect_drops_every_book() {
        let mut b = Books::new();
        b.track(BTC, 10);
        let up = chunks(FrameKind::Update, &[lv(10, 1)], &[], 1);
        assert_eq!(
            feed(&mut b, &up),
            BookOutcome::Invalid(BookInvalid::NoSnapshot)
        );
        assert_eq!(b.take_resync(), Some(BTC));
        let (bids, asks) = ([lv(10, 1)], [lv(11, 1)]);
        assert_eq!(
            feed(
                &mut b,
                &chunks(FrameKind::Snapshot, &bids, &asks, sum(&bids, &asks))
            ),
            BookOutcome::Changed
        );
        let mut told = Vec::new();
        b.on_disconnected(|s| told.push(s));
        assert_eq!(told, vec![BTC]);
        assert!(b.get(BTC).is_none());
        // The reconnect's subscription brings the snapshot: no resync of ours, updates before
        // it ignored.
        assert_eq!(feed(&mut b, &up), BookOutcome::Nothing);
        assert_eq!(b.take_resync(), None);
        // A frame whose first chunk came before its pair was tracked is dropped whole.
        let mut late = Books::new();
        let many: Vec<_> = (0..20).map(|i| lv(100 - i, 1)).collect();
        let cs = chunks(FrameKind::Snapshot, &many, &[], sum(&many, &[]));
        late.track(SymbolId(3), 10);
        late.on_chunk(&BookChunk {
            symbol: SymbolId(3),
            ..cs[0]
        });
        late.track(BTC, 10);
        assert_eq!(late.on_chunk(&cs[1]), BookOutcome::Nothing);
        assert!(late.get(BTC).is_none());
        // Depth, resyncs given back, untracking, the count of books found wrong.
        assert_eq!(b.depth(BTC), Some(10));
        assert_eq!(b.depth(SymbolId(5)), None);
        assert_eq!(b.invalid_count(), 1);
        let bad = chunks(FrameKind::Update, &[lv(10, 2)], &[], 7);
        b.on_disconnected(|_| {});
        assert_eq!(
            feed(
                &mut b,
                &chunks(FrameKind::Snapshot, &bids, &asks, sum(&bids, &asks))
            ),
            BookOutcome::Changed
        );
        assert!(matches!(feed(&mut b, &bad), BookOutcome::Invalid(_)));
        assert_eq!(b.invalid_count(), 2);
        assert_eq!(b.take_resync(), Some(BTC));
        b.untake_resync(BTC);
        assert_eq!(b.take_resync(), Some(BTC), "given back, taken again");
        b.untake_resync(BTC);
        b.untrack(BTC);
        assert_eq!(
            (b.take_resync(), b.depth(BTC)),
            (None, None),
            "untracked: no resync, no book"
        );
        assert_eq!(
            feed(
                &mut b,
                &chunks(FrameKind::Snapshot, &bids, &asks, sum(&bids, &asks))
            ),
            BookOutcome::Nothing
        );
        // An untracked pair's chunks do nothing.
        let mut other = chunks(FrameKind::Snapshot, &bids, &asks, 0);
        other[0].symbol = SymbolId(3);
        assert_eq!(feed(&mut b, &other), BookOutcome::Nothing);
    }
}

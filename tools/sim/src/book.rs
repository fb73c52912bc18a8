//! The public `book` channel: each pair's levels as Kraken publishes them, from the orders
//! resting at the simulator (every account's, aggregated per price) and a synthetic market
//! around the reference price (so the book moves when it walks, whatever rests).
//!
//! A subscriber gets a snapshot of its depth, then an update whenever its view changes: the
//! levels that changed, a quantity of 0 for those gone (not for those that fell beyond the
//! depth: Kraken sends none), Kraken's checksum of the top ten. Numbers carry each pair's
//! precision (`12.30000000`, not `12.3`), written as text so their digits survive.
//!
//! The checksum is computed here from the text of the numbers, the way Kraken's guide
//! describes (point and leading zeros removed), independently of the engine's own.

use rust_decimal::Decimal;

use crate::exchange::Exchange;

/// A price level: (price, quantity).
pub type Level = (Decimal, Decimal);

/// A subscription and what it was last sent.
#[derive(Clone, Debug)]
pub struct BookSub {
    pub conn: u64,
    pub pair: usize,
    pub depth: usize,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// Depths Kraken offers.
pub const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];

/// Levels of synthetic liquidity on each side.
const SYNTHETIC_LEVELS: usize = 30;

impl Exchange {
    /// `pair`'s book: bids best first, asks best first, `depth` each.
    pub fn book_view(&self, pi: usize, depth: usize) -> (Vec<Level>, Vec<Level>) {
        let p = &self.pairs[pi];
        let mut bids: Vec<Level> = Vec::new();
        let mut asks: Vec<Level> = Vec::new();
        let add = |side: &mut Vec<Level>, price: Decimal, qty: Decimal| match side
            .iter_mut()
            .find(|l| l.0 == price)
        {
            Some(l) => l.1 += qty,
            None => side.push((price, qty)),
        };
        for o in self.orders.iter().filter(|o| {
            o.pair == pi
                && matches!(o.status, "new" | "partially_filled")
                && o.limit_price.is_some()
                && (o.trigger_price.is_none() || o.triggered)
        }) {
            let visible = o.display_qty.map_or(o.qty - o.filled, |d| {
                (d - o.shown_filled).min(o.qty - o.filled)
            });
            if visible > Decimal::ZERO
                && let Some(px) = o.limit_price
            {
                add(if o.buy { &mut bids } else { &mut asks }, px, visible);
            }
        }
        // The synthetic market: levels a tick apart from one tick off the reference price, a
        // quantity drawn from the price (the same level keeps its size while it stays).
        let tick = p.price_increment;
        let base = (p.ref_price / tick).floor() * tick;
        for k in 1..=SYNTHETIC_LEVELS as i64 {
            let bid = base - tick * Decimal::from(k);
            let ask = base + tick * Decimal::from(k + 1);
            add(
                &mut bids,
                bid,
                synthetic_qty(self.book_seed, pi, bid, p.qty_precision),
            );
            add(
                &mut asks,
                ask,
                synthetic_qty(self.book_seed, pi, ask, p.qty_precision),
            );
        }
        bids.sort_by_key(|l| std::cmp::Reverse(l.0));
        asks.sort_by_key(|l| l.0);
        bids.truncate(depth);
        asks.truncate(depth);
        (bids, asks)
    }

    /// Subscribes `conn` to `pair`'s book at `depth`: queues the snapshot.
    pub fn subscribe_book(&mut self, conn: u64, pi: usize, depth: usize) {
        self.book_subs.retain(|s| !(s.conn == conn && s.pair == pi));
        let (bids, asks) = self.book_view(pi, depth);
        let frame = self.book_frame(pi, "snapshot", &bids, &asks, &bids, &asks, None);
        self.queue(conn, frame);
        self.book_subs.push(BookSub {
            conn,
            pair: pi,
            depth,
            bids,
            asks,
        });
    }

    /// Ends `conn`'s subscription to `pair`'s book.
    pub fn unsubscribe_book(&mut self, conn: u64, pi: usize) {
        self.book_subs.retain(|s| !(s.conn == conn && s.pair == pi));
    }

    /// Queues an update for each subscription of `conn` whose view changed since it was last
    /// sent (called before its frames are taken).
    pub fn publish_books(&mut self, conn: u64, now: crate::exchange::Ns) {
        if !self.book_subs.iter().any(|s| s.conn == conn) {
            return;
        }
        let now_iso = crate::exchange::rfc3339(now);
        let now_iso = now_iso.as_str();
        for i in 0..self.book_subs.len() {
            if self.book_subs[i].conn != conn {
                continue;
            }
            let (pi, depth) = (self.book_subs[i].pair, self.book_subs[i].depth);
            let (bids, asks) = self.book_view(pi, depth);
            let s = &self.book_subs[i];
            let (db, da) = (
                diff(&s.bids, &bids, depth, true),
                diff(&s.asks, &asks, depth, false),
            );
            if db.is_empty() && da.is_empty() {
                continue;
            }
            // The `corrupt-book` fault: one level of this update is sent with a quantity one
            // unit of its last digit off, the checksum still the true book's.
            let corrupt = self.faults.corrupt_book > 0;
            if corrupt {
                self.faults.corrupt_book -= 1;
            }
            let mut sent_b = db.clone();
            let mut sent_a = da.clone();
            if corrupt {
                let unit = Decimal::new(1, self.pairs[pi].qty_precision);
                if let Some(l) = sent_b
                    .iter_mut()
                    .chain(sent_a.iter_mut())
                    .find(|l| l.1 > Decimal::ZERO)
                {
                    l.1 += unit;
                }
            }
            let frame =
                self.book_frame(pi, "update", &sent_b, &sent_a, &bids, &asks, Some(now_iso));
            self.queue(conn, frame);
            let s = &mut self.book_subs[i];
            s.bids = bids;
            s.asks = asks;
        }
    }

    /// A `book` frame with `bids`/`asks` as its levels and the checksum of the full view.
    #[allow(clippy::too_many_arguments)]
    fn book_frame(
        &self,
        pi: usize,
        kind: &str,
        bids: &[Level],
        asks: &[Level],
        view_bids: &[Level],
        view_asks: &[Level],
        timestamp: Option<&str>,
    ) -> String {
        let p = &self.pairs[pi];
        let text = |l: &Level| (num(l.0, p.price_precision), num(l.1, p.qty_precision));
        let levels = |ls: &[Level]| {
            ls.iter()
                .map(|l| {
                    let (px, q) = text(l);
                    format!(r#"{{"price":{px},"qty":{q}}}"#)
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut digits = String::new();
        for l in view_asks.iter().take(10).chain(view_bids.iter().take(10)) {
            let (px, q) = text(l);
            digits.push_str(&checksum_digits(&px));
            digits.push_str(&checksum_digits(&q));
        }
        let checksum = crc32fast::hash(digits.as_bytes());
        let ts = timestamp.map_or(String::new(), |t| format!(r#","timestamp":"{t}""#));
        format!(
            r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{}","bids":[{}],"asks":[{}],"checksum":{checksum}{ts}}}]}}"#,
            p.symbol,
            levels(bids),
            levels(asks)
        )
    }
}

/// The levels of `new` that differ from `old`, and those of `old` gone from `new` with
/// quantity 0, except those only pushed beyond the depth (Kraken sends nothing for them).
fn diff(old: &[Level], new: &[Level], depth: usize, bids: bool) -> Vec<Level> {
    let mut out: Vec<Level> = new.iter().filter(|l| !old.contains(l)).copied().collect();
    let worst = new.last().map(|l| l.0);
    for l in old {
        if new.iter().any(|n| n.0 == l.0) {
            continue;
        }
        let pushed_out =
            new.len() == depth && worst.is_some_and(|w| if bids { l.0 < w } else { l.0 > w });
        if !pushed_out {
            out.push((l.0, Decimal::ZERO));
        }
    }
    out
}

/// `v` with exactly `dp` decimals, as text.
pub(crate) fn num(v: Decimal, dp: u32) -> String {
    let mut v = v.round_dp(dp);
    v.rescale(dp);
    v.to_string()
}

/// Kraken's checksum form of a number's text: the point removed, then leading zeros.
fn checksum_digits(s: &str) -> String {
    s.replace('.', "").trim_start_matches('0').to_string()
}

/// A synthetic level's size, drawn from its price (0.1 to 5 units, `dp` decimals).
fn synthetic_qty(seed: u64, pi: usize, price: Decimal, dp: u32) -> Decimal {
    let mut h = seed ^ (pi as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in price.normalize().to_string().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let units = 100 + h % 4_901; // thousandths: 0.100 .. 5.000
    let mut q = Decimal::new(units as i64, 3);
    q.rescale(dp);
    q
}

//! The public `trade` and `ticker` channels: every trade at the simulator goes on a public
//! tape (those of the accounts' orders, and the synthetic market's own, one per pair each time
//! the reference price walks, so the tape moves when nothing of ours rests); `ticker` gives
//! each pair's best bid and offer and the tape's figures, after every trade (Kraken's default
//! `event_trigger`, `trades`).

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::book::num;
use crate::exchange::{Exchange, Ns, rfc3339};

/// A trade on the public tape.
#[derive(Clone, Debug)]
pub struct TapeTrade {
    pub seq: u64,
    pub pair: usize,
    /// The taker bought.
    pub buy: bool,
    pub price: Decimal,
    pub qty: Decimal,
    pub ord_type: &'static str,
    pub trade_id: u64,
    pub at: Ns,
}

/// A `trade` or `ticker` subscription and the last trade it was sent.
#[derive(Clone, Debug)]
pub struct TapeSub {
    pub conn: u64,
    pub pair: usize,
    pub ticker: bool,
    sent: u64,
}

/// Trades the tape keeps (the ticker's day is this window).
const TAPE: usize = 2_000;
/// Trades a `trade` snapshot replays.
const TRADE_SNAPSHOT: usize = 50;

impl Exchange {
    /// Puts a trade on the public tape.
    pub(crate) fn tape_trade(
        &mut self,
        pair: usize,
        buy: bool,
        price: Decimal,
        qty: Decimal,
        ord_type: &'static str,
        at: Ns,
    ) {
        self.tape_seq += 1;
        let trade_id = self
            .tape
            .iter()
            .rev()
            .find(|t| t.pair == pair)
            .map_or(1, |t| t.trade_id + 1);
        self.tape.push(TapeTrade {
            seq: self.tape_seq,
            pair,
            buy,
            price,
            qty,
            ord_type,
            trade_id,
            at,
        });
        // Cut in batches: a shift of the whole tape per trade would cost the matching loop.
        if self.tape.len() > TAPE + TAPE / 2 {
            let cut = self.tape.len() - TAPE;
            self.tape.drain(..cut);
        }
    }

    /// The synthetic market's participants trade with each other at the reference price (a
    /// size and side drawn from the pair and the time, not from the exchange's random stream,
    /// which the deterministic simulation replays).
    pub(crate) fn synthetic_trade(&mut self, pi: usize, now: Ns) {
        let p = &self.pairs[pi];
        let mut h = self.book_seed ^ now ^ (pi as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let mut qty = Decimal::new((1 + h % 2_000) as i64, 3);
        qty.rescale(p.qty_precision);
        let price = p.ref_price;
        self.tape_trade(pi, h & 1 == 0, price, qty, "limit", now);
    }

    /// Subscribes `conn` to `pair`'s `trade` (or `ticker`) channel: queues the snapshot (the
    /// last trades, or the ticker as it stands).
    pub fn subscribe_tape(&mut self, conn: u64, pi: usize, ticker: bool) {
        self.tape_subs
            .retain(|s| !(s.conn == conn && s.pair == pi && s.ticker == ticker));
        let frame = if ticker {
            self.ticker_frame(pi, "snapshot")
        } else {
            let trades: Vec<Value> = self
                .tape
                .iter()
                .filter(|t| t.pair == pi)
                .rev()
                .take(TRADE_SNAPSHOT)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .map(|t| self.tape_json(t))
                .collect();
            self.tape_frame("trade", "snapshot", trades)
        };
        self.queue(conn, frame);
        self.tape_subs.push(TapeSub {
            conn,
            pair: pi,
            ticker,
            sent: self.tape_seq,
        });
    }

    /// Ends a `trade` or `ticker` subscription.
    pub fn unsubscribe_tape(&mut self, conn: u64, pi: usize, ticker: bool) {
        self.tape_subs
            .retain(|s| !(s.conn == conn && s.pair == pi && s.ticker == ticker));
    }

    /// Queues for `conn` the trades since each of its subscriptions was last sent, and a
    /// ticker update for each pair that traded.
    pub fn publish_tape(&mut self, conn: u64) {
        for i in 0..self.tape_subs.len() {
            let s = &self.tape_subs[i];
            if s.conn != conn {
                continue;
            }
            let (pi, ticker, sent) = (s.pair, s.ticker, s.sent);
            let new: Vec<&TapeTrade> = self
                .tape
                .iter()
                .filter(|t| t.pair == pi && t.seq > sent)
                .collect();
            if new.is_empty() {
                continue;
            }
            let frame = if ticker {
                self.ticker_frame(pi, "update")
            } else {
                let data = new.iter().map(|t| self.tape_json(t)).collect();
                self.tape_frame("trade", "update", data)
            };
            self.queue(conn, frame);
            self.tape_subs[i].sent = self.tape_seq;
        }
    }

    fn tape_json(&self, t: &TapeTrade) -> Value {
        let p = &self.pairs[t.pair];
        // Numbers as text with the pair's precision, spliced in below.
        json!({"symbol": p.symbol, "side": if t.buy { "buy" } else { "sell" },
            "price": num(t.price, p.price_precision), "qty": num(t.qty, p.qty_precision),
            "ord_type": t.ord_type, "trade_id": t.trade_id, "timestamp": rfc3339(t.at)})
    }

    fn ticker_frame(&self, pi: usize, kind: &str) -> String {
        let p = &self.pairs[pi];
        let (bids, asks) = self.book_view(pi, 1);
        let trades: Vec<&TapeTrade> = self.tape.iter().filter(|t| t.pair == pi).collect();
        let volume: Decimal = trades.iter().map(|t| t.qty).sum();
        let cost: Decimal = trades.iter().map(|t| t.qty * t.price).sum();
        let last = trades.last().map_or(p.ref_price, |t| t.price);
        let first = trades.first().map_or(p.ref_price, |t| t.price);
        let vwap = if volume.is_zero() {
            last
        } else {
            cost / volume
        };
        let low = trades.iter().map(|t| t.price).min().unwrap_or(last);
        let high = trades.iter().map(|t| t.price).max().unwrap_or(last);
        let change = last - first;
        let pct = if first.is_zero() {
            Decimal::ZERO
        } else {
            change * Decimal::from(100) / first
        };
        let (pp, qp) = (p.price_precision, p.qty_precision);
        let level = |l: Option<&(Decimal, Decimal)>| {
            l.map_or(("null".to_string(), "null".to_string()), |l| {
                (num(l.0, pp), num(l.1, qp))
            })
        };
        let (bid, bid_qty) = level(bids.first());
        let (ask, ask_qty) = level(asks.first());
        let data = json!({"symbol": p.symbol, "bid": bid, "bid_qty": bid_qty, "ask": ask,
            "ask_qty": ask_qty, "last": num(last, pp), "volume": num(volume, qp),
            "vwap": num(vwap, pp), "low": num(low, pp), "high": num(high, pp),
            "change": num(change, pp), "change_pct": num(pct, 2)});
        self.tape_frame("ticker", kind, vec![data])
    }

    /// A frame of `channel` whose numbers (carried as strings above) are written as JSON
    /// numbers with their digits, as Kraken writes them.
    fn tape_frame(&self, channel: &str, kind: &str, data: Vec<Value>) -> String {
        let mut text = json!({"channel": channel, "type": kind, "data": data}).to_string();
        for key in [
            "price",
            "qty",
            "bid",
            "bid_qty",
            "ask",
            "ask_qty",
            "last",
            "volume",
            "vwap",
            "low",
            "high",
            "change",
            "change_pct",
        ] {
            text = unquote(&text, key);
        }
        text
    }
}

/// `"key":"123.40"` → `"key":123.40` (and `"null"` → `null`).
fn unquote(text: &str, key: &str) -> String {
    let pat = format!("\"{key}\":\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&pat) {
        out.push_str(&rest[..i + pat.len() - 1]);
        rest = &rest[i + pat.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push_str(&rest[..end]);
        rest = rest.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

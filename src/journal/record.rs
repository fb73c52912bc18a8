//! The journal's records: fixed-size, little-endian, each with a CRC-32 of the rest of it.
//!
//! ```text
//! 0..4    CRC-32C (Castagnoli) of bytes 4..256
//! 4       kind (0 never: a zeroed slot is the end of the journal)
//! 5..8    reserved (0)
//! 8..16   sequence number in the journal (1, 2, ...)
//! 16..24  wall-clock time of the append (µs since the epoch)
//! 24..256 the payload, by kind
//! ```
//!
//! Fixed size: an append is a copy into the map and a CRC, no length to trust on reading, and
//! a torn write (a crash mid-copy) fails its CRC and ends the journal there.

use rust_decimal::Decimal;

use crate::ids::{AssetCode, ClOrdId, ExecId, InlineStr, OrderId, RequestId, SymbolId};
use crate::protocol::messages::Method;
use crate::time::Timestamp;
use crate::types::{Liquidity, OrderStatus, Side};

/// Bytes per record.
pub const RECORD_LEN: usize = 256;
const PAYLOAD: usize = 24;

/// A segment's first record: what the journal belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format's version.
    pub version: u16,
    /// The segment's number (0, 1, ...).
    pub segment: u32,
    /// A fingerprint of the API key the journal was written for (SHA-256 of the key, first 16
    /// bytes): a journal from another account is refused, never mixed in.
    pub account: [u8; 16],
    /// A fingerprint of the symbol list it was written with: records name symbols by their
    /// index in it, so a journal written with another list is refused too.
    pub symbols: [u8; 16],
}

/// What the engine records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// A segment's header.
    Header(SegmentHeader),
    /// A request accepted from the strategy, before it goes out.
    Intent {
        /// Its request id.
        req_id: RequestId,
        /// Its method.
        method: Method,
        /// The order's client id (adds, and requests naming an order by it).
        cl_ord_id: Option<ClOrdId>,
        /// The order's Kraken id (requests naming an order by it).
        order_id: Option<OrderId>,
        /// The pair.
        symbol: SymbolId,
        /// Side, for adds.
        side: Option<Side>,
        /// Quantity, for adds and amends.
        qty: Option<Decimal>,
        /// Limit price, for adds and amends.
        price: Option<Decimal>,
        /// The `deadline` the request carried: the exchange refuses it after that, so an
        /// intent left without an outcome by a crash is looked up in a window that ends there.
        deadline: Option<Timestamp>,
        /// A validate-only add: it places nothing.
        validate: bool,
    },
    /// The exchange accepted a request.
    Ack {
        /// The request.
        req_id: RequestId,
        /// The order it placed or named.
        order_id: Option<OrderId>,
        /// Its client id.
        cl_ord_id: Option<ClOrdId>,
    },
    /// The exchange refused a request.
    Reject {
        /// The request.
        req_id: RequestId,
        /// Kraken's words (cut to 64 bytes).
        error: InlineStr<64>,
    },
    /// A fill, as delivered to the strategy.
    Fill(FillEntry),
    /// An order changed status.
    Status {
        /// The order.
        order_id: Option<OrderId>,
        /// Its client id.
        cl_ord_id: Option<ClOrdId>,
        /// Its pair.
        symbol: SymbolId,
        /// Its new status.
        status: OrderStatus,
    },
    /// How far the executions stream had been read.
    Checkpoint {
        /// The last executions sequence number applied.
        sequence: u64,
        /// The exchange time of the last fill applied.
        last_fill: Timestamp,
    },
    /// A position as it stood when a segment began (carried over at each rotation, so a
    /// journal whose oldest segments were deleted still knows it).
    Position {
        /// The pair.
        symbol: SymbolId,
        /// The position.
        position: crate::orders::Position,
    },
    /// From when fills may be missing and not yet read back from the trade history (`None`:
    /// nothing at risk any more): a process that dies mid-recovery leaves it to the next.
    AtRisk {
        /// Since when (exchange time).
        since: Option<Timestamp>,
    },
    /// An engine started appending: request ids before it belong to an earlier process.
    Start {
        /// The process's instance stamp (the high half of the client ids it names orders
        /// with).
        instance: u64,
    },
}

/// A fill's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillEntry {
    /// Kraken's execution id.
    pub exec_id: ExecId,
    /// The order.
    pub order_id: OrderId,
    /// Its client id.
    pub cl_ord_id: Option<ClOrdId>,
    /// The pair.
    pub symbol: SymbolId,
    /// Side.
    pub side: Option<Side>,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Decimal,
    /// Fee.
    pub fee: Option<Decimal>,
    /// The fee's asset.
    pub fee_asset: AssetCode,
    /// Maker or taker.
    pub liquidity: Option<Liquidity>,
    /// Exchange time.
    pub timestamp: Option<Timestamp>,
    /// Delivered as [`crate::orders::FillOrigin::Historical`]: from before the engine's
    /// records, in no position.
    pub historical: bool,
}

/// A record that could not be read: the end of the good part of the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// All zero: never written (the normal end).
    Empty,
    /// The CRC does not match (a torn or corrupt write).
    Checksum,
    /// The CRC matches but the contents make no sense (a newer version's kind, say).
    Malformed,
}

const K_HEADER: u8 = 1;
const K_INTENT: u8 = 2;
const K_ACK: u8 = 3;
const K_REJECT: u8 = 4;
const K_FILL: u8 = 5;
const K_STATUS: u8 = 6;
const K_CHECKPOINT: u8 = 7;
const K_START: u8 = 8;
const K_POSITION: u8 = 9;
const K_AT_RISK: u8 = 10;

/// Magic number of a segment header ("KXJ1").
pub const MAGIC: u32 = u32::from_le_bytes(*b"KXJ1");

const METHODS: [Method; 12] = [
    Method::AddOrder,
    Method::AmendOrder,
    Method::EditOrder,
    Method::CancelOrder,
    Method::CancelAll,
    Method::CancelAllOrdersAfter,
    Method::BatchAdd,
    Method::BatchCancel,
    Method::Subscribe,
    Method::Unsubscribe,
    Method::Pong,
    Method::Other,
];

const STATUSES: [OrderStatus; 9] = [
    OrderStatus::Pending,
    OrderStatus::PendingNew,
    OrderStatus::Open,
    OrderStatus::PartiallyFilled,
    OrderStatus::Filled,
    OrderStatus::Canceled,
    OrderStatus::Expired,
    OrderStatus::Rejected,
    OrderStatus::Unknown,
];

/// Writes into a payload, field after field.
struct W<'a> {
    b: &'a mut [u8; RECORD_LEN],
    at: usize,
}

impl W<'_> {
    fn bytes(&mut self, v: &[u8]) {
        self.b[self.at..self.at + v.len()].copy_from_slice(v);
        self.at += v.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn dec(&mut self, v: Option<Decimal>) {
        self.u8(u8::from(v.is_some()));
        self.bytes(&v.unwrap_or_default().serialize());
    }
    /// A string of at most `n` bytes: its length, then `n` bytes (the record was zeroed, so
    /// the padding is already there).
    fn str(&mut self, s: Option<&[u8]>, n: usize) {
        let len = s.map_or(0xFF, |s| s.len().min(n) as u8);
        self.u8(len);
        if let Some(s) = s {
            let k = s.len().min(n);
            self.b[self.at..self.at + k].copy_from_slice(&s[..k]);
        }
        self.at += n;
    }
    fn opt_u8(&mut self, v: Option<u8>) {
        self.u8(v.map_or(0xFF, |v| v));
    }
    fn opt_time(&mut self, v: Option<Timestamp>) {
        self.u8(u8::from(v.is_some()));
        self.u64(v.map_or(0, |t| t.0) as u64);
    }
}

/// Reads a payload, field after field.
struct R<'a> {
    b: &'a [u8; RECORD_LEN],
    at: usize,
}

impl R<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut v = [0u8; N];
        v.copy_from_slice(&self.b[self.at..self.at + N]);
        self.at += N;
        v
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn dec(&mut self) -> Option<Decimal> {
        let some = self.u8() == 1;
        let v = Decimal::deserialize(self.take());
        some.then_some(v)
    }
    fn str<const N: usize>(&mut self, n: usize) -> Result<Option<InlineStr<N>>, Bad> {
        let len = self.u8();
        let field = &self.b[self.at..self.at + n];
        self.at += n;
        if len == 0xFF {
            return Ok(None);
        }
        let s = field.get(..usize::from(len)).ok_or(Bad::Malformed)?;
        InlineStr::from_bytes(s).map(Some).ok_or(Bad::Malformed)
    }
    fn opt_u8(&mut self) -> Option<u8> {
        let v = self.u8();
        (v != 0xFF).then_some(v)
    }
    fn opt_time(&mut self) -> Option<Timestamp> {
        let some = self.u8() == 1;
        let t = Timestamp(self.u64() as i64);
        some.then_some(t)
    }
}

fn index_of<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter().position(|x| x == v).unwrap_or(0) as u8
}

impl Entry {
    /// Encodes the record with sequence number `seq` at wall-clock `time_us` into `out`, CRC
    /// included. No allocation.
    pub fn encode(&self, seq: u64, time_us: i64, out: &mut [u8; RECORD_LEN]) {
        out.fill(0);
        let mut w = W { b: out, at: 8 };
        w.u64(seq);
        w.u64(time_us as u64);
        debug_assert_eq!(w.at, PAYLOAD);
        let kind = match *self {
            Entry::Header(h) => {
                w.u32(MAGIC);
                w.u16(h.version);
                w.u32(h.segment);
                w.bytes(&h.account);
                w.bytes(&h.symbols);
                K_HEADER
            }
            Entry::Intent {
                req_id,
                method,
                cl_ord_id,
                order_id,
                symbol,
                side,
                qty,
                price,
                deadline,
                validate,
            } => {
                w.u64(req_id.0);
                w.u8(index_of(&METHODS, &method));
                w.str(cl_ord_id.as_ref().map(ClOrdId::as_bytes), 36);
                w.str(order_id.as_ref().map(InlineStr::as_bytes), 32);
                w.u16(symbol.0);
                w.opt_u8(side.map(|s| index_of(Side::ALL, &s)));
                w.dec(qty);
                w.dec(price);
                w.opt_time(deadline);
                w.u8(u8::from(validate));
                K_INTENT
            }
            Entry::Ack {
                req_id,
                order_id,
                cl_ord_id,
            } => {
                w.u64(req_id.0);
                w.str(order_id.as_ref().map(InlineStr::as_bytes), 32);
                w.str(cl_ord_id.as_ref().map(ClOrdId::as_bytes), 36);
                K_ACK
            }
            Entry::Reject { req_id, error } => {
                w.u64(req_id.0);
                w.str(Some(error.as_bytes()), 64);
                K_REJECT
            }
            Entry::Fill(f) => {
                w.str(Some(f.exec_id.as_bytes()), 32);
                w.str(Some(f.order_id.as_bytes()), 32);
                w.str(f.cl_ord_id.as_ref().map(ClOrdId::as_bytes), 36);
                w.u16(f.symbol.0);
                w.opt_u8(f.side.map(|s| index_of(Side::ALL, &s)));
                w.dec(Some(f.qty));
                w.dec(Some(f.price));
                w.dec(f.fee);
                w.str(Some(f.fee_asset.as_bytes()), 16);
                w.opt_u8(f.liquidity.map(|l| index_of(Liquidity::ALL, &l)));
                w.opt_time(f.timestamp);
                w.u8(u8::from(f.historical));
                K_FILL
            }
            Entry::Status {
                order_id,
                cl_ord_id,
                symbol,
                status,
            } => {
                w.str(order_id.as_ref().map(InlineStr::as_bytes), 32);
                w.str(cl_ord_id.as_ref().map(ClOrdId::as_bytes), 36);
                w.u16(symbol.0);
                w.u8(index_of(&STATUSES, &status));
                K_STATUS
            }
            Entry::Checkpoint {
                sequence,
                last_fill,
            } => {
                w.u64(sequence);
                w.u64(last_fill.0 as u64);
                K_CHECKPOINT
            }
            Entry::Start { instance } => {
                w.u64(instance);
                K_START
            }
            Entry::AtRisk { since } => {
                w.opt_time(since);
                K_AT_RISK
            }
            Entry::Position { symbol, position } => {
                w.u16(symbol.0);
                w.dec(Some(position.qty));
                w.dec(Some(position.avg_price));
                w.dec(Some(position.realized_pnl));
                w.dec(Some(position.fees));
                w.dec(Some(position.volume));
                K_POSITION
            }
        };
        out[4] = kind;
        let crc = crc32c::crc32c(&out[4..]);
        out[..4].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes a record: (sequence, time µs, entry), or why it is not one.
    pub fn decode(b: &[u8; RECORD_LEN]) -> Result<(u64, i64, Entry), Bad> {
        if b.iter().all(|&x| x == 0) {
            return Err(Bad::Empty);
        }
        let crc = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if crc != crc32c::crc32c(&b[4..]) {
            return Err(Bad::Checksum);
        }
        let mut r = R { b, at: 8 };
        let seq = r.u64();
        let time = r.u64() as i64;
        let cl = |s: Option<InlineStr<36>>| -> Result<Option<ClOrdId>, Bad> {
            s.map(|s| ClOrdId::new(s.as_str()).map_err(|_| Bad::Malformed))
                .transpose()
        };
        let entry = match b[4] {
            K_HEADER => {
                if r.u32() != MAGIC {
                    return Err(Bad::Malformed);
                }
                Entry::Header(SegmentHeader {
                    version: r.u16(),
                    segment: r.u32(),
                    account: r.take(),
                    symbols: r.take(),
                })
            }
            K_INTENT => Entry::Intent {
                req_id: RequestId(r.u64()),
                method: *METHODS.get(usize::from(r.u8())).ok_or(Bad::Malformed)?,
                cl_ord_id: cl(r.str::<36>(36)?)?,
                order_id: r.str::<32>(32)?,
                symbol: SymbolId(r.u16()),
                side: r
                    .opt_u8()
                    .and_then(|i| Side::ALL.get(usize::from(i)).copied()),
                qty: r.dec(),
                price: r.dec(),
                deadline: r.opt_time(),
                validate: r.u8() == 1,
            },
            K_ACK => Entry::Ack {
                req_id: RequestId(r.u64()),
                order_id: r.str::<32>(32)?,
                cl_ord_id: cl(r.str::<36>(36)?)?,
            },
            K_REJECT => Entry::Reject {
                req_id: RequestId(r.u64()),
                error: r.str::<64>(64)?.unwrap_or_default(),
            },
            K_FILL => Entry::Fill(FillEntry {
                exec_id: r.str::<32>(32)?.ok_or(Bad::Malformed)?,
                order_id: r.str::<32>(32)?.ok_or(Bad::Malformed)?,
                cl_ord_id: cl(r.str::<36>(36)?)?,
                symbol: SymbolId(r.u16()),
                side: r
                    .opt_u8()
                    .and_then(|i| Side::ALL.get(usize::from(i)).copied()),
                qty: r.dec().ok_or(Bad::Malformed)?,
                price: r.dec().ok_or(Bad::Malformed)?,
                fee: r.dec(),
                fee_asset: r.str::<16>(16)?.unwrap_or_default(),
                liquidity: r
                    .opt_u8()
                    .and_then(|i| Liquidity::ALL.get(usize::from(i)).copied()),
                timestamp: r.opt_time(),
                historical: r.u8() == 1,
            }),
            K_STATUS => Entry::Status {
                order_id: r.str::<32>(32)?,
                cl_ord_id: cl(r.str::<36>(36)?)?,
                symbol: SymbolId(r.u16()),
                status: *STATUSES.get(usize::from(r.u8())).ok_or(Bad::Malformed)?,
            },
            K_CHECKPOINT => Entry::Checkpoint {
                sequence: r.u64(),
                last_fill: Timestamp(r.u64() as i64),
            },
            K_START => Entry::Start { instance: r.u64() },
            K_AT_RISK => Entry::AtRisk {
                since: r.opt_time(),
            },
            K_POSITION => Entry::Position {
                symbol: SymbolId(r.u16()),
                position: crate::orders::Position {
                    qty: r.dec().ok_or(Bad::Malformed)?,
                    avg_price: r.dec().ok_or(Bad::Malformed)?,
                    realized_pnl: r.dec().ok_or(Bad::Malformed)?,
                    fees: r.dec().ok_or(Bad::Malformed)?,
                    volume: r.dec().ok_or(Bad::Malformed)?,
                },
            },
            _ => return Err(Bad::Malformed),
        };
        Ok((seq, time, entry))
    }
}

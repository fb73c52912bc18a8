//! Decoding of inbound WS v2 frames with simd-json, in reused buffers.
//!
//! simd-json validates the frame and builds its tape (SIMD structural scan, in-place string
//! unescaping). Numbers are then read **from the frame's own digits**, located through
//! simd-json's structural indexes, never through `f64`: `0.00016000` decodes to a `Decimal` with
//! mantissa 16000 and scale 8, exactly as sent, so both value and scale survive.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use simd_json::{Buffers, INPUT_PADDING, Node, StaticNode, Tape};

use crate::error::{DecodeError, KrakenErrorKind};
use crate::ids::{ClOrdId, InlineStr, SymbolId, SymbolTable};
use crate::protocol::messages::*;
use crate::time::Timestamp;
use crate::types::*;

type R<T> = Result<T, DecodeError>;

/// Frames larger than this are refused (Kraken's largest, an instrument snapshot, is ~300 KiB).
pub const MAX_FRAME: usize = 8 << 20;

/// Decodes inbound frames. Owns every buffer it needs and reuses them, so steady-state decoding
/// does not allocate.
pub struct Decoder {
    input: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
    executions: Vec<ExecutionReport>,
    balances: Vec<BalanceEntry>,
    batch: Vec<BatchItem>,
    pairs: Vec<InstrumentPair>,
    assets: Vec<AssetInfo>,
    bids: Vec<BookLevel>,
    asks: Vec<BookLevel>,
    trades: Vec<PublicTrade>,
    tickers: Vec<Ticker>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder with buffers sized for typical trading frames.
    pub fn new() -> Self {
        let mut d = Self {
            input: Vec::new(),
            buffers: Buffers::new(4096),
            tape: Tape(Vec::new()),
            executions: Vec::new(),
            balances: Vec::new(),
            batch: Vec::new(),
            pairs: Vec::new(),
            assets: Vec::new(),
            bids: Vec::new(),
            asks: Vec::new(),
            trades: Vec::new(),
            tickers: Vec::new(),
        };
        d.reserve(4096, 64);
        d
    }

    /// Grows the buffers for frames up to `frame_len` bytes with up to `items` elements, so the
    /// first large frame does not allocate on the hot path.
    pub fn reserve(&mut self, frame_len: usize, items: usize) {
        self.input.reserve(frame_len + INPUT_PADDING);
        self.tape.0.reserve(frame_len / 2);
        self.executions.reserve(items);
        self.balances.reserve(items);
        self.batch.reserve(16);
        // A book snapshot holds up to 1,000 levels a side.
        self.bids.reserve(1_000);
        self.asks.reserve(1_000);
        self.trades.reserve(items);
        self.tickers.reserve(16);
    }

    /// Trades of the last `trade` frame, oldest first.
    pub fn trades(&self) -> &[PublicTrade] {
        &self.trades
    }

    /// Entries of the last `ticker` frame.
    pub fn tickers(&self) -> &[Ticker] {
        &self.tickers
    }

    /// Bid levels of the last `book` frame, in the frame's order.
    pub fn book_bids(&self) -> &[BookLevel] {
        &self.bids
    }

    /// Ask levels of the last `book` frame, in the frame's order.
    pub fn book_asks(&self) -> &[BookLevel] {
        &self.asks
    }

    /// Reports of the last `executions` frame.
    pub fn executions(&self) -> &[ExecutionReport] {
        &self.executions
    }

    /// Entries of the last `balances` frame.
    pub fn balances(&self) -> &[BalanceEntry] {
        &self.balances
    }

    /// Elements of the last `batch_add` response.
    pub fn batch(&self) -> &[BatchItem] {
        &self.batch
    }

    /// Pairs of the last `instrument` frame.
    pub fn pairs(&self) -> &[InstrumentPair] {
        &self.pairs
    }

    /// Assets of the last `instrument` frame.
    pub fn assets(&self) -> &[AssetInfo] {
        &self.assets
    }

    /// Decodes one text frame. Never panics; a frame that is not a Kraken message is a typed
    /// error and leaves the decoder ready for the next one.
    pub fn decode(&mut self, frame: &[u8], symbols: &SymbolTable) -> R<Inbound> {
        let first = frame.iter().find(|b| !b.is_ascii_whitespace());
        match first {
            Some(b'{') => {}
            Some(b'[') => return Err(DecodeError::UnknownMessage),
            _ => return Err(DecodeError::NotJson),
        }
        if frame.len() > MAX_FRAME {
            return Err(DecodeError::Malformed);
        }
        let Self {
            input,
            buffers,
            tape,
            executions,
            balances,
            batch,
            pairs,
            assets,
            bids,
            asks,
            trades,
            tickers,
        } = self;
        input.clear();
        input.extend_from_slice(frame);
        input.resize(frame.len() + INPUT_PADDING, 0);
        let mut t: Tape<'_> = std::mem::replace(tape, Tape(Vec::new())).reset();
        let base = input.as_ptr() as usize;
        let res = match simd_json::fill_tape_padded(input, frame.len(), buffers, &mut t) {
            Err(_) => Err(DecodeError::Malformed),
            Ok(()) => {
                let mut cur = Cursor {
                    nodes: &t.0,
                    src: frame,
                    base,
                    base_len: frame.len(),
                    i: 0,
                };
                let mut out = Outputs {
                    executions,
                    balances,
                    batch,
                    pairs,
                    assets,
                    bids,
                    asks,
                    trades,
                    tickers,
                };
                top_level(&mut cur, symbols, &mut out)
            }
        };
        *tape = t.reset();
        res
    }
}

struct Outputs<'a> {
    executions: &'a mut Vec<ExecutionReport>,
    balances: &'a mut Vec<BalanceEntry>,
    batch: &'a mut Vec<BatchItem>,
    pairs: &'a mut Vec<InstrumentPair>,
    assets: &'a mut Vec<AssetInfo>,
    bids: &'a mut Vec<BookLevel>,
    asks: &'a mut Vec<BookLevel>,
    trades: &'a mut Vec<PublicTrade>,
    tickers: &'a mut Vec<Ticker>,
}

/// Walks simd-json's tape. Strings on the tape point into `input` (simd-json unescapes in place,
/// at the string's own position), so a key's address gives its offset in the frame, and the
/// digits of the number that follows it are read from the untouched original `src`.
#[derive(Clone, Copy)]
struct Cursor<'t, 'de> {
    nodes: &'t [Node<'de>],
    src: &'t [u8],
    /// Address and length of the buffer simd-json parsed (a copy of `src`).
    base: usize,
    base_len: usize,
    i: usize,
}

/// A value: its tape node and, for an object member, its key (which locates its text).
#[derive(Clone, Copy)]
struct Val<'de> {
    node: Node<'de>,
    key: Option<&'de str>,
}

impl<'t, 'de> Cursor<'t, 'de> {
    fn next(&mut self) -> R<Val<'de>> {
        let node = *self.nodes.get(self.i).ok_or(DecodeError::Malformed)?;
        self.i += 1;
        Ok(Val { node, key: None })
    }

    /// Where the value of member `key` starts in `src`: after the key's closing quote, the
    /// colon and any whitespace.
    fn value_pos(&self, key: &str) -> Option<usize> {
        let start = (key.as_ptr() as usize).checked_sub(self.base)?;
        if start == 0 || start > self.base_len {
            return None;
        }
        let end = start + key.len();
        // Fast path: the original text equals the key (no escapes), so it ends at `end`.
        let mut i = if self.src.get(start..end) == Some(key.as_bytes())
            && self.src.get(end) == Some(&b'"')
        {
            end
        } else {
            self.scan_to_quote(start)?
        };
        i += 1;
        while matches!(self.src.get(i)?, b' ' | b'\t' | b'\n' | b'\r' | b':') {
            i += 1;
        }
        Some(i)
    }

    /// Scans the original text of a string (which may hold escapes) to its closing quote.
    fn scan_to_quote(&self, start: usize) -> Option<usize> {
        let mut i = start;
        loop {
            match *self.src.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        Some(i)
    }

    /// Skips the children of `v` if it is a container.
    fn skip(&mut self, v: Val<'de>) -> R<()> {
        if let Node::Object { count, .. } | Node::Array { count, .. } = v.node {
            self.i += count;
            if self.i > self.nodes.len() {
                return Err(DecodeError::Malformed);
            }
        }
        Ok(())
    }

    /// Iterates the members of object `v`, calling `f(cursor, key, value)`; `f` must consume the
    /// value's children (parse or [`Cursor::skip`]).
    fn object(
        &mut self,
        v: Val<'de>,
        field: &'static str,
        mut f: impl FnMut(&mut Self, &'de str, Val<'de>) -> R<()>,
    ) -> R<()> {
        let Node::Object { len, .. } = v.node else {
            return Err(DecodeError::InvalidField(field));
        };
        for _ in 0..len {
            let k = self.next()?;
            let Node::String(key) = k.node else {
                return Err(DecodeError::Malformed);
            };
            let mut val = self.next()?;
            val.key = Some(key);
            f(self, key, val)?;
        }
        Ok(())
    }

    /// Iterates the elements of array `v`.
    fn array(
        &mut self,
        v: Val<'de>,
        field: &'static str,
        mut f: impl FnMut(&mut Self, Val<'de>) -> R<()>,
    ) -> R<()> {
        let Node::Array { len, .. } = v.node else {
            return Err(DecodeError::InvalidField(field));
        };
        for _ in 0..len {
            let e = self.next()?;
            f(self, e)?;
        }
        Ok(())
    }

    fn str(&self, v: Val<'de>, field: &'static str) -> R<&'de str> {
        match v.node {
            Node::String(s) => Ok(s),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    fn decimal(&self, v: Val<'de>, field: &'static str) -> R<Decimal> {
        match v.node {
            Node::Static(StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_)) => v
                .key
                .and_then(|k| self.value_pos(k))
                .and_then(|p| parse_decimal(self.src, p))
                .or_else(|| approx_decimal(v.node))
                .ok_or(DecodeError::InvalidField(field)),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    fn u64(&self, v: Val<'de>, field: &'static str) -> R<u64> {
        match v.node {
            Node::Static(StaticNode::U64(n)) => Ok(n),
            Node::Static(StaticNode::I64(n)) if n >= 0 => Ok(n as u64),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    fn i64(&self, v: Val<'de>, field: &'static str) -> R<i64> {
        match v.node {
            Node::Static(StaticNode::I64(n)) => Ok(n),
            Node::Static(StaticNode::U64(n)) => {
                i64::try_from(n).map_err(|_| DecodeError::InvalidField(field))
            }
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    fn bool(&self, v: Val<'de>, field: &'static str) -> R<bool> {
        match v.node {
            Node::Static(StaticNode::Bool(b)) => Ok(b),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    fn inline<const N: usize>(&self, v: Val<'de>, field: &'static str) -> R<InlineStr<N>> {
        InlineStr::new(self.str(v, field)?).ok_or(DecodeError::InvalidField(field))
    }

    /// An enum word read leniently: a value this version does not know is `None`, with the
    /// raw text kept in `unknown` (a whole frame is never lost to one new word).
    fn lenient<T>(
        &self,
        v: Val<'de>,
        field: &'static str,
        f: fn(&str) -> Option<T>,
        unknown: &mut Unknowns,
    ) -> R<Option<T>> {
        let s = self.str(v, field)?;
        Ok(f(s).or_else(|| {
            unknown.note(field, s);
            None
        }))
    }

    /// A time read leniently (see [`Cursor::lenient`]).
    fn lenient_time(
        &self,
        v: Val<'de>,
        field: &'static str,
        unknown: &mut Unknowns,
    ) -> R<Option<Timestamp>> {
        self.lenient(v, field, Timestamp::parse_rfc3339, unknown)
    }

    /// An id in an ack: Kraken answers a validate-only request with an empty one, which names
    /// no order.
    fn inline_id<const N: usize>(
        &self,
        v: Val<'de>,
        field: &'static str,
    ) -> R<Option<InlineStr<N>>> {
        match self.str(v, field)? {
            "" => Ok(None),
            s => InlineStr::new(s)
                .map(Some)
                .ok_or(DecodeError::InvalidField(field)),
        }
    }

    fn wire<T>(&self, v: Val<'de>, field: &'static str, f: fn(&str) -> Option<T>) -> R<T> {
        f(self.str(v, field)?).ok_or(DecodeError::InvalidField(field))
    }
}

/// Values a report held that this version does not know.
#[derive(Default)]
struct Unknowns {
    first: Option<UnknownValue>,
    count: u8,
}

impl Unknowns {
    fn note(&mut self, field: &'static str, raw: &str) {
        self.first.get_or_insert(UnknownValue {
            field,
            raw: Text::truncating(raw),
        });
        self.count = self.count.saturating_add(1);
    }
}

fn is_null(v: &Val<'_>) -> bool {
    matches!(v.node, Node::Static(StaticNode::Null))
}

/// Parses the JSON number starting at `src[pos]` exactly: digits become the mantissa, the
/// fraction length (minus any exponent) the scale. `None` if it does not fit a `Decimal`
/// (more than 28 significant digits or an extreme exponent).
pub(crate) fn parse_decimal(src: &[u8], pos: usize) -> Option<Decimal> {
    let b = src.get(pos..)?;
    let neg = b.first() == Some(&b'-');
    let mut i = usize::from(neg);
    // Digits accumulate in a u64 while they fit (19 digits: every price and quantity Kraken
    // sends), then in a u128.
    let mut m: u128;
    let mut m64: u64 = 0;
    let mut digits = 0u32;
    let mut scale: i64 = 0;
    let mut seen_point = false;
    loop {
        match b.get(i) {
            Some(&c) if c.is_ascii_digit() => {
                if digits < 19 {
                    m64 = m64 * 10 + u64::from(c - b'0');
                    if m64 != 0 {
                        digits += 1;
                    }
                    scale += i64::from(seen_point);
                    i += 1;
                } else {
                    break;
                }
            }
            Some(b'.') if !seen_point => {
                seen_point = true;
                i += 1;
            }
            _ => break,
        }
    }
    m = u128::from(m64);
    // Slow path: more than 19 significant digits.
    let mut sig = digits;
    loop {
        match b.get(i) {
            Some(&c) if c.is_ascii_digit() => {
                m = m * 10 + u128::from(c - b'0');
                sig += 1;
                if sig > 28 {
                    return None;
                }
                scale += i64::from(seen_point);
                i += 1;
            }
            Some(b'.') if !seen_point => {
                seen_point = true;
                i += 1;
            }
            _ => break,
        }
    }
    let int_start = usize::from(neg);
    if i == int_start || (seen_point && i == int_start + 1) {
        return None;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut e: i64 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            e = (e * 10 + i64::from(c - b'0')).min(10_000);
            i += 1;
        }
        scale += if eneg { e } else { -e };
    }
    while scale < 0 {
        m = m.checked_mul(10)?;
        scale += 1;
    }
    if scale > 28 || m >= 1u128 << 96 {
        return None;
    }
    Some(Decimal::from_parts(
        m as u32,
        (m >> 32) as u32,
        (m >> 64) as u32,
        neg,
        scale as u32,
    ))
}

/// Fallback for numbers a `Decimal` cannot hold exactly: the nearest decimal of simd-json's
/// parsed value (shortest round-trip digits).
fn approx_decimal(n: Node<'_>) -> Option<Decimal> {
    match n {
        Node::Static(StaticNode::F64(f)) => Decimal::from_f64(f),
        Node::Static(StaticNode::I64(i)) => Some(Decimal::from(i)),
        Node::Static(StaticNode::U64(u)) => Some(Decimal::from(u)),
        _ => None,
    }
}

fn frame_kind(s: Option<&str>) -> R<FrameKind> {
    match s {
        Some("snapshot") => Ok(FrameKind::Snapshot),
        Some("update") | None => Ok(FrameKind::Update),
        Some(_) => Err(DecodeError::InvalidField("type")),
    }
}

fn top_level<'de>(
    c: &mut Cursor<'_, 'de>,
    symbols: &SymbolTable,
    out: &mut Outputs<'_>,
) -> R<Inbound> {
    let root = c.next()?;
    let mut channel: Option<&'de str> = None;
    let mut method: Option<&'de str> = None;
    let mut kind: Option<&'de str> = None;
    let mut data: Option<Cursor<'_, 'de>> = None;
    let mut result: Option<Cursor<'_, 'de>> = None;
    let mut resp = Response {
        method: Method::Other,
        req_id: None,
        success: true,
        error: None,
        error_kind: None,
        result: AckResult::None,
        warnings: 0,
        time_in: None,
        time_out: None,
    };
    let mut sequence = None;
    let mut success: Option<bool> = None;
    let mut orders_cancelled = None;
    c.object(root, "root", |c, k, v| {
        match k {
            "channel" => channel = Some(c.str(v, "channel")?),
            "method" => method = Some(c.str(v, "method")?),
            "type" => kind = Some(c.str(v, "type")?),
            "sequence" => sequence = Some(c.u64(v, "sequence")?),
            "req_id" if !is_null(&v) => resp.req_id = Some(c.u64(v, "req_id")?),
            "success" => success = Some(c.bool(v, "success")?),
            "error" if !is_null(&v) => {
                let e = c.str(v, "error")?;
                resp.error = Some(Text::truncating(e));
                resp.error_kind = Some(KrakenErrorKind::classify(e));
            }
            // A time this version cannot read never costs the ack it comes with.
            "time_in" => resp.time_in = c.lenient_time(v, "time_in", &mut Unknowns::default())?,
            "time_out" => {
                resp.time_out = c.lenient_time(v, "time_out", &mut Unknowns::default())?
            }
            "orders_cancelled" => orders_cancelled = Some(c.u64(v, "orders_cancelled")?),
            "data" | "result" => {
                // Remember where the payload starts; it is parsed once the kind is known.
                let at = Cursor { i: c.i - 1, ..*c };
                if k == "data" {
                    data = Some(at);
                } else {
                    result = Some(at);
                }
                return c.skip(v);
            }
            _ => return c.skip(v),
        }
        Ok(())
    })?;

    if let Some(m) = method {
        resp.method = Method::from_wire(m);
        resp.success = success.unwrap_or(resp.error.is_none());
        if let Some(mut rc) = result {
            let v = rc.next()?;
            resp.result = ack_result(&mut rc, v, resp.method, symbols, out, &mut resp.warnings)?;
        } else if let Some(n) = orders_cancelled {
            resp.result = AckResult::Count(n);
        }
        return Ok(Inbound::Response(resp));
    }
    let Some(ch) = channel else {
        return Err(DecodeError::UnknownMessage);
    };
    match ch {
        "heartbeat" => Ok(Inbound::Heartbeat),
        "executions" => {
            out.executions.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    out.executions.push(ExecutionReport::default());
                    let slot = out.executions.len() - 1;
                    execution(c, e, symbols, &mut out.executions[slot])
                })?;
            }
            Ok(Inbound::Executions {
                kind: frame_kind(kind)?,
                sequence,
                len: out.executions.len(),
            })
        }
        "balances" => {
            out.balances.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    let b = balance(c, e)?;
                    out.balances.push(b);
                    Ok(())
                })?;
            }
            Ok(Inbound::Balances {
                kind: frame_kind(kind)?,
                sequence,
                len: out.balances.len(),
            })
        }
        "instrument" => {
            out.pairs.clear();
            out.assets.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                instrument(&mut dc, v, out)?;
            }
            Ok(Inbound::Instrument {
                kind: frame_kind(kind)?,
                pairs: out.pairs.len(),
                assets: out.assets.len(),
            })
        }
        "book" => {
            out.bids.clear();
            out.asks.clear();
            let (mut symbol, mut checksum, mut timestamp) = (SymbolId::UNKNOWN, None, None);
            let mut pairs = 0u32;
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    // One pair per frame (Kraken's way): levels of several could not be told
                    // apart in the two lists.
                    pairs += 1;
                    if pairs > 1 {
                        return Err(DecodeError::InvalidField("data"));
                    }
                    c.object(e, "data", |c, k, v| {
                        match k {
                            "symbol" => {
                                symbol = symbols
                                    .get(c.str(v, "symbol")?)
                                    .unwrap_or(SymbolId::UNKNOWN)
                            }
                            "bids" => book_levels(c, v, "bids", out.bids)?,
                            "asks" => book_levels(c, v, "asks", out.asks)?,
                            "checksum" => {
                                checksum = Some(
                                    u32::try_from(c.u64(v, "checksum")?)
                                        .map_err(|_| DecodeError::InvalidField("checksum"))?,
                                )
                            }
                            "timestamp" => {
                                timestamp =
                                    c.lenient_time(v, "timestamp", &mut Unknowns::default())?
                            }
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })
                })?;
            }
            Ok(Inbound::Book {
                kind: frame_kind(kind)?,
                symbol,
                checksum,
                timestamp,
            })
        }
        "trade" => {
            out.trades.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    let mut t = PublicTrade::default();
                    let u = &mut Unknowns::default();
                    c.object(e, "data", |c, k, v| {
                        match k {
                            "symbol" => {
                                t.symbol = symbols
                                    .get(c.str(v, "symbol")?)
                                    .unwrap_or(SymbolId::UNKNOWN)
                            }
                            "side" => t.side = c.lenient(v, "side", Side::from_wire, u)?,
                            "price" => t.price = c.decimal(v, "price")?,
                            "qty" => t.qty = c.decimal(v, "qty")?,
                            "ord_type" => {
                                t.ord_type = c.lenient(v, "ord_type", OrderType::from_wire, u)?
                            }
                            "trade_id" => t.trade_id = Some(c.u64(v, "trade_id")?),
                            "timestamp" => t.timestamp = c.lenient_time(v, "timestamp", u)?,
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })?;
                    out.trades.push(t);
                    Ok(())
                })?;
            }
            Ok(Inbound::Trade {
                kind: frame_kind(kind)?,
                len: out.trades.len(),
            })
        }
        "ticker" => {
            out.tickers.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    let mut t = Ticker::default();
                    c.object(e, "data", |c, k, v| {
                        let d = |c: &Cursor<'_, 'de>, f| c.decimal(v, f).map(Some);
                        match k {
                            "symbol" => {
                                t.symbol = symbols
                                    .get(c.str(v, "symbol")?)
                                    .unwrap_or(SymbolId::UNKNOWN)
                            }
                            "bid" => t.bid = d(c, "bid")?,
                            "bid_qty" => t.bid_qty = d(c, "bid_qty")?,
                            "ask" => t.ask = d(c, "ask")?,
                            "ask_qty" => t.ask_qty = d(c, "ask_qty")?,
                            "last" => t.last = d(c, "last")?,
                            "volume" => t.volume = d(c, "volume")?,
                            "vwap" => t.vwap = d(c, "vwap")?,
                            "low" => t.low = d(c, "low")?,
                            "high" => t.high = d(c, "high")?,
                            "change" => t.change = d(c, "change")?,
                            "change_pct" => t.change_pct = d(c, "change_pct")?,
                            "timestamp" => {
                                t.timestamp =
                                    c.lenient_time(v, "timestamp", &mut Unknowns::default())?
                            }
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })?;
                    out.tickers.push(t);
                    Ok(())
                })?;
            }
            Ok(Inbound::Ticker {
                kind: frame_kind(kind)?,
                len: out.tickers.len(),
            })
        }
        "status" => {
            let mut st = Status::default();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    c.object(e, "data", |c, k, v| {
                        match k {
                            "system" => {
                                st.system = Some(c.wire(v, "system", SystemStatus::from_wire)?)
                            }
                            "connection_id" => st.connection_id = Some(c.u64(v, "connection_id")?),
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })
                })?;
            }
            Ok(Inbound::Status(st))
        }
        _ => Err(DecodeError::UnknownMessage),
    }
}

/// A `bids` or `asks` array of `{"price":…,"qty":…}` into `out`, the digits as sent.
fn book_levels<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    field: &'static str,
    out: &mut Vec<BookLevel>,
) -> R<()> {
    c.array(v, field, |c, e| {
        let mut l = BookLevel::default();
        let (mut price, mut qty) = (false, false);
        c.object(e, field, |c, k, v| {
            match k {
                "price" => {
                    l.price = c.decimal(v, "price")?;
                    price = true;
                }
                "qty" => {
                    l.qty = c.decimal(v, "qty")?;
                    qty = true;
                }
                _ => c.skip(v)?,
            }
            Ok(())
        })?;
        if !(price && qty) {
            return Err(DecodeError::InvalidField(field));
        }
        out.push(l);
        Ok(())
    })
}

/// Counts a `warnings` array (advisory texts are not kept) and skips it.
fn add_warnings<'de>(c: &mut Cursor<'_, 'de>, v: Val<'de>, warnings: &mut u8) -> R<()> {
    if let Node::Array { len, .. } = v.node {
        *warnings = warnings.saturating_add(len.min(255) as u8);
    }
    c.skip(v)
}

fn order_ack<'de>(c: &mut Cursor<'_, 'de>, v: Val<'de>, warnings: &mut u8) -> R<BatchItem> {
    let mut item = BatchItem::default();
    c.object(v, "result", |c, k, v| {
        match k {
            "order_id" => item.order_id = c.inline_id(v, "order_id")?,
            "cl_ord_id" => {
                item.cl_ord_id = Some(
                    ClOrdId::from_wire(c.str(v, "cl_ord_id")?)
                        .ok_or(DecodeError::InvalidField("cl_ord_id"))?,
                )
            }
            "order_userref" => item.order_userref = Some(c.i64(v, "order_userref")?),
            "error" => item.error = Some(Text::truncating(c.str(v, "error")?)),
            "warnings" => add_warnings(c, v, warnings)?,
            _ => c.skip(v)?,
        }
        Ok(())
    })?;
    Ok(item)
}

fn ack_result<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    method: Method,
    symbols: &SymbolTable,
    out: &mut Outputs<'_>,
    warnings: &mut u8,
) -> R<AckResult> {
    match method {
        Method::BatchAdd => {
            out.batch.clear();
            if let Node::Array { .. } = v.node {
                c.array(v, "result", |c, e| {
                    let item = order_ack(c, e, warnings)?;
                    out.batch.push(item);
                    Ok(())
                })?;
            } else {
                // Seen only in a synthetic fixture: {"orders":[...]}. Accepted all the same.
                c.object(v, "result", |c, k, v| {
                    if k == "orders" {
                        c.array(v, "orders", |c, e| {
                            let item = order_ack(c, e, warnings)?;
                            out.batch.push(item);
                            Ok(())
                        })
                    } else {
                        c.skip(v)
                    }
                })?;
            }
            Ok(AckResult::Batch {
                len: out.batch.len(),
            })
        }
        Method::AddOrder | Method::CancelOrder => {
            let i = order_ack(c, v, warnings)?;
            Ok(AckResult::Order {
                order_id: i.order_id,
                cl_ord_id: i.cl_ord_id,
                order_userref: i.order_userref,
            })
        }
        Method::AmendOrder => {
            let (mut amend_id, mut order_id, mut cl_ord_id) = (None, None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    "amend_id" => amend_id = Some(c.inline(v, "amend_id")?),
                    "order_id" => order_id = c.inline_id(v, "order_id")?,
                    "cl_ord_id" => {
                        cl_ord_id = ClOrdId::from_wire(c.str(v, "cl_ord_id")?);
                    }
                    "warnings" => add_warnings(c, v, warnings)?,
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Amend {
                amend_id,
                order_id,
                cl_ord_id,
            })
        }
        Method::EditOrder => {
            let (mut order_id, mut original_order_id) = (None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    "order_id" => order_id = c.inline_id(v, "order_id")?,
                    "original_order_id" => {
                        original_order_id = Some(c.inline(v, "original_order_id")?)
                    }
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Edit {
                order_id,
                original_order_id,
            })
        }
        Method::CancelAll | Method::BatchCancel => {
            let mut count = 0;
            c.object(v, "result", |c, k, v| {
                match k {
                    "count" => count = c.u64(v, "count")?,
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Count(count))
        }
        Method::CancelAllOrdersAfter => {
            let (mut current_time, mut trigger_time) = (None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    // "0" or another non-time value when disarmed: not an error.
                    "currentTime" => {
                        current_time = Timestamp::parse_rfc3339(c.str(v, "time").unwrap_or(""))
                    }
                    "triggerTime" => {
                        trigger_time = Timestamp::parse_rfc3339(c.str(v, "time").unwrap_or(""))
                    }
                    _ => {}
                }
                c.skip(v)
            })?;
            Ok(AckResult::CancelAfter {
                current_time,
                trigger_time,
            })
        }
        Method::Subscribe | Method::Unsubscribe => {
            let (mut channel, mut maxratecount, mut symbol) = (Channel::Other, None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    "channel" => channel = Channel::from_wire(c.str(v, "channel")?),
                    "maxratecount" => {
                        maxratecount = Some(
                            u32::try_from(c.u64(v, "maxratecount")?)
                                .map_err(|_| DecodeError::InvalidField("maxratecount"))?,
                        )
                    }
                    "symbol" => {
                        symbol = Some(
                            symbols
                                .get(c.str(v, "symbol")?)
                                .unwrap_or(SymbolId::UNKNOWN),
                        )
                    }
                    "warnings" => add_warnings(c, v, warnings)?,
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Subscription {
                channel,
                maxratecount,
                symbol,
            })
        }
        Method::Pong | Method::Other => {
            c.skip(v)?;
            Ok(AckResult::None)
        }
    }
}

fn execution<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    symbols: &SymbolTable,
    r: &mut ExecutionReport,
) -> R<()> {
    let mut has_id = false;
    let mut has_type = false;
    let mut unknown = Unknowns::default();
    let u = &mut unknown;
    c.object(v, "data", |c, k, v| {
        if is_null(&v) {
            return Ok(());
        }
        match k {
            "order_id" => {
                r.order_id = c.inline(v, "order_id")?;
                has_id = true;
            }
            "exec_type" => {
                r.exec_type = c.lenient(v, "exec_type", ExecType::from_wire, u)?;
                has_type = true;
            }
            "order_status" => {
                r.order_status = c.lenient(v, "order_status", WireOrderStatus::from_wire, u)?
            }
            "timestamp" => r.timestamp = c.lenient_time(v, "timestamp", u)?,
            "symbol" => {
                r.symbol = Some(
                    symbols
                        .get(c.str(v, "symbol")?)
                        .unwrap_or(SymbolId::UNKNOWN),
                )
            }
            "side" => r.side = c.lenient(v, "side", Side::from_wire, u)?,
            "order_type" => r.order_type = c.lenient(v, "order_type", OrderType::from_wire, u)?,
            "order_qty" => r.order_qty = Some(c.decimal(v, "order_qty")?),
            "cash_order_qty" => r.cash_order_qty = Some(c.decimal(v, "cash_order_qty")?),
            "display_qty" => r.display_qty = Some(c.decimal(v, "display_qty")?),
            "limit_price" => r.limit_price = Some(c.decimal(v, "limit_price")?),
            "limit_price_type" => {
                r.limit_price_type = c.lenient(v, "limit_price_type", PriceType::from_wire, u)?
            }
            "time_in_force" => {
                r.time_in_force = c.lenient(v, "time_in_force", TimeInForce::from_wire, u)?
            }
            "post_only" => r.post_only = Some(c.bool(v, "post_only")?),
            "reduce_only" => r.reduce_only = Some(c.bool(v, "reduce_only")?),
            "margin" => r.margin = Some(c.bool(v, "margin")?),
            "cl_ord_id" => {
                r.cl_ord_id = Some(
                    ClOrdId::from_wire(c.str(v, "cl_ord_id")?)
                        .ok_or(DecodeError::InvalidField("cl_ord_id"))?,
                )
            }
            "order_userref" => r.order_userref = Some(c.i64(v, "order_userref")?),
            "effective_time" => r.effective_time = c.lenient_time(v, "effective_time", u)?,
            "expire_time" => r.expire_time = c.lenient_time(v, "expire_time", u)?,
            "cum_qty" => r.cum_qty = Some(c.decimal(v, "cum_qty")?),
            "cum_cost" => r.cum_cost = Some(c.decimal(v, "cum_cost")?),
            "avg_price" => r.avg_price = Some(c.decimal(v, "avg_price")?),
            "fee_usd_equiv" => r.fee_usd_equiv = Some(c.decimal(v, "fee_usd_equiv")?),
            "exec_id" => r.exec_id = Some(c.inline(v, "exec_id")?),
            "trade_id" => r.trade_id = Some(c.u64(v, "trade_id")?),
            "last_qty" => r.last_qty = Some(c.decimal(v, "last_qty")?),
            "last_price" => r.last_price = Some(c.decimal(v, "last_price")?),
            "cost" => r.cost = Some(c.decimal(v, "cost")?),
            "liquidity_ind" => {
                r.liquidity = c.lenient(v, "liquidity_ind", Liquidity::from_wire, u)?
            }
            "fees" => c.array(v, "fees", |c, e| {
                let mut fee = Fee::default();
                c.object(e, "fees", |c, k, v| {
                    match k {
                        "asset" => fee.asset = c.inline(v, "fees.asset")?,
                        "qty" => fee.qty = c.decimal(v, "fees.qty")?,
                        _ => c.skip(v)?,
                    }
                    Ok(())
                })?;
                if let Some(slot) = r.fees.get_mut(usize::from(r.fee_count)) {
                    *slot = fee;
                    r.fee_count += 1;
                }
                Ok(())
            })?,
            "reason" => r.reason = Some(Text::truncating(c.str(v, "reason")?)),
            // Deprecated duplicate of `reason`, used only when `reason` is absent.
            "cancel_reason" => {
                let s = c.str(v, "cancel_reason")?;
                r.reason.get_or_insert(Text::truncating(s));
            }
            "amended" => r.amended = Some(c.bool(v, "amended")?),
            "triggers" => {
                let mut t = TriggerInfo::default();
                c.object(v, "triggers", |c, k, v| {
                    if is_null(&v) {
                        return Ok(());
                    }
                    match k {
                        "reference" => {
                            t.reference =
                                c.lenient(v, "triggers.reference", TriggerReference::from_wire, u)?
                        }
                        "price" => t.price = Some(c.decimal(v, "triggers.price")?),
                        "price_type" => {
                            t.price_type =
                                c.lenient(v, "triggers.price_type", PriceType::from_wire, u)?
                        }
                        "status" => {
                            t.status =
                                c.lenient(v, "triggers.status", TriggerStatus::from_wire, u)?
                        }
                        "last_price" => t.last_price = Some(c.decimal(v, "triggers.last_price")?),
                        _ => c.skip(v)?,
                    }
                    Ok(())
                })?;
                r.triggers = Some(t);
            }
            _ => c.skip(v)?,
        }
        Ok(())
    })?;
    if !has_id {
        return Err(DecodeError::MissingField("order_id"));
    }
    if !has_type {
        return Err(DecodeError::MissingField("exec_type"));
    }
    r.unknown = unknown.first;
    r.unknown_count = unknown.count;
    Ok(())
}

fn balance<'de>(c: &mut Cursor<'_, 'de>, v: Val<'de>) -> R<BalanceEntry> {
    let mut b = BalanceEntry::default();
    c.object(v, "data", |c, k, v| {
        if is_null(&v) {
            return Ok(());
        }
        match k {
            "asset" => b.asset = c.inline(v, "asset")?,
            "balance" => b.balance = Some(c.decimal(v, "balance")?),
            "amount" => b.amount = Some(c.decimal(v, "amount")?),
            "fee" => b.fee = Some(c.decimal(v, "fee")?),
            "ledger_id" => b.ledger_id = Some(c.inline(v, "ledger_id")?),
            "ref_id" => b.ref_id = Some(c.inline(v, "ref_id")?),
            "type" => b.kind = Some(InlineStr::truncating(c.str(v, "type")?)),
            "timestamp" => {
                b.timestamp = c.lenient_time(v, "timestamp", &mut Unknowns::default())?
            }
            "wallet_type" => b.wallet_type = Some(InlineStr::truncating(c.str(v, "wallet_type")?)),
            "wallet_id" => b.wallet_id = Some(InlineStr::truncating(c.str(v, "wallet_id")?)),
            "wallets" => c.array(v, "wallets", |c, e| {
                let mut w = WalletBalance::default();
                c.object(e, "wallets", |c, k, v| {
                    match k {
                        "type" => w.kind = InlineStr::truncating(c.str(v, "wallets.type")?),
                        "id" => w.id = InlineStr::truncating(c.str(v, "wallets.id")?),
                        "balance" => w.balance = c.decimal(v, "wallets.balance")?,
                        _ => c.skip(v)?,
                    }
                    Ok(())
                })?;
                if let Some(slot) = b.wallets.get_mut(usize::from(b.wallet_count)) {
                    *slot = w;
                    b.wallet_count += 1;
                }
                Ok(())
            })?,
            _ => c.skip(v)?,
        }
        Ok(())
    })?;
    Ok(b)
}

fn instrument<'de>(c: &mut Cursor<'_, 'de>, v: Val<'de>, out: &mut Outputs<'_>) -> R<()> {
    c.object(v, "data", |c, k, v| match k {
        "pairs" => c.array(v, "pairs", |c, e| {
            let mut p = InstrumentPair::default();
            c.object(e, "pairs", |c, k, v| {
                if is_null(&v) {
                    return Ok(());
                }
                match k {
                    "symbol" => p.symbol = c.inline(v, "symbol")?,
                    "base" => p.base = c.inline(v, "base")?,
                    "quote" => p.quote = c.inline(v, "quote")?,
                    "status" => p.status = PairStatus::from_wire(c.str(v, "status")?),
                    "price_increment" => p.price_increment = Some(c.decimal(v, "price_increment")?),
                    "qty_increment" => p.qty_increment = Some(c.decimal(v, "qty_increment")?),
                    "qty_min" => p.qty_min = Some(c.decimal(v, "qty_min")?),
                    "cost_min" => p.cost_min = Some(c.decimal(v, "cost_min")?),
                    "price_precision" => {
                        p.price_precision =
                            Some(c.u64(v, "price_precision")?.min(u32::MAX.into()) as u32)
                    }
                    "qty_precision" => {
                        p.qty_precision =
                            Some(c.u64(v, "qty_precision")?.min(u32::MAX.into()) as u32)
                    }
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            out.pairs.push(p);
            Ok(())
        }),
        "assets" => c.array(v, "assets", |c, e| {
            let mut a = AssetInfo::default();
            c.object(e, "assets", |c, k, v| {
                if is_null(&v) {
                    return Ok(());
                }
                match k {
                    "id" => a.id = c.inline(v, "id")?,
                    "status" => a.status = InlineStr::truncating(c.str(v, "status")?),
                    "precision" => {
                        a.precision = Some(c.u64(v, "precision")?.min(u32::MAX.into()) as u32)
                    }
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            out.assets.push(a);
            Ok(())
        }),
        _ => c.skip(v),
    })
}

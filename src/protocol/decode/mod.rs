//! Decoding of inbound WS v2 frames with simd-json, in reused buffers.
//!
//! simd-json validates the frame and builds its tape (SIMD structural scan, in-place string
//! unescaping). Numbers are then read **from the frame's own digits**, located through
//! simd-json's structural indexes, never through `f64`: `0.00016000` decodes to a `Decimal` with
//! mantissa 16000 and scale 8, exactly as sent, so both value and scale survive.

use simd_json::{Buffers, INPUT_PADDING, Tape};

use crate::error::DecodeError;
use crate::ids::SymbolTable;
use crate::protocol::messages::*;

mod acks;
mod envelope;
mod executions;
mod instruments;
mod tape;

use envelope::top_level;
use tape::Cursor;

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
        // simd-json grows its buffers (the input's aligned copy, the string buffer, one index
        // per structural character) on the frame that needs them. Parse once a frame of
        // `frame_len` bytes in which every byte is structural, so no later frame up to that
        // length grows them; its tape (a node per two bytes, the most any JSON can have) sizes
        // ours.
        let mut dense = Vec::with_capacity(frame_len + INPUT_PADDING);
        dense.push(b'[');
        while dense.len() + 3 <= frame_len {
            dense.extend_from_slice(b"0,");
        }
        dense.extend_from_slice(b"0]");
        let len = dense.len();
        dense.resize(len + INPUT_PADDING, 0);
        let mut t: Tape<'_> = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let parsed = simd_json::fill_tape_padded(&mut dense, len, &mut self.buffers, &mut t);
        debug_assert!(parsed.is_ok());
        self.tape = t.reset();
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

pub(super) struct Outputs<'a> {
    pub(super) executions: &'a mut Vec<ExecutionReport>,
    pub(super) balances: &'a mut Vec<BalanceEntry>,
    pub(super) batch: &'a mut Vec<BatchItem>,
    pub(super) pairs: &'a mut Vec<InstrumentPair>,
    pub(super) assets: &'a mut Vec<AssetInfo>,
    pub(super) bids: &'a mut Vec<BookLevel>,
    pub(super) asks: &'a mut Vec<BookLevel>,
    pub(super) trades: &'a mut Vec<PublicTrade>,
    pub(super) tickers: &'a mut Vec<Ticker>,
}

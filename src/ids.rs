//! Identifiers that cross threads: client order ids, Kraken order and execution ids, and
//! interned symbols. All are stored inline (no heap) so commands and events stay `Copy`.

use std::fmt;

use crate::error::ClOrdIdError;

/// A short ASCII string stored inline, for ids and asset codes that cross threads.
///
/// The contents are always ASCII: every constructor checks it, so [`InlineStr::as_str`] cannot
/// fail.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InlineStr<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    /// Capacity in bytes.
    pub const CAPACITY: usize = N;

    /// The empty string.
    pub const EMPTY: Self = Self {
        len: 0,
        buf: [0; N],
    };

    /// Copies `s` in if it is ASCII and fits; `None` otherwise.
    pub fn new(s: &str) -> Option<Self> {
        Self::from_bytes(s.as_bytes())
    }

    /// Copies `bytes` in if they are ASCII and fit; `None` otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > N || N > u8::MAX as usize || !bytes.is_ascii() {
            return None;
        }
        let mut buf = [0; N];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(Self {
            len: bytes.len() as u8,
            buf,
        })
    }

    /// Copies as much of `s` as fits, replacing each non-ASCII character with `?`. For free text that is
    /// only informative (error messages, cancel reasons), where losing the tail is acceptable.
    pub fn truncating(s: &str) -> Self {
        let mut buf = [0; N];
        let mut n = 0;
        for (dst, c) in buf.iter_mut().zip(s.chars()) {
            *dst = if c.is_ascii() { c as u8 } else { b'?' };
            n += 1;
        }
        Self { len: n as u8, buf }
    }

    /// Its bytes (ASCII), without the check [`Self::as_str`] makes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Invariant: only ASCII bytes are ever stored.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kraken's order id (`OXXXXX-XXXXX-XXXXXX`, 19 characters today; room is left for changes).
pub type OrderId = InlineStr<32>;
/// Kraken's execution (trade) id, same shape as an order id.
pub type ExecId = InlineStr<32>;
/// An asset code such as `USD` or `BTC`.
pub type AssetCode = InlineStr<16>;

/// Which of Kraken's three `cl_ord_id` formats an id is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClOrdIdFormat {
    /// 36 characters: 32 hex digits and 4 dashes (8-4-4-4-12).
    LongUuid,
    /// 32 hex digits.
    ShortUuid,
    /// Free ASCII text of at most 18 characters.
    Text,
}

/// A client order id in one of Kraken's three formats, stored inline.
///
/// ```
/// use kraken_exec::ClOrdId;
/// assert!(ClOrdId::new("mm-bid-000001").is_ok());
/// assert!(ClOrdId::new("2c6be801-1f53-4f79-a0bb-4ea1c95dfae9").is_ok());
/// assert!(ClOrdId::new("this-text-is-longer-than-18").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ClOrdId(InlineStr<36>);

impl ClOrdId {
    /// Longest free-text id Kraken accepts.
    pub const MAX_TEXT_LEN: usize = 18;

    /// Validates `s` against Kraken's formats.
    pub fn new(s: &str) -> Result<Self, ClOrdIdError> {
        classify(s.as_bytes())?;
        // classify accepted only ASCII of at most 36 bytes.
        InlineStr::new(s).map(Self).ok_or(ClOrdIdError::NotAscii)
    }

    /// Accepts any ASCII id of at most 36 bytes as seen on the wire (another client may have used
    /// a format we would refuse to send); `None` if it cannot be stored.
    pub fn from_wire(s: &str) -> Option<Self> {
        InlineStr::new(s).map(Self)
    }

    /// Builds a free-text id `prefix` + decimal `n` without allocating, e.g. for a strategy's
    /// sequential ids. Fails if the result is not a valid id.
    pub fn with_counter(prefix: &str, n: u64) -> Result<Self, ClOrdIdError> {
        let mut digits = itoa::Buffer::new();
        let d = digits.format(n).as_bytes();
        let p = prefix.as_bytes();
        if p.len() + d.len() > Self::MAX_TEXT_LEN {
            return Err(ClOrdIdError::TooLong);
        }
        let mut tmp = [0u8; Self::MAX_TEXT_LEN];
        tmp[..p.len()].copy_from_slice(p);
        tmp[p.len()..p.len() + d.len()].copy_from_slice(d);
        let bytes = &tmp[..p.len() + d.len()];
        classify(bytes)?;
        InlineStr::from_bytes(bytes)
            .map(Self)
            .ok_or(ClOrdIdError::NotAscii)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Its bytes, without the check [`Self::as_str`] makes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The id's format; `None` for a wire id that matches none of them.
    pub fn format(&self) -> Option<ClOrdIdFormat> {
        classify(self.0.as_str().as_bytes()).ok()
    }
}

impl fmt::Debug for ClOrdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ClOrdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClOrdId {
    type Err = ClOrdIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

fn classify(b: &[u8]) -> Result<ClOrdIdFormat, ClOrdIdError> {
    if b.is_empty() {
        return Err(ClOrdIdError::Empty);
    }
    if !b.is_ascii() {
        return Err(ClOrdIdError::NotAscii);
    }
    match b.len() {
        36 => {
            let ok = b.iter().enumerate().all(|(i, &c)| match i {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
            if ok {
                Ok(ClOrdIdFormat::LongUuid)
            } else {
                Err(ClOrdIdError::BadUuid)
            }
        }
        32 if b.iter().all(u8::is_ascii_hexdigit) => Ok(ClOrdIdFormat::ShortUuid),
        n if n <= ClOrdId::MAX_TEXT_LEN => {
            if b.iter().all(|c| (0x20..0x7f).contains(c)) {
                Ok(ClOrdIdFormat::Text)
            } else {
                Err(ClOrdIdError::ControlChar)
            }
        }
        _ => Err(ClOrdIdError::TooLong),
    }
}

/// A symbol interned to a small integer at start-up (see [`SymbolTable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(pub u16);

impl SymbolId {
    /// Stands for a symbol the table did not know when a frame named it. The execution is still
    /// tracked (by order id); only its symbol is unknown.
    pub const UNKNOWN: SymbolId = SymbolId(u16::MAX);
}

/// [`SymbolId::UNKNOWN`]: a default never names a real symbol.
impl Default for SymbolId {
    fn default() -> Self {
        Self::UNKNOWN
    }
}

/// The engine's number for one request: returned by every [`Trader`](crate::engine::Trader)
/// order call and carried by the answer to it ([`RequestAck`](crate::orders::RequestAck),
/// [`RequestFailure`](crate::orders::RequestFailure), [`NotSent`](crate::orders::NotSent)). It
/// is the request's `req_id` on the wire (a cancel settled locally, in the pacing queue, never
/// reaches it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Symbol names, interned at start-up so commands and events carry a `u16`.
///
/// Build it once (from configuration or the `instrument` channel) before trading; lookups never
/// allocate.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    names: Vec<Box<str>>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table holding `names`, in order (the first is `SymbolId(0)`).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut t = Self::new();
        for n in names {
            t.intern(n);
        }
        t
    }

    /// The id of `name`, adding it if new. Allocates; call at start-up only.
    pub fn intern(&mut self, name: &str) -> SymbolId {
        if let Some(id) = self.get(name) {
            return id;
        }
        assert!(self.names.len() < u16::MAX as usize, "symbol table is full");
        self.names.push(name.into());
        SymbolId((self.names.len() - 1) as u16)
    }

    /// The id of `name`, if interned.
    pub fn get(&self, name: &str) -> Option<SymbolId> {
        // Tables hold a handful to a few hundred pairs; a length-first linear scan beats hashing
        // for the short, similar strings involved.
        self.names
            .iter()
            .position(|n| n.len() == name.len() && **n == *name)
            .map(|i| SymbolId(i as u16))
    }

    /// The name of `id`; `"?"` for [`SymbolId::UNKNOWN`] or an id from another table.
    pub fn name(&self, id: SymbolId) -> &str {
        self.names.get(id.0 as usize).map_or("?", |n| n)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no symbol is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All `(id, name)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (SymbolId, &str)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (SymbolId(i as u16), &**n))
    }
}

//! Reading simd-json's tape: the cursor, typed field readers, and exact decimals from the
//! frame's own digits.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use simd_json::{Node, StaticNode};

use crate::error::DecodeError;
use crate::ids::InlineStr;
use crate::protocol::messages::*;
use crate::swar::{ONES, non_digits};
use crate::time::Timestamp;

use super::R;

/// Walks simd-json's tape. Strings on the tape point into `input` (simd-json unescapes in place,
/// at the string's own position), so a key's address gives its offset in the frame, and the
/// digits of the number that follows it are read from the untouched original `src`.
#[derive(Clone, Copy)]
pub(super) struct Cursor<'t, 'de> {
    pub(super) nodes: &'t [Node<'de>],
    pub(super) src: &'t [u8],
    /// Address and length of the buffer simd-json parsed (a copy of `src`).
    pub(super) base: usize,
    pub(super) base_len: usize,
    pub(super) i: usize,
}

/// A value: its tape node and, for an object member, its key (which locates its text).
#[derive(Clone, Copy)]
pub(super) struct Val<'de> {
    pub(super) node: Node<'de>,
    pub(super) key: Option<&'de str>,
}

impl<'t, 'de> Cursor<'t, 'de> {
    pub(super) fn next(&mut self) -> R<Val<'de>> {
        let node = *self.nodes.get(self.i).ok_or(DecodeError::Malformed)?;
        self.i += 1;
        Ok(Val { node, key: None })
    }

    /// Where the text of `key` (a string on the tape) starts in `src`: its offset in the
    /// buffer simd-json parsed. Offset 0 is the frame's first byte, never a key's text.
    #[inline]
    fn key_start(&self, key: &str) -> Option<usize> {
        let start = (key.as_ptr() as usize).wrapping_sub(self.base);
        (start.wrapping_sub(1) < self.base_len).then_some(start)
    }

    /// Where the value of member `key` starts in `src`: after the key's closing quote, the
    /// colon and any whitespace.
    pub(super) fn value_pos(&self, key: &str) -> Option<usize> {
        let start = self.key_start(key)?;
        let end = start + key.len();
        // Fast path: an unescaped quote right after the key's length closes it. (An escape
        // shortens a string, so a key with escapes cannot end there: the text at `end` is then
        // still inside the string, where a quote can only stand escaped.)
        let mut i = if self.src.get(end) == Some(&b'"') && self.src.get(end - 1) != Some(&b'\\') {
            end
        } else {
            self.scan_to_quote(start)?
        };
        // Kraken writes compact JSON: the colon, then the value.
        if self.src.get(i + 1) == Some(&b':')
            && !matches!(self.src.get(i + 2), Some(b' ' | b'\t' | b'\n' | b'\r'))
        {
            return Some(i + 2);
        }
        i += 1;
        while matches!(self.src.get(i)?, b' ' | b'\t' | b'\n' | b'\r' | b':') {
            i += 1;
        }
        Some(i)
    }

    /// Scans the original text of a string (which may hold escapes) to its closing quote.
    pub(super) fn scan_to_quote(&self, start: usize) -> Option<usize> {
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
    pub(super) fn skip(&mut self, v: Val<'de>) -> R<()> {
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
    pub(super) fn object(
        &mut self,
        v: Val<'de>,
        field: &'static str,
        mut f: impl FnMut(&mut Self, &'de str, Val<'de>) -> R<()>,
    ) -> R<()> {
        let Node::Object { len, .. } = v.node else {
            return Err(DecodeError::InvalidField(field));
        };
        for _ in 0..len {
            // The key and its value's node in one bounds check.
            let Some(&[Node::String(key), node]) = self.nodes.get(self.i..self.i + 2) else {
                return Err(DecodeError::Malformed);
            };
            self.i += 2;
            f(
                self,
                key,
                Val {
                    node,
                    key: Some(key),
                },
            )?;
        }
        Ok(())
    }

    /// Iterates the elements of array `v`.
    pub(super) fn array(
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

    pub(super) fn str(&self, v: Val<'de>, field: &'static str) -> R<&'de str> {
        match v.node {
            Node::String(s) => Ok(s),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    /// A number as an exact decimal. Inlined for the common case, Kraken's compact member
    /// (`"key":digits`) of up to 8 digits each side of the point; every other number takes
    /// [`Cursor::decimal_any`].
    #[inline]
    pub(super) fn decimal(&self, v: Val<'de>, field: &'static str) -> R<Decimal> {
        if !matches!(
            v.node,
            Node::Static(StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_))
        ) {
            return Err(DecodeError::InvalidField(field));
        }
        if let Some(d) = v
            .key
            .and_then(|k| self.compact_value_pos(k))
            .and_then(|p| self.src.get(p..))
            .and_then(parse_decimal_swar)
        {
            return Ok(d);
        }
        self.decimal_any(v, field)
    }

    /// [`Cursor::decimal`] of any number, wherever its text starts.
    #[cold]
    #[inline(never)]
    fn decimal_any(&self, v: Val<'de>, field: &'static str) -> R<Decimal> {
        v.key
            .and_then(|k| self.value_pos(k))
            .and_then(|p| parse_decimal(self.src, p))
            .or_else(|| approx_decimal(v.node))
            .ok_or(DecodeError::InvalidField(field))
    }

    /// Where the value of member `key` starts when the member is written compactly: the key
    /// unescaped (its text in `src` as long as on the tape, closed by an unescaped quote), the
    /// colon right after it. `None` for any other form ([`Cursor::value_pos`] reads those).
    #[inline]
    fn compact_value_pos(&self, key: &str) -> Option<usize> {
        let end = self.key_start(key)? + key.len();
        match self.src.get(end - 1..end + 2)? {
            [prev, b'"', b':'] if *prev != b'\\' => Some(end + 2),
            _ => None,
        }
    }

    pub(super) fn u64(&self, v: Val<'de>, field: &'static str) -> R<u64> {
        match v.node {
            Node::Static(StaticNode::U64(n)) => Ok(n),
            Node::Static(StaticNode::I64(n)) if n >= 0 => Ok(n as u64),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    pub(super) fn i64(&self, v: Val<'de>, field: &'static str) -> R<i64> {
        match v.node {
            Node::Static(StaticNode::I64(n)) => Ok(n),
            Node::Static(StaticNode::U64(n)) => {
                i64::try_from(n).map_err(|_| DecodeError::InvalidField(field))
            }
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    pub(super) fn bool(&self, v: Val<'de>, field: &'static str) -> R<bool> {
        match v.node {
            Node::Static(StaticNode::Bool(b)) => Ok(b),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    pub(super) fn inline<const N: usize>(
        &self,
        v: Val<'de>,
        field: &'static str,
    ) -> R<InlineStr<N>> {
        InlineStr::new(self.str(v, field)?).ok_or(DecodeError::InvalidField(field))
    }

    /// An enum word read leniently: a value this version does not know is `None`, with the
    /// raw text kept in `unknown` (a whole frame is never lost to one new word).
    pub(super) fn lenient<T>(
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
    pub(super) fn lenient_time(
        &self,
        v: Val<'de>,
        field: &'static str,
        unknown: &mut Unknowns,
    ) -> R<Option<Timestamp>> {
        self.lenient(v, field, Timestamp::parse_rfc3339, unknown)
    }

    /// An id in an ack: Kraken answers a validate-only request with an empty one, which names
    /// no order.
    pub(super) fn inline_id<const N: usize>(
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

    pub(super) fn wire<T>(
        &self,
        v: Val<'de>,
        field: &'static str,
        f: fn(&str) -> Option<T>,
    ) -> R<T> {
        f(self.str(v, field)?).ok_or(DecodeError::InvalidField(field))
    }
}

/// Values a report held that this version does not know.
#[derive(Default)]
pub(super) struct Unknowns {
    pub(super) first: Option<UnknownValue>,
    pub(super) count: u8,
}

impl Unknowns {
    pub(super) fn note(&mut self, field: &'static str, raw: &str) {
        self.first.get_or_insert(UnknownValue {
            field,
            raw: Text::truncating(raw),
        });
        self.count = self.count.saturating_add(1);
    }
}

pub(super) fn is_null(v: &Val<'_>) -> bool {
    matches!(v.node, Node::Static(StaticNode::Null))
}

/// Parses the JSON number starting at `src[pos]` exactly: digits become the mantissa, the
/// fraction length (minus any exponent) the scale. `None` if it does not fit a `Decimal`
/// (more than a 96-bit mantissa or a scale of 28 allows).
pub(crate) fn parse_decimal(src: &[u8], pos: usize) -> Option<Decimal> {
    let b = src.get(pos..)?;
    parse_decimal_swar(b)
        .or_else(|| parse_decimal_fast(b))
        .or_else(|| parse_decimal_general(b))
}

/// How many of the 8 bytes of `x` (the first in the lowest byte) are ASCII digits before the
/// first that is not: 0 to 8.
#[inline]
fn digit_run(x: u64) -> u32 {
    non_digits(x).trailing_zeros() / 8
}

/// The value of the first `n` (1 to 8) digits of `x`, the first the most significant: moved
/// to the top bytes (zeros below are leading zeros), then pairs, quads and the two halves
/// combined by three multiplications.
#[inline]
fn digits_value(x: u64, n: u32) -> u64 {
    let v = x.wrapping_sub(ONES * u64::from(b'0')) << (8 * (8 - n));
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The fastest path, eight bytes at a time: up to 8 digits before the point and up to 8 after
/// (most prices and quantities Kraken sends; longer ones take the byte loop), no exponent.
/// It reads a window of [`SWAR_WINDOW`] bytes from the number's start (a sign, 8 digits, the
/// point, 8 digits and the byte after), so a number that close to the end of its frame is
/// left to the others, as is any other. `None`: left to the others.
fn parse_decimal_swar(b: &[u8]) -> Option<Decimal> {
    let w: &[u8; SWAR_WINDOW] = b.first_chunk()?;
    let neg = w[0] == b'-';
    let start = usize::from(neg);
    let x = u64::from_le_bytes(*w[start..].first_chunk()?);
    let n1 = digit_run(x) as usize;
    let after_int = start + n1;
    if n1 == 0 || w[after_int].is_ascii_digit() {
        return None;
    }
    let int = digits_value(x, n1 as u32);
    let (m, scale, end) = if w[after_int] == b'.' {
        let y = u64::from_le_bytes(*w[after_int + 1..].first_chunk()?);
        let n2 = digit_run(y) as usize;
        let end = after_int + 1 + n2;
        if n2 == 0 || w[end].is_ascii_digit() {
            return None;
        }
        (int * POW10[n2] + digits_value(y, n2 as u32), n2, end)
    } else {
        (int, 0, after_int)
    };
    if matches!(w[end], b'.' | b'e' | b'E') {
        return None;
    }
    Some(Decimal::from_parts(
        m as u32,
        (m >> 32) as u32,
        0,
        neg,
        scale as u32,
    ))
}

/// Bytes [`parse_decimal_swar`] reads: a sign, 8 digits, a point, 8 digits, one more.
const SWAR_WINDOW: usize = 19;

/// The fast path, for every price and quantity Kraken sends: at most 19 digits, one point, no
/// exponent. `None`: not such a number (the general path takes it).
fn parse_decimal_fast(b: &[u8]) -> Option<Decimal> {
    let neg = b.first() == Some(&b'-');
    let start = usize::from(neg);
    let limit = b.len().min(start + 20);
    let (mut i, mut m, mut point, mut digits) = (start, 0u64, usize::MAX, 0u32);
    while i < limit {
        let c = b[i];
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            if digits == 19 {
                break;
            }
            digits += 1;
            m = m * 10 + u64::from(d);
        } else if c == b'.' && point == usize::MAX {
            point = i;
        } else {
            break;
        }
        i += 1;
    }
    let ends_clean = !matches!(b.get(i), Some(b'0'..=b'9' | b'.' | b'e' | b'E'));
    let has_digits = i > start + usize::from(point != usize::MAX);
    let point_ok = point == usize::MAX || (point > start && point + 1 < i);
    if ends_clean && has_digits && point_ok {
        let scale = if point == usize::MAX {
            0
        } else {
            i - point - 1
        };
        return Some(Decimal::from_parts(
            m as u32,
            (m >> 32) as u32,
            0,
            neg,
            scale as u32,
        ));
    }
    None
}

/// [`parse_decimal`] of any JSON number: more than 19 significant digits (to 28), exponents.
fn parse_decimal_general(b: &[u8]) -> Option<Decimal> {
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
    // Slow path: more than 19 significant digits. A `Decimal`'s 96-bit mantissa holds some
    // numbers of 29 digits (up to 79,228,162,514,264,337,593,543,950,335): read up to 29,
    // and let the range check below decide.
    let mut sig = digits;
    loop {
        match b.get(i) {
            Some(&c) if c.is_ascii_digit() => {
                m = m * 10 + u128::from(c - b'0');
                sig += 1;
                if sig > 29 {
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
pub(super) fn approx_decimal(n: Node<'_>) -> Option<Decimal> {
    match n {
        Node::Static(StaticNode::F64(f)) => Decimal::from_f64(f),
        Node::Static(StaticNode::I64(i)) => Some(Decimal::from(i)),
        Node::Static(StaticNode::U64(u)) => Some(Decimal::from(u)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON numbers of every shape: signs, leading zeros, long mantissas, fractions and
    /// exponents, followed by what can follow a number.
    fn json_number() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            prop_oneof!["0", "[1-9][0-9]{0,24}"],
            prop::option::of("[0-9]{1,24}"),
            prop::option::of(("[eE]", "[+-]?", "[0-9]{1,3}")),
            prop_oneof![Just(""), Just(","), Just("}"), Just("]"), Just(" ")],
        )
            .prop_map(|(neg, int, frac, exp, tail)| {
                let mut s = String::new();
                if neg {
                    s.push('-');
                }
                s.push_str(&int);
                if let Some(f) = frac {
                    s.push('.');
                    s.push_str(&f);
                }
                if let Some((e, sign, digits)) = exp {
                    s.push_str(&e);
                    s.push_str(&sign);
                    s.push_str(&digits);
                }
                s.push_str(tail);
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        /// The fast path gives exactly what the general one gives (value, scale, sign), or
        /// leaves the number to it.
        #[test]
        fn the_fast_path_agrees_with_the_general_one(s in json_number()) {
            let fast = parse_decimal(s.as_bytes(), 0);
            let general = parse_decimal_general(s.as_bytes());
            prop_assert_eq!(fast.map(|d| (d, d.scale(), d.is_sign_negative())),
                general.map(|d| (d, d.scale(), d.is_sign_negative())));
        }
    }

    /// The exact value of a JSON number's text, worked out on the text: the exponent moves the
    /// point, and rust_decimal's exact parser reads the plain decimal that results (an error
    /// where a `Decimal` cannot hold it as written).
    fn exact_value(s: &str) -> Option<Decimal> {
        let s = s.trim_end_matches([',', '}', ']', ' ']);
        let (sign, s) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
        let (mantissa, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.trim_start_matches('+').parse::<i64>().unwrap()),
            None => (s, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{int}{frac}");
        let point = int.len() as i64 + exp;
        let plain = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        Decimal::from_str_exact(&format!("{sign}{plain}")).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        /// The general path reads every JSON number as its text means it, value and scale,
        /// and declines exactly those a `Decimal` cannot hold as written.
        #[test]
        fn the_general_path_reads_what_the_text_means(s in json_number()) {
            let general = parse_decimal_general(s.as_bytes());
            let exact = exact_value(&s);
            prop_assert_eq!(general.map(|d| (d, d.scale())), exact.map(|d| (d, d.scale())), "{}", s);
        }
    }

    /// Numbers as Kraken writes prices and quantities: the fast path takes every one of them
    /// (the general path is for the rest), with the digits and scale as sent.
    fn kraken_number() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            "[0-9]{1,10}",
            prop::option::of("[0-9]{1,8}"),
            "[,}\\] ]?",
        )
            .prop_map(|(neg, int, frac, tail)| {
                let int = int.trim_start_matches('0');
                let int = if int.is_empty() { "0" } else { int };
                let sign = if neg { "-" } else { "" };
                match frac {
                    Some(f) => format!("{sign}{int}.{f}{tail}"),
                    None => format!("{sign}{int}{tail}"),
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        #[test]
        fn the_fast_path_takes_every_number_kraken_sends(s in kraken_number()) {
            let fast = parse_decimal_fast(s.as_bytes());
            prop_assert!(fast.is_some(), "{s}");
            let general = parse_decimal_general(s.as_bytes());
            prop_assert_eq!(fast.map(|d| (d, d.scale(), d.is_sign_negative())),
                general.map(|d| (d, d.scale(), d.is_sign_negative())));
        }
    }

    /// What follows a number inside a frame: at least 9 more bytes.
    const REST_OF_FRAME: &str = r#","next":"member"}]}"#;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        /// The eight-byte path gives exactly what the general one gives, or leaves the number
        /// to the others; inside a frame or at its very end.
        #[test]
        fn the_eight_byte_path_agrees_with_the_general_one(s in json_number(), inside in any::<bool>()) {
            let s = if inside { format!("{s}{REST_OF_FRAME}") } else { s };
            let swar = parse_decimal_swar(s.as_bytes());
            if swar.is_some() {
                let general = parse_decimal_general(s.as_bytes());
                prop_assert_eq!(swar.map(|d| (d, d.scale(), d.is_sign_negative())),
                    general.map(|d| (d, d.scale(), d.is_sign_negative())));
            }
        }

        /// Inside a frame it takes every number shaped as Kraken writes them with up to 8
        /// digits each side of the point.
        #[test]
        fn the_eight_byte_path_takes_kraken_s_numbers_inside_a_frame(
            neg in any::<bool>(), int in "[1-9][0-9]{0,7}|0", frac in prop::option::of("[0-9]{1,8}"),
        ) {
            let sign = if neg { "-" } else { "" };
            let s = match &frac {
                Some(f) => format!("{sign}{int}.{f}{REST_OF_FRAME}"),
                None => format!("{sign}{int}{REST_OF_FRAME}"),
            };
            let swar = parse_decimal_swar(s.as_bytes());
            prop_assert!(swar.is_some(), "{}", s);
            let general = parse_decimal_general(s.as_bytes());
            prop_assert_eq!(swar.map(|d| (d, d.scale(), d.is_sign_negative())),
                general.map(|d| (d, d.scale(), d.is_sign_negative())));
        }
    }

    #[test]
    fn the_eight_byte_path_reads_runs_of_every_length() {
        for n1 in 1..=8 {
            for n2 in 0..=8 {
                let int = &"12345678"[..n1];
                let s = if n2 == 0 {
                    format!("{int}{REST_OF_FRAME}")
                } else {
                    format!("{int}.{}{REST_OF_FRAME}", &"90817263"[..n2])
                };
                let want = s[..s.find(',').unwrap()].to_string();
                let got = parse_decimal_swar(s.as_bytes()).map(|d| d.to_string());
                assert_eq!(got.as_deref(), Some(want.as_str()), "{s}");
            }
        }
        // Nine digits on either side, an exponent, a bare sign: left to the others.
        for s in ["123456789,", "1.123456789,", "1.5e3,", "15E3,", "-,", "1.,"] {
            let s = format!("{s}{REST_OF_FRAME}");
            assert_eq!(parse_decimal_swar(s.as_bytes()), None, "{s}");
        }
        // Bytes that are not digits end a run wherever they stand, non-ASCII included.
        assert_eq!(digit_run(u64::from_le_bytes(*b"12/45678")), 2);
        assert_eq!(digit_run(u64::from_le_bytes(*b"123:5678")), 3);
        assert_eq!(digit_run(u64::from_le_bytes(*b"1234\xb0678")), 4);
        assert_eq!(digit_run(u64::from_le_bytes(*b"\xff2345678")), 0);
        assert_eq!(digit_run(u64::from_le_bytes(*b"12\x80\x9f5678")), 2);
        assert_eq!(digit_run(u64::from_le_bytes(*b"00000000")), 8);
    }

    #[test]
    fn the_fast_path_declines_what_it_cannot_read_exactly() {
        for s in [
            "1e5",
            "0.5E-3",
            "12345678901234567890",
            "-",
            ".5",
            "5.",
            "1.2.3",
            "--1",
            "",
        ] {
            assert_eq!(parse_decimal_fast(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn digits_and_scale_are_kept_as_sent() {
        let d = |s: &str| parse_decimal(s.as_bytes(), 0).map(|d| (d.to_string(), d.scale()));
        assert_eq!(d("0.00016000,"), Some(("0.00016000".into(), 8)));
        assert_eq!(d("26599.9}"), Some(("26599.9".into(), 1)));
        assert_eq!(d("-0.5"), Some(("-0.5".into(), 1)));
        assert_eq!(
            d("9999999999999999999"),
            Some(("9999999999999999999".into(), 0))
        );
        assert_eq!(
            d("99999999999999999999"),
            Some(("99999999999999999999".into(), 0))
        );
        assert_eq!(d("1e3"), Some(("1000".into(), 0)));
        assert_eq!(d("-"), None);
    }

    /// Zeros before the first significant digit count toward the scale, not toward the 28
    /// digits a `Decimal` holds; and the number ends where a second point starts.
    #[test]
    fn the_general_path_counts_only_significant_digits_and_stops_at_a_second_point() {
        let g = |s: &str| parse_decimal_general(s.as_bytes()).map(|d| (d.mantissa(), d.scale()));
        // 29 digits, 9 of them significant: exact at scale 28.
        assert_eq!(
            g("0.0000000000000000000123456789,"),
            Some((123_456_789, 28))
        );
        // 30 digits, one significant, the exponent bringing the scale back to 24.
        assert_eq!(g("0.00000000000000000000000000001e5,"), Some((1, 24)));
        // 30 digits after the point, one significant.
        assert_eq!(g("0.000000000000000000000000000001e6,"), Some((1, 24)));
        assert_eq!(g("1.2.3"), Some((12, 1)));
        // No digit, only a sign and a point.
        assert_eq!(g("-."), None);
        assert_eq!(g("."), None);
    }

    /// The fallback for a number no `Decimal` holds as written: the nearest one, from
    /// simd-json's own reading of it.
    #[test]
    fn a_number_read_only_approximately_is_the_nearest_decimal() {
        let f = |n| approx_decimal(Node::Static(n));
        assert_eq!(f(StaticNode::F64(0.25)), Some(Decimal::new(25, 2)));
        assert_eq!(f(StaticNode::I64(-5)), Some(Decimal::from(-5)));
        assert_eq!(f(StaticNode::U64(u64::MAX)), Some(Decimal::from(u64::MAX)));
        assert_eq!(f(StaticNode::Bool(true)), None);
    }
}

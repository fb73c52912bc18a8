//! Low-level writers shared by the WS and REST encoders: decimals from their own digits,
//! integers, JSON strings. All append to a caller-owned `Vec<u8>` and never allocate once it has
//! capacity.

use rust_decimal::Decimal;

/// Appends `d` in plain decimal notation, keeping its scale (`1.20` stays `1.20`). No `f64` is
/// involved, so the exchange receives exactly the digits of the decimal.
#[inline]
pub fn decimal(out: &mut Vec<u8>, d: Decimal) {
    let mantissa = d.mantissa();
    let scale = d.scale() as usize;
    if mantissa < 0 {
        out.push(b'-');
    }
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(mantissa.unsigned_abs()).as_bytes();
    if scale == 0 {
        out.extend_from_slice(digits);
    } else if digits.len() > scale {
        let split = digits.len() - scale;
        out.extend_from_slice(&digits[..split]);
        out.push(b'.');
        out.extend_from_slice(&digits[split..]);
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
    }
}

/// Appends an integer.
#[inline]
pub fn int<I: itoa::Integer>(out: &mut Vec<u8>, i: I) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// Appends `s` as a JSON string, escaping what JSON requires.
#[inline]
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    if !crate::swar::needs_json_escape(b) {
        out.extend_from_slice(b);
    } else {
        for &c in b {
            match c {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                c if c < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(c >> 4) as usize]);
                    out.push(HEX[(c & 15) as usize]);
                }
                c => out.push(c),
            }
        }
    }
    out.push(b'"');
}

/// Appends `s` form-urlencoded (RFC 3986 unreserved characters pass, the rest is `%XX`).
pub fn form_value(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c);
        } else {
            out.push(b'%');
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 15) as usize]);
        }
    }
}

/// Writes the members of one JSON object, handling the commas.
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object (`{`).
    #[inline]
    pub fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Writes `"k":` (with a leading comma when needed) and returns the buffer for the value.
    #[inline]
    pub fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// `"k":"v"`
    #[inline]
    pub fn str(&mut self, k: &str, v: &str) {
        json_str(self.key(k), v);
    }

    /// `"k":<decimal>`
    #[inline]
    pub fn dec(&mut self, k: &str, v: Decimal) {
        decimal(self.key(k), v);
    }

    /// `"k":<decimal>` when present.
    #[inline]
    pub fn opt_dec(&mut self, k: &str, v: Option<Decimal>) {
        if let Some(v) = v {
            self.dec(k, v);
        }
    }

    /// `"k":<int>`
    #[inline]
    pub fn int<I: itoa::Integer>(&mut self, k: &str, v: I) {
        int(self.key(k), v);
    }

    /// `"k":true|false`
    #[inline]
    pub fn bool(&mut self, k: &str, v: bool) {
        let s: &[u8] = if v { b"true" } else { b"false" };
        self.key(k).extend_from_slice(s);
    }

    /// `"k":true` only when `v`.
    #[inline]
    pub fn flag(&mut self, k: &str, v: bool) {
        if v {
            self.bool(k, true);
        }
    }

    /// Closes the object (`}`).
    #[inline]
    pub fn close(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec_str(s: &str) -> String {
        let mut v = Vec::new();
        decimal(&mut v, Decimal::from_str(s).unwrap());
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn decimals_keep_their_digits() {
        for s in [
            "0",
            "1",
            "-1",
            "65000.1",
            "1.20",
            "0.00016000",
            "0.005",
            "-2.0",
            "123456789.123456789",
        ] {
            assert_eq!(dec_str(s), s);
        }
        assert_eq!(dec_str("-0.5"), "-0.5");
        assert_eq!(
            dec_str("79228162514264337593543950335"),
            "79228162514264337593543950335"
        );
    }

    #[test]
    fn escapes_json_strings() {
        let mut v = Vec::new();
        json_str(&mut v, "a\"b\\c\n");
        assert_eq!(v, b"\"a\\\"b\\\\c\\u000a\"");
    }

    /// Only what JSON requires is escaped: a control character alone is found (no quote or
    /// backslash beside it to send the string the slow way), and a space, the first byte that
    /// needs nothing, stays a space on either way.
    #[test]
    fn escapes_exactly_what_json_requires() {
        for (s, want) in [
            ("x\u{1}", "\"x\\u0001\""),
            ("\u{1f}", "\"\\u001f\""),
            ("a b", "\"a b\""),
            ("say \"hi\" now", "\"say \\\"hi\\\" now\""),
            ("~\u{7f}é", "\"~\u{7f}é\""),
        ] {
            let mut v = Vec::new();
            json_str(&mut v, s);
            assert_eq!(String::from_utf8(v).unwrap(), want, "{s:?}");
        }
    }

    #[test]
    fn form_encodes() {
        let mut v = Vec::new();
        form_value(&mut v, b"BTC/USD a+b");
        assert_eq!(v, b"BTC%2FUSD%20a%2Bb");
    }
}

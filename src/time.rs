//! Wall-clock timestamps as Kraken writes them (RFC 3339, UTC, microseconds), without a clock.
//!
//! The core never reads a clock: callers pass [`Timestamp`]s (wall time, for the wire) and
//! monotonic nanosecond counts (for ages and deadlines) in.

use std::fmt;

use crate::swar::{ONES, non_digits};

/// Microseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Bytes needed to write any timestamp: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub const RFC3339_LEN: usize = 27;

impl Timestamp {
    /// From seconds and microseconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * 1_000_000)
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS.ffffffZ` into `out`. Years outside 0..=9999 are clamped.
    pub fn write_rfc3339(self, out: &mut [u8; RFC3339_LEN]) {
        let micros = self.0.rem_euclid(1_000_000) as u32;
        let secs = self.0.div_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999) as u32;
        put(&mut out[0..4], y, 4);
        out[4] = b'-';
        put(&mut out[5..7], m, 2);
        out[7] = b'-';
        put(&mut out[8..10], d, 2);
        out[10] = b'T';
        put(&mut out[11..13], sod / 3600, 2);
        out[13] = b':';
        put(&mut out[14..16], sod / 60 % 60, 2);
        out[16] = b':';
        put(&mut out[17..19], sod % 60, 2);
        out[19] = b'.';
        put(&mut out[20..26], micros, 6);
        out[26] = b'Z';
    }

    /// Parses RFC 3339 (`2024-05-19T19:30:36.343170Z`, any number of fraction digits, `Z` or a
    /// `±HH:MM` offset). Digits past microseconds are truncated.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        match <&[u8; RFC3339_LEN]>::try_from(b) {
            Ok(k) => Self::parse_kraken_form(k).or_else(|| Self::parse_any_form(b)),
            Err(_) => Self::parse_any_form(b),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the one form Kraken writes, read eight bytes at a time:
    /// the separators compared in place, the digits checked and paired by word arithmetic.
    /// `None` for any other form, which [`Timestamp::parse_any_form`] then reads.
    fn parse_kraken_form(b: &[u8; RFC3339_LEN]) -> Option<Self> {
        let word = |at: usize| b[at..].first_chunk::<8>().map(|w| u64::from_le_bytes(*w));
        // Separator bytes (a mask per word, the first byte lowest) and what they must hold.
        let date = digit_pairs(word(0)?, 0xFF00_00FF_0000_0000, sep(b'-', 4) | sep(b'-', 7))?;
        let time = digit_pairs(word(8)?, 0x0000_FF00_00FF_0000, sep(b'T', 2) | sep(b':', 5))?;
        let secs = digit_pairs(
            word(16)?,
            0x0000_0000_FF00_00FF,
            sep(b':', 0) | sep(b'.', 3),
        )?;
        let frac = digit_pairs(
            word(19)?,
            0xFF00_0000_0000_00FF,
            sep(b'.', 0) | sep(b'Z', 7),
        )?;
        let y = pair(date, 0) * 100 + pair(date, 2);
        let secs = epoch_secs(
            i64::from(y),
            [
                pair(date, 5),
                pair(time, 0),
                pair(time, 3),
                pair(time, 6),
                pair(secs, 1),
            ],
        )?;
        let micros = pair(frac, 1) * 10_000 + pair(frac, 3) * 100 + pair(frac, 5);
        Some(Self(secs * 1_000_000 + i64::from(micros)))
    }

    /// Any RFC 3339 time (see [`Timestamp::parse_rfc3339`]), a byte at a time.
    fn parse_any_form(b: &[u8]) -> Option<Self> {
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let y = num(&b[0..4])? as i64;
        let mut fields = [0; 5];
        for (f, at) in fields.iter_mut().zip([5, 8, 11, 14, 17]) {
            *f = num(&b[at..at + 2])?;
        }
        let secs = epoch_secs(y, fields)?;
        let mut i = 19;
        let mut micros = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 6 {
                    micros = micros * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..6 {
                micros *= 10;
            }
        }
        let offset = match b.get(i..)? {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let oh = num(&[*h1, *h2])? as i64;
                let om = num(&[*m1, *m2])? as i64;
                let o = oh * 3600 + om * 60;
                if *sign == b'+' { o } else { -o }
            }
            _ => return None,
        };
        Some(Self((secs - offset) * 1_000_000 + i64::from(micros)))
    }
}

/// Seconds from the epoch to a UTC date and time of day (`[month, day, hour, minute,
/// second]`, a leap second's 60 allowed), both readers' check of the fields' ranges.
fn epoch_secs(y: i64, [mo, d, h, mi, se]: [u32; 5]) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + se))
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; RFC3339_LEN];
        self.write_rfc3339(&mut buf);
        f.write_str(std::str::from_utf8(&buf).unwrap_or("?"))
    }
}

fn put(out: &mut [u8], mut v: u32, width: usize) {
    for i in (0..width).rev() {
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Byte `c` at position `at` of a little-endian word.
const fn sep(c: u8, at: u32) -> u64 {
    (c as u64) << (8 * at)
}

/// Checks the word `x` of eight text bytes: the bytes under `mask` must equal `want`'s, every
/// other byte must be an ASCII digit. Returns, at each byte `i`, `10 × digit(i) + digit(i + 1)`
/// (a separator counts as 0), so a two-digit field starting at `i` is [`pair`]`(_, i)`.
fn digit_pairs(x: u64, mask: u64, want: u64) -> Option<u64> {
    if x & mask != want {
        return None;
    }
    let y = (x & !mask) | ((ONES * u64::from(b'0')) & mask);
    if non_digits(y) != 0 {
        return None;
    }
    let d = y.wrapping_sub(ONES * u64::from(b'0'));
    // Each byte is at most 9: ten times it plus its successor is at most 99, no carries.
    Some(d.wrapping_mul(10).wrapping_add(d >> 8))
}

/// The two-digit value starting at byte `at` of a [`digit_pairs`] word.
fn pair(p: u64, at: u32) -> u32 {
    ((p >> (8 * at)) & 0xFF) as u32
}

fn num(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

// Howard Hinnant's days-from-civil algorithms (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        let t = Timestamp::parse_rfc3339("2023-09-22T10:33:05.709950Z").unwrap();
        assert_eq!(t.0, 1_695_378_785_709_950);
        assert_eq!(t.to_string(), "2023-09-22T10:33:05.709950Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2023-09-21T15:49:29Z")
                .unwrap()
                .secs(),
            1_695_311_369
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2023-09-21T17:49:29+02:00").unwrap(),
            Timestamp::parse_rfc3339("2023-09-21T15:49:29Z").unwrap()
        );
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999999Z");
        // Nanosecond fractions are truncated to microseconds.
        assert_eq!(
            Timestamp::parse_rfc3339("2024-02-29T00:00:00.123456789Z")
                .unwrap()
                .0
                % 1_000_000,
            123_456
        );
    }

    /// RFC 3339 allows a leap second (`:60`); both readers take it, as the next second (the
    /// word reader itself, not by leaving it to the byte reader).
    #[test]
    fn a_leap_second_reads_in_either_form() {
        let word = Timestamp::parse_kraken_form(b"2016-12-31T23:59:60.500000Z");
        let bytes = Timestamp::parse_rfc3339("2016-12-31T23:59:60.5Z");
        let next = Timestamp::parse_rfc3339("2017-01-01T00:00:00.500000Z");
        assert_eq!(word, next);
        assert_eq!(bytes, next);
        assert_eq!(
            Timestamp::parse_rfc3339("2016-12-31T23:59:61.000000Z"),
            None
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2023-09-22",
            "2023-13-22T10:33:05Z",
            "2023-09-22T10:33:05",
            "2023-09-22T10:33:05.Z",
            "2023-09-22T25:33:05Z",
            "2022-06-13T08:09:10.7890123",
            "2023-09-22T10:33:05+0200",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(s), None, "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trips(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999i64) {
            let t = Timestamp(micros);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Some(t));
        }

        /// The word reader of Kraken's form reads what the byte reader reads, on the form
        /// itself and with any one byte replaced; it leaves only the forms it does not take
        /// (`t` for `T`, `z` for `Z`) to the byte reader.
        #[test]
        fn the_kraken_form_reads_as_any_form_does(
            micros in -62_135_596_800_000_000i64..253_402_300_799_999_999i64,
            at in 0usize..RFC3339_LEN,
            c in proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::sample::select(b"0123456789/:.-TtZz +".to_vec()),
            ],
        ) {
            let mut s = Timestamp(micros).to_string().into_bytes();
            let whole = Timestamp::parse_kraken_form(s.first_chunk().unwrap());
            proptest::prop_assert_eq!(whole, Some(Timestamp(micros)));
            s[at] = c;
            let word = Timestamp::parse_kraken_form(s.first_chunk().unwrap());
            let any = Timestamp::parse_any_form(&s);
            proptest::prop_assert!(
                word == any || (word.is_none() && (at == 10 || at == 26)),
                "{:?}: {word:?} {any:?}", String::from_utf8_lossy(&s)
            );
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse_rfc3339(&s);
        }
    }
}

//! Wire formats: decimals as JSON numbers, RFC 3339 times from simulated nanoseconds and
//! back, and numeric request parameters with Kraken's errors for them.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::Ns;

pub(super) fn num(d: Decimal) -> Value {
    // A JSON number written from the decimal's digits (serde_json keeps floats as f64, so
    // build the text and reparse only through RawValue-free means: a Number from the string).
    Value::Number(
        serde_json::Number::from_str(&d.to_string())
            .unwrap_or_else(|_| serde_json::Number::from(0)),
    )
}

/// RFC 3339 with microseconds from simulated nanoseconds.
pub fn rfc3339(ns: Ns) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let micros = (ns / 1000 % 1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Parses RFC 3339 into simulated nanoseconds (seconds precision is enough for deadlines).
pub fn parse_rfc3339(s: &str) -> Option<Ns> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let mut frac_ns = 0i64;
    if b.get(19) == Some(&b'.') {
        let digits: String = s[20..].chars().take_while(char::is_ascii_digit).collect();
        let padded = format!("{digits:0<9}");
        frac_ns = padded[..9].parse().ok()?;
    }
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs * 1_000_000_000 + frac_ns).ok()
}

/// The error Kraken gives for a numeric field sent as something else.
fn not_number(field: &str) -> String {
    let mut c = field.chars();
    let first = c
        .next()
        .map(|f| f.to_ascii_uppercase().to_string())
        .unwrap_or_default();
    format!("{first}{} field must be a number_float", c.as_str())
}

/// A numeric parameter: absent → None; a JSON number → Some; anything else → Kraken's error.
pub fn dec_param(p: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, String> {
    match p.get(field) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .map(Some)
                .map_err(|_| not_number(field))
        }
        Some(_) => Err(not_number(field)),
    }
}

/// A numeric parameter given as a string (REST).
pub fn dec_str(v: Option<&str>, field: &str) -> Result<Option<Decimal>, String> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => Decimal::from_str(s.trim_start_matches('+'))
            .map(Some)
            .map_err(|_| format!("EGeneral:Invalid arguments:{field}")),
    }
}

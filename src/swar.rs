//! Eight text bytes in one word, the first in the lowest byte: ASCII digits found without a
//! loop (the decimal and time readers share it), bytes a JSON string must escape found eight at a
//! time (the encoder).

/// A one in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;

/// The top bit of each byte of `x` that is not an ASCII digit, exact at the first such byte:
/// a byte below `0` borrows from, and one from 0xBA up carries into, only the bytes after it.
/// Zero when all eight are digits.
#[inline]
pub(crate) fn non_digits(x: u64) -> u64 {
    let below = x.wrapping_sub(ONES * u64::from(b'0'));
    let above = x.wrapping_add(ONES * (0x80 - u64::from(b'9') - 1));
    (below | above | x) & (ONES * 0x80)
}

/// The top bit of a byte of `x` set if that byte is zero, exact for the lowest such byte, so
/// nonzero exactly when some byte is zero.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & (ONES * 0x80)
}

/// Whether `b` holds a byte a JSON string must escape: a quote, a backslash or a control
/// character below 0x20. Eight bytes a step; bytes from 0x80 (UTF-8) need none.
#[inline]
pub(crate) fn needs_json_escape(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        // A byte below 0x20: it borrows when 0x20 is taken from it, and its top bit is clear.
        let control = x.wrapping_sub(ONES * 0x20) & !x & (ONES * 0x80);
        if control
            | zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c == b'"' || c == b'\\' || c < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_byte(b: &[u8]) -> bool {
        b.iter().any(|&c| c == b'"' || c == b'\\' || c < 0x20)
    }

    #[test]
    fn every_byte_value_at_every_position_of_a_word_and_the_tail() {
        for len in 1..=17 {
            for pos in 0..len {
                for v in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    b[pos] = v;
                    assert_eq!(needs_json_escape(&b), by_byte(&b), "{b:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_byte_loop(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(needs_json_escape(&b), by_byte(&b));
        }
    }
}

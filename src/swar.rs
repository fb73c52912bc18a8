//! Eight text bytes in one word, the first in the lowest byte: ASCII digits found without a
//! loop (the decimal and time readers share it).

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

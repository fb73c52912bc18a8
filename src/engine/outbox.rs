//! Pieces both sessions (private and public) use: the frames queued for their socket, and the
//! jittered backoff of their reconnects and retries.

use std::collections::VecDeque;

/// What the driver must do with a socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Transmit<'a> {
    /// Write this text frame (UTF-8 JSON: our encoders write nothing else).
    Text(&'a [u8]),
    /// Close the socket (the session gave up on it; frames queued before were written).
    Close,
}

/// Frames queued for a socket, back to back in one buffer allocated once, and whether to close
/// it after them.
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// Where each frame ends.
    ends: VecDeque<usize>,
    /// How far the driver took.
    read: usize,
    close: bool,
}

impl Outbox {
    /// Room for `bytes` of frames, `frames` of them.
    pub fn with_capacity(bytes: usize, frames: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            ends: VecDeque::with_capacity(frames),
            read: 0,
            close: false,
        }
    }

    /// Queues a frame.
    pub fn push(&mut self, frame: &[u8]) {
        self.buf.extend_from_slice(frame);
        self.ends.push_back(self.buf.len());
    }

    /// The next frame to write, then the order to close if one was given.
    pub fn poll(&mut self) -> Option<Transmit<'_>> {
        if let Some(end) = self.ends.pop_front() {
            let start = self.read;
            self.read = end;
            return Some(Transmit::Text(&self.buf[start..end]));
        }
        self.buf.clear();
        self.read = 0;
        if std::mem::take(&mut self.close) {
            return Some(Transmit::Close);
        }
        None
    }

    /// Drops the frames not yet taken (their socket is gone).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.read = 0;
    }

    /// Whether the driver is to close the socket once the frames are written.
    pub fn set_close(&mut self, close: bool) {
        self.close = close;
    }
}

/// Delays after failures in a row: doubling from `min`, at most `max`, then jittered into
/// its upper half, so that processes restarted together do not retry in step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    min_ns: u64,
    max_ns: u64,
    rng: u64,
}

impl Backoff {
    /// `seed` spreads the jitter.
    pub fn new(min_ns: u64, max_ns: u64, seed: u64) -> Self {
        Self {
            min_ns,
            max_ns,
            // xorshift needs a state that is not zero. A bijection of the seed keeps each
            // seed's jitter its own (`seed | 1` gave seeds 2k and 2k + 1, two processes started
            // a microsecond apart, the same delays).
            rng: (seed ^ 0x9E37_79B9_7F4A_7C15).max(1),
        }
    }

    /// The delay after `failures` failures in a row, jittered.
    pub fn delay(&mut self, failures: u32) -> u64 {
        let ns = (self.min_ns << failures.min(16)).min(self.max_ns);
        // xorshift: the jitter needs no quality, only spread.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ns / 2 + self.rng % (ns / 2 + 1)
    }

    /// The delay after `failures` failures in a row, not jittered.
    pub fn base(&self, failures: u32) -> u64 {
        (self.min_ns << failures.min(16)).min(self.max_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_in_order_then_the_close_and_a_clear_drops_them() {
        let mut o = Outbox::with_capacity(64, 4);
        o.push(b"one");
        o.push(b"two");
        o.set_close(true);
        assert_eq!(o.poll(), Some(Transmit::Text(b"one")));
        assert_eq!(o.poll(), Some(Transmit::Text(b"two")));
        assert_eq!(o.poll(), Some(Transmit::Close));
        assert_eq!(o.poll(), None);
        o.push(b"three");
        o.clear();
        assert_eq!(o.poll(), None);
    }

    #[test]
    fn delays_double_up_to_the_cap_within_their_upper_half() {
        let mut b = Backoff::new(100, 1_000, 7);
        for (n, base) in [(0, 100), (1, 200), (3, 800), (4, 1_000), (30, 1_000)] {
            assert_eq!(b.base(n), base);
            let d = b.delay(n);
            assert!((base / 2..=base).contains(&d), "{n}: {d}");
        }
    }

    /// The jitter spreads: a thousand delays after the same failure count are nearly all
    /// different and fall on both sides of the upper half's middle, and two processes seeded
    /// differently do not retry in step.
    #[test]
    fn jittered_delays_spread_over_the_upper_half() {
        let spread = |seed| {
            let mut b = Backoff::new(1_000, 1_000_000, seed);
            (0..1_000).map(|_| b.delay(10)).collect::<Vec<u64>>()
        };
        let a = spread(42);
        let distinct = a.iter().collect::<std::collections::HashSet<_>>().len();
        assert!(distinct > 990, "{distinct} distinct delays of 1,000");
        let low = a.iter().filter(|&&d| d < 750_000).count();
        assert!((400..600).contains(&low), "{low} of 1,000 below the middle");
        let b = spread(43);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < 10, "{same} of 1,000 in step");
    }
}

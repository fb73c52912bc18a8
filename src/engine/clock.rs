//! The drivers' clocks. The core never reads a clock; the engine reads these and passes the
//! values in.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::time::Timestamp;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Monotonic nanoseconds since the first call in this process (vDSO, no syscall).
#[inline]
pub fn now_ns() -> u64 {
    #[cfg(test)]
    if let Some((now, _)) = simulated::get() {
        return now;
    }
    epoch().elapsed().as_nanos() as u64
}

/// Wall-clock time.
#[inline]
pub fn wall() -> Timestamp {
    #[cfg(test)]
    if let Some((now, wall0)) = simulated::get() {
        return Timestamp(wall0 + (now / 1_000) as i64);
    }
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(d.as_micros() as i64)
}

/// Simulated time for this thread (deterministic simulation, in the crate's own tests): the
/// drivers' clocks read it instead of the system's. Not compiled into the library.
#[cfg(test)]
pub(crate) mod simulated {
    use std::cell::Cell;

    thread_local! {
        /// (monotonic ns, wall µs at monotonic 0); None: the system clocks.
        static NOW: Cell<Option<(u64, i64)>> = const { Cell::new(None) };
    }

    pub fn get() -> Option<(u64, i64)> {
        NOW.with(Cell::get)
    }

    /// Runs this thread on simulated time: monotonic `now`, wall clock `wall0` µs + now.
    pub fn set(now: u64, wall0: i64) {
        NOW.with(|c| c.set(Some((now, wall0))));
    }

    pub fn clear() {
        NOW.with(|c| c.set(None));
    }
}

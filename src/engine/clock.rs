//! The drivers' clocks. The core never reads a clock; the engine reads these and passes the
//! values in.

use crate::time::Timestamp;

#[cfg(not(target_os = "linux"))]
fn epoch() -> std::time::Instant {
    use std::sync::OnceLock;
    use std::time::Instant;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Monotonic nanoseconds. On Linux, `CLOCK_MONOTONIC` (the clock `Instant` reads there; vDSO,
/// no syscall) read straight into nanoseconds: `Instant::elapsed` spends about 150
/// instructions more a call on checked arithmetic (callgrind), and the engine reads the clock
/// about 20 times per add and cancel round trip.
#[inline]
pub fn now_ns() -> u64 {
    #[cfg(test)]
    if let Some((now, _)) = simulated::get() {
        return now;
    }
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid `timespec` to write; CLOCK_MONOTONIC exists on Linux and
        // cannot fail with a valid pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        epoch().elapsed().as_nanos() as u64
    }
}

/// Wall-clock time.
#[inline]
pub fn wall() -> Timestamp {
    #[cfg(test)]
    if let Some((now, wall0)) = simulated::get() {
        return Timestamp(wall0 + (now / 1_000) as i64);
    }
    // `SystemTime::now` then `duration_since` spends about 120 instructions more on checked
    // arithmetic (callgrind); the strategy's every add reads this clock.
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid `timespec` to write; CLOCK_REALTIME exists on Linux and
        // cannot fail with a valid pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        // `time_t` and `c_long` are i64 here, i32 on 32-bit targets: `from` takes both.
        #[allow(clippy::useless_conversion)]
        Timestamp(
            i64::from(ts.tv_sec)
                .wrapping_mul(1_000_000)
                .wrapping_add(i64::from(ts.tv_nsec) / 1_000),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_micros() as i64)
    }
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

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Both clocks read straight from the system agree with std's reading of the same clocks,
    /// in microseconds since the epoch (wall) and in nanoseconds that only go forward
    /// (monotonic).
    #[test]
    fn the_direct_reads_agree_with_std() {
        super::simulated::clear();
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let w = super::wall().0;
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(
            before.as_micros() as i64 <= w && w <= after.as_micros() as i64,
            "{before:?} <= {w} µs <= {after:?}"
        );
        let a = super::now_ns();
        std::thread::sleep(std::time::Duration::from_millis(1));
        let b = super::now_ns();
        assert!(b >= a + 1_000_000, "{a} then {b}");
    }
}

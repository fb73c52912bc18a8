//! Circuit breaker: after `threshold` consecutive failures, new orders are refused locally for
//! a cool-down, then the breaker closes again with its count reset. Cancels never consult it.

/// Breaker state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Orders pass.
    Closed,
    /// Orders are refused until `until_ns`.
    Open {
        /// When it closes again.
        until_ns: u64,
    },
}

/// New orders refused: the breaker is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open for another {remaining_ns} ns")]
pub struct BreakerOpen {
    /// Time left.
    pub remaining_ns: u64,
}

/// The breaker. Deterministic: time is passed in.
#[derive(Clone, Copy, Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown_ns: u64,
    consecutive: u32,
    open_until: Option<u64>,
    trips: u64,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures, for `cooldown_ns`.
    pub fn new(threshold: u32, cooldown_ns: u64) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown_ns,
            consecutive: 0,
            open_until: None,
            trips: 0,
        }
    }

    /// State at `now_ns` (closing it if the cool-down is over).
    pub fn state(&mut self, now_ns: u64) -> BreakerState {
        match self.open_until {
            Some(until) if now_ns < until => BreakerState::Open { until_ns: until },
            Some(_) => {
                self.open_until = None;
                self.consecutive = 0;
                BreakerState::Closed
            }
            None => BreakerState::Closed,
        }
    }

    /// True while open at `now` (without closing it).
    pub fn is_open(&self, now_ns: u64) -> bool {
        self.open_until.is_some_and(|u| now_ns < u)
    }

    /// May a new order go out now?
    pub fn check(&mut self, now_ns: u64) -> Result<(), BreakerOpen> {
        match self.state(now_ns) {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { until_ns } => Err(BreakerOpen {
                remaining_ns: until_ns - now_ns,
            }),
        }
    }

    /// A request succeeded: the failure streak ends.
    pub fn on_success(&mut self) {
        self.consecutive = 0;
    }

    /// A request failed. Returns true if this failure tripped the breaker.
    pub fn on_failure(&mut self, now_ns: u64) -> bool {
        if matches!(self.state(now_ns), BreakerState::Open { .. }) {
            return false;
        }
        self.consecutive += 1;
        if self.consecutive >= self.threshold {
            self.open_until = Some(now_ns.saturating_add(self.cooldown_ns));
            self.trips += 1;
            return true;
        }
        false
    }

    /// Consecutive failures so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }

    /// Times it has opened.
    pub fn trips(&self) -> u64 {
        self.trips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_then_resets() {
        let mut b = CircuitBreaker::new(5, 60);
        for t in 0..4 {
            assert!(!b.on_failure(t));
        }
        b.on_success();
        for t in 0..4 {
            assert!(!b.on_failure(t));
        }
        assert!(b.check(4).is_ok());
        assert!(b.on_failure(10));
        assert_eq!(b.state(10), BreakerState::Open { until_ns: 70 });
        assert_eq!(b.check(30), Err(BreakerOpen { remaining_ns: 40 }));
        // Failures while open do not extend it.
        assert!(!b.on_failure(50));
        assert!(b.check(69).is_err());
        assert!(b.check(70).is_ok());
        assert_eq!(b.consecutive_failures(), 0);
        assert_eq!(b.trips(), 1);
        // A fresh streak is needed to trip again.
        for t in 71..75 {
            assert!(!b.on_failure(t));
        }
        assert!(b.on_failure(75));
        assert_eq!(b.trips(), 2);
    }

    #[test]
    fn is_open_reads_without_closing_and_counts_the_streak() {
        let mut b = CircuitBreaker::new(2, 10);
        assert!(!b.is_open(0));
        assert!(!b.on_failure(1));
        assert_eq!(b.consecutive_failures(), 1);
        assert!(b.on_failure(2));
        assert_eq!(b.consecutive_failures(), 2);
        // Open from 2 to 12, exclusive of 12; reading does not close it.
        assert!(b.is_open(2) && b.is_open(11));
        assert!(!b.is_open(12));
        assert!(b.is_open(11), "is_open(12) did not close it");
        assert_eq!(b.state(12), BreakerState::Closed);
        assert!(!b.is_open(5), "state(12) closed it");
    }
}

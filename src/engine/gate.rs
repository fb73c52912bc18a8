//! The strategy side's gate, sans-IO: whether a request may leave now, by the exchange's
//! status, the circuit breaker and room in the command ring, and what each answer teaches it.
//! The rate counter stays its own type ([`crate::risk::RateCounter`]): it is charged per
//! transaction, not per decision.

use crate::engine::TradeError;
use crate::engine::msg::ConnectionState;
use crate::error::KrakenErrorKind;
use crate::risk::CircuitBreaker;
use crate::types::SystemStatus;

/// See the module documentation.
#[derive(Debug)]
pub struct Gate {
    breaker: CircuitBreaker,
    system: Option<SystemStatus>,
}

impl Gate {
    /// A gate whose breaker opens after `threshold` failures in a row, for `cooldown_ns`.
    pub fn new(threshold: u32, cooldown_ns: u64) -> Self {
        Self {
            breaker: CircuitBreaker::new(threshold, cooldown_ns),
            system: None,
        }
    }

    /// May a new order (add, amend, edit, batch) leave at `now`, with `ring_slots` free?
    pub fn new_order(&mut self, now: u64, ring_slots: usize) -> Result<(), TradeError> {
        if let Some(s @ (SystemStatus::Maintenance | SystemStatus::CancelOnly)) = self.system {
            return Err(TradeError::MarketClosed(s));
        }
        self.breaker.check(now)?;
        if ring_slots == 0 {
            return Err(TradeError::Backpressure);
        }
        Ok(())
    }

    /// May a cancel leave? Cancels pass the breaker and cancel-only (they reduce risk);
    /// maintenance refuses them too.
    pub fn cancel(&self, ring_slots: usize) -> Result<(), TradeError> {
        if self.system == Some(SystemStatus::Maintenance) {
            return Err(TradeError::MarketClosed(SystemStatus::Maintenance));
        }
        if ring_slots == 0 {
            return Err(TradeError::Backpressure);
        }
        Ok(())
    }

    /// The exchange's status, as last reported.
    pub fn system(&self) -> Option<SystemStatus> {
        self.system
    }

    /// A `status` frame.
    pub fn on_status(&mut self, system: Option<SystemStatus>) {
        if system.is_some() {
            self.system = system;
        }
    }

    /// An answer to one of our requests. True if it opened the breaker: session failures and
    /// rate limits count; an order refused for its own reasons does not.
    pub fn on_response(&mut self, success: bool, kind: Option<KrakenErrorKind>, now: u64) -> bool {
        match (success, kind) {
            (true, _) => {
                self.breaker.on_success();
                false
            }
            (false, Some(k))
                if k.is_session_failure() || k == KrakenErrorKind::RateLimitExceeded =>
            {
                self.breaker.on_failure(now)
            }
            _ => false,
        }
    }

    /// The connection changed. True if losing it opened the breaker.
    pub fn on_connection(&mut self, state: ConnectionState, now: u64) -> bool {
        state == ConnectionState::Disconnected && self.breaker.on_failure(now)
    }

    /// A request's outcome is unknown. Requests lost with a connection are one incident with
    /// it, which `on_connection` counted; a deadline passing on a live connection is its own.
    pub fn on_unknown_outcome(&mut self, disconnected: bool, now: u64) -> bool {
        !disconnected && self.breaker.on_failure(now)
    }

    /// Whether the breaker is open at `now`.
    pub fn breaker_open(&self, now: u64) -> bool {
        self.breaker.is_open(now)
    }

    /// Times the breaker opened.
    pub fn breaker_trips(&self) -> u64 {
        self.breaker.trips()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::BreakerOpen;

    const S: u64 = 1_000_000_000;

    #[test]
    fn status_decides_what_may_leave() {
        let mut g = Gate::new(3, 60 * S);
        assert_eq!(g.new_order(0, 1), Ok(()));
        g.on_status(Some(SystemStatus::CancelOnly));
        assert_eq!(
            g.new_order(0, 1),
            Err(TradeError::MarketClosed(SystemStatus::CancelOnly))
        );
        assert_eq!(g.cancel(1), Ok(()), "cancels pass cancel-only");
        g.on_status(None);
        assert_eq!(
            g.system(),
            Some(SystemStatus::CancelOnly),
            "no news keeps it"
        );
        g.on_status(Some(SystemStatus::Maintenance));
        assert_eq!(
            g.cancel(1),
            Err(TradeError::MarketClosed(SystemStatus::Maintenance))
        );
        g.on_status(Some(SystemStatus::Online));
        assert_eq!(g.new_order(0, 0), Err(TradeError::Backpressure));
        assert_eq!(g.cancel(0), Err(TradeError::Backpressure));
    }

    #[test]
    fn session_failures_and_rate_limits_open_the_breaker_order_refusals_do_not() {
        let mut g = Gate::new(3, 60 * S);
        for _ in 0..10 {
            assert!(!g.on_response(false, Some(KrakenErrorKind::InsufficientFunds), 0));
        }
        assert_eq!(g.new_order(0, 1), Ok(()));
        assert!(!g.on_response(false, Some(KrakenErrorKind::RateLimitExceeded), 0));
        assert!(!g.on_response(false, Some(KrakenErrorKind::InvalidSession), 0));
        assert!(g.on_response(false, Some(KrakenErrorKind::RateLimitExceeded), 0));
        assert_eq!(
            g.new_order(S, 1),
            Err(TradeError::BreakerOpen(BreakerOpen {
                remaining_ns: 59 * S
            }))
        );
        assert!(g.breaker_open(S));
        assert_eq!(g.cancel(1), Ok(()), "cancels pass the breaker");
        assert_eq!(g.new_order(60 * S, 1), Ok(()));
        assert_eq!(g.breaker_trips(), 1);
        // A success resets the streak.
        let mut h = Gate::new(2, 60 * S);
        assert!(!h.on_response(false, Some(KrakenErrorKind::RateLimitExceeded), 0));
        assert!(!h.on_response(true, None, 0));
        assert!(!h.on_response(false, Some(KrakenErrorKind::RateLimitExceeded), 0));
        assert!(!h.breaker_open(0));
    }

    #[test]
    fn a_lost_connection_is_one_incident_with_its_requests() {
        let mut g = Gate::new(2, 60 * S);
        assert!(!g.on_connection(ConnectionState::Disconnected, 0));
        for _ in 0..5 {
            assert!(!g.on_unknown_outcome(true, 0));
        }
        assert!(!g.on_connection(ConnectionState::Ready, 0));
        assert!(!g.breaker_open(0));
        assert!(
            g.on_unknown_outcome(false, 0),
            "a live deadline is its own failure"
        );
        assert!(g.breaker_open(0));
    }

    #[test]
    fn each_lost_connection_counts_toward_the_breaker_other_states_do_not() {
        let mut g = Gate::new(2, 60 * S);
        assert_eq!(g.breaker_trips(), 0);
        let up = [
            ConnectionState::Connecting(1),
            ConnectionState::Connected,
            ConnectionState::Ready,
        ];
        for s in up {
            assert!(!g.on_connection(s, 0), "{s:?}");
        }
        assert!(!g.on_connection(ConnectionState::Disconnected, 0));
        for s in up {
            assert!(!g.on_connection(s, 0), "{s:?}");
        }
        assert!(!g.breaker_open(0));
        assert!(
            g.on_connection(ConnectionState::Disconnected, 0),
            "the second loss in a row opens it"
        );
        assert!(g.breaker_open(0));
        assert_eq!(g.breaker_trips(), 1);
        // After the cooldown, two more losses open it again.
        assert!(!g.on_connection(ConnectionState::Disconnected, 60 * S));
        assert!(g.on_connection(ConnectionState::Disconnected, 60 * S));
        assert_eq!(g.breaker_trips(), 2);
    }
}

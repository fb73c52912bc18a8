//! Local risk controls, refusing before Kraken would: the per-pair trading rate counter and
//! the circuit breaker. Both are deterministic; time is a monotonic nanosecond count passed in.

mod breaker;
mod rate;

pub use breaker::{BreakerOpen, BreakerState, CircuitBreaker};
pub use rate::{RateCounter, RateLimited, Tier, Transaction};

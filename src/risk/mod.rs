//! Local risk controls, refusing before Kraken would: the per-pair trading rate counter and
//! the circuit breaker. Both are deterministic; time is a monotonic nanosecond count passed in.

mod breaker;
mod rate;
mod rest_counter;

pub use breaker::{BreakerOpen, BreakerState, CircuitBreaker};
pub use rate::{RateCounter, RateLimited, Tier, Transaction};
pub use rest_counter::{RestCallCounter, rest_call_cost};

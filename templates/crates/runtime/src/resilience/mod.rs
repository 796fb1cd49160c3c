//! Failing well: circuit breakers, rate limits, retry pauses, and the clients of
//! `[[services.calls]]` that combine them with timeouts and fallbacks.

pub mod backoff;
pub mod breaker;
pub mod calls;
pub mod rate_limit;

//! A circuit breaker per upstream, with Resilience4j's semantics: a count-based sliding window
//! of the last `window` calls; once at least `min_calls` are in it and the failure rate reaches
//! `failure_rate`, the breaker opens and refuses calls for `open_for`; then it lets
//! `half_open_probes` calls through: all succeed → closed (window cleared), any fails → open
//! again. A call abandoned by its client records nothing and gives its permission back.
//!
//! What counts as a failure ([`is_failure`]): no connection, a timeout, and the upstream saying
//! it cannot serve (502, 503, 504). Any other answer, a 500 included, is the upstream working:
//! one request's bad input must not open the breaker for everyone.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Whether an answer with `status` counts against the upstream's breaker.
pub fn is_failure(status: u16) -> bool {
    matches!(status, 502..=504)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub window: usize,
    pub min_calls: usize,
    pub failure_rate: f64,
    pub open_for: Duration,
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: 20,
            min_calls: 10,
            failure_rate: 0.5,
            open_for: Duration::from_secs(10),
            half_open_probes: 3,
        }
    }
}

/// What the breaker is doing, also exported as the gauge `gateway_breaker_state`
/// (0 closed, 1 open, 2 half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { outcomes: VecDeque<bool> },
    Open { until: Instant },
    HalfOpen { admitted: u32, succeeded: u32 },
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::Closed {
                outcomes: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> BreakerState {
        match &*self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() >= *until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// `Ok` when a call may go through (record its outcome), `Err(retry_after)` when open.
    pub fn admit(&self) -> Result<(), Duration> {
        let mut inner = self.lock();
        match &mut *inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } => {
                let now = Instant::now();
                if now >= *until {
                    *inner = Inner::HalfOpen {
                        admitted: 1,
                        succeeded: 0,
                    };
                    Ok(())
                } else {
                    Err(*until - now)
                }
            }
            Inner::HalfOpen { admitted, .. } => {
                if *admitted < self.config.half_open_probes {
                    *admitted += 1;
                    Ok(())
                } else {
                    Err(Duration::from_secs(1))
                }
            }
        }
    }

    /// [`Breaker::admit`] as a guard: record the call's outcome on it once; dropped without an
    /// outcome (the caller's future was cancelled), it gives the permission back.
    pub fn permit(&self) -> Result<Permit<'_>, Duration> {
        self.admit().map(|()| Permit {
            breaker: self,
            settled: false,
        })
    }

    /// Gives back the permission of an admitted call that ended without an outcome (the client
    /// went away): nothing is recorded, and a half-open probe slot is free again, so a probe
    /// abandoned by its client never leaves the breaker waiting (Resilience4j's
    /// `releasePermission`).
    pub fn release(&self) {
        if let Inner::HalfOpen { admitted, .. } = &mut *self.lock() {
            *admitted = admitted.saturating_sub(1);
        }
    }

    /// Records the outcome of an admitted call; returns the state after it.
    pub fn record(&self, success: bool) -> BreakerState {
        let mut inner = self.lock();
        let open = Inner::Open {
            until: Instant::now() + self.config.open_for,
        };
        match &mut *inner {
            Inner::Closed { outcomes } => {
                outcomes.push_back(success);
                while outcomes.len() > self.config.window {
                    outcomes.pop_front();
                }
                let failures = outcomes.iter().filter(|ok| !**ok).count();
                if outcomes.len() >= self.config.min_calls.max(1)
                    && failures as f64 / outcomes.len() as f64 >= self.config.failure_rate
                {
                    *inner = open;
                    return BreakerState::Open;
                }
                BreakerState::Closed
            }
            Inner::HalfOpen { succeeded, .. } => {
                if !success {
                    *inner = open;
                    return BreakerState::Open;
                }
                *succeeded += 1;
                if *succeeded >= self.config.half_open_probes {
                    *inner = Inner::Closed {
                        outcomes: VecDeque::new(),
                    };
                    return BreakerState::Closed;
                }
                BreakerState::HalfOpen
            }
            // A call admitted before the breaker opened: its outcome no longer counts.
            Inner::Open { .. } => BreakerState::Open,
        }
    }
}

/// The permission of one admitted call (see [`Breaker::permit`]).
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    settled: bool,
}

impl Permit<'_> {
    /// Records the call's outcome; returns the breaker's state after it.
    pub fn record(mut self, success: bool) -> BreakerState {
        self.settled = true;
        self.breaker.record(success)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailability_counts_as_failure() {
        assert!([502, 503, 504].into_iter().all(is_failure));
        assert!(![200, 400, 404, 422, 500, 501].into_iter().any(is_failure));
    }

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            window: 4,
            min_calls: 4,
            failure_rate: 0.5,
            open_for: Duration::from_secs(10),
            half_open_probes: 2,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_failure_rate_then_half_opens_and_closes() {
        let b = breaker();
        for ok in [true, false, true] {
            b.admit().unwrap();
            assert_eq!(b.record(ok), BreakerState::Closed, "fewer than min calls");
        }
        b.admit().unwrap();
        assert_eq!(b.record(false), BreakerState::Open, "2 of 4 failed");
        assert!(b.admit().is_err(), "open refuses at once");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.admit().unwrap();
        b.admit().unwrap();
        assert!(b.admit().is_err(), "only the probes go through");
        assert_eq!(b.record(true), BreakerState::HalfOpen);
        assert_eq!(b.record(true), BreakerState::Closed);
        b.admit().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_again() {
        let b = breaker();
        for _ in 0..4 {
            b.admit().unwrap();
            b.record(false);
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        b.admit().unwrap();
        assert_eq!(b.record(false), BreakerState::Open);
        assert!(b.admit().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_permit_frees_its_probe_and_a_recorded_one_counts() {
        let b = breaker();
        for _ in 0..4 {
            b.permit().unwrap().record(false);
        }
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(11)).await;
        // Every probe abandoned by its caller: the slots are free again, not lost.
        for _ in 0..5 {
            let first = b.permit().unwrap();
            let second = b.permit().unwrap();
            assert!(b.permit().is_err(), "only the probes go through");
            drop((first, second));
        }
        let first = b.permit().unwrap();
        let second = b.permit().unwrap();
        assert_eq!(first.record(true), BreakerState::HalfOpen);
        assert_eq!(second.record(true), BreakerState::Closed);
    }

    #[test]
    fn the_window_slides() {
        let b = breaker();
        for ok in [false, true, true, true, true, false] {
            b.admit().unwrap();
            b.record(ok);
        }
        assert_eq!(b.state(), BreakerState::Closed, "1 failure in the last 4");
    }
}

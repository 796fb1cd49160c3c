//! Doubling delays with a cap, the one retry pause of the runtime: the outbox relay, the
//! consumer's subscription and its redeliveries, the database at start, Kafka's retry copies
//! and the call clients' retries all wait `first`, `2 × first`, `4 × first` … up to `max`.

use std::time::Duration;

/// Exponents above this add nothing but an overflow risk: `first × 2^16` is past every cap.
const MAX_EXPONENT: u32 = 16;

/// A sequence of doubling waits, reset after a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Waits `first`, then twice as long each time, never more than `max`.
    #[must_use]
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            current: first,
        }
    }

    /// The wait to take now, without moving on.
    #[must_use]
    pub const fn current(&self) -> Duration {
        self.current
    }

    /// The wait to take now; the next one is doubled (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let now = self.current;
        self.current = (now * 2).min(self.max);
        now
    }

    /// Back to `first`, after a success.
    pub fn reset(&mut self) {
        self.current = self.first;
    }

    /// The wait before try `n` (1 = the first retry): `first × 2^(n-1)`, at most `max`.
    #[must_use]
    pub fn nth(first: Duration, max: Duration, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(MAX_EXPONENT));
        (first * factor).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let waits: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(b.current(), Duration::from_millis(500));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn the_nth_wait_doubles_and_caps() {
        let (first, max) = (Duration::from_millis(50), Duration::from_millis(1600));
        let waits: Vec<u128> = (1..=8)
            .map(|n| Backoff::nth(first, max, n).as_millis())
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 1600, 1600]);
        assert_eq!(Backoff::nth(first, max, 0), first);
        assert_eq!(Backoff::nth(first, max, u32::MAX), max);
    }
}

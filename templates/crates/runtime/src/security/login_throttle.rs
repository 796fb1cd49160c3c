//! Backoff for password guessing: after a few failed logins for one key (a user name, or a
//! client address with a larger allowance), each
//! further attempt must wait longer (doubling, capped), and is refused without touching a
//! password hash until then, so a flood of guesses costs no hashing capacity that real users
//! need. A success clears the key. Memory is bounded: when full, keys whose last failure is
//! older than the window are dropped, and if that frees nothing, all are.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the backoff starts.
pub const FREE_FAILURES: u32 = 5;
/// The first wait after the free failures; it doubles with each further failure.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait, and how long a key's failures are remembered.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Keys tracked at most.
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins per key.
#[derive(Debug)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Failures>>,
    /// Failures allowed before the backoff starts.
    free: u32,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}

/// Failures allowed per client address before its backoff starts: more than per user, as
/// many users may share one address.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;

impl LoginThrottle {
    /// Per user name: [`FREE_FAILURES`] free.
    pub fn new() -> Self {
        Self::with_free_failures(FREE_FAILURES)
    }

    /// With `free` failures before the backoff starts.
    pub fn with_free_failures(free: u32) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            free,
        }
    }

    /// `Err(wait)` while `key` must wait before its next attempt.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = keys.get(key) else {
            return Ok(());
        };
        match wait_after(f.count, self.free).checked_sub(now.saturating_duration_since(f.last)) {
            Some(left) if !left.is_zero() => Err(left),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt of `key`.
    pub fn failed(&self, key: &str) {
        self.failed_at(key, Instant::now());
    }

    fn failed_at(&self, key: &str, now: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= CAPACITY && !keys.contains_key(key) {
            keys.retain(|_, f| now.saturating_duration_since(f.last) < MAX_WAIT);
            if keys.len() >= CAPACITY {
                keys.clear();
            }
        }
        let f = keys.entry(key.to_string()).or_insert(Failures {
            count: 0,
            last: now,
        });
        // Failures older than the longest wait are forgotten.
        if now.saturating_duration_since(f.last) >= MAX_WAIT {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
    }

    /// A successful login: `key` starts afresh.
    pub fn succeeded(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The wait after `count` failures, `free` of them free.
fn wait_after(count: u32, free: u32) -> Duration {
    match count.checked_sub(free) {
        None => Duration::ZERO,
        Some(extra) => FIRST_WAIT
            .saturating_mul(1u32.checked_shl(extra.min(20)).unwrap_or(u32::MAX))
            .min(MAX_WAIT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_back_off_and_a_success_clears() {
        let t = LoginThrottle::new();
        let start = Instant::now();
        for i in 0..FREE_FAILURES {
            assert!(t.check_at("ada", start).is_ok(), "free attempt {i}");
            t.failed_at("ada", start);
        }
        assert_eq!(t.check_at("ada", start), Err(FIRST_WAIT));
        assert!(t.check_at("bob", start).is_ok(), "per user");
        let later = start + FIRST_WAIT;
        assert!(t.check_at("ada", later).is_ok(), "the wait is over");
        t.failed_at("ada", later);
        assert_eq!(t.check_at("ada", later), Err(FIRST_WAIT * 2), "doubled");
        t.succeeded("ada");
        assert!(t.check_at("ada", later).is_ok());
        assert_eq!(
            wait_after(FREE_FAILURES + 40, FREE_FAILURES),
            MAX_WAIT,
            "capped"
        );
        let per_address = LoginThrottle::with_free_failures(FREE_FAILURES_PER_ADDRESS);
        for _ in 0..FREE_FAILURES_PER_ADDRESS {
            per_address.failed_at("ip:10.0.0.1", start);
        }
        assert_eq!(per_address.check_at("ip:10.0.0.1", start), Err(FIRST_WAIT));
    }
}

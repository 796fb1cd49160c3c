//! Token-bucket rate limiting per client identity: each identity gets `burst` tokens, refilled
//! at `per_second`; a request without a token is refused with 429 and `Retry-After`. Buckets
//! live in shards, so concurrent requests of different clients rarely wait for each other; idle
//! buckets (full again) are dropped when a shard grows large.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const SHARDS: usize = 16;
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes a token for `identity`; `Err(wait)` when it has none left.
    pub fn check(&self, identity: &str) -> Result<(), Duration> {
        let mut h = DefaultHasher::new();
        identity.hash(&mut h);
        let shard = &self.shards[(h.finish() as usize) % SHARDS];
        let mut buckets = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if buckets.len() > PRUNE_AT {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(identity.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_second).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_refill_per_identity() {
        let l = RateLimiter::new(2, 3);
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        let wait = l.check("a").expect_err("burst spent");
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(l.check("b").is_ok(), "identities are separate");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(l.check("a").is_ok(), "one token refilled");
        assert!(l.check("a").is_err());
    }
}

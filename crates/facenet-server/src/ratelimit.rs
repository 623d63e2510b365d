//! Per-key rate limits: a token bucket for each API key (GCRA, via `governor`).

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Sustained requests per second per key, and how many may arrive at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    /// Generous enough for one busy client at the service's full throughput on a small machine,
    /// tight enough to stop one key from monopolising it.
    fn default() -> Self {
        RateLimit {
            per_second: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN),
        }
    }
}

pub(crate) struct Limiter {
    inner: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl Limiter {
    pub fn new(r: RateLimit) -> Self {
        let quota = Quota::per_second(r.per_second).allow_burst(r.burst);
        Limiter {
            inner: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(seconds)` to wait before the key may try again.
    pub fn check(&self, key_id: &str) -> Result<(), u64> {
        self.inner
            .check_key(&key_id.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refused_per_key() {
        let l = Limiter::new(RateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(3).unwrap(),
        });
        for _ in 0..3 {
            assert_eq!(l.check("a"), Ok(()));
        }
        let wait = l.check("a").unwrap_err();
        assert!((1..=1).contains(&wait), "{wait}");
        // Another key has its own bucket.
        assert_eq!(l.check("b"), Ok(()));
    }
}

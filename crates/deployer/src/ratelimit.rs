//! Attempt limits that keep the service from being an oracle for stolen
//! Render keys (setup per user and per IP) and slow down login floods.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimit;

/// `count` attempts per `window`, refilled evenly, with the whole count
/// available as a burst.
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    pub fn new(limit: RateLimit) -> Self {
        let per_attempt = limit.window / limit.count.get();
        let quota = Quota::with_period(per_attempt.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(limit.count);
        Self {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Counts one attempt; `Err(retry_after)` when over the limit.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Retry-After is in whole seconds; never tell a client "0".
            Duration::from_secs(wait.as_secs() + 1)
        })
    }

    /// Drops keys whose buckets are full again, bounding memory.
    pub fn prune(&self) {
        self.limiter.retain_recent();
    }
}

pub struct RateLimiters {
    pub setup_user: KeyedLimit<u64>,
    pub setup_ip: KeyedLimit<IpAddr>,
    pub login_ip: KeyedLimit<IpAddr>,
}

impl RateLimiters {
    pub fn new(setup_user: RateLimit, setup_ip: RateLimit, login_ip: RateLimit) -> Self {
        Self {
            setup_user: KeyedLimit::new(setup_user),
            setup_ip: KeyedLimit::new(setup_ip),
            login_ip: KeyedLimit::new(login_ip),
        }
    }

    pub fn prune(&self) {
        self.setup_user.prune();
        self.setup_ip.prune();
        self.login_ip.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_count_and_reports_retry_after_per_key() {
        let limit = KeyedLimit::new(RateLimit::parse("3/1m").expect("valid"));
        for _ in 0..3 {
            assert!(limit.check(&1u64).is_ok());
        }
        let retry = limit.check(&1u64).expect_err("fourth attempt is limited");
        assert!(
            retry >= Duration::from_secs(1) && retry <= Duration::from_secs(21),
            "{retry:?}"
        );
        assert!(limit.check(&2u64).is_ok(), "other keys are independent");
    }
}

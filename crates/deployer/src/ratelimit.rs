//! Attempt limits that keep the service from being an oracle for stolen
//! Render keys (setup per user and per IP) and slow down login floods.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
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

/// The unit a per-IP limit counts: the address for IPv4, its /64 for IPv6.
/// One IPv6 host is normally given a whole /64, so counting single
/// addresses would let it try keys from 2^64 "clients".
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
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
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_network(a), client_network(b));
        assert_ne!(client_network(a), client_network(other));
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(client_network(v4), v4);
        assert_eq!(client_network(mapped), v4);
    }

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

//! Security-alert detection: sliding-window counters over failed logins, invalid Render keys and
//! deploy failures, plus the concurrent-session ceiling.
//!
//! Pure and clock-free: every call takes `now`, so tests drive time by hand. The caller turns a
//! returned [`AlertKind`] into an audit event, a log line and a metric.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// An alert threshold: "`count` events within `window`", written `N/window` like a rate limit.
pub use crate::config::RateLimit as Threshold;

/// What an alert is about. Serialized snake_case; [`AlertKind::as_str`] gives the same text for
/// metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    FailedLoginBurst,
    InvalidKeyBurstUser,
    InvalidKeyBurstIp,
    /// Raised by the session layer when a session is used from a different client.
    SessionClientMismatch,
    TooManySessions,
    RepeatedDeployFailures,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::FailedLoginBurst => "failed_login_burst",
            AlertKind::InvalidKeyBurstUser => "invalid_key_burst_user",
            AlertKind::InvalidKeyBurstIp => "invalid_key_burst_ip",
            AlertKind::SessionClientMismatch => "session_client_mismatch",
            AlertKind::TooManySessions => "too_many_sessions",
            AlertKind::RepeatedDeployFailures => "repeated_deploy_failures",
        }
    }
}

/// Alert thresholds (`ALERT_*` settings, see `deployer serve --help`). The defaults:
///
/// | alert | default |
/// |---|---|
/// | failed logins per client IP | 10 in 5 minutes |
/// | invalid Render keys per GitHub user | 5 in 15 minutes |
/// | invalid Render keys per client IP | 10 in 15 minutes |
/// | concurrent sessions per GitHub user | more than 10 |
/// | failed deployments per GitHub user | 5 in 1 hour |
///
/// The invalid-key limits sit below `RATE_LIMIT_SETUP_*` so that someone testing stolen keys is
/// reported before being throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertConfig {
    pub failed_logins_per_ip: Threshold,
    pub invalid_keys_per_user: Threshold,
    pub invalid_keys_per_ip: Threshold,
    pub max_sessions_per_user: u32,
    pub deploy_failures_per_user: Threshold,
}

impl Default for AlertConfig {
    fn default() -> Self {
        const FIVE: NonZeroU32 = NonZeroU32::new(5).expect("non-zero");
        const TEN: NonZeroU32 = NonZeroU32::new(10).expect("non-zero");
        AlertConfig {
            failed_logins_per_ip: per_minutes(TEN, 5),
            invalid_keys_per_user: per_minutes(FIVE, 15),
            invalid_keys_per_ip: per_minutes(TEN, 15),
            max_sessions_per_user: 10,
            deploy_failures_per_user: per_minutes(FIVE, 60),
        }
    }
}

const fn per_minutes(count: NonZeroU32, minutes: u64) -> Threshold {
    Threshold {
        count,
        window: Duration::from_secs(minutes * 60),
    }
}

/// Upper bound on keys (IPs or users) tracked per counter, so a flood of distinct IPs cannot grow
/// memory without limit.
const MAX_KEYS: usize = 100_000;

/// Event times of one key within the window (at most `count` of them are kept).
#[derive(Debug, Default)]
struct Burst {
    times: VecDeque<Instant>,
    /// When the alert last fired. A key alerts at most once per window, so a sustained attack
    /// is reported once a window (not once, and not on every event).
    fired_at: Option<Instant>,
}

impl Burst {
    fn evict(&mut self, now: Instant, window: Duration) {
        while let Some(&t) = self.times.front() {
            if now.saturating_duration_since(t) >= window {
                self.times.pop_front();
            } else {
                break;
            }
        }
    }

    fn last(&self) -> Option<Instant> {
        self.times.back().copied()
    }
}

/// A sliding-window counter per key.
#[derive(Debug)]
struct Counter<K> {
    threshold: Threshold,
    bursts: Mutex<HashMap<K, Burst>>,
}

impl<K: Hash + Eq + Copy> Counter<K> {
    fn new(threshold: Threshold) -> Self {
        Counter {
            threshold,
            bursts: Mutex::new(HashMap::new()),
        }
    }

    /// Records one event; true exactly when this event brings the count within the window up to
    /// the threshold and the key has not alerted within the last window.
    fn hit(&self, key: K, now: Instant) -> bool {
        let Threshold { count, window } = self.threshold;
        let count = usize::try_from(count.get()).unwrap_or(usize::MAX);
        let mut bursts = lock(&self.bursts);
        if bursts.len() >= MAX_KEYS && !bursts.contains_key(&key) {
            make_room(&mut bursts, now, window);
        }
        let burst = bursts.entry(key).or_default();
        burst.evict(now, window);
        burst.times.push_back(now);
        if burst.times.len() > count {
            burst.times.pop_front();
        }
        let rearmed = burst
            .fired_at
            .is_none_or(|at| now.saturating_duration_since(at) >= window);
        if rearmed && burst.times.len() >= count {
            burst.fired_at = Some(now);
            return true;
        }
        false
    }
}

/// Drops keys whose window has passed; if every key is still live (a flood of distinct IPs), drops
/// an arbitrary tenth as well so the sweep is not repeated on every new key.
fn make_room<K: Hash + Eq + Copy>(bursts: &mut HashMap<K, Burst>, now: Instant, window: Duration) {
    bursts.retain(|_, b| {
        b.last()
            .is_some_and(|t| now.saturating_duration_since(t) < window)
    });
    if bursts.len() >= MAX_KEYS {
        let excess = bursts.len() - MAX_KEYS * 9 / 10;
        let victims: Vec<K> = bursts.keys().take(excess).copied().collect();
        for key in victims {
            bursts.remove(&key);
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update; the counters stay usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Thread-safe detector shared by all requests (wrap it in an `Arc`).
#[derive(Debug)]
pub struct AlertDetector {
    failed_logins_per_ip: Counter<IpAddr>,
    invalid_keys_per_user: Counter<u64>,
    invalid_keys_per_ip: Counter<IpAddr>,
    deploy_failures_per_user: Counter<u64>,
    max_sessions_per_user: u32,
}

impl AlertDetector {
    pub fn new(cfg: AlertConfig) -> Self {
        AlertDetector {
            failed_logins_per_ip: Counter::new(cfg.failed_logins_per_ip),
            invalid_keys_per_user: Counter::new(cfg.invalid_keys_per_user),
            invalid_keys_per_ip: Counter::new(cfg.invalid_keys_per_ip),
            deploy_failures_per_user: Counter::new(cfg.deploy_failures_per_user),
            max_sessions_per_user: cfg.max_sessions_per_user,
        }
    }

    /// A GitHub login failed (state mismatch, denied, bad code) from `ip`.
    pub fn failed_login(&self, ip: IpAddr, now: Instant) -> Option<AlertKind> {
        self.failed_logins_per_ip
            .hit(ip, now)
            .then_some(AlertKind::FailedLoginBurst)
    }

    /// A Render key was rejected for `user` from `ip`; both counters advance, so both may fire.
    pub fn invalid_key(&self, user: u64, ip: IpAddr, now: Instant) -> Vec<AlertKind> {
        let by_user = self
            .invalid_keys_per_user
            .hit(user, now)
            .then_some(AlertKind::InvalidKeyBurstUser);
        let by_ip = self
            .invalid_keys_per_ip
            .hit(ip, now)
            .then_some(AlertKind::InvalidKeyBurstIp);
        by_user.into_iter().chain(by_ip).collect()
    }

    /// A deployment of `user` ended in failure.
    pub fn deploy_failed(&self, user: u64, now: Instant) -> Option<AlertKind> {
        self.deploy_failures_per_user
            .hit(user, now)
            .then_some(AlertKind::RepeatedDeployFailures)
    }

    /// A session was opened; `active_sessions` counts the user's sessions including the new one.
    pub fn sessions_opened(&self, active_sessions: u32) -> Option<AlertKind> {
        (active_sessions > self.max_sessions_per_user).then_some(AlertKind::TooManySessions)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn detector(count: u32, window: Duration) -> AlertDetector {
        let t = Threshold::new(count, window).unwrap();
        AlertDetector::new(AlertConfig {
            failed_logins_per_ip: t,
            invalid_keys_per_user: t,
            invalid_keys_per_ip: t,
            max_sessions_per_user: count,
            deploy_failures_per_user: t,
        })
    }

    #[test]
    fn failed_logins_fire_at_the_threshold_not_before_and_only_once() {
        let d = detector(3, MIN);
        let t0 = Instant::now();
        assert_eq!(d.failed_login(ip(1), t0), None);
        assert_eq!(d.failed_login(ip(1), t0 + Duration::from_secs(1)), None);
        assert_eq!(
            d.failed_login(ip(1), t0 + Duration::from_secs(2)),
            Some(AlertKind::FailedLoginBurst)
        );
        // The same burst goes on: no second alert.
        assert_eq!(d.failed_login(ip(1), t0 + Duration::from_secs(3)), None);
        // Another IP counts on its own.
        assert_eq!(d.failed_login(ip(2), t0 + Duration::from_secs(3)), None);
    }

    #[test]
    fn the_window_slides() {
        let d = detector(3, MIN);
        let t0 = Instant::now();
        assert_eq!(d.deploy_failed(7, t0), None);
        assert_eq!(d.deploy_failed(7, t0 + Duration::from_secs(30)), None);
        // The first event has left the window: only two remain.
        assert_eq!(d.deploy_failed(7, t0 + Duration::from_secs(60)), None);
        assert_eq!(
            d.deploy_failed(7, t0 + Duration::from_secs(61)),
            Some(AlertKind::RepeatedDeployFailures)
        );
    }

    #[test]
    fn a_new_burst_after_a_quiet_window_fires_again() {
        let d = detector(2, MIN);
        let t0 = Instant::now();
        assert_eq!(d.deploy_failed(1, t0), None);
        assert!(d.deploy_failed(1, t0).is_some());
        assert_eq!(d.deploy_failed(1, t0 + Duration::from_secs(59)), None);
        let later = t0 + Duration::from_secs(59) + MIN;
        assert_eq!(d.deploy_failed(1, later), None);
        assert_eq!(
            d.deploy_failed(1, later),
            Some(AlertKind::RepeatedDeployFailures)
        );
    }

    #[test]
    fn a_sustained_trickle_alerts_once_per_window() {
        // One failure every 20 s keeps three in every minute: alert at 40 s, then again only
        // once a minute has passed since that alert.
        let d = detector(3, MIN);
        let t0 = Instant::now();
        let fired: Vec<u64> = (0..10)
            .map(|i| i * 20)
            .filter(|&s| d.deploy_failed(1, t0 + Duration::from_secs(s)).is_some())
            .collect();
        assert_eq!(fired, vec![40, 100, 160]);
    }

    #[test]
    fn invalid_keys_count_per_user_and_per_ip_separately() {
        let t0 = Instant::now();
        let cfg = AlertConfig {
            invalid_keys_per_user: Threshold::new(2, MIN).unwrap(),
            invalid_keys_per_ip: Threshold::new(3, MIN).unwrap(),
            ..AlertConfig::default()
        };
        let d = AlertDetector::new(cfg);
        // One IP trying keys for three different users: only the IP alert fires.
        assert!(d.invalid_key(1, ip(9), t0).is_empty());
        assert!(d.invalid_key(2, ip(9), t0).is_empty());
        assert_eq!(
            d.invalid_key(3, ip(9), t0),
            vec![AlertKind::InvalidKeyBurstIp]
        );
        // One user from several IPs: the per-user alert fires at its own threshold.
        assert!(d.invalid_key(4, ip(10), t0).is_empty());
        assert_eq!(
            d.invalid_key(4, ip(11), t0),
            vec![AlertKind::InvalidKeyBurstUser]
        );
    }

    #[test]
    fn both_invalid_key_alerts_can_fire_on_one_event() {
        let d = detector(2, MIN);
        let t0 = Instant::now();
        assert!(d.invalid_key(5, ip(1), t0).is_empty());
        assert_eq!(
            d.invalid_key(5, ip(1), t0),
            vec![AlertKind::InvalidKeyBurstUser, AlertKind::InvalidKeyBurstIp]
        );
    }

    #[test]
    fn too_many_sessions_fires_above_the_maximum_only() {
        let d = detector(3, MIN);
        assert_eq!(d.sessions_opened(3), None);
        assert_eq!(d.sessions_opened(4), Some(AlertKind::TooManySessions));
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let c = Counter::<u64>::new(Threshold::new(5, MIN).unwrap());
        let t0 = Instant::now();
        for user in 0..(MAX_KEYS as u64 + 10) {
            c.hit(user, t0);
        }
        let flooded = lock(&c.bursts).len();
        assert!(flooded <= MAX_KEYS);
        // After the window, the next sweep (at the cap) drops every expired key.
        let fresh = MAX_KEYS - flooded + 1;
        for user in 0..fresh as u64 {
            c.hit(u64::MAX - user, t0 + MIN);
        }
        assert_eq!(lock(&c.bursts).len(), fresh);
    }

    #[test]
    fn zero_count_thresholds_are_refused() {
        assert_eq!(Threshold::new(0, MIN), None);
    }

    #[test]
    fn as_str_matches_serde() {
        for kind in [
            AlertKind::FailedLoginBurst,
            AlertKind::InvalidKeyBurstUser,
            AlertKind::InvalidKeyBurstIp,
            AlertKind::SessionClientMismatch,
            AlertKind::TooManySessions,
            AlertKind::RepeatedDeployFailures,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}

//! Session stores: what is kept per session (ciphertext and public facts
//! only), the store trait, and the in-memory store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::vault::{Sealed, StoreKey, TokenKind};
use crate::clock::Clock;

/// Bumped when the record format changes; older records are treated as absent.
pub const RECORD_VERSION: u8 = 1;

/// One session as the store keeps it. Every credential in it is sealed with
/// a key only the client's token can derive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    pub v: u8,
    pub kind: TokenKind,
    pub user_id: u64,
    pub login: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub absolute_expires_at: OffsetDateTime,
    /// SHA-256 of the User-Agent that created the session: a session replayed
    /// from another client is ended.
    pub client_hash: Option<String>,
    /// The user's GitHub token, for cookie sessions (bearer clients send it).
    pub github_token: Option<Sealed>,
    pub render: Option<StoredRender>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRender {
    pub sealed_key: Sealed,
    pub owner_id: String,
    pub owner_name: String,
    pub verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("session record unreadable")]
    Corrupt,
}

/// Where sessions live. Records expire on their own after `ttl`; the
/// manager also checks idle and absolute expiry on every load.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Writes a record, new or not.
    async fn save(
        &self,
        key: &StoreKey,
        session: &StoredSession,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Overwrites a record only while it still exists; `false` when it is
    /// gone. A logout that lands while a request is using the session must
    /// not be undone by that request's write.
    async fn update(
        &self,
        key: &StoreKey,
        session: &StoredSession,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    async fn load(&self, key: &StoreKey) -> Result<Option<StoredSession>, StoreError>;
    /// Deletes a record; `true` when there was one.
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError>;
    /// Deletes every session of a user (logout everywhere); returns how many.
    async fn delete_user(&self, user_id: u64) -> Result<u64, StoreError>;
    /// Live sessions of one user.
    async fn count_user(&self, user_id: u64) -> Result<u64, StoreError>;
    /// Live sessions in all.
    async fn count_all(&self) -> Result<u64, StoreError>;
    /// Drops expired records and index entries; returns how many records went.
    async fn sweep(&self) -> Result<u64, StoreError>;
    /// Every stored record exactly as stored, for audits of what the store holds.
    async fn dump(&self) -> Result<Vec<String>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

struct MemoryEntry {
    json: String,
    user_id: u64,
    expires_at: OffsetDateTime,
}

#[derive(Default)]
struct MemoryState {
    records: HashMap<StoreKey, MemoryEntry>,
    by_user: HashMap<u64, HashSet<StoreKey>>,
}

impl MemoryState {
    fn remove(&mut self, key: &StoreKey) -> bool {
        let Some(entry) = self.records.remove(key) else {
            return false;
        };
        if let Some(keys) = self.by_user.get_mut(&entry.user_id) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_user.remove(&entry.user_id);
            }
        }
        true
    }
}

/// Single-instance store. Records are kept serialized, so `dump` shows
/// exactly what a memory dump would.
pub struct MemoryStore {
    state: Mutex<MemoryState>,
    clock: Arc<dyn Clock>,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::default(),
            clock,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl MemoryState {
    fn put(
        &mut self,
        key: &StoreKey,
        session: &StoredSession,
        json: String,
        expires_at: OffsetDateTime,
    ) {
        self.remove(key);
        self.by_user
            .entry(session.user_id)
            .or_default()
            .insert(key.clone());
        self.records.insert(
            key.clone(),
            MemoryEntry {
                json,
                user_id: session.user_id,
                expires_at,
            },
        );
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn save(
        &self,
        key: &StoreKey,
        session: &StoredSession,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(session).map_err(|_| StoreError::Corrupt)?;
        let expires_at = self.clock.now() + ttl;
        self.state().put(key, session, json, expires_at);
        Ok(())
    }

    async fn update(
        &self,
        key: &StoreKey,
        session: &StoredSession,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(session).map_err(|_| StoreError::Corrupt)?;
        let now = self.clock.now();
        let mut state = self.state();
        if state.records.get(key).is_none_or(|e| e.expires_at <= now) {
            return Ok(false);
        }
        state.put(key, session, json, now + ttl);
        Ok(true)
    }

    async fn load(&self, key: &StoreKey) -> Result<Option<StoredSession>, StoreError> {
        let now = self.clock.now();
        let mut state = self.state();
        let Some(entry) = state.records.get(key) else {
            return Ok(None);
        };
        if entry.expires_at <= now {
            state.remove(key);
            return Ok(None);
        }
        serde_json::from_str(&entry.json)
            .map(Some)
            .map_err(|_| StoreError::Corrupt)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        Ok(self.state().remove(key))
    }

    async fn delete_user(&self, user_id: u64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let keys = state.by_user.remove(&user_id).unwrap_or_default();
        let mut removed = 0;
        for key in keys {
            if state.records.remove(&key).is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn count_user(&self, user_id: u64) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let state = self.state();
        let live = state.by_user.get(&user_id).map_or(0, |keys| {
            keys.iter()
                .filter(|k| state.records.get(*k).is_some_and(|e| e.expires_at > now))
                .count()
        });
        Ok(live as u64)
    }

    async fn count_all(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let state = self.state();
        Ok(state
            .records
            .values()
            .filter(|e| e.expires_at > now)
            .count() as u64)
    }

    async fn sweep(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let mut state = self.state();
        let expired: Vec<StoreKey> = state
            .records
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            state.remove(key);
        }
        Ok(expired.len() as u64)
    }

    async fn dump(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .state()
            .records
            .values()
            .map(|e| e.json.clone())
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The one store test suite, run against every store (memory here, Redis
/// in the integration tests when `REDIS_URL` is set).
#[doc(hidden)]
pub mod suite {
    use std::sync::Arc;
    use std::time::Duration;

    use secrecy::SecretString;
    use time::OffsetDateTime;

    use super::{RECORD_VERSION, SessionStore, StoredSession};
    use crate::clock::Clock;
    use crate::session::vault::{Purpose, StoreKey, TokenKind, Vault, seal};

    fn record(user_id: u64, now: OffsetDateTime) -> (StoreKey, StoredSession) {
        let token = SecretString::from(format!("token-{user_id}-{}", rand::random::<u64>()));
        let key =
            Vault::new(SecretString::from("suite-secret")).store_key(TokenKind::Cookie, &token);
        let sealed = seal(
            &token,
            &key,
            Purpose::GitHubToken,
            &SecretString::from("gho_suite"),
        );
        let session = StoredSession {
            v: RECORD_VERSION,
            kind: TokenKind::Cookie,
            user_id,
            login: format!("user{user_id}"),
            created_at: now,
            last_seen_at: now,
            absolute_expires_at: now + Duration::from_secs(3600),
            client_hash: None,
            github_token: Some(sealed),
            render: None,
        };
        (key, session)
    }

    /// `advance` moves the store's notion of time (a manual clock for the
    /// memory store); stores with real-time TTLs pass `None` and the
    /// expiry check is skipped.
    pub async fn run(
        store: &dyn SessionStore,
        clock: Arc<dyn Clock>,
        advance: Option<&dyn Fn(Duration)>,
    ) {
        let now = clock.now();
        let base = rand::random::<u32>() as u64 * 1000;
        let (k1, s1) = record(base + 1, now);
        let (k2, s2) = record(base + 1, now);
        let (k3, s3) = record(base + 2, now);
        let ttl = Duration::from_secs(60);

        store.ping().await.expect("ping");
        assert_eq!(
            store.load(&k1).await.expect("load"),
            None,
            "absent at first"
        );
        for (k, s) in [(&k1, &s1), (&k2, &s2), (&k3, &s3)] {
            store.save(k, s, ttl).await.expect("save");
        }
        assert_eq!(store.load(&k1).await.expect("load").as_ref(), Some(&s1));
        assert_eq!(store.count_user(base + 1).await.expect("count"), 2);

        let mut updated = s1.clone();
        updated.login = "renamed".into();
        assert!(store.update(&k1, &updated, ttl).await.expect("update"));
        assert_eq!(store.load(&k1).await.expect("load"), Some(updated));
        assert_eq!(
            store.count_user(base + 1).await.expect("count"),
            2,
            "no duplicate"
        );

        let dump = store.dump().await.expect("dump").join("\n");
        assert!(
            !dump.contains("gho_suite") && !dump.contains("token-"),
            "ciphertext only"
        );

        assert!(store.delete(&k2).await.expect("delete"), "k2 existed");
        assert_eq!(store.load(&k2).await.expect("load"), None);
        assert!(
            !store.update(&k2, &s2, ttl).await.expect("update"),
            "an update after a delete reports the record gone"
        );
        assert_eq!(
            store.load(&k2).await.expect("load"),
            None,
            "an update never brings a deleted record back"
        );
        assert!(!store.delete(&k2).await.expect("delete"), "already gone");
        assert_eq!(store.count_user(base + 1).await.expect("count"), 1);

        assert_eq!(store.delete_user(base + 1).await.expect("delete_user"), 1);
        assert_eq!(store.load(&k1).await.expect("load"), None);
        assert_eq!(
            store.load(&k3).await.expect("load").as_ref(),
            Some(&s3),
            "other users keep their sessions"
        );

        if let Some(advance) = advance {
            advance(Duration::from_secs(61));
            assert_eq!(store.load(&k3).await.expect("load"), None, "expired by TTL");
            assert!(
                !store.update(&k3, &s3, ttl).await.expect("update"),
                "an expired record is not revived"
            );
            store.save(&k3, &s3, ttl).await.expect("save");
            advance(Duration::from_secs(61));
            assert_eq!(store.sweep().await.expect("sweep"), 1);
            assert_eq!(store.count_user(base + 2).await.expect("count"), 0);
        } else {
            store.delete(&k3).await.expect("delete");
        }

        // A session kept alive past its first TTL is still the user's.
        if let Some(advance) = advance {
            let (k4, s4) = record(base + 3, now);
            store.save(&k4, &s4, ttl).await.expect("save");
            advance(Duration::from_secs(40));
            assert!(store.update(&k4, &s4, ttl).await.expect("update"));
            advance(Duration::from_secs(40));
            assert_eq!(store.count_user(base + 3).await.expect("count"), 1);
            assert_eq!(store.delete_user(base + 3).await.expect("delete_user"), 1);
        } else {
            // Real-time TTLs: let the first one pass for real.
            let (k4, s4) = record(base + 3, now);
            store
                .save(&k4, &s4, Duration::from_millis(300))
                .await
                .expect("save");
            assert!(store.update(&k4, &s4, ttl).await.expect("update"));
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(store.count_user(base + 3).await.expect("count"), 1);
            assert_eq!(store.delete_user(base + 3).await.expect("delete_user"), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn memory_store_passes_the_store_suite() {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
        let store = MemoryStore::new(clock.clone());
        let advance = |by: Duration| clock.advance(by);
        suite::run(&store, clock.clone(), Some(&advance)).await;
    }
}

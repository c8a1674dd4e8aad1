//! Redis session store, for several instances behind one load balancer.
//!
//! Layout (all under a prefix):
//! - `{p}s:{store key}` → the record JSON (ciphertext and public facts), with a TTL;
//! - `{p}u:{user id}` → set of that user's store keys, for logout-everywhere.
//!   Members whose record has expired are pruned when counted or swept.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};

use super::store::{SessionStore, StoreError, StoredSession};
use super::vault::StoreKey;

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Redis errors can echo the URL (with its password): only the kind is kept.
fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("{:?}", e.kind()))
}

impl RedisStore {
    pub async fn connect(url: &SecretString, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url.expose_secret()).map_err(unavailable)?;
        let conn = ConnectionManager::new(client).await.map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn record_key(&self, key: &StoreKey) -> String {
        format!("{}s:{}", self.prefix, key.as_str())
    }

    fn user_key(&self, user_id: u64) -> String {
        format!("{}u:{user_id}", self.prefix)
    }

    /// The user's index, pruned of members whose record has expired.
    async fn live_members(&self, user_id: u64) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = conn
            .smembers(self.user_key(user_id))
            .await
            .map_err(unavailable)?;
        let mut live = Vec::with_capacity(members.len());
        for member in members {
            let exists: bool = conn
                .exists(self.record_key(&StoreKey::from_stored(member.clone())))
                .await
                .map_err(unavailable)?;
            if exists {
                live.push(member);
            } else {
                let _: () = conn
                    .srem(self.user_key(user_id), &member)
                    .await
                    .map_err(unavailable)?;
            }
        }
        Ok(live)
    }

    async fn scan_records(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}s:*", self.prefix);
        let mut keys = Vec::new();
        let mut iter: redis::AsyncIter<String> =
            conn.scan_match(pattern).await.map_err(unavailable)?;
        while let Some(key) = futures::StreamExt::next(&mut iter).await {
            keys.push(key.map_err(unavailable)?);
        }
        Ok(keys)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn save(
        &self,
        key: &StoreKey,
        session: &StoredSession,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(session).map_err(|_| StoreError::Corrupt)?;
        let ttl_ms = ttl_millis(ttl);
        let user_key = self.user_key(session.user_id);
        let mut conn = self.conn.clone();
        // The index outlives each record it lists by at most the longest TTL.
        let _: () = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.record_key(key))
            .arg(json)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .sadd(&user_key, key.as_str())
            .ignore()
            .cmd("PEXPIRE")
            .arg(&user_key)
            .arg(ttl_ms)
            .arg("GT")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&user_key)
            .arg(ttl_ms)
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// `SET … XX` and the index upkeep of [`SessionStore::save`], in one
    /// script: written only while the record exists (a delete from another
    /// instance cannot be overtaken), and the user's index lives as long as
    /// the record it now lists, so logout-everywhere still finds a session
    /// kept alive past its first TTL.
    async fn update(
        &self,
        key: &StoreKey,
        session: &StoredSession,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        const UPDATE: &str = r"
            if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') then
                return 0
            end
            redis.call('SADD', KEYS[2], ARGV[3])
            redis.call('PEXPIRE', KEYS[2], ARGV[2], 'GT')
            redis.call('PEXPIRE', KEYS[2], ARGV[2], 'NX')
            return 1
        ";
        let json = serde_json::to_string(session).map_err(|_| StoreError::Corrupt)?;
        let mut conn = self.conn.clone();
        let written: i64 = redis::Script::new(UPDATE)
            .key(self.record_key(key))
            .key(self.user_key(session.user_id))
            .arg(json)
            .arg(ttl_millis(ttl))
            .arg(key.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(written == 1)
    }

    async fn load(&self, key: &StoreKey) -> Result<Option<StoredSession>, StoreError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.get(self.record_key(key)).await.map_err(unavailable)?;
        json.map(|j| serde_json::from_str(&j).map_err(|_| StoreError::Corrupt))
            .transpose()
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.get(self.record_key(key)).await.map_err(unavailable)?;
        let removed: u64 = conn.del(self.record_key(key)).await.map_err(unavailable)?;
        if let Some(session) = json.and_then(|j| serde_json::from_str::<StoredSession>(&j).ok()) {
            let _: () = conn
                .srem(self.user_key(session.user_id), key.as_str())
                .await
                .map_err(unavailable)?;
        }
        Ok(removed > 0)
    }

    async fn delete_user(&self, user_id: u64) -> Result<u64, StoreError> {
        let members = self.live_members(user_id).await?;
        let mut conn = self.conn.clone();
        let mut removed = 0u64;
        for member in &members {
            let n: u64 = conn
                .del(self.record_key(&StoreKey::from_stored(member.clone())))
                .await
                .map_err(unavailable)?;
            removed += n;
        }
        let _: () = conn
            .del(self.user_key(user_id))
            .await
            .map_err(unavailable)?;
        Ok(removed)
    }

    async fn count_user(&self, user_id: u64) -> Result<u64, StoreError> {
        Ok(self.live_members(user_id).await?.len() as u64)
    }

    async fn count_all(&self) -> Result<u64, StoreError> {
        Ok(self.scan_records().await?.len() as u64)
    }

    /// Redis expires records itself; sweeping prunes the user indexes.
    async fn sweep(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}u:*", self.prefix);
        let mut users = Vec::new();
        {
            let mut iter: redis::AsyncIter<String> =
                conn.scan_match(pattern).await.map_err(unavailable)?;
            while let Some(key) = futures::StreamExt::next(&mut iter).await {
                users.push(key.map_err(unavailable)?);
            }
        }
        let prefix = format!("{}u:", self.prefix);
        for user in users {
            if let Some(id) = user.strip_prefix(&prefix).and_then(|s| s.parse().ok()) {
                self.live_members(id).await?;
            }
        }
        Ok(0)
    }

    async fn dump(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut out = Vec::new();
        for key in self.scan_records().await? {
            let json: Option<String> = conn.get(&key).await.map_err(unavailable)?;
            out.extend(json);
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

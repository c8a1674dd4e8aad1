//! Sessions and the credential vault (DESIGN.md §3).
//!
//! A session is found by its token (cookie or bearer), which the store never
//! sees; everything secret in the record is sealed under that token.

pub mod redis_store;
pub mod store;
pub mod vault;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::credentials::{GitHubToken, RenderApiKey, SessionToken};
use store::{RECORD_VERSION, SessionStore, StoreError, StoredRender, StoredSession};
use vault::{Purpose, StoreKey, TokenKind, Vault, open, seal};

/// Write `last_seen_at` back at most this often: idle expiry is accurate to
/// this much, and a burst of requests costs one store write.
const TOUCH_EVERY: Duration = Duration::from_secs(15);

/// Records outlive their expiry in the store by this much, so a late request
/// is told (and the audit log records) that the session expired, rather than
/// that it never existed. Expired records are never honoured.
const EXPIRY_GRACE: Duration = Duration::from_secs(10 * 60);

/// The GitHub identity a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubIdentity {
    pub id: u64,
    pub login: String,
}

/// The client's token, whichever way it came.
#[derive(Debug, Clone)]
pub enum ClientToken {
    Cookie(SessionToken),
    Bearer(GitHubToken),
}

impl ClientToken {
    fn secret(&self) -> &SecretString {
        match self {
            ClientToken::Cookie(t) => t.secret(),
            ClientToken::Bearer(t) => t.secret(),
        }
    }

    fn kind(&self) -> TokenKind {
        match self {
            ClientToken::Cookie(_) => TokenKind::Cookie,
            ClientToken::Bearer(_) => TokenKind::Bearer,
        }
    }
}

/// A loaded, unexpired session, with what is needed to open its vault.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    token: ClientToken,
    key: StoreKey,
    record: StoredSession,
}

/// The Render workspace a key was verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOwnerRef {
    pub id: String,
    pub name: String,
}

impl ActiveSession {
    pub fn user(&self) -> GitHubIdentity {
        GitHubIdentity {
            id: self.record.user_id,
            login: self.record.login.clone(),
        }
    }

    pub fn user_id(&self) -> u64 {
        self.record.user_id
    }

    pub fn is_cookie(&self) -> bool {
        matches!(self.token, ClientToken::Cookie(_))
    }

    pub fn session_token(&self) -> Option<&SessionToken> {
        match &self.token {
            ClientToken::Cookie(t) => Some(t),
            ClientToken::Bearer(_) => None,
        }
    }

    pub fn record(&self) -> &StoredSession {
        &self.record
    }

    /// The record's id in the store (an HMAC of the token, never the token).
    pub fn store_key(&self) -> &StoreKey {
        &self.key
    }

    pub fn render(&self) -> Option<&StoredRender> {
        self.record.render.as_ref()
    }

    /// The GitHub token: sealed in the record for cookie sessions, the
    /// bearer itself otherwise.
    pub fn github_token(&self) -> Result<GitHubToken, SessionError> {
        match &self.token {
            ClientToken::Bearer(t) => Ok(t.clone()),
            ClientToken::Cookie(t) => {
                let sealed = self
                    .record
                    .github_token
                    .as_ref()
                    .ok_or(SessionError::Corrupt)?;
                open(t.secret(), &self.key, Purpose::GitHubToken, sealed)
                    .map(GitHubToken::from)
                    .map_err(|_| SessionError::Corrupt)
            }
        }
    }

    /// The Render key, opened for the length of one use.
    pub fn render_key(&self) -> Result<Option<SecretString>, SessionError> {
        self.record
            .render
            .as_ref()
            .map(|r| {
                open(
                    self.token.secret(),
                    &self.key,
                    Purpose::RenderApiKey,
                    &r.sealed_key,
                )
                .map_err(|_| SessionError::Corrupt)
            })
            .transpose()
    }

    pub fn idle_expires_at(&self, idle: Duration) -> OffsetDateTime {
        (self.record.last_seen_at + idle).min(self.record.absolute_expires_at)
    }
}

/// Why a token did not yield a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    Active(Box<ActiveSession>),
    /// No such record (never existed, logged out, or swept).
    Missing,
    /// The record was there but past its idle or absolute limit; it is now gone.
    Expired {
        user_id: u64,
    },
    /// Used from another client than the one that logged in; it is now gone.
    ClientMismatch {
        user_id: u64,
    },
}

impl PartialEq for ActiveSession {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for ActiveSession {}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("session record cannot be opened")]
    Corrupt,
    /// The session was ended (logout, expiry, rotation) while this request
    /// was using it; its write was dropped.
    #[error("session ended during the request")]
    Ended,
}

/// SHA-256 of the User-Agent: enough to notice a stolen cookie used from
/// another browser, without storing the header itself.
pub fn client_hash(user_agent: Option<&str>) -> Option<String> {
    user_agent.map(|ua| hex::encode(Sha256::digest(ua.as_bytes())))
}

#[derive(Clone)]
pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    vault: Vault,
    clock: Arc<dyn Clock>,
    idle: Duration,
    absolute: Duration,
}

impl SessionManager {
    pub fn new(
        store: Arc<dyn SessionStore>,
        vault: Vault,
        clock: Arc<dyn Clock>,
        idle: Duration,
        absolute: Duration,
    ) -> Self {
        Self {
            store,
            vault,
            clock,
            idle,
            absolute,
        }
    }

    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// Store TTL: until whichever limit comes first, plus the grace.
    fn ttl(&self, record: &StoredSession, now: OffsetDateTime) -> Duration {
        let absolute_left = (record.absolute_expires_at - now)
            .try_into()
            .unwrap_or(Duration::ZERO);
        self.idle.min(absolute_left) + EXPIRY_GRACE
    }

    fn new_record(
        &self,
        kind: TokenKind,
        user: &GitHubIdentity,
        client_hash: Option<String>,
    ) -> StoredSession {
        let now = self.clock.now();
        StoredSession {
            v: RECORD_VERSION,
            kind,
            user_id: user.id,
            login: user.login.clone(),
            created_at: now,
            last_seen_at: now,
            absolute_expires_at: now + self.absolute,
            client_hash,
            github_token: None,
            render: None,
        }
    }

    /// Stores a record that did not exist before.
    async fn insert(&self, session: &ActiveSession) -> Result<(), SessionError> {
        let ttl = self.ttl(&session.record, self.clock.now());
        self.store.save(&session.key, &session.record, ttl).await?;
        Ok(())
    }

    /// Writes back a loaded record, unless it has been deleted meanwhile:
    /// a logout racing this request wins, and its cookie stays dead.
    async fn update(&self, session: &ActiveSession) -> Result<(), SessionError> {
        let ttl = self.ttl(&session.record, self.clock.now());
        if self
            .store
            .update(&session.key, &session.record, ttl)
            .await?
        {
            Ok(())
        } else {
            Err(SessionError::Ended)
        }
    }

    /// A fresh cookie session after login; the GitHub token is sealed in it.
    pub async fn create(
        &self,
        user: &GitHubIdentity,
        github_token: &GitHubToken,
        client_hash: Option<String>,
    ) -> Result<ActiveSession, SessionError> {
        let token = SessionToken::generate();
        let key = self.vault.store_key(TokenKind::Cookie, token.secret());
        let mut record = self.new_record(TokenKind::Cookie, user, client_hash);
        record.github_token = Some(seal(
            token.secret(),
            &key,
            Purpose::GitHubToken,
            github_token.secret(),
        ));
        let session = ActiveSession {
            token: ClientToken::Cookie(token),
            key,
            record,
        };
        self.insert(&session).await?;
        Ok(session)
    }

    /// Finds the session for a token, enforcing expiry and the client check.
    pub async fn load(
        &self,
        token: ClientToken,
        client_hash: Option<&str>,
    ) -> Result<LoadOutcome, SessionError> {
        let key = self.vault.store_key(token.kind(), token.secret());
        let Some(record) = self.store.load(&key).await? else {
            return Ok(LoadOutcome::Missing);
        };
        if record.v != RECORD_VERSION || record.kind != token.kind() {
            return Ok(LoadOutcome::Missing);
        }
        let now = self.clock.now();
        if now >= record.absolute_expires_at || now - record.last_seen_at >= self.idle {
            self.store.delete(&key).await?;
            return Ok(LoadOutcome::Expired {
                user_id: record.user_id,
            });
        }
        // A request without a User-Agent does not match a session bound to
        // one: otherwise a thief would just leave the header out.
        if let Some(expected) = &record.client_hash
            && client_hash != Some(expected.as_str())
        {
            self.store.delete(&key).await?;
            return Ok(LoadOutcome::ClientMismatch {
                user_id: record.user_id,
            });
        }
        let mut session = ActiveSession { token, key, record };
        if now - session.record.last_seen_at >= TOUCH_EVERY {
            session.record.last_seen_at = now;
            match self.update(&session).await {
                Err(SessionError::Ended) => return Ok(LoadOutcome::Missing),
                other => other?,
            }
        }
        Ok(LoadOutcome::Active(Box::new(session)))
    }

    /// The vault record of a bearer client, created on first use.
    pub async fn bearer(
        &self,
        token: GitHubToken,
        user: &GitHubIdentity,
    ) -> Result<ActiveSession, SessionError> {
        match self.load(ClientToken::Bearer(token.clone()), None).await? {
            LoadOutcome::Active(session) if session.record.user_id == user.id => Ok(*session),
            _ => {
                let key = self.vault.store_key(TokenKind::Bearer, token.secret());
                let session = ActiveSession {
                    token: ClientToken::Bearer(token),
                    key,
                    record: self.new_record(TokenKind::Bearer, user, None),
                };
                self.insert(&session).await?;
                Ok(session)
            }
        }
    }

    pub async fn destroy(&self, session: &ActiveSession) -> Result<(), SessionError> {
        self.store.delete(&session.key).await?;
        Ok(())
    }

    /// Destroys a session found only by its token (e.g. a pre-login cookie).
    pub async fn destroy_token(&self, token: &SessionToken) -> Result<(), SessionError> {
        let key = self.vault.store_key(TokenKind::Cookie, token.secret());
        self.store.delete(&key).await?;
        Ok(())
    }

    pub async fn destroy_user(&self, user_id: u64) -> Result<u64, SessionError> {
        Ok(self.store.delete_user(user_id).await?)
    }

    pub async fn count_user(&self, user_id: u64) -> Result<u64, SessionError> {
        Ok(self.store.count_user(user_id).await?)
    }

    /// Seals a verified Render key into the session. Cookie sessions get a
    /// new token (the old record is deleted), so a token seen before setup
    /// never unlocks the key.
    pub async fn set_render_key(
        &self,
        session: ActiveSession,
        key: &RenderApiKey,
        owner: &RenderOwnerRef,
    ) -> Result<ActiveSession, SessionError> {
        let mut next = match &session.token {
            ClientToken::Cookie(_) => {
                let token = SessionToken::generate();
                let store_key = self.vault.store_key(TokenKind::Cookie, token.secret());
                let github = session.github_token()?;
                let mut record = session.record.clone();
                record.github_token = Some(seal(
                    token.secret(),
                    &store_key,
                    Purpose::GitHubToken,
                    github.secret(),
                ));
                ActiveSession {
                    token: ClientToken::Cookie(token),
                    key: store_key,
                    record,
                }
            }
            ClientToken::Bearer(_) => session.clone(),
        };
        next.record.render = Some(StoredRender {
            sealed_key: seal(
                next.token.secret(),
                &next.key,
                Purpose::RenderApiKey,
                key.secret(),
            ),
            owner_id: owner.id.clone(),
            owner_name: owner.name.clone(),
            verified: true,
            verified_at: self.clock.now(),
        });
        if next.key == session.key {
            self.update(&next).await?;
        } else {
            // The old record goes first: if it is already gone (a logout
            // won the race), no new one is made from it.
            if !self.store.delete(&session.key).await? {
                return Err(SessionError::Ended);
            }
            self.insert(&next).await?;
        }
        Ok(next)
    }

    /// Records the outcome of a live re-check of the stored key.
    pub async fn set_render_verified(
        &self,
        session: &mut ActiveSession,
        verified: bool,
    ) -> Result<(), SessionError> {
        let now = self.clock.now();
        if let Some(render) = session.record.render.as_mut() {
            render.verified = verified;
            if verified {
                render.verified_at = now;
            }
        }
        self.update(session).await
    }

    pub async fn clear_render_key(&self, session: &mut ActiveSession) -> Result<(), SessionError> {
        session.record.render = None;
        self.update(session).await
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Does the session `key` still exist, unexpired, holding the Render key sealed as
    /// `sealed`? False once it was logged out, expired, swept, or its key cleared or
    /// replaced, on this instance or another one sharing the store. Read-only: the session's
    /// idle timer is not touched.
    pub async fn holds_render_key(
        &self,
        key: &StoreKey,
        sealed: &vault::Sealed,
    ) -> Result<bool, SessionError> {
        let Some(record) = self.store.load(key).await? else {
            return Ok(false);
        };
        let now = self.clock.now();
        let live = record.v == RECORD_VERSION
            && now < record.absolute_expires_at
            && now - record.last_seen_at < self.idle;
        Ok(live && record.render.is_some_and(|r| &r.sealed_key == sealed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use secrecy::ExposeSecret;
    use store::MemoryStore;

    fn manager() -> (SessionManager, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let manager = SessionManager::new(
            store,
            Vault::new(SecretString::from("s".repeat(32))),
            clock.clone(),
            Duration::from_secs(30 * 60),
            Duration::from_secs(8 * 3600),
        );
        (manager, clock)
    }

    fn alice() -> GitHubIdentity {
        GitHubIdentity {
            id: 7,
            login: "alice".into(),
        }
    }

    fn gh() -> GitHubToken {
        GitHubToken::parse("gho_alice").expect("valid")
    }

    fn cookie(session: &ActiveSession) -> ClientToken {
        ClientToken::Cookie(session.session_token().expect("cookie").clone())
    }

    #[tokio::test]
    async fn idle_and_absolute_expiry() {
        let (m, clock) = manager();
        let s = m.create(&alice(), &gh(), None).await.expect("create");
        clock.advance(Duration::from_secs(29 * 60));
        assert!(matches!(
            m.load(cookie(&s), None).await.expect("load"),
            LoadOutcome::Active(_)
        ));
        clock.advance(Duration::from_secs(30 * 60));
        assert_eq!(
            m.load(cookie(&s), None).await.expect("load"),
            LoadOutcome::Expired { user_id: 7 }
        );
        assert_eq!(
            m.load(cookie(&s), None).await.expect("load"),
            LoadOutcome::Missing
        );

        let s = m.create(&alice(), &gh(), None).await.expect("create");
        for _ in 0..16 {
            clock.advance(Duration::from_secs(29 * 60));
            assert!(matches!(
                m.load(cookie(&s), None).await.expect("load"),
                LoadOutcome::Active(_)
            ));
        }
        clock.advance(Duration::from_secs(17 * 60));
        assert_eq!(
            m.load(cookie(&s), None).await.expect("load"),
            LoadOutcome::Expired { user_id: 7 },
            "8h absolute limit even when active"
        );
    }

    #[tokio::test]
    async fn render_key_setup_rotates_the_token_and_seals_the_key() {
        let (m, _) = manager();
        let s = m.create(&alice(), &gh(), None).await.expect("create");
        let old = cookie(&s);
        let key = RenderApiKey::parse(SecretString::from("rnd_canaryKey12345678")).expect("key");
        let owner = RenderOwnerRef {
            id: "tea-x".into(),
            name: "x".into(),
        };
        let s2 = m.set_render_key(s, &key, &owner).await.expect("setup");
        assert_eq!(m.load(old, None).await.expect("load"), LoadOutcome::Missing);
        let LoadOutcome::Active(s3) = m.load(cookie(&s2), None).await.expect("load") else {
            panic!("new token works");
        };
        let opened = s3.render_key().expect("opens").expect("present");
        assert_eq!(opened.expose_secret(), "rnd_canaryKey12345678");
        assert_eq!(
            s3.github_token().expect("gh").secret().expose_secret(),
            "gho_alice"
        );
        let dump = m.store().dump().await.expect("dump").join("");
        assert!(
            !dump.contains("canaryKey") && !dump.contains("gho_alice"),
            "{dump}"
        );
    }

    #[tokio::test]
    async fn another_client_ends_the_session() {
        let (m, _) = manager();
        let ua = client_hash(Some("browser-a"));
        let s = m.create(&alice(), &gh(), ua.clone()).await.expect("create");
        let other = client_hash(Some("curl"));
        assert_eq!(
            m.load(cookie(&s), other.as_deref()).await.expect("load"),
            LoadOutcome::ClientMismatch { user_id: 7 }
        );
        assert_eq!(
            m.load(cookie(&s), ua.as_deref()).await.expect("load"),
            LoadOutcome::Missing
        );
    }

    /// A request that loaded the session before a logout landed must not
    /// write it back: the logged-out cookie stays dead.
    #[tokio::test]
    async fn writes_racing_a_logout_never_revive_the_session() {
        let (m, clock) = manager();
        let key = RenderApiKey::parse(SecretString::from("rnd_canaryKey12345678")).expect("key");
        let owner = RenderOwnerRef {
            id: "tea-x".into(),
            name: "x".into(),
        };
        let s = m.create(&alice(), &gh(), None).await.expect("create");
        let s = m.set_render_key(s, &key, &owner).await.expect("setup");
        let LoadOutcome::Active(mut in_flight) = m.load(cookie(&s), None).await.expect("load")
        else {
            panic!("active");
        };
        let stale = (*in_flight).clone();

        m.destroy(&s).await.expect("logout");
        assert!(matches!(
            m.set_render_verified(&mut in_flight, true).await,
            Err(SessionError::Ended)
        ));
        assert!(matches!(
            m.clear_render_key(&mut in_flight).await,
            Err(SessionError::Ended)
        ));
        assert!(matches!(
            m.set_render_key(stale, &key, &owner).await,
            Err(SessionError::Ended)
        ));
        clock.advance(TOUCH_EVERY);
        assert_eq!(
            m.load(cookie(&s), None).await.expect("load"),
            LoadOutcome::Missing
        );
        assert_eq!(
            m.count_user(7).await.expect("count"),
            0,
            "no record was made"
        );
    }
}

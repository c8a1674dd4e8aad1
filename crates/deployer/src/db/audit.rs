//! The tamper-evident audit log.
//!
//! Every event is one row. Its `hash` is `hex(SHA-256(prev_hash || canonical))`, where `prev_hash`
//! is the 64 lowercase hex digits of the previous event's hash (64 zeros for the first event) and
//! `canonical` is the compact JSON of the event with a fixed field order:
//! `{"seq","timestamp","user_id","event","status", …details}` (details in [`AuditDetails`] field
//! order, absent fields omitted). Editing, deleting or reordering a row breaks the chain, and
//! [`verify`] names the first broken link. A separate head row (last seq and hash) makes a
//! truncated tail detectable too.
//!
//! Writers keep the chain linear across processes: each batch is appended in one transaction that
//! first takes a lock held until commit (`BEGIN IMMEDIATE` on SQLite, `pg_advisory_xact_lock` on
//! PostgreSQL), then reads the head, then appends.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{Database, DbError, Pool, from_micros, to_micros, user_from_db, user_to_db};
use crate::alerts::AlertKind;

/// What happened. Serialized snake_case (`"login_succeeded"`, …), the same text as [`Self::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    LoginSucceeded,
    LoginFailed,
    Logout,
    LogoutEverywhere,
    SessionExpired,
    CredentialSetup,
    CredentialCleared,
    CredentialInvalid,
    DeploymentRequested,
    DeploymentSucceeded,
    DeploymentFailed,
    /// Tracking stopped before the deploys ended: the session holding the
    /// key ended (the reason says how).
    DeploymentUntracked,
    CsrfRejected,
    RateLimited,
    SecurityAlert,
}

impl AuditKind {
    pub const ALL: [AuditKind; 15] = [
        AuditKind::LoginSucceeded,
        AuditKind::LoginFailed,
        AuditKind::Logout,
        AuditKind::LogoutEverywhere,
        AuditKind::SessionExpired,
        AuditKind::CredentialSetup,
        AuditKind::CredentialCleared,
        AuditKind::CredentialInvalid,
        AuditKind::DeploymentRequested,
        AuditKind::DeploymentSucceeded,
        AuditKind::DeploymentFailed,
        AuditKind::DeploymentUntracked,
        AuditKind::CsrfRejected,
        AuditKind::RateLimited,
        AuditKind::SecurityAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::Logout => "logout",
            AuditKind::LogoutEverywhere => "logout_everywhere",
            AuditKind::SessionExpired => "session_expired",
            AuditKind::CredentialSetup => "credential_setup",
            AuditKind::CredentialCleared => "credential_cleared",
            AuditKind::CredentialInvalid => "credential_invalid",
            AuditKind::DeploymentRequested => "deployment_requested",
            AuditKind::DeploymentSucceeded => "deployment_succeeded",
            AuditKind::DeploymentFailed => "deployment_failed",
            AuditKind::DeploymentUntracked => "deployment_untracked",
            AuditKind::CsrfRejected => "csrf_rejected",
            AuditKind::RateLimited => "rate_limited",
            AuditKind::SecurityAlert => "security_alert",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The outcome recorded with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    Success,
    Failure,
    Denied,
    Alert,
}

impl AuditStatus {
    const ALL: [AuditStatus; 4] = [
        AuditStatus::Success,
        AuditStatus::Failure,
        AuditStatus::Denied,
        AuditStatus::Alert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Success => "success",
            AuditStatus::Failure => "failure",
            AuditStatus::Denied => "denied",
            AuditStatus::Alert => "alert",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A machine-readable reason such as `state_mismatch`: `[a-z0-9_]`, 1 to 64 characters.
///
/// Built only from a `&'static str` (best in a `const`, where a bad code fails the build), so no
/// runtime text — an upstream body, a key — can reach the audit log through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ReasonCode(Cow<'static, str>);

impl ReasonCode {
    /// # Panics
    /// If `code` is not `[a-z0-9_]{1,64}`; in a `const` that is a compile error.
    pub const fn new(code: &'static str) -> Self {
        assert!(is_code(code), "reason codes are [a-z0-9_]{{1,64}}");
        ReasonCode(Cow::Borrowed(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const fn is_code(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !matches!(b[i], b'a'..=b'z' | b'0'..=b'9' | b'_') {
            return false;
        }
        i += 1;
    }
    true
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_code(&s) {
            Ok(ReasonCode(Cow::Owned(s)))
        } else {
            Err(serde::de::Error::custom("malformed reason code"))
        }
    }
}

/// Non-secret facts about an event. Deliberately no free-text field: nothing here can carry a
/// credential, a token, an env var value or an upstream body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The matched route template (`/api/render/deploy`), never a raw path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_owner_id: Option<String>,
    /// `owner/repo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertKind>,
}

/// One event to record; the timestamp is taken by [`AuditLog::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// GitHub user id, rendered `"github_<id>"`; `None` when nobody is logged in yet.
    pub user_id: Option<u64>,
    pub kind: AuditKind,
    pub status: AuditStatus,
    pub details: AuditDetails,
}

/// An event as stored, serialized in the audit shape:
/// `{"seq","timestamp","user_id":"github_<id>","event","status", …details, "prev_hash","hash"}`.
/// This is one line of `audit export` and one item of `GET /api/audit/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAuditEvent {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    #[serde(serialize_with = "github_user")]
    pub user_id: Option<u64>,
    #[serde(rename = "event")]
    pub kind: AuditKind,
    pub status: AuditStatus,
    #[serde(flatten)]
    pub details: AuditDetails,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed form of an event. Field order is part of the chain format: do not reorder.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    #[serde(serialize_with = "github_user")]
    user_id: Option<u64>,
    event: AuditKind,
    status: AuditStatus,
    #[serde(flatten)]
    details: &'a AuditDetails,
}

fn github_user<S: Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(&format_args!("github_{id}")),
        None => s.serialize_none(),
    }
}

const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Arbitrary constant naming the audit writer's PostgreSQL advisory lock.
const PG_AUDIT_LOCK: i64 = 0x6175_6469_745f_6c6f; // "audit_lo"

fn link_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical);
    hex::encode(h.finalize())
}

fn canonical_bytes(ev: &StoredAuditEvent) -> Result<Vec<u8>, DbError> {
    Ok(serde_json::to_vec(&Canonical {
        seq: ev.seq,
        timestamp: ev.timestamp,
        user_id: ev.user_id,
        event: ev.kind,
        status: ev.status,
        details: &ev.details,
    })?)
}

/// An `audit_events` row as the database holds it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    occurred_at_us: i64,
    user_id: Option<i64>,
    event: String,
    status: String,
    details: String,
    prev_hash: String,
    hash: String,
}

/// `SELECT <every audit_events column> FROM audit_events <rest>`, built at compile time.
macro_rules! select_rows {
    ($rest:literal) => {
        concat!(
            "SELECT seq, occurred_at_us, user_id, event, status, details, prev_hash, hash ",
            "FROM audit_events ",
            $rest
        )
    };
}

impl TryFrom<AuditRow> for StoredAuditEvent {
    type Error = DbError;

    /// Strict: the details text must be exactly the canonical JSON we write, so that even a
    /// whitespace edit is seen by [`verify`].
    fn try_from(row: AuditRow) -> Result<Self, DbError> {
        let details: AuditDetails =
            serde_json::from_str(&row.details).map_err(|_| DbError::Corrupt("audit details"))?;
        if serde_json::to_string(&details)? != row.details {
            return Err(DbError::Corrupt("audit details"));
        }
        Ok(StoredAuditEvent {
            seq: row.seq,
            timestamp: from_micros(row.occurred_at_us)?,
            user_id: row.user_id.map(user_from_db).transpose()?,
            kind: AuditKind::parse(&row.event).ok_or(DbError::Corrupt("audit event"))?,
            status: AuditStatus::parse(&row.status).ok_or(DbError::Corrupt("audit status"))?,
            details,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
}

pub use crate::clock::{Clock, SystemClock};

/// Events waiting for the writer. Beyond this, [`AuditLog::record`] drops (and counts) events
/// rather than slow a request down.
const QUEUE_CAPACITY: usize = 16_384;
/// Events committed per transaction at most.
const BATCH_MAX: usize = 512;
/// Attempts per batch before it is dropped (with an error log) so the queue keeps moving.
const COMMIT_ATTEMPTS: u32 = 5;

struct Pending {
    at_us: i64,
    event: AuditEvent,
}

enum Command {
    Append(Box<Pending>),
    Flush(oneshot::Sender<()>),
}

/// Handle to the audit writer; cheap to clone.
///
/// **Durability.** [`AuditLog::record`] never waits for the database: it stamps the event and
/// puts it on an in-memory queue (capacity 16,384). A single writer task commits whatever is
/// queued as soon as it arrives, up to 512 events per transaction, so the queue is normally empty
/// within one commit time (a few milliseconds). If the process crashes, the events lost are
/// exactly those recorded but not yet committed: the batch being written and the events queued
/// behind it. Committed events survive a crash, and on SQLite (WAL, `synchronous=FULL`) a power
/// loss too. A graceful shutdown calls [`AuditLog::flush`] and loses nothing. If the queue is full
/// (the database is down or far too slow), new events are dropped, each logged at ERROR and
/// counted in `deployer_audit_events_dropped_total`; a batch that fails 5 commits in a row is
/// dropped and logged the same way.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Command>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Spawns the writer task (call inside a tokio runtime). The task ends once every handle is
    /// dropped and the queue is drained.
    pub fn start(db: Database, clock: Arc<dyn Clock>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run_writer(db, rx));
        AuditLog { tx, clock }
    }

    /// Stamps `event` with the current time and queues it; never blocks.
    pub fn record(&self, event: AuditEvent) {
        let kind = event.kind.as_str();
        let Ok(at_us) = to_micros(self.clock.now()) else {
            tracing::error!(
                audit.event = kind,
                "clock out of range; audit event dropped"
            );
            return;
        };
        if let Err(e) = self
            .tx
            .try_send(Command::Append(Box::new(Pending { at_us, event })))
        {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "queue full",
                mpsc::error::TrySendError::Closed(_) => "writer stopped",
            };
            metrics::counter!("deployer_audit_events_dropped_total").increment(1);
            tracing::error!(
                audit.event = kind,
                audit.reason = why,
                "audit event dropped"
            );
        }
    }

    /// Waits until every event recorded before this call is committed (or given up on).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).await.is_ok() {
            // An error only means the writer is gone; nothing more can be committed then.
            let _ = wait.await;
        }
    }
}

async fn run_writer(db: Database, mut rx: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Append(p) => batch.push(*p),
                Command::Flush(w) => waiters.push(w),
            }
            if batch.len() < BATCH_MAX {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit_with_retry(&db, &batch).await;
            batch.clear();
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

async fn commit_with_retry(db: &Database, batch: &[Pending]) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=COMMIT_ATTEMPTS {
        match append(db, batch).await {
            Ok(()) => return,
            Err(e) if attempt < COMMIT_ATTEMPTS => {
                tracing::warn!(error = %e, audit.attempt = attempt, "audit commit failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(e) => {
                metrics::counter!("deployer_audit_events_dropped_total")
                    .increment(batch.len() as u64);
                tracing::error!(error = %e, audit.dropped = batch.len(), "audit batch dropped");
            }
        }
    }
}

/// Links `batch` onto the chain head `(seq, hash)`, returning the rows to insert.
fn chain(mut seq: i64, mut prev_hash: String, batch: &[Pending]) -> Result<Vec<AuditRow>, DbError> {
    batch
        .iter()
        .map(|p| {
            seq += 1;
            let stored = StoredAuditEvent {
                seq,
                timestamp: from_micros(p.at_us)?,
                user_id: p.event.user_id,
                kind: p.event.kind,
                status: p.event.status,
                details: p.event.details.clone(),
                prev_hash: prev_hash.clone(),
                hash: String::new(),
            };
            let hash = link_hash(&prev_hash, &canonical_bytes(&stored)?);
            prev_hash.clone_from(&hash);
            Ok(AuditRow {
                seq,
                occurred_at_us: p.at_us,
                user_id: p.event.user_id.map(user_to_db).transpose()?,
                event: p.event.kind.as_str().to_owned(),
                status: p.event.status.as_str().to_owned(),
                details: serde_json::to_string(&stored.details)?,
                prev_hash: stored.prev_hash,
                hash,
            })
        })
        .collect()
}

/// Appends one batch in one transaction; `$tx` already holds the writer lock.
macro_rules! append_locked {
    ($tx:ident, $batch:expr) => {{
        let (seq, hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *$tx)
                .await?;
        let rows = chain(seq, hash, $batch)?;
        for r in &rows {
            sqlx::query(
                "INSERT INTO audit_events \
                 (seq, occurred_at_us, user_id, event, status, details, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(r.seq)
            .bind(r.occurred_at_us)
            .bind(r.user_id)
            .bind(&r.event)
            .bind(&r.status)
            .bind(&r.details)
            .bind(&r.prev_hash)
            .bind(&r.hash)
            .execute(&mut *$tx)
            .await?;
        }
        if let Some(last) = rows.last() {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(last.seq)
                .bind(&last.hash)
                .execute(&mut *$tx)
                .await?;
        }
        $tx.commit().await?;
    }};
}

async fn append(db: &Database, batch: &[Pending]) -> Result<(), DbError> {
    match &db.pool {
        Pool::Sqlite(pool) => {
            // IMMEDIATE takes the write lock up front, so no other process appends between our
            // read of the head and our commit.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            append_locked!(tx, batch);
        }
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_AUDIT_LOCK)
                .execute(&mut *tx)
                .await?;
            append_locked!(tx, batch);
        }
    }
    Ok(())
}

/// Outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Rows whose link was checked and found intact.
    pub checked: u64,
    pub first_broken: Option<BrokenLink>,
    /// The head as of the check (`seq` 0 and the genesis hash for an empty log). Kept outside
    /// the database, it is an [`Anchor`] for a later check.
    pub head: Anchor,
}

/// A chain position recorded elsewhere (`SEQ:HASH`, as `audit verify` prints it). Someone with
/// write access to the database can rebuild a consistent chain from any point; a check against
/// an anchor kept outside the database catches that for everything up to the anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let malformed = || format!("`{raw}` is not SEQ:HASH (a seq and 64 hex digits)");
        let (seq, hash) = raw.split_once(':').ok_or_else(malformed)?;
        let seq = seq.parse::<i64>().map_err(|_| malformed())?;
        let hex_digest = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if seq < 0 || !hex_digest {
            return Err(malformed());
        }
        Ok(Anchor {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: BrokenReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokenReason {
    /// The row with this seq is gone.
    Missing,
    /// The row's contents do not match its hash (edited).
    HashMismatch,
    /// The row does not follow its predecessor (reordered, or the predecessor's hash was edited).
    PrevHashMismatch,
    /// The row cannot be decoded (unknown event, non-canonical details, …).
    Malformed,
    /// The head record disagrees with the last row (tail truncated or head edited).
    HeadMismatch,
    /// The row at an anchor kept elsewhere has another hash (the chain was rebuilt), or the
    /// chain no longer reaches the anchor.
    AnchorMismatch,
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.reason {
            BrokenReason::Missing => "row is missing",
            BrokenReason::HashMismatch => "contents do not match the hash",
            BrokenReason::PrevHashMismatch => "does not follow the previous row",
            BrokenReason::Malformed => "row is malformed",
            BrokenReason::HeadMismatch => "head record disagrees with the last row",
            BrokenReason::AnchorMismatch => "does not match the anchor recorded elsewhere",
        };
        write!(f, "seq {}: {what}", self.seq)
    }
}

/// Walks the chain in seq order.
struct ChainCheck<'a> {
    next_seq: i64,
    prev_hash: String,
    checked: u64,
    anchor: Option<&'a Anchor>,
}

impl ChainCheck<'_> {
    fn row(&mut self, row: AuditRow) -> Result<(), BrokenLink> {
        let broken = |seq, reason| Err(BrokenLink { seq, reason });
        if row.seq != self.next_seq {
            return broken(self.next_seq, BrokenReason::Missing);
        }
        if row.prev_hash != self.prev_hash {
            return broken(row.seq, BrokenReason::PrevHashMismatch);
        }
        let Ok(ev) = StoredAuditEvent::try_from(row) else {
            return broken(self.next_seq, BrokenReason::Malformed);
        };
        let Ok(canonical) = canonical_bytes(&ev) else {
            return broken(ev.seq, BrokenReason::Malformed);
        };
        if link_hash(&ev.prev_hash, &canonical) != ev.hash {
            return broken(ev.seq, BrokenReason::HashMismatch);
        }
        if self
            .anchor
            .is_some_and(|a| a.seq == ev.seq && a.hash != ev.hash)
        {
            return broken(ev.seq, BrokenReason::AnchorMismatch);
        }
        self.next_seq += 1;
        self.prev_hash = ev.hash;
        self.checked += 1;
        Ok(())
    }

    fn end(&self, head_seq: i64, head_hash: &str) -> Result<(), BrokenLink> {
        if self.next_seq <= head_seq {
            Err(BrokenLink {
                seq: self.next_seq,
                reason: BrokenReason::Missing,
            })
        } else if self.prev_hash != head_hash {
            Err(BrokenLink {
                seq: head_seq,
                reason: BrokenReason::HeadMismatch,
            })
        } else if let Some(anchor) = self.anchor.filter(|a| a.seq > head_seq) {
            Err(BrokenLink {
                seq: anchor.seq,
                reason: BrokenReason::AnchorMismatch,
            })
        } else {
            Ok(())
        }
    }
}

/// Checks the whole chain up to the head as of the start of the call, streaming rows (constant
/// memory), and that the row at `anchor` (if given) still has the hash recorded there. Events
/// appended meanwhile are left for the next run.
pub async fn verify(db: &Database, anchor: Option<&Anchor>) -> Result<VerifyReport, DbError> {
    let mut check = ChainCheck {
        next_seq: 1,
        prev_hash: GENESIS_HASH.to_owned(),
        checked: 0,
        anchor,
    };
    let (outcome, head) = on_pool!(db, pool => {
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(pool)
                .await?;
        let sql = select_rows!("WHERE seq <= $1 ORDER BY seq");
        let mut rows = sqlx::query_as::<_, AuditRow>(sql).bind(head_seq).fetch(pool);
        let mut outcome = Ok(());
        while let Some(row) = rows.try_next().await? {
            outcome = check.row(row);
            if outcome.is_err() {
                break;
            }
        }
        let outcome = outcome.and_then(|()| check.end(head_seq, &head_hash));
        (outcome, Anchor { seq: head_seq, hash: head_hash })
    });
    Ok(VerifyReport {
        checked: check.checked,
        first_broken: outcome.err(),
        head,
    })
}

/// Writes matching events as JSON lines (oldest first) to `out`; returns how many.
pub async fn export(
    db: &Database,
    since: Option<OffsetDateTime>,
    user: Option<u64>,
    out: &mut impl std::io::Write,
) -> Result<u64, DbError> {
    let since_us = since.map(to_micros).transpose()?.unwrap_or(i64::MIN);
    let user = user.map(user_to_db).transpose()?;
    let sql =
        select_rows!("WHERE occurred_at_us >= $1 AND ($2 IS NULL OR user_id = $2) ORDER BY seq");
    let mut written = 0;
    on_pool!(db, pool => {
        let mut rows = sqlx::query_as::<_, AuditRow>(sql).bind(since_us).bind(user).fetch(pool);
        while let Some(row) = rows.try_next().await? {
            serde_json::to_writer(&mut *out, &StoredAuditEvent::try_from(row)?)?;
            out.write_all(b"\n")?;
            written += 1;
        }
    });
    out.flush()?;
    Ok(written)
}

/// Largest page [`list_for_user`] returns.
pub const MAX_PAGE: u32 = 100;

/// `user_id`'s own events, newest first: those with `seq < before_seq` when given (pass the last
/// seq of the previous page), at most `limit` (clamped to 1..=[`MAX_PAGE`]).
pub async fn list_for_user(
    db: &Database,
    user_id: u64,
    before_seq: Option<i64>,
    limit: u32,
) -> Result<Vec<StoredAuditEvent>, DbError> {
    let user_id = user_to_db(user_id)?;
    let sql = select_rows!("WHERE user_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3");
    let rows: Vec<AuditRow> = on_pool!(db, pool => {
        sqlx::query_as(sql)
            .bind(user_id)
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(i64::from(limit.clamp(1, MAX_PAGE)))
            .fetch_all(pool)
            .await?
    });
    rows.into_iter().map(StoredAuditEvent::try_from).collect()
}

/// Every audit row (and the head) as text, for canary tests.
pub(super) async fn rows_text(db: &Database) -> Result<Vec<String>, DbError> {
    let (rows, head): (Vec<AuditRow>, (i64, String)) = on_pool!(db, pool => (
        sqlx::query_as(select_rows!("")).fetch_all(pool).await?,
        sqlx::query_as("SELECT seq, hash FROM audit_head").fetch_one(pool).await?,
    ));
    let mut text: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
    text.push(format!("{head:?}"));
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn pending(at_us: i64, user: u64) -> Pending {
        Pending {
            at_us,
            event: AuditEvent {
                user_id: Some(user),
                kind: AuditKind::LoginSucceeded,
                status: AuditStatus::Success,
                details: AuditDetails {
                    request_id: Some("req-1".into()),
                    reason: Some(ReasonCode::new("ok")),
                    ..AuditDetails::default()
                },
            },
        }
    }

    #[test]
    fn as_str_matches_serde() {
        for kind in AuditKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        for status in AuditStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn canonical_form_has_a_fixed_field_order() {
        let rows = chain(0, GENESIS_HASH.into(), &[pending(1_700_000_000_000_001, 7)]).unwrap();
        let ev = StoredAuditEvent::try_from(rows.into_iter().next().unwrap()).unwrap();
        let text = String::from_utf8(canonical_bytes(&ev).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"seq":1,"timestamp":"2023-11-14T22:13:20.000001Z","user_id":"github_7","event":"login_succeeded","status":"success","request_id":"req-1","reason":"ok"}"#
        );
        assert_eq!(ev.hash, link_hash(GENESIS_HASH, text.as_bytes()));
    }

    #[test]
    fn chain_links_each_row_to_the_previous() {
        let rows = chain(41, "ab".repeat(32), &[pending(1, 1), pending(2, 2)]).unwrap();
        assert_eq!((rows[0].seq, rows[1].seq), (42, 43));
        assert_eq!(rows[0].prev_hash, "ab".repeat(32));
        assert_eq!(rows[1].prev_hash, rows[0].hash);
    }

    #[test]
    fn reason_codes_refuse_free_text() {
        assert!(serde_json::from_str::<ReasonCode>(r#""rnd_abc""#).is_ok());
        assert!(serde_json::from_str::<ReasonCode>(r#""Bearer xyz""#).is_err());
        assert!(serde_json::from_str::<ReasonCode>(r#""""#).is_err());
    }

    #[test]
    fn details_reject_unknown_fields() {
        assert!(serde_json::from_str::<AuditDetails>(r#"{"api_key":"x"}"#).is_err());
    }
}

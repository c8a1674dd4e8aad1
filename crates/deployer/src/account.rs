//! Who is calling, and their Render credential: resolving a cookie or
//! bearer token to a session, setting up / checking / clearing the Render
//! key, logging out. Domain code: no HTTP types.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::alerts::AlertKind;
use crate::app::AppState;
use crate::context::RequestContext;
use crate::credentials::{GitHubToken, RenderApiKey, RenderKeyError, SessionToken};
use crate::db::audit::{AuditKind, AuditStatus, ReasonCode};
use crate::deploy::{StopScope, TrackingStop};
use crate::error::{AppError, AuthFailure};
use crate::ratelimit::client_network;
use crate::session::vault::TokenKind;
use crate::session::{ActiveSession, ClientToken, GitHubIdentity, LoadOutcome, RenderOwnerRef};
use crate::telemetry;
use crate::upstream::UpstreamError;
use crate::upstream::render::Owner;

/// How long a bearer token's GitHub identity is trusted before `/user` is
/// asked again. Short, so a revoked token stops working quickly.
const BEARER_CACHE_TTL: Duration = Duration::from_secs(60);
const BEARER_CACHE_MAX: usize = 10_000;

/// GitHub `/user` answers for bearer tokens, keyed by SHA-256 of the token.
#[derive(Default)]
pub struct BearerCache(Mutex<HashMap<[u8; 32], (GitHubIdentity, Instant)>>);

impl BearerCache {
    fn key(token: &GitHubToken) -> [u8; 32] {
        use secrecy::ExposeSecret;
        Sha256::digest(token.secret().expose_secret().as_bytes()).into()
    }

    fn get(&self, token: &GitHubToken) -> Option<GitHubIdentity> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&Self::key(token))
            .filter(|(_, at)| at.elapsed() < BEARER_CACHE_TTL)
            .map(|(id, _)| id.clone())
    }

    fn put(&self, token: &GitHubToken, identity: GitHubIdentity) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= BEARER_CACHE_MAX {
            map.retain(|_, (_, at)| at.elapsed() < BEARER_CACHE_TTL);
        }
        map.insert(Self::key(token), (identity, Instant::now()));
    }
}

/// The credential a request presented.
pub enum Presented {
    Cookie(SessionToken),
    Bearer(GitHubToken),
    /// An `Authorization` header that is not a usable bearer token.
    Malformed,
    Nothing,
}

const REASON_EXPIRED: ReasonCode = ReasonCode::new("expired");
const REASON_BAD_FORMAT: ReasonCode = ReasonCode::new("bad_format");
const REASON_REJECTED: ReasonCode = ReasonCode::new("rejected_by_render");
const REASON_REVOKED: ReasonCode = ReasonCode::new("revoked");
const REASON_UNKNOWN_OWNER: ReasonCode = ReasonCode::new("unknown_owner");

impl AppState {
    /// Resolves the presented credential to a live session.
    pub async fn authenticate(
        &self,
        presented: Presented,
        ctx: &RequestContext,
    ) -> Result<ActiveSession, AppError> {
        match presented {
            Presented::Nothing | Presented::Malformed => {
                Err(AppError::Unauthenticated(AuthFailure::Missing))
            }
            Presented::Bearer(token) => {
                let identity = match self.bearer_cache.get(&token) {
                    Some(identity) => identity,
                    None => {
                        let user =
                            self.github.current_user(token.secret()).await.map_err(
                                |e| match e {
                                    UpstreamError::Unauthorized(_) => {
                                        AppError::Unauthenticated(AuthFailure::BadToken)
                                    }
                                    other => AppError::Upstream(other),
                                },
                            )?;
                        let identity = GitHubIdentity {
                            id: user.id,
                            login: user.login,
                        };
                        self.bearer_cache.put(&token, identity.clone());
                        identity
                    }
                };
                Ok(self.sessions.bearer(token, &identity).await?)
            }
            Presented::Cookie(token) => {
                let outcome = self
                    .sessions
                    .load(ClientToken::Cookie(token), ctx.client_hash.as_deref())
                    .await?;
                match outcome {
                    LoadOutcome::Active(session) => Ok(*session),
                    LoadOutcome::Missing => Err(AppError::Unauthenticated(AuthFailure::Missing)),
                    LoadOutcome::Expired { user_id } => {
                        metrics::counter!(telemetry::SESSION_EVENTS, "event" => "expired")
                            .increment(1);
                        self.audit.record(ctx.event_because(
                            Some(user_id),
                            AuditKind::SessionExpired,
                            AuditStatus::Failure,
                            REASON_EXPIRED,
                        ));
                        Err(AppError::Unauthenticated(AuthFailure::Expired))
                    }
                    LoadOutcome::ClientMismatch { user_id } => {
                        metrics::counter!(telemetry::SESSION_EVENTS, "event" => "client_mismatch")
                            .increment(1);
                        self.raise_alert(AlertKind::SessionClientMismatch, Some(user_id), ctx);
                        Err(AppError::Unauthenticated(AuthFailure::Missing))
                    }
                }
            }
        }
    }

    /// A security alert: an audit event, a warning log line and a metric.
    pub fn raise_alert(&self, kind: AlertKind, user_id: Option<u64>, ctx: &RequestContext) {
        tracing::warn!(
            alert = kind.as_str(),
            request_id = %ctx.request_id,
            client_ip = %ctx.client_ip,
            "security alert"
        );
        metrics::counter!(telemetry::ALERTS, "kind" => kind.as_str()).increment(1);
        let mut event = ctx.event(user_id, AuditKind::SecurityAlert, AuditStatus::Alert);
        event.details.alert = Some(kind);
        self.audit.record(event);
    }

    /// A fresh session after a successful GitHub login. A session the
    /// browser already had is destroyed: no token survives a login.
    pub async fn complete_login(
        &self,
        github_token: GitHubToken,
        previous: Option<SessionToken>,
        ctx: &RequestContext,
    ) -> Result<ActiveSession, AppError> {
        let user = self
            .github
            .current_user(github_token.secret())
            .await
            .map_err(|e| match e {
                UpstreamError::Unauthorized(_) => AppError::LoginFailed("token_rejected"),
                other => AppError::Upstream(other),
            })?;
        let identity = GitHubIdentity {
            id: user.id,
            login: user.login,
        };
        // Only once GitHub has confirmed the login: a failed attempt changes
        // nothing, a successful one never keeps a pre-login token alive.
        if let Some(previous) = previous {
            let ended = self
                .sessions
                .vault()
                .store_key(TokenKind::Cookie, previous.secret());
            let stopped = self
                .deployments
                .stop_tracking(StopScope::Session(&ended), TrackingStop::SignedInAgain);
            self.sessions.destroy_token(&previous).await?;
            stopped.await;
        }
        let session = self
            .sessions
            .create(&identity, &github_token, ctx.client_hash.clone())
            .await?;
        metrics::counter!(telemetry::SESSION_EVENTS, "event" => "created").increment(1);
        self.audit.record(ctx.event(
            Some(identity.id),
            AuditKind::LoginSucceeded,
            AuditStatus::Success,
        ));
        let open = self.sessions.count_user(identity.id).await?;
        if let Some(alert) = self
            .alerts
            .sessions_opened(u32::try_from(open).unwrap_or(u32::MAX))
        {
            self.raise_alert(alert, Some(identity.id), ctx);
        }
        Ok(session)
    }

    /// Records a failed login and raises the burst alert at its threshold.
    pub fn login_failed(&self, reason: &'static str, ctx: &RequestContext) {
        metrics::counter!(telemetry::SESSION_EVENTS, "event" => "login_failed").increment(1);
        let mut event = ctx.event(None, AuditKind::LoginFailed, AuditStatus::Failure);
        event.details.reason = Some(login_reason(reason));
        self.audit.record(event);
        if let Some(alert) = self
            .alerts
            .failed_login(client_network(ctx.client_ip), Instant::now())
        {
            self.raise_alert(alert, None, ctx);
        }
    }

    pub async fn logout(
        &self,
        session: &ActiveSession,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        // The key leaves with the session: trackers started from it stop
        // (and drop it) before the answer goes out.
        let stopped = self.deployments.stop_tracking(
            StopScope::Session(session.store_key()),
            TrackingStop::SignedOut,
        );
        self.sessions.destroy(session).await?;
        stopped.await;
        metrics::counter!(telemetry::SESSION_EVENTS, "event" => "logout").increment(1);
        self.audit.record(ctx.event(
            Some(session.user_id()),
            AuditKind::Logout,
            AuditStatus::Success,
        ));
        Ok(())
    }

    pub async fn logout_everywhere(
        &self,
        session: &ActiveSession,
        ctx: &RequestContext,
    ) -> Result<u64, AppError> {
        let stopped = self.deployments.stop_tracking(
            StopScope::User(session.user_id()),
            TrackingStop::SignedOutEverywhere,
        );
        let ended = self.sessions.destroy_user(session.user_id()).await?;
        // The bearer record of this very request, if any, goes too.
        self.sessions.destroy(session).await?;
        stopped.await;
        metrics::counter!(telemetry::SESSION_EVENTS, "event" => "logout_everywhere").increment(1);
        self.audit.record(ctx.event(
            Some(session.user_id()),
            AuditKind::LogoutEverywhere,
            AuditStatus::Success,
        ));
        Ok(ended)
    }

    /// Checks the key's shape, then asks Render which workspaces it reaches,
    /// then seals it into the session (with a new session token for cookie
    /// sessions). Nothing is stored unless every step succeeds.
    pub async fn setup_render_key(
        &self,
        session: ActiveSession,
        raw_key: SecretString,
        owner_id: Option<String>,
        ctx: &RequestContext,
    ) -> Result<(ActiveSession, RenderSetup), AppError> {
        let user_id = session.user_id();
        self.limits
            .setup_user
            .check(&user_id)
            .and_then(|()| self.limits.setup_ip.check(&client_network(ctx.client_ip)))
            .map_err(|retry_after| {
                self.audit.record(ctx.event_because(
                    Some(user_id),
                    AuditKind::RateLimited,
                    AuditStatus::Denied,
                    ReasonCode::new("render_setup"),
                ));
                AppError::RateLimited { retry_after }
            })?;

        let key = match RenderApiKey::parse(raw_key) {
            Ok(key) => key,
            Err(shape) => {
                self.key_invalid(user_id, REASON_BAD_FORMAT, ctx);
                return Err(AppError::RenderKeyInvalid(shape_message(shape)));
            }
        };
        let owners = match self.render.owners(key.secret()).await {
            Ok(owners) => owners,
            Err(UpstreamError::Unauthorized(_) | UpstreamError::Forbidden(_)) => {
                self.key_invalid(user_id, REASON_REJECTED, ctx);
                return Err(AppError::RenderKeyInvalid(
                    "Render rejected this API key: check that it was copied whole and has not been revoked",
                ));
            }
            Err(other) => {
                metrics::counter!(telemetry::KEY_VALIDATIONS, "result" => "upstream_error")
                    .increment(1);
                return Err(other.into());
            }
        };
        let chosen = match (&owner_id, owners.first()) {
            (Some(wanted), _) => owners.iter().find(|o| &o.id == wanted).ok_or_else(|| {
                self.audit.record(ctx.event_because(
                    Some(user_id),
                    AuditKind::CredentialInvalid,
                    AuditStatus::Failure,
                    REASON_UNKNOWN_OWNER,
                ));
                AppError::invalid("owner_id", "this key has no workspace with that id")
            })?,
            (None, Some(first)) => first,
            (None, None) => {
                return Err(AppError::RenderKeyInvalid(
                    "this Render API key has no workspace to deploy into",
                ));
            }
        }
        .clone();
        let owner = RenderOwnerRef {
            id: chosen.id.clone(),
            name: chosen.name.clone(),
        };
        let replaced = session.store_key().clone();
        let session = self.sessions.set_render_key(session, &key, &owner).await?;
        // The session that held the previous key is gone (or holds this one
        // now): its trackers stop and drop the old key.
        self.deployments
            .stop_tracking(StopScope::Session(&replaced), TrackingStop::KeyReplaced)
            .await;
        metrics::counter!(telemetry::KEY_VALIDATIONS, "result" => "valid").increment(1);
        let mut event = ctx.event(
            Some(user_id),
            AuditKind::CredentialSetup,
            AuditStatus::Success,
        );
        event.details.render_owner_id = Some(owner.id.clone());
        self.audit.record(event);
        Ok((
            session,
            RenderSetup {
                owner: OwnerView::from(&chosen),
                owners: owners.iter().map(OwnerView::from).collect(),
            },
        ))
    }

    fn key_invalid(&self, user_id: u64, reason: ReasonCode, ctx: &RequestContext) {
        metrics::counter!(telemetry::KEY_VALIDATIONS, "result" => "invalid").increment(1);
        self.audit.record(ctx.event_because(
            Some(user_id),
            AuditKind::CredentialInvalid,
            AuditStatus::Failure,
            reason,
        ));
        for alert in self
            .alerts
            .invalid_key(user_id, client_network(ctx.client_ip), Instant::now())
        {
            self.raise_alert(alert, Some(user_id), ctx);
        }
    }

    /// The session's state, with a live re-check of a stored key: a key
    /// revoked at Render since setup is reported as unverified. When Render
    /// cannot be reached the last known state is reported.
    pub async fn render_status(
        &self,
        mut session: ActiveSession,
        ctx: &RequestContext,
    ) -> Result<StatusView, AppError> {
        let mut check = None;
        if let Some(key) = session.render_key()? {
            check = Some(match self.render.owners(&key).await {
                Ok(_) => {
                    metrics::counter!(telemetry::KEY_VALIDATIONS, "result" => "valid").increment(1);
                    self.sessions
                        .set_render_verified(&mut session, true)
                        .await?;
                    KeyCheck::Passed
                }
                Err(UpstreamError::Unauthorized(_) | UpstreamError::Forbidden(_)) => {
                    let was_verified = session.render().is_some_and(|r| r.verified);
                    self.sessions
                        .set_render_verified(&mut session, false)
                        .await?;
                    if was_verified {
                        self.key_invalid(session.user_id(), REASON_REVOKED, ctx);
                    }
                    KeyCheck::Rejected
                }
                // The status still answers (pages and scripts need it, and
                // the CSRF token in it); the session keeps what it knew.
                Err(error) => {
                    tracing::warn!(%error, request_id = %ctx.request_id, "could not re-check the Render key");
                    KeyCheck::Unavailable
                }
            });
        }
        let mut view = self.status_view(&session);
        view.render.check = check;
        Ok(view)
    }

    pub fn status_view(&self, session: &ActiveSession) -> StatusView {
        let user = session.user();
        let render = session.render();
        StatusView {
            github: GitHubView {
                id: user.id,
                login: user.login,
            },
            render: RenderView {
                configured: render.is_some(),
                verified: render.is_some_and(|r| r.verified),
                verified_at: render.filter(|r| r.verified).map(|r| r.verified_at),
                check: None,
                owner: render.map(|r| OwnerView {
                    id: r.owner_id.clone(),
                    name: r.owner_name.clone(),
                    kind: None,
                }),
            },
            session: SessionView {
                idle_expires_at: session.idle_expires_at(self.sessions.idle_timeout()),
                absolute_expires_at: session.record().absolute_expires_at,
            },
            csrf_token: session
                .session_token()
                .map(|t| self.sessions.vault().csrf_token(t.secret())),
        }
    }

    pub async fn clear_render_key(
        &self,
        mut session: ActiveSession,
        ctx: &RequestContext,
    ) -> Result<ActiveSession, AppError> {
        let owner = session.render().map(|r| r.owner_id.clone());
        let stopped = self.deployments.stop_tracking(
            StopScope::Session(session.store_key()),
            TrackingStop::KeyCleared,
        );
        self.sessions.clear_render_key(&mut session).await?;
        stopped.await;
        let mut event = ctx.event(
            Some(session.user_id()),
            AuditKind::CredentialCleared,
            AuditStatus::Success,
        );
        event.details.render_owner_id = owner;
        self.audit.record(event);
        Ok(session)
    }

    /// The opened Render key of a session that has a verified one.
    pub fn require_render_key(session: &ActiveSession) -> Result<(SecretString, String), AppError> {
        let render = session.render().ok_or(AppError::RenderKeyMissing)?;
        if !render.verified {
            return Err(AppError::RenderKeyUnverified);
        }
        let key = session.render_key()?.ok_or(AppError::RenderKeyMissing)?;
        Ok((key, render.owner_id.clone()))
    }
}

fn shape_message(error: RenderKeyError) -> &'static str {
    match error {
        RenderKeyError::MissingPrefix => {
            "a Render API key starts with rnd_: copy it from Render's Account Settings → API Keys"
        }
        RenderKeyError::BadCharacter => "a Render API key has only letters and digits after rnd_",
        RenderKeyError::BadLength => "that is not the length of a Render API key",
    }
}

fn login_reason(reason: &'static str) -> ReasonCode {
    match reason {
        "state_mismatch" => ReasonCode::new("state_mismatch"),
        "code_rejected" => ReasonCode::new("code_rejected"),
        "access_denied" => ReasonCode::new("access_denied"),
        "token_rejected" => ReasonCode::new("token_rejected"),
        "missing_attempt" => ReasonCode::new("missing_attempt"),
        "upstream_unavailable" => ReasonCode::new("upstream_unavailable"),
        _ => ReasonCode::new("other"),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnerView {
    pub id: String,
    pub name: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl From<&Owner> for OwnerView {
    fn from(owner: &Owner) -> Self {
        Self {
            id: owner.id.clone(),
            name: owner.name.clone(),
            kind: Some(owner.kind.as_str().to_owned()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RenderSetup {
    pub owner: OwnerView,
    pub owners: Vec<OwnerView>,
}

#[derive(Debug, Serialize)]
pub struct StatusView {
    pub github: GitHubView,
    pub render: RenderView,
    pub session: SessionView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct GitHubView {
    pub id: u64,
    pub login: String,
}

#[derive(Debug, Serialize)]
pub struct RenderView {
    pub configured: bool,
    pub verified: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    pub owner: Option<OwnerView>,
    /// The live check of the stored key made for this answer, when one was:
    /// with `unavailable`, `verified` is the last known result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<KeyCheck>,
}

impl RenderView {
    /// The live check could not reach Render: what is shown is the last result.
    pub fn unreachable(&self) -> bool {
        self.check == Some(KeyCheck::Unavailable)
    }
}

/// How Render answered the live re-check of a stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyCheck {
    Passed,
    Rejected,
    /// Render was down, slow, rate limiting or answering garbage.
    Unavailable,
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    #[serde(with = "time::serde::rfc3339")]
    pub idle_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub absolute_expires_at: OffsetDateTime,
}

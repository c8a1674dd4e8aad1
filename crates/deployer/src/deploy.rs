//! Deploying (DESIGN.md §5): plan, then create or redeploy each service in
//! the user's own Render workspace, then track every deploy to a terminal
//! status in the background, fanning changes out to SSE listeners.
//!
//! The Render key is opened from the session for the request. The tracking
//! task keeps it in memory (never stored) only while the session that started
//! the deployment lives: signing out (here or everywhere), clearing the key or
//! setting up another one takes it from the tracker at once (waiting for a
//! Render call in flight, so none starts afterwards), and the deployment ends
//! `untracked` with a note saying why. Each poll round also checks the session
//! store, so a session that expired or ended on another instance stops it too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tracing::Instrument;
use uuid::Uuid;

use crate::app::AppState;
use crate::context::RequestContext;
use crate::db::audit::{AuditEvent, AuditKind, AuditStatus, ReasonCode};
use crate::db::history::{DeploymentRecord, DeploymentStatus, ServiceRecord};
use crate::domain::names::{
    BranchName, EnvVarKey, EnvVarValue, InstancePlan, Region, RepoSlug, ServiceName,
};
use crate::error::AppError;
use crate::plan::source::SourceError;
use crate::plan::{
    EnvVarSource, Overrides, Plan, PlanError, PlanRequest, PlannedService, ServiceKind,
    ServiceValue, plan_repository,
};
use crate::session::ActiveSession;
use crate::session::vault::{Sealed, StoreKey};
use crate::telemetry;
use crate::upstream::github::GitHubRepoSource;
use crate::upstream::render::{
    Build, CronDetails, Deploy, DeployStatus, EnvVarInput, EnvVarInputValue, NativeRuntime,
    NewService, NewServiceDetails, PaidPlan, Route, RouteKind, ServerDetails, Service,
    ServiceFilter, ServiceType, ServiceUpdate, StaticDetails, WebDetails,
};
use crate::upstream::{UnavailableReason, Upstream, UpstreamError};

/// How many of a user's services `GET /api/render/services` reads at most.
pub const MAX_LISTED_SERVICES: usize = 500;
/// Build-log lines kept for a failed deploy.
const BUILD_LOG_LINES: u32 = 40;
/// Deployments whose log lines are kept in memory for the deployment view.
const MAX_KEPT_LOGS: usize = 1000;
/// Waiting out Render's rate limit inside one request is fine up to this;
/// a longer wait is reported to the user instead.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(20);
const CREATE_ATTEMPTS: u32 = 3;

/// Poll timing, from configuration (tests use a fast one).
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    pub interval: Duration,
    pub max_backoff: Duration,
    pub give_up_after: Duration,
}

/// A change in a deployment, as sent to SSE listeners.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentEvent {
    pub deployment_id: Uuid,
    pub status: DeploymentStatus,
    pub service_id: String,
    pub service_name: String,
    pub deploy_status: String,
    pub url: Option<String>,
    pub terminal: bool,
    /// Why the deployment ended as it did, on the final event when the status alone does not say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why tracking stopped before the deploys ended: the session that held the
/// Render key is gone, and so is the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackingStop {
    SignedOut,
    SignedOutEverywhere,
    SignedInAgain,
    KeyCleared,
    KeyReplaced,
    /// Found by the session-store check: expired, or ended on another instance.
    SessionEnded,
}

impl TrackingStop {
    pub fn code(self) -> ReasonCode {
        match self {
            TrackingStop::SignedOut => ReasonCode::new("signed_out"),
            TrackingStop::SignedOutEverywhere => ReasonCode::new("signed_out_everywhere"),
            TrackingStop::SignedInAgain => ReasonCode::new("signed_in_again"),
            TrackingStop::KeyCleared => ReasonCode::new("key_cleared"),
            TrackingStop::KeyReplaced => ReasonCode::new("key_replaced"),
            TrackingStop::SessionEnded => ReasonCode::new("session_ended"),
        }
    }

    /// The deployment's note: fixed wording, nothing from upstream.
    pub fn note(self) -> &'static str {
        match self {
            TrackingStop::SignedOut => {
                "Tracking stopped because you signed out: your Render key lives only in your session, so this service no longer holds it. The deploys may still finish on Render; see the Render dashboard for their final status."
            }
            TrackingStop::SignedOutEverywhere => {
                "Tracking stopped because you signed out everywhere: your Render key lives only in your session, so this service no longer holds it. The deploys may still finish on Render; see the Render dashboard for their final status."
            }
            TrackingStop::SignedInAgain => {
                "Tracking stopped because you signed in again, which ended the session that held your Render key. The deploys may still finish on Render; see the Render dashboard for their final status."
            }
            TrackingStop::KeyCleared => {
                "Tracking stopped because you removed your Render key from the session. The deploys may still finish on Render; see the Render dashboard for their final status."
            }
            TrackingStop::KeyReplaced => {
                "Tracking stopped because you set up a Render key again, which ended the session that held the key this deployment used. The deploys may still finish on Render; see the Render dashboard for their final status."
            }
            TrackingStop::SessionEnded => {
                "Tracking stopped because the session that started it ended (it expired or was signed out). The deploys may still finish on Render; see the Render dashboard for their final status."
            }
        }
    }
}

/// The Render key of one tracked deployment. Every Render call of the
/// tracker holds the lock for its length; [`KeySlot::stop`] takes the lock,
/// so once it returns no call is in flight and none can start.
struct KeySlot {
    key: tokio::sync::Mutex<Option<SecretString>>,
    stop: watch::Sender<Option<TrackingStop>>,
}

impl KeySlot {
    fn new(key: SecretString) -> Self {
        Self {
            key: tokio::sync::Mutex::new(Some(key)),
            stop: watch::channel(None).0,
        }
    }

    fn reason(&self) -> Option<TrackingStop> {
        *self.stop.borrow()
    }

    /// Records why (the first reason wins) and wakes the tracker. From now
    /// on [`KeySlot::key`] hands out no key; a call already under way ends
    /// first, then [`KeySlot::drop_key`] clears it.
    fn signal(&self, reason: TrackingStop) {
        self.stop.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(reason);
            }
            first
        });
    }

    /// Waits for a Render call in flight, then drops the key.
    async fn drop_key(&self) {
        drop(self.key.lock().await.take());
    }

    async fn stop(&self, reason: TrackingStop) {
        self.signal(reason);
        self.drop_key().await;
    }

    /// The key for one Render call, held for the call's length; `None` once
    /// tracking is stopping.
    async fn key(&self) -> tokio::sync::MutexGuard<'_, Option<SecretString>> {
        let mut held = self.key.lock().await;
        if self.reason().is_some() {
            held.take();
        }
        held
    }
}

/// A deployment being tracked, and whose session holds its key.
struct Tracked {
    user_id: u64,
    session: StoreKey,
    slot: Arc<KeySlot>,
}

/// Which trackers to stop.
#[derive(Debug, Clone, Copy)]
pub enum StopScope<'a> {
    /// Those started from this session.
    Session(&'a StoreKey),
    /// Every one of this user's.
    User(u64),
}

/// Live state of deployments: SSE channels, the trackers and the keys they
/// hold, and the build-log tails of failed deploys (kept in memory only: a
/// log line may echo a secret the build printed, so it is never written to
/// the database).
pub struct Deployments {
    poll: PollSettings,
    channels: Mutex<HashMap<Uuid, broadcast::Sender<DeploymentEvent>>>,
    trackers: Mutex<HashMap<Uuid, Tracked>>,
    logs: Mutex<HashMap<Uuid, (Instant, Vec<ServiceLog>)>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceLog {
    pub service_id: String,
    pub lines: Vec<String>,
}

impl Deployments {
    pub fn new(poll: PollSettings) -> Self {
        Self {
            poll,
            channels: Mutex::default(),
            trackers: Mutex::default(),
            logs: Mutex::default(),
        }
    }

    /// Opens the channel of a deployment about to be tracked and registers
    /// its key under the session that started it; [`Self::finish`] undoes both.
    fn open(&self, id: Uuid, user_id: u64, session: StoreKey, key: SecretString) -> Arc<KeySlot> {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, broadcast::channel(64).0);
        let slot = Arc::new(KeySlot::new(key));
        self.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                Tracked {
                    user_id,
                    session,
                    slot: slot.clone(),
                },
            );
        slot
    }

    /// Stops the trackers in `scope`: they are told at once (before this
    /// returns, so no new Render call starts even if the caller goes away),
    /// and the returned future drops their keys, waiting at most for the
    /// calls already in flight, all together. Resolves to how many stopped.
    pub fn stop_tracking(
        &self,
        scope: StopScope<'_>,
        reason: TrackingStop,
    ) -> impl Future<Output = usize> + Send + 'static {
        let slots: Vec<Arc<KeySlot>> = self
            .trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|t| match scope {
                StopScope::Session(key) => &t.session == key,
                StopScope::User(user_id) => t.user_id == user_id,
            })
            .map(|t| t.slot.clone())
            .collect();
        for slot in &slots {
            slot.signal(reason);
        }
        async move {
            futures::future::join_all(slots.iter().map(|slot| slot.drop_key())).await;
            if !slots.is_empty() {
                tracing::info!(
                    trackers = slots.len(),
                    reason = reason.code().as_str(),
                    "stopped deployment tracking: the session that held the Render key ended"
                );
            }
            slots.len()
        }
    }

    /// How many deployments this instance is tracking.
    pub fn tracking(&self) -> usize {
        self.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// `None` unless the deployment is being tracked by this instance. A
    /// listener never creates a channel: one created for a finished or
    /// unknown deployment would never close, and would never be freed.
    pub fn subscribe(&self, id: Uuid) -> Option<broadcast::Receiver<DeploymentEvent>> {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map(broadcast::Sender::subscribe)
    }

    fn publish(&self, event: DeploymentEvent) {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = channels.get(&event.deployment_id) {
            let _ = tx.send(event);
        }
    }

    /// Forgets a tracker whose key is dropped (before its last event goes out).
    fn release(&self, id: Uuid) {
        self.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn finish(&self, id: Uuid) {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn keep_logs(&self, id: Uuid, logs: Vec<ServiceLog>) {
        let mut kept = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= MAX_KEPT_LOGS
            && let Some(oldest) = kept.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k)
        {
            kept.remove(&oldest);
        }
        kept.insert(id, (Instant::now(), logs));
    }

    pub fn logs(&self, id: Uuid) -> Vec<ServiceLog> {
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }
}

/// A validated deploy request; values of env vars stay secret.
pub struct DeployRequest {
    pub repo: RepoSlug,
    pub project_name: ServiceName,
    pub branch: Option<BranchName>,
    pub env_vars: Vec<(EnvVarKey, EnvVarValue)>,
    pub region: Option<Region>,
    pub plan: Option<InstancePlan>,
    /// Per-service edits from a previewed plan.
    pub overrides: Vec<(ServiceName, Overrides)>,
}

/// What the deploy answer and the deployment view show.
#[derive(Debug, Serialize)]
pub struct DeploymentView {
    #[serde(flatten)]
    pub record: DeploymentRecord,
    pub build_logs: Vec<ServiceLog>,
    pub warnings: Vec<String>,
}

fn plan_error(error: PlanError) -> AppError {
    match error {
        PlanError::Source(SourceError::RepoNotFound) => AppError::RepoNotFound,
        PlanError::Source(SourceError::Empty) => AppError::invalid(
            "github_repo",
            "the repository is empty: push some code first",
        ),
        PlanError::Source(SourceError::Upstream(e)) => AppError::Upstream(e),
        PlanError::Source(other) => AppError::invalid("github_repo", other),
        other @ (PlanError::UnknownService(_)
        | PlanError::OverrideNotApplicable { .. }
        | PlanError::PlanNotAvailable { .. }
        | PlanError::InvalidOverride { .. }) => AppError::invalid("overrides", other),
        other => AppError::invalid("github_repo", other),
    }
}

/// `https://github.com/Owner/Repo(.git)` and `owner/repo` compare equal.
fn same_repo(service_repo: Option<&str>, slug: &RepoSlug) -> bool {
    let Some(repo) = service_repo else {
        return false;
    };
    let trimmed = repo
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .trim_start_matches("https://github.com/")
        .trim_start_matches("http://github.com/");
    trimmed.eq_ignore_ascii_case(&format!("{}/{}", slug.owner(), slug.name()))
}

fn runtime(service: &PlannedService) -> Result<Build, AppError> {
    use crate::plan::Runtime;
    let native = |rt: NativeRuntime| Build::Native {
        runtime: rt,
        build_command: service.build_command.clone().unwrap_or_default(),
        start_command: service.start_command.clone().unwrap_or_default(),
    };
    Ok(match service.runtime {
        Some(Runtime::Node) => native(NativeRuntime::Node),
        Some(Runtime::Python) => native(NativeRuntime::Python),
        Some(Runtime::Ruby) => native(NativeRuntime::Ruby),
        Some(Runtime::Go) => native(NativeRuntime::Go),
        Some(Runtime::Rust) => native(NativeRuntime::Rust),
        Some(Runtime::Elixir) => native(NativeRuntime::Elixir),
        Some(Runtime::Docker) => Build::Docker {
            dockerfile_path: service
                .dockerfile_path
                .clone()
                .unwrap_or_else(|| "./Dockerfile".into()),
            docker_context: service.docker_context.clone().unwrap_or_else(|| ".".into()),
        },
        Some(Runtime::Image) | None => {
            return Err(AppError::invalid(
                "plan",
                format!("{} has no runtime this service can deploy", service.name),
            ));
        }
    })
}

fn details(service: &PlannedService) -> Result<NewServiceDetails, AppError> {
    let region = service.region.unwrap_or_default();
    let plan = service.plan.unwrap_or_default();
    let paid = || {
        PaidPlan::from_plan(plan).ok_or_else(|| {
            AppError::invalid(
                "plan",
                format!("{} needs a paid plan (starter or above)", service.name),
            )
        })
    };
    Ok(match service.kind {
        ServiceKind::StaticSite => NewServiceDetails::Static(StaticDetails {
            build_command: service.build_command.clone(),
            publish_path: service
                .publish_path
                .clone()
                .unwrap_or_else(|| "public".into()),
            routes: service
                .routes
                .iter()
                .map(|r| Route {
                    kind: match r.kind {
                        crate::plan::RouteKind::Rewrite => RouteKind::Rewrite,
                        crate::plan::RouteKind::Redirect => RouteKind::Redirect,
                    },
                    source: r.source.clone(),
                    destination: r.destination.clone(),
                })
                .collect(),
        }),
        ServiceKind::WebService => NewServiceDetails::Web(WebDetails {
            server: ServerDetails {
                build: runtime(service)?,
                plan,
                region,
            },
            health_check_path: service.health_check_path.clone(),
        }),
        ServiceKind::PrivateService => NewServiceDetails::PrivateService(ServerDetails {
            build: runtime(service)?,
            plan: paid()?,
            region,
        }),
        ServiceKind::BackgroundWorker => NewServiceDetails::Worker(ServerDetails {
            build: runtime(service)?,
            plan: paid()?,
            region,
        }),
        ServiceKind::CronJob => NewServiceDetails::Cron(CronDetails {
            server: ServerDetails {
                build: runtime(service)?,
                plan: paid()?,
                region,
            },
            schedule: service
                .schedule
                .clone()
                .ok_or_else(|| AppError::invalid("plan", "a cron job needs a schedule"))?,
        }),
    })
}

/// The env vars one service gets: the plan's own, then the user's (which
/// win on the same key). Values of `fromService` references are resolved
/// from services created earlier in this deploy. `present` are the keys the
/// service already has: a generated value is made once, at creation (as
/// Render's Blueprints do), so a redeploy does not rotate it.
fn env_inputs(
    service: &PlannedService,
    user: &[(EnvVarKey, EnvVarValue)],
    created: &HashMap<String, Service>,
    present: &[String],
) -> Result<Vec<EnvVarInput>, AppError> {
    let mut out: Vec<EnvVarInput> = Vec::new();
    let mut push = |key: &str, value: EnvVarInputValue| -> Result<(), AppError> {
        out.retain(|v| v.key() != key);
        out.push(EnvVarInput::new(key, value).map_err(|e| AppError::invalid("env_vars", e))?);
        Ok(())
    };
    for var in &service.env_vars {
        let value = match &var.source {
            EnvVarSource::Value { value } => {
                EnvVarInputValue::Value(SecretString::from(value.clone()))
            }
            EnvVarSource::Generate if present.iter().any(|k| k == var.key.as_ref()) => continue,
            EnvVarSource::Generate => EnvVarInputValue::Generate,
            // Filled from the user's values below; checked before anything was created.
            EnvVarSource::UserSupplied => continue,
            EnvVarSource::FromService {
                service: other,
                reference,
            } => {
                let Some(target) = created.get(other.as_ref()) else {
                    continue;
                };
                // Render's host name is the slug (the name, or the name
                // with a suffix when the name was taken elsewhere).
                let host = target.host().to_owned();
                let value = match reference {
                    ServiceValue::Property(p) if p == "host" => host,
                    ServiceValue::Property(p) if p == "port" => "10000".into(),
                    ServiceValue::Property(p) if p == "hostport" => format!("{host}:10000"),
                    // Other properties and env var references need values
                    // this service never reads; the plan warns about them.
                    _ => continue,
                };
                EnvVarInputValue::Value(SecretString::from(value))
            }
        };
        push(var.key.as_ref(), value)?;
    }
    for (key, value) in user {
        push(
            key.as_ref(),
            EnvVarInputValue::Value(SecretString::from(value.expose().to_owned())),
        )?;
    }
    Ok(out)
}

fn type_label(kind: ServiceType) -> &'static str {
    match kind {
        ServiceType::StaticSite => "static site",
        ServiceType::WebService => "web service",
        ServiceType::PrivateService => "private service",
        ServiceType::BackgroundWorker => "background worker",
        ServiceType::CronJob => "cron job",
    }
}

/// What Render cannot change on an existing service: its type and its
/// region. Asking for either is refused before anything is touched.
fn check_redeployable(
    service: &PlannedService,
    planned: &NewServiceDetails,
    existing: &Service,
) -> Result<(), AppError> {
    let wanted = planned.service_type();
    if wanted != existing.service_type {
        return Err(AppError::Conflict(format!(
            "{} already exists in your workspace as a {}, and this plan makes it a {}: Render cannot change a service's type. Choose another name, or delete the service in Render first.",
            service.name,
            type_label(existing.service_type),
            type_label(wanted)
        )));
    }
    if let (Some(want), Some(have)) = (service.region, existing.region)
        && service.kind != ServiceKind::StaticSite
        && want != have
    {
        return Err(AppError::Conflict(format!(
            "{} runs in {} and Render cannot move a service to another region ({} was asked). Deploy it without a region or with {}, or choose another name for a new service in {}.",
            service.name,
            have.as_str(),
            want.as_str(),
            have.as_str(),
            want.as_str()
        )));
    }
    Ok(())
}

/// Why creating or redeploying a service failed, in fixed words (no
/// upstream body, no value).
fn failure_cause(error: &AppError) -> &'static str {
    match error {
        AppError::RateLimited { .. } | AppError::Upstream(UpstreamError::RateLimited { .. }) => {
            "Render's rate limit was reached"
        }
        AppError::Upstream(UpstreamError::Unavailable { .. }) => {
            "Render was unavailable or did not answer in time"
        }
        AppError::Upstream(UpstreamError::Unauthorized(_) | UpstreamError::Forbidden(_)) => {
            "Render refused the API key"
        }
        AppError::Conflict(_) | AppError::Upstream(UpstreamError::Conflict(_)) => {
            "a service of that name exists from another repository"
        }
        AppError::Upstream(UpstreamError::Rejected { .. }) | AppError::InvalidRequest { .. } => {
            "Render refused the service's settings"
        }
        _ => "an unexpected error occurred",
    }
}

fn failure_reason(error: &AppError) -> ReasonCode {
    match error {
        AppError::RateLimited { .. } | AppError::Upstream(UpstreamError::RateLimited { .. }) => {
            ReasonCode::new("render_rate_limited")
        }
        AppError::Upstream(UpstreamError::Unavailable { .. }) => {
            ReasonCode::new("render_unavailable")
        }
        _ => ReasonCode::new("service_not_deployed"),
    }
}

/// The deployment's note when service `name` could not be created or
/// redeployed after `record.services` were.
fn failure_note(error: &AppError, name: &str, redeploy: bool, record: &DeploymentRecord) -> String {
    let cause = failure_cause(error);
    // A redeploy changes the service's settings and env vars before its
    // deploy starts: a failure past that point leaves them changed.
    let (verb, settings) = if redeploy {
        (
            "redeploy",
            " Its settings and variables may already carry this plan's changes.",
        )
    } else {
        ("create", "")
    };
    match record.services.len() {
        0 => format!(
            "Could not {verb} {name}: {cause}.{settings} Nothing was deployed; try again in a moment."
        ),
        n => format!(
            "Could not {verb} {name}: {cause}.{settings} The {n} service{} deployed before it {} tracked to the end; deploy again to finish the rest.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" }
        ),
    }
}

/// The audit event of a deployment's progress: who, which repo, workspace
/// and services, and the request that started it.
fn deployment_event(
    record: &DeploymentRecord,
    owner_id: &str,
    kind: AuditKind,
    status: AuditStatus,
    ctx: &RequestContext,
) -> AuditEvent {
    let mut event = ctx.event(Some(record.user_id), kind, status);
    event.details.repo = Some(record.repo.clone());
    event.details.deployment_id = Some(record.id);
    event.details.render_owner_id = Some(owner_id.to_owned());
    event.details.service_ids = record
        .services
        .iter()
        .map(|s| s.service_id.clone())
        .collect();
    event
}

/// What a tracker owns.
struct Tracking {
    record: DeploymentRecord,
    slot: Arc<KeySlot>,
    /// The session that started the deployment, and its sealed key as it was then.
    session: StoreKey,
    sealed: Sealed,
    owner_id: String,
    /// A service that could not be deployed after these were: the deployment ends failed.
    create_failure: Option<(String, ReasonCode)>,
    ctx: RequestContext,
}

enum Step {
    Create,
    Redeploy(Box<Service>),
}

impl AppState {
    fn repo_source(
        &self,
        session: &ActiveSession,
        repo: &RepoSlug,
        git_ref: &str,
    ) -> Result<GitHubRepoSource, AppError> {
        let token = session.github_token()?;
        Ok(GitHubRepoSource::new(
            self.github.clone(),
            token.secret().clone(),
            repo.owner(),
            repo.name(),
            git_ref,
        ))
    }

    /// Checks the user's own access to the repository: missing and private
    /// to someone else give the same answer.
    async fn check_repo_access(
        &self,
        session: &ActiveSession,
        repo: &RepoSlug,
    ) -> Result<String, AppError> {
        let token = session.github_token()?;
        match self
            .github
            .repository(token.secret(), repo.owner(), repo.name())
            .await
        {
            Ok(info) if info.can_pull => Ok(info.default_branch),
            Ok(_) | Err(UpstreamError::NotFound(_) | UpstreamError::Forbidden(_)) => {
                Err(AppError::RepoNotFound)
            }
            Err(UpstreamError::Unauthorized(_)) => Err(AppError::Unauthenticated(
                crate::error::AuthFailure::BadToken,
            )),
            Err(other) => Err(other.into()),
        }
    }

    /// What a deploy would create, without creating anything.
    pub async fn plan(
        &self,
        session: &ActiveSession,
        request: PlanRequest,
    ) -> Result<Plan, AppError> {
        let default_branch = self.check_repo_access(session, &request.repo).await?;
        let git_ref = request
            .branch
            .as_ref()
            .map_or(default_branch, |b| b.as_ref().to_owned());
        let source = self.repo_source(session, &request.repo, &git_ref)?;
        plan_repository(&source, &request).await.map_err(plan_error)
    }

    /// Re-verifies the key, checks repo access, plans, then creates or
    /// redeploys every planned service. Conflicts and missing inputs are
    /// found before anything is created.
    pub async fn deploy(
        &self,
        session: &ActiveSession,
        mut request: DeployRequest,
        ctx: &RequestContext,
    ) -> Result<DeploymentView, AppError> {
        let (key, owner_id) = AppState::require_render_key(session)?;
        match self.render.owners(&key).await {
            Ok(owners) if owners.iter().any(|o| o.id == owner_id) => {}
            Ok(_) | Err(UpstreamError::Unauthorized(_) | UpstreamError::Forbidden(_)) => {
                let mut session = session.clone();
                self.sessions
                    .set_render_verified(&mut session, false)
                    .await?;
                return Err(AppError::RenderKeyInvalid(
                    "Render no longer accepts your API key for this workspace: set it up again",
                ));
            }
            Err(other) => return Err(other.into()),
        }

        let user_env_keys = request.env_vars.iter().map(|(k, _)| k.clone()).collect();
        let mut plan = self
            .plan(
                session,
                PlanRequest {
                    repo: request.repo.clone(),
                    branch: request.branch.clone(),
                    project_name: request.project_name.clone(),
                    user_env_keys,
                },
            )
            .await?;
        for (name, overrides) in std::mem::take(&mut request.overrides) {
            plan.apply_overrides(&name, overrides).map_err(plan_error)?;
        }
        for service in &mut plan.services {
            if service.kind != ServiceKind::StaticSite {
                if request.region.is_some() {
                    service.region = request.region;
                }
                if request.plan.is_some() {
                    service.plan = request.plan;
                }
            }
        }
        if let Some(missing) = plan
            .required_env
            .iter()
            .find(|r| !request.env_vars.iter().any(|(k, _)| k == &r.key))
        {
            return Err(AppError::invalid(
                "env_vars",
                format!(
                    "render.yaml asks for {} (sync: false) on {}: add it to the deploy",
                    missing.key, missing.service
                ),
            ));
        }

        // Decide every step first: a conflict must stop the deploy before
        // any service is created or changed.
        let mut steps = Vec::with_capacity(plan.services.len());
        for service in &plan.services {
            let planned = details(service)?;
            let existing = self
                .find_service(&key, &owner_id, service.name.as_ref())
                .await?;
            match existing {
                Some(found) if same_repo(found.repo.as_deref(), &request.repo) => {
                    check_redeployable(service, &planned, &found)?;
                    steps.push(Step::Redeploy(Box::new(found)));
                }
                Some(_) => {
                    return Err(AppError::Conflict(format!(
                        "A Render service named {} already exists in your workspace and is built from another repository. Choose another name.",
                        service.name
                    )));
                }
                None => steps.push(Step::Create),
            }
        }

        // Once recorded, the deployment is carried through in its own task:
        // a client that goes away half-way must not leave a row in progress
        // with services created and nothing tracking them.
        let task = tokio::spawn(
            self.clone()
                .carry_out(
                    session.clone(),
                    request,
                    plan,
                    steps,
                    key,
                    owner_id,
                    ctx.clone(),
                )
                // Its log lines keep the request's span (and request id).
                .instrument(tracing::Span::current()),
        );
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Cancelled: the runtime is shutting down.
            Err(_) => Err(AppError::Upstream(UpstreamError::Unavailable {
                upstream: Upstream::Render,
                reason: UnavailableReason::Connect,
            })),
        }
    }

    /// Records the deployment, creates or redeploys each planned service in
    /// order, and starts tracking what was deployed.
    #[allow(clippy::too_many_arguments)]
    async fn carry_out(
        self,
        session: ActiveSession,
        request: DeployRequest,
        plan: Plan,
        steps: Vec<Step>,
        key: SecretString,
        owner_id: String,
        ctx: RequestContext,
    ) -> Result<DeploymentView, AppError> {
        let (session, ctx) = (&session, &ctx);
        // Recorded before anything is created, so a failure half-way leaves
        // a history row (and an audit trail) for what was created.
        let id = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        let mut record = DeploymentRecord {
            id,
            user_id: session.user_id(),
            repo: request.repo.to_string(),
            branch: request.branch.as_ref().map(|b| b.as_ref().to_owned()),
            project_name: request.project_name.to_string(),
            status: DeploymentStatus::InProgress,
            created_at: now,
            updated_at: now,
            note: None,
            services: Vec::with_capacity(steps.len()),
        };
        self.history.insert(&record).await?;
        let mut event = deployment_event(
            &record,
            &owner_id,
            AuditKind::DeploymentRequested,
            AuditStatus::Success,
            ctx,
        );
        // The services this deployment redeploys; new ones have no id yet.
        event.details.service_ids = steps
            .iter()
            .filter_map(|step| match step {
                Step::Redeploy(existing) => Some(existing.id.clone()),
                Step::Create => None,
            })
            .collect();
        self.audit.record(event);
        metrics::counter!(telemetry::DEPLOYMENTS, "result" => "requested").increment(1);

        let mut created: HashMap<String, Service> = HashMap::new();
        let mut failure = None;
        for (service, step) in plan.services.iter().zip(steps) {
            let redeploy = matches!(step, Step::Redeploy(_));
            match self
                .deploy_service(&key, &owner_id, &request, service, step, &created)
                .await
            {
                Ok((svc, deploy_id, was_created)) => {
                    let attached = ServiceRecord {
                        name: svc.name.clone(),
                        service_id: svc.id.clone(),
                        service_type: service.kind.as_str().to_owned(),
                        url: svc.url.clone(),
                        dashboard_url: svc.dashboard_url.clone(),
                        deploy_id,
                        deploy_status: DeployStatus::Created.as_str().to_owned(),
                        created: was_created,
                    };
                    if let Err(error) = self.history.add_service(id, &attached).await {
                        // Still tracked (in memory) and in the answer.
                        tracing::error!(%error, deployment_id = %id, "could not record a deployed service");
                    }
                    record.services.push(attached);
                    created.insert(service.name.to_string(), svc);
                }
                Err(error) => {
                    let note = failure_note(&error, service.name.as_ref(), redeploy, &record);
                    failure = Some((error, note));
                    break;
                }
            }
        }

        if let Some((error, note)) = &failure
            && record.services.is_empty()
        {
            // Nothing to track: the deployment ends here.
            record.status = DeploymentStatus::Failed;
            if let Err(db) = self
                .history
                .set_outcome(id, DeploymentStatus::Failed, Some(note))
                .await
            {
                tracing::error!(error = %db, deployment_id = %id, "could not record deployment outcome");
            }
            self.deployment_failed(&record, &owner_id, failure_reason(error), ctx);
        }
        let Some(failure) = failure else {
            let view = DeploymentView {
                record: record.clone(),
                build_logs: Vec::new(),
                warnings: plan.warnings.iter().map(ToString::to_string).collect(),
            };
            self.start_tracking(session, record, key, owner_id, None, ctx);
            return Ok(view);
        };
        let (error, note) = failure;
        if !record.services.is_empty() {
            // What was created is tracked to its end; the deployment then
            // ends failed, with the note saying which service is missing.
            self.start_tracking(
                session,
                record,
                key,
                owner_id,
                Some((note, failure_reason(&error))),
                ctx,
            );
        }
        Err(error)
    }

    /// Hands the key to a background tracker registered under the session
    /// that started the deployment.
    fn start_tracking(
        &self,
        session: &ActiveSession,
        record: DeploymentRecord,
        key: SecretString,
        owner_id: String,
        create_failure: Option<(String, ReasonCode)>,
        ctx: &RequestContext,
    ) {
        let Some(sealed) = session.render().map(|r| r.sealed_key.clone()) else {
            return;
        };
        let slot =
            self.deployments
                .open(record.id, record.user_id, session.store_key().clone(), key);
        let tracking = Tracking {
            record,
            slot,
            session: session.store_key().clone(),
            sealed,
            owner_id,
            create_failure,
            ctx: ctx.clone(),
        };
        let tracker = self.clone();
        tokio::spawn(async move { tracker.track(tracking).await });
    }

    /// `deployment_failed`: audit event, metric and the repeated-failure alert.
    fn deployment_failed(
        &self,
        record: &DeploymentRecord,
        owner_id: &str,
        reason: ReasonCode,
        ctx: &RequestContext,
    ) {
        metrics::counter!(telemetry::DEPLOYMENTS, "result" => "failed").increment(1);
        let mut event = deployment_event(
            record,
            owner_id,
            AuditKind::DeploymentFailed,
            AuditStatus::Failure,
            ctx,
        );
        event.details.reason = Some(reason);
        if let Some(alert) = self.alerts.deploy_failed(record.user_id, Instant::now()) {
            self.raise_alert(alert, Some(record.user_id), ctx);
        }
        self.audit.record(event);
    }

    /// Creates one planned service, or brings an existing one in line with
    /// the plan (settings, env vars) and triggers a new deploy of it.
    async fn deploy_service(
        &self,
        key: &SecretString,
        owner_id: &str,
        request: &DeployRequest,
        service: &PlannedService,
        step: Step,
        created: &HashMap<String, Service>,
    ) -> Result<(Service, Option<String>, bool), AppError> {
        let present = match &step {
            Step::Redeploy(existing)
                if service
                    .env_vars
                    .iter()
                    .any(|v| matches!(v.source, EnvVarSource::Generate)) =>
            {
                self.render.env_var_keys(key, &existing.id).await?
            }
            _ => Vec::new(),
        };
        let env = env_inputs(service, &request.env_vars, created, &present)?;
        match step {
            Step::Redeploy(existing) => {
                let update = ServiceUpdate {
                    branch: request.branch.as_ref().map(|b| b.as_ref().to_owned()),
                    root_dir: service
                        .root_dir
                        .as_ref()
                        .map(|r| r.as_ref().to_owned())
                        .unwrap_or_default(),
                    details: details(service)?,
                    set_plan: service.plan.is_some(),
                };
                let updated = self.update_settings(key, &existing.id, &update).await?;
                if !env.is_empty() {
                    self.render.set_env_vars(key, &existing.id, &env).await?;
                }
                let deploy = self.trigger(key, &existing.id).await?;
                Ok((updated, deploy.map(|d| d.id), false))
            }
            Step::Create => {
                let body = NewService {
                    name: service.name.to_string(),
                    owner_id: owner_id.to_owned(),
                    repo: request.repo.https_url(),
                    branch: request.branch.as_ref().map(|b| b.as_ref().to_owned()),
                    root_dir: service.root_dir.as_ref().map(|r| r.as_ref().to_owned()),
                    auto_deploy: true,
                    env_vars: env,
                    details: details(service)?,
                };
                let (svc, deploy_id) = self
                    .create_once(key, owner_id, &body, &request.repo)
                    .await?;
                Ok((svc, deploy_id, true))
            }
        }
    }

    /// `PATCH` of an existing service; a rate limit is waited out like a
    /// trigger's (the call is idempotent, so it may be repeated).
    async fn update_settings(
        &self,
        key: &SecretString,
        service_id: &str,
        update: &ServiceUpdate,
    ) -> Result<Service, AppError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.render.update_service(key, service_id, update).await {
                Ok(service) => return Ok(service),
                Err(UpstreamError::RateLimited { retry_after, .. })
                    if attempt < CREATE_ATTEMPTS
                        && retry_after.is_none_or(|d| d <= MAX_INLINE_WAIT) =>
                {
                    tokio::time::sleep(retry_after.unwrap_or(Duration::from_secs(2))).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn find_service(
        &self,
        key: &SecretString,
        owner_id: &str,
        name: &str,
    ) -> Result<Option<Service>, AppError> {
        let filter = ServiceFilter {
            owner_id: Some(owner_id.to_owned()),
            name: Some(name.to_owned()),
        };
        let found = self.render.services(key, &filter, 100).await?;
        Ok(found.into_iter().find(|s| s.name == name))
    }

    /// Creates a service at most once: after a failure whose outcome is
    /// unknown (timeout, 5xx, dropped connection) or a rate limit, Render is
    /// asked whether the service now exists before trying again.
    async fn create_once(
        &self,
        key: &SecretString,
        owner_id: &str,
        body: &NewService,
        repo: &RepoSlug,
    ) -> Result<(Service, Option<String>), AppError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.render.create_service(key, body).await {
                Ok(created) => return Ok((created.service, created.deploy_id)),
                Err(error) => error,
            };
            let wait = match &error {
                UpstreamError::RateLimited { retry_after, .. } => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(5));
                    if wait > MAX_INLINE_WAIT {
                        return Err(AppError::RateLimited { retry_after: wait });
                    }
                    wait
                }
                UpstreamError::Unavailable { .. } => {
                    Duration::from_millis(500 * u64::from(attempt))
                }
                UpstreamError::Conflict(_) => Duration::ZERO,
                _ => return Err(error.into()),
            };
            tokio::time::sleep(wait).await;
            if let Ok(Some(existing)) = self.find_service(key, owner_id, &body.name).await {
                if same_repo(existing.repo.as_deref(), repo) {
                    let deploy = self.render.deploys(key, &existing.id, 1).await.ok();
                    let deploy_id = deploy.and_then(|d| d.into_iter().next()).map(|d| d.id);
                    return Ok((existing, deploy_id));
                }
                return Err(AppError::Conflict(format!(
                    "A Render service named {} already exists and is built from another repository.",
                    body.name
                )));
            }
            if attempt >= CREATE_ATTEMPTS {
                return Err(error.into());
            }
        }
    }

    /// Triggers a deploy; Render's 202-with-no-body means it was queued
    /// behind a running one, which is then found in the list.
    async fn trigger(
        &self,
        key: &SecretString,
        service_id: &str,
    ) -> Result<Option<Deploy>, AppError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.render.trigger_deploy(key, service_id).await {
                Ok(Some(deploy)) => return Ok(Some(deploy)),
                Ok(None) => {
                    let latest = self.render.deploys(key, service_id, 1).await?;
                    return Ok(latest.into_iter().next());
                }
                Err(UpstreamError::RateLimited { retry_after, .. })
                    if attempt < CREATE_ATTEMPTS
                        && retry_after.is_none_or(|d| d <= MAX_INLINE_WAIT) =>
                {
                    tokio::time::sleep(retry_after.unwrap_or(Duration::from_secs(2))).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Polls every deploy of a deployment until all are terminal, with
    /// backoff on errors and Render's `Retry-After` on rate limits, then
    /// records the outcome. Stops at once, without another Render call, when
    /// the session that started the deployment ends.
    async fn track(self, tracking: Tracking) {
        let Tracking {
            record,
            slot,
            session,
            sealed,
            owner_id,
            create_failure,
            ctx,
        } = tracking;
        let poll = self.deployments.poll;
        let started = Instant::now();
        let mut stop = slot.stop.subscribe();
        let mut pending: Vec<ServiceRecord> = record.services.clone();
        let mut statuses: HashMap<String, DeployStatus> = HashMap::new();
        let mut delay = poll.interval;
        // A logout that landed while the services were being created came
        // before this tracker could be told: the store says so at once.
        if let Ok(false) = self.sessions.holds_render_key(&session, &sealed).await {
            slot.stop(TrackingStop::SessionEnded).await;
        }
        while !pending.is_empty()
            && started.elapsed() < poll.give_up_after
            && slot.reason().is_none()
        {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.changed() => continue,
            }
            // The session may have ended where no stop reaches (another
            // instance, expiry): the store is the truth.
            match self.sessions.holds_render_key(&session, &sealed).await {
                Ok(true) => {}
                Ok(false) => {
                    slot.stop(TrackingStop::SessionEnded).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, deployment_id = %record.id, "could not check the session; tracking goes on");
                }
            }
            let mut had_error = false;
            let mut retry_after: Option<Duration> = None;
            let mut still = Vec::with_capacity(pending.len());
            let mut queue = pending.into_iter();
            for svc in queue.by_ref() {
                let held = slot.key().await;
                let Some(key) = held.as_ref() else {
                    still.push(svc);
                    break;
                };
                let result = match &svc.deploy_id {
                    Some(deploy_id) => self.render.deploy(key, &svc.service_id, deploy_id).await,
                    None => self
                        .render
                        .deploys(key, &svc.service_id, 1)
                        .await
                        .and_then(|d| {
                            d.into_iter()
                                .next()
                                .ok_or(UpstreamError::NotFound(crate::upstream::Upstream::Render))
                        }),
                };
                drop(held);
                match result {
                    Ok(deploy) => {
                        let previous = statuses.insert(svc.service_id.clone(), deploy.status);
                        if previous != Some(deploy.status) {
                            self.service_changed(&record, &svc, deploy.status).await;
                        }
                        if !deploy.status.is_terminal() {
                            still.push(svc);
                        }
                    }
                    Err(UpstreamError::RateLimited {
                        retry_after: wait, ..
                    }) => {
                        // No more calls until Render says so.
                        tracing::info!(deployment_id = %record.id, "deploy status poll rate limited; waiting");
                        had_error = true;
                        retry_after = Some(wait.unwrap_or(delay * 2));
                        still.push(svc);
                        break;
                    }
                    Err(error) => {
                        tracing::info!(%error, deployment_id = %record.id, "deploy status poll failed; retrying");
                        had_error = true;
                        still.push(svc);
                    }
                }
            }
            still.extend(queue);
            pending = still;
            delay = if had_error {
                (delay * 2).min(poll.max_backoff)
            } else {
                poll.interval
            };
            if let Some(wait) = retry_after {
                delay = delay.max(wait.min(poll.max_backoff));
            }
        }

        if let Some(reason) = slot.reason() {
            drop(slot.key.lock().await.take());
            self.tracking_stopped(
                &record,
                &statuses,
                reason,
                create_failure.as_ref(),
                &owner_id,
                &ctx,
            )
            .await;
            return;
        }

        let failed: Vec<&ServiceRecord> = record
            .services
            .iter()
            .filter(|s| {
                !statuses
                    .get(&s.service_id)
                    .is_some_and(|st| st.is_success())
            })
            .collect();
        let status = if failed.is_empty() && create_failure.is_none() {
            DeploymentStatus::Live
        } else {
            DeploymentStatus::Failed
        };
        if !failed.is_empty() {
            let mut logs = Vec::new();
            for svc in &failed {
                let held = slot.key().await;
                let Some(key) = held.as_ref() else {
                    break;
                };
                if let Ok(lines) = self
                    .render
                    .build_logs(key, &owner_id, &svc.service_id, BUILD_LOG_LINES)
                    .await
                {
                    logs.push(ServiceLog {
                        service_id: svc.service_id.clone(),
                        lines,
                    });
                }
            }
            self.deployments.keep_logs(record.id, logs);
        }
        drop(slot.key.lock().await.take());
        let note = create_failure.as_ref().map(|(note, _)| note.as_str());
        // The audit event and the release come before the stored outcome: a
        // reader who sees the final status finds the rest already done.
        if status == DeploymentStatus::Live {
            metrics::counter!(telemetry::DEPLOYMENTS, "result" => "live").increment(1);
            self.audit.record(deployment_event(
                &record,
                &owner_id,
                AuditKind::DeploymentSucceeded,
                AuditStatus::Success,
                &ctx,
            ));
        } else {
            let reason = match &create_failure {
                Some((_, reason)) => reason.clone(),
                None if started.elapsed() >= poll.give_up_after => {
                    ReasonCode::new("tracking_timed_out")
                }
                None => ReasonCode::new("deploy_failed"),
            };
            self.deployment_failed(&record, &owner_id, reason, &ctx);
        }
        self.deployments.release(record.id);
        if let Err(error) = self.history.set_outcome(record.id, status, note).await {
            tracing::error!(%error, deployment_id = %record.id, "could not record deployment outcome");
        }
        self.publish_final(&record, &statuses, status, note.map(str::to_owned));
        self.deployments.finish(record.id);
    }

    /// The end of a deployment whose session ended first: the key is gone;
    /// the services keep their last known status and the note says why.
    async fn tracking_stopped(
        &self,
        record: &DeploymentRecord,
        statuses: &HashMap<String, DeployStatus>,
        reason: TrackingStop,
        create_failure: Option<&(String, ReasonCode)>,
        owner_id: &str,
        ctx: &RequestContext,
    ) {
        let (status, note) = match create_failure {
            Some((failure, code)) => {
                // A service was never deployed: that outcome is known.
                self.deployment_failed(record, owner_id, code.clone(), ctx);
                (
                    DeploymentStatus::Failed,
                    format!("{failure} {}", reason.note()),
                )
            }
            None => {
                metrics::counter!(telemetry::DEPLOYMENTS, "result" => "untracked").increment(1);
                let mut event = deployment_event(
                    record,
                    owner_id,
                    AuditKind::DeploymentUntracked,
                    AuditStatus::Success,
                    ctx,
                );
                event.details.reason = Some(reason.code());
                self.audit.record(event);
                (DeploymentStatus::Untracked, reason.note().to_owned())
            }
        };
        tracing::info!(
            deployment_id = %record.id,
            reason = reason.code().as_str(),
            "deployment tracking stopped: the session ended"
        );
        self.deployments.release(record.id);
        if let Err(error) = self
            .history
            .set_outcome(record.id, status, Some(&note))
            .await
        {
            tracing::error!(%error, deployment_id = %record.id, "could not record deployment outcome");
        }
        self.publish_final(record, statuses, status, Some(note));
        self.deployments.finish(record.id);
    }

    /// The last SSE event of a deployment.
    fn publish_final(
        &self,
        record: &DeploymentRecord,
        statuses: &HashMap<String, DeployStatus>,
        status: DeploymentStatus,
        note: Option<String>,
    ) {
        let last = record.services.last();
        self.deployments.publish(DeploymentEvent {
            deployment_id: record.id,
            status,
            service_id: last.map(|s| s.service_id.clone()).unwrap_or_default(),
            service_name: last.map(|s| s.name.clone()).unwrap_or_default(),
            deploy_status: last
                .and_then(|s| statuses.get(&s.service_id))
                .map_or("unknown", |s| s.as_str())
                .to_owned(),
            url: last.and_then(|s| s.url.clone()),
            terminal: true,
            note,
        });
    }

    async fn service_changed(
        &self,
        record: &DeploymentRecord,
        svc: &ServiceRecord,
        status: DeployStatus,
    ) {
        if let Err(error) = self
            .history
            .update_service_status(
                record.id,
                &svc.service_id,
                status.as_str(),
                svc.url.as_deref(),
            )
            .await
        {
            tracing::error!(%error, deployment_id = %record.id, "could not record deploy status");
        }
        self.deployments.publish(DeploymentEvent {
            deployment_id: record.id,
            status: DeploymentStatus::InProgress,
            service_id: svc.service_id.clone(),
            service_name: svc.name.clone(),
            deploy_status: status.as_str().to_owned(),
            url: svc.url.clone(),
            terminal: false,
            note: None,
        });
    }

    /// One of the caller's deployments, with build logs of failed deploys.
    pub async fn deployment_view(
        &self,
        session: &ActiveSession,
        id: Uuid,
    ) -> Result<DeploymentView, AppError> {
        let record = self
            .history
            .get_for_user(id, session.user_id())
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(DeploymentView {
            build_logs: self.deployments.logs(id),
            record,
            warnings: Vec::new(),
        })
    }

    pub async fn list_services(&self, session: &ActiveSession) -> Result<Vec<Service>, AppError> {
        let (key, owner_id) = AppState::require_render_key(session)?;
        let filter = ServiceFilter {
            owner_id: Some(owner_id),
            name: None,
        };
        Ok(self
            .render
            .services(&key, &filter, MAX_LISTED_SERVICES)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_repo_ignores_case_scheme_and_git_suffix() {
        let slug = RepoSlug::parse("Alice/App").expect("valid");
        assert!(same_repo(Some("https://github.com/alice/app"), &slug));
        assert!(same_repo(Some("https://github.com/Alice/App.git"), &slug));
        assert!(!same_repo(Some("https://github.com/alice/other"), &slug));
        assert!(!same_repo(Some("https://github.com/alice/app-2"), &slug));
        assert!(!same_repo(None, &slug));
    }
}

//! `/api/render/plan|deploy|services|my-deployments|deployments/{id}[/events]`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{ApiJson, Auth};
use crate::app::AppState;
use crate::db::history::DeploymentRecord;
use crate::deploy::{DeployRequest, DeploymentView};
use crate::domain::names::{
    BranchName, EnvVarKey, EnvVarValue, InstancePlan, Region, RepoSlug, ServiceName,
};
use crate::error::AppError;
use crate::plan::{Overrides, Plan, PlanRequest};

/// Env vars in one deploy request, at most.
const MAX_ENV_VARS: usize = 100;

fn field<T, E: std::fmt::Display>(name: &str, parsed: Result<T, E>) -> Result<T, AppError> {
    parsed.map_err(|e| AppError::invalid(name, e))
}

fn repo(raw: &str) -> Result<RepoSlug, AppError> {
    field("github_repo", RepoSlug::parse(raw.trim()))
}

fn branch(raw: Option<&str>) -> Result<Option<BranchName>, AppError> {
    raw.filter(|b| !b.is_empty())
        .map(|b| field("branch", BranchName::parse(b)))
        .transpose()
}

/// The project name, or one derived from the repository's name.
fn project_name(raw: Option<&str>, repo: &RepoSlug) -> Result<ServiceName, AppError> {
    match raw.filter(|n| !n.is_empty()) {
        Some(name) => field("project_name", ServiceName::parse(name)),
        None => ServiceName::from_repo_name(repo.name()).ok_or_else(|| {
            AppError::invalid(
                "project_name",
                "cannot be derived from the repository name: set one",
            )
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    pub(crate) github_repo: String,
    #[serde(default)]
    pub(crate) branch: Option<String>,
    #[serde(default)]
    pub(crate) project_name: Option<String>,
    #[serde(default)]
    pub(crate) env_keys: Vec<String>,
}

/// Validates a plan request (shared with the dashboard's Preview form).
pub(crate) fn plan_request(body: PlanBody) -> Result<PlanRequest, AppError> {
    let repo = repo(&body.github_repo)?;
    Ok(PlanRequest {
        branch: branch(body.branch.as_deref())?,
        project_name: project_name(body.project_name.as_deref(), &repo)?,
        user_env_keys: body
            .env_keys
            .iter()
            .map(|k| field("env_keys", EnvVarKey::parse(k)))
            .collect::<Result<_, _>>()?,
        repo,
    })
}

pub async fn plan(
    State(state): State<AppState>,
    Auth { session, .. }: Auth,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Json<Plan>, ApiError> {
    let request = plan_request(body)?;
    // Planning reads the repo with the user's GitHub token; the Render key
    // is needed only to deploy.
    AppState::require_render_key(&session)?;
    Ok(Json(state.plan(&session, request).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVarBody {
    pub(crate) key: String,
    pub(crate) value: secrecy::SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    service: String,
    #[serde(flatten)]
    overrides: Overrides,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    pub(crate) github_repo: String,
    #[serde(default)]
    pub(crate) project_name: Option<String>,
    #[serde(default)]
    pub(crate) branch: Option<String>,
    #[serde(default)]
    pub(crate) env_vars: Vec<EnvVarBody>,
    #[serde(default)]
    pub(crate) region: Option<String>,
    #[serde(default)]
    pub(crate) plan: Option<String>,
    #[serde(default)]
    pub(crate) overrides: Vec<OverrideBody>,
}

/// Validates every field before anything is called upstream.
pub(crate) fn deploy_request(body: DeployBody) -> Result<DeployRequest, AppError> {
    let repo = repo(&body.github_repo)?;
    if body.env_vars.len() > MAX_ENV_VARS {
        return Err(AppError::invalid(
            "env_vars",
            format!("at most {MAX_ENV_VARS} variables"),
        ));
    }
    let mut env_vars = Vec::with_capacity(body.env_vars.len());
    for (i, var) in body.env_vars.into_iter().enumerate() {
        let key = field(&format!("env_vars[{i}].key"), EnvVarKey::parse(&var.key))?;
        if env_vars
            .iter()
            .any(|(k, _): &(EnvVarKey, EnvVarValue)| k == &key)
        {
            return Err(AppError::invalid(
                format!("env_vars[{i}].key"),
                "is given twice",
            ));
        }
        let value = field(
            &format!("env_vars[{i}].value"),
            EnvVarValue::parse(secrecy::ExposeSecret::expose_secret(&var.value)),
        )?;
        env_vars.push((key, value));
    }
    let overrides = body
        .overrides
        .into_iter()
        .map(|o| {
            Ok((
                field("overrides.service", ServiceName::parse(&o.service))?,
                o.overrides,
            ))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(DeployRequest {
        project_name: project_name(body.project_name.as_deref(), &repo)?,
        branch: branch(body.branch.as_deref())?,
        region: body
            .region
            .as_deref()
            .map(|r| field("region", r.parse::<Region>()))
            .transpose()?,
        plan: body
            .plan
            .as_deref()
            .map(|p| field("plan", p.parse::<InstancePlan>()))
            .transpose()?,
        env_vars,
        overrides,
        repo,
    })
}

pub async fn deploy(
    State(state): State<AppState>,
    Auth { session, ctx }: Auth,
    ApiJson(body): ApiJson<DeployBody>,
) -> Result<(StatusCode, Json<DeploymentView>), ApiError> {
    let request = deploy_request(body)?;
    let view = state.deploy(&session, request, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

#[derive(Serialize)]
pub struct ServiceView {
    id: String,
    name: String,
    #[serde(rename = "type")]
    service_type: crate::upstream::render::ServiceType,
    repo: Option<String>,
    branch: Option<String>,
    url: Option<String>,
    dashboard_url: String,
    suspended: bool,
}

pub async fn services(
    State(state): State<AppState>,
    Auth { session, .. }: Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let services: Vec<ServiceView> = state
        .list_services(&session)
        .await?
        .into_iter()
        .map(|s| ServiceView {
            id: s.id,
            name: s.name,
            service_type: s.service_type,
            repo: s.repo,
            branch: s.branch,
            url: s.url,
            dashboard_url: s.dashboard_url,
            suspended: s.suspended,
        })
        .collect();
    Ok(Json(serde_json::json!({ "services": services })))
}

const HISTORY_PAGE: u32 = 50;

pub async fn my_deployments(
    State(state): State<AppState>,
    Auth { session, .. }: Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let deployments: Vec<DeploymentRecord> = state
        .history
        .list_for_user(session.user_id(), HISTORY_PAGE)
        .await
        .map_err(AppError::from)?;
    Ok(Json(serde_json::json!({ "deployments": deployments })))
}

fn deployment_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

pub async fn deployment(
    State(state): State<AppState>,
    Auth { session, .. }: Auth,
    Path(id): Path<String>,
) -> Result<Json<DeploymentView>, ApiError> {
    let id = deployment_id(&id)?;
    Ok(Json(state.deployment_view(&session, id).await?))
}

/// Server-Sent Events: the current state first, then every change, until
/// the deployment reaches a terminal status. A finished deployment (or one
/// tracked by another instance) gets its snapshot and the stream ends; a
/// browser's `EventSource` then reconnects for a fresh one.
pub async fn events(
    State(state): State<AppState>,
    Auth { session, .. }: Auth,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = deployment_id(&id)?;
    // Subscribe before reading the snapshot, so no change falls in between.
    let updates = state.deployments.subscribe(id);
    let view = state.deployment_view(&session, id).await?;
    let finished = view.record.status.is_terminal();
    let snapshot = Event::default()
        .event("snapshot")
        .json_data(&view.record)
        .unwrap_or_else(|_| Event::default().event("snapshot"));
    let first = futures::stream::once(async move { Ok(snapshot) });
    let changes = futures::stream::iter(updates.filter(|_| !finished))
        .flat_map(BroadcastStream::new)
        .filter_map(|item| async move { item.ok() })
        .scan(false, |done, event| {
            let stop = *done;
            *done = event.terminal;
            futures::future::ready((!stop).then_some(event))
        })
        .map(|event| {
            Ok(Event::default()
                .event(if event.terminal { "done" } else { "status" })
                .json_data(&event)
                .unwrap_or_else(|_| Event::default().event("status")))
        });
    Ok(Sse::new(first.chain(changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

//! Deploys: trigger, list (newest first), retrieve. Statuses come from the deploy clock.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use super::model::deploy_json;
use super::{ListQuery, RenderError, RenderKey, json_response, owned_service, owned_service_mut};
use crate::ids;
use crate::state::{AppState, Deploy, DeployStatus};

pub(crate) fn new_deploy(
    service_id: &str,
    created_at: OffsetDateTime,
    started_at: OffsetDateTime,
    phase: Duration,
    fails: bool,
) -> Deploy {
    let id = ids::render_id("dep");
    Deploy {
        commit_id: ids::object_sha(&[service_id.as_bytes(), id.as_bytes()]),
        commit_message: "Update app".to_owned(),
        id,
        created_at,
        started_at,
        phase,
        fails,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TriggerDeploy {
    clear_cache: Option<String>,
    commit_id: Option<String>,
    deploy_mode: Option<String>,
    image_url: Option<String>,
}

impl TriggerDeploy {
    fn parse(body: &[u8]) -> Result<Self, RenderError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let trigger: Self = serde_json::from_slice(body)
            .map_err(|e| RenderError::BadRequest(format!("invalid request body: {e}")))?;
        if trigger
            .clear_cache
            .as_deref()
            .is_some_and(|clear| !matches!(clear, "clear" | "do_not_clear"))
        {
            return Err(RenderError::BadRequest(
                "clearCache must be clear or do_not_clear".into(),
            ));
        }
        match trigger.deploy_mode.as_deref() {
            None | Some("build_and_deploy") => {}
            Some("deploy_only")
                if trigger.commit_id.is_none()
                    && trigger.clear_cache.is_none()
                    && trigger.image_url.is_none() => {}
            Some("deploy_only") => {
                return Err(RenderError::BadRequest(
                    "deployMode deploy_only cannot be combined with commitId, imageUrl or clearCache".into(),
                ));
            }
            Some(other) => {
                return Err(RenderError::BadRequest(format!(
                    "invalid deployMode {other:?}"
                )));
            }
        }
        Ok(trigger)
    }
}

/// 201 with the new deploy; or, while a deploy of the service is still running, queue one
/// behind it (at most one waits) and answer 202 with an empty body, as Render does.
pub(crate) async fn trigger_deploy(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, RenderError> {
    let trigger = TriggerDeploy::parse(&body)?;
    let now = OffsetDateTime::now_utc();
    let mut guard = state.lock();
    let repo = owned_service(&guard, &key, &id)?.repo.clone();
    let fails = guard.repo_fails(repo.as_deref());
    let phase = Duration::from_millis(guard.behavior.phase_ms);
    let service = owned_service_mut(&mut guard, &key, &id)?;
    let latest = service.deploys.len().checked_sub(1);
    let running = latest.map(|i| (i, service.deploy_status(i, now)));
    let (started_at, queued) = match running {
        Some((_, DeployStatus::Queued)) => return Ok(StatusCode::ACCEPTED.into_response()),
        Some((i, status)) if !status.is_terminal() => (service.deploys[i].finished_at(), true),
        _ => (now, false),
    };
    let mut deploy = new_deploy(&id, now, started_at, phase, fails);
    if let Some(commit) = trigger.commit_id {
        deploy.commit_id = commit;
    }
    service.deploys.push(deploy);
    service.updated_at = now;
    if queued {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let index = service.deploys.len() - 1;
    Ok(json_response(
        StatusCode::CREATED,
        deploy_json(service, index, now),
    ))
}

pub(crate) async fn list_deploys(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, RenderError> {
    let query = ListQuery::parse(raw.as_deref())?;
    let now = OffsetDateTime::now_utc();
    let guard = state.lock();
    let service = owned_service(&guard, &key, &id)?;
    // Newest first; positions grow down the list so cursors stay valid as deploys are added.
    let deploys = (0..service.deploys.len())
        .rev()
        .filter(|&i| query.allows("status", Some(service.deploy_status(i, now).as_str())))
        .map(|i| (u64::MAX - i as u64, deploy_json(service, i, now)));
    Ok(json_response(StatusCode::OK, query.page("deploy", deploys)))
}

pub(crate) async fn get_deploy(
    State(state): State<AppState>,
    key: RenderKey,
    Path((id, deploy_id)): Path<(String, String)>,
) -> Result<Response, RenderError> {
    let now = OffsetDateTime::now_utc();
    let guard = state.lock();
    let service = owned_service(&guard, &key, &id)?;
    let index = service
        .deploys
        .iter()
        .position(|d| d.id == deploy_id)
        .ok_or(RenderError::NotFound(deploy_id))?;
    Ok(json_response(
        StatusCode::OK,
        deploy_json(service, index, now),
    ))
}

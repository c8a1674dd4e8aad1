//! Owners, the key's user, and services: list, create, retrieve, delete, suspend, resume.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::model::{CreateService, UpdateService, service_json, slugify};
use super::{
    ListQuery, RenderError, RenderJson, RenderKey, json_response, owned_service, owned_service_mut,
};
use crate::ids;
use crate::state::{AppState, Owner, Service};

fn owner_json(owner: &Owner) -> Value {
    json!({ "id": owner.id, "name": owner.name, "email": owner.email, "type": owner.kind.as_str() })
}

pub(crate) async fn list_owners(
    State(state): State<AppState>,
    key: RenderKey,
    RawQuery(raw): RawQuery,
) -> Result<Response, RenderError> {
    let query = ListQuery::parse(raw.as_deref())?;
    let guard = state.lock();
    // Like Render: the key's user first, then the teams (workspaces) it belongs to.
    let owners = key
        .owners
        .iter()
        .filter_map(|id| guard.owners.get(id))
        .filter(|o| query.allows("name", Some(&o.name)) && query.allows("email", Some(&o.email)))
        .enumerate()
        .map(|(i, o)| (i as u64, owner_json(o)));
    Ok(json_response(StatusCode::OK, query.page("owner", owners)))
}

pub(crate) async fn get_owner(
    State(state): State<AppState>,
    key: RenderKey,
    Path(owner_id): Path<String>,
) -> Result<Response, RenderError> {
    let guard = state.lock();
    let owner = guard
        .owners
        .get(&owner_id)
        .filter(|o| key.reaches(&o.id))
        .ok_or(RenderError::NotFound(owner_id))?;
    Ok(json_response(StatusCode::OK, owner_json(owner)))
}

pub(crate) async fn get_user(
    State(state): State<AppState>,
    key: RenderKey,
) -> Result<Response, RenderError> {
    let guard = state.lock();
    let owner = guard
        .owners
        .get(&key.account_id)
        .ok_or(RenderError::Unauthorized)?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "email": owner.email, "name": owner.name }),
    ))
}

pub(crate) async fn list_services(
    State(state): State<AppState>,
    key: RenderKey,
    RawQuery(raw): RawQuery,
) -> Result<Response, RenderError> {
    let query = ListQuery::parse(raw.as_deref())?;
    let guard = state.lock();
    let services = guard
        .services
        .iter()
        .filter(|(_, s)| key.reaches(&s.owner_id))
        .filter(|(_, s)| {
            query.allows("name", Some(&s.name))
                && query.allows("type", Some(s.kind.as_str()))
                && query.allows("ownerId", Some(&s.owner_id))
                && query.allows("region", s.details.get("region").and_then(Value::as_str))
                && query.allows(
                    "suspended",
                    Some(if s.suspended {
                        "suspended"
                    } else {
                        "not_suspended"
                    }),
                )
        })
        .map(|(seq, s)| (*seq, service_json(s)));
    Ok(json_response(
        StatusCode::OK,
        query.page("service", services),
    ))
}

pub(crate) async fn create_service(
    State(state): State<AppState>,
    key: RenderKey,
    RenderJson(body): RenderJson<CreateService>,
) -> Result<Response, RenderError> {
    let name = body.name.trim().to_owned();
    if name.is_empty() {
        return Err(RenderError::BadRequest("name must not be empty".into()));
    }
    if !key.reaches(&body.owner_id) {
        return Err(RenderError::Forbidden(format!(
            "no access to owner {}",
            body.owner_id
        )));
    }
    if body.repo.is_none() && body.image.is_none() {
        return Err(RenderError::BadRequest(
            "one of repo or image is required".into(),
        ));
    }
    let auto_deploy = match body.auto_deploy.as_deref() {
        None | Some("yes") => "yes",
        Some("no") => "no",
        Some(other) => {
            return Err(RenderError::BadRequest(format!(
                "invalid autoDeploy {other:?}: must be yes or no"
            )));
        }
    };
    let mut env_vars: Vec<(String, String)> = Vec::with_capacity(body.env_vars.len());
    for input in body.env_vars {
        let (k, v) = input.resolve()?;
        if env_vars.iter().any(|(existing, _)| *existing == k) {
            return Err(RenderError::BadRequest(format!(
                "duplicate env var key {k}"
            )));
        }
        env_vars.push((k, v));
    }
    let build_command = body.service_details.build_command();

    let now = OffsetDateTime::now_utc();
    let mut guard = state.lock();
    if guard
        .services
        .values()
        .any(|s| s.owner_id == body.owner_id && s.name == name)
    {
        return Err(RenderError::Conflict(format!(
            "a service named {name} already exists"
        )));
    }
    let mut slug = slugify(&name);
    if guard.services.values().any(|s| s.slug == slug) {
        slug = format!("{slug}-{}", ids::slug_suffix());
    }
    let id = ids::render_id(body.kind.id_prefix());
    let details = body.service_details.into_details(body.kind, &id, &slug)?;
    let fails = guard.repo_fails(body.repo.as_deref());
    let phase = Duration::from_millis(guard.behavior.phase_ms);
    let deploy = super::deploys::new_deploy(&id, now, now, phase, fails);
    let deploy_id = deploy.id.clone();
    let seq = guard.next_service_seq;
    guard.next_service_seq += 1;
    let service = Service {
        id: id.clone(),
        owner_id: body.owner_id,
        name,
        slug,
        kind: body.kind,
        branch: body
            .branch
            .or_else(|| body.repo.as_ref().map(|_| "main".to_owned())),
        repo: body.repo,
        auto_deploy,
        root_dir: body.root_dir.unwrap_or_default(),
        created_at: now,
        updated_at: now,
        suspended: false,
        build_command,
        details,
        env_vars,
        deploys: vec![deploy],
    };
    let body = json!({ "service": service_json(&service), "deployId": deploy_id });
    guard.service_seq.insert(id, seq);
    guard.services.insert(seq, service);
    Ok(json_response(StatusCode::CREATED, body))
}

pub(crate) async fn get_service(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
) -> Result<Response, RenderError> {
    let guard = state.lock();
    let service = owned_service(&guard, &key, &id)?;
    Ok(json_response(StatusCode::OK, service_json(service)))
}

/// `PATCH /v1/services/{id}`: changes settings of an existing service; the next deploy builds
/// with them. The region and the type cannot change (Render has no field for either).
pub(crate) async fn update_service(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
    RenderJson(body): RenderJson<UpdateService>,
) -> Result<Response, RenderError> {
    let auto_deploy = match body.auto_deploy.as_deref() {
        None => None,
        Some("yes") => Some("yes"),
        Some("no") => Some("no"),
        Some(other) => {
            return Err(RenderError::BadRequest(format!(
                "invalid autoDeploy {other:?}: must be yes or no"
            )));
        }
    };
    let name = body.name.map(|n| n.trim().to_owned());
    if name.as_deref().is_some_and(str::is_empty) {
        return Err(RenderError::BadRequest("name must not be empty".into()));
    }
    if body.branch.as_deref().is_some_and(str::is_empty) {
        return Err(RenderError::BadRequest("branch must not be empty".into()));
    }
    let mut guard = state.lock();
    let owner = owned_service(&guard, &key, &id)?.owner_id.clone();
    if let Some(name) = &name
        && guard
            .services
            .values()
            .any(|s| s.owner_id == owner && s.id != id && &s.name == name)
    {
        return Err(RenderError::Conflict(format!(
            "a service named {name} already exists"
        )));
    }
    let service = owned_service_mut(&mut guard, &key, &id)?;
    let mut details = service.details.clone();
    let build = match body.service_details {
        Some(patch) => patch.apply(service.kind, &mut details)?,
        None => None,
    };
    service.details = details;
    if let Some(build) = build {
        service.build_command = build;
    }
    if let Some(name) = name {
        service.name = name;
    }
    if let Some(repo) = body.repo {
        service.repo = Some(repo);
    }
    if let Some(branch) = body.branch {
        service.branch = Some(branch);
    }
    if let Some(root_dir) = body.root_dir {
        service.root_dir = root_dir;
    }
    if let Some(auto_deploy) = auto_deploy {
        service.auto_deploy = auto_deploy;
    }
    service.updated_at = OffsetDateTime::now_utc();
    Ok(json_response(StatusCode::OK, service_json(service)))
}

pub(crate) async fn delete_service(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
) -> Result<Response, RenderError> {
    let mut guard = state.lock();
    owned_service(&guard, &key, &id)?;
    if let Some(seq) = guard.service_seq.remove(&id) {
        guard.services.remove(&seq);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn set_suspended(
    state: &AppState,
    key: &RenderKey,
    id: &str,
    suspended: bool,
) -> Result<Response, RenderError> {
    let mut guard = state.lock();
    let service = owned_service_mut(&mut guard, key, id)?;
    service.suspended = suspended;
    service.updated_at = OffsetDateTime::now_utc();
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(crate) async fn suspend_service(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
) -> Result<Response, RenderError> {
    set_suspended(&state, &key, &id, true)
}

pub(crate) async fn resume_service(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
) -> Result<Response, RenderError> {
    set_suspended(&state, &key, &id, false)
}

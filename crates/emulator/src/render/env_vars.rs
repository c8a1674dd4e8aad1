//! A service's own environment variables.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::model::{EnvVarInput, EnvVarValueInput};
use super::{
    ListQuery, RenderError, RenderJson, RenderKey, json_response, owned_service, owned_service_mut,
};
use crate::state::{AppState, Service};

fn list_json(service: &Service, query: &ListQuery) -> serde_json::Value {
    let vars = service
        .env_vars
        .iter()
        .enumerate()
        .map(|(i, (key, value))| (i as u64, json!({ "key": key, "value": value })));
    query.page("envVar", vars)
}

pub(crate) async fn list_env_vars(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, RenderError> {
    let query = ListQuery::parse(raw.as_deref())?;
    let guard = state.lock();
    let service = owned_service(&guard, &key, &id)?;
    Ok(json_response(StatusCode::OK, list_json(service, &query)))
}

/// Replaces the whole set: keys left out are removed. Answers with the full new list.
pub(crate) async fn replace_env_vars(
    State(state): State<AppState>,
    key: RenderKey,
    Path(id): Path<String>,
    RenderJson(inputs): RenderJson<Vec<EnvVarInput>>,
) -> Result<Response, RenderError> {
    let mut vars: Vec<(String, String)> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let (k, v) = input.resolve()?;
        if vars.iter().any(|(existing, _)| *existing == k) {
            return Err(RenderError::BadRequest(format!(
                "duplicate env var key {k}"
            )));
        }
        vars.push((k, v));
    }
    let mut guard = state.lock();
    let service = owned_service_mut(&mut guard, &key, &id)?;
    service.env_vars = vars;
    Ok(json_response(
        StatusCode::OK,
        list_json(service, &ListQuery::everything()),
    ))
}

pub(crate) async fn get_env_var(
    State(state): State<AppState>,
    key: RenderKey,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, RenderError> {
    let guard = state.lock();
    let service = owned_service(&guard, &key, &id)?;
    let (k, v) = service
        .env_vars
        .iter()
        .find(|(k, _)| *k == name)
        .ok_or(RenderError::NotFound(name))?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "key": k, "value": v }),
    ))
}

/// Adds the variable or updates its value in place.
pub(crate) async fn put_env_var(
    State(state): State<AppState>,
    key: RenderKey,
    Path((id, name)): Path<(String, String)>,
    RenderJson(input): RenderJson<EnvVarValueInput>,
) -> Result<Response, RenderError> {
    let value = input.resolve(&name)?;
    let mut guard = state.lock();
    let service = owned_service_mut(&mut guard, &key, &id)?;
    match service.env_vars.iter_mut().find(|(k, _)| *k == name) {
        Some((_, existing)) => existing.clone_from(&value),
        None => service.env_vars.push((name.clone(), value.clone())),
    }
    Ok(json_response(
        StatusCode::OK,
        json!({ "key": name, "value": value }),
    ))
}

pub(crate) async fn delete_env_var(
    State(state): State<AppState>,
    key: RenderKey,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, RenderError> {
    let mut guard = state.lock();
    let service = owned_service_mut(&mut guard, &key, &id)?;
    let before = service.env_vars.len();
    service.env_vars.retain(|(k, _)| *k != name);
    if service.env_vars.len() == before {
        return Err(RenderError::NotFound(name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

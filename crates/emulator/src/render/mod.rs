//! Render's REST API v1 (mounted under `/v1`): owners, services, deploys, env vars, logs.

pub(crate) mod deploys;
pub(crate) mod env_vars;
pub(crate) mod logs;
pub(crate) mod model;
pub(crate) mod services;

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::state::{AppState, Service, State as EmuState};

/// Render API errors; all answer with Render's `{"message": ...}` shape.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error("unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
}

impl IntoResponse for RenderError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
        };
        error_response(status, &self.to_string())
    }
}

pub(crate) fn json_response(status: StatusCode, value: Value) -> Response {
    let mut response = (status, Json(value)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "message": message }))
}

/// 429 as Render sends it: the error shape, an exhausted `Ratelimit-*` budget and
/// `Retry-After` (seconds until the window resets).
pub(crate) fn rate_limited_response(retry_after_s: u64) -> Response {
    let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
    let headers = response.headers_mut();
    let seconds = HeaderValue::from(retry_after_s);
    headers.insert("ratelimit-limit", HeaderValue::from_static("400"));
    headers.insert("ratelimit-remaining", HeaderValue::from_static("0"));
    headers.insert("ratelimit-reset", seconds.clone());
    headers.insert(header::RETRY_AFTER, seconds);
    response
}

/// The account a valid `Authorization: Bearer rnd_…` key belongs to, and the workspaces
/// (owners) it reaches: the account's own user owner first, then its teams in creation order.
pub(crate) struct RenderKey {
    pub(crate) account_id: String,
    pub(crate) owners: Vec<String>,
}

impl RenderKey {
    /// Whether this key may act in workspace `owner_id`.
    pub(crate) fn reaches(&self, owner_id: &str) -> bool {
        self.owners.iter().any(|o| o == owner_id)
    }
}

impl FromRequestParts<AppState> for RenderKey {
    type Rejection = RenderError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or(RenderError::Unauthorized)?;
        let guard = state.lock();
        let account_id = guard
            .render_keys
            .get(key)
            .cloned()
            .ok_or(RenderError::Unauthorized)?;
        let owners = std::iter::once(account_id.clone())
            .chain(
                guard
                    .workspaces
                    .get(&account_id)
                    .into_iter()
                    .flatten()
                    .cloned(),
            )
            .collect();
        Ok(Self { account_id, owners })
    }
}

/// `Json<T>` whose rejections come back in Render's error shape.
pub(crate) struct RenderJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for RenderJson<T> {
    type Rejection = RenderError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| Self(value))
            .map_err(|rejection| RenderError::BadRequest(rejection.body_text()))
    }
}

/// The service `id` if it belongs to a workspace `key` reaches; another workspace's service is
/// reported as missing, so ids cannot be probed across workspaces.
pub(crate) fn owned_service<'s>(
    state: &'s EmuState,
    key: &RenderKey,
    id: &str,
) -> Result<&'s Service, RenderError> {
    state
        .service(id)
        .filter(|s| key.reaches(&s.owner_id))
        .ok_or_else(|| RenderError::NotFound(id.to_owned()))
}

pub(crate) fn owned_service_mut<'s>(
    state: &'s mut EmuState,
    key: &RenderKey,
    id: &str,
) -> Result<&'s mut Service, RenderError> {
    state
        .service_mut(id)
        .filter(|s| key.reaches(&s.owner_id))
        .ok_or_else(|| RenderError::NotFound(id.to_owned()))
}

/// `limit`, `cursor` and the array filters of a list call (comma-separated or repeated).
pub(crate) struct ListQuery {
    pub(crate) limit: usize,
    /// Position after which the page starts.
    pub(crate) after: Option<u64>,
    filters: HashMap<String, Vec<String>>,
}

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

impl ListQuery {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, RenderError> {
        let mut limit = DEFAULT_LIMIT;
        let mut after = None;
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            RenderError::BadRequest(
                                "limit must be an integer between 1 and 100".into(),
                            )
                        })?;
                }
                "cursor" => {
                    after = Some(
                        decode_cursor(&value)
                            .ok_or_else(|| RenderError::BadRequest("invalid cursor".into()))?,
                    );
                }
                _ => filters.entry(key.into_owned()).or_default().extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                ),
            }
        }
        Ok(Self {
            limit,
            after,
            filters,
        })
    }

    /// No paging and no filters: for answers that carry the whole collection.
    pub(crate) fn everything() -> Self {
        Self {
            limit: usize::MAX,
            after: None,
            filters: HashMap::new(),
        }
    }

    pub(crate) fn filter(&self, name: &str) -> Option<&[String]> {
        self.filters
            .get(name)
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }

    /// Does `value` pass the filter `name` (absent filter: everything passes)?
    pub(crate) fn allows(&self, name: &str, value: Option<&str>) -> bool {
        self.filter(name)
            .is_none_or(|wanted| value.is_some_and(|v| wanted.iter().any(|w| w == v)))
    }

    /// One page of `items` (position, resource), wrapped as `[{<noun>: resource, cursor}]`.
    pub(crate) fn page(&self, noun: &str, items: impl Iterator<Item = (u64, Value)>) -> Value {
        let page: Vec<Value> = items
            .filter(|(position, _)| self.after.is_none_or(|after| *position > after))
            .take(self.limit)
            .map(
                |(position, resource)| json!({ noun: resource, "cursor": encode_cursor(position) }),
            )
            .collect();
        Value::Array(page)
    }
}

/// Cursors are opaque base64, like Render's (`cfQ74cE2sDI=`).
fn encode_cursor(position: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(position.to_be_bytes())
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("not base64!"), None);
    }

    #[test]
    fn list_query_reads_commas_and_bounds_limit() {
        let q = ListQuery::parse(Some("type=web_service,static_site&limit=5")).expect("valid");
        assert_eq!(q.limit, 5);
        assert!(q.allows("type", Some("static_site")));
        assert!(!q.allows("type", Some("cron_job")));
        assert!(q.allows("name", None));
        assert!(ListQuery::parse(Some("limit=0")).is_err());
        assert!(ListQuery::parse(Some("limit=101")).is_err());
    }
}

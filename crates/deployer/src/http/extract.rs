//! Extractors: the request context, the caller's session, and our own JSON
//! body extractor so every bad body gets our error shape.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::account::Presented;
use crate::app::AppState;
use crate::context::RequestContext;
use crate::credentials::{GitHubToken, SessionToken};
use crate::session::{ActiveSession, client_hash};

pub const REQUEST_ID: &str = "x-request-id";

/// The client address: the socket peer, or the last `X-Forwarded-For` hop
/// when TRUST_PROXY says a proxy in front of us sets it.
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> IpAddr {
    let forwarded = trust_proxy
        .then(|| parts.headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse().ok());
    forwarded.unwrap_or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip())
    })
}

pub fn context(parts: &Parts, state: &AppState) -> RequestContext {
    RequestContext {
        request_id: parts
            .headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned(),
        client_ip: client_ip(parts, state.config.trust_proxy),
        route: parts
            .extensions
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str)
            .to_owned(),
        client_hash: client_hash(
            parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        ),
    }
}

/// What credential the request carries. A bearer header wins over a cookie:
/// it is never ambient, so it needs no CSRF check.
pub fn presented(parts: &Parts, state: &AppState) -> Presented {
    if let Some(auth) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        return auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| GitHubToken::parse(t.trim()))
            .map_or(Presented::Malformed, Presented::Bearer);
    }
    let jar = CookieJar::from_headers(&parts.headers);
    jar.get(state.config.cookies.session_cookie_name())
        .and_then(|c| SessionToken::parse(c.value()))
        .map_or(Presented::Nothing, Presented::Cookie)
}

/// Request facts for audit events and limits.
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Ctx(context(parts, state)))
    }
}

/// A caller with a live session (cookie or bearer). CSRF for cookie
/// requests is checked by the `csrf` middleware before this runs.
pub struct Auth {
    pub session: ActiveSession,
    pub ctx: RequestContext,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ctx = context(parts, state);
        let session = state.authenticate(presented(parts, state), &ctx).await?;
        Ok(Auth { session, ctx })
    }
}

/// JSON body: `application/json` only (415), malformed 400, over the body
/// limit 413, all in the JSON error shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as application/json.",
        ),
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            data_error_message(&e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "body: malformed JSON",
        ),
        JsonRejection::BytesRejection(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large (64 KiB at most).",
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "body: unreadable",
        ),
    }
}

/// serde's messages can quote the offending value ("invalid type: string
/// \"rnd_…\""), and a field name or map key is whatever the client sent (a
/// key pasted as a name), so only names that look like our own fields
/// (lower-case identifiers) and list indices are repeated.
fn data_error_message(text: &str) -> String {
    let detail = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let named = |marker: &str| {
        detail.find(marker).and_then(|start| {
            let rest = &detail[start + marker.len()..];
            rest.find('`').map(|end| rest[..end].to_owned())
        })
    };
    if let Some(field) = named("missing field `") {
        return format!("{}: is required", safe_path(&field));
    }
    if let Some(field) = named("unknown field `") {
        return match safe_path(&field).as_str() {
            "body" => "body: has a field that is not known".to_owned(),
            field => format!("{field}: is not a known field"),
        };
    }
    match detail.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => {
            format!("{}: has the wrong type or value", safe_path(path))
        }
        _ => "body: a field has the wrong type or value".to_owned(),
    }
}

/// The leading part of a serde path (`env_vars[0].value`) made only of
/// lower-case identifiers and indices; `body` when nothing is left.
fn safe_path(path: &str) -> String {
    let identifier = |segment: &str| {
        (1..=32).contains(&segment.len())
            && segment.starts_with(|c: char| c.is_ascii_lowercase())
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let index = |segment: &str| {
        segment
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut kept = String::new();
    for segment in path.split('.') {
        let (name, indices) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        if !identifier(name) {
            break;
        }
        let indices: Vec<String> = indices.split_inclusive(']').map(str::to_owned).collect();
        if !indices.iter().all(|i| index(i)) {
            break;
        }
        if !kept.is_empty() {
            kept.push('.');
        }
        kept.push_str(name);
        kept.push_str(&indices.concat());
    }
    if kept.is_empty() {
        "body".to_owned()
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::data_error_message;

    #[test]
    fn data_errors_name_the_field_but_never_quote_the_value() {
        let m = data_error_message(
            "Failed to deserialize the JSON body into the target type: env_vars[0].value: invalid type: integer `5`, expected a string \"rnd_secret\" at line 1",
        );
        assert_eq!(m, "env_vars[0].value: has the wrong type or value");
        let m = data_error_message(
            "Failed to deserialize the JSON body into the target type: missing field `github_repo` at line 1 column 2",
        );
        assert_eq!(m, "github_repo: is required");
    }

    #[test]
    fn names_the_client_chose_are_not_repeated() {
        let key = "rnd_q2krBvRj1QS0JRWBTLMmDOsfiPtTICUC";
        let m = data_error_message(&format!(
            "Failed to deserialize the JSON body into the target type: unknown field `{key}`, expected `api_key` or `owner_id` at line 1 column 50"
        ));
        assert_eq!(m, "body: has a field that is not known");
        let m = data_error_message(
            "Failed to deserialize the JSON body into the target type: unknown field `ownr_id`, expected `api_key` or `owner_id`",
        );
        assert_eq!(m, "ownr_id: is not a known field");
        let m = data_error_message(&format!(
            "Failed to deserialize the JSON body into the target type: env_vars[0].{key}: invalid type"
        ));
        assert_eq!(m, "env_vars[0]: has the wrong type or value");
        let m = data_error_message(&format!(
            "Failed to deserialize the JSON body into the target type: plan.services[{key}].name: invalid type"
        ));
        assert_eq!(m, "plan: has the wrong type or value");
    }
}

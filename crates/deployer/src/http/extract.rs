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
/// \"rnd_…\""), and an unknown field's name or a map key is the client's
/// own text (a pasted key, say). So only our own names are kept: the field
/// path up to its first segment that is not one of our snake_case names,
/// and the list of fields serde expected.
fn data_error_message(text: &str) -> String {
    let detail = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let (path, detail) = match detail.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (our_path(path), rest),
        _ => (String::new(), detail),
    };
    let at = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let named = |marker: &str| {
        detail.find(marker).and_then(|start| {
            let rest = &detail[start + marker.len()..];
            rest.find('`').map(|end| rest[..end].to_owned())
        })
    };
    if let Some(field) = named("missing field `") {
        return format!("{}: is required", at(&field));
    }
    if detail.contains("unknown field `") {
        let expected = detail
            .split_once(", expected ")
            .map(|(_, list)| {
                list.split(" at line")
                    .next()
                    .unwrap_or(list)
                    .replace('`', "")
            })
            .unwrap_or_default();
        let place = if path.is_empty() { "body" } else { &path };
        return if expected.is_empty() {
            format!("{place}: has a field that is not known")
        } else {
            format!("{place}: has a field that is not known (expected {expected})")
        };
    }
    if path.is_empty() {
        "body: a field has the wrong type or value".to_owned()
    } else {
        format!("{path}: has the wrong type or value")
    }
}

/// The leading segments of a serde path that are our own field names
/// (`env_vars[0].value`), cut before any segment from the client (a map key).
fn our_path(path: &str) -> String {
    let mut kept = String::new();
    for segment in path.split('.') {
        let name = segment.split('[').next().unwrap_or(segment);
        // Our names are short lowercase words; a credential is long and
        // mixes case and digits.
        let ours = !name.is_empty()
            && name.len() <= 24
            && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            && segment[name.len()..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'[' || b == b']');
        if !ours {
            break;
        }
        if !kept.is_empty() {
            kept.push('.');
        }
        kept.push_str(segment);
    }
    kept
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
    fn client_text_in_field_names_and_map_keys_is_never_echoed() {
        let m = data_error_message(
            "Failed to deserialize the JSON body into the target type: unknown field `rnd_Canary123xYz`, expected `api_key` or `owner_id` at line 1 column 20",
        );
        assert_eq!(
            m,
            "body: has a field that is not known (expected api_key or owner_id)"
        );
        let m = data_error_message(
            "env_vars.rnd_Canary123xYz: invalid type: integer `5`, expected a string at line 1",
        );
        assert_eq!(m, "env_vars: has the wrong type or value");
        let m = data_error_message(
            "overrides: unknown field `rnd_Canary123xYz`, expected one of `plan`, `region` at line 1",
        );
        assert_eq!(
            m,
            "overrides: has a field that is not known (expected one of plan, region)"
        );
    }
}

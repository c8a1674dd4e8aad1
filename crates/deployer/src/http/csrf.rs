//! CSRF defence for cookie-authenticated requests that change state:
//! 1. the browser's own signals: `Origin` must be ours (or an allowed CORS
//!    origin) and `Sec-Fetch-Site` must not be cross-site;
//! 2. a synchronizer token, `HMAC(SECRET_KEY, "csrf" || session token)`,
//!    sent as `X-CSRF-Token` or as the `csrf_token` field of a form.
//!
//! Bearer requests carry no ambient credential and are not checked.

use std::collections::HashMap;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::MAX_BODY_BYTES;
use super::error::ApiError;
use super::extract::{context, presented};
use super::pages::MessagePage;
use crate::account::Presented;
use crate::app::AppState;
use crate::db::audit::{AuditKind, AuditStatus, ReasonCode};

pub const HEADER: &str = "x-csrf-token";
pub const FORM_FIELD: &str = "csrf_token";

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_safe(request.method()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Presented::Cookie(token) = presented(&parts, &state) else {
        // Bearer, or no credential at all (the handler answers 401).
        return next.run(Request::from_parts(parts, body)).await;
    };
    let reject = |reason: &'static str| {
        let ctx = context(&parts, &state);
        let mut event = ctx.event(None, AuditKind::CsrfRejected, AuditStatus::Denied);
        event.details.reason = Some(match reason {
            "cross_origin" => ReasonCode::new("cross_origin"),
            "missing_token" => ReasonCode::new("missing_token"),
            _ => ReasonCode::new("bad_token"),
        });
        state.audit.record(event);
        if parts.uri.path().starts_with("/api/") {
            ApiError::csrf().into_response()
        } else {
            // A page form: answer with a page, not JSON.
            MessagePage {
                title: "The form could not be verified",
                message: "This form was older than your session, or came from another site. Nothing was changed. Go back, reload the page and submit again.",
                next_href: "/dashboard",
                next_label: "Back to the dashboard",
                refresh_to: None,
            }
            .respond(axum::http::StatusCode::FORBIDDEN)
        }
    };

    let origin_ok = parts.headers.get(header::ORIGIN).is_none_or(|origin| {
        let origin = origin.to_str().unwrap_or("");
        origin == state.config.public_origin()
            || state
                .config
                .cors_allowed_origins
                .iter()
                .any(|o| o == origin)
    });
    let fetch_site_ok = parts
        .headers
        .get("sec-fetch-site")
        .is_none_or(|v| matches!(v.as_bytes(), b"same-origin" | b"none"));
    if !origin_ok || !fetch_site_ok {
        return reject("cross_origin");
    }

    let header_token = parts
        .headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));

    let (provided, body) = match header_token {
        Some(t) => (Some(t), body),
        None if is_form => {
            // Forms from our pages carry the token as a field; the body is
            // read here (bounded) and handed on unchanged.
            let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
                return ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "The request body is too large (64 KiB at most).",
                )
                .into_response();
            };
            let field = serde_urlencoded::from_bytes::<HashMap<String, String>>(&bytes)
                .ok()
                .and_then(|mut m| m.remove(FORM_FIELD));
            (field, Body::from(bytes))
        }
        None => (None, body),
    };
    match provided {
        None => reject("missing_token"),
        Some(t) if state.sessions.vault().csrf_matches(token.secret(), &t) => {
            next.run(Request::from_parts(parts, body)).await
        }
        Some(_) => reject("bad_token"),
    }
}

//! The one place where errors become HTTP answers:
//! `{"error": {"code": "<stable_code>", "message": "<human text>"}}`.
//! The internal cause is logged here once; the client gets a safe message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{AppError, AuthFailure};
use crate::session::SessionError;
use crate::upstream::{UnavailableReason, Upstream, UpstreamError};

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

/// An error answer: status, stable code, human message, optional Retry-After.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource.")
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "The request could not be verified. Reload the page and try again.",
        )
    }
}

fn upstream_name(upstream: Upstream) -> &'static str {
    match upstream {
        Upstream::GitHub => "GitHub",
        Upstream::Render => "Render",
    }
}

fn from_upstream(error: &UpstreamError) -> ApiError {
    match error {
        UpstreamError::RateLimited {
            upstream,
            retry_after,
        } => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "upstream_unavailable",
            message: format!(
                "{} is rate limiting requests from your account. Wait a moment and try again.",
                upstream_name(*upstream)
            ),
            retry_after: Some(retry_after.map_or(30, |d| d.as_secs().max(1))),
        },
        UpstreamError::Unavailable { upstream, reason } => {
            let status = if *reason == UnavailableReason::Timeout {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            ApiError::new(
                status,
                "upstream_unavailable",
                format!(
                    "{} is not answering properly right now. Nothing was changed; try again in a minute.",
                    upstream_name(*upstream)
                ),
            )
        }
        UpstreamError::Unauthorized(Upstream::GitHub) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "GitHub authentication required",
        ),
        UpstreamError::Unauthorized(Upstream::Render)
        | UpstreamError::Forbidden(Upstream::Render) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "render_key_invalid",
            "Render rejected your API key. Set it up again from the dashboard.",
        ),
        UpstreamError::NotFound(_) => ApiError::not_found(),
        UpstreamError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "Render reported a conflict with an existing resource.",
        ),
        UpstreamError::Forbidden(Upstream::GitHub) | UpstreamError::Rejected { .. } => {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "The upstream service refused the request. Nothing was changed.",
            )
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match &error {
            AppError::Upstream(_) | AppError::Session(_) | AppError::Db(_) => {
                tracing::warn!(error = %error, "request failed");
            }
            _ => tracing::debug!(error = %error, "request refused"),
        }
        match error {
            AppError::Unauthenticated(AuthFailure::Expired) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "GitHub authentication required: your session expired, log in again",
            ),
            AppError::Unauthenticated(_) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "GitHub authentication required",
            ),
            AppError::CsrfFailed => ApiError::csrf(),
            AppError::RenderKeyMissing => ApiError::new(
                StatusCode::BAD_REQUEST,
                "render_key_missing",
                "Render API key not configured",
            ),
            AppError::RenderKeyUnverified => ApiError::new(
                StatusCode::BAD_REQUEST,
                "render_key_unverified",
                "Render API key not verified",
            ),
            AppError::RenderKeyInvalid(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "render_key_invalid", message)
            }
            AppError::InvalidRequest { field, message } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("{field}: {message}"),
            ),
            AppError::RepoNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "repo_not_found",
                "Repository not found, or your GitHub account cannot read it.",
            ),
            AppError::NotFound => ApiError::not_found(),
            AppError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            AppError::RateLimited { retry_after } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "rate_limited",
                message: "Too many attempts. Wait before trying again.".into(),
                retry_after: Some(retry_after.as_secs().max(1)),
            },
            AppError::LoginFailed(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "login_failed",
                "GitHub login failed. Start again from the login button.",
            ),
            AppError::Upstream(e) => from_upstream(&e),
            AppError::Session(SessionError::Ended) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "GitHub authentication required: this session was ended, log in again",
            ),
            AppError::Session(_) | AppError::Db(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is having trouble with its storage. Try again shortly.",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

//! The domain's error type. The HTTP layer maps it to the JSON error shape
//! in exactly one place (`http::error`). No variant carries a credential or
//! an upstream body.

use std::time::Duration;

use crate::db::DbError;
use crate::session::SessionError;
use crate::upstream::UpstreamError;

/// Why a request has no usable identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No cookie, no bearer, or an unknown/ended session.
    Missing,
    /// The session passed its idle or absolute limit.
    Expired,
    /// The bearer token was refused by GitHub.
    BadToken,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not authenticated ({0:?})")]
    Unauthenticated(AuthFailure),
    #[error("CSRF check failed")]
    CsrfFailed,
    #[error("Render API key not configured")]
    RenderKeyMissing,
    #[error("Render API key not verified")]
    RenderKeyUnverified,
    #[error("Render API key invalid: {0}")]
    RenderKeyInvalid(&'static str),
    #[error("invalid {field}: {message}")]
    InvalidRequest { field: String, message: String },
    #[error("repository not found")]
    RepoNotFound,
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    #[error("GitHub login failed: {0}")]
    LoginFailed(&'static str),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        AppError::InvalidRequest {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

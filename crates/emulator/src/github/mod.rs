//! The GitHub side: the OAuth App web flow and the REST endpoints deployer reads.

pub(crate) mod api;
pub(crate) mod oauth;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const DOCS_URL: &str = "https://docs.github.com/rest";

/// GitHub REST errors, each with the status and message GitHub uses.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GithubError {
    #[error("Bad credentials")]
    BadCredentials,
    #[error("Requires authentication")]
    RequiresAuthentication,
    #[error("Not Found")]
    NotFound,
    #[error("This repository is empty.")]
    EmptyRepository,
    #[error("Git Repository is empty.")]
    EmptyGitRepository,
    #[error("No commit found for the ref {0}")]
    NoCommitForRef(String),
    #[error("missing User-Agent")]
    MissingUserAgent,
}

impl GithubError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadCredentials | Self::RequiresAuthentication => StatusCode::UNAUTHORIZED,
            Self::NotFound | Self::EmptyRepository | Self::NoCommitForRef(_) => {
                StatusCode::NOT_FOUND
            }
            Self::EmptyGitRepository => StatusCode::CONFLICT,
            Self::MissingUserAgent => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for GithubError {
    fn into_response(self) -> Response {
        if let Self::MissingUserAgent = self {
            // GitHub's edge answers this one with HTML, not the API's JSON error.
            return (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "Request forbidden by administrative rules. Please make sure your request has a \
                 User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). \
                 Check https://developer.github.com for other possible causes.\n",
            )
                .into_response();
        }
        error_response(self.status(), &self.to_string())
    }
}

/// `{"message","documentation_url","status"}` — `status` is a string, as GitHub sends it.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": DOCS_URL,
        "status": status.as_u16().to_string(),
    });
    let mut response = (status, Json(body)).into_response();
    set_json_content_type(&mut response);
    response
}

/// A primary-limit rejection: 429 with `retry-after` and an exhausted budget.
pub(crate) fn rate_limited_response() -> Response {
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "API rate limit exceeded for user ID 1.",
    );
    let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 60;
    let headers = response.headers_mut();
    headers.insert("retry-after", HeaderValue::from_static("60"));
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    headers.insert("x-ratelimit-used", HeaderValue::from_static("5000"));
    if let Ok(value) = HeaderValue::from_str(&reset.to_string()) {
        headers.insert("x-ratelimit-reset", value);
    }
    response
}

pub(crate) fn set_json_content_type(response: &mut Response) {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
}

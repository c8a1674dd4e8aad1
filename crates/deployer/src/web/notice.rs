//! Messages shown at the top of a page: what happened and what to do next.
//! Errors go through the API's one mapping (`ApiError::from`) and gain a
//! next step per stable code, so pages and API never disagree.

use axum::http::StatusCode;

use crate::error::AppError;
use crate::http::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Error,
}

impl Tone {
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Info => "info",
            Tone::Error => "error",
        }
    }

    /// The ARIA role: errors interrupt, information waits its turn.
    pub fn role(self) -> &'static str {
        match self {
            Tone::Info => "status",
            Tone::Error => "alert",
        }
    }
}

impl std::fmt::Display for Tone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub tone: Tone,
    pub title: String,
    pub text: String,
    pub next: String,
}

impl Notice {
    pub fn info(title: &str, text: &str, next: &str) -> Self {
        Self {
            tone: Tone::Info,
            title: title.to_owned(),
            text: text.to_owned(),
            next: next.to_owned(),
        }
    }

    /// The page message and HTTP status for a failed action.
    pub fn from_error(error: AppError) -> (StatusCode, Self) {
        let api = ApiError::from(error);
        let (title, next) = match api.code {
            "unauthenticated" => ("Please log in", "Log in with GitHub again to continue."),
            "csrf_failed" => (
                "The form could not be verified",
                "Reload the page and submit the form again.",
            ),
            "render_key_missing" => (
                "No Render API key yet",
                "Paste your Render API key in the form below first.",
            ),
            "render_key_unverified" | "render_key_invalid" => (
                "Render API key not accepted",
                "Copy a current key from Render's Account Settings → API Keys and paste it below.",
            ),
            "invalid_request" => ("Check the form", "Correct that field and submit again."),
            "repo_not_found" => (
                "Repository not available",
                "Check the owner/name spelling and that your GitHub account can read the repository.",
            ),
            "conflict" => (
                "Name already taken",
                "Choose another service name, or deploy the repository that service was created from.",
            ),
            "rate_limited" => ("Too many attempts", ""),
            "upstream_unavailable" => ("Render or GitHub is not answering", ""),
            "not_found" => (
                "Not found",
                "Go back to the dashboard and pick from your deployment history.",
            ),
            _ => ("Something went wrong", "Try again in a minute."),
        };
        let next = match (next, api.retry_after) {
            ("", Some(seconds)) => format!("Wait {seconds} seconds, then try again."),
            ("", None) => "Try again in a minute; nothing was changed.".to_owned(),
            (next, _) => next.to_owned(),
        };
        let notice = Self {
            tone: Tone::Error,
            title: title.to_owned(),
            text: api.message,
            next,
        };
        (api.status, notice)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::upstream::{UnavailableReason, Upstream, UpstreamError};

    #[test]
    fn every_error_says_what_to_do_next() {
        let cases = [
            (
                AppError::RenderKeyInvalid("Render rejected this API key"),
                StatusCode::BAD_REQUEST,
                "Account Settings",
            ),
            (
                AppError::RateLimited {
                    retry_after: Duration::from_secs(42),
                },
                StatusCode::TOO_MANY_REQUESTS,
                "Wait 42 seconds",
            ),
            (
                AppError::Upstream(UpstreamError::Unavailable {
                    upstream: Upstream::Render,
                    reason: UnavailableReason::Timeout,
                }),
                StatusCode::GATEWAY_TIMEOUT,
                "Try again",
            ),
            (AppError::RepoNotFound, StatusCode::NOT_FOUND, "owner/name"),
            (
                AppError::Unauthenticated(crate::error::AuthFailure::Expired),
                StatusCode::UNAUTHORIZED,
                "Log in",
            ),
        ];
        for (error, status, hint) in cases {
            let (got, notice) = Notice::from_error(error);
            assert_eq!(got, status);
            assert_eq!(notice.tone, Tone::Error);
            assert!(!notice.text.is_empty());
            assert!(
                notice.next.contains(hint),
                "{:?} should contain {hint:?}",
                notice.next
            );
        }
    }
}

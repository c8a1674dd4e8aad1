//! Clients for the two upstreams, GitHub and Render, and their shared error type.

use std::time::Duration;

pub mod github;
pub mod render;
mod transport;

pub use github::{GitHubApi, GitHubClient, GitHubRepoSource, GitHubUser, RepoInfo};
pub use render::{RenderApi, RenderClient};

/// Which upstream answered; used in errors, logs and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    GitHub,
    Render,
}

impl Upstream {
    pub fn as_str(self) -> &'static str {
        match self {
            Upstream::GitHub => "github",
            Upstream::Render => "render",
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong talking to an upstream. Never carries a credential or an
/// upstream response body: only facts safe to log.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// 401: the credential is unknown, revoked or malformed.
    #[error("{0} rejected the credential")]
    Unauthorized(Upstream),
    /// 403 that is not a rate limit.
    #[error("{0} refused access")]
    Forbidden(Upstream),
    #[error("{0} resource not found")]
    NotFound(Upstream),
    #[error("{0} reported a conflict")]
    Conflict(Upstream),
    /// 429 (or GitHub's 403 with `x-ratelimit-remaining: 0`).
    #[error("{upstream} rate limited the request")]
    RateLimited {
        upstream: Upstream,
        retry_after: Option<Duration>,
    },
    /// Other 4xx: our request was refused; the status is kept, the body is not.
    #[error("{upstream} rejected the request with status {status}")]
    Rejected { upstream: Upstream, status: u16 },
    /// Down, slow (timeout), 5xx, dropped connection or an answer we cannot parse.
    #[error("{upstream} unavailable: {reason}")]
    Unavailable {
        upstream: Upstream,
        reason: UnavailableReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnavailableReason {
    Timeout,
    Connect,
    ServerError,
    Malformed,
}

impl std::fmt::Display for UnavailableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnavailableReason::Timeout => "timeout",
            UnavailableReason::Connect => "connection failed",
            UnavailableReason::ServerError => "server error",
            UnavailableReason::Malformed => "malformed response",
        })
    }
}

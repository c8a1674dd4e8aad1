//! The emulator's shared state. One `Mutex` guards everything; handlers hold it briefly and
//! never across an `.await`, so every answer sees a consistent snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use crate::control::{Behavior, Fault, LoggedRequest, OAuthApp, RepoSpec};

/// Deploy timing used until the control API says otherwise.
pub(crate) const DEFAULT_PHASE_MS: u64 = 50;

#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Mutex<State>>,
    base_url: Arc<str>,
}

impl AppState {
    pub(crate) fn new(base_url: String, phase_ms: u64, oauth_app: Option<OAuthApp>) -> Self {
        let mut state = State {
            behavior: Behavior {
                phase_ms,
                fail_repos: Vec::new(),
            },
            ..State::default()
        };
        if let Some(app) = oauth_app {
            state.oauth_apps.insert(app.client_id.clone(), app);
        }
        Self {
            inner: Arc::new(Mutex::new(state)),
            base_url: base_url.into(),
        }
    }

    /// Lock the state. A panic while holding the lock cannot leave it half-updated in a way
    /// that matters for a test double, so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) github_users: BTreeMap<u64, GithubAccount>,
    /// token → user id; revoking a token removes it.
    pub(crate) github_tokens: HashMap<String, u64>,
    /// lower-cased `owner/name` → repo.
    pub(crate) repos: HashMap<String, Repo>,
    pub(crate) next_repo_id: u64,
    pub(crate) oauth_apps: HashMap<String, OAuthApp>,
    pub(crate) oauth_codes: HashMap<String, PendingCode>,
    pub(crate) owners: BTreeMap<String, Owner>,
    /// account (user owner id) → the team workspaces its keys also reach, in creation order.
    pub(crate) workspaces: HashMap<String, Vec<String>>,
    /// api key → owner id; revoking a key removes it.
    pub(crate) render_keys: HashMap<String, String>,
    /// creation sequence number → service; the sequence number is the list order and the cursor.
    pub(crate) services: BTreeMap<u64, Service>,
    pub(crate) service_seq: HashMap<String, u64>,
    pub(crate) next_service_seq: u64,
    pub(crate) behavior: Behavior,
    pub(crate) faults: Vec<Fault>,
    /// Rate limits in force after a `rate_limit` fault with `retry_after_s`.
    pub(crate) rate_windows: Vec<RateWindow>,
    pub(crate) requests: Vec<LoggedRequest>,
}

impl State {
    pub(crate) fn github_user_by_login(&self, login: &str) -> Option<&GithubAccount> {
        self.github_users
            .values()
            .find(|user| user.login.eq_ignore_ascii_case(login))
    }

    pub(crate) fn service(&self, id: &str) -> Option<&Service> {
        self.service_seq
            .get(id)
            .and_then(|seq| self.services.get(seq))
    }

    pub(crate) fn service_mut(&mut self, id: &str) -> Option<&mut Service> {
        let seq = self.service_seq.get(id)?;
        self.services.get_mut(seq)
    }

    pub(crate) fn repo_fails(&self, repo_url: Option<&str>) -> bool {
        let Some(full_name) = repo_url.and_then(repo_full_name) else {
            return false;
        };
        self.behavior
            .fail_repos
            .iter()
            .any(|failing| failing.eq_ignore_ascii_case(full_name))
    }
}

/// `https://github.com/owner/name(.git)` → `owner/name`.
fn repo_full_name(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("http://github.com/"))?;
    let rest = rest.trim_end_matches('/');
    Some(rest.strip_suffix(".git").unwrap_or(rest))
}

/// Requests to `upstream` under `path_prefix` are refused with 429 until `until`.
pub(crate) struct RateWindow {
    pub(crate) upstream: crate::control::Upstream,
    pub(crate) path_prefix: String,
    pub(crate) until: std::time::Instant,
}

pub(crate) struct GithubAccount {
    pub(crate) id: u64,
    pub(crate) login: String,
    pub(crate) created_at: OffsetDateTime,
}

pub(crate) struct Repo {
    pub(crate) id: u64,
    pub(crate) spec: RepoSpec,
    pub(crate) created_at: OffsetDateTime,
}

impl Repo {
    pub(crate) fn full_name(&self) -> String {
        format!("{}/{}", self.spec.owner, self.spec.name)
    }

    pub(crate) fn is_owner(&self, login: &str) -> bool {
        self.spec.owner.eq_ignore_ascii_case(login)
    }

    pub(crate) fn is_collaborator(&self, login: &str) -> bool {
        self.spec
            .collaborators
            .iter()
            .any(|c| c.eq_ignore_ascii_case(login))
    }
}

pub(crate) struct PendingCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: Option<String>,
    pub(crate) user_id: u64,
    pub(crate) scope: String,
    pub(crate) expires_at: OffsetDateTime,
}

pub(crate) struct Owner {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) kind: OwnerKind,
}

/// Render's owner types: an account's own `user`, and the `team` workspaces it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    User,
    Team,
}

impl OwnerKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Team => "team",
        }
    }
}

pub(crate) struct Service {
    pub(crate) id: String,
    pub(crate) owner_id: String,
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) kind: crate::render::model::ServiceType,
    pub(crate) repo: Option<String>,
    pub(crate) branch: Option<String>,
    pub(crate) auto_deploy: &'static str,
    pub(crate) root_dir: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) suspended: bool,
    /// What the build logs say was run.
    pub(crate) build_command: String,
    /// The response's `serviceDetails`, fixed at creation.
    pub(crate) details: serde_json::Value,
    /// Insertion-ordered, as Render lists them.
    pub(crate) env_vars: Vec<(String, String)>,
    /// Oldest first.
    pub(crate) deploys: Vec<Deploy>,
}

/// A deploy whose status is a function of time: computed on read, so no task runs per deploy.
pub(crate) struct Deploy {
    pub(crate) id: String,
    pub(crate) created_at: OffsetDateTime,
    /// Later than `created_at` when the deploy waited in the queue behind another one.
    pub(crate) started_at: OffsetDateTime,
    pub(crate) phase: Duration,
    pub(crate) fails: bool,
    pub(crate) commit_id: String,
    pub(crate) commit_message: String,
}

/// Statuses a deploy passes through, in Render's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeployStatus {
    Queued,
    Created,
    BuildInProgress,
    UpdateInProgress,
    Live,
    Deactivated,
    BuildFailed,
}

impl DeployStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Created => "created",
            Self::BuildInProgress => "build_in_progress",
            Self::UpdateInProgress => "update_in_progress",
            Self::Live => "live",
            Self::Deactivated => "deactivated",
            Self::BuildFailed => "build_failed",
        }
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Self::Live | Self::Deactivated | Self::BuildFailed)
    }
}

impl Deploy {
    /// `created → build_in_progress → update_in_progress → live`, one phase each;
    /// a failing build stops at `build_failed` after the build phase.
    pub(crate) fn finished_at(&self) -> OffsetDateTime {
        let phases = if self.fails { 2 } else { 3 };
        self.started_at + self.phase * phases
    }

    /// The status at `now`, ignoring later deploys of the same service.
    fn own_status(&self, now: OffsetDateTime) -> DeployStatus {
        if now < self.started_at {
            return DeployStatus::Queued;
        }
        if now >= self.finished_at() {
            return if self.fails {
                DeployStatus::BuildFailed
            } else {
                DeployStatus::Live
            };
        }
        let elapsed = now - self.started_at;
        if elapsed < self.phase {
            DeployStatus::Created
        } else if elapsed < self.phase * 2 {
            DeployStatus::BuildInProgress
        } else {
            DeployStatus::UpdateInProgress
        }
    }
}

impl Service {
    /// The status of `self.deploys[index]` at `now`: a live deploy turns `deactivated` once a
    /// newer deploy of the service has gone live.
    pub(crate) fn deploy_status(&self, index: usize, now: OffsetDateTime) -> DeployStatus {
        let status = self.deploys[index].own_status(now);
        let superseded = self.deploys[index + 1..]
            .iter()
            .any(|newer| newer.own_status(now) == DeployStatus::Live);
        if status == DeployStatus::Live && superseded {
            DeployStatus::Deactivated
        } else {
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(started_at: OffsetDateTime, fails: bool) -> Deploy {
        Deploy {
            id: "dep-x".into(),
            created_at: started_at,
            started_at,
            phase: Duration::from_millis(100),
            fails,
            commit_id: String::new(),
            commit_message: String::new(),
        }
    }

    #[test]
    fn a_deploy_walks_through_its_statuses() {
        let t0 = OffsetDateTime::now_utc();
        let d = deploy(t0, false);
        let at = |ms| d.own_status(t0 + Duration::from_millis(ms));
        assert_eq!(at(0), DeployStatus::Created);
        assert_eq!(at(150), DeployStatus::BuildInProgress);
        assert_eq!(at(250), DeployStatus::UpdateInProgress);
        assert_eq!(at(300), DeployStatus::Live);
        let failing = deploy(t0, true);
        assert_eq!(
            failing.own_status(t0 + Duration::from_millis(200)),
            DeployStatus::BuildFailed
        );
    }

    #[test]
    fn repo_names_come_from_github_urls() {
        assert_eq!(repo_full_name("https://github.com/a/b.git"), Some("a/b"));
        assert_eq!(repo_full_name("https://github.com/a/b/"), Some("a/b"));
        assert_eq!(repo_full_name("https://gitlab.com/a/b"), None);
    }
}

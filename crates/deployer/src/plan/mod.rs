//! Deploy planning: from a repository snapshot to the Render services to create, with reasons.
//!
//! `render.yaml` at the root wins (see `blueprint`); otherwise the stack is
//! detected (see `detect` for the order of precedence and why). Either way the
//! plan then gets warnings from a bounded scan of the app's entry files.

mod blueprint;
mod detect;
#[doc(hidden)]
pub mod fixtures;
mod fs;
mod model;
mod repo;
mod scan;
pub mod source;
mod text;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use fs::FsSource;
pub use model::{
    EnvVarSource, Overrides, Plan, PlanSource, PlannedEnvVar, PlannedService, Reason,
    RequiredEnvVar, Route, RouteKind, Runtime, ServiceKind, ServiceValue, Warning,
};
pub use text::render_text;

use crate::domain::names::{BranchName, EnvVarKey, InstancePlan, RepoSlug, ServiceName};
use repo::Repo;
use source::{RepoSource, SourceError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    pub repo: RepoSlug,
    pub branch: Option<BranchName>,
    pub project_name: ServiceName,
    /// Keys the user supplies; their values never reach the planner.
    pub user_env_keys: Vec<EnvVarKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("render.yaml is invalid{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Blueprint {
        line: Option<usize>,
        message: String,
    },
    #[error("no deployable app found{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    NothingDetected { hint: Option<String> },
    #[error("the plan has no service named {0}")]
    UnknownService(String),
    #[error("{field} does not apply to a {kind}")]
    OverrideNotApplicable {
        field: &'static str,
        kind: ServiceKind,
    },
    #[error("plan {plan} is not available for a {kind} (it needs a paid plan)")]
    PlanNotAvailable {
        plan: InstancePlan,
        kind: ServiceKind,
    },
    #[error("{field} {reason}")]
    InvalidOverride {
        field: &'static str,
        reason: &'static str,
    },
}

/// Plans the deploy of one repository: one `tree()` call, then only the marker
/// and entry files needed (bounded in number and size).
pub async fn plan_repository(
    source: &dyn RepoSource,
    request: &PlanRequest,
) -> Result<Plan, PlanError> {
    let mut repo = Repo::load(source).await?;
    if repo.is_empty() {
        return Err(SourceError::Empty.into());
    }
    let (mut plan, apps) = if repo.exists(blueprint::PATH) {
        let text = repo
            .read(blueprint::PATH)
            .await?
            .ok_or_else(|| PlanError::Blueprint {
                line: None,
                message: "the file is too large or not UTF-8 text".into(),
            })?;
        let plan = blueprint::plan(&text, request)?;
        let apps = plan
            .services
            .iter()
            .map(|s| detect::App {
                dir: s
                    .root_dir
                    .as_ref()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                services: vec![s.name.clone()],
                entry_files: Vec::new(),
                runtime: s.runtime,
            })
            .collect::<Vec<_>>();
        (plan, apps)
    } else {
        detect::plan(&mut repo, request).await?
    };
    scan::warn(&mut repo, &mut plan, &apps, request).await?;
    plan.tree_truncated = repo.truncated;
    if repo.truncated {
        plan.warnings.push(Warning::Repository {
            text: "the repository listing was truncated: detection saw only part of it".into(),
        });
    }
    if repo.budget_exhausted {
        plan.warnings.push(Warning::Repository {
            text: "stopped reading files at the per-plan limit: some checks were skipped".into(),
        });
    }
    Ok(plan)
}

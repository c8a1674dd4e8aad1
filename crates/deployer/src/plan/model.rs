//! The plan itself: what would be created, and why. Serializable both ways so the
//! HTTP layer can return it and take an edited copy back.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::PlanError;
use crate::domain::names::{EnvVarKey, InstancePlan, Region, RootDir, ServiceName};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// In creation order: a service comes after every service it references.
    pub services: Vec<PlannedService>,
    pub source: PlanSource,
    pub warnings: Vec<Warning>,
    /// Render's own "deploy this Blueprint" link, when the repo has a `render.yaml`.
    pub blueprint_url: Option<String>,
    /// `render.yaml` features the API cannot create; the Blueprint link can.
    pub unsupported: Vec<String>,
    /// `sync: false` variables: the user must supply these values.
    pub required_env: Vec<RequiredEnvVar>,
    pub tree_truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    Blueprint,
    Detected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedService {
    pub name: ServiceName,
    pub kind: ServiceKind,
    /// `None` for static sites, which have no runtime on Render.
    pub runtime: Option<Runtime>,
    pub root_dir: Option<RootDir>,
    pub build_command: Option<String>,
    /// For the docker runtime this is the `dockerCommand` override (usually `None`:
    /// the image's CMD runs).
    pub start_command: Option<String>,
    pub publish_path: Option<String>,
    pub routes: Vec<Route>,
    pub schedule: Option<String>,
    pub health_check_path: Option<String>,
    pub dockerfile_path: Option<String>,
    pub docker_context: Option<String>,
    pub plan: Option<InstancePlan>,
    pub region: Option<Region>,
    pub env_vars: Vec<PlannedEnvVar>,
    pub reasons: Vec<Reason>,
}

impl PlannedService {
    pub(crate) fn new(name: ServiceName, kind: ServiceKind, runtime: Option<Runtime>) -> Self {
        Self {
            name,
            kind,
            runtime,
            root_dir: None,
            build_command: None,
            start_command: None,
            publish_path: None,
            routes: Vec::new(),
            schedule: None,
            health_check_path: None,
            dockerfile_path: None,
            docker_context: None,
            plan: None,
            region: None,
            env_vars: Vec::new(),
            reasons: Vec::new(),
        }
    }

    pub(crate) fn because(&mut self, field: &str, text: impl Into<String>) {
        self.reasons.push(Reason {
            field: field.to_owned(),
            text: text.into(),
        });
    }

    /// Replaces every reason for `field`: the value was decided again.
    pub(crate) fn decided(&mut self, field: &str, text: impl Into<String>) {
        self.reasons.retain(|r| r.field != field);
        self.because(field, text);
    }

    /// The services this one reads values from (`fromService`).
    pub fn depends_on(&self) -> impl Iterator<Item = &ServiceName> {
        self.env_vars.iter().filter_map(|v| match &v.source {
            EnvVarSource::FromService { service, .. } => Some(service),
            _ => None,
        })
    }
}

/// Render's `serviceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    WebService,
    StaticSite,
    PrivateService,
    BackgroundWorker,
    CronJob,
}

impl ServiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::WebService => "web_service",
            ServiceKind::StaticSite => "static_site",
            ServiceKind::PrivateService => "private_service",
            ServiceKind::BackgroundWorker => "background_worker",
            ServiceKind::CronJob => "cron_job",
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Render's `serviceRuntime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    Node,
    Python,
    Ruby,
    Go,
    Rust,
    Elixir,
    Docker,
    Image,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Node => "node",
            Runtime::Python => "python",
            Runtime::Ruby => "ruby",
            Runtime::Go => "go",
            Runtime::Rust => "rust",
            Runtime::Elixir => "elixir",
            Runtime::Docker => "docker",
            Runtime::Image => "image",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    #[serde(rename = "type")]
    pub kind: RouteKind,
    pub source: String,
    pub destination: String,
}

impl Route {
    /// Client-side routing: every unknown path serves the SPA's entry page.
    pub fn spa_rewrite() -> Self {
        Route {
            kind: RouteKind::Rewrite,
            source: "/*".into(),
            destination: "/index.html".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    Rewrite,
    Redirect,
}

/// An env var the plan sets. Never a user's secret value: those go straight
/// from the deploy request to Render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedEnvVar {
    pub key: EnvVarKey,
    #[serde(flatten)]
    pub source: EnvVarSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum EnvVarSource {
    /// A literal committed in the repository (`render.yaml` `value`, or a
    /// framework default such as `MIX_ENV=prod`).
    Value { value: String },
    /// Render generates a random value (`generateValue: true`).
    Generate,
    /// `sync: false`: the user supplies the value at deploy time.
    UserSupplied,
    /// A value of another planned service, known once that one exists.
    FromService {
        service: ServiceName,
        #[serde(flatten)]
        reference: ServiceValue,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceValue {
    /// `host`, `port`, `hostport` or `connectionString`, as Render names them.
    Property(String),
    /// One of that service's own env vars.
    EnvVarKey(EnvVarKey),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub field: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredEnvVar {
    pub service: ServiceName,
    pub key: EnvVarKey,
    /// Whether the deploy request already names this key.
    pub provided: bool,
}

/// Something that will likely fail or needs the user's attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// The code listens on a literal port instead of `$PORT`.
    FixedPort {
        service: ServiceName,
        file: String,
        line: usize,
    },
    /// The code reads this variable with no default, and nothing sets it.
    UnsetEnvVar {
        service: ServiceName,
        key: EnvVarKey,
        file: String,
    },
    /// Any other caveat about one service, in one line.
    Service { service: ServiceName, text: String },
    /// A caveat about the repository as a whole.
    Repository { text: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::FixedPort {
                service,
                file,
                line,
            } => write!(
                f,
                "{service}: {file}:{line} listens on a fixed port; Render routes traffic to $PORT (default 10000)"
            ),
            Warning::UnsetEnvVar { service, key, file } => write!(
                f,
                "{service}: {file} reads {key} with no default, and neither the plan nor your env vars set it"
            ),
            Warning::Service { service, text } => write!(f, "{service}: {text}"),
            Warning::Repository { text } => f.write_str(text),
        }
    }
}

/// Per-service edits the user makes to a plan before deploying.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub build_command: Option<String>,
    pub start_command: Option<String>,
    pub publish_path: Option<String>,
    pub root_dir: Option<RootDir>,
    pub plan: Option<InstancePlan>,
    pub region: Option<Region>,
}

/// Commands go to Render verbatim; this only keeps out what no shell line needs.
const MAX_COMMAND_LEN: usize = 4096;

fn check_command(field: &'static str, value: String) -> Result<String, PlanError> {
    let reason = if value.trim().is_empty() {
        "is empty"
    } else if value.len() > MAX_COMMAND_LEN {
        "is longer than 4096 bytes"
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        "contains control characters"
    } else {
        return Ok(value);
    };
    Err(PlanError::InvalidOverride { field, reason })
}

impl Plan {
    pub fn service(&self, name: &ServiceName) -> Option<&PlannedService> {
        self.services.iter().find(|s| &s.name == name)
    }

    /// Applies the user's edits to one service, refusing fields that do not
    /// apply to its kind (a start command on a static site, a free plan on a worker).
    pub fn apply_overrides(
        &mut self,
        service: &ServiceName,
        o: Overrides,
    ) -> Result<(), PlanError> {
        let svc = self
            .services
            .iter_mut()
            .find(|s| &s.name == service)
            .ok_or_else(|| PlanError::UnknownService(service.to_string()))?;
        let is_static = svc.kind == ServiceKind::StaticSite;
        let not_applicable = |field: &'static str| PlanError::OverrideNotApplicable {
            field,
            kind: svc.kind,
        };
        if is_static && (o.start_command.is_some() || o.plan.is_some() || o.region.is_some()) {
            let field = if o.start_command.is_some() {
                "start_command"
            } else if o.plan.is_some() {
                "plan"
            } else {
                "region"
            };
            return Err(not_applicable(field));
        }
        if !is_static && o.publish_path.is_some() {
            return Err(not_applicable("publish_path"));
        }
        if let Some(plan) = o.plan
            && svc.kind != ServiceKind::WebService
            && !plan.is_paid_plan()
        {
            return Err(PlanError::PlanNotAvailable {
                plan,
                kind: svc.kind,
            });
        }
        if let Some(cmd) = o.build_command {
            svc.build_command = Some(check_command("build_command", cmd)?);
            svc.decided("build_command", "set by you");
        }
        if let Some(cmd) = o.start_command {
            svc.start_command = Some(check_command("start_command", cmd)?);
            svc.decided("start_command", "set by you");
        }
        if let Some(path) = o.publish_path {
            let dir = RootDir::parse(&path).map_err(|_| PlanError::InvalidOverride {
                field: "publish_path",
                reason: "must be a relative directory inside the repository",
            })?;
            svc.publish_path = Some(dir.to_string());
            svc.decided("publish_path", "set by you");
        }
        if let Some(dir) = o.root_dir {
            svc.root_dir = Some(dir);
            svc.decided("root_dir", "set by you");
        }
        if let Some(plan) = o.plan {
            svc.plan = Some(plan);
            svc.decided("plan", "set by you");
        }
        if let Some(region) = o.region {
            svc.region = Some(region);
            svc.decided("region", "set by you");
        }
        Ok(())
    }
}

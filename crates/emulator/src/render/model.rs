//! Render's request bodies (validated on the way in) and resource shapes (rendered on the way out).

use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::RenderError;
use crate::ids::render_time;
use crate::state::{DeployStatus, Service};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ServiceType {
    StaticSite,
    WebService,
    PrivateService,
    BackgroundWorker,
    CronJob,
}

impl ServiceType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::StaticSite => "static_site",
            Self::WebService => "web_service",
            Self::PrivateService => "private_service",
            Self::BackgroundWorker => "background_worker",
            Self::CronJob => "cron_job",
        }
    }

    /// Cron jobs get `crn-` ids; every other service `srv-`.
    pub(crate) fn id_prefix(self) -> &'static str {
        match self {
            Self::CronJob => "crn",
            _ => "srv",
        }
    }

    /// The path segment of the service's dashboard URL.
    pub(crate) fn dashboard_segment(self) -> &'static str {
        match self {
            Self::StaticSite => "static",
            Self::WebService => "web",
            Self::PrivateService => "pserv",
            Self::BackgroundWorker => "worker",
            Self::CronJob => "cron",
        }
    }
}

const RUNTIMES: &[&str] = &[
    "docker", "elixir", "go", "node", "python", "ruby", "rust", "image",
];
const PLANS: &[&str] = &[
    "starter",
    "starter_plus",
    "standard",
    "standard_plus",
    "pro",
    "pro_plus",
    "pro_max",
    "pro_ultra",
    "free",
    "custom",
];
const PAID_PLANS: &[&str] = &[
    "starter",
    "standard",
    "pro",
    "pro_plus",
    "pro_max",
    "pro_ultra",
];
const REGIONS: &[&str] = &["frankfurt", "oregon", "ohio", "singapore", "virginia"];
/// The port Render assumes a service listens on (`$PORT`).
const DEFAULT_PORT: u16 = 10000;

fn one_of(
    field: &str,
    value: Option<&str>,
    allowed: &[&str],
    default: &str,
) -> Result<String, RenderError> {
    let value = value.unwrap_or(default);
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(RenderError::BadRequest(format!(
            "invalid {field} {value:?}: must be one of {}",
            allowed.join(", ")
        )))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateService {
    #[serde(rename = "type")]
    pub(crate) kind: ServiceType,
    pub(crate) name: String,
    pub(crate) owner_id: String,
    pub(crate) repo: Option<String>,
    pub(crate) branch: Option<String>,
    pub(crate) auto_deploy: Option<String>,
    pub(crate) root_dir: Option<String>,
    #[serde(default)]
    pub(crate) env_vars: Vec<EnvVarInput>,
    #[serde(default)]
    pub(crate) service_details: DetailsInput,
    pub(crate) image: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DetailsInput {
    runtime: Option<String>,
    /// Deprecated alias of `runtime`.
    env: Option<String>,
    #[serde(default)]
    env_specific_details: EnvSpecificInput,
    plan: Option<String>,
    region: Option<String>,
    health_check_path: Option<String>,
    num_instances: Option<u32>,
    schedule: Option<String>,
    build_command: Option<String>,
    publish_path: Option<String>,
    pre_deploy_command: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvSpecificInput {
    build_command: Option<String>,
    start_command: Option<String>,
    pre_deploy_command: Option<String>,
    docker_command: Option<String>,
    docker_context: Option<String>,
    dockerfile_path: Option<String>,
}

/// `{key, value}` or `{key, generateValue: true}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvVarInput {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
    #[serde(default)]
    pub(crate) generate_value: bool,
}

impl EnvVarInput {
    pub(crate) fn resolve(self) -> Result<(String, String), RenderError> {
        if self.key.is_empty() {
            return Err(RenderError::BadRequest(
                "env var key must not be empty".into(),
            ));
        }
        let value = match (self.value, self.generate_value) {
            (Some(value), false) => value,
            (None, true) => generated_value(),
            (Some(_), true) => {
                return Err(RenderError::BadRequest(format!(
                    "env var {}: value and generateValue cannot be combined",
                    self.key
                )));
            }
            (None, false) => {
                return Err(RenderError::BadRequest(format!(
                    "env var {}: one of value or generateValue is required",
                    self.key
                )));
            }
        };
        Ok((self.key, value))
    }
}

/// What Render generates: a base64-encoded 256-bit random value.
pub(crate) fn generated_value() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// `{value}` or `{generateValue: true}` for a single key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvVarValueInput {
    value: Option<String>,
    #[serde(default)]
    generate_value: bool,
}

impl EnvVarValueInput {
    pub(crate) fn resolve(self, key: &str) -> Result<String, RenderError> {
        EnvVarInput {
            key: key.to_owned(),
            value: self.value,
            generate_value: self.generate_value,
        }
        .resolve()
        .map(|(_, value)| value)
    }
}

impl DetailsInput {
    /// Validate against the rules of `kind` and build the response's `serviceDetails`.
    pub(crate) fn into_details(
        self,
        kind: ServiceType,
        id: &str,
        slug: &str,
    ) -> Result<Value, RenderError> {
        let public_url = format!("https://{slug}.onrender.com");
        if kind == ServiceType::StaticSite {
            return Ok(json!({
                "buildCommand": self.build_command.unwrap_or_default(),
                "publishPath": self.publish_path.unwrap_or_else(|| "public".to_owned()),
                "url": public_url,
                "buildPlan": "starter",
                "pullRequestPreviewsEnabled": "no",
                "previews": { "generation": "off" },
            }));
        }
        let runtime = self
            .runtime
            .as_deref()
            .or(self.env.as_deref())
            .ok_or_else(|| RenderError::BadRequest("serviceDetails.runtime is required".into()))?;
        let runtime = one_of("runtime", Some(runtime), RUNTIMES, "")?;
        let plans = if kind == ServiceType::WebService {
            PLANS
        } else {
            PAID_PLANS
        };
        let plan = one_of("plan", self.plan.as_deref(), plans, "starter")?;
        let region = one_of("region", self.region.as_deref(), REGIONS, "oregon")?;
        let num_instances = self.num_instances.unwrap_or(1);
        if num_instances < 1 {
            return Err(RenderError::BadRequest(
                "numInstances must be at least 1".into(),
            ));
        }
        let env_specific = self.env_specific_details;
        let pre_deploy = env_specific.pre_deploy_command.or(self.pre_deploy_command);
        let mut env_specific_details = if runtime == "docker" || runtime == "image" {
            json!({
                "dockerCommand": env_specific.docker_command.unwrap_or_default(),
                "dockerContext": env_specific.docker_context.unwrap_or_else(|| ".".to_owned()),
                "dockerfilePath": env_specific.dockerfile_path.unwrap_or_else(|| "./Dockerfile".to_owned()),
            })
        } else {
            let (Some(build), Some(start)) =
                (env_specific.build_command, env_specific.start_command)
            else {
                return Err(RenderError::BadRequest(
                    "serviceDetails.envSpecificDetails.buildCommand and startCommand are required for a native runtime"
                        .into(),
                ));
            };
            json!({ "buildCommand": build, "startCommand": start })
        };
        if let Some(pre_deploy) = pre_deploy {
            env_specific_details["preDeployCommand"] = json!(pre_deploy);
        }
        let mut details = json!({
            "env": runtime,
            "runtime": runtime,
            "envSpecificDetails": env_specific_details,
            "plan": plan,
            "region": region,
            "buildPlan": "starter",
        });
        match kind {
            ServiceType::CronJob => {
                let schedule = self
                    .schedule
                    .filter(|s| s.split_whitespace().count() == 5)
                    .ok_or_else(|| {
                        RenderError::BadRequest(
                            "serviceDetails.schedule must be a cron expression".into(),
                        )
                    })?;
                details["schedule"] = json!(schedule);
            }
            ServiceType::WebService
            | ServiceType::PrivateService
            | ServiceType::BackgroundWorker => {
                details["numInstances"] = json!(num_instances);
                details["pullRequestPreviewsEnabled"] = json!("no");
                details["previews"] = json!({ "generation": "off" });
                details["maxShutdownDelaySeconds"] = json!(30);
                details["sshAddress"] = json!(format!("{id}@ssh.{region}.render.com"));
            }
            ServiceType::StaticSite => {}
        }
        match kind {
            ServiceType::WebService => {
                details["healthCheckPath"] = json!(self.health_check_path.unwrap_or_default());
                details["openPorts"] = json!([{ "port": DEFAULT_PORT, "protocol": "TCP" }]);
                details["url"] = json!(public_url);
            }
            // A private service is reached inside the workspace's network only.
            ServiceType::PrivateService => {
                details["openPorts"] = json!([{ "port": DEFAULT_PORT, "protocol": "TCP" }]);
                details["url"] = json!(format!("{slug}:{DEFAULT_PORT}"));
            }
            _ => {}
        }
        Ok(details)
    }

    pub(crate) fn build_command(&self) -> String {
        self.env_specific_details
            .build_command
            .clone()
            .or_else(|| self.build_command.clone())
            .unwrap_or_default()
    }
}

/// `PATCH /v1/services/{id}` (Render's `servicePATCH`). Unknown fields are refused, so a client
/// that sends something Render cannot change on an existing service (such as
/// `serviceDetails.region`) hears about it instead of having it silently dropped.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateService {
    pub(crate) auto_deploy: Option<String>,
    pub(crate) repo: Option<String>,
    pub(crate) branch: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) root_dir: Option<String>,
    pub(crate) service_details: Option<DetailsPatch>,
}

/// The union of the per-type `serviceDetails` PATCH shapes; which fields apply is checked
/// against the service's type in [`DetailsPatch::apply`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DetailsPatch {
    runtime: Option<String>,
    env_specific_details: Option<EnvSpecificPatch>,
    plan: Option<String>,
    health_check_path: Option<String>,
    pre_deploy_command: Option<String>,
    schedule: Option<String>,
    build_command: Option<String>,
    publish_path: Option<String>,
    max_shutdown_delay_seconds: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvSpecificPatch {
    build_command: Option<String>,
    start_command: Option<String>,
    pre_deploy_command: Option<String>,
    docker_command: Option<String>,
    docker_context: Option<String>,
    dockerfile_path: Option<String>,
}

fn not_for(kind: ServiceType, field: &str) -> RenderError {
    RenderError::BadRequest(format!(
        "serviceDetails.{field} cannot be set on a {}",
        kind.as_str()
    ))
}

impl DetailsPatch {
    /// Applies the patch to a service's `serviceDetails`; returns the new build command for
    /// the build log when one was given. Nothing is changed when an error is returned.
    pub(crate) fn apply(
        self,
        kind: ServiceType,
        details: &mut Value,
    ) -> Result<Option<String>, RenderError> {
        let mut next = details.clone();
        if kind == ServiceType::StaticSite {
            for (set, field) in [
                (self.runtime.is_some(), "runtime"),
                (self.env_specific_details.is_some(), "envSpecificDetails"),
                (self.plan.is_some(), "plan"),
                (self.health_check_path.is_some(), "healthCheckPath"),
                (self.pre_deploy_command.is_some(), "preDeployCommand"),
                (self.schedule.is_some(), "schedule"),
                (
                    self.max_shutdown_delay_seconds.is_some(),
                    "maxShutdownDelaySeconds",
                ),
            ] {
                if set {
                    return Err(not_for(kind, field));
                }
            }
            if let Some(publish) = self.publish_path {
                next["publishPath"] = json!(publish);
            }
            let build = self.build_command;
            if let Some(build) = &build {
                next["buildCommand"] = json!(build);
            }
            *details = next;
            return Ok(build);
        }
        for (set, field) in [
            (self.build_command.is_some(), "buildCommand"),
            (self.publish_path.is_some(), "publishPath"),
        ] {
            if set {
                return Err(not_for(kind, field));
            }
        }
        if self.health_check_path.is_some() && kind != ServiceType::WebService {
            return Err(not_for(kind, "healthCheckPath"));
        }
        if self.schedule.is_some() && kind != ServiceType::CronJob {
            return Err(not_for(kind, "schedule"));
        }
        if let Some(plan) = self.plan {
            let plans = if kind == ServiceType::WebService {
                PLANS
            } else {
                PAID_PLANS
            };
            next["plan"] = json!(one_of("plan", Some(&plan), plans, "")?);
        }
        let runtime = match self.runtime {
            Some(runtime) => one_of("runtime", Some(&runtime), RUNTIMES, "")?,
            None => next["runtime"].as_str().unwrap_or_default().to_owned(),
        };
        let runtime_changed = next["runtime"].as_str() != Some(runtime.as_str());
        let docker = runtime == "docker" || runtime == "image";
        let mut build = None;
        if runtime_changed || self.env_specific_details.is_some() {
            let patch = self.env_specific_details.unwrap_or_default();
            let current = &next["envSpecificDetails"];
            let keep = |field: &str| {
                current
                    .get(field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let mut specific = if docker {
                if patch.build_command.is_some() || patch.start_command.is_some() {
                    return Err(RenderError::BadRequest(
                        "envSpecificDetails of a docker runtime has no buildCommand or startCommand"
                            .into(),
                    ));
                }
                let pick = |given: Option<String>, field: &str, default: &str| {
                    given
                        .or_else(|| (!runtime_changed).then(|| keep(field)).flatten())
                        .unwrap_or_else(|| default.to_owned())
                };
                json!({
                    "dockerCommand": pick(patch.docker_command, "dockerCommand", ""),
                    "dockerContext": pick(patch.docker_context, "dockerContext", "."),
                    "dockerfilePath": pick(patch.dockerfile_path, "dockerfilePath", "./Dockerfile"),
                })
            } else {
                if patch.docker_command.is_some()
                    || patch.docker_context.is_some()
                    || patch.dockerfile_path.is_some()
                {
                    return Err(RenderError::BadRequest(
                        "envSpecificDetails of a native runtime has no docker fields".into(),
                    ));
                }
                let (Some(b), Some(start)) = (
                    patch
                        .build_command
                        .or_else(|| (!runtime_changed).then(|| keep("buildCommand")).flatten()),
                    patch
                        .start_command
                        .or_else(|| (!runtime_changed).then(|| keep("startCommand")).flatten()),
                ) else {
                    return Err(RenderError::BadRequest(
                        "serviceDetails.envSpecificDetails.buildCommand and startCommand are required for a native runtime"
                            .into(),
                    ));
                };
                build = Some(b.clone());
                json!({ "buildCommand": b, "startCommand": start })
            };
            if let Some(pre) = patch
                .pre_deploy_command
                .or_else(|| keep("preDeployCommand"))
            {
                specific["preDeployCommand"] = json!(pre);
            }
            next["envSpecificDetails"] = specific;
            next["runtime"] = json!(runtime);
            next["env"] = json!(runtime);
        }
        if let Some(pre) = self.pre_deploy_command {
            next["envSpecificDetails"]["preDeployCommand"] = json!(pre);
        }
        if let Some(path) = self.health_check_path {
            next["healthCheckPath"] = json!(path);
        }
        if let Some(schedule) = self.schedule {
            if schedule.split_whitespace().count() != 5 {
                return Err(RenderError::BadRequest(
                    "serviceDetails.schedule must be a cron expression".into(),
                ));
            }
            next["schedule"] = json!(schedule);
        }
        if let Some(delay) = self.max_shutdown_delay_seconds {
            if kind == ServiceType::CronJob {
                return Err(not_for(kind, "maxShutdownDelaySeconds"));
            }
            if !(1..=300).contains(&delay) {
                return Err(RenderError::BadRequest(
                    "maxShutdownDelaySeconds must be between 1 and 300".into(),
                ));
            }
            next["maxShutdownDelaySeconds"] = json!(delay);
        }
        *details = next;
        Ok(build)
    }
}

/// A URL-safe slug from a service name: lower-case alphanumerics and dashes.
pub(crate) fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "service".to_owned()
    } else {
        slug.to_owned()
    }
}

pub(crate) fn service_json(service: &Service) -> Value {
    let mut body = json!({
        "id": service.id,
        "autoDeploy": service.auto_deploy,
        "createdAt": render_time(service.created_at),
        "dashboardUrl": format!("https://dashboard.render.com/{}/{}", service.kind.dashboard_segment(), service.id),
        "name": service.name,
        "notifyOnFail": "default",
        "ownerId": service.owner_id,
        "rootDir": service.root_dir,
        "slug": service.slug,
        "suspended": if service.suspended { "suspended" } else { "not_suspended" },
        "suspenders": if service.suspended { json!(["user"]) } else { json!([]) },
        "type": service.kind.as_str(),
        "updatedAt": render_time(service.updated_at),
        "serviceDetails": service.details,
    });
    if let Some(repo) = &service.repo {
        body["repo"] = json!(repo);
    }
    if let Some(branch) = &service.branch {
        body["branch"] = json!(branch);
    }
    body
}

pub(crate) fn deploy_json(service: &Service, index: usize, now: OffsetDateTime) -> Value {
    let deploy = &service.deploys[index];
    let status = service.deploy_status(index, now);
    let updated_at = match status {
        DeployStatus::Queued => deploy.created_at,
        DeployStatus::Created => deploy.started_at,
        DeployStatus::BuildInProgress => deploy.started_at + deploy.phase,
        DeployStatus::UpdateInProgress => deploy.started_at + deploy.phase * 2,
        DeployStatus::Live | DeployStatus::Deactivated | DeployStatus::BuildFailed => {
            deploy.finished_at()
        }
    };
    let mut body = json!({
        "id": deploy.id,
        "commit": {
            "id": deploy.commit_id,
            "message": deploy.commit_message,
            "createdAt": render_time(deploy.created_at),
        },
        "status": status.as_str(),
        "trigger": "api",
        "createdAt": render_time(deploy.created_at),
        "updatedAt": render_time(updated_at),
    });
    if status != DeployStatus::Queued {
        body["startedAt"] = json!(render_time(deploy.started_at));
    }
    if status.is_terminal() {
        body["finishedAt"] = json!(render_time(deploy.finished_at()));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_and_dashed() {
        assert_eq!(slugify("My App_2"), "my-app-2");
        assert_eq!(slugify("--x--"), "x");
        assert_eq!(slugify("!!!"), "service");
    }

    #[test]
    fn env_var_input_needs_exactly_one_of_value_and_generate_value() {
        let both = EnvVarInput {
            key: "A".into(),
            value: Some("v".into()),
            generate_value: true,
        };
        assert!(both.resolve().is_err());
        let neither = EnvVarInput {
            key: "A".into(),
            value: None,
            generate_value: false,
        };
        assert!(neither.resolve().is_err());
        let generated = EnvVarInput {
            key: "A".into(),
            value: None,
            generate_value: true,
        };
        assert_eq!(generated.resolve().expect("valid").1.len(), 44);
    }
}

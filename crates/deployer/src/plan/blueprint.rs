//! `render.yaml` at the repository root: parsed strictly (unknown keys are
//! errors, so typos surface with their line), validated, and turned into
//! services created one by one, since Render's API cannot create a Blueprint.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_norway::Value;

use super::model::{
    EnvVarSource, Plan, PlanSource, PlannedEnvVar, PlannedService, Route, Runtime, ServiceKind,
    ServiceValue,
};
use super::{PlanError, PlanRequest};
use crate::domain::names::{EnvVarKey, InstancePlan, Region, RootDir, ServiceName};

pub(crate) const PATH: &str = "render.yaml";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    #[serde(default)]
    services: Vec<Service>,
    #[serde(default)]
    databases: Vec<Named>,
    #[serde(default)]
    env_var_groups: Vec<Named>,
    previews: Option<Value>,
    projects: Option<Value>,
    ungrouped: Option<Value>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
    #[serde(flatten)]
    _rest: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Type {
    Web,
    Pserv,
    Worker,
    Cron,
    Static,
    Keyvalue,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum YamlRuntime {
    Node,
    Python,
    Ruby,
    Go,
    Rust,
    Elixir,
    Docker,
    Image,
    Static,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Service {
    #[serde(rename = "type")]
    kind: Type,
    name: ServiceName,
    runtime: Option<YamlRuntime>,
    /// The deprecated spelling of `runtime`.
    env: Option<YamlRuntime>,
    repo: Option<String>,
    branch: Option<String>,
    root_dir: Option<RootDir>,
    build_command: Option<String>,
    start_command: Option<String>,
    static_publish_path: Option<String>,
    plan: Option<InstancePlan>,
    region: Option<Region>,
    health_check_path: Option<String>,
    schedule: Option<String>,
    docker_command: Option<String>,
    dockerfile_path: Option<String>,
    docker_context: Option<String>,
    #[serde(default)]
    env_vars: Vec<EnvVar>,
    #[serde(default)]
    routes: Vec<Route>,
    // Valid Blueprint fields that the plan does not carry over; listed in `unsupported`.
    pre_deploy_command: Option<Value>,
    num_instances: Option<Value>,
    scaling: Option<Value>,
    auto_deploy: Option<Value>,
    auto_deploy_trigger: Option<Value>,
    build_filter: Option<Value>,
    domains: Option<Value>,
    disk: Option<Value>,
    headers: Option<Value>,
    max_shutdown_delay_seconds: Option<Value>,
    registry_credential: Option<Value>,
    image: Option<Value>,
    ip_allow_list: Option<Value>,
    maxmemory_policy: Option<Value>,
    previews: Option<Value>,
}

impl Service {
    fn ignored_fields(&self) -> impl Iterator<Item = &'static str> {
        [
            ("preDeployCommand", self.pre_deploy_command.is_some()),
            ("numInstances", self.num_instances.is_some()),
            ("scaling", self.scaling.is_some()),
            ("autoDeploy", self.auto_deploy.is_some()),
            ("autoDeployTrigger", self.auto_deploy_trigger.is_some()),
            ("buildFilter", self.build_filter.is_some()),
            ("domains", self.domains.is_some()),
            ("disk", self.disk.is_some()),
            ("headers", self.headers.is_some()),
            (
                "maxShutdownDelaySeconds",
                self.max_shutdown_delay_seconds.is_some(),
            ),
            ("registryCredential", self.registry_credential.is_some()),
            ("previews", self.previews.is_some()),
            ("ipAllowList", self.ip_allow_list.is_some()),
            ("maxmemoryPolicy", self.maxmemory_policy.is_some()),
            ("branch", self.branch.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvVar {
    key: Option<EnvVarKey>,
    value: Option<Value>,
    generate_value: Option<bool>,
    sync: Option<bool>,
    from_service: Option<FromService>,
    from_database: Option<Value>,
    from_group: Option<String>,
    preview_value: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FromService {
    #[serde(rename = "type")]
    kind: Type,
    name: ServiceName,
    property: Option<String>,
    env_var_key: Option<EnvVarKey>,
}

const SERVICE_PROPERTIES: &[&str] = &["host", "port", "hostport", "connectionString"];

/// The first 1-based line of `text` containing `needle`: semantic errors found
/// after parsing still point the user at the right place.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

fn error(text: &str, needle: &str, message: String) -> PlanError {
    PlanError::Blueprint {
        line: line_of(text, needle),
        message,
    }
}

pub(crate) fn blueprint_url(request: &PlanRequest) -> String {
    let mut url = url::Url::parse("https://dashboard.render.com/blueprint/new")
        .unwrap_or_else(|_| unreachable!("constant URL"));
    url.query_pairs_mut()
        .append_pair("repo", &request.repo.https_url());
    url.into()
}

pub(crate) fn plan(text: &str, request: &PlanRequest) -> Result<Plan, PlanError> {
    let file: File = serde_norway::from_str(text).map_err(|e| PlanError::Blueprint {
        line: e.location().map(|l| l.line()),
        message: e.to_string(),
    })?;
    let mut unsupported = Vec::new();
    for db in &file.databases {
        unsupported.push(format!(
            "database {} (Postgres)",
            db.name.as_deref().unwrap_or("(unnamed)")
        ));
    }
    for group in &file.env_var_groups {
        unsupported.push(format!(
            "envVarGroup {}",
            group.name.as_deref().unwrap_or("(unnamed)")
        ));
    }
    for (key, set) in [
        ("previews", file.previews.is_some()),
        ("projects", file.projects.is_some()),
        ("ungrouped", file.ungrouped.is_some()),
    ] {
        if set {
            unsupported.push(key.to_owned());
        }
    }

    // Which names exist, and which of them the API path skips (and why).
    let repo_url = request.repo.https_url();
    let mut declared: HashMap<&ServiceName, Declared> = HashMap::new();
    for svc in &file.services {
        let entry = Declared {
            kind: svc.kind,
            skip: skip_reason(svc, &repo_url),
        };
        if declared.insert(&svc.name, entry).is_some() {
            return Err(error(
                text,
                &format!("name: {}", svc.name),
                format!("service name {} is declared twice", svc.name),
            ));
        }
    }

    let mut services = Vec::new();
    for svc in &file.services {
        if let Some(reason) = declared.get(&svc.name).and_then(|d| d.skip) {
            unsupported.push(format!("service {} ({reason})", svc.name));
            continue;
        }
        let ctx = Ctx {
            text,
            at: format!("name: {}", svc.name),
            declared: &declared,
        };
        services.push(service(&ctx, svc, &mut unsupported)?);
    }

    let services = dependency_order(text, services)?;
    let required_env = services
        .iter()
        .flat_map(|s| {
            s.env_vars
                .iter()
                .filter(|v| v.source == EnvVarSource::UserSupplied)
                .map(|v| super::model::RequiredEnvVar {
                    service: s.name.clone(),
                    key: v.key.clone(),
                    provided: request.user_env_keys.contains(&v.key),
                })
        })
        .collect();
    Ok(Plan {
        services,
        source: PlanSource::Blueprint,
        warnings: Vec::new(),
        blueprint_url: Some(blueprint_url(request)),
        unsupported,
        required_env,
        tree_truncated: false,
    })
}

struct Declared {
    kind: Type,
    /// Why the API path does not create this service, if it does not.
    skip: Option<&'static str>,
}

fn skip_reason(svc: &Service, repo_url: &str) -> Option<&'static str> {
    if matches!(svc.kind, Type::Keyvalue | Type::Redis) {
        Some("Key Value")
    } else if svc.image.is_some() || svc.runtime.or(svc.env) == Some(YamlRuntime::Image) {
        Some("prebuilt image")
    } else if svc
        .repo
        .as_deref()
        .is_some_and(|r| r.trim_end_matches('/').trim_end_matches(".git") != repo_url)
    {
        Some("builds another repository")
    } else {
        None
    }
}

/// What a service's validation needs to know about the whole file.
struct Ctx<'a> {
    text: &'a str,
    /// Where to point errors about this service.
    at: String,
    declared: &'a HashMap<&'a ServiceName, Declared>,
}

fn service(
    ctx: &Ctx<'_>,
    svc: &Service,
    unsupported: &mut Vec<String>,
) -> Result<PlannedService, PlanError> {
    let fail = |msg: &str| error(ctx.text, &ctx.at, format!("service {}: {msg}", svc.name));
    let runtime = svc.runtime.or(svc.env);
    let is_static = svc.kind == Type::Static || runtime == Some(YamlRuntime::Static);
    let kind = match svc.kind {
        _ if is_static => ServiceKind::StaticSite,
        Type::Web => ServiceKind::WebService,
        Type::Pserv => ServiceKind::PrivateService,
        Type::Worker => ServiceKind::BackgroundWorker,
        Type::Cron => ServiceKind::CronJob,
        Type::Static | Type::Keyvalue | Type::Redis => {
            unreachable!("handled before: static above, key value skipped by the caller")
        }
    };
    if is_static && !matches!(svc.kind, Type::Web | Type::Static) {
        return Err(fail("runtime static is only valid for type web"));
    }
    let runtime = match runtime {
        None if is_static => None,
        None => return Err(fail("runtime is required")),
        Some(YamlRuntime::Static) => None,
        Some(r) => Some(match r {
            YamlRuntime::Node => Runtime::Node,
            YamlRuntime::Python => Runtime::Python,
            YamlRuntime::Ruby => Runtime::Ruby,
            YamlRuntime::Go => Runtime::Go,
            YamlRuntime::Rust => Runtime::Rust,
            YamlRuntime::Elixir => Runtime::Elixir,
            YamlRuntime::Docker => Runtime::Docker,
            YamlRuntime::Image | YamlRuntime::Static => {
                unreachable!("image is skipped by the caller, static matched above")
            }
        }),
    };
    let mut out = PlannedService::new(svc.name.clone(), kind, runtime);
    out.because("kind", format!("declared in {PATH}"));
    out.root_dir = svc.root_dir.clone();
    out.build_command = svc.build_command.clone();
    out.region = svc.region;
    out.plan = svc.plan;
    out.env_vars = env_vars(ctx, svc, unsupported)?;
    for field in svc.ignored_fields() {
        unsupported.push(format!("service {}: {field}", svc.name));
    }

    if is_static {
        out.publish_path = Some(
            svc.static_publish_path
                .clone()
                .unwrap_or_else(|| "public".into()),
        );
        out.routes = svc.routes.clone();
        if svc.start_command.is_some() {
            return Err(fail("a static site has no startCommand"));
        }
        return Ok(out);
    }
    if svc.static_publish_path.is_some() || !svc.routes.is_empty() {
        return Err(fail(
            "staticPublishPath and routes apply only to static sites",
        ));
    }
    if let Some(plan) = svc.plan
        && kind != ServiceKind::WebService
        && !plan.is_paid_plan()
    {
        return Err(fail(&format!("plan {plan} is not available for a {kind}")));
    }
    if runtime == Some(Runtime::Docker) {
        out.start_command = svc.docker_command.clone();
        out.dockerfile_path = svc.dockerfile_path.clone();
        out.docker_context = svc.docker_context.clone();
    } else {
        if svc.docker_command.is_some()
            || svc.dockerfile_path.is_some()
            || svc.docker_context.is_some()
        {
            return Err(fail("docker fields need runtime docker"));
        }
        if svc.build_command.is_none() || svc.start_command.is_none() {
            return Err(fail(
                "buildCommand and startCommand are required for a native runtime",
            ));
        }
        out.start_command = svc.start_command.clone();
    }
    if kind == ServiceKind::CronJob {
        out.schedule = Some(
            svc.schedule
                .clone()
                .ok_or_else(|| fail("a cron job needs a schedule"))?,
        );
    } else if svc.schedule.is_some() {
        return Err(fail("schedule applies only to cron jobs"));
    }
    if kind == ServiceKind::WebService {
        out.health_check_path = svc.health_check_path.clone();
    }
    Ok(out)
}

fn env_vars(
    ctx: &Ctx<'_>,
    svc: &Service,
    unsupported: &mut Vec<String>,
) -> Result<Vec<PlannedEnvVar>, PlanError> {
    let text = ctx.text;
    let at = ctx.at.as_str();
    let mut out = Vec::new();
    for var in &svc.env_vars {
        if let Some(group) = &var.from_group {
            unsupported.push(format!("service {}: fromGroup {group}", svc.name));
            continue;
        }
        let Some(key) = var.key.clone() else {
            return Err(error(
                text,
                at,
                format!("service {}: an envVars entry has no key", svc.name),
            ));
        };
        let here = format!("key: {key}");
        let sources = [
            var.value.is_some(),
            var.generate_value == Some(true),
            var.sync == Some(false),
            var.from_service.is_some(),
            var.from_database.is_some(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count();
        if sources != 1 {
            return Err(error(
                text,
                &here,
                format!(
                    "service {}: {key} needs exactly one of value, generateValue, sync: false, fromService, fromDatabase",
                    svc.name
                ),
            ));
        }
        if var.preview_value.is_some() {
            unsupported.push(format!("service {}: {key} previewValue", svc.name));
        }
        let source = if let Some(value) = &var.value {
            EnvVarSource::Value {
                value: scalar(value).ok_or_else(|| {
                    error(
                        text,
                        &here,
                        format!("service {}: {key} value must be a scalar", svc.name),
                    )
                })?,
            }
        } else if var.generate_value == Some(true) {
            EnvVarSource::Generate
        } else if var.sync == Some(false) {
            EnvVarSource::UserSupplied
        } else if let Some(from) = &var.from_service {
            let reference = match (&from.property, &from.env_var_key) {
                (Some(p), None) if SERVICE_PROPERTIES.contains(&p.as_str()) => {
                    ServiceValue::Property(p.clone())
                }
                (None, Some(k)) => ServiceValue::EnvVarKey(k.clone()),
                _ => {
                    return Err(error(
                        text,
                        &here,
                        format!(
                            "service {}: {key} fromService needs either property ({}) or envVarKey",
                            svc.name,
                            SERVICE_PROPERTIES.join(", ")
                        ),
                    ));
                }
            };
            if from.name == svc.name {
                return Err(error(
                    text,
                    &here,
                    format!("service {}: {key} refers to its own service", svc.name),
                ));
            }
            let Some(target) = ctx.declared.get(&from.name) else {
                return Err(error(
                    text,
                    &here,
                    format!(
                        "service {}: {key} refers to service {}, which {PATH} does not declare",
                        svc.name, from.name
                    ),
                ));
            };
            let same_type = target.kind == from.kind
                || matches!(
                    (target.kind, from.kind),
                    (Type::Keyvalue, Type::Redis) | (Type::Redis, Type::Keyvalue)
                );
            if !same_type {
                return Err(error(
                    text,
                    &here,
                    format!(
                        "service {}: {key} names {} with a type other than the one declared",
                        svc.name, from.name
                    ),
                ));
            }
            if let Some(reason) = target.skip {
                unsupported.push(format!(
                    "service {}: {key} fromService {} ({reason})",
                    svc.name, from.name
                ));
                continue;
            }
            EnvVarSource::FromService {
                service: from.name.clone(),
                reference,
            }
        } else {
            unsupported.push(format!("service {}: {key} fromDatabase", svc.name));
            continue;
        };
        out.push(PlannedEnvVar { key, source });
    }
    Ok(out)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Stable topological order (file order among independent services); a cycle
/// is an error naming its members.
fn dependency_order(
    text: &str,
    mut services: Vec<PlannedService>,
) -> Result<Vec<PlannedService>, PlanError> {
    let mut ordered = Vec::with_capacity(services.len());
    while !services.is_empty() {
        let ready = services.iter().position(|s| {
            s.depends_on()
                .all(|dep| ordered.iter().any(|o: &PlannedService| &o.name == dep))
        });
        match ready {
            Some(i) => ordered.push(services.remove(i)),
            None => {
                let names: Vec<String> = services.iter().map(|s| s.name.to_string()).collect();
                return Err(error(
                    text,
                    &format!("name: {}", names[0]),
                    format!(
                        "fromService references form a cycle among: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(ordered)
}

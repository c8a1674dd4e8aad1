//! Render REST API v1 client: owners, services, deploys, env vars, build logs.
//!
//! The user's Render key is passed per call and exposed only where the
//! `Authorization` header is built. Env var values travel to Render and
//! nowhere else: request types redact them in `Debug`, and no response value
//! is ever read back.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use super::transport::Transport;
use super::{UnavailableReason, Upstream, UpstreamError};

/// Render's maximum page size; lists are always walked with it.
const PAGE_LIMIT: usize = 100;
/// Upper bounds for lists the API walks completely.
const MAX_OWNERS: usize = 500;
const MAX_ENV_VARS: usize = 1_000;

// ---------------------------------------------------------------------------
// Response types

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    User,
    Team,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Team => "team",
        }
    }
}

/// A workspace the key can reach.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Owner {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: OwnerKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceType {
    StaticSite,
    WebService,
    PrivateService,
    BackgroundWorker,
    CronJob,
}

/// A service as Render reports it, reduced to what the deployer shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub service_type: ServiceType,
    pub repo: Option<String>,
    pub branch: Option<String>,
    /// `serviceDetails.url`: the public URL (internal `host:port` for private services).
    pub url: Option<String>,
    pub dashboard_url: String,
    pub suspended: bool,
    pub created_at: String,
    /// Render's host name for the service inside the workspace (`<slug>:10000` for private
    /// services, `https://<slug>.onrender.com` for web services): usually the name, with a
    /// suffix when the name is taken elsewhere.
    pub slug: Option<String>,
    /// `serviceDetails.region`; static sites have none.
    pub region: Option<Region>,
}

impl Service {
    /// The host other services reach this one at (`fromService … property: host`).
    pub fn host(&self) -> &str {
        self.slug.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceWire {
    id: String,
    name: String,
    owner_id: String,
    #[serde(rename = "type")]
    service_type: ServiceType,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    service_details: Option<ServiceDetailsWire>,
    dashboard_url: String,
    suspended: Suspended,
    created_at: String,
    #[serde(default)]
    slug: Option<String>,
}

#[derive(Deserialize)]
struct ServiceDetailsWire {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

/// Render sends `suspended` as a string enum, not a boolean.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Suspended {
    Suspended,
    NotSuspended,
}

impl From<ServiceWire> for Service {
    fn from(wire: ServiceWire) -> Self {
        let region = wire
            .service_details
            .as_ref()
            .and_then(|details| details.region.as_deref())
            .and_then(|region| region.parse().ok());
        Service {
            slug: wire.slug.filter(|slug| !slug.is_empty()),
            region,
            id: wire.id,
            name: wire.name,
            owner_id: wire.owner_id,
            service_type: wire.service_type,
            repo: wire.repo,
            branch: wire.branch,
            url: wire
                .service_details
                .and_then(|details| details.url)
                .filter(|url| !url.is_empty()),
            dashboard_url: wire.dashboard_url,
            suspended: matches!(wire.suspended, Suspended::Suspended),
            created_at: wire.created_at,
        }
    }
}

/// The answer to a create: the service and the id of the deploy it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedService {
    pub service: Service,
    /// Render documents it as optional; every observed create carries it.
    pub deploy_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedServiceWire {
    service: ServiceWire,
    #[serde(default)]
    deploy_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    Created,
    Queued,
    BuildInProgress,
    UpdateInProgress,
    Live,
    Deactivated,
    BuildFailed,
    UpdateFailed,
    Canceled,
    PreDeployInProgress,
    PreDeployFailed,
    /// A status this client does not know yet; treated as still running.
    #[default]
    #[serde(other)]
    Unknown,
}

impl DeployStatus {
    /// Render's own name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Created => "created",
            DeployStatus::Queued => "queued",
            DeployStatus::BuildInProgress => "build_in_progress",
            DeployStatus::UpdateInProgress => "update_in_progress",
            DeployStatus::Live => "live",
            DeployStatus::Deactivated => "deactivated",
            DeployStatus::BuildFailed => "build_failed",
            DeployStatus::UpdateFailed => "update_failed",
            DeployStatus::Canceled => "canceled",
            DeployStatus::PreDeployInProgress => "pre_deploy_in_progress",
            DeployStatus::PreDeployFailed => "pre_deploy_failed",
            DeployStatus::Unknown => "unknown",
        }
    }

    /// No further status change will come.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeployStatus::Live
                | DeployStatus::Deactivated
                | DeployStatus::BuildFailed
                | DeployStatus::UpdateFailed
                | DeployStatus::Canceled
                | DeployStatus::PreDeployFailed
        )
    }

    /// The deploy went live (`deactivated` means it was live and a later one replaced it).
    pub fn is_success(self) -> bool {
        matches!(self, DeployStatus::Live | DeployStatus::Deactivated)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deploy {
    pub id: String,
    #[serde(default)]
    pub status: DeployStatus,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// Narrows `GET /services`; `None` means no filter on that field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    pub owner_id: Option<String>,
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------
// Request types

/// One env var to set on a service. The value is a secret: it is serialized
/// for Render and redacted everywhere else.
#[derive(Clone)]
pub struct EnvVarInput {
    key: String,
    value: EnvVarInputValue,
}

#[derive(Clone)]
pub enum EnvVarInputValue {
    Value(SecretString),
    /// Render generates a random value (base64 of 256 bits).
    Generate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("env var names must match [A-Za-z_][A-Za-z0-9_]* and be at most {MAX_ENV_KEY_LEN} bytes")]
pub struct InvalidEnvVarKey;

const MAX_ENV_KEY_LEN: usize = 256;

impl EnvVarInput {
    pub fn new(key: impl Into<String>, value: EnvVarInputValue) -> Result<Self, InvalidEnvVarKey> {
        let key = key.into();
        let mut bytes = key.bytes();
        let valid_start = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        let valid_rest = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_start || !valid_rest || key.len() > MAX_ENV_KEY_LEN {
            return Err(InvalidEnvVarKey);
        }
        Ok(Self { key, value })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn value(&self) -> &EnvVarInputValue {
        &self.value
    }
}

impl fmt::Debug for EnvVarInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvVarInput")
            .field("key", &self.key)
            .field("value", &self.value)
            .finish()
    }
}

impl fmt::Debug for EnvVarInputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvVarInputValue::Value(_) => f.write_str("[REDACTED]"),
            EnvVarInputValue::Generate => f.write_str("Generate"),
        }
    }
}

impl Serialize for EnvVarInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Wire<'a> {
            Value {
                key: &'a str,
                value: &'a str,
            },
            Generate {
                key: &'a str,
                #[serde(rename = "generateValue")]
                generate_value: bool,
            },
        }
        let wire = match &self.value {
            // The one place a value leaves the secret wrapper: into the request body.
            EnvVarInputValue::Value(value) => Wire::Value {
                key: &self.key,
                value: value.expose_secret(),
            },
            EnvVarInputValue::Generate => Wire::Generate {
                key: &self.key,
                generate_value: true,
            },
        };
        wire.serialize(serializer)
    }
}

/// The body of `PUT /services/{id}/env-vars/{key}`: `{value}` or `{generateValue: true}`.
pub struct SingleEnvValue<'a>(&'a EnvVarInputValue);

impl Serialize for SingleEnvValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Wire<'a> {
            Value {
                value: &'a str,
            },
            Generate {
                #[serde(rename = "generateValue")]
                generate_value: bool,
            },
        }
        match self.0 {
            EnvVarInputValue::Value(value) => Wire::Value {
                value: value.expose_secret(),
            },
            EnvVarInputValue::Generate => Wire::Generate {
                generate_value: true,
            },
        }
        .serialize(serializer)
    }
}

impl EnvVarInput {
    pub fn single_value(&self) -> SingleEnvValue<'_> {
        SingleEnvValue(&self.value)
    }
}

/// Regions and web-service plans are the validated input types themselves,
/// so what the user chose is exactly what is sent.
pub use crate::domain::names::{InstancePlan as Plan, Region};

/// Instance type of private services, workers and cron jobs (no free tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaidPlan {
    #[default]
    Starter,
    Standard,
    Pro,
    ProPlus,
    ProMax,
    ProUltra,
}

impl PaidPlan {
    /// The paid plan a chosen instance type names, if it is one.
    pub fn from_plan(plan: Plan) -> Option<Self> {
        Some(match plan {
            Plan::Starter => PaidPlan::Starter,
            Plan::Standard => PaidPlan::Standard,
            Plan::Pro => PaidPlan::Pro,
            Plan::ProPlus => PaidPlan::ProPlus,
            Plan::ProMax => PaidPlan::ProMax,
            Plan::ProUltra => PaidPlan::ProUltra,
            _ => return None,
        })
    }
}

/// Native runtimes (Render's `runtime` minus `docker` and `image`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NativeRuntime {
    Node,
    Python,
    Ruby,
    Go,
    Rust,
    Elixir,
}

/// How a server-type service is built: Render's `runtime` together with its
/// `envSpecificDetails`, kept in one type so they cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Build {
    Native {
        runtime: NativeRuntime,
        build_command: String,
        start_command: String,
    },
    Docker {
        /// Relative to the repo (or `root_dir`), e.g. `./Dockerfile`.
        dockerfile_path: String,
        docker_context: String,
    },
}

/// Settings shared by web services, private services and workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDetails<P> {
    pub build: Build,
    pub plan: P,
    pub region: Region,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDetails {
    pub server: ServerDetails<Plan>,
    pub health_check_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronDetails {
    pub server: ServerDetails<PaidPlan>,
    /// A cron expression, e.g. `0 * * * *`.
    pub schedule: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    Rewrite,
    Redirect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    #[serde(rename = "type")]
    pub kind: RouteKind,
    pub source: String,
    pub destination: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_command: Option<String>,
    pub publish_path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// The per-type part of a create; the variant decides the service type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewServiceDetails {
    Web(WebDetails),
    Static(StaticDetails),
    PrivateService(ServerDetails<PaidPlan>),
    Worker(ServerDetails<PaidPlan>),
    Cron(CronDetails),
}

impl NewServiceDetails {
    pub fn service_type(&self) -> ServiceType {
        match self {
            NewServiceDetails::Web(_) => ServiceType::WebService,
            NewServiceDetails::Static(_) => ServiceType::StaticSite,
            NewServiceDetails::PrivateService(_) => ServiceType::PrivateService,
            NewServiceDetails::Worker(_) => ServiceType::BackgroundWorker,
            NewServiceDetails::Cron(_) => ServiceType::CronJob,
        }
    }
}

/// `envSpecificDetails`: native `{buildCommand, startCommand}` or docker
/// `{dockerfilePath, dockerContext}`.
#[derive(Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
enum EnvSpecificWire<'a> {
    Native {
        build_command: &'a str,
        start_command: &'a str,
    },
    Docker {
        dockerfile_path: &'a str,
        docker_context: &'a str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum RuntimeWire {
    Docker,
    #[serde(untagged)]
    Native(NativeRuntime),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerDetailsWire<'a, P> {
    runtime: RuntimeWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<P>,
    /// Never in an update: Render cannot move a service to another region.
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
    env_specific_details: EnvSpecificWire<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    health_check_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<&'a str>,
}

impl<P: Copy> ServerDetails<P> {
    fn wire<'a>(
        &'a self,
        health_check_path: Option<&'a str>,
        schedule: Option<&'a str>,
    ) -> ServerDetailsWire<'a, P> {
        let (runtime, env_specific_details) = match &self.build {
            Build::Native {
                runtime,
                build_command,
                start_command,
            } => (
                RuntimeWire::Native(*runtime),
                EnvSpecificWire::Native {
                    build_command,
                    start_command,
                },
            ),
            Build::Docker {
                dockerfile_path,
                docker_context,
            } => (
                RuntimeWire::Docker,
                EnvSpecificWire::Docker {
                    dockerfile_path,
                    docker_context,
                },
            ),
        };
        ServerDetailsWire {
            runtime,
            plan: Some(self.plan),
            region: Some(self.region),
            env_specific_details,
            health_check_path,
            schedule,
        }
    }
}

impl Serialize for NewServiceDetails {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            NewServiceDetails::Web(web) => web
                .server
                .wire(web.health_check_path.as_deref(), None)
                .serialize(serializer),
            NewServiceDetails::Static(details) => details.serialize(serializer),
            NewServiceDetails::PrivateService(server) | NewServiceDetails::Worker(server) => {
                server.wire(None, None).serialize(serializer)
            }
            NewServiceDetails::Cron(cron) => cron
                .server
                .wire(None, Some(&cron.schedule))
                .serialize(serializer),
        }
    }
}

/// The body of `POST /v1/services` (Render's `servicePOST`).
#[derive(Debug, Clone)]
pub struct NewService {
    pub name: String,
    pub owner_id: String,
    /// `https://github.com/<owner>/<repo>`, never with a branch in it.
    pub repo: String,
    /// `None`: the repository's default branch.
    pub branch: Option<String>,
    pub root_dir: Option<String>,
    pub auto_deploy: bool,
    pub env_vars: Vec<EnvVarInput>,
    pub details: NewServiceDetails,
}

impl NewService {
    pub fn service_type(&self) -> ServiceType {
        self.details.service_type()
    }
}

impl Serialize for NewService {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            #[serde(rename = "type")]
            service_type: ServiceType,
            name: &'a str,
            owner_id: &'a str,
            repo: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            branch: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            root_dir: Option<&'a str>,
            auto_deploy: &'static str,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            env_vars: &'a [EnvVarInput],
            service_details: &'a NewServiceDetails,
        }
        Wire {
            service_type: self.service_type(),
            name: &self.name,
            owner_id: &self.owner_id,
            repo: &self.repo,
            branch: self.branch.as_deref(),
            root_dir: self.root_dir.as_deref(),
            auto_deploy: if self.auto_deploy { "yes" } else { "no" },
            env_vars: &self.env_vars,
            service_details: &self.details,
        }
        .serialize(serializer)
    }
}

/// The body of `PATCH /v1/services/{id}` (Render's `servicePATCH`): brings an existing
/// service's settings in line with a plan before a redeploy. The region is never sent (Render
/// cannot change it), nor are a static site's routes (not part of `servicePATCH`).
#[derive(Debug, Clone)]
pub struct ServiceUpdate {
    /// `None`: the branch is left as it is.
    pub branch: Option<String>,
    /// Empty: the repository root.
    pub root_dir: String,
    pub details: NewServiceDetails,
    /// Send the details' plan (only when one was chosen: otherwise a plan picked in Render's
    /// dashboard is kept).
    pub set_plan: bool,
}

impl Serialize for ServiceUpdate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct StaticPatch<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            build_command: Option<&'a str>,
            publish_path: &'a str,
        }
        #[derive(Serialize)]
        #[serde(untagged)]
        enum DetailsPatch<'a> {
            Static(StaticPatch<'a>),
            Web(ServerDetailsWire<'a, Plan>),
            Paid(ServerDetailsWire<'a, PaidPlan>),
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            branch: Option<&'a str>,
            root_dir: &'a str,
            service_details: DetailsPatch<'a>,
        }
        fn strip<P>(
            mut wire: ServerDetailsWire<'_, P>,
            set_plan: bool,
        ) -> ServerDetailsWire<'_, P> {
            wire.region = None;
            if !set_plan {
                wire.plan = None;
            }
            wire
        }
        let details = match &self.details {
            NewServiceDetails::Static(site) => DetailsPatch::Static(StaticPatch {
                build_command: site.build_command.as_deref(),
                publish_path: &site.publish_path,
            }),
            NewServiceDetails::Web(web) => DetailsPatch::Web(strip(
                web.server.wire(web.health_check_path.as_deref(), None),
                self.set_plan,
            )),
            NewServiceDetails::PrivateService(server) | NewServiceDetails::Worker(server) => {
                DetailsPatch::Paid(strip(server.wire(None, None), self.set_plan))
            }
            NewServiceDetails::Cron(cron) => DetailsPatch::Paid(strip(
                cron.server.wire(None, Some(&cron.schedule)),
                self.set_plan,
            )),
        };
        Wire {
            branch: self.branch.as_deref(),
            root_dir: &self.root_dir,
            service_details: details,
        }
        .serialize(serializer)
    }
}

// ---------------------------------------------------------------------------
// The trait and its HTTP implementation

#[async_trait]
pub trait RenderApi: Send + Sync {
    /// Every workspace the key reaches (all pages, bounded). Also the cheapest key check.
    async fn owners(&self, key: &SecretString) -> Result<Vec<Owner>, UpstreamError>;
    /// Services matching `filter`, following cursors until a short page or `max` services.
    async fn services(
        &self,
        key: &SecretString,
        filter: &ServiceFilter,
        max: usize,
    ) -> Result<Vec<Service>, UpstreamError>;
    async fn service(&self, key: &SecretString, id: &str) -> Result<Service, UpstreamError>;
    /// Changes an existing service's settings (`PATCH`); the next deploy uses them.
    async fn update_service(
        &self,
        key: &SecretString,
        id: &str,
        update: &ServiceUpdate,
    ) -> Result<Service, UpstreamError>;
    /// Creates the service; Render starts its first deploy at once.
    async fn create_service(
        &self,
        key: &SecretString,
        body: &NewService,
    ) -> Result<CreatedService, UpstreamError>;
    /// `None` when Render queued the deploy (202, empty body): find it with [`RenderApi::deploys`].
    async fn trigger_deploy(
        &self,
        key: &SecretString,
        service_id: &str,
    ) -> Result<Option<Deploy>, UpstreamError>;
    /// The most recent deploys, newest first, at most `limit` (capped at 100).
    async fn deploys(
        &self,
        key: &SecretString,
        service_id: &str,
        limit: u32,
    ) -> Result<Vec<Deploy>, UpstreamError>;
    async fn deploy(
        &self,
        key: &SecretString,
        service_id: &str,
        deploy_id: &str,
    ) -> Result<Deploy, UpstreamError>;
    /// Replaces the whole set: keys left out are removed.
    async fn replace_env_vars(
        &self,
        key: &SecretString,
        service_id: &str,
        vars: &[EnvVarInput],
    ) -> Result<(), UpstreamError>;
    /// Sets (adds or updates) each variable by key, leaving the service's
    /// other variables alone.
    async fn set_env_vars(
        &self,
        key: &SecretString,
        service_id: &str,
        vars: &[EnvVarInput],
    ) -> Result<(), UpstreamError>;
    /// The keys of the service's env vars; values are never read.
    async fn env_var_keys(
        &self,
        key: &SecretString,
        service_id: &str,
    ) -> Result<Vec<String>, UpstreamError>;
    /// The last `limit` (capped at 100) build log lines of the service, oldest first, text only.
    async fn build_logs(
        &self,
        key: &SecretString,
        owner_id: &str,
        service_id: &str,
        limit: u32,
    ) -> Result<Vec<String>, UpstreamError>;
}

/// [`RenderApi`] over HTTP.
#[derive(Clone)]
pub struct RenderClient {
    transport: Transport,
}

impl fmt::Debug for RenderClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderClient").finish_non_exhaustive()
    }
}

impl RenderClient {
    /// `api_base` ends in `/v1` (`https://api.render.com/v1`); `timeout`
    /// bounds both connecting and each whole request.
    pub fn new(api_base: &Url, timeout: Duration) -> Self {
        Self {
            transport: Transport::new(Upstream::Render, api_base, timeout),
        }
    }

    fn request<'s>(
        &self,
        method: Method,
        key: &SecretString,
        segments: impl IntoIterator<Item = &'s str>,
    ) -> Result<reqwest::RequestBuilder, UpstreamError> {
        let url = self.transport.url(segments)?;
        Ok(self
            .transport
            .http()
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json")
            .bearer_auth(key.expose_secret()))
    }

    async fn get_json<'s, T: serde::de::DeserializeOwned>(
        &self,
        key: &SecretString,
        segments: impl IntoIterator<Item = &'s str>,
        query: &[(&str, &str)],
    ) -> Result<T, UpstreamError> {
        let request = self.request(Method::GET, key, segments)?.query(query);
        let response = self.transport.send(request).await?;
        self.transport.json(response).await
    }

    /// Walks a cursor-paginated list of `[{<noun>: T, cursor}]` with the
    /// largest page size, until a short page or `max` items.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        key: &SecretString,
        segments: &[&str],
        query: &[(&str, &str)],
        noun: &str,
        max: usize,
    ) -> Result<Vec<T>, UpstreamError> {
        let limit = PAGE_LIMIT.to_string();
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        while items.len() < max {
            let mut page_query = query.to_vec();
            page_query.push(("limit", &limit));
            if let Some(cursor) = &cursor {
                page_query.push(("cursor", cursor));
            }
            let page: Vec<Map<String, Value>> = self
                .get_json(key, segments.iter().copied(), &page_query)
                .await?;
            let full_page = page.len() >= PAGE_LIMIT;
            let mut last_cursor = None;
            for mut entry in page {
                let item = entry
                    .remove(noun)
                    .ok_or_else(|| self.transport.unavailable(UnavailableReason::Malformed))?;
                items.push(
                    serde_json::from_value(item)
                        .map_err(|_| self.transport.unavailable(UnavailableReason::Malformed))?,
                );
                last_cursor = entry
                    .remove("cursor")
                    .and_then(|cursor| cursor.as_str().map(str::to_owned));
            }
            match last_cursor {
                // A repeated cursor would loop forever; treat it as the end.
                Some(next) if full_page && cursor.as_deref() != Some(next.as_str()) => {
                    cursor = Some(next);
                }
                _ => break,
            }
        }
        items.truncate(max);
        Ok(items)
    }
}

fn page_limit(limit: u32) -> String {
    limit.clamp(1, PAGE_LIMIT as u32).to_string()
}

#[async_trait]
impl RenderApi for RenderClient {
    #[tracing::instrument(skip_all, fields(upstream = "render", op = "owners"))]
    async fn owners(&self, key: &SecretString) -> Result<Vec<Owner>, UpstreamError> {
        self.list(key, &["owners"], &[], "owner", MAX_OWNERS).await
    }

    #[tracing::instrument(skip_all, fields(upstream = "render", op = "services", max = max))]
    async fn services(
        &self,
        key: &SecretString,
        filter: &ServiceFilter,
        max: usize,
    ) -> Result<Vec<Service>, UpstreamError> {
        let mut query = Vec::new();
        if let Some(owner_id) = &filter.owner_id {
            query.push(("ownerId", owner_id.as_str()));
        }
        if let Some(name) = &filter.name {
            query.push(("name", name.as_str()));
        }
        let services: Vec<ServiceWire> = self
            .list(key, &["services"], &query, "service", max)
            .await?;
        Ok(services
            .into_iter()
            .map(Service::from)
            // Render's name filter is a comma list; a name with a comma would
            // widen it, so the exact match is enforced here too.
            .filter(|service| {
                filter
                    .name
                    .as_ref()
                    .is_none_or(|name| &service.name == name)
            })
            .filter(|service| {
                filter
                    .owner_id
                    .as_ref()
                    .is_none_or(|owner| &service.owner_id == owner)
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(upstream = "render", op = "service", service.id = %id))]
    async fn service(&self, key: &SecretString, id: &str) -> Result<Service, UpstreamError> {
        let wire: ServiceWire = self.get_json(key, ["services", id], &[]).await?;
        Ok(wire.into())
    }

    #[tracing::instrument(skip_all, fields(upstream = "render", op = "update_service", service.id = %id))]
    async fn update_service(
        &self,
        key: &SecretString,
        id: &str,
        update: &ServiceUpdate,
    ) -> Result<Service, UpstreamError> {
        let request = self
            .request(Method::PATCH, key, ["services", id])?
            .json(update);
        let response = self.transport.send(request).await?;
        let wire: ServiceWire = self.transport.json(response).await?;
        Ok(wire.into())
    }

    #[tracing::instrument(
        skip_all,
        fields(upstream = "render", op = "create_service", service.type = ?body.service_type())
    )]
    async fn create_service(
        &self,
        key: &SecretString,
        body: &NewService,
    ) -> Result<CreatedService, UpstreamError> {
        let request = self.request(Method::POST, key, ["services"])?.json(body);
        let response = self.transport.send(request).await?;
        let created: CreatedServiceWire = self.transport.json(response).await?;
        Ok(CreatedService {
            service: created.service.into(),
            deploy_id: created.deploy_id,
        })
    }

    #[tracing::instrument(
        skip_all,
        fields(upstream = "render", op = "trigger_deploy", service.id = %service_id)
    )]
    async fn trigger_deploy(
        &self,
        key: &SecretString,
        service_id: &str,
    ) -> Result<Option<Deploy>, UpstreamError> {
        let request = self
            .request(Method::POST, key, ["services", service_id, "deploys"])?
            .json(&Map::new());
        let response = self.transport.send(request).await?;
        // 201 carries the deploy; 202 ("queued") may have no body at all.
        let body = self.transport.bytes(response).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        self.transport.parse(&body).map(Some)
    }

    #[tracing::instrument(skip_all, fields(upstream = "render", op = "deploys", service.id = %service_id))]
    async fn deploys(
        &self,
        key: &SecretString,
        service_id: &str,
        limit: u32,
    ) -> Result<Vec<Deploy>, UpstreamError> {
        let limit = page_limit(limit);
        let page: Vec<Map<String, Value>> = self
            .get_json(
                key,
                ["services", service_id, "deploys"],
                &[("limit", &limit)],
            )
            .await?;
        page.into_iter()
            .map(|mut entry| {
                entry
                    .remove("deploy")
                    .and_then(|deploy| serde_json::from_value(deploy).ok())
                    .ok_or_else(|| self.transport.unavailable(UnavailableReason::Malformed))
            })
            .collect()
    }

    #[tracing::instrument(
        skip_all,
        fields(upstream = "render", op = "deploy", service.id = %service_id, deploy.id = %deploy_id)
    )]
    async fn deploy(
        &self,
        key: &SecretString,
        service_id: &str,
        deploy_id: &str,
    ) -> Result<Deploy, UpstreamError> {
        self.get_json(key, ["services", service_id, "deploys", deploy_id], &[])
            .await
    }

    #[tracing::instrument(
        skip_all,
        fields(upstream = "render", op = "replace_env_vars", service.id = %service_id, env.count = vars.len())
    )]
    async fn replace_env_vars(
        &self,
        key: &SecretString,
        service_id: &str,
        vars: &[EnvVarInput],
    ) -> Result<(), UpstreamError> {
        let request = self
            .request(Method::PUT, key, ["services", service_id, "env-vars"])?
            .json(vars);
        // The answer echoes every value in plaintext: it is dropped unread.
        self.transport.send(request).await.map(drop)
    }

    #[tracing::instrument(
        skip_all,
        fields(upstream = "render", op = "set_env_vars", service.id = %service_id)
    )]
    async fn set_env_vars(
        &self,
        key: &SecretString,
        service_id: &str,
        vars: &[EnvVarInput],
    ) -> Result<(), UpstreamError> {
        for var in vars {
            let request = self
                .request(
                    Method::PUT,
                    key,
                    ["services", service_id, "env-vars", var.key()],
                )?
                .json(&var.single_value());
            // The answer echoes the value: dropped unread.
            self.transport.send(request).await.map(drop)?;
        }
        Ok(())
    }

    #[tracing::instrument(
        skip_all,
        fields(upstream = "render", op = "env_var_keys", service.id = %service_id)
    )]
    async fn env_var_keys(
        &self,
        key: &SecretString,
        service_id: &str,
    ) -> Result<Vec<String>, UpstreamError> {
        /// Only the key is deserialized; the value is skipped by serde.
        #[derive(Deserialize)]
        struct KeyOnly {
            key: String,
        }
        let vars: Vec<KeyOnly> = self
            .list(
                key,
                &["services", service_id, "env-vars"],
                &[],
                "envVar",
                MAX_ENV_VARS,
            )
            .await?;
        Ok(vars.into_iter().map(|var| var.key).collect())
    }

    #[tracing::instrument(
        skip_all,
        fields(upstream = "render", op = "build_logs", service.id = %service_id)
    )]
    async fn build_logs(
        &self,
        key: &SecretString,
        owner_id: &str,
        service_id: &str,
        limit: u32,
    ) -> Result<Vec<String>, UpstreamError> {
        #[derive(Deserialize)]
        struct Logs {
            logs: Vec<LogLine>,
        }
        #[derive(Deserialize)]
        struct LogLine {
            message: String,
            timestamp: String,
        }
        let limit = page_limit(limit);
        let logs: Logs = self
            .get_json(
                key,
                ["logs"],
                &[
                    ("ownerId", owner_id),
                    ("resource", service_id),
                    ("type", "build"),
                    ("direction", "backward"),
                    ("limit", &limit),
                ],
            )
            .await?;
        // `backward` gives the newest lines first; callers want reading order.
        let mut lines = logs
            .logs
            .into_iter()
            .map(|line| {
                OffsetDateTime::parse(&line.timestamp, &Rfc3339)
                    .map(|at| (at, line.message))
                    .map_err(|_| self.transport.unavailable(UnavailableReason::Malformed))
            })
            .collect::<Result<Vec<_>, _>>()?;
        lines.sort_by_key(|(at, _)| *at);
        Ok(lines.into_iter().map(|(_, message)| message).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    fn base(details: NewServiceDetails, env_vars: Vec<EnvVarInput>) -> NewService {
        NewService {
            name: "app".into(),
            owner_id: "tea-abc".into(),
            repo: "https://github.com/o/r".into(),
            branch: Some("main".into()),
            root_dir: None,
            auto_deploy: true,
            env_vars,
            details,
        }
    }

    fn node_build() -> Build {
        Build::Native {
            runtime: NativeRuntime::Node,
            build_command: "npm ci".into(),
            start_command: "npm start".into(),
        }
    }

    #[test]
    fn web_service_body_matches_renders_minimal_example() {
        let env = EnvVarInput::new("NODE_ENV", EnvVarInputValue::Value(secret("production")))
            .expect("valid key");
        let body = base(
            NewServiceDetails::Web(WebDetails {
                server: ServerDetails {
                    build: node_build(),
                    plan: Plan::Starter,
                    region: Region::Oregon,
                },
                health_check_path: Some("/healthz".into()),
            }),
            vec![env],
        );
        assert_eq!(
            serde_json::to_value(&body).expect("serializes"),
            json!({"type":"web_service","name":"app","ownerId":"tea-abc","repo":"https://github.com/o/r",
                "branch":"main","autoDeploy":"yes","envVars":[{"key":"NODE_ENV","value":"production"}],
                "serviceDetails":{"runtime":"node","plan":"starter","region":"oregon",
                "healthCheckPath":"/healthz","envSpecificDetails":{"buildCommand":"npm ci",
                "startCommand":"npm start"}}})
        );
    }

    #[test]
    fn static_site_body_has_no_runtime_plan_or_region() {
        let mut body = base(
            NewServiceDetails::Static(StaticDetails {
                build_command: Some("npm ci && npm run build".into()),
                publish_path: "dist".into(),
                routes: vec![],
            }),
            vec![],
        );
        body.auto_deploy = false;
        body.branch = None;
        assert_eq!(
            serde_json::to_value(&body).expect("serializes"),
            json!({"type":"static_site","name":"app","ownerId":"tea-abc","repo":"https://github.com/o/r",
                "autoDeploy":"no",
                "serviceDetails":{"buildCommand":"npm ci && npm run build","publishPath":"dist"}})
        );
    }

    #[test]
    fn static_site_routes_serialize_with_type() {
        let details = NewServiceDetails::Static(StaticDetails {
            build_command: None,
            publish_path: "public".into(),
            routes: vec![Route {
                kind: RouteKind::Rewrite,
                source: "/*".into(),
                destination: "/index.html".into(),
            }],
        });
        assert_eq!(
            serde_json::to_value(&details).expect("serializes"),
            json!({"publishPath":"public","routes":[{"type":"rewrite","source":"/*","destination":"/index.html"}]})
        );
    }

    #[test]
    fn docker_private_service_body() {
        let mut body = base(
            NewServiceDetails::PrivateService(ServerDetails {
                build: Build::Docker {
                    dockerfile_path: "./Dockerfile".into(),
                    docker_context: ".".into(),
                },
                plan: PaidPlan::Standard,
                region: Region::Frankfurt,
            }),
            vec![],
        );
        body.root_dir = Some("services/api".into());
        assert_eq!(
            serde_json::to_value(&body).expect("serializes"),
            json!({"type":"private_service","name":"app","ownerId":"tea-abc","repo":"https://github.com/o/r",
                "branch":"main","rootDir":"services/api","autoDeploy":"yes",
                "serviceDetails":{"runtime":"docker","plan":"standard","region":"frankfurt",
                "envSpecificDetails":{"dockerfilePath":"./Dockerfile","dockerContext":"."}}})
        );
    }

    #[test]
    fn worker_body_has_no_health_check() {
        let body = base(
            NewServiceDetails::Worker(ServerDetails {
                build: Build::Native {
                    runtime: NativeRuntime::Python,
                    build_command: "pip install -r requirements.txt".into(),
                    start_command: "python worker.py".into(),
                },
                plan: PaidPlan::Starter,
                region: Region::Ohio,
            }),
            vec![EnvVarInput::new("SECRET_KEY", EnvVarInputValue::Generate).expect("valid key")],
        );
        assert_eq!(
            serde_json::to_value(&body).expect("serializes"),
            json!({"type":"background_worker","name":"app","ownerId":"tea-abc","repo":"https://github.com/o/r",
                "branch":"main","autoDeploy":"yes","envVars":[{"key":"SECRET_KEY","generateValue":true}],
                "serviceDetails":{"runtime":"python","plan":"starter","region":"ohio",
                "envSpecificDetails":{"buildCommand":"pip install -r requirements.txt",
                "startCommand":"python worker.py"}}})
        );
    }

    #[test]
    fn cron_job_body_carries_schedule() {
        let body = base(
            NewServiceDetails::Cron(CronDetails {
                server: ServerDetails {
                    build: Build::Native {
                        runtime: NativeRuntime::Go,
                        build_command: "go build -o app".into(),
                        start_command: "./app".into(),
                    },
                    plan: PaidPlan::Starter,
                    region: Region::Virginia,
                },
                schedule: "0 * * * *".into(),
            }),
            vec![],
        );
        assert_eq!(body.service_type(), ServiceType::CronJob);
        assert_eq!(
            serde_json::to_value(&body).expect("serializes"),
            json!({"type":"cron_job","name":"app","ownerId":"tea-abc","repo":"https://github.com/o/r",
                "branch":"main","autoDeploy":"yes",
                "serviceDetails":{"runtime":"go","plan":"starter","region":"virginia","schedule":"0 * * * *",
                "envSpecificDetails":{"buildCommand":"go build -o app","startCommand":"./app"}}})
        );
    }

    #[test]
    fn update_body_never_carries_the_region_and_the_plan_only_when_chosen() {
        let web = NewServiceDetails::Web(WebDetails {
            server: ServerDetails {
                build: node_build(),
                plan: Plan::Standard,
                region: Region::Frankfurt,
            },
            health_check_path: None,
        });
        let update = ServiceUpdate {
            branch: Some("release".into()),
            root_dir: String::new(),
            details: web.clone(),
            set_plan: true,
        };
        let value = serde_json::to_value(&update).expect("serializes");
        assert_eq!(value["branch"], "release");
        assert_eq!(value["rootDir"], "");
        assert_eq!(value["serviceDetails"]["plan"], "standard");
        assert!(value["serviceDetails"].get("region").is_none(), "{value}");
        assert_eq!(value["serviceDetails"]["runtime"], "node");
        let kept_plan = ServiceUpdate {
            branch: None,
            set_plan: false,
            ..update
        };
        let value = serde_json::to_value(&kept_plan).expect("serializes");
        assert!(value.get("branch").is_none(), "{value}");
        assert!(value["serviceDetails"].get("plan").is_none(), "{value}");

        let site = ServiceUpdate {
            branch: None,
            root_dir: "web".into(),
            details: NewServiceDetails::Static(StaticDetails {
                build_command: Some("npm run build".into()),
                publish_path: "dist".into(),
                routes: vec![Route {
                    kind: RouteKind::Rewrite,
                    source: "/*".into(),
                    destination: "/index.html".into(),
                }],
            }),
            set_plan: true,
        };
        assert_eq!(
            serde_json::to_value(&site).expect("serializes"),
            json!({"rootDir":"web","serviceDetails":{"buildCommand":"npm run build","publishPath":"dist"}})
        );
    }

    #[test]
    fn debug_never_prints_env_values() {
        let body = base(
            NewServiceDetails::Static(StaticDetails {
                build_command: None,
                publish_path: "public".into(),
                routes: vec![],
            }),
            vec![
                EnvVarInput::new(
                    "API_TOKEN",
                    EnvVarInputValue::Value(secret("hunter2-very-secret")),
                )
                .expect("valid key"),
            ],
        );
        let debug = format!("{body:?} {:?}", body.env_vars);
        assert!(debug.contains("API_TOKEN"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn env_var_keys_are_validated() {
        for good in ["A", "_x", "DATABASE_URL", "a1_b2"] {
            assert!(
                EnvVarInput::new(good, EnvVarInputValue::Generate).is_ok(),
                "{good}"
            );
        }
        let too_long = "A".repeat(MAX_ENV_KEY_LEN + 1);
        for bad in ["", "1A", "A-B", "A B", "Ä", "A=B", too_long.as_str()] {
            assert_eq!(
                EnvVarInput::new(bad, EnvVarInputValue::Generate).err(),
                Some(InvalidEnvVarKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn service_wire_maps_render_shapes() {
        let service: Service = serde_json::from_value::<ServiceWire>(json!({
            "id":"srv-1","name":"app","ownerId":"tea-1","type":"web_service","repo":"https://github.com/o/r",
            "branch":"main","autoDeploy":"yes","suspended":"suspended","suspenders":["user"],
            "dashboardUrl":"https://dashboard.render.com/web/srv-1","createdAt":"2025-01-13T16:41:48.081145Z",
            "updatedAt":"2025-01-13T16:41:48.081145Z","slug":"app","rootDir":"","notifyOnFail":"default",
            "serviceDetails":{"url":"https://app.onrender.com","runtime":"node"}
        }))
        .expect("parses")
        .into();
        assert!(service.suspended);
        assert_eq!(service.service_type, ServiceType::WebService);
        assert_eq!(service.url.as_deref(), Some("https://app.onrender.com"));
        assert_eq!(service.host(), "app");
        assert_eq!(service.region, None, "no region in this shape");

        let worker: Service = serde_json::from_value::<ServiceWire>(json!({
            "id":"srv-2","name":"w","ownerId":"tea-1","type":"background_worker","suspended":"not_suspended",
            "dashboardUrl":"d","createdAt":"c","serviceDetails":{"runtime":"node"}
        }))
        .expect("parses")
        .into();
        assert!(!worker.suspended);
        assert_eq!(worker.url, None);
        assert_eq!(worker.repo, None);
    }

    #[test]
    fn deploy_status_parses_and_classifies() {
        let deploy: Deploy = serde_json::from_value(json!({
            "id":"dep-1","status":"build_failed","commit":null,"createdAt":"a","finishedAt":"b"
        }))
        .expect("parses");
        assert_eq!(deploy.status, DeployStatus::BuildFailed);
        assert!(deploy.status.is_terminal() && !deploy.status.is_success());

        let novel: Deploy =
            serde_json::from_value(json!({"id":"dep-2","status":"some_future_state"}))
                .expect("parses");
        assert_eq!(novel.status, DeployStatus::Unknown);
        assert!(!novel.status.is_terminal());

        for running in [
            DeployStatus::Created,
            DeployStatus::Queued,
            DeployStatus::BuildInProgress,
            DeployStatus::UpdateInProgress,
            DeployStatus::PreDeployInProgress,
        ] {
            assert!(!running.is_terminal(), "{running:?}");
        }
        assert!(DeployStatus::Live.is_success() && DeployStatus::Deactivated.is_success());
        assert!(DeployStatus::Canceled.is_terminal() && !DeployStatus::Canceled.is_success());
    }
}

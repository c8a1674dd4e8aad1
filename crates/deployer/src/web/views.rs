//! The page templates and the view data they show. Every value reaches HTML
//! through askama's escaping; links to upstream-provided URLs are kept only
//! when they are plain http(s), so a hostile `javascript:` URL is shown as
//! text at most.

use askama::Template;
use time::OffsetDateTime;
use uuid::Uuid;

use super::notice::Notice;
use crate::account::StatusView;
use crate::db::history::{DeploymentRecord, DeploymentStatus, ServiceRecord};
use crate::deploy::{DeploymentView, ServiceLog};
use crate::domain::names::{InstancePlan, Region};
use crate::plan::{EnvVarSource, Plan, PlanSource, PlannedService};
use crate::upstream::render::Service;

/// `https://…` or `http://…` only; anything else is not linked.
pub fn http_url(raw: &str) -> Option<String> {
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(String::from)
}

fn when(at: OffsetDateTime) -> String {
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

pub fn status_label(status: DeploymentStatus) -> &'static str {
    match status {
        DeploymentStatus::Pending => "Queued",
        DeploymentStatus::InProgress => "Building and deploying",
        DeploymentStatus::Live => "Live",
        DeploymentStatus::Failed => "Failed",
        DeploymentStatus::Untracked => "Tracking stopped",
    }
}

/// The login link, coming back to `return_to` (a path this module built).
pub fn login_href(return_to: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    format!("/api/auth/github/login?return_to={encoded}")
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub notice: Option<Notice>,
    pub login_href: String,
    /// The repository a one-click link is about to deploy.
    pub repo: Option<String>,
}

/// Who is logged in, for the header of every logged-in page.
pub struct Account {
    pub login: String,
    pub csrf: String,
}

pub struct SelectOption {
    pub value: &'static str,
    pub selected: bool,
}

fn options(names: &'static [&'static str], chosen: &str) -> Vec<SelectOption> {
    names
        .iter()
        .map(|&value| SelectOption {
            value,
            selected: value == chosen,
        })
        .collect()
}

/// What the deploy form shows again. Env var values are never sent back.
#[derive(Default)]
pub struct FormView {
    pub repo: String,
    pub project_name: String,
    pub branch: String,
    pub env_keys: Vec<String>,
    pub region: String,
    pub plan: String,
}

/// Env var rows the form always offers, beyond the ones already filled.
const EMPTY_ENV_ROWS: usize = 2;

impl FormView {
    pub fn for_repo(repo: &str) -> Self {
        Self {
            repo: repo.to_owned(),
            ..Self::default()
        }
    }

    fn env_rows(&self) -> Vec<String> {
        let mut rows = self.env_keys.clone();
        rows.extend(std::iter::repeat_n(String::new(), EMPTY_ENV_ROWS));
        rows
    }
}

pub struct ServiceRow {
    pub name: String,
    pub kind: String,
    pub repo: String,
    pub url: Option<String>,
    pub dashboard_url: Option<String>,
    pub suspended: bool,
}

impl From<Service> for ServiceRow {
    fn from(s: Service) -> Self {
        Self {
            kind: serde_json::to_value(s.service_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            url: s.url.as_deref().and_then(http_url),
            dashboard_url: http_url(&s.dashboard_url),
            repo: s.repo.unwrap_or_default(),
            name: s.name,
            suspended: s.suspended,
        }
    }
}

pub struct HistoryRow {
    pub id: Uuid,
    pub repo: String,
    pub project_name: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub when: String,
}

impl From<DeploymentRecord> for HistoryRow {
    fn from(r: DeploymentRecord) -> Self {
        Self {
            id: r.id,
            status: r.status.as_str(),
            status_label: status_label(r.status),
            when: when(r.created_at),
            repo: r.repo,
            project_name: r.project_name,
        }
    }
}

pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

pub struct PlannedRow {
    pub name: String,
    pub kind: String,
    pub facts: Vec<Fact>,
    pub reasons: Vec<(String, String)>,
}

impl From<&PlannedService> for PlannedRow {
    fn from(s: &PlannedService) -> Self {
        let mut facts = Vec::new();
        let mut fact = |label, value: Option<String>| {
            if let Some(value) = value {
                facts.push(Fact { label, value });
            }
        };
        fact("Runtime", s.runtime.map(|r| r.to_string()));
        fact("Root directory", s.root_dir.as_ref().map(|d| d.to_string()));
        fact("Build command", s.build_command.clone());
        fact("Start command", s.start_command.clone());
        fact("Publish directory", s.publish_path.clone());
        fact("Schedule", s.schedule.clone());
        fact("Health check", s.health_check_path.clone());
        fact("Dockerfile", s.dockerfile_path.clone());
        fact("Plan", s.plan.map(|p| p.to_string()));
        fact("Region", s.region.map(|r| r.to_string()));
        let env: Vec<String> = s
            .env_vars
            .iter()
            .map(|v| match &v.source {
                EnvVarSource::Value { .. } => format!("{} (value from the repository)", v.key),
                EnvVarSource::Generate => format!("{} (generated by Render)", v.key),
                EnvVarSource::UserSupplied => format!("{} (you supply it)", v.key),
                EnvVarSource::FromService { service, .. } => {
                    format!("{} (from service {service})", v.key)
                }
            })
            .collect();
        fact("Env vars", (!env.is_empty()).then(|| env.join(", ")));
        Self {
            name: s.name.to_string(),
            kind: s.kind.to_string(),
            facts,
            reasons: s
                .reasons
                .iter()
                .map(|r| (r.field.clone(), r.text.clone()))
                .collect(),
        }
    }
}

pub struct PlanView {
    pub source: &'static str,
    pub services: Vec<PlannedRow>,
    pub warnings: Vec<String>,
    pub unsupported: Vec<String>,
    pub missing_env: Vec<String>,
    pub blueprint_url: Option<String>,
}

impl From<&Plan> for PlanView {
    fn from(plan: &Plan) -> Self {
        Self {
            source: match plan.source {
                PlanSource::Blueprint => "From the repository's render.yaml.",
                PlanSource::Detected => "Detected from the repository's files.",
            },
            services: plan.services.iter().map(PlannedRow::from).collect(),
            warnings: plan.warnings.iter().map(ToString::to_string).collect(),
            unsupported: plan.unsupported.clone(),
            missing_env: plan
                .required_env
                .iter()
                .filter(|r| !r.provided)
                .map(|r| format!("{} ({})", r.key, r.service))
                .collect(),
            blueprint_url: plan.blueprint_url.as_deref().and_then(http_url),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub account: Account,
    pub notice: Option<Notice>,
    pub status: StatusView,
    /// A one-click repository waiting for key setup.
    pub pending_repo: Option<String>,
    pub form: FormView,
    pub plan: Option<PlanView>,
    /// `None` when the services cannot be listed; `services_note` says why.
    pub services: Option<Vec<ServiceRow>>,
    pub services_note: &'static str,
    pub history: Vec<HistoryRow>,
}

impl DashboardPage {
    fn env_rows(&self) -> Vec<String> {
        self.form.env_rows()
    }

    fn regions(&self) -> Vec<SelectOption> {
        options(Region::NAMES, &self.form.region)
    }

    fn plans(&self) -> Vec<SelectOption> {
        options(InstancePlan::NAMES, &self.form.plan)
    }

    fn owner_name(&self) -> Option<&str> {
        self.status.render.owner.as_ref().map(|o| o.name.as_str())
    }

    /// When the session ends if left idle (or at its absolute limit).
    fn session_ends(&self) -> String {
        let s = &self.status.session;
        when(s.idle_expires_at.min(s.absolute_expires_at))
    }
}

pub struct DeployedService {
    pub service_id: String,
    pub name: String,
    pub kind: String,
    pub deploy_status: String,
    pub url: Option<String>,
    pub dashboard_url: Option<String>,
}

impl From<&ServiceRecord> for DeployedService {
    fn from(s: &ServiceRecord) -> Self {
        Self {
            service_id: s.service_id.clone(),
            name: s.name.clone(),
            kind: s.service_type.clone(),
            deploy_status: s.deploy_status.clone(),
            url: s.url.as_deref().and_then(http_url),
            dashboard_url: http_url(&s.dashboard_url),
        }
    }
}

pub struct LogView {
    pub service: String,
    pub lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "deployment.html")]
pub struct DeploymentPage {
    pub account: Account,
    pub id: Uuid,
    pub repo: String,
    pub branch: Option<String>,
    pub project_name: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub live: bool,
    pub terminal: bool,
    pub when: String,
    pub note: Option<String>,
    pub services: Vec<DeployedService>,
    pub logs: Vec<LogView>,
}

impl DeploymentPage {
    pub fn new(account: Account, view: DeploymentView) -> Self {
        let record = view.record;
        let name_of = |log: &ServiceLog| {
            record
                .services
                .iter()
                .find(|s| s.service_id == log.service_id)
                .map_or_else(|| log.service_id.clone(), |s| s.name.clone())
        };
        let logs = view
            .build_logs
            .iter()
            .map(|l| LogView {
                service: name_of(l),
                lines: l.lines.clone(),
            })
            .collect();
        Self {
            account,
            id: record.id,
            status: record.status.as_str(),
            status_label: status_label(record.status),
            live: record.status == DeploymentStatus::Live,
            terminal: record.status.is_terminal(),
            when: when(record.created_at),
            note: record.note.clone(),
            services: record.services.iter().map(DeployedService::from).collect(),
            logs,
            repo: record.repo,
            branch: record.branch,
            project_name: record.project_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::account::{GitHubView, OwnerView, RenderView, SessionView};
    use crate::upstream::render::ServiceType;

    const SCRIPT: &str = "<script>alert(1)</script>";
    const BREAKOUT: &str = "\"><img src=x onerror=alert(1)>";

    fn account() -> Account {
        Account {
            login: format!("octo{BREAKOUT}"),
            csrf: "csrf-token".into(),
        }
    }

    /// No hostile value may come out as markup: neither tag survives
    /// unescaped, and the escaped text is there.
    fn assert_escaped(html: &str) {
        assert!(
            !html.contains("<script>alert"),
            "raw script tag in:\n{html}"
        );
        assert!(!html.contains("<img src=x"), "raw img tag in:\n{html}");
        assert!(!html.contains("\"><img"), "attribute breakout in:\n{html}");
        // askama escapes with numeric references.
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(html.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"));
    }

    fn record(status: DeploymentStatus) -> DeploymentRecord {
        DeploymentRecord {
            id: Uuid::nil(),
            user_id: 1,
            repo: format!("demo/{SCRIPT}"),
            branch: Some(BREAKOUT.into()),
            project_name: format!("svc{SCRIPT}"),
            status,
            created_at: datetime!(2025-01-02 03:04 UTC),
            updated_at: datetime!(2025-01-02 03:04 UTC),
            note: None,
            services: vec![ServiceRecord {
                name: format!("web{SCRIPT}"),
                service_id: format!("srv-{BREAKOUT}"),
                service_type: "web_service".into(),
                url: Some("javascript:alert(1)".into()),
                dashboard_url: "https://dashboard.render.com/web/srv-1".into(),
                deploy_id: None,
                deploy_status: BREAKOUT.into(),
                created: true,
            }],
        }
    }

    #[test]
    fn the_deployment_page_shows_hostile_upstream_values_as_text() {
        let view = DeploymentView {
            record: record(DeploymentStatus::Live),
            build_logs: vec![ServiceLog {
                service_id: format!("srv-{BREAKOUT}"),
                lines: vec![SCRIPT.into(), BREAKOUT.into()],
            }],
            warnings: Vec::new(),
        };
        let html = DeploymentPage::new(account(), view)
            .render()
            .expect("renders");
        assert_escaped(&html);
        assert!(!html.contains("javascript:"), "a non-http URL was linked");
        assert!(html.contains("href=\"https://dashboard.render.com/web/srv-1\""));
        assert!(html.contains("src=\"/static/deployment.js\""));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the external script"
        );
        assert!(!html.contains("style="), "inline style");
    }

    /// The plan preview of a repository whose files carry markup: commands
    /// and reasons come straight from the repo.
    async fn hostile_plan() -> PlanView {
        let dir = tempfile::tempdir().expect("tempdir");
        let procfile = format!("web: node server.js {SCRIPT}\nworker: node {BREAKOUT}.js\n");
        let package = r#"{"name":"x","scripts":{"start":"node server.js"}}"#;
        crate::plan::fixtures::write_files(
            dir.path(),
            &[("Procfile", procfile.as_str()), ("package.json", package)],
        )
        .expect("files");
        let plan = crate::plan::plan_repository(
            &crate::plan::FsSource::new(dir.path().to_owned()),
            &crate::plan::fixtures::request(),
        )
        .await
        .expect("plans");
        PlanView::from(&plan)
    }

    #[tokio::test]
    async fn the_dashboard_shows_hostile_values_as_text_and_never_a_key() {
        let plan = hostile_plan().await;
        assert_eq!(plan.services.len(), 2, "web and worker from the Procfile");
        let page = DashboardPage {
            account: account(),
            notice: Some(Notice::info(SCRIPT, BREAKOUT, "next")),
            status: StatusView {
                github: GitHubView {
                    id: 1,
                    login: "octo".into(),
                },
                render: RenderView {
                    check: None,
                    configured: true,
                    verified: true,
                    verified_at: None,
                    owner: Some(OwnerView {
                        id: "own-1".into(),
                        name: format!("ws{SCRIPT}"),
                        kind: None,
                    }),
                },
                session: SessionView {
                    idle_expires_at: datetime!(2025-01-02 03:34 UTC),
                    absolute_expires_at: datetime!(2025-01-02 11:04 UTC),
                },
                csrf_token: Some("csrf-token".into()),
            },
            pending_repo: Some(BREAKOUT.into()),
            form: FormView {
                repo: BREAKOUT.into(),
                env_keys: vec![SCRIPT.into()],
                region: "frankfurt".into(),
                ..FormView::default()
            },
            plan: Some(plan),
            services: Some(vec![ServiceRow::from(Service {
                id: "srv-1".into(),
                name: format!("api{SCRIPT}"),
                owner_id: "own-1".into(),
                service_type: ServiceType::WebService,
                repo: Some(BREAKOUT.into()),
                branch: None,
                url: Some("javascript:alert(1)".into()),
                dashboard_url: "https://dashboard.render.com/web/srv-1".into(),
                suspended: false,
                created_at: String::new(),
                slug: None,
                region: None,
            })]),
            services_note: "",
            history: vec![HistoryRow::from(record(DeploymentStatus::Failed))],
        };
        let html = page.render().expect("renders");
        assert_escaped(&html);
        let preview = html
            .split("id=\"plan-preview\"")
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .expect("the plan preview is shown");
        assert!(preview.contains("node server.js &#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(preview.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;.js"));
        assert!(!html.contains("javascript:"), "a non-http URL was linked");
        assert!(html.contains("<option value=\"frankfurt\" selected>"));
        // The key field is a password field with nothing in it.
        assert!(html.contains(
            "<input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"off\""
        ));
        assert!(!html.contains("name=\"api_key\" value"));
        // Every form carries the CSRF token.
        assert_eq!(
            html.matches("<form method=\"post\"").count(),
            html.matches("name=\"csrf_token\" value=\"csrf-token\"")
                .count()
        );
        assert!(!html.contains("style="), "inline style");
        assert!(!html.contains("<script"), "a script on the dashboard");
    }
}

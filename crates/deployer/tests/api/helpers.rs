//! One `spawn_app()` for every API test: the real service on port 0 against
//! the real emulator on port 0, over real HTTP, with a fresh database, a
//! manual clock, and every log line captured (for canary checks).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use clap::Parser;
use deployer::app::{AppState, Application, BuildOptions};
use deployer::clock::ManualClock;
use deployer::config::{Config, ServeArgs};
use emulator::control::{Control, GithubUser, RenderAccount};
use emulator::{EmulatorConfig, RunningEmulator};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Every log line written by any test in this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Debug-level logs of every crate (ours, the emulator's, HTTP libraries),
/// captured in memory; printed too when `TEST_LOG` is set. The test
/// browsers' own cookie jar (`cookie_store`, never used by the service) is
/// kept quiet: it logs the cookies it stores.
fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper_util=info,h2=info,rustls=info,cookie_store=info")
            .with_writer(|| Capture)
            .json()
            .try_init();
    });
}

#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    serve: ServeArgs,
}

pub struct TestApp {
    pub url: String,
    pub emulator: RunningEmulator,
    pub control: Control,
    pub state: AppState,
    /// For session-expiry tests; the deploy tests never move time.
    #[allow(dead_code, reason = "not every test module moves the clock")]
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the emulator and the service; `extra` are `deployer serve` flags. A
/// flag in `extra` replaces the harness default of the same name.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    init_logging();
    let emulator = emulator::spawn(EmulatorConfig {
        phase_ms: 20,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let base = emulator.base_url().to_owned();
    let control = Control::new(&base);
    let oauth = control
        .create_oauth_app("http://127.0.0.1/api/auth/github/callback")
        .await
        .expect("oauth app");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut argv = vec![
        "deployer".to_owned(),
        "--listen-addr=127.0.0.1:0".to_owned(),
        "--public-url=http://127.0.0.1:0".to_owned(),
        format!("--secret-key={}", "t".repeat(40)),
        format!("--github-client-id={}", oauth.client_id),
        format!("--github-client-secret={}", oauth.client_secret),
        format!("--github-oauth-url={base}"),
        format!("--github-api-url={base}"),
        format!("--render-api-url={base}/v1"),
        format!(
            "--database-url=sqlite://{}",
            dir.path().join("test.db").display()
        ),
        "--upstream-timeout=2s".to_owned(),
        "--deploy-poll-interval=30ms".to_owned(),
        "--deploy-track-timeout=60s".to_owned(),
    ];
    let flag_name = |arg: &str| arg.split('=').next().unwrap_or(arg).to_owned();
    let overridden: Vec<String> = extra.iter().map(|a| flag_name(a)).collect();
    argv.retain(|a| !overridden.contains(&flag_name(a)));
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let config = Config::from_args(ServeOnly::parse_from(argv).serve).expect("valid config");
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let app = Application::build(
        config,
        BuildOptions {
            clock: clock.clone(),
            redis_prefix: format!("test:{}:", uuid::Uuid::new_v4()),
        },
    )
    .await
    .expect("service builds");
    let url = app.public_url();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        url,
        emulator,
        control,
        state,
        clock,
        _dir: dir,
    }
}

/// The User-Agent of every test browser (sessions are bound to it).
pub const USER_AGENT: &str = "api-tests/1.0";

/// A browser-like client: cookie jar, no redirects followed.
pub fn client() -> reqwest::Client {
    browser(Arc::new(Jar::default()), USER_AGENT)
}

/// A client with the given jar (so tests can read the session cookie) and User-Agent.
pub fn browser(jar: Arc<Jar>, user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .expect("client")
}

/// A client without a cookie jar: what an attacker replaying a token uses.
pub fn bare(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .expect("client")
}

/// A logged-in user with a Render account of their own.
pub struct TestUser {
    pub github: GithubUser,
    pub render: RenderAccount,
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
    pub csrf: Option<String>,
    pub url: String,
}

impl TestApp {
    /// Creates a GitHub user and a Render account, and logs in through the
    /// real OAuth flow (the emulator approves at once with `login=`).
    pub async fn login(&self, login: &str) -> TestUser {
        let github = self
            .control
            .create_github_user(login)
            .await
            .expect("gh user");
        let render = self
            .control
            .create_render_account(
                &format!("{login} workspace"),
                &format!("{login}@example.com"),
            )
            .await
            .expect("render account");
        let mut user = TestUser::new(github, render, &self.url);
        user.oauth_login(None).await;
        user
    }

    pub async fn render_count(&self, account: &RenderAccount) -> usize {
        let http = reqwest::Client::new();
        let mut count = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut req = http
                .get(format!("{}/v1/services", self.emulator.base_url()))
                .query(&[("limit", "100")])
                .bearer_auth(&account.api_key);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let page: Vec<Value> = req.send().await.expect("list").json().await.expect("json");
            count += page.len();
            match page.last().and_then(|e| e["cursor"].as_str()) {
                Some(c) if page.len() == 100 => cursor = Some(c.to_owned()),
                _ => return count,
            }
        }
    }
}

impl TestUser {
    fn new(github: GithubUser, render: RenderAccount, url: &str) -> Self {
        let jar = Arc::new(Jar::default());
        TestUser {
            github,
            render,
            http: browser(jar.clone(), USER_AGENT),
            jar,
            csrf: None,
            url: url.to_owned(),
        }
    }

    /// The same GitHub user logging in from another browser: its own session.
    pub async fn another_browser(&self) -> TestUser {
        let mut other = TestUser::new(self.github.clone(), self.render.clone(), &self.url);
        other.oauth_login(None).await;
        other
    }

    /// The session token in this browser's cookie jar, if any.
    pub fn session_token(&self) -> Option<String> {
        let url: url::Url = self.url.parse().expect("url");
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix("session="))
            .map(str::to_owned)
    }

    /// A GET with an explicit session cookie from a jar-less client.
    pub async fn get_with_cookie(
        &self,
        p: &str,
        token: &str,
        user_agent: &str,
    ) -> reqwest::Response {
        bare(user_agent)
            .get(self.path(p))
            .header("cookie", format!("session={token}"))
            .send()
            .await
            .expect("get")
    }

    /// Runs the OAuth dance; returns the callback's response.
    pub async fn oauth_login(&mut self, return_to: Option<&str>) -> reqwest::Response {
        let mut start = format!("{}/api/auth/github/login", self.url);
        if let Some(r) = return_to {
            start = format!("{start}?return_to={}", urlencode(r));
        }
        let to_github = self.http.get(start).send().await.expect("login");
        assert_eq!(
            to_github.status(),
            StatusCode::SEE_OTHER,
            "login redirects to GitHub"
        );
        let authorize = location(&to_github);
        let approved = self
            .http
            .get(format!("{authorize}&login={}", self.github.login))
            .send()
            .await
            .expect("authorize");
        let callback = location(&approved);
        let response = self.http.get(callback).send().await.expect("callback");
        self.refresh_csrf().await;
        response
    }

    pub async fn refresh_csrf(&mut self) {
        let status = self
            .http
            .get(self.path("/api/render/status"))
            .send()
            .await
            .expect("status");
        if status.status().is_success() {
            let body: Value = status.json().await.expect("json");
            self.csrf = body["csrf_token"].as_str().map(str::to_owned);
        }
    }

    pub fn path(&self, p: &str) -> String {
        format!("{}{p}", self.url)
    }

    pub async fn get(&self, p: &str) -> reqwest::Response {
        self.http.get(self.path(p)).send().await.expect("get")
    }

    /// POST JSON with this session's CSRF token.
    pub async fn post(&self, p: &str, body: Value) -> reqwest::Response {
        let mut req = self.http.post(self.path(p)).json(&body);
        if let Some(csrf) = &self.csrf {
            req = req.header("x-csrf-token", csrf);
        }
        req.send().await.expect("post")
    }

    pub async fn setup_key(&mut self, key: &str) -> reqwest::Response {
        let response = self
            .post("/api/render/setup", json!({ "api_key": key }))
            .await;
        if response.status().is_success() {
            // The session token rotated: so did the CSRF token.
            self.refresh_csrf().await;
        }
        response
    }

    pub async fn setup_own_key(&mut self) {
        let key = self.render.api_key.clone();
        let response = self.setup_key(&key).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location on {}", response.status()))
        .to_owned()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The JSON error code of an error response.
pub async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("error body is JSON");
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

impl TestApp {
    /// Creates a public repository of `owner` on the emulator's GitHub.
    pub async fn push_repo(&self, owner: &str, name: &str, files: &[(&str, &str)]) {
        self.control
            .create_repo(&emulator::control::RepoSpec {
                owner: owner.to_owned(),
                name: name.to_owned(),
                private: false,
                default_branch: "main".to_owned(),
                files: files
                    .iter()
                    .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                    .collect(),
                collaborators: Vec::new(),
                other_branches: Vec::new(),
            })
            .await
            .expect("repo");
    }

    /// Creates the demo repositories (`deployer::demo::seed_repos`) for `owner`.
    pub async fn seed_demo_repos(&self, owner: &str) {
        for repo in deployer::demo::seed_repos(owner) {
            self.control.create_repo(&repo).await.expect("repo");
        }
    }

    /// Requests to `upstream` the emulator has logged so far.
    pub async fn upstream_requests(
        &self,
        upstream: emulator::control::Upstream,
    ) -> Vec<emulator::control::LoggedRequest> {
        let mut all = self.control.requests().await.expect("request log");
        all.retain(|r| r.upstream == upstream);
        all
    }
}

impl TestApp {
    /// Waits until the emulator has served a deploy-status poll of `service_id`
    /// made with `api_key`: tracking is under way.
    pub async fn wait_for_poll(&self, api_key: &str, service_id: &str) {
        let fingerprint = emulator::fingerprint(api_key);
        let prefix = format!("/v1/services/{service_id}/deploys");
        for _ in 0..MAX_POLLS {
            let seen = self
                .upstream_requests(emulator::control::Upstream::Render)
                .await
                .iter()
                .any(|r| {
                    r.method == "GET"
                        && r.path.starts_with(&prefix)
                        && r.credential_fingerprint.as_deref() == Some(fingerprint.as_str())
                });
            if seen {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no deploy status poll of {service_id}");
    }

    /// Render calls made with `api_key` after the first `after` logged requests.
    pub async fn render_calls_with_key_after(
        &self,
        api_key: &str,
        after: usize,
    ) -> Vec<emulator::control::LoggedRequest> {
        let fingerprint = emulator::fingerprint(api_key);
        let all = self.control.requests().await.expect("request log");
        all.into_iter()
            .skip(after)
            .filter(|r| {
                r.upstream == emulator::control::Upstream::Render
                    && r.credential_fingerprint.as_deref() == Some(fingerprint.as_str())
            })
            .collect()
    }
}

/// Polls of a deployment before a test gives up on it reaching a terminal status.
const MAX_POLLS: usize = 600;

impl TestUser {
    /// POSTs a deploy and expects 202; returns the deployment view.
    pub async fn deploy(&self, body: Value) -> Value {
        let response = self.post("/api/render/deploy", body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, StatusCode::ACCEPTED, "deploy answered {text}");
        serde_json::from_str(&text).expect("deploy view is JSON")
    }

    /// `GET /api/render/my-deployments`: this user's deployment history.
    pub async fn history(&self) -> Value {
        let response = self.get("/api/render/my-deployments").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("history")
    }

    /// The deployment view, once its status is terminal (`live`, `failed`, or
    /// `untracked` when the session that started it ended first).
    pub async fn wait_terminal(&self, id: &str) -> Value {
        for _ in 0..MAX_POLLS {
            let response = self.get(&format!("/api/render/deployments/{id}")).await;
            assert_eq!(response.status(), StatusCode::OK);
            let view: Value = response.json().await.expect("json");
            if matches!(
                view["status"].as_str(),
                Some("live" | "failed" | "untracked")
            ) {
                return view;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("deployment {id} did not finish within {MAX_POLLS} polls");
    }
}

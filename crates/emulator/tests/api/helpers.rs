//! `spawn_emulator()` and the small clients every test uses.

use std::collections::BTreeMap;
use std::time::Duration;

use emulator::control::{Control, RenderAccount, RepoSpec};
use emulator::{EmulatorConfig, RunningEmulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Deploy steps in tests are short so polling ends quickly.
pub const PHASE_MS: u64 = 10;
pub const USER_AGENT: &str = "emulator-tests";

pub struct TestEmulator {
    pub emulator: RunningEmulator,
    pub control: Control,
    /// No redirects followed, so tests see GitHub's 302s.
    pub http: reqwest::Client,
}

pub async fn spawn_emulator() -> TestEmulator {
    let emulator = emulator::spawn(EmulatorConfig {
        phase_ms: PHASE_MS,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let control = Control::new(emulator.base_url());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestEmulator {
        emulator,
        control,
        http,
    }
}

pub fn repo(owner: &str, name: &str, private: bool, files: &[(&str, &str)]) -> RepoSpec {
    RepoSpec {
        owner: owner.to_owned(),
        name: name.to_owned(),
        private,
        default_branch: "main".to_owned(),
        files: files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        collaborators: Vec::new(),
        other_branches: Vec::new(),
    }
}

pub fn web_service(owner_id: &str, name: &str, repo: &str) -> Value {
    json!({
        "type": "web_service",
        "name": name,
        "ownerId": owner_id,
        "repo": repo,
        "branch": "main",
        "envVars": [{"key": "NODE_ENV", "value": "production"}],
        "serviceDetails": {
            "runtime": "node",
            "healthCheckPath": "/healthz",
            "envSpecificDetails": {"buildCommand": "npm ci", "startCommand": "npm start"}
        }
    })
}

impl TestEmulator {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    pub async fn account(&self, name: &str) -> RenderAccount {
        self.control
            .create_render_account(name, &format!("{name}@example.com"))
            .await
            .expect("account")
    }

    pub async fn render(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, self.url(&format!("/v1{path}")))
            .bearer_auth(key)
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("render request")
    }

    pub async fn render_get(&self, key: &str, path: &str) -> reqwest::Response {
        self.render(reqwest::Method::GET, key, path, None).await
    }

    pub async fn render_json(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: Option<&Value>,
        expect: StatusCode,
    ) -> Value {
        let response = self.render(method, key, path, body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, expect, "{path}: {text}");
        serde_json::from_str(&text).expect("json body")
    }

    pub async fn github_get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let mut request = self
            .http
            .get(self.url(path))
            .header("user-agent", USER_AGENT)
            .header("accept", "application/vnd.github+json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("github request")
    }

    /// Creates a web service and returns the `{service, deployId}` answer.
    pub async fn create_web_service(
        &self,
        account: &RenderAccount,
        name: &str,
        repo: &str,
    ) -> Value {
        let body = web_service(&account.owner_id, name, repo);
        self.render_json(
            reqwest::Method::POST,
            &account.api_key,
            "/services",
            Some(&body),
            StatusCode::CREATED,
        )
        .await
    }

    /// Poll a deploy until it reaches a terminal status (bounded, so a stuck clock fails the test).
    pub async fn wait_for_deploy(&self, key: &str, service_id: &str, deploy_id: &str) -> Value {
        for _ in 0..2000 {
            let deploy = self
                .render_json(
                    reqwest::Method::GET,
                    key,
                    &format!("/services/{service_id}/deploys/{deploy_id}"),
                    None,
                    StatusCode::OK,
                )
                .await;
            let status = deploy["status"].as_str().expect("status").to_owned();
            if matches!(status.as_str(), "live" | "build_failed" | "deactivated") {
                return deploy;
            }
            tokio::time::sleep(Duration::from_millis(PHASE_MS / 2)).await;
        }
        panic!("deploy {deploy_id} never finished");
    }
}

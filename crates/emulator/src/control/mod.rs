//! The control API's wire types (shared by the server and the client, so they cannot drift)
//! and [`Control`], a small client for driving an emulator from tests and `deployer demo`.

pub(crate) mod server;

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A GitHub OAuth App registered with the emulator.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

impl fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// A GitHub user created through the control API, with a ready-made access token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubUser {
    pub id: u64,
    pub login: String,
    pub token: String,
}

impl fmt::Debug for GithubUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubUser")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// A Render account (its own `user` owner) and its first API key; team workspaces are added
/// with [`Control::add_render_workspace`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderAccount {
    pub owner_id: String,
    pub api_key: String,
}

impl fmt::Debug for RenderAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderAccount")
            .field("owner_id", &self.owner_id)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// A GitHub repository to create: `files` maps a path (`src/main.rs`) to its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSpec {
    pub owner: String,
    pub name: String,
    #[serde(default)]
    pub private: bool,
    #[serde(default = "default_branch")]
    pub default_branch: String,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub collaborators: Vec<String>,
    /// Further branches, holding the same files as the default one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_branches: Vec<String>,
}

impl RepoSpec {
    /// Is `name` one of the repository's branches?
    pub fn has_branch(&self, name: &str) -> bool {
        name == self.default_branch || self.other_branches.iter().any(|b| b == name)
    }
}

fn default_branch() -> String {
    "main".to_owned()
}

/// Which upstream a request was addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Upstream {
    Github,
    Render,
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with `status` (default 500) and the upstream's error shape.
    Status,
    /// Wait `delay_ms` before serving the request normally.
    Delay,
    /// Close the connection without answering.
    Drop,
    /// Answer 200 with a JSON body that does not parse.
    Malformed,
    /// Answer 429 with the upstream's rate-limit headers. With `retry_after_s` (Render only)
    /// the answer's `Retry-After` says that many seconds, and the limit stays in force that
    /// long: every request under `path_prefix` before then is refused with 429 as well (it
    /// does not use up `count`), as a real rate limiter does.
    RateLimit,
}

/// A fault affecting the next `count` requests to `upstream` whose path starts with `path_prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub upstream: Upstream,
    #[serde(default)]
    pub path_prefix: String,
    pub kind: FaultKind,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    pub count: u32,
    /// For `rate_limit` on Render: the `Retry-After` seconds, enforced (see [`FaultKind::RateLimit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

/// One upstream request the emulator received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub upstream: Upstream,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// First 16 hex digits of SHA-256 of the credential sent (Render key, GitHub token or client secret).
    pub credential_fingerprint: Option<String>,
}

/// Deploy timing and which repos (`owner/name`) fail to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behavior {
    pub phase_ms: u64,
    #[serde(default)]
    pub fail_repos: Vec<String>,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            phase_ms: crate::state::DEFAULT_PHASE_MS,
            fail_repos: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NewGithubUser {
    pub login: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NewRenderAccount {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NewWorkspace {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Workspace {
    pub owner_id: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ApiKey {
    pub api_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NewOAuthApp {
    pub redirect_uri: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct OAuthAppCredentials {
    pub client_id: String,
    pub client_secret: String,
}

/// A client for the emulator's `/_emulator/` control API.
#[derive(Debug, Clone)]
pub struct Control {
    base_url: String,
    http: reqwest::Client,
}

impl Control {
    /// `base_url` is the emulator's root, e.g. `http://127.0.0.1:4000`.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn create_github_user(&self, login: &str) -> anyhow::Result<GithubUser> {
        let body = NewGithubUser {
            login: login.to_owned(),
        };
        self.call(reqwest::Method::POST, &["github", "users"], Some(&body))
            .await
    }

    pub async fn create_repo(&self, repo: &RepoSpec) -> anyhow::Result<()> {
        self.call_empty(reqwest::Method::POST, &["github", "repos"], Some(repo))
            .await
    }

    pub async fn revoke_github_token(&self, token: &str) -> anyhow::Result<()> {
        self.call_empty::<()>(reqwest::Method::DELETE, &["github", "tokens", token], None)
            .await
    }

    pub async fn create_render_account(
        &self,
        name: &str,
        email: &str,
    ) -> anyhow::Result<RenderAccount> {
        let body = NewRenderAccount {
            name: name.to_owned(),
            email: email.to_owned(),
        };
        self.call(reqwest::Method::POST, &["render", "accounts"], Some(&body))
            .await
    }

    pub async fn add_render_key(&self, owner_id: &str) -> anyhow::Result<String> {
        let path = ["render", "accounts", owner_id, "keys"];
        let key: ApiKey = self
            .call::<(), _>(reqwest::Method::POST, &path, None)
            .await?;
        Ok(key.api_key)
    }

    /// Adds a team workspace to the account `owner_id`; every key of the account reaches it
    /// (`GET /v1/owners` lists it after the account's own user owner). Returns its owner id.
    pub async fn add_render_workspace(&self, owner_id: &str, name: &str) -> anyhow::Result<String> {
        let body = NewWorkspace {
            name: name.to_owned(),
        };
        let path = ["render", "accounts", owner_id, "workspaces"];
        let workspace: Workspace = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        Ok(workspace.owner_id)
    }

    pub async fn revoke_render_key(&self, api_key: &str) -> anyhow::Result<()> {
        self.call_empty::<()>(reqwest::Method::DELETE, &["render", "keys", api_key], None)
            .await
    }

    pub async fn set_behavior(&self, phase_ms: u64, fail_repos: &[&str]) -> anyhow::Result<()> {
        let body = Behavior {
            phase_ms,
            fail_repos: fail_repos.iter().map(|r| (*r).to_owned()).collect(),
        };
        self.call_empty(reqwest::Method::POST, &["render", "behavior"], Some(&body))
            .await
    }

    pub async fn add_fault(&self, fault: &Fault) -> anyhow::Result<()> {
        self.call_empty(reqwest::Method::POST, &["faults"], Some(fault))
            .await
    }

    /// Every authorization code issued so far is expired from now on.
    pub async fn expire_oauth_codes(&self) -> anyhow::Result<()> {
        self.call_empty::<()>(
            reqwest::Method::POST,
            &["github", "oauth-codes", "expire"],
            None,
        )
        .await
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.call_empty::<()>(reqwest::Method::DELETE, &["faults"], None)
            .await
    }

    pub async fn requests(&self) -> anyhow::Result<Vec<LoggedRequest>> {
        self.call::<(), _>(reqwest::Method::GET, &["requests"], None)
            .await
    }

    pub async fn create_oauth_app(&self, redirect_uri: &str) -> anyhow::Result<OAuthApp> {
        let body = NewOAuthApp {
            redirect_uri: redirect_uri.to_owned(),
        };
        let creds: OAuthAppCredentials = self
            .call(
                reqwest::Method::POST,
                &["github", "oauth-apps"],
                Some(&body),
            )
            .await?;
        Ok(OAuthApp {
            client_id: creds.client_id,
            client_secret: creds.client_secret,
            redirect_uri: redirect_uri.to_owned(),
        })
    }

    async fn send<B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &[&str],
        body: Option<&B>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut url = url::Url::parse(&self.base_url)
            .with_context(|| format!("emulator base URL {:?}", self.base_url))?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("emulator base URL cannot have a path"))?
            .pop_if_empty()
            .push("_emulator")
            .extend(path);
        let path = path.join("/");
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("emulator control call {method} {path}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            anyhow::bail!("emulator control call {method} {path} failed with {status}: {text}");
        }
        Ok(response)
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &[&str],
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let response = self.send(method, path, body).await?;
        response
            .json()
            .await
            .with_context(|| format!("decoding the emulator's answer to {}", path.join("/")))
    }

    async fn call_empty<B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &[&str],
        body: Option<&B>,
    ) -> anyhow::Result<()> {
        self.send(method, path, body).await.map(drop)
    }
}

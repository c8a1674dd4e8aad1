//! One emulator per test, on port 0, and clients pointed at it.

use std::time::Duration;

use deployer::upstream::{GitHubClient, RenderClient};
use emulator::control::{Control, Fault, FaultKind, Upstream};
use secrecy::SecretString;
use url::Url;

/// Generous for loopback; the timeout test builds its own, shorter client.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestEmulator {
    // Held so the server lives as long as the test.
    _server: emulator::RunningEmulator,
    pub control: Control,
    pub base: Url,
}

pub async fn spawn_emulator() -> TestEmulator {
    let server = emulator::spawn(emulator::EmulatorConfig {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        oauth_app: None,
        phase_ms: 20,
    })
    .await
    .expect("emulator starts");
    let base = Url::parse(server.base_url()).expect("emulator base URL");
    TestEmulator {
        control: Control::new(base.as_str()),
        base,
        _server: server,
    }
}

impl TestEmulator {
    pub fn render_base(&self) -> Url {
        self.base.join("v1").expect("render base")
    }

    pub fn render(&self) -> RenderClient {
        self.render_with_timeout(TIMEOUT)
    }

    pub fn render_with_timeout(&self, timeout: Duration) -> RenderClient {
        RenderClient::new(&self.render_base(), timeout)
    }

    pub fn github(&self) -> GitHubClient {
        GitHubClient::new(&self.base, TIMEOUT)
    }

    /// A Render account: its owner id and key.
    pub async fn render_account(&self, name: &str) -> (String, SecretString) {
        let account = self
            .control
            .create_render_account(name, &format!("{name}@example.com"))
            .await
            .expect("account created");
        (account.owner_id, SecretString::from(account.api_key))
    }

    /// A GitHub user: its id, login and token.
    pub async fn github_user(&self, login: &str) -> (u64, SecretString) {
        let user = self
            .control
            .create_github_user(login)
            .await
            .expect("user created");
        (user.id, SecretString::from(user.token))
    }

    pub async fn fault(
        &self,
        upstream: Upstream,
        path_prefix: &str,
        kind: FaultKind,
        status: Option<u16>,
        delay_ms: Option<u64>,
    ) {
        self.control
            .add_fault(&Fault {
                upstream,
                path_prefix: path_prefix.to_owned(),
                kind,
                status,
                delay_ms,
                count: 1,
                retry_after_s: None,
            })
            .await
            .expect("fault added");
    }
}

//! The `deployer` binary as an operator starts it: production refuses every
//! insecure setting of DESIGN.md §2 with exit code 2 and a message naming it,
//! and `deployer serve --help` lists every variable.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;

/// Every variable DESIGN.md §2 names.
const DESIGN_VARIABLES: &[&str] = &[
    "LISTEN_ADDR",
    "PUBLIC_URL",
    "ENVIRONMENT",
    "SECRET_KEY",
    "HTTPS_ONLY",
    "TRUST_PROXY",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_IDLE_TIMEOUT",
    "SESSION_ABSOLUTE_TIMEOUT",
    "CORS_ALLOWED_ORIGINS",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    "GITHUB_OAUTH_URL",
    "GITHUB_API_URL",
    "GITHUB_SCOPES",
    "RENDER_API_URL",
    "DATABASE_URL",
    "SESSION_STORE",
    "REDIS_URL",
    "METRICS_TOKEN",
    "RATE_LIMIT_SETUP_USER",
    "RATE_LIMIT_SETUP_IP",
    "RATE_LIMIT_LOGIN_IP",
    "LOG_FORMAT",
];

const SECRET_KEY: &str = "production-secret-key-0123456789abcdef";
const CLIENT_SECRET: &str = "client-secret-canary-5b1e";

/// A production configuration that starts.
fn production_env(dir: &tempfile::TempDir) -> HashMap<&'static str, String> {
    HashMap::from([
        ("ENVIRONMENT", "production".to_owned()),
        ("LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("PUBLIC_URL", "https://127.0.0.1:0".to_owned()),
        ("SECRET_KEY", SECRET_KEY.to_owned()),
        ("GITHUB_CLIENT_ID", "Iv1.production".to_owned()),
        ("GITHUB_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("prod.db").display()),
        ),
    ])
}

/// `deployer serve` with exactly these environment variables.
fn serve(env: &HashMap<&'static str, String>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_deployer"));
    command
        .arg("serve")
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn production_refuses_each_insecure_setting_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let secure = production_env(&dir);

    // The secure configuration starts and serves (so each refusal below is
    // caused by the one setting it changes).
    let mut child = serve(&secure).spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let serving = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("serving") {
                return Some(line);
            }
        }
        None
    })
    .await
    .expect("the secure production configuration starts");
    assert!(serving.is_some(), "no serving line before exit");
    child.kill().await.unwrap();

    let short_key = "short-secret-canary";
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("SECRET_KEY", None, "SECRET_KEY"),
        ("SECRET_KEY", Some(short_key), "SECRET_KEY"),
        ("HTTPS_ONLY", Some("false"), "HTTPS_ONLY"),
        ("PUBLIC_URL", Some("http://deployer.example"), "PUBLIC_URL"),
        (
            "SESSION_COOKIE_SECURE",
            Some("false"),
            "SESSION_COOKIE_SECURE",
        ),
        (
            "SESSION_COOKIE_HTTPONLY",
            Some("false"),
            "SESSION_COOKIE_HTTPONLY",
        ),
        (
            "SESSION_COOKIE_SAMESITE",
            Some("none"),
            "SESSION_COOKIE_SAMESITE",
        ),
        ("CORS_ALLOWED_ORIGINS", Some("*"), "CORS_ALLOWED_ORIGINS"),
        (
            "CORS_ALLOWED_ORIGINS",
            Some("https://app.example, *"),
            "CORS_ALLOWED_ORIGINS",
        ),
        ("GITHUB_CLIENT_ID", None, "GITHUB_CLIENT_ID"),
        ("GITHUB_CLIENT_SECRET", None, "GITHUB_CLIENT_SECRET"),
    ];
    for (variable, value, named) in cases {
        let mut env = secure.clone();
        match value {
            Some(v) => env.insert(variable, (*v).to_owned()),
            None => env.remove(variable),
        };
        let output = serve(&env).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{variable}={value:?}: {stderr}"
        );
        assert!(stderr.contains(named), "{variable}={value:?}: {stderr}");
        for secret in [SECRET_KEY, CLIENT_SECRET, short_key] {
            assert!(!stderr.contains(secret), "{variable}: a secret in {stderr}");
            assert!(
                !String::from_utf8_lossy(&output.stdout).contains(secret),
                "{variable}: a secret on stdout"
            );
        }
    }
}

#[tokio::test]
async fn serve_help_lists_every_design_variable_without_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = production_env(&dir);
    env.insert("METRICS_TOKEN", "metrics-token-canary".to_owned());
    env.insert(
        "REDIS_URL",
        "redis://:redis-password-canary@host".to_owned(),
    );
    let output = serve(&env).arg("--help").output().await.unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in DESIGN_VARIABLES {
        assert!(
            help.contains(&format!("env: {variable}")),
            "{variable}:\n{help}"
        );
    }
    for secret in [
        SECRET_KEY,
        CLIENT_SECRET,
        "metrics-token-canary",
        "redis-password-canary",
    ] {
        assert!(!help.contains(secret), "{secret} shown by --help");
    }
}

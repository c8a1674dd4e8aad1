//! Configuration: read once from the environment (or flags) into typed
//! values before anything binds; every problem is reported together.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::alerts::AlertConfig;

/// `deployer serve` options. Each one documents the environment variable
/// that sets it; `.env.example` lists them all.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: String,
    /// External origin; the OAuth redirect URI is PUBLIC_URL/api/auth/github/callback.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// `development` or `production` (strict start-up checks).
    #[arg(long, env = "ENVIRONMENT", default_value = "development")]
    pub environment: String,
    /// At least 32 bytes; keys session-id hashing and CSRF tokens. Random per process in development.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretString>,
    /// Redirect http to https and send HSTS (default: true in production).
    #[arg(long, env = "HTTPS_ONLY")]
    pub https_only: Option<bool>,
    /// Honour X-Forwarded-For / X-Forwarded-Proto from a reverse proxy.
    #[arg(long, env = "TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,
    /// Cookie `Secure` flag (default: true when PUBLIC_URL is https).
    #[arg(long, env = "SESSION_COOKIE_SECURE")]
    pub session_cookie_secure: Option<bool>,
    /// Cookie `HttpOnly` flag.
    #[arg(long, env = "SESSION_COOKIE_HTTPONLY", default_value_t = true, action = clap::ArgAction::Set)]
    pub session_cookie_httponly: bool,
    /// Cookie `SameSite`: `lax` or `strict`.
    #[arg(long, env = "SESSION_COOKIE_SAMESITE", default_value = "lax")]
    pub session_cookie_samesite: String,
    /// Idle timeout, e.g. `30m`.
    #[arg(long, env = "SESSION_IDLE_TIMEOUT", default_value = "30m")]
    pub session_idle_timeout: String,
    /// Absolute timeout, e.g. `8h`.
    #[arg(long, env = "SESSION_ABSOLUTE_TIMEOUT", default_value = "8h")]
    pub session_absolute_timeout: String,
    /// Comma-separated allowed CORS origins; empty means same-origin only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: String,
    /// GitHub OAuth App client id.
    #[arg(long, env = "GITHUB_CLIENT_ID")]
    pub github_client_id: Option<String>,
    /// GitHub OAuth App client secret.
    #[arg(long, env = "GITHUB_CLIENT_SECRET", hide_env_values = true)]
    pub github_client_secret: Option<SecretString>,
    /// GitHub web origin (authorize and token endpoints).
    #[arg(long, env = "GITHUB_OAUTH_URL", default_value = "https://github.com")]
    pub github_oauth_url: String,
    /// GitHub REST API base.
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,
    /// OAuth scopes requested at login (space-separated).
    #[arg(long, env = "GITHUB_SCOPES", default_value = "read:user repo")]
    pub github_scopes: String,
    /// Render REST API base.
    #[arg(
        long,
        env = "RENDER_API_URL",
        default_value = "https://api.render.com/v1"
    )]
    pub render_api_url: String,
    /// Timeout for each upstream call, e.g. `10s`.
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "10s")]
    pub upstream_timeout: String,
    /// How often a deploy's status is polled while it runs.
    #[arg(long, env = "DEPLOY_POLL_INTERVAL", default_value = "3s")]
    pub deploy_poll_interval: String,
    /// Tracking of a deployment gives up after this long.
    #[arg(long, env = "DEPLOY_TRACK_TIMEOUT", default_value = "1h")]
    pub deploy_track_timeout: String,
    /// Audit log and deployment history: `sqlite://…` or `postgres://…`.
    /// Its password is never printed (`--help` hides the environment's value).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://deployer.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// `memory` or `redis`.
    #[arg(long, env = "SESSION_STORE", default_value = "memory")]
    pub session_store: String,
    /// Redis URL when SESSION_STORE=redis.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// When set, /metrics needs `Authorization: Bearer <token>`.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<SecretString>,
    /// Render-key setup attempts per GitHub user, `N/window`.
    #[arg(long, env = "RATE_LIMIT_SETUP_USER", default_value = "10/15m")]
    pub rate_limit_setup_user: String,
    /// Render-key setup attempts per client IP, `N/window`.
    #[arg(long, env = "RATE_LIMIT_SETUP_IP", default_value = "30/15m")]
    pub rate_limit_setup_ip: String,
    /// Login starts per client IP, `N/window`.
    #[arg(long, env = "RATE_LIMIT_LOGIN_IP", default_value = "30/5m")]
    pub rate_limit_login_ip: String,
    /// Security alert: failed GitHub logins per client IP, `N/window`.
    #[arg(long, env = "ALERT_FAILED_LOGINS_IP", default_value = "10/5m")]
    pub alert_failed_logins_ip: String,
    /// Security alert: rejected Render keys per GitHub user, `N/window`.
    #[arg(long, env = "ALERT_INVALID_KEYS_USER", default_value = "5/15m")]
    pub alert_invalid_keys_user: String,
    /// Security alert: rejected Render keys per client IP, `N/window`.
    #[arg(long, env = "ALERT_INVALID_KEYS_IP", default_value = "10/15m")]
    pub alert_invalid_keys_ip: String,
    /// Security alert: more concurrent sessions than this per GitHub user.
    #[arg(long, env = "ALERT_MAX_SESSIONS_USER", default_value_t = 10)]
    pub alert_max_sessions_user: u32,
    /// Security alert: failed deployments per GitHub user, `N/window`.
    #[arg(long, env = "ALERT_DEPLOY_FAILURES_USER", default_value = "5/1h")]
    pub alert_deploy_failures_user: String,
    /// `text` or `json` (default: json in production).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum SessionStoreKind {
    Memory,
    Redis(SecretString),
}

/// `N` events per `window`: a rate limit, or an alert threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: NonZeroU32,
    pub window: Duration,
}

impl RateLimit {
    /// `count` of zero is meaningless (nothing allowed, or an alert with no event), so refused.
    pub fn new(count: u32, window: Duration) -> Option<Self> {
        NonZeroU32::new(count).map(|count| Self { count, window })
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let (count, window) = raw
            .split_once('/')
            .ok_or_else(|| format!("`{raw}` is not of the form N/window, e.g. 10/15m"))?;
        let count = count
            .trim()
            .parse::<NonZeroU32>()
            .map_err(|_| format!("`{count}` is not a positive count"))?;
        let window = parse_duration(window)?;
        Ok(Self { count, window })
    }
}

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
}

impl CookieSettings {
    /// `__Host-` needs `Secure`; plain-http development uses a bare name.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-session"
        } else {
            "session"
        }
    }

    pub fn oauth_cookie_name(&self) -> &'static str {
        if self.secure { "__Host-oauth" } else { "oauth" }
    }
}

/// Validated configuration. Secrets stay `SecretString`.
#[derive(Clone)]
pub struct Config {
    pub listen_addr: SocketAddr,
    pub public_url: Url,
    pub environment: Environment,
    pub secret_key: SecretString,
    pub https_only: bool,
    pub trust_proxy: bool,
    pub cookies: CookieSettings,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    pub cors_allowed_origins: Vec<String>,
    pub github_client_id: String,
    pub github_client_secret: SecretString,
    pub github_oauth_url: Url,
    pub github_api_url: Url,
    pub github_scopes: Vec<String>,
    pub render_api_url: Url,
    pub upstream_timeout: Duration,
    pub deploy_poll_interval: Duration,
    pub deploy_track_timeout: Duration,
    pub database_url: SecretString,
    pub session_store: SessionStoreKind,
    pub metrics_token: Option<SecretString>,
    pub rate_limit_setup_user: RateLimit,
    pub rate_limit_setup_ip: RateLimit,
    pub rate_limit_login_ip: RateLimit,
    pub alerts: AlertConfig,
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_addr", &self.listen_addr)
            .field("public_url", &self.public_url.as_str())
            .field("environment", &self.environment)
            .field("https_only", &self.https_only)
            .field("cookies", &self.cookies)
            .field("github_client_id", &self.github_client_id)
            .field("github_api_url", &self.github_api_url.as_str())
            .field("render_api_url", &self.render_api_url.as_str())
            .field(
                "database_url",
                &mask_url_password(self.database_url.expose_secret()),
            )
            .finish_non_exhaustive()
    }
}

/// `postgres://user:pw@host/db` → `postgres://user:***@host/db`.
pub fn mask_url_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable url>".to_owned(),
    }
}

pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim()).map_err(|e| format!("`{raw}` is not a duration ({e})"))
}

/// Every problem found, so the operator fixes them in one go.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

const MIN_SECRET_KEY_BYTES: usize = 32;

impl Config {
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let mut check = |result: Result<(), String>| {
            if let Err(e) = result {
                errors.push(e);
            }
        };

        let environment = match args.environment.as_str() {
            "production" => Environment::Production,
            "development" => Environment::Development,
            other => {
                check(Err(format!(
                    "ENVIRONMENT `{other}` must be development or production"
                )));
                Environment::Development
            }
        };
        let production = environment == Environment::Production;

        let listen_addr = args.listen_addr.parse().unwrap_or_else(|_| {
            check(Err(format!(
                "LISTEN_ADDR `{}` is not host:port",
                args.listen_addr
            )));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let mut url = |name: &str, raw: &str| {
            Url::parse(raw).unwrap_or_else(|e| {
                check(Err(format!("{name} `{raw}` is not a URL ({e})")));
                Url::parse("http://invalid.invalid").expect("static URL")
            })
        };
        let public_url = url("PUBLIC_URL", &args.public_url);
        let github_oauth_url = url("GITHUB_OAUTH_URL", &args.github_oauth_url);
        let github_api_url = url("GITHUB_API_URL", &args.github_api_url);
        let render_api_url = url("RENDER_API_URL", &args.render_api_url);
        let public_https = public_url.scheme() == "https";

        let secret_key = match args.secret_key {
            Some(key) if key.expose_secret().len() >= MIN_SECRET_KEY_BYTES => key,
            Some(_) => {
                check(Err(format!(
                    "SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes"
                )));
                random_secret()
            }
            None if production => {
                check(Err("SECRET_KEY is required in production".into()));
                random_secret()
            }
            None => random_secret(),
        };

        let https_only = args.https_only.unwrap_or(production);
        let same_site = match args.session_cookie_samesite.to_ascii_lowercase().as_str() {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            other => {
                check(Err(format!(
                    "SESSION_COOKIE_SAMESITE `{other}` must be lax or strict"
                )));
                SameSite::Lax
            }
        };
        let cookies = CookieSettings {
            secure: args.session_cookie_secure.unwrap_or(public_https),
            http_only: args.session_cookie_httponly,
            same_site,
        };

        let mut duration = |name: &str, raw: &str| {
            parse_duration(raw).unwrap_or_else(|e| {
                check(Err(format!("{name}: {e}")));
                Duration::from_secs(60)
            })
        };
        let session_idle_timeout = duration("SESSION_IDLE_TIMEOUT", &args.session_idle_timeout);
        let session_absolute_timeout =
            duration("SESSION_ABSOLUTE_TIMEOUT", &args.session_absolute_timeout);
        let upstream_timeout = duration("UPSTREAM_TIMEOUT", &args.upstream_timeout);
        let deploy_poll_interval = duration("DEPLOY_POLL_INTERVAL", &args.deploy_poll_interval);
        let deploy_track_timeout = duration("DEPLOY_TRACK_TIMEOUT", &args.deploy_track_timeout);

        let mut rate = |name: &str, raw: &str| {
            RateLimit::parse(raw).unwrap_or_else(|e| {
                check(Err(format!("{name}: {e}")));
                RateLimit {
                    count: NonZeroU32::MIN,
                    window: Duration::from_secs(60),
                }
            })
        };
        let rate_limit_setup_user = rate("RATE_LIMIT_SETUP_USER", &args.rate_limit_setup_user);
        let rate_limit_setup_ip = rate("RATE_LIMIT_SETUP_IP", &args.rate_limit_setup_ip);
        let rate_limit_login_ip = rate("RATE_LIMIT_LOGIN_IP", &args.rate_limit_login_ip);
        let alerts = AlertConfig {
            failed_logins_per_ip: rate("ALERT_FAILED_LOGINS_IP", &args.alert_failed_logins_ip),
            invalid_keys_per_user: rate("ALERT_INVALID_KEYS_USER", &args.alert_invalid_keys_user),
            invalid_keys_per_ip: rate("ALERT_INVALID_KEYS_IP", &args.alert_invalid_keys_ip),
            max_sessions_per_user: args.alert_max_sessions_user,
            deploy_failures_per_user: rate(
                "ALERT_DEPLOY_FAILURES_USER",
                &args.alert_deploy_failures_user,
            ),
        };

        let cors_allowed_origins: Vec<String> = args
            .cors_allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if cors_allowed_origins.iter().any(|o| o == "*") {
            check(Err(
                "CORS_ALLOWED_ORIGINS `*` cannot be combined with credentialed requests".into(),
            ));
        }

        let session_store = match args.session_store.as_str() {
            "memory" => SessionStoreKind::Memory,
            "redis" => match args.redis_url {
                Some(url) => SessionStoreKind::Redis(url),
                None => {
                    check(Err("SESSION_STORE=redis needs REDIS_URL".into()));
                    SessionStoreKind::Memory
                }
            },
            other => {
                check(Err(format!(
                    "SESSION_STORE `{other}` must be memory or redis"
                )));
                SessionStoreKind::Memory
            }
        };

        let log_format = match args.log_format.as_deref() {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            None if production => LogFormat::Json,
            None => LogFormat::Text,
            Some(other) => {
                check(Err(format!("LOG_FORMAT `{other}` must be text or json")));
                LogFormat::Text
            }
        };

        let github_client_id = args.github_client_id.unwrap_or_default();
        let github_client_secret = args
            .github_client_secret
            .unwrap_or_else(|| SecretString::from(""));
        if production {
            if !https_only {
                check(Err("HTTPS_ONLY=false is not allowed in production".into()));
            }
            if !public_https {
                check(Err("PUBLIC_URL must be https in production".into()));
            }
            if !cookies.secure {
                check(Err(
                    "SESSION_COOKIE_SECURE=false is not allowed in production".into(),
                ));
            }
            if !cookies.http_only {
                check(Err(
                    "SESSION_COOKIE_HTTPONLY=false is not allowed in production".into(),
                ));
            }
            if github_client_id.is_empty() || github_client_secret.expose_secret().is_empty() {
                check(Err(
                    "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET are required in production".into(),
                ));
            }
        }

        let github_scopes = args
            .github_scopes
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            listen_addr,
            public_url,
            environment,
            secret_key,
            https_only,
            trust_proxy: args.trust_proxy,
            cookies,
            session_idle_timeout,
            session_absolute_timeout,
            cors_allowed_origins,
            github_client_id,
            github_client_secret,
            github_oauth_url,
            github_api_url,
            github_scopes,
            render_api_url,
            upstream_timeout,
            deploy_poll_interval,
            deploy_track_timeout,
            database_url: SecretString::from(args.database_url),
            session_store,
            metrics_token: args.metrics_token,
            rate_limit_setup_user,
            rate_limit_setup_ip,
            rate_limit_login_ip,
            alerts,
            log_format,
        })
    }

    /// The OAuth redirect URI registered with GitHub.
    pub fn oauth_redirect_uri(&self) -> Url {
        self.public_url
            .join("/api/auth/github/callback")
            .expect("joining a fixed path onto a valid base URL")
    }

    /// `scheme://host[:port]` of PUBLIC_URL, compared with `Origin` headers.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

fn random_secret() -> SecretString {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<Config, ConfigErrors> {
        let mut argv = vec!["deployer"];
        argv.extend_from_slice(args);
        Config::from_args(Cli::parse_from(argv).serve)
    }

    const PROD_OK: &[&str] = &[
        "--environment=production",
        "--public-url=https://deploy.example.com",
        "--secret-key=0123456789abcdef0123456789abcdef",
        "--github-client-id=id",
        "--github-client-secret=secret",
    ];

    #[test]
    fn development_defaults_are_valid() {
        let config = parse(&[]).expect("defaults");
        assert_eq!(config.session_idle_timeout, Duration::from_secs(30 * 60));
        assert!(!config.cookies.secure);
        assert_eq!(config.cookies.session_cookie_name(), "session");
        assert_eq!(config.rate_limit_setup_user.count.get(), 10);
    }

    #[test]
    fn production_with_everything_set_starts() {
        let config = parse(PROD_OK).expect("valid production config");
        assert!(config.https_only && config.cookies.secure);
        assert_eq!(config.cookies.session_cookie_name(), "__Host-session");
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn production_refuses_each_insecure_setting() {
        let cases: &[(&str, &str)] = &[
            ("--secret-key=short", "SECRET_KEY must be at least"),
            ("--https-only=false", "HTTPS_ONLY=false"),
            (
                "--public-url=http://deploy.example.com",
                "PUBLIC_URL must be https",
            ),
            (
                "--session-cookie-secure=false",
                "SESSION_COOKIE_SECURE=false",
            ),
            (
                "--session-cookie-httponly=false",
                "SESSION_COOKIE_HTTPONLY=false",
            ),
            ("--cors-allowed-origins=*", "`*`"),
            (
                "--github-client-secret=",
                "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET",
            ),
            (
                "--github-client-id=",
                "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET",
            ),
        ];
        for (flag, expected) in cases {
            let name = flag.split('=').next().unwrap_or(flag);
            let mut args: Vec<&str> = PROD_OK
                .iter()
                .filter(|a| !a.starts_with(name))
                .copied()
                .collect();
            args.push(flag);
            let err = parse(&args).expect_err(flag).to_string();
            assert!(err.contains(expected), "{flag}: {err}");
        }
        let missing_key: Vec<_> = PROD_OK
            .iter()
            .filter(|a| !a.starts_with("--secret-key"))
            .copied()
            .collect();
        let err = parse(&missing_key).expect_err("no key").to_string();
        assert!(err.contains("SECRET_KEY is required"), "{err}");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let err = parse(&["--session-idle-timeout=soon", "--rate-limit-login-ip=lots"])
            .expect_err("two problems");
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn rate_limits_parse() {
        let limit = RateLimit::parse("3/1m").expect("valid");
        assert_eq!(
            (limit.count.get(), limit.window),
            (3, Duration::from_secs(60))
        );
        assert!(RateLimit::parse("0/1m").is_err());
        assert!(RateLimit::parse("5").is_err());
    }

    #[test]
    fn alert_defaults_match_the_documented_ones_and_are_settable() {
        let config = parse(&[]).expect("valid");
        assert_eq!(config.alerts, AlertConfig::default());
        let config = parse(&[
            "--alert-failed-logins-ip=3/1m",
            "--alert-max-sessions-user=2",
        ])
        .expect("valid");
        assert_eq!(
            config.alerts.failed_logins_per_ip,
            RateLimit::new(3, Duration::from_secs(60)).expect("non-zero")
        );
        assert_eq!(config.alerts.max_sessions_per_user, 2);
        let err = parse(&["--alert-invalid-keys-ip=0/1m"]).expect_err("zero is refused");
        assert!(err.to_string().contains("ALERT_INVALID_KEYS_IP"), "{err}");
    }

    #[test]
    fn database_password_is_masked_in_debug() {
        let config = parse(&["--database-url=postgres://u:hunter2@db/x"]).expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}

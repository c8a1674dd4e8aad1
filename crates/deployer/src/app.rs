//! Wiring: build every dependency from the configuration, bind the listener
//! (port 0 in tests), and serve until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum_extra::extract::cookie::Key;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::alerts::AlertDetector;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, SessionStoreKind};
use crate::db::Database;
use crate::db::audit::AuditLog;
use crate::db::history::History;
use crate::deploy::{Deployments, PollSettings};
use crate::login::OAuth;
use crate::ratelimit::RateLimiters;
use crate::session::SessionManager;
use crate::session::redis_store::RedisStore;
use crate::session::store::{MemoryStore, SessionStore};
use crate::session::vault::Vault;
use crate::telemetry;
use crate::upstream::github::{GitHubApi, GitHubClient};
use crate::upstream::render::{RenderApi, RenderClient};

/// Everything a request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub sessions: SessionManager,
    pub github: Arc<dyn GitHubApi>,
    pub render: Arc<dyn RenderApi>,
    pub oauth: OAuth,
    pub db: Database,
    pub audit: AuditLog,
    pub history: History,
    pub limits: RateLimiters,
    pub alerts: AlertDetector,
    pub bearer_cache: crate::account::BearerCache,
    pub deployments: Deployments,
    pub metrics: PrometheusHandle,
    /// Encrypts the login-attempt cookie (derived from SECRET_KEY).
    pub cookie_key: Key,
}

/// What tests and the demo may replace.
pub struct BuildOptions {
    pub clock: Arc<dyn Clock>,
    /// Prefix for Redis keys, so parallel tests do not share sessions.
    pub redis_prefix: String,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            redis_prefix: "rd:".into(),
        }
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds first, so the port is known (and taken) before anything else.
    /// A `PUBLIC_URL` with port 0 follows the bound port (tests, demo).
    pub async fn build(mut config: Config, options: BuildOptions) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("cannot bind {}", config.listen_addr))?;
        let bound = listener.local_addr()?;
        if config.public_url.port() == Some(0) {
            config
                .public_url
                .set_port(Some(bound.port()))
                .map_err(|()| anyhow::anyhow!("PUBLIC_URL cannot take a port"))?;
        }

        let store: Arc<dyn SessionStore> = match &config.session_store {
            SessionStoreKind::Memory => Arc::new(MemoryStore::new(options.clock.clone())),
            SessionStoreKind::Redis(url) => Arc::new(
                RedisStore::connect(url, &options.redis_prefix)
                    .await
                    .context("cannot connect to Redis")?,
            ),
        };
        let vault = Vault::new(config.secret_key.clone());
        let sessions = SessionManager::new(
            store,
            vault,
            options.clock.clone(),
            config.session_idle_timeout,
            config.session_absolute_timeout,
        );
        let db = Database::connect(config.database_url.expose_secret())
            .await
            .context("cannot open the database")?;
        let audit = AuditLog::start(db.clone(), options.clock.clone());
        let history = History::new(db.clone());
        let github: Arc<dyn GitHubApi> = Arc::new(GitHubClient::new(
            &config.github_api_url,
            config.upstream_timeout,
        ));
        let render: Arc<dyn RenderApi> = Arc::new(RenderClient::new(
            &config.render_api_url,
            config.upstream_timeout,
        ));
        let cookie_key = cookie_key(&config.secret_key);
        let oauth = OAuth::new(&config)?;
        let limits = RateLimiters::new(
            config.rate_limit_setup_user,
            config.rate_limit_setup_ip,
            config.rate_limit_login_ip,
        );
        let deployments = Deployments::new(PollSettings {
            interval: config.deploy_poll_interval,
            max_backoff: Duration::from_secs(30).max(config.deploy_poll_interval),
            give_up_after: config.deploy_track_timeout,
        });
        let state = AppState(Arc::new(Services {
            clock: options.clock,
            sessions,
            github,
            render,
            oauth,
            db,
            audit,
            history,
            limits,
            alerts: AlertDetector::new(config.alerts),
            bearer_cache: crate::account::BearerCache::default(),
            deployments,
            metrics: telemetry::metrics_handle(),
            cookie_key,
            config,
        }));
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// PUBLIC_URL as served (with the bound port when it was 0).
    pub fn public_url(&self) -> String {
        self.state
            .config
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests and
    /// flushes the audit queue.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let router = crate::http::router(self.state.clone());
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        housekeeping.abort();
        self.state.audit.flush().await;
        Ok(())
    }
}

/// Periodic chores: sweep expired sessions, prune limiter memory, publish
/// the active-session gauge.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        match state.sessions.store().sweep().await {
            Ok(swept) if swept > 0 => {
                tracing::debug!(session.swept = swept, "swept expired sessions")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "session sweep failed"),
        }
        if let Ok(active) = state.sessions.store().count_all().await {
            metrics::gauge!(telemetry::ACTIVE_SESSIONS).set(active as f64);
        }
        state.limits.prune();
    }
}

/// The private-cookie key (64 bytes) expanded from SECRET_KEY with HKDF, so
/// it is independent of the other uses of the secret.
fn cookie_key(secret: &secrecy::SecretString) -> Key {
    let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(
        Some(b"render-deployer/cookie-key/v1"),
        secret.expose_secret().as_bytes(),
    );
    let mut okm = zeroize::Zeroizing::new([0u8; 64]);
    hkdf.expand(b"private-cookies", okm.as_mut())
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    Key::from(okm.as_ref())
}

//! A stateful local stand-in for the parts of GitHub (OAuth + REST) and Render (REST v1) that
//! `deployer` uses, with a control API under `/_emulator/` and fault injection.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let emulator = emulator::spawn(emulator::EmulatorConfig::default()).await?;
//! let control = emulator::control::Control::new(emulator.base_url());
//! let account = control.create_render_account("Ada", "ada@example.com").await?;
//! # let _ = account; emulator.shutdown().await; Ok(()) }
//! ```

pub mod control;
mod faults;
mod github;
mod ids;
mod render;
mod state;

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use control::OAuthApp;
pub use ids::fingerprint;

use faults::{ConnectionHandle, KillableListener};
use state::AppState;

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// An OAuth App to register at start (more can be added through the control API).
    pub oauth_app: Option<OAuthApp>,
    /// Milliseconds per deploy status step.
    pub phase_ms: u64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            oauth_app: None,
            phase_ms: state::DEFAULT_PHASE_MS,
        }
    }
}

/// An emulator serving in a background task.
pub struct RunningEmulator {
    base_url: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stop accepting connections and wait for open requests to finish.
    pub async fn shutdown(self) {
        // The server may already be gone, in which case there is nothing to stop.
        let _ = self.shutdown.send(());
        if let Ok(Err(error)) = self.task.await {
            tracing::warn!(%error, "emulator server ended with an error");
        }
    }
}

/// Bind `config.listen`, then serve in a task: the port accepts connections once this returns.
pub async fn spawn(config: EmulatorConfig) -> anyhow::Result<RunningEmulator> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the emulator to {}", config.listen))?;
    let address = listener
        .local_addr()
        .context("reading the emulator's address")?;
    let base_url = format!("http://{address}");
    let state = AppState::new(base_url.clone(), config.phase_ms, config.oauth_app);
    let app = router(state).into_make_service_with_connect_info::<ConnectionHandle>();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(KillableListener(listener), app)
            .with_graceful_shutdown(async {
                // A dropped sender also means stop.
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningEmulator {
        base_url,
        shutdown,
        task,
    })
}

fn router(state: AppState) -> Router {
    use github::{api as gh, oauth};
    use render::{deploys, env_vars, logs, services};

    let render_routes = Router::new()
        .route("/owners", get(services::list_owners))
        .route("/owners/{owner_id}", get(services::get_owner))
        .route("/users", get(services::get_user))
        .route(
            "/services",
            get(services::list_services).post(services::create_service),
        )
        .route(
            "/services/{id}",
            get(services::get_service)
                .patch(services::update_service)
                .delete(services::delete_service),
        )
        .route("/services/{id}/suspend", post(services::suspend_service))
        .route("/services/{id}/resume", post(services::resume_service))
        .route(
            "/services/{id}/deploys",
            get(deploys::list_deploys).post(deploys::trigger_deploy),
        )
        .route(
            "/services/{id}/deploys/{deploy_id}",
            get(deploys::get_deploy),
        )
        .route(
            "/services/{id}/env-vars",
            get(env_vars::list_env_vars).put(env_vars::replace_env_vars),
        )
        .route(
            "/services/{id}/env-vars/{key}",
            get(env_vars::get_env_var)
                .put(env_vars::put_env_var)
                .delete(env_vars::delete_env_var),
        )
        .route("/logs", get(logs::list_logs));

    let upstreams = Router::new()
        .route("/login/oauth/authorize", get(oauth::authorize))
        .route("/login/oauth/access_token", post(oauth::access_token))
        .route("/user", get(gh::get_user))
        .route("/repos/{owner}/{repo}", get(gh::get_repo))
        .route("/repos/{owner}/{repo}/contents", get(gh::get_root_contents))
        .route(
            "/repos/{owner}/{repo}/contents/",
            get(gh::get_root_contents),
        )
        .route(
            "/repos/{owner}/{repo}/contents/{*path}",
            get(gh::get_contents),
        )
        .route(
            "/repos/{owner}/{repo}/git/trees/{tree_ref}",
            get(gh::get_tree),
        )
        .nest("/v1", render_routes)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::upstream_layer,
        ));

    Router::new()
        .nest("/_emulator", control::server::router())
        .merge(upstreams)
        .with_state(state)
}

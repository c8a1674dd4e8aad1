//! The `/_emulator/` control API that tests and `deployer demo` use to set the world up.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    ApiKey, Behavior, Fault, FaultKind, GithubUser, LoggedRequest, NewGithubUser, NewOAuthApp,
    NewRenderAccount, NewWorkspace, OAuthApp, OAuthAppCredentials, RenderAccount, RepoSpec,
    Upstream, Workspace,
};
use crate::ids;
use crate::state::{AppState, GithubAccount, Owner, OwnerKind, Repo};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/github/users", post(create_github_user))
        .route("/github/repos", post(create_repo))
        .route("/github/tokens/{token}", delete(revoke_github_token))
        .route("/github/oauth-apps", post(create_oauth_app))
        .route("/github/oauth-codes/expire", post(expire_oauth_codes))
        .route("/render/accounts", post(create_render_account))
        .route("/render/accounts/{owner_id}/keys", post(add_render_key))
        .route(
            "/render/accounts/{owner_id}/workspaces",
            post(add_render_workspace),
        )
        .route("/render/keys/{api_key}", delete(revoke_render_key))
        .route("/render/behavior", post(set_behavior))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/requests", get(requests))
}

/// GitHub logins: alphanumerics and single inner hyphens, at most 39 characters.
fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

async fn create_github_user(
    State(state): State<AppState>,
    Json(body): Json<NewGithubUser>,
) -> Result<(StatusCode, Json<GithubUser>), ControlError> {
    if !valid_login(&body.login) {
        return Err(ControlError::BadRequest(format!(
            "invalid GitHub login {:?}",
            body.login
        )));
    }
    let mut guard = state.lock();
    if guard.github_user_by_login(&body.login).is_some() {
        return Err(ControlError::Conflict(format!(
            "GitHub user {} exists",
            body.login
        )));
    }
    // Ids start high so they never look like small test constants.
    let id = 1_000_000 + guard.github_users.len() as u64 + 1;
    let token = ids::github_token();
    guard.github_users.insert(
        id,
        GithubAccount {
            id,
            login: body.login.clone(),
            created_at: OffsetDateTime::now_utc(),
        },
    );
    guard.github_tokens.insert(token.clone(), id);
    Ok((
        StatusCode::CREATED,
        Json(GithubUser {
            id,
            login: body.login,
            token,
        }),
    ))
}

/// Creates the repo, or replaces one of the same name (so a demo can re-seed).
async fn create_repo(
    State(state): State<AppState>,
    Json(spec): Json<RepoSpec>,
) -> Result<StatusCode, ControlError> {
    if !valid_login(&spec.owner) {
        return Err(ControlError::BadRequest(format!(
            "invalid owner {:?}",
            spec.owner
        )));
    }
    let name_ok = !spec.name.is_empty()
        && spec.name.len() <= 100
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && spec.name != "."
        && spec.name != "..";
    if !name_ok {
        return Err(ControlError::BadRequest(format!(
            "invalid repo name {:?}",
            spec.name
        )));
    }
    if spec
        .files
        .keys()
        .any(|p| p.is_empty() || p.starts_with('/') || p.ends_with('/') || p.contains("//"))
    {
        return Err(ControlError::BadRequest(
            "file paths must be relative, like src/main.rs".into(),
        ));
    }
    let key = format!("{}/{}", spec.owner, spec.name).to_ascii_lowercase();
    let mut guard = state.lock();
    guard.next_repo_id += 1;
    let id = 500_000_000 + guard.next_repo_id;
    guard.repos.insert(
        key,
        Repo {
            id,
            spec,
            created_at: OffsetDateTime::now_utc(),
        },
    );
    Ok(StatusCode::CREATED)
}

async fn revoke_github_token(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<StatusCode, ControlError> {
    state
        .lock()
        .github_tokens
        .remove(&token)
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or_else(|| ControlError::NotFound("token".into()))
}

async fn create_oauth_app(
    State(state): State<AppState>,
    Json(body): Json<NewOAuthApp>,
) -> Result<(StatusCode, Json<OAuthAppCredentials>), ControlError> {
    let parsed = url::Url::parse(&body.redirect_uri)
        .map_err(|e| ControlError::BadRequest(format!("redirect_uri: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ControlError::BadRequest(
            "redirect_uri must be http or https".into(),
        ));
    }
    let app = OAuthApp {
        client_id: ids::oauth_client_id(),
        client_secret: ids::oauth_client_secret(),
        redirect_uri: body.redirect_uri,
    };
    let credentials = OAuthAppCredentials {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
    };
    state.lock().oauth_apps.insert(app.client_id.clone(), app);
    Ok((StatusCode::CREATED, Json(credentials)))
}

async fn create_render_account(
    State(state): State<AppState>,
    Json(body): Json<NewRenderAccount>,
) -> Result<(StatusCode, Json<RenderAccount>), ControlError> {
    if body.name.trim().is_empty() || !body.email.contains('@') {
        return Err(ControlError::BadRequest(
            "a name and an e-mail address are required".into(),
        ));
    }
    let owner_id = ids::render_id("usr");
    let api_key = ids::render_api_key();
    let mut guard = state.lock();
    guard.owners.insert(
        owner_id.clone(),
        Owner {
            id: owner_id.clone(),
            name: body.name,
            email: body.email,
            kind: OwnerKind::User,
        },
    );
    guard.render_keys.insert(api_key.clone(), owner_id.clone());
    Ok((
        StatusCode::CREATED,
        Json(RenderAccount { owner_id, api_key }),
    ))
}

async fn add_render_key(
    State(state): State<AppState>,
    Path(owner_id): Path<String>,
) -> Result<(StatusCode, Json<ApiKey>), ControlError> {
    let mut guard = state.lock();
    if !guard.owners.contains_key(&owner_id) {
        return Err(ControlError::NotFound(owner_id));
    }
    let api_key = ids::render_api_key();
    guard.render_keys.insert(api_key.clone(), owner_id);
    Ok((StatusCode::CREATED, Json(ApiKey { api_key })))
}

/// A team workspace that every key of account `owner_id` reaches from now on.
async fn add_render_workspace(
    State(state): State<AppState>,
    Path(owner_id): Path<String>,
    Json(body): Json<NewWorkspace>,
) -> Result<(StatusCode, Json<Workspace>), ControlError> {
    if body.name.trim().is_empty() {
        return Err(ControlError::BadRequest("a name is required".into()));
    }
    let mut guard = state.lock();
    let email = match guard.owners.get(&owner_id) {
        Some(owner) if owner.kind == OwnerKind::User => owner.email.clone(),
        Some(_) => {
            return Err(ControlError::BadRequest(
                "workspaces belong to an account (a user owner), not to a team".into(),
            ));
        }
        None => return Err(ControlError::NotFound(owner_id)),
    };
    let team_id = ids::render_id("tea");
    guard.owners.insert(
        team_id.clone(),
        Owner {
            id: team_id.clone(),
            name: body.name,
            email,
            kind: OwnerKind::Team,
        },
    );
    guard
        .workspaces
        .entry(owner_id)
        .or_default()
        .push(team_id.clone());
    Ok((StatusCode::CREATED, Json(Workspace { owner_id: team_id })))
}

async fn revoke_render_key(
    State(state): State<AppState>,
    Path(api_key): Path<String>,
) -> Result<StatusCode, ControlError> {
    state
        .lock()
        .render_keys
        .remove(&api_key)
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or_else(|| ControlError::NotFound("api key".into()))
}

/// Ages every pending authorization code past its lifetime, so a test can
/// check expiry without waiting ten minutes.
async fn expire_oauth_codes(State(state): State<AppState>) -> StatusCode {
    let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    for code in state.lock().oauth_codes.values_mut() {
        code.expires_at = past;
    }
    StatusCode::NO_CONTENT
}

async fn set_behavior(State(state): State<AppState>, Json(behavior): Json<Behavior>) -> StatusCode {
    state.lock().behavior = behavior;
    StatusCode::NO_CONTENT
}

async fn add_fault(
    State(state): State<AppState>,
    Json(fault): Json<Fault>,
) -> Result<StatusCode, ControlError> {
    if fault.count == 0 {
        return Err(ControlError::BadRequest("count must be at least 1".into()));
    }
    if fault.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return Err(ControlError::BadRequest(
            "status must be an HTTP status code".into(),
        ));
    }
    if fault.retry_after_s.is_some()
        && (fault.kind != FaultKind::RateLimit || fault.upstream != Upstream::Render)
    {
        return Err(ControlError::BadRequest(
            "retry_after_s applies to Render rate_limit faults only".into(),
        ));
    }
    if fault.retry_after_s == Some(0) {
        return Err(ControlError::BadRequest(
            "retry_after_s must be at least 1".into(),
        ));
    }
    state.lock().faults.push(fault);
    Ok(StatusCode::CREATED)
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    let mut guard = state.lock();
    guard.faults.clear();
    guard.rate_windows.clear();
    StatusCode::NO_CONTENT
}

async fn requests(State(state): State<AppState>) -> Json<Vec<LoggedRequest>> {
    Json(state.lock().requests.clone())
}

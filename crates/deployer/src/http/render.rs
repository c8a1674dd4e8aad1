//! `/api/render/setup|status|clear-credentials`: the Render key vault.

use axum::Json;
use axum::extract::State;
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::auth::session_cookie;
use super::error::ApiError;
use super::extract::{ApiJson, Auth};
use crate::account::{OwnerView, StatusView};
use crate::app::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    api_key: SecretString,
    #[serde(default)]
    owner_id: Option<String>,
}

#[derive(Serialize)]
pub struct SetupResponse {
    configured: bool,
    verified: bool,
    owner: OwnerView,
    owners: Vec<OwnerView>,
    /// The session token changed, so the CSRF token did too.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

pub async fn setup(
    State(state): State<AppState>,
    Auth { session, ctx }: Auth,
    jar: CookieJar,
    ApiJson(body): ApiJson<SetupRequest>,
) -> Result<(CookieJar, Json<SetupResponse>), ApiError> {
    if body.owner_id.as_ref().is_some_and(|o| o.len() > 64) {
        return Err(crate::error::AppError::invalid("owner_id", "is too long").into());
    }
    let (session, setup) = state
        .setup_render_key(session, body.api_key, body.owner_id, &ctx)
        .await?;
    let (jar, csrf_token) = match session.session_token() {
        Some(token) => (
            jar.add(session_cookie(&state.config.cookies, token)),
            Some(state.sessions.vault().csrf_token(token.secret())),
        ),
        None => (jar, None),
    };
    Ok((
        jar,
        Json(SetupResponse {
            configured: true,
            verified: true,
            owner: setup.owner,
            owners: setup.owners,
            csrf_token,
        }),
    ))
}

pub async fn status(
    State(state): State<AppState>,
    Auth { session, ctx }: Auth,
) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(state.render_status(session, &ctx).await?))
}

pub async fn clear(
    State(state): State<AppState>,
    Auth { session, ctx }: Auth,
) -> Result<Json<StatusView>, ApiError> {
    let session = state.clear_render_key(session, &ctx).await?;
    Ok(Json(state.status_view(&session)))
}

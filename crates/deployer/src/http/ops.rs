//! Operational routes: health, readiness, metrics, the OpenAPI document,
//! and the caller's own audit trail.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::extract::Auth;
use crate::app::AppState;
use crate::db::audit::{self, StoredAuditEvent};

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when both the session store and the database answer.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.sessions.store().ping().await.is_ok();
    let database = state.db.ping().await.is_ok();
    let status = if store && database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "session_store": store,
        "database": database,
    });
    (status, Json(body)).into_response()
}

/// Prometheus text format; behind `METRICS_TOKEN` when one is set.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.metrics_token {
        let provided = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let ok: bool = provided
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into();
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Metrics need the operator's bearer token.",
            )
            .into_response();
        }
    }
    if let Ok(active) = state.sessions.store().count_all().await {
        metrics::gauge!(crate::telemetry::ACTIVE_SESSIONS).set(active as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

#[derive(Serialize)]
pub struct AuditPage {
    events: Vec<StoredAuditEvent>,
    /// Pass as `?before=` for the next (older) page; absent on the last page.
    next_before: Option<i64>,
}

const AUDIT_PAGE: u32 = 50;

pub async fn my_audit(
    State(state): State<AppState>,
    Auth { session, .. }: Auth,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(AUDIT_PAGE).clamp(1, audit::MAX_PAGE);
    // Events recorded by this very session's last request should be visible.
    state.audit.flush().await;
    let events = audit::list_for_user(&state.db, session.user_id(), query.before, limit)
        .await
        .map_err(crate::error::AppError::from)?;
    let next_before = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage {
        events,
        next_before,
    }))
}

//! Server-rendered pages (askama, auto-escaped) and their static assets.
//! Forms post to page routes that call the same domain methods as the JSON
//! API; the only script is an external file for live deployment status.

mod form;
mod handlers;
mod notice;
mod views;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::app::AppState;

const APP_CSS: &str = include_str!("../../static/app.css");
const DEPLOYMENT_JS: &str = include_str!("../../static/deployment.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(handlers::landing))
        .route("/dashboard", get(handlers::dashboard))
        .route("/dashboard/key", post(handlers::set_key))
        .route("/dashboard/clear", post(handlers::clear))
        .route("/dashboard/preview", post(handlers::preview))
        .route("/dashboard/deploy", post(handlers::deploy))
        .route("/deploy", get(handlers::one_click))
        .route("/deployments/{id}", get(handlers::deployment))
        .route("/logout", post(handlers::logout))
        .route("/logout-everywhere", post(handlers::logout_everywhere))
        .route("/static/app.css", get(app_css))
        .route("/static/deployment.js", get(deployment_js))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

async fn app_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn deployment_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", DEPLOYMENT_JS)
}

//! The HTTP layer: routes, middleware, error mapping. Handlers are thin:
//! parse, call the domain, map the result.

pub mod auth;
pub mod csrf;
pub mod deploy;
pub mod error;
pub mod extract;
pub mod ops;
pub mod pages;
pub mod render;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::Key;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::telemetry;
use error::ApiError;
use extract::REQUEST_ID;

/// Request bodies over this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Pages and API share one policy: nothing inline, nothing from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.cookie_key.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/auth/github/login", get(auth::login))
        .route("/api/auth/github/callback", get(auth::callback))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/logout-everywhere", post(auth::logout_everywhere))
        .route("/api/render/setup", post(render::setup))
        .route("/api/render/status", get(render::status))
        .route("/api/render/clear-credentials", post(render::clear))
        .route("/api/render/plan", post(deploy::plan))
        .route("/api/render/deploy", post(deploy::deploy))
        .route("/api/render/services", get(deploy::services))
        .route("/api/render/my-deployments", get(deploy::my_deployments))
        .route("/api/render/deployments/{id}", get(deploy::deployment))
        .route("/api/render/deployments/{id}/events", get(deploy::events))
        .route("/api/audit/me", get(ops::my_audit))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi));

    let security_headers = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ));

    let request_id = HeaderName::from_static(REQUEST_ID);
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request| {
        // The route template only: query strings (OAuth codes) stay out of logs.
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), route, request_id = id)
    });

    api.merge(crate::web::routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), csrf::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(no_store_for_api))
        .layer(middleware::from_fn(record_metrics))
        .layer(cors(&state))
        .layer(middleware::from_fn(no_cors_credentials_without_an_origin))
        .layer(security_headers)
        .layer(middleware::from_fn_with_state(state.clone(), https_only))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(middleware::map_request(only_uuid_request_ids))
        .with_state(state)
}

/// A proxy's UUID request id is kept so reports can be followed across hops;
/// anything else a client sends is replaced, so no free text (a key pasted by
/// mistake, a forged id) reaches logs or audit events.
async fn only_uuid_request_ids(mut request: Request) -> Request {
    let is_uuid = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| uuid::Uuid::try_parse(v).is_ok());
    if !is_uuid {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

async fn fallback() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This method is not allowed on this route.",
    )
}

fn cors(state: &AppState) -> CorsLayer {
    let origins: Vec<HeaderValue> = state
        .config
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-csrf-token"),
        ])
        .max_age(Duration::from_secs(600))
}

/// tower-http's CORS layer sends `Access-Control-Allow-Credentials` on every
/// answer, even to an origin that is not on the list; such an origin gets no
/// CORS header at all.
async fn no_cors_credentials_without_an_origin(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    }
    response
}

/// API answers are per-user and must not be cached anywhere.
async fn no_store_for_api(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if is_api {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Only the standard methods are labels: an invented one would be a new
    // series per request.
    let method = match *request.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => request.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!(telemetry::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(telemetry::HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// With HTTPS_ONLY behind a trusted proxy, plain-http requests are sent to
/// https; HSTS goes on every answer.
async fn https_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.config.https_only {
        return next.run(request).await;
    }
    let forwarded_http = state.config.trust_proxy
        && request
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"http"));
    if forwarded_http {
        let mut target = state.config.public_url.clone();
        target.set_path(request.uri().path());
        target.set_query(request.uri().query());
        return Redirect::permanent(target.as_str()).into_response();
    }
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    );
    response
}

//! Logging and metrics set-up, and the metric names used across the crate.
//!
//! Metric labels are bounded: route templates, methods, status codes,
//! upstream names, result kinds. Never a user id, repo name or raw path.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const KEY_VALIDATIONS: &str = "render_key_validations_total";
pub const DEPLOYMENTS: &str = "deployments_total";
pub const ACTIVE_SESSIONS: &str = "sessions_active";
pub const SESSION_EVENTS: &str = "session_events_total";
pub const ALERTS: &str = "security_alerts_total";
pub const UPSTREAM_REQUESTS: &str = "upstream_requests_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use (several
/// applications in one test process share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), LATENCY_BUCKETS)
                .expect("static bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); then
            // this handle still renders what was registered through it.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route template, method and status"
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency"
    );
    metrics::describe_counter!(KEY_VALIDATIONS, "Render API key checks by result");
    metrics::describe_counter!(DEPLOYMENTS, "Deployments by result");
    metrics::describe_gauge!(ACTIVE_SESSIONS, "Live sessions in the store");
    metrics::describe_counter!(SESSION_EVENTS, "Session lifecycle events by kind");
    metrics::describe_counter!(ALERTS, "Security alerts by kind");
    metrics::describe_counter!(
        UPSTREAM_REQUESTS,
        "Calls to GitHub and Render by upstream and status"
    );
}

/// Logging for the binary: text in development, JSON lines in production.
/// `RUST_LOG` overrides the default filter.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,deployer=info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

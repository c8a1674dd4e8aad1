//! Render misbehaving in the middle of a deploy: every case ends in a
//! correct final status or a clear error, and never in a second service.

use emulator::control::{Fault, FaultKind, Upstream};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code, spawn_app};

async fn ready(app: &TestApp) -> TestUser {
    let mut alice = app.login("alice").await;
    alice.setup_own_key().await;
    app.seed_demo_repos("alice").await;
    alice
}

fn render_fault(path_prefix: &str, kind: FaultKind, delay_ms: Option<u64>, count: u32) -> Fault {
    Fault {
        upstream: Upstream::Render,
        path_prefix: path_prefix.to_owned(),
        kind,
        status: (kind == FaultKind::Status).then_some(503),
        delay_ms,
        count,
        retry_after_s: None,
    }
}

/// Faults the `POST /v1/services` create: the service-name lookup before it
/// shares the path, so a harmless zero delay takes that request first.
async fn fault_on_create(app: &TestApp, kind: FaultKind, delay_ms: Option<u64>) {
    app.control
        .add_fault(&render_fault("/v1/services", FaultKind::Delay, Some(0), 1))
        .await
        .unwrap();
    app.control
        .add_fault(&render_fault("/v1/services", kind, delay_ms, 1))
        .await
        .unwrap();
}

async fn creates(app: &TestApp) -> Vec<u16> {
    app.upstream_requests(Upstream::Render)
        .await
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/services")
        .map(|r| r.status)
        .collect()
}

async fn deploy_node_to_the_end(app: &TestApp, alice: &TestUser) -> Value {
    let started = alice
        .deploy(json!({ "github_repo": "alice/node-hello" }))
        .await;
    let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
    assert_eq!(app.render_count(&alice.render).await, 1);
    view
}

#[tokio::test]
async fn render_503s_while_polling_are_retried_until_live() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    // Only per-service paths: the deploy status polls of the new service.
    app.control
        .add_fault(&render_fault("/v1/services/", FaultKind::Status, None, 3))
        .await
        .unwrap();
    let view = deploy_node_to_the_end(&app, &alice).await;
    let service_id = view["services"][0]["service_id"].as_str().unwrap();
    let failed_polls = app
        .upstream_requests(Upstream::Render)
        .await
        .into_iter()
        .filter(|r| {
            r.status == 503
                && r.path
                    .starts_with(&format!("/v1/services/{service_id}/deploys/"))
        })
        .count();
    assert_eq!(failed_polls, 3);
}

#[tokio::test]
async fn a_rate_limited_create_is_reported_with_retry_after_and_creates_nothing() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    fault_on_create(&app, FaultKind::RateLimit, None).await;
    let response = alice
        .post(
            "/api/render/deploy",
            json!({ "github_repo": "alice/node-hello" }),
        )
        .await;
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, code) = error_code(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let seconds: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!(seconds >= 1);
    assert_eq!(app.render_count(&alice.render).await, 0);
    let history: Value = alice
        .get("/api/render/my-deployments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["deployments"], json!([]));

    // Once the limit has passed, the same request goes through.
    deploy_node_to_the_end(&app, &alice).await;
    assert_eq!(creates(&app).await, [429, 201]);
}

#[tokio::test]
async fn a_create_dropped_on_the_wire_is_retried_once_without_a_duplicate() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    fault_on_create(&app, FaultKind::Drop, None).await;
    deploy_node_to_the_end(&app, &alice).await;
    assert_eq!(creates(&app).await.len(), 2);
}

#[tokio::test]
async fn a_create_503_is_retried_once_without_a_duplicate() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    fault_on_create(&app, FaultKind::Status, None).await;
    deploy_node_to_the_end(&app, &alice).await;
    assert_eq!(creates(&app).await, [503, 201]);
}

#[tokio::test]
async fn a_create_answered_after_the_timeout_is_not_repeated() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    // Longer than --upstream-timeout=2s: Render may create the service, but
    // the answer never reaches the deployer.
    fault_on_create(&app, FaultKind::Delay, Some(2_500)).await;
    deploy_node_to_the_end(&app, &alice).await;
}

//! Render misbehaving in the middle of a deploy: every case ends in a
//! correct final status or a clear error, and never in a second service.

use emulator::control::{Fault, FaultKind, Upstream};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code, spawn_app};
use crate::sessions::events_named;

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
    // The refused deployment is in the history, failed, with nothing in it.
    let history = alice.history().await;
    let deployments = history["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 1, "{history}");
    assert_eq!(deployments[0]["status"], "failed");
    assert_eq!(deployments[0]["services"], json!([]));
    assert!(
        deployments[0]["note"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{history}"
    );

    // Once the limit has passed, the same request goes through.
    deploy_node_to_the_end(&app, &alice).await;
    assert_eq!(creates(&app).await, [429, 201]);
}

/// A short Retry-After on the create is waited out inside the request: the
/// deploy goes through with one service, and the create was not repeated
/// before the limit had passed.
#[tokio::test]
async fn a_create_429_with_a_short_retry_after_is_waited_out() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    app.control
        .add_fault(&render_fault("/v1/services", FaultKind::Delay, Some(0), 1))
        .await
        .unwrap();
    let mut limited = render_fault("/v1/services", FaultKind::RateLimit, None, 1);
    limited.retry_after_s = Some(1);
    app.control.add_fault(&limited).await.unwrap();
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

#[tokio::test]
async fn a_refused_second_create_keeps_the_first_service_tracked_and_records_the_failure() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    // shop-monorepo plans shop-api then shop-web. `/v1/services` serves the
    // two name lookups, then the two creates: the fourth request, the
    // create of shop-web, is refused with a Retry-After longer than the
    // deployer waits inside a request.
    app.control
        .add_fault(&render_fault("/v1/services", FaultKind::Delay, Some(0), 3))
        .await
        .unwrap();
    app.control
        .add_fault(&render_fault("/v1/services", FaultKind::RateLimit, None, 1))
        .await
        .unwrap();
    let response = alice
        .post(
            "/api/render/deploy",
            json!({ "github_repo": "alice/shop-monorepo" }),
        )
        .await;
    let (status, code) = error_code(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(creates(&app).await, [201, 429]);
    assert_eq!(app.render_count(&alice.render).await, 1);

    // The deployment was recorded with the service that was created, which
    // is tracked to the end; the deployment then ends failed, saying which
    // service is missing.
    let history = alice.history().await;
    let deployments = history["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 1, "{history}");
    let id = deployments[0]["id"].as_str().unwrap().to_owned();
    let view = alice.wait_terminal(&id).await;
    assert_eq!(view["status"], "failed", "{view}");
    let tracked = view["services"].as_array().unwrap();
    assert_eq!(tracked.len(), 1, "{view}");
    assert_eq!(tracked[0]["name"], "shop-api");
    assert_eq!(tracked[0]["deploy_status"], "live", "{view}");
    let note = view["note"].as_str().unwrap();
    assert!(
        note.contains("shop-web") && note.contains("rate limit"),
        "{note}"
    );

    app.state.audit.flush().await;
    let audit: Value = alice.get("/api/audit/me").await.json().await.unwrap();
    let events = audit["events"].as_array().unwrap();
    let requested = events_named(events, "deployment_requested");
    assert_eq!(requested.len(), 1, "{events:#?}");
    assert_eq!(requested[0]["deployment_id"], id.as_str());
    let failed = events_named(events, "deployment_failed");
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert_eq!(failed[0]["deployment_id"], id.as_str());
    assert_eq!(failed[0]["reason"], "render_rate_limited");
    assert_eq!(failed[0]["service_ids"], json!([tracked[0]["service_id"]]));

    // Deploying again finishes the job without a second shop-api.
    let again = alice
        .deploy(json!({ "github_repo": "alice/shop-monorepo" }))
        .await;
    let view = alice.wait_terminal(again["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
    assert_eq!(app.render_count(&alice.render).await, 2);
}

#[tokio::test]
async fn a_429_while_polling_is_waited_out_as_retry_after_says() {
    let app = spawn_app().await;
    let alice = ready(&app).await;
    // The first per-service request is the first status poll of the new
    // service. Render answers 429 with Retry-After: 1 and, like a real
    // limiter, refuses again anything asked before that second has passed.
    let mut limited = render_fault("/v1/services/", FaultKind::RateLimit, None, 1);
    limited.retry_after_s = Some(1);
    app.control.add_fault(&limited).await.unwrap();
    let view = deploy_node_to_the_end(&app, &alice).await;
    let service_id = view["services"][0]["service_id"].as_str().unwrap();
    let limited: Vec<String> = app
        .upstream_requests(Upstream::Render)
        .await
        .into_iter()
        .filter(|r| r.status == 429 && r.path.starts_with(&format!("/v1/services/{service_id}/")))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        limited.len(),
        1,
        "the tracker asked again before Retry-After: {limited:?}"
    );
}

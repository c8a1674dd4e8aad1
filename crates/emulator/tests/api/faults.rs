//! Fault injection: each kind is observed by an ordinary client.

use std::time::Duration;

use emulator::control::{Fault, FaultKind, Upstream};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_emulator;

fn fault(upstream: Upstream, path_prefix: &str, kind: FaultKind, count: u32) -> Fault {
    Fault {
        upstream,
        path_prefix: path_prefix.to_owned(),
        kind,
        status: None,
        delay_ms: None,
        count,
    }
}

#[tokio::test]
async fn status_faults_hit_count_matching_requests_then_stop() {
    let t = spawn_emulator().await;
    let acct = t.account("faulty").await;
    let mut f = fault(Upstream::Render, "/v1/owners", FaultKind::Status, 2);
    f.status = Some(503);
    t.control.add_fault(&f).await.expect("fault");

    // Another path is not affected.
    assert_eq!(
        t.render_get(&acct.api_key, "/services").await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        let response = t.render_get(&acct.api_key, "/owners").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.expect("json");
        assert!(body["message"].is_string());
    }
    assert_eq!(
        t.render_get(&acct.api_key, "/owners").await.status(),
        StatusCode::OK
    );

    let mut gh = fault(Upstream::Github, "/user", FaultKind::Status, 5);
    gh.status = Some(502);
    t.control.add_fault(&gh).await.expect("fault");
    let user = t.control.create_github_user("octo").await.expect("user");
    assert_eq!(
        t.github_get(Some(&user.token), "/user").await.status(),
        StatusCode::BAD_GATEWAY
    );
    t.control.clear_faults().await.expect("clear");
    assert_eq!(
        t.github_get(Some(&user.token), "/user").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn delay_faults_hold_the_answer() {
    let t = spawn_emulator().await;
    let acct = t.account("slow").await;
    let mut f = fault(Upstream::Render, "/v1/", FaultKind::Delay, 1);
    f.delay_ms = Some(5_000);
    t.control.add_fault(&f).await.expect("fault");
    // A client with a short timeout gives up long before a 5 s delay ends.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let error = impatient
        .get(t.url("/v1/owners"))
        .bearer_auth(&acct.api_key)
        .send()
        .await
        .expect_err("times out");
    assert!(error.is_timeout(), "{error}");
    assert_eq!(
        t.render_get(&acct.api_key, "/owners").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn drop_faults_close_the_connection_without_an_answer() {
    let t = spawn_emulator().await;
    let acct = t.account("dropped").await;
    t.control
        .add_fault(&fault(Upstream::Render, "/v1/services", FaultKind::Drop, 1))
        .await
        .expect("fault");
    let error = t
        .http
        .get(t.url("/v1/services"))
        .bearer_auth(&acct.api_key)
        .send()
        .await
        .expect_err("no answer");
    assert!(!error.is_status() && !error.is_timeout(), "{error}");
    assert_eq!(
        t.render_get(&acct.api_key, "/services").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_faults_answer_200_with_broken_json() {
    let t = spawn_emulator().await;
    let user = t.control.create_github_user("octo").await.expect("user");
    t.control
        .add_fault(&fault(Upstream::Github, "/user", FaultKind::Malformed, 1))
        .await
        .expect("fault");
    let response = t.github_get(Some(&user.token), "/user").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.json::<Value>().await.is_err());
}

#[tokio::test]
async fn rate_limit_faults_answer_429_with_each_upstreams_headers() {
    let t = spawn_emulator().await;
    let acct = t.account("limited").await;
    let user = t.control.create_github_user("octo").await.expect("user");
    t.control
        .add_fault(&fault(Upstream::Render, "", FaultKind::RateLimit, 1))
        .await
        .expect("fault");
    t.control
        .add_fault(&fault(Upstream::Github, "", FaultKind::RateLimit, 1))
        .await
        .expect("fault");

    let render = t.render_get(&acct.api_key, "/services").await;
    assert_eq!(render.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = render.headers();
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert!(headers.contains_key("ratelimit-limit") && headers.contains_key("ratelimit-reset"));
    assert!(
        headers["retry-after"]
            .to_str()
            .expect("retry-after")
            .parse::<u64>()
            .is_ok()
    );
    let body: Value = render.json().await.expect("json");
    assert!(body["message"].is_string());

    let github = t.github_get(Some(&user.token), "/user").await;
    assert_eq!(github.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(github.headers()["x-ratelimit-remaining"], "0");
    assert!(github.headers().contains_key("retry-after"));
    assert!(github.headers().contains_key("x-ratelimit-reset"));
}

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
        retry_after_s: None,
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

#[tokio::test]
async fn a_rate_limit_with_retry_after_stays_in_force_for_that_long() {
    let t = spawn_emulator().await;
    let acct = t.account("windowed").await;
    let mut limited = fault(Upstream::Render, "/v1/owners", FaultKind::RateLimit, 1);
    limited.retry_after_s = Some(1);
    t.control.add_fault(&limited).await.expect("fault");

    let first = t.render_get(&acct.api_key, "/owners").await;
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(first.headers()["retry-after"], "1");
    assert_eq!(first.headers()["ratelimit-reset"], "1");
    // Asking again before Retry-After has passed is refused again (the fault's count is spent:
    // this is the limit itself), while other paths are untouched.
    let early = t.render_get(&acct.api_key, "/owners").await;
    assert_eq!(early.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(early.headers()["retry-after"], "1");
    assert_eq!(
        t.render_get(&acct.api_key, "/services").await.status(),
        StatusCode::OK
    );
    // A client that waits as told gets through.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        t.render_get(&acct.api_key, "/owners").await.status(),
        StatusCode::OK
    );
    let statuses: Vec<u16> = t
        .control
        .requests()
        .await
        .expect("log")
        .into_iter()
        .filter(|r| r.path == "/v1/owners")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);

    // Only Render rate limits take a Retry-After.
    let mut github = fault(Upstream::Github, "/user", FaultKind::RateLimit, 1);
    github.retry_after_s = Some(1);
    assert!(t.control.add_fault(&github).await.is_err());
}

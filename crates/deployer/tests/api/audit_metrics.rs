//! Issue 5: the audit trail each flow writes, security alerts at their
//! thresholds, and the Prometheus endpoint.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestUser, USER_AGENT, bare, captured_logs, client, location, spawn_app, spawn_app_with,
};
use crate::sessions::{events_named, exported, exported_everyone};

async fn my_audit(user: &TestUser) -> Vec<Value> {
    let page: Value = user.get("/api/audit/me").await.json().await.unwrap();
    page["events"].as_array().unwrap().clone()
}

fn one<'a>(events: &'a [Value], name: &str) -> &'a Value {
    let found = events_named(events, name);
    assert_eq!(found.len(), 1, "one {name} in {events:#?}");
    found[0]
}

fn assert_request_facts(event: &Value, route: &str) {
    assert!(
        event["request_id"].as_str().is_some_and(|r| r.len() >= 8),
        "{event}"
    );
    assert_eq!(event["route"], route, "{event}");
    assert_eq!(event["client_ip"], "127.0.0.1", "{event}");
    assert!(event["timestamp"].is_string() && event["hash"].is_string());
}

/// A callback whose state was tampered with: a failed login from this IP.
async fn failed_login(app: &TestApp, http: &reqwest::Client, login: &str) {
    let to_github = http
        .get(format!("{}/api/auth/github/login", app.url))
        .send()
        .await
        .unwrap();
    let approved = http
        .get(format!("{}&login={login}", location(&to_github)))
        .send()
        .await
        .unwrap();
    let callback = location(&approved).replace("state=", "state=x");
    let response = http.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_flow_writes_its_audit_event() {
    let app = spawn_app_with(&["--rate-limit-setup-user=4/1m"]).await;
    let mut alice = app.login("audit-alice").await;
    let user = format!("github_{}", alice.github.id);

    alice.setup_own_key().await;
    alice.setup_key("rnd_bad").await;
    alice.post("/api/render/clear-credentials", json!({})).await;
    let csrf = alice
        .http
        .post(alice.path("/api/render/clear-credentials"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(csrf.status(), StatusCode::FORBIDDEN);
    for _ in 0..3 {
        alice.setup_key("rnd_bad").await;
    }

    let events = my_audit(&alice).await;
    assert!(events.iter().all(|e| e["user_id"] == user.as_str()));
    let login = one(&events, "login_succeeded");
    assert_eq!(login["status"], "success");
    assert_request_facts(login, "/api/auth/github/callback");
    let setup = one(&events, "credential_setup");
    assert_eq!(setup["status"], "success");
    assert_eq!(setup["render_owner_id"], alice.render.owner_id.as_str());
    assert_request_facts(setup, "/api/render/setup");
    let invalid = events_named(&events, "credential_invalid");
    assert_eq!(
        invalid.len(),
        3,
        "the fourth attempt was rate limited first"
    );
    assert!(
        invalid
            .iter()
            .all(|e| e["reason"] == "bad_format" && e["status"] == "failure")
    );
    let cleared = one(&events, "credential_cleared");
    assert_eq!(cleared["render_owner_id"], alice.render.owner_id.as_str());
    let limited = one(&events, "rate_limited");
    assert_eq!(
        (limited["status"].as_str(), limited["reason"].as_str()),
        (Some("denied"), Some("render_setup"))
    );
    // The CSRF rejection is recorded without a user: the request was not trusted.
    assert!(events_named(&events, "csrf_rejected").is_empty());

    let laptop = alice.another_browser().await;
    laptop.post("/api/auth/logout", json!({})).await;
    let phone = alice.another_browser().await;
    phone.post("/api/auth/logout-everywhere", json!({})).await;
    failed_login(&app, &client(), "audit-alice").await;

    app.state.audit.flush().await;
    let mut out = Vec::new();
    deployer::db::audit::export(&app.state.db, None, None, &mut out)
        .await
        .unwrap();
    let all: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let csrf = one(&all, "csrf_rejected");
    assert_eq!(
        (csrf["status"].as_str(), csrf["reason"].as_str()),
        (Some("denied"), Some("missing_token"))
    );
    assert_request_facts(csrf, "/api/render/clear-credentials");
    let logout = one(&all, "logout");
    assert_eq!(logout["user_id"], user.as_str());
    let everywhere = one(&all, "logout_everywhere");
    assert_eq!(everywhere["user_id"], user.as_str());
    let failed = one(&all, "login_failed");
    assert_eq!(failed["reason"], "state_mismatch");
    assert_eq!(failed["user_id"], Value::Null);
    // Every line chains to the one before.
    for pair in all.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert!(
        deployer::db::audit::verify(&app.state.db, None)
            .await
            .unwrap()
            .first_broken
            .is_none()
    );
}

/// POSTs a deploy; returns the response's request id and the deployment's final view.
async fn deploy_to_the_end(user: &TestUser, repo: &str) -> (String, Value) {
    let response = user
        .post("/api/render/deploy", json!({ "github_repo": repo }))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let started: Value = response.json().await.unwrap();
    let view = user.wait_terminal(started["id"].as_str().unwrap()).await;
    (request_id, view)
}

fn service_ids(view: &Value) -> Vec<&str> {
    view["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_id"].as_str().unwrap())
        .collect()
}

/// The deployment events of one deployment carry who, what, where and which request.
fn assert_deployment_event(
    event: &Value,
    user: &TestUser,
    repo: &str,
    owner: &str,
    view: &Value,
    request_id: &str,
) {
    assert_eq!(
        event["user_id"],
        format!("github_{}", user.github.id),
        "{event}"
    );
    assert_eq!(event["repo"], repo, "{event}");
    assert_eq!(event["render_owner_id"], owner, "{event}");
    assert_eq!(event["deployment_id"], view["id"], "{event}");
    // `deployment_requested` is written before the first create, so only
    // the outcome knows the services.
    if event["event"] != "deployment_requested" {
        let ids: Vec<&str> = event["service_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("service ids in {event}"))
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(ids, service_ids(view), "{event}");
    }
    assert_eq!(event["request_id"], request_id, "{event}");
    assert_eq!(event["route"], "/api/render/deploy", "{event}");
}

#[tokio::test]
async fn deployments_write_requested_succeeded_and_failed_events() {
    let app = spawn_app().await;
    let mut alice = app.login("deploy-audit-alice").await;
    let team = app
        .control
        .add_render_workspace(&alice.render.owner_id, "Alice's team")
        .await
        .unwrap();
    let setup = alice
        .post(
            "/api/render/setup",
            json!({ "api_key": alice.render.api_key, "owner_id": team }),
        )
        .await;
    assert_eq!(setup.status(), StatusCode::OK);
    alice.refresh_csrf().await;
    app.seed_demo_repos("deploy-audit-alice").await;
    let (live, failing) = (
        "deploy-audit-alice/static-site",
        "deploy-audit-alice/node-hello",
    );
    app.control.set_behavior(20, &[failing]).await.unwrap();

    let (request_id, view) = deploy_to_the_end(&alice, live).await;
    assert_eq!(view["status"], "live", "{view}");
    let events = exported(&app, alice.github.id).await;
    let requested = one(&events, "deployment_requested");
    assert_deployment_event(requested, &alice, live, &team, &view, &request_id);
    let succeeded = one(&events, "deployment_succeeded");
    assert_deployment_event(succeeded, &alice, live, &team, &view, &request_id);
    assert_eq!(succeeded["status"], "success");
    assert!(events_named(&events, "deployment_failed").is_empty());

    let (request_id, view) = deploy_to_the_end(&alice, failing).await;
    assert_eq!(view["status"], "failed", "{view}");
    let events = exported(&app, alice.github.id).await;
    let requested = events_named(&events, "deployment_requested");
    assert_eq!(requested.len(), 2);
    assert_deployment_event(requested[1], &alice, failing, &team, &view, &request_id);
    let failed = one(&events, "deployment_failed");
    assert_deployment_event(failed, &alice, failing, &team, &view, &request_id);
    assert_eq!(
        (failed["status"].as_str(), failed["reason"].as_str()),
        (Some("failure"), Some("deploy_failed"))
    );
    assert_eq!(events_named(&events, "deployment_succeeded").len(), 1);
}

#[tokio::test]
async fn audit_me_shows_only_the_callers_events() {
    let app = spawn_app().await;
    let mut alice = app.login("mine-alice").await;
    let mut bob = app.login("mine-bob").await;
    alice.setup_own_key().await;
    bob.setup_own_key().await;
    bob.setup_key("rnd_bad").await;
    let alices = my_audit(&alice).await;
    assert!(!alices.is_empty());
    assert!(
        alices
            .iter()
            .all(|e| e["user_id"] == format!("github_{}", alice.github.id))
    );
    assert!(events_named(&alices, "credential_invalid").is_empty());
    let bobs: Value = bare(USER_AGENT)
        .get(bob.path("/api/audit/me"))
        .bearer_auth(&bob.github.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bobs = bobs["events"].as_array().unwrap();
    assert_eq!(events_named(bobs, "credential_invalid").len(), 1);
    assert!(
        bobs.iter()
            .all(|e| e["user_id"] == format!("github_{}", bob.github.id))
    );
}

fn alerts_of(events: &[Value], kind: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == "security_alert" && e["alert"] == kind)
        .count()
}

#[tokio::test]
async fn failed_logins_alert_at_the_threshold() {
    let app = spawn_app().await;
    let metric_before = alert_metric(&app, "failed_login_burst").await;
    let http = client();
    app.control
        .create_github_user("burst-mallory")
        .await
        .unwrap();
    let count_alerts = || async { alerts_of(&exported_everyone(&app).await, "failed_login_burst") };
    for _ in 0..9 {
        failed_login(&app, &http, "burst-mallory").await;
    }
    assert_eq!(count_alerts().await, 0, "below the threshold of 10");
    failed_login(&app, &http, "burst-mallory").await;
    let events = exported_everyone(&app).await;
    assert_alert_raised(&app, &events, "failed_login_burst", metric_before).await;
    let alert = events
        .iter()
        .find(|e| e["alert"] == "failed_login_burst")
        .unwrap();
    assert_eq!(alert["user_id"], Value::Null, "no one was logged in");
    assert_eq!(alert["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn invalid_keys_alert_per_user_at_the_threshold() {
    let app = spawn_app().await;
    let metric_before = alert_metric(&app, "invalid_key_burst_user").await;
    let mut alice = app.login("oracle-alice").await;
    for _ in 0..4 {
        alice
            .setup_key(&format!("rnd_{}", uuid::Uuid::new_v4().simple()))
            .await;
    }
    assert_eq!(
        alerts_of(
            &exported(&app, alice.github.id).await,
            "invalid_key_burst_user"
        ),
        0
    );
    alice.setup_key("rnd_bad").await;
    let events = exported(&app, alice.github.id).await;
    assert_alert_raised(&app, &events, "invalid_key_burst_user", metric_before).await;
    assert_eq!(
        alerts_of(&events, "invalid_key_burst_ip"),
        0,
        "10 per IP not reached"
    );
}

/// `security_alerts_total{kind}` as `/metrics` shows it now. The recorder is
/// shared by every app in this process: compare before and after.
pub async fn alert_metric(app: &TestApp, kind: &str) -> f64 {
    let (_, scrape) = scrape(&bare(USER_AGENT), &app.url).await;
    total(&scrape, "security_alerts_total", &[("kind", kind)])
}

/// The alert of `kind` in `events` was raised all three ways: the audit event
/// (one), a WARN log line with its request id, and the metric (above
/// `metric_before`, read with [`alert_metric`] before the alert).
pub async fn assert_alert_raised(app: &TestApp, events: &[Value], kind: &str, metric_before: f64) {
    let alerts: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "security_alert" && e["alert"] == kind)
        .collect();
    assert_eq!(alerts.len(), 1, "one {kind} alert in {events:#?}");
    let request_id = alerts[0]["request_id"].as_str().unwrap().to_owned();
    let logged = captured_logs().lines().any(|line| {
        let Ok(line) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        line["level"] == "WARN"
            && line["fields"]["message"] == "security alert"
            && line["fields"]["alert"] == kind
            && line["fields"]["request_id"] == request_id.as_str()
    });
    assert!(logged, "no WARN line for the {kind} alert {request_id}");
    assert_eq!(alerts[0]["status"], "alert");
    assert!(
        alert_metric(app, kind).await > metric_before,
        "security_alerts_total{{kind={kind}}} did not move"
    );
}

#[tokio::test]
async fn invalid_keys_alert_per_ip_at_the_threshold() {
    // Three users from one IP, none of them past the per-user threshold.
    let app = spawn_app_with(&["--alert-invalid-keys-ip=3/15m"]).await;
    let metric_before = alert_metric(&app, "invalid_key_burst_ip").await;
    let mut alice = app.login("ipburst-alice").await;
    let mut bob = app.login("ipburst-bob").await;
    alice.setup_key("rnd_bad").await;
    alice.setup_key("rnd_bad").await;
    assert_eq!(
        alerts_of(&exported_everyone(&app).await, "invalid_key_burst_ip"),
        0
    );
    bob.setup_key("rnd_bad").await;
    let events = exported_everyone(&app).await;
    assert_alert_raised(&app, &events, "invalid_key_burst_ip", metric_before).await;
    assert_eq!(alerts_of(&events, "invalid_key_burst_user"), 0);
}

#[tokio::test]
async fn repeated_deploy_failures_alert_at_the_threshold() {
    let app = spawn_app_with(&["--alert-deploy-failures-user=2/1h"]).await;
    let metric_before = alert_metric(&app, "repeated_deploy_failures").await;
    let mut alice = app.login("failing-alice").await;
    alice.setup_own_key().await;
    app.seed_demo_repos("failing-alice").await;
    app.control
        .set_behavior(20, &["failing-alice/node-hello"])
        .await
        .unwrap();
    let fail_once = || async {
        let started = alice
            .deploy(json!({ "github_repo": "failing-alice/node-hello" }))
            .await;
        let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
        assert_eq!(view["status"], "failed", "{view}");
        exported(&app, alice.github.id).await
    };
    let events = fail_once().await;
    assert_eq!(alerts_of(&events, "repeated_deploy_failures"), 0);
    let events = fail_once().await;
    assert_alert_raised(&app, &events, "repeated_deploy_failures", metric_before).await;
}

#[tokio::test]
async fn audit_me_pages_through_every_event_once_newest_first() {
    let app = spawn_app().await;
    let mut alice = app.login("pages-alice").await;
    for _ in 0..4 {
        alice.setup_key("rnd_bad").await;
    }
    alice.setup_own_key().await;
    let all: Vec<i64> = exported(&app, alice.github.id)
        .await
        .iter()
        .rev()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(all.len() >= 6, "{all:?}");

    let mut seen = Vec::new();
    let mut path = "/api/audit/me?limit=2".to_owned();
    loop {
        let page: Value = alice.get(&path).await.json().await.unwrap();
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(events.iter().map(|e| e["seq"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/api/audit/me?limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "every event once, newest first");

    // A limit past the largest page still says where the next page starts.
    let page: Value = alice
        .get("/api/audit/me?limit=100000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), all.len());
}

#[tokio::test]
async fn too_many_sessions_alert_above_the_maximum() {
    let app = spawn_app_with(&["--alert-max-sessions-user=2"]).await;
    let metric_before = alert_metric(&app, "too_many_sessions").await;
    let alice = app.login("many-alice").await;
    let _second = alice.another_browser().await;
    assert_eq!(
        alerts_of(&exported(&app, alice.github.id).await, "too_many_sessions"),
        0
    );
    let _third = alice.another_browser().await;
    let events = exported(&app, alice.github.id).await;
    assert_alert_raised(&app, &events, "too_many_sessions", metric_before).await;
}

async fn scrape(http: &reqwest::Client, url: &str) -> (String, prometheus_parse::Scrape) {
    let response = http.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text format");
    (text, scrape)
}

/// Sum of a metric's samples whose labels include `labels`.
fn total(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_without_user_labels() {
    let app = spawn_app().await;
    let http = bare(USER_AGENT);
    let (_, before) = scrape(&http, &app.url).await;
    let mut alice = app.login("metrics-alice-7f3k").await;
    alice.setup_own_key().await;
    alice.setup_key("rnd_bad").await;
    app.seed_demo_repos("metrics-alice-7f3k").await;
    let started = alice
        .deploy(json!({ "github_repo": "metrics-alice-7f3k/static-site" }))
        .await;
    let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
    // An invented method is a client's free text: it must not become a label.
    let brew = reqwest::Method::from_bytes(b"BREWCOFFEE").unwrap();
    http.request(brew, format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    let (text, after) = scrape(&http, &app.url).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        total(&after, name, labels) > total(&before, name, labels)
    };
    assert!(moved("session_events_total", &[("event", "created")]));
    assert!(moved(
        "render_key_validations_total",
        &[("result", "valid")]
    ));
    assert!(moved(
        "render_key_validations_total",
        &[("result", "invalid")]
    ));
    assert!(moved(
        "http_requests_total",
        &[("route", "/api/render/setup"), ("status", "200")]
    ));
    assert!(moved("upstream_requests_total", &[("upstream", "github")]));
    assert!(moved(
        "upstream_requests_total",
        &[("upstream", "render"), ("status", "2xx")]
    ));
    assert!(moved("deployments_total", &[("result", "requested")]));
    assert!(moved("deployments_total", &[("result", "live")]));
    assert!(total(&after, "sessions_active", &[]) >= 1.0);
    let latency_count = |scrape: &prometheus_parse::Scrape| -> u64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "http_request_duration_seconds")
            .filter(|s| s.labels.get("route") == Some("/api/render/setup"))
            .map(|s| match &s.value {
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.last().map_or(0, |b| b.count as u64)
                }
                _ => 0,
            })
            .sum()
    };
    assert!(latency_count(&after) > latency_count(&before), "{text}");

    assert!(!text.contains("metrics-alice-7f3k"));
    assert!(!text.contains("BREWCOFFEE"), "{text}");
    let id = alice.github.id.to_string();
    let labels: HashMap<&str, &str> = after
        .samples
        .iter()
        .flat_map(|s| s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    for (name, value) in &labels {
        assert!(
            !["user", "user_id", "login", "repo"].contains(name),
            "{name}"
        );
        assert_ne!(*value, id.as_str(), "a label carries the user id");
        assert!(!value.contains(&alice.render.owner_id), "{name}={value}");
    }
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let app = spawn_app_with(&["--metrics-token=xyz"]).await;
    let http = bare(USER_AGENT);
    let url = format!("{}/metrics", app.url);
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = http.get(&url).bearer_auth("xy").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = http.get(&url).bearer_auth("xyz").send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("http_requests_total"));
}

#[tokio::test]
async fn a_client_request_id_is_kept_only_when_it_is_a_uuid() {
    let app = spawn_app().await;
    let mut alice = app.login("reqid-alice").await;
    alice.setup_own_key().await;
    let http = bare(USER_AGENT);
    let status_with = |id: String| {
        http.get(alice.path("/api/render/status"))
            .bearer_auth(&alice.github.token)
            .header("x-request-id", id)
            .send()
    };
    let proxy_id = uuid::Uuid::new_v4().to_string();
    let kept = status_with(proxy_id.clone()).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], proxy_id.as_str());

    let pasted = format!("{} oops", alice.render.api_key);
    let replaced = status_with(pasted).await.unwrap();
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::try_parse(&id).is_ok(), "{id}");
    // The text the client sent reached no log line and no audit event.
    let events = exported(&app, alice.github.id).await;
    assert!(events.iter().all(|e| !e.to_string().contains("oops")));
    assert!(!captured_logs().contains(&format!("{} oops", alice.render.api_key)));
}

//! Session lifecycle: no fixation, no replay after logout, server-side
//! expiry, client binding, and the Redis store.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::audit_metrics::{alert_metric, assert_alert_raised};
use crate::helpers::{USER_AGENT, error_code, spawn_app, spawn_app_with};

/// The events `export` holds for one user, as JSON.
pub async fn exported(app: &crate::helpers::TestApp, user_id: u64) -> Vec<Value> {
    export_of(app, Some(user_id)).await
}

/// Every committed audit event of every user (and of none), oldest first.
pub async fn exported_everyone(app: &crate::helpers::TestApp) -> Vec<Value> {
    export_of(app, None).await
}

async fn export_of(app: &crate::helpers::TestApp, user_id: Option<u64>) -> Vec<Value> {
    app.state.audit.flush().await;
    let mut out = Vec::new();
    deployer::db::audit::export(&app.state.db, None, user_id, &mut out)
        .await
        .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

async fn assert_dead(user: &crate::helpers::TestUser, token: &str) {
    let (status, code) = error_code(
        user.get_with_cookie("/api/render/status", token, USER_AGENT)
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
}

async fn assert_alive(user: &crate::helpers::TestUser, token: &str) {
    let response = user
        .get_with_cookie("/api/render/status", token, USER_AGENT)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_login_kills_the_session_the_browser_had_before() {
    let app = spawn_app().await;
    let mut alice = app.login("fixation-alice").await;
    let first = alice.session_token().expect("session cookie");
    assert_alive(&alice, &first).await;

    let callback = alice.oauth_login(None).await;
    assert!(callback.status().is_redirection());
    let second = alice.session_token().expect("new session cookie");
    assert_ne!(first, second, "login issues a new token");
    assert_dead(&alice, &first).await;
    assert_alive(&alice, &second).await;
}

#[tokio::test]
async fn credential_setup_rotates_the_token() {
    let app = spawn_app().await;
    let mut alice = app.login("rotate-alice").await;
    let before = alice.session_token().unwrap();
    alice.setup_own_key().await;
    let after = alice.session_token().unwrap();
    assert_ne!(before, after);
    assert_dead(&alice, &before).await;
    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["render"]["verified"], true);
}

#[tokio::test]
async fn cookies_are_dead_after_logout_and_logout_everywhere() {
    let app = spawn_app().await;
    let alice = app.login("replay-alice").await;
    let token = alice.session_token().unwrap();
    assert_eq!(
        alice.post("/api/auth/logout", json!({})).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_dead(&alice, &token).await;
    assert!(
        alice.session_token().is_none_or(|t| t.is_empty()),
        "logout removes the cookie"
    );

    let laptop = alice.another_browser().await;
    let phone = alice.another_browser().await;
    let (laptop_token, phone_token) = (
        laptop.session_token().unwrap(),
        phone.session_token().unwrap(),
    );
    assert_alive(&laptop, &laptop_token).await;
    assert_alive(&phone, &phone_token).await;
    let out = phone.post("/api/auth/logout-everywhere", json!({})).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_dead(&laptop, &laptop_token).await;
    assert_dead(&phone, &phone_token).await;
    assert_eq!(
        app.state
            .sessions
            .store()
            .count_user(alice.github.id)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn idle_sessions_expire_with_a_message_and_an_audit_event() {
    let app = spawn_app().await;
    let alice = app.login("idle-alice").await;
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        alice.get("/api/render/status").await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(30 * 60 + 1));
    let response = alice.get("/api/render/status").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    let events = exported(&app, alice.github.id).await;
    let expired = events_named(&events, "session_expired");
    assert_eq!(expired.len(), 1, "{events:?}");
    assert_eq!(expired[0]["status"], "failure");
    assert_eq!(expired[0]["reason"], "expired");
    assert_eq!(expired[0]["user_id"], format!("github_{}", alice.github.id));
    // The record is gone: the next try is plainly unauthenticated.
    let (status, _) = error_code(alice.get("/api/render/status").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A page visited with an idle session says it expired and how to go on,
/// with a login that comes back to the same page.
#[tokio::test]
async fn an_expired_session_gets_a_page_that_says_so() {
    let app = spawn_app().await;
    let alice = app.login("idle-page-alice").await;
    app.clock.advance(Duration::from_secs(30 * 60 + 1));
    let response = alice.get("/dashboard").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("Your session expired"), "{page}");
    assert!(page.contains("Log in with GitHub again"), "{page}");
    assert!(
        page.contains("/api/auth/github/login?return_to=%2Fdashboard"),
        "{page}"
    );
    // Only once: afterwards the session is simply gone.
    let page = alice.get("/dashboard").await.text().await.unwrap();
    assert!(!page.contains("Your session expired"), "{page}");
    assert!(page.contains("Please log in"), "{page}");
}

#[tokio::test]
async fn active_sessions_still_end_at_the_absolute_limit() {
    let app = spawn_app_with(&["--session-absolute-timeout=1h"]).await;
    let alice = app.login("absolute-alice").await;
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(19 * 60));
        assert_eq!(
            alice.get("/api/render/status").await.status(),
            StatusCode::OK
        );
    }
    app.clock.advance(Duration::from_secs(4 * 60));
    let response = alice.get("/api/render/status").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let events = exported(&app, alice.github.id).await;
    assert_eq!(events_named(&events, "session_expired").len(), 1);
}

#[tokio::test]
async fn a_cookie_used_from_another_client_ends_the_session() {
    let app = spawn_app().await;
    let metric_before = alert_metric(&app, "session_client_mismatch").await;
    let alice = app.login("stolen-alice").await;
    let token = alice.session_token().unwrap();
    let thief = alice
        .get_with_cookie("/api/render/status", &token, "curl/8.0")
        .await;
    assert_eq!(thief.status(), StatusCode::UNAUTHORIZED);
    // Ended for the owner too: the token is burnt.
    assert_dead(&alice, &token).await;
    let events = exported(&app, alice.github.id).await;
    let alerts = events_named(&events, "security_alert");
    assert_eq!(alerts.len(), 1, "{events:?}");
    assert_alert_raised(&app, &events, "session_client_mismatch", metric_before).await;
}

#[tokio::test]
async fn a_cookie_replayed_without_a_user_agent_is_refused() {
    let app = spawn_app().await;
    let alice = app.login("no-ua-alice").await;
    let token = alice.session_token().unwrap();
    let thief = reqwest::Client::new()
        .get(alice.path("/api/render/status"))
        .header("cookie", format!("session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(thief.status(), StatusCode::UNAUTHORIZED);
    assert_dead(&alice, &token).await;
}

#[tokio::test]
async fn redis_store_passes_the_store_suite_and_serves_a_login() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("skipped: REDIS_URL is not set");
        return;
    };
    let secret = secrecy::SecretString::from(url.clone());
    let store = deployer::session::redis_store::RedisStore::connect(
        &secret,
        &format!("test:{}:", uuid::Uuid::new_v4()),
    )
    .await
    .expect("redis connects");
    deployer::session::store::suite::run(
        &store,
        std::sync::Arc::new(deployer::clock::SystemClock),
        None,
    )
    .await;

    let redis_url = format!("--redis-url={url}");
    let app = spawn_app_with(&["--session-store=redis", &redis_url]).await;
    let mut alice = app.login("redis-alice").await;
    alice.setup_own_key().await;
    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["render"]["verified"], true);
    let token = alice.session_token().unwrap();
    let dump = app.state.sessions.store().dump().await.unwrap().join("\n");
    assert!(!dump.contains(&alice.render.api_key) && !dump.contains(&token));
    assert_eq!(
        alice.post("/api/auth/logout", json!({})).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_dead(&alice, &token).await;
}

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{client, error_code, spawn_app};

#[tokio::test]
async fn login_setup_status_clear_logout_by_cookie() {
    let app = spawn_app().await;
    let mut alice = app.login("alice").await;

    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["github"]["login"], "alice");
    assert_eq!(status["render"]["configured"], false);
    assert!(status["csrf_token"].is_string());

    alice.setup_own_key().await;
    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["render"]["verified"], true, "{status}");
    assert_eq!(
        status["render"]["owner"]["id"],
        alice.render.owner_id.as_str()
    );

    let cleared = alice.post("/api/render/clear-credentials", json!({})).await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["render"]["configured"], false);

    let out = alice.post("/api/auth/logout", json!({})).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let (status, code) = error_code(alice.get("/api/render/status").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
}

#[tokio::test]
async fn bearer_clients_use_the_vault_without_csrf() {
    let app = spawn_app().await;
    let bob = app.login("bob").await;
    let http = client();
    let token = bob.github.token.clone();
    let setup = http
        .post(format!("{}/api/render/setup", app.url))
        .bearer_auth(&token)
        .json(&json!({ "api_key": bob.render.api_key }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        setup.status(),
        StatusCode::OK,
        "{}",
        setup.text().await.unwrap()
    );
    let status: Value = http
        .get(format!("{}/api/render/status", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["render"]["verified"], true);
    assert!(
        status.get("csrf_token").is_none(),
        "no CSRF token for bearer clients"
    );
    let bad = http
        .get(format!("{}/api/render/status", app.url))
        .bearer_auth("gho_notatoken")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

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

/// A request with `Authorization: Bearer <token>` and no cookie, no CSRF token.
async fn by_bearer(
    app: &crate::helpers::TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = crate::helpers::bare(crate::helpers::USER_AGENT)
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn setup_status_clear_logout_everywhere_by_bearer() {
    use reqwest::Method;

    let app = spawn_app().await;
    let mut alice = app.login("bearer-flow-alice").await;
    let phone = alice.another_browser().await;
    alice.setup_own_key().await;
    let cookie_token = alice.session_token().unwrap();
    let phone_token = phone.session_token().unwrap();
    let token = alice.github.token.clone();
    let status = |app, token| async move {
        let response = by_bearer(app, token, Method::GET, "/api/render/status", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };

    // The bearer vault is its own: the cookie session's key is not in it.
    let before = status(&app, &token).await;
    assert_eq!(before["github"]["login"], "bearer-flow-alice");
    assert_eq!(before["render"]["configured"], false);

    let setup = by_bearer(
        &app,
        &token,
        Method::POST,
        "/api/render/setup",
        Some(json!({ "api_key": alice.render.api_key })),
    )
    .await;
    assert_eq!(setup.status(), StatusCode::OK);
    let after = status(&app, &token).await;
    assert_eq!(after["render"]["verified"], true, "{after}");
    assert_eq!(
        after["render"]["owner"]["id"],
        alice.render.owner_id.as_str()
    );

    // Clear by bearer, without a CSRF token: the bearer key is gone, the
    // cookie session's is not.
    let cleared = by_bearer(
        &app,
        &token,
        Method::POST,
        "/api/render/clear-credentials",
        Some(json!({})),
    )
    .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(status(&app, &token).await["render"]["configured"], false);
    let (code_status, code) =
        error_code(by_bearer(&app, &token, Method::GET, "/api/render/services", None).await).await;
    assert_eq!(
        (code_status, code.as_str()),
        (StatusCode::BAD_REQUEST, "render_key_missing")
    );
    let cookie_status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(cookie_status["render"]["verified"], true);

    // Logout everywhere by bearer: every cookie session of the user dies,
    // and so does the bearer's sealed key.
    let setup = by_bearer(
        &app,
        &token,
        Method::POST,
        "/api/render/setup",
        Some(json!({ "api_key": alice.render.api_key })),
    )
    .await;
    assert_eq!(setup.status(), StatusCode::OK);
    let out = by_bearer(
        &app,
        &token,
        Method::POST,
        "/api/auth/logout-everywhere",
        Some(json!({})),
    )
    .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    for dead in [&cookie_token, &phone_token] {
        let (code_status, code) = error_code(
            alice
                .get_with_cookie("/api/render/status", dead, crate::helpers::USER_AGENT)
                .await,
        )
        .await;
        assert_eq!(
            (code_status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        );
    }
    assert_eq!(
        app.state
            .sessions
            .store()
            .count_user(alice.github.id)
            .await
            .unwrap(),
        0,
        "no record of the user is left"
    );
    // The GitHub token itself is still good at GitHub, but its vault is empty.
    assert_eq!(status(&app, &token).await["render"]["configured"], false);
}

fn owner_ids(answer: &Value) -> Vec<&str> {
    answer["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn owner_id_chooses_among_the_keys_workspaces() {
    let app = spawn_app().await;
    let mut alice = app.login("workspaces-alice").await;
    let bob = app.login("workspaces-bob").await;
    let user_owner = alice.render.owner_id.clone();
    let team = app
        .control
        .add_render_workspace(&user_owner, "Alice's team")
        .await
        .unwrap();
    let other_team = app
        .control
        .add_render_workspace(&user_owner, "Side project")
        .await
        .unwrap();
    let key = alice.render.api_key.clone();

    // No owner_id: the answer lists every workspace the key reaches and
    // takes the first one Render lists (the user's own).
    let response = alice.setup_key(&key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        owner_ids(&answer),
        [user_owner.as_str(), team.as_str(), other_team.as_str()]
    );
    assert_eq!(answer["owners"][0]["type"], "user");
    assert_eq!(answer["owners"][1]["type"], "team");
    assert_eq!(answer["owner"]["id"], user_owner.as_str());
    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["render"]["owner"]["id"], user_owner.as_str());

    // owner_id picks the second workspace; status reports it.
    let response = alice
        .post(
            "/api/render/setup",
            json!({ "api_key": key, "owner_id": team }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    alice.refresh_csrf().await;
    assert_eq!(answer["owner"]["id"], team.as_str());
    assert_eq!(answer["owner"]["name"], "Alice's team");
    assert_eq!(owner_ids(&answer).len(), 3);
    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["render"]["verified"], true);
    assert_eq!(status["render"]["owner"]["id"], team.as_str(), "{status}");
    assert_eq!(status["render"]["owner"]["name"], "Alice's team");

    // An owner the key does not reach (Bob's, or made up): 400 naming the
    // field, and the workspace chosen before is kept.
    let before = alice.session_token().unwrap();
    for unknown in [bob.render.owner_id.as_str(), "tea-nosuchworkspace00000"] {
        let response = alice
            .post(
                "/api/render/setup",
                json!({ "api_key": key, "owner_id": unknown }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("owner_id"), "{message}");
    }
    assert_eq!(alice.session_token().unwrap(), before, "nothing rotated");
    let status: Value = alice.get("/api/render/status").await.json().await.unwrap();
    assert_eq!(status["render"]["owner"]["id"], team.as_str());
}

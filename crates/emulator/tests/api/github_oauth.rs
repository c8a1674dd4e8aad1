//! GitHub's OAuth App web flow.

use base64::Engine as _;
use emulator::control::{OAuthApp, Upstream};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::helpers::{TestEmulator, spawn_emulator};

const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789abcdef";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .expect("location is a URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn setup(t: &TestEmulator) -> OAuthApp {
    t.control.create_github_user("octo").await.expect("user");
    t.control
        .create_oauth_app("http://127.0.0.1/callback")
        .await
        .expect("app")
}

/// Approve at once with `login=` and return the code from the redirect.
async fn authorize(t: &TestEmulator, app: &OAuthApp, redirect_uri: &str) -> String {
    let response = t
        .http
        .get(t.url("/login/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("login", "octo"),
            ("scope", "read:user repo"),
            ("state", "st4te"),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(redirect_uri), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("st4te"));
    query_param(&location, "code").expect("code")
}

/// Exchange with HTTP Basic client credentials (the `oauth2` crate's default), JSON answer.
async fn exchange_basic(
    t: &TestEmulator,
    app: &OAuthApp,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Value {
    let response = t
        .http
        .post(t.url("/login/oauth/access_token"))
        .basic_auth(&app.client_id, Some(&app.client_secret))
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token request");
    // GitHub answers errors with 200 too.
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/json")
    );
    response.json().await.expect("json")
}

#[tokio::test]
async fn login_flow_with_pkce_issues_a_working_token_and_codes_are_single_use() {
    let t = spawn_emulator().await;
    let app = setup(&t).await;
    // Loopback callbacks accept any port.
    let redirect = "http://127.0.0.1:49152/callback";
    let code = authorize(&t, &app, redirect).await;

    let grant = exchange_basic(&t, &app, &code, redirect, VERIFIER).await;
    let token = grant["access_token"].as_str().expect("token");
    assert!(token.starts_with("gho_") && token.len() == 40, "{token}");
    assert!(token[4..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(grant["token_type"], "bearer");
    assert_eq!(grant["scope"], "read:user,repo");

    let user: Value = t
        .github_get(Some(token), "/user")
        .await
        .json()
        .await
        .expect("user");
    assert_eq!(user["login"], "octo");

    let reused = exchange_basic(&t, &app, &code, redirect, VERIFIER).await;
    assert_eq!(reused["error"], "bad_verification_code");
    assert!(reused["error_description"].is_string() && reused["error_uri"].is_string());

    // The token request is logged with the client secret's fingerprint.
    let log = t.control.requests().await.expect("log");
    let token_call = log
        .iter()
        .find(|r| r.path == "/login/oauth/access_token")
        .expect("logged");
    assert_eq!(token_call.upstream, Upstream::Github);
    assert_eq!(
        token_call.credential_fingerprint,
        Some(emulator::fingerprint(&app.client_secret))
    );
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_rejected() {
    let t = spawn_emulator().await;
    let app = setup(&t).await;
    let redirect = "http://127.0.0.1:5000/callback";
    let code = authorize(&t, &app, redirect).await;
    let answer = exchange_basic(
        &t,
        &app,
        &code,
        redirect,
        "some-other-verifier-0123456789-0123456789",
    )
    .await;
    assert_eq!(answer["error"], "bad_verification_code");
    assert!(answer.get("access_token").is_none());
}

#[tokio::test]
async fn an_expired_code_is_rejected() {
    let t = spawn_emulator().await;
    let app = setup(&t).await;
    let redirect = "http://127.0.0.1:5000/callback";
    let code = authorize(&t, &app, redirect).await;
    t.control.expire_oauth_codes().await.expect("expire");
    let answer = exchange_basic(&t, &app, &code, redirect, VERIFIER).await;
    assert_eq!(answer["error"], "bad_verification_code");
    assert!(answer.get("access_token").is_none());

    // A code issued after the call is fresh.
    let code = authorize(&t, &app, redirect).await;
    let grant = exchange_basic(&t, &app, &code, redirect, VERIFIER).await;
    assert!(grant["access_token"].is_string(), "{grant}");
}

#[tokio::test]
async fn only_the_s256_challenge_method_is_accepted() {
    let t = spawn_emulator().await;
    let app = setup(&t).await;
    let redirect = "http://127.0.0.1:5000/callback";
    let response = t
        .http
        .get(t.url("/login/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", redirect),
            ("login", "octo"),
            ("state", "st4te"),
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("location");
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st4te"));
    assert!(query_param(location, "code").is_none(), "no code is issued");
}

#[tokio::test]
async fn body_credentials_get_a_form_encoded_answer_and_errors_are_checked() {
    let t = spawn_emulator().await;
    let app = setup(&t).await;
    let redirect = "http://127.0.0.1:5000/callback";

    let code = authorize(&t, &app, redirect).await;
    let response = t
        .http
        .post(t.url("/login/oauth/access_token"))
        .form(&[
            ("client_id", app.client_id.as_str()),
            ("client_secret", &app.client_secret),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    assert!(
        pairs
            .iter()
            .any(|(k, v)| k == "access_token" && v.starts_with("gho_")),
        "{text}"
    );

    let code = authorize(&t, &app, redirect).await;
    let wrong_secret = OAuthApp {
        client_secret: "nope".into(),
        ..app.clone()
    };
    let answer = exchange_basic(&t, &wrong_secret, &code, redirect, VERIFIER).await;
    assert_eq!(answer["error"], "incorrect_client_credentials");

    let answer = exchange_basic(&t, &app, &code, "http://127.0.0.1:5000/elsewhere", VERIFIER).await;
    assert_eq!(answer["error"], "redirect_uri_mismatch");
}

#[tokio::test]
async fn authorize_checks_client_and_redirect_uri() {
    let t = spawn_emulator().await;
    let app = setup(&t).await;
    let unknown = t
        .http
        .get(t.url("/login/oauth/authorize?client_id=nope&login=octo"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let mismatch = t
        .http
        .get(t.url("/login/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", "http://evil.example/callback"),
            ("login", "octo"),
            ("state", "s"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(mismatch.status(), StatusCode::FOUND);
    let location = mismatch.headers()["location"].to_str().expect("location");
    assert!(
        location.starts_with("http://127.0.0.1/callback"),
        "{location}"
    );
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("redirect_uri_mismatch")
    );
    assert!(query_param(location, "code").is_none());
}

#[tokio::test]
async fn without_login_a_picker_page_offers_users_and_cancel() {
    let t = spawn_emulator().await;
    let app = setup(&t).await;
    t.control
        .create_github_user("hubot")
        .await
        .expect("second user");
    let response = t
        .http
        .get(t.url("/login/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", "http://127.0.0.1:7000/callback"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.expect("page");
    assert!(
        page.contains("Authorize as octo") && page.contains("Authorize as hubot"),
        "{page}"
    );

    let cancel = page
        .split("id=\"cancel\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("cancel link")
        .replace("&amp;", "&");
    assert!(cancel.starts_with("http://127.0.0.1:7000/callback?"));
    assert_eq!(
        query_param(&cancel, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&cancel, "state").as_deref(), Some("xyz"));
    assert!(query_param(&cancel, "error_description").is_some());

    // Following a user link approves as that user.
    let link = page
        .split("class=\"user\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("user link")
        .replace("&amp;", "&");
    let approved = t.http.get(&link).send().await.expect("approve");
    assert_eq!(approved.status(), StatusCode::FOUND);
    let location = approved.headers()["location"].to_str().expect("location");
    assert!(query_param(location, "code").is_some());
    assert_eq!(query_param(location, "state").as_deref(), Some("xyz"));
}

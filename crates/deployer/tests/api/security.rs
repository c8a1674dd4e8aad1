//! The security promises over HTTP: secrets never leak, users never reach
//! each other's keys, CSRF and OAuth checks hold, bad keys and a failing
//! Render change nothing, limits trip, and every answer is well-formed.

use std::time::{Duration, Instant};

use emulator::control::{Fault, FaultKind, Upstream};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestUser, USER_AGENT, bare, captured_logs, error_code, location, spawn_app,
    spawn_app_with,
};

/// Every response a test saw, as text: status, headers (but the session
/// cookie being set, which must carry the token) and body.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn keep(&mut self, response: reqwest::Response) -> (StatusCode, Value) {
        let status = response.status();
        let mut text = format!("{status}\n");
        for (name, value) in response.headers() {
            if name != "set-cookie" || !value.to_str().unwrap_or("").starts_with("session=") {
                text.push_str(&format!("{name}: {value:?}\n"));
            }
        }
        let body = response.text().await.unwrap();
        text.push_str(&body);
        self.0.push(text);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

async fn status_of(user: &TestUser) -> Value {
    user.get("/api/render/status").await.json().await.unwrap()
}

#[tokio::test]
async fn canary_secrets_never_leave_the_vault() {
    let app = spawn_app().await;
    let mut alice = app.login("canary-alice").await;
    let key = alice.render.api_key.clone();
    let gh_token = alice.github.token.clone();
    let bad_shape = format!("rnd_{}!canary", uuid::Uuid::new_v4().simple());
    let unknown = format!("rnd_{}", uuid::Uuid::new_v4().simple());
    let mut tokens = vec![alice.session_token().unwrap()];
    let mut seen = Seen::default();

    for wrong in [&bad_shape, &unknown] {
        let (status, body) = seen
            .keep(
                alice
                    .post("/api/render/setup", json!({ "api_key": wrong }))
                    .await,
            )
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (StatusCode::BAD_REQUEST, &json!("render_key_invalid"))
        );
    }
    app.control
        .add_fault(&Fault {
            upstream: Upstream::Render,
            path_prefix: "/v1/owners".into(),
            kind: FaultKind::Status,
            status: Some(503),
            delay_ms: None,
            count: 10,
            retry_after_s: None,
        })
        .await
        .unwrap();
    let (status, _) = seen
        .keep(
            alice
                .post("/api/render/setup", json!({ "api_key": key }))
                .await,
        )
        .await;
    assert!(status.is_server_error());
    app.control.clear_faults().await.unwrap();

    // A CSRF failure carrying the key in its body.
    let (status, _) = seen
        .keep(
            alice
                .http
                .post(alice.path("/api/render/setup"))
                .json(&json!({ "api_key": key }))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = seen
        .keep(
            alice
                .post("/api/render/setup", json!({ "api_key": key }))
                .await,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    alice.csrf = body["csrf_token"].as_str().map(str::to_owned);
    tokens.push(alice.session_token().unwrap());
    seen.keep(alice.get("/api/render/status").await).await;
    seen.keep(alice.get("/api/render/services").await).await;
    seen.keep(alice.get("/api/audit/me").await).await;
    seen.keep(alice.get("/metrics").await).await;

    // Bearer: a good token, a refused one, a malformed header.
    let http = bare(USER_AGENT);
    for path in ["/api/render/status", "/api/render/services"] {
        seen.keep(
            http.get(alice.path(path))
                .bearer_auth(&gh_token)
                .send()
                .await
                .unwrap(),
        )
        .await;
    }
    let wrong_bearer = format!("gho_{}", uuid::Uuid::new_v4().simple());
    let (status, _) = seen
        .keep(
            http.get(alice.path("/api/render/status"))
                .bearer_auth(&wrong_bearer)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    seen.keep(
        http.post(alice.path("/api/render/setup"))
            .bearer_auth(&gh_token)
            .json(&json!({ "api_key": key }))
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Render revokes the key; status finds out.
    app.control.revoke_render_key(&key).await.unwrap();
    let (_, status) = seen.keep(alice.get("/api/render/status").await).await;
    assert_eq!(status["render"]["verified"], false);
    let (status, _) = seen
        .keep(alice.post("/api/auth/logout", json!({})).await)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = seen
        .keep(
            alice
                .get_with_cookie("/api/render/status", &tokens[1], USER_AGENT)
                .await,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    app.state.audit.flush().await;
    let logs = captured_logs();
    let responses = seen.0.join("\n");
    let dump = app.state.sessions.store().dump().await.unwrap().join("\n");
    let rows = deployer::db::all_rows_text(&app.state.db)
        .await
        .unwrap()
        .join("\n");
    let mut secrets = vec![
        ("render key", key.clone()),
        ("bad-shape key", bad_shape.clone()),
        ("unknown key", unknown.clone()),
        ("github token", gh_token.clone()),
        ("wrong bearer", wrong_bearer.clone()),
    ];
    secrets.extend(tokens.iter().map(|t| ("session token", t.clone())));
    for (what, secret) in &secrets {
        let leak = logs.lines().find(|l| l.contains(secret.as_str()));
        assert!(leak.is_none(), "{what} in the logs: {leak:?}");
        assert!(!responses.contains(secret.as_str()), "{what} in a response");
        assert!(!dump.contains(secret.as_str()), "{what} in the store dump");
        assert!(!rows.contains(secret.as_str()), "{what} in the database");
    }
    assert!(rows.contains("credential_setup"), "the DB rows were read");
}

#[tokio::test]
async fn the_store_dump_does_not_open_without_the_cookie() {
    use deployer::session::store::StoredSession;
    use deployer::session::vault::{Purpose, TokenKind, open};
    use secrecy::{ExposeSecret, SecretString};

    let app = spawn_app().await;
    let mut alice = app.login("dump-alice").await;
    alice.setup_own_key().await;
    let dump = app.state.sessions.store().dump().await.unwrap();
    assert_eq!(dump.len(), 1);
    assert!(
        !dump[0].contains(&alice.render.api_key[4..]),
        "no plaintext"
    );
    let record: StoredSession = serde_json::from_str(&dump[0]).unwrap();
    let sealed = &record.render.expect("a sealed key").sealed_key;

    // With the cookie the record opens (so the check below is meaningful)...
    let token = SecretString::from(alice.session_token().unwrap());
    let vault = app.state.sessions.vault();
    let store_key = vault.store_key(TokenKind::Cookie, &token);
    let opened = open(&token, &store_key, Purpose::RenderApiKey, sealed).unwrap();
    assert_eq!(opened.expose_secret(), alice.render.api_key);
    // ...and with whatever else an operator holds (the store key, the
    // SECRET_KEY, another token) it does not.
    let not_the_cookie = [
        SecretString::from(store_key.as_str().to_owned()),
        SecretString::from("t".repeat(40)),
        SecretString::from(
            deployer::credentials::SessionToken::generate()
                .secret()
                .expose_secret()
                .to_owned(),
        ),
    ];
    for guess in &not_the_cookie {
        assert!(open(guess, &store_key, Purpose::RenderApiKey, sealed).is_err());
    }
    // Nor is the store key usable as a cookie.
    let replay = alice
        .get_with_cookie("/api/render/status", store_key.as_str(), USER_AGENT)
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

/// Render requests logged by the emulator since `from`.
async fn render_calls_since(app: &TestApp, from: usize) -> Vec<emulator::control::LoggedRequest> {
    let all = app.control.requests().await.unwrap();
    all.into_iter()
        .skip(from)
        .filter(|r| r.upstream == Upstream::Render)
        .collect()
}

#[tokio::test]
async fn two_users_never_reach_each_others_key() {
    let app = spawn_app().await;
    let mut a = app.login("iso-alice").await;
    let mut b = app.login("iso-bob").await;
    let (fa, fb) = (
        emulator::fingerprint(&a.render.api_key),
        emulator::fingerprint(&b.render.api_key),
    );

    let mark = app.control.requests().await.unwrap().len();
    a.setup_own_key().await;
    a.get("/api/render/status").await;
    a.get("/api/render/services").await;
    let calls = render_calls_since(&app, mark).await;
    assert!(calls.len() >= 3, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.credential_fingerprint.as_deref() == Some(fa.as_str())),
        "every Render call for A carried A's key: {calls:?}"
    );

    let mark = app.control.requests().await.unwrap().len();
    let status = status_of(&b).await;
    assert_eq!(status["github"]["login"], "iso-bob");
    assert_eq!(status["render"]["configured"], false, "B sees no key");
    let (code_status, code) = error_code(b.get("/api/render/services").await).await;
    assert_eq!(
        (code_status, code.as_str()),
        (StatusCode::BAD_REQUEST, "render_key_missing")
    );
    b.setup_own_key().await;
    b.get("/api/render/services").await;
    let cleared = b.post("/api/render/clear-credentials", json!({})).await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let calls = render_calls_since(&app, mark).await;
    assert!(
        calls
            .iter()
            .all(|c| c.credential_fingerprint.as_deref() == Some(fb.as_str())),
        "B's calls carried only B's key: {calls:?}"
    );
    let status = status_of(&a).await;
    assert_eq!(status["render"]["verified"], true, "B's clear left A's key");
    assert_eq!(status["render"]["owner"]["id"], a.render.owner_id.as_str());

    // B's bearer together with A's cookie: the bearer decides, and it is B.
    let a_token = a.session_token().unwrap();
    let mark = app.control.requests().await.unwrap().len();
    let mixed: Value = bare(USER_AGENT)
        .get(a.path("/api/render/status"))
        .bearer_auth(&b.github.token)
        .header("cookie", format!("session={a_token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mixed["github"]["login"], "iso-bob");
    assert_eq!(mixed["render"]["configured"], false);
    let mixed_clear = bare(USER_AGENT)
        .post(a.path("/api/render/clear-credentials"))
        .bearer_auth(&b.github.token)
        .header("cookie", format!("session={a_token}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(mixed_clear.status(), StatusCode::OK);
    let calls = render_calls_since(&app, mark).await;
    assert!(
        calls
            .iter()
            .all(|c| c.credential_fingerprint.as_deref() != Some(fa.as_str()))
    );
    assert_eq!(status_of(&a).await["render"]["verified"], true);

    // A's cookie swapped into B's browser (another User-Agent): refused.
    b.setup_own_key().await;
    let mark = app.control.requests().await.unwrap().len();
    let swapped = b
        .get_with_cookie("/api/render/services", &a_token, "bobs-browser/2.0")
        .await;
    assert_eq!(swapped.status(), StatusCode::UNAUTHORIZED);
    assert!(
        render_calls_since(&app, mark).await.is_empty(),
        "A's key was not used"
    );
}

#[tokio::test]
async fn csrf_failures_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut alice = app.login("csrf-alice").await;
    let bob = app.login("csrf-bob").await;
    alice.setup_own_key().await;
    let good = alice.csrf.clone().unwrap();
    let clear = alice.path("/api/render/clear-credentials");

    let attempts = [
        alice.http.post(&clear).json(&json!({})),
        alice
            .http
            .post(&clear)
            .header("x-csrf-token", "not-the-token")
            .json(&json!({})),
        alice
            .http
            .post(&clear)
            .header("x-csrf-token", bob.csrf.clone().unwrap())
            .json(&json!({})),
        alice
            .http
            .post(&clear)
            .header("x-csrf-token", &good)
            .header("origin", "https://evil.example")
            .json(&json!({})),
        alice
            .http
            .post(&clear)
            .header("x-csrf-token", &good)
            .header("sec-fetch-site", "cross-site")
            .json(&json!({})),
    ];
    for attempt in attempts {
        let (status, code) = error_code(attempt.send().await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "csrf_failed")
        );
        assert_eq!(status_of(&alice).await["render"]["configured"], true);
    }

    // A form post from our own pages carries the token as a field.
    let form = alice
        .http
        .post(alice.path("/api/auth/logout"))
        .form(&[("csrf_token", good.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        alice.get("/api/render/status").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Starts a login and approves it at the emulator; returns the callback URL.
async fn approved_callback(user: &TestUser, return_to: Option<&str>) -> url::Url {
    let mut start = user.path("/api/auth/github/login");
    if let Some(r) = return_to {
        start = format!("{start}?return_to={}", crate::helpers::urlencode(r));
    }
    let to_github = user.http.get(start).send().await.unwrap();
    let approved = user
        .http
        .get(format!(
            "{}&login={}",
            location(&to_github),
            user.github.login
        ))
        .send()
        .await
        .unwrap();
    location(&approved).parse().unwrap()
}

fn with_state(callback: &url::Url, state: Option<&str>) -> url::Url {
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .filter(|(k, _)| k != "state")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut url = callback.clone();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(s) = state {
            query.append_pair("state", s);
        }
    }
    url
}

#[tokio::test]
async fn oauth_callbacks_with_a_bad_state_make_no_session() {
    let app = spawn_app().await;
    let alice = app.login("state-alice").await;
    alice.post("/api/auth/logout", json!({})).await;
    for state in [Some("forged-state"), None] {
        let callback = approved_callback(&alice, None).await;
        let response = alice
            .http
            .get(with_state(&callback, state))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            response
                .headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("session=")),
            "no session cookie"
        );
        assert_eq!(
            alice.get("/api/render/status").await.status(),
            StatusCode::UNAUTHORIZED
        );
        // The attempt is spent: the genuine callback no longer works either.
        let replay = alice.http.get(callback).send().await.unwrap();
        assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    }
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
async fn return_to_only_goes_to_our_own_paths() {
    let app = spawn_app().await;
    let mut alice = app.login("return-alice").await;
    for hostile in ["https://evil.example", "//evil.example", "/\\evil.example"] {
        let response = alice.oauth_login(Some(hostile)).await;
        assert!(response.status().is_redirection(), "{hostile}");
        assert_eq!(location(&response), "/", "{hostile}");
    }
    let response = alice.oauth_login(Some("/deploy?repo=a/b")).await;
    assert_eq!(location(&response), "/deploy?repo=a/b");
}

#[tokio::test]
async fn invalid_and_revoked_keys_are_reported_and_not_stored() {
    let app = spawn_app().await;
    let mut alice = app.login("keys-alice").await;
    let before = alice.session_token().unwrap();
    let unknown = format!("rnd_{}", uuid::Uuid::new_v4().simple());
    for wrong in [
        "rnd_short",
        "sk_live_abcdefghijklmnop",
        "rnd_has-a-dash-inside",
        unknown.as_str(),
    ] {
        let (status, code) = error_code(alice.setup_key(wrong).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "render_key_invalid"),
            "{wrong}"
        );
        assert_eq!(status_of(&alice).await["render"]["configured"], false);
    }
    assert_eq!(
        alice.session_token().unwrap(),
        before,
        "no rotation on failure"
    );

    alice.setup_own_key().await;
    assert_eq!(status_of(&alice).await["render"]["verified"], true);
    app.control
        .revoke_render_key(&alice.render.api_key)
        .await
        .unwrap();
    let status = status_of(&alice).await;
    assert_eq!(status["render"]["configured"], true);
    assert_eq!(status["render"]["verified"], false);
    let (status, code) = error_code(alice.get("/api/render/services").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "render_key_unverified")
    );
}

#[tokio::test]
async fn render_faults_on_setup_are_upstream_unavailable_and_change_nothing() {
    let app = spawn_app_with(&["--upstream-timeout=300ms"]).await;
    let mut alice = app.login("faults-alice").await;
    let token = alice.session_token().unwrap();
    let key = alice.render.api_key.clone();
    let faults = [
        (FaultKind::Status, Some(503), None),
        (FaultKind::Delay, None, Some(10_000)),
        (FaultKind::Drop, None, None),
        (FaultKind::Malformed, None, None),
        (FaultKind::RateLimit, None, None),
    ];
    for (kind, status, delay_ms) in faults {
        app.control
            .add_fault(&Fault {
                upstream: Upstream::Render,
                path_prefix: "/v1/owners".into(),
                kind,
                status,
                delay_ms,
                count: 10,
                retry_after_s: None,
            })
            .await
            .unwrap();
        let started = Instant::now();
        let (code_status, code) = error_code(alice.setup_key(&key).await).await;
        // The 10 s delay is cut off by the 300 ms upstream timeout.
        assert!(started.elapsed() < Duration::from_secs(8), "{kind:?}");
        assert!(
            matches!(code_status.as_u16(), 502..=504),
            "{kind:?}: {code_status}"
        );
        assert_eq!(code, "upstream_unavailable", "{kind:?}");
        app.control.clear_faults().await.unwrap();
        assert_eq!(alice.session_token().unwrap(), token, "{kind:?}");
        assert_eq!(status_of(&alice).await["render"]["configured"], false);
    }
    assert_eq!(app.render_count(&alice.render).await, 0, "nothing created");
}

#[tokio::test]
async fn setup_attempts_are_limited_per_user() {
    let app = spawn_app_with(&["--rate-limit-setup-user=3/1m"]).await;
    let mut alice = app.login("limit-alice").await;
    for _ in 0..3 {
        let (status, code) = error_code(alice.setup_key("rnd_bad").await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "render_key_invalid")
        );
    }
    let key = alice.render.api_key.clone();
    let limited = alice.setup_key(&key).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let (_, code) = error_code(limited).await;
    assert_eq!(code, "rate_limited");
    assert_eq!(status_of(&alice).await["render"]["configured"], false);
    // Another user is not held back by Alice's attempts.
    let mut bob = app.login("limit-bob").await;
    bob.setup_own_key().await;
}

#[tokio::test]
async fn login_starts_are_limited_per_ip() {
    let app = spawn_app_with(&["--rate-limit-login-ip=3/1m"]).await;
    let http = bare(USER_AGENT);
    let start = format!("{}/api/auth/github/login", app.url);
    for _ in 0..3 {
        let response = http.get(&start).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let limited = http.get(&start).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    let (_, code) = error_code(limited).await;
    assert_eq!(code, "rate_limited");
}

fn assert_common_headers(response: &reqwest::Response, api: bool) {
    let h = response.headers();
    let what = response.url().path().to_owned();
    assert!(h.contains_key("x-request-id"), "{what}");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert!(h.contains_key("referrer-policy"), "{what}");
    if api {
        assert_eq!(h["cache-control"], "no-store", "{what}");
    }
}

#[tokio::test]
async fn request_hygiene_and_headers() {
    let app = spawn_app().await;
    let alice = app.login("hygiene-alice").await;
    let setup = alice.path("/api/render/setup");
    let csrf = alice.csrf.clone().unwrap();

    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            alice
                .http
                .post(&setup)
                .header("x-csrf-token", &csrf)
                .header("content-type", "text/plain")
                .body("{\"api_key\":\"rnd_x\"}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            alice
                .http
                .post(&setup)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "api_key": "rnd_".to_owned() + &"a".repeat(70 * 1024) })),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            alice
                .http
                .post(&setup)
                .header("x-csrf-token", &csrf)
                .header("content-type", "application/json")
                .body("{\"api_key\": "),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            alice.http.get(alice.path("/api/no-such-route")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            alice.http.get(alice.path("/api/auth/logout")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (request, want_status, want_code) in cases {
        let response = request.send().await.unwrap();
        assert_common_headers(&response, true);
        let (status, code) = error_code(response).await;
        assert_eq!((status, code.as_str()), (want_status, want_code));
    }

    let mut ids = std::collections::HashSet::new();
    for (path, api) in [
        ("/api/render/status", true),
        ("/healthz", false),
        ("/", false),
        ("/openapi.json", false),
        ("/api/auth/github/login", true),
    ] {
        let response = alice.get(path).await;
        assert_common_headers(&response, api);
        ids.insert(
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 5, "request ids are unique");
}

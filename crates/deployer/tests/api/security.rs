//! The security promises over HTTP: secrets never leak, users never reach
//! each other's keys, CSRF and OAuth checks hold, bad keys and a failing
//! Render change nothing, limits trip, and every answer is well-formed.

use std::time::{Duration, Instant};

use emulator::control::{Fault, FaultKind, Upstream};
use reqwest::StatusCode;
use reqwest::cookie::CookieStore as _;
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

/// `deployer audit export` run as an operator runs it, against the app's database.
fn audit_export_cli(app: &TestApp) -> String {
    use secrecy::ExposeSecret;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .arg("audit")
        .arg(format!(
            "--database-url={}",
            app.state.config.database_url.expose_secret()
        ))
        .arg("export")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut text = String::from_utf8(output.stdout).unwrap();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

#[tokio::test]
async fn canary_secrets_never_leave_the_vault() {
    // A short upstream timeout for the delay fault; a per-user setup limit
    // that the flows below reach at the end.
    let app = spawn_app_with(&["--upstream-timeout=300ms", "--rate-limit-setup-user=14/15m"]).await;
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

    // Plan and deploy, by bearer and by cookie; the bearer clears its key
    // and sets it up again.
    app.seed_demo_repos("canary-alice").await;
    let base = app.url.clone();
    let bearer_post = |path: &str, token: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let (status, _) = seen
        .keep(
            bearer_post(
                "/api/render/plan",
                &gh_token,
                json!({ "github_repo": "canary-alice/node-hello" }),
            )
            .await
            .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Slow deploys, so clearing the key below surely finds this one running.
    app.control.set_behavior(5_000, &[]).await.unwrap();
    let (status, by_bearer) = seen
        .keep(
            bearer_post(
                "/api/render/deploy",
                &gh_token,
                json!({ "github_repo": "canary-alice/node-hello" }),
            )
            .await
            .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{by_bearer}");
    let bearer_service = by_bearer["services"][0]["service_id"].as_str().unwrap();
    app.wait_for_poll(&key, bearer_service).await;
    for _ in 0..2 {
        let (status, _) = seen
            .keep(
                bearer_post("/api/render/clear-credentials", &gh_token, json!({}))
                    .await
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    app.control.set_behavior(20, &[]).await.unwrap();
    let (status, _) = seen
        .keep(
            bearer_post("/api/render/setup", &gh_token, json!({ "api_key": key }))
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = seen
        .keep(
            alice
                .post(
                    "/api/render/plan",
                    json!({ "github_repo": "canary-alice/static-site" }),
                )
                .await,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, by_cookie) = seen
        .keep(
            alice
                .post(
                    "/api/render/deploy",
                    json!({ "github_repo": "canary-alice/static-site" }),
                )
                .await,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{by_cookie}");
    // Clearing the bearer's key stopped the tracking of its deployment: the
    // key left with it.
    for (started, end) in [(&by_bearer, "untracked"), (&by_cookie, "live")] {
        let id = started["id"].as_str().unwrap();
        let view = alice.wait_terminal(id).await;
        assert_eq!(view["status"], end, "{view}");
        seen.keep(alice.get(&format!("/api/render/deployments/{id}")).await)
            .await;
        seen.keep(
            alice
                .get(&format!("/api/render/deployments/{id}/events"))
                .await,
        )
        .await;
    }
    seen.keep(alice.get("/api/render/my-deployments").await)
        .await;

    // Clear by cookie, set up again (a new token).
    let (status, _) = seen
        .keep(alice.post("/api/render/clear-credentials", json!({})).await)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = seen.keep(alice.setup_key(&key).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens.push(alice.session_token().unwrap());

    // Render slow, gone, talking nonsense or limiting: the key goes nowhere.
    for kind in [
        FaultKind::Delay,
        FaultKind::Drop,
        FaultKind::Malformed,
        FaultKind::RateLimit,
    ] {
        app.control
            .add_fault(&Fault {
                upstream: Upstream::Render,
                path_prefix: "/v1/owners".into(),
                kind,
                status: None,
                delay_ms: Some(10_000),
                retry_after_s: None,
                count: 10,
            })
            .await
            .unwrap();
        let (status, _) = seen.keep(alice.setup_key(&key).await).await;
        assert!(status.is_server_error(), "{kind:?}: {status}");
        app.control.clear_faults().await.unwrap();
    }

    // Bodies refused before the handler runs, each carrying the key.
    let csrf = alice.csrf.clone().unwrap();
    let setup_url = alice.path("/api/render/setup");
    let refused: Vec<(reqwest::RequestBuilder, StatusCode)> = vec![
        (
            alice
                .http
                .post(&setup_url)
                .header("x-csrf-token", &csrf)
                .header("content-type", "text/plain")
                .body(json!({ "api_key": key }).to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            alice
                .http
                .post(&setup_url)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "api_key": key, "padding": "a".repeat(70 * 1024) })),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            alice
                .http
                .post(&setup_url)
                .header("x-csrf-token", &csrf)
                .header("content-type", "application/json")
                .body(format!("{{\"api_key\": \"{key}\"")),
            StatusCode::BAD_REQUEST,
        ),
        (
            // The key as an unknown field's name, which JSON errors like to quote.
            alice
                .http
                .post(&setup_url)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "api_key": "rnd_x", key.as_str(): key })),
            StatusCode::BAD_REQUEST,
        ),
        (
            // The key where a string is expected to be something else.
            alice
                .http
                .post(&setup_url)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "api_key": [key], "owner_id": format!("{key}{key}") })),
            StatusCode::BAD_REQUEST,
        ),
        (
            alice
                .http
                .post(&setup_url)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "api_key": key, "owner_id": format!("{key}{key}") })),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (request, want) in refused {
        let (status, body) = seen.keep(request.send().await.unwrap()).await;
        assert_eq!(status, want, "{body}");
    }

    // Our own limit: set-ups until one is answered 429.
    let mut limited = false;
    for _ in 0..14 {
        let (status, body) = seen.keep(alice.setup_key(&key).await).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"]["code"], "rate_limited");
            limited = true;
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.push(alice.session_token().unwrap());
    }
    assert!(limited, "the setup limit was reached");

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

    // Logout everywhere: from another browser, by bearer, by a refused bearer.
    let phone = alice.another_browser().await;
    tokens.push(phone.session_token().unwrap());
    let (status, _) = seen
        .keep(phone.post("/api/auth/logout-everywhere", json!({})).await)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = seen
        .keep(
            bearer_post("/api/auth/logout-everywhere", &gh_token, json!({}))
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = seen
        .keep(
            bearer_post("/api/auth/logout-everywhere", &wrong_bearer, json!({}))
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = seen
        .keep(
            phone
                .get_with_cookie("/api/render/status", tokens.last().unwrap(), USER_AGENT)
                .await,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    app.state.audit.flush().await;
    let logs = captured_logs();
    let export = audit_export_cli(&app);
    assert!(
        export.contains("deployment_succeeded"),
        "the export was read"
    );
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
        let leak = seen.0.iter().find(|r| r.contains(secret.as_str()));
        assert!(leak.is_none(), "{what} in a response: {leak:?}");
        assert!(!dump.contains(secret.as_str()), "{what} in the store dump");
        assert!(!rows.contains(secret.as_str()), "{what} in the database");
        assert!(
            !export.contains(secret.as_str()),
            "{what} in the audit export"
        );
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

/// The `Set-Cookie` headers of a response.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The one `Set-Cookie` for `name`, split into its `name=value` and its
/// attributes (lower-cased names, as `httponly` or `samesite=lax`).
fn cookie_set(cookies: &[String], name: &str) -> (String, Vec<String>) {
    let found: Vec<&String> = cookies
        .iter()
        .filter(|c| c.starts_with(&format!("{name}=")))
        .collect();
    assert_eq!(found.len(), 1, "one {name} cookie in {cookies:?}");
    let mut parts = found[0].split(';').map(str::trim);
    let pair = parts.next().unwrap().to_owned();
    let attributes = parts.map(str::to_ascii_lowercase).collect();
    (pair, attributes)
}

/// Whether a `Set-Cookie` deletes its cookie (an empty value that expires now).
fn is_removal(pair: &str, attributes: &[String]) -> bool {
    pair.ends_with('=')
        && attributes
            .iter()
            .any(|a| a == "max-age=0" || a.starts_with("expires="))
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_ends_with_the_browser() {
    let app = spawn_app().await;
    let mut alice = app.login("cookie-alice").await;
    let callback = alice.oauth_login(None).await;
    assert!(callback.status().is_redirection());
    let cookies = set_cookies(&callback);
    let (pair, attributes) = cookie_set(&cookies, "session");
    assert_eq!(
        pair.strip_prefix("session=").unwrap(),
        alice.session_token().unwrap()
    );
    assert!(
        attributes.contains(&"httponly".to_owned()),
        "{attributes:?}"
    );
    assert!(attributes.contains(&"path=/".to_owned()), "{attributes:?}");
    assert!(
        attributes.contains(&"samesite=lax".to_owned()),
        "{attributes:?}"
    );
    assert!(
        !attributes.contains(&"secure".to_owned()),
        "plain-http development"
    );
    assert!(
        attributes
            .iter()
            .all(|a| !a.starts_with("max-age") && !a.starts_with("expires")),
        "a browser-session cookie: {attributes:?}"
    );
    // The login attempt's cookie is cleared by the callback.
    let (oauth, oauth_attributes) = cookie_set(&cookies, "oauth");
    assert!(
        is_removal(&oauth, &oauth_attributes),
        "{oauth_attributes:?}"
    );

    // Credential setup rotates the token with the same flags.
    let key = alice.render.api_key.clone();
    let setup = alice.setup_key(&key).await;
    let (_, rotated) = cookie_set(&set_cookies(&setup), "session");
    assert_eq!(rotated, attributes);
}

/// The secure-mode login by hand (the test client's jar would not send
/// `Secure` cookies over plain http): returns the callback's response.
async fn secure_login(app: &TestApp, login: &str) -> reqwest::Response {
    app.control.create_github_user(login).await.unwrap();
    let http = bare(USER_AGENT);
    let start = http
        .get(format!("{}/api/auth/github/login", app.url))
        .send()
        .await
        .unwrap();
    let (oauth, attributes) = cookie_set(&set_cookies(&start), "__Host-oauth");
    for flag in ["secure", "httponly", "path=/", "samesite=lax"] {
        assert!(attributes.contains(&flag.to_owned()), "{attributes:?}");
    }
    assert!(
        attributes.iter().all(|a| !a.starts_with("domain")),
        "{attributes:?}"
    );
    let approved = http
        .get(format!("{}&login={login}", location(&start)))
        .send()
        .await
        .unwrap();
    http.get(location(&approved))
        .header("cookie", oauth)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn secure_cookies_use_the_host_prefix() {
    let app = spawn_app_with(&[
        "--session-cookie-secure=true",
        "--session-cookie-samesite=strict",
    ])
    .await;
    let callback = secure_login(&app, "host-alice").await;
    // Strict: the cross-site redirect from GitHub ends on a same-origin page.
    assert_eq!(callback.status(), StatusCode::OK);
    let cookies = set_cookies(&callback);
    let (pair, attributes) = cookie_set(&cookies, "__Host-session");
    for flag in ["secure", "httponly", "path=/", "samesite=strict"] {
        assert!(attributes.contains(&flag.to_owned()), "{attributes:?}");
    }
    assert!(
        attributes.iter().all(|a| !a.starts_with("max-age")
            && !a.starts_with("expires")
            && !a.starts_with("domain")),
        "{attributes:?}"
    );
    assert!(
        cookies.iter().all(|c| !c.starts_with("session=")),
        "{cookies:?}"
    );
    let token = pair.strip_prefix("__Host-session=").unwrap().to_owned();
    let with = |cookie: String| {
        bare(USER_AGENT)
            .get(format!("{}/api/render/status", app.url))
            .header("cookie", cookie)
            .send()
    };
    let status = with(format!("__Host-session={token}")).await.unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    // The bare name, which any subdomain could set, is not the session cookie here.
    let bare_name = with(format!("session={token}")).await.unwrap();
    assert_eq!(bare_name.status(), StatusCode::UNAUTHORIZED);
}

/// Browsers drop a `Set-Cookie` for a `__Host-` name unless it carries
/// `Secure` and `Path=/`, so deleting such a cookie needs them too.
#[tokio::test]
async fn secure_cookies_are_deleted_with_the_attributes_their_prefix_needs() {
    let app = spawn_app_with(&["--session-cookie-secure=true"]).await;
    let callback = secure_login(&app, "host-bob").await;
    assert!(callback.status().is_redirection());
    let cookies = set_cookies(&callback);
    let (pair, _) = cookie_set(&cookies, "__Host-session");
    let token = pair.strip_prefix("__Host-session=").unwrap().to_owned();
    let (oauth, attributes) = cookie_set(&cookies, "__Host-oauth");
    assert!(is_removal(&oauth, &attributes), "{attributes:?}");
    for flag in ["secure", "path=/"] {
        assert!(
            attributes.contains(&flag.to_owned()),
            "the login cookie's removal lacks {flag}: {attributes:?}"
        );
    }

    let http = bare(USER_AGENT);
    let cookie = format!("__Host-session={token}");
    let status: Value = http
        .get(format!("{}/api/render/status", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let out = http
        .post(format!("{}/api/auth/logout", app.url))
        .header("cookie", &cookie)
        .header("x-csrf-token", status["csrf_token"].as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let (session, attributes) = cookie_set(&set_cookies(&out), "__Host-session");
    assert!(is_removal(&session, &attributes), "{attributes:?}");
    for flag in ["secure", "path=/"] {
        assert!(
            attributes.contains(&flag.to_owned()),
            "the session cookie's removal lacks {flag}: {attributes:?}"
        );
    }
}

#[tokio::test]
async fn a_cancelled_github_login_gets_a_clear_page_and_clears_the_attempt() {
    let app = spawn_app().await;
    let alice = app.login("cancel-alice").await;
    alice.post("/api/auth/logout", json!({})).await;
    let to_github = alice
        .http
        .get(alice.path("/api/auth/github/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(to_github.status(), StatusCode::SEE_OTHER);
    // Without `login=` the emulator shows GitHub's page; the user cancels.
    let page = alice
        .http
        .get(location(&to_github))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cancel = page
        .split("id=\"cancel\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a cancel link")
        .replace("&amp;", "&");
    assert!(cancel.contains("error=access_denied"), "{cancel}");
    let response = alice.http.get(&cancel).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let cookies = set_cookies(&response);
    let (oauth, attributes) = cookie_set(&cookies, "oauth");
    assert!(is_removal(&oauth, &attributes), "{attributes:?}");
    assert!(
        cookies.iter().all(|c| !c.starts_with("session=")),
        "{cookies:?}"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("cancelled the login"), "{body}");
    assert!(
        body.contains("/api/auth/github/login"),
        "a way to try again"
    );
    let jar = alice
        .jar
        .cookies(&alice.url.parse().unwrap())
        .map(|h| h.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        !jar.contains("oauth="),
        "the browser holds no attempt: {jar}"
    );
    assert_eq!(
        alice.get("/api/render/status").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let events = crate::sessions::exported_everyone(&app).await;
    let failed: Vec<&Value> = crate::sessions::events_named(&events, "login_failed");
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0]["reason"], "access_denied");
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
async fn a_badly_shaped_key_is_refused_before_any_render_call() {
    let app = spawn_app().await;
    let mut alice = app.login("shape-alice").await;
    let owners_calls = || async {
        render_calls_since(&app, 0)
            .await
            .into_iter()
            .filter(|c| c.path == "/v1/owners")
            .count()
    };
    let too_long = format!("rnd_{}", "a".repeat(200));
    for wrong in [
        "",
        "rnd_",
        "rnd_short",
        "sk_live_abcdefghijklmnopqrstuvwxyz012345",
        "RND_abcdefghijklmnopqrstuvwxyz012345",
        "rnd_abcdefghijklmnop-rstuvwxyz012345",
        "rnd_abcdefghijklmnop rstuvwxyz012345",
        "rnd_abcdefghijklmnopqrstuvwxyz01234\u{e9}",
        too_long.as_str(),
    ] {
        let (status, code) = error_code(alice.setup_key(wrong).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "render_key_invalid"),
            "{wrong:?}"
        );
    }
    assert_eq!(
        owners_calls().await,
        0,
        "no key of a bad shape reached Render"
    );
    // A key of the right shape is asked about (so the check above means something).
    let unknown = format!("rnd_{}", uuid::Uuid::new_v4().simple());
    let (status, _) = error_code(alice.setup_key(&unknown).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(owners_calls().await, 1);
}

#[tokio::test]
async fn setup_attempts_are_limited_per_ip_across_users() {
    let app = spawn_app_with(&["--rate-limit-setup-ip=3/1m", "--trust-proxy=true"]).await;
    let mut alice = app.login("iplimit-alice").await;
    let mut bob = app.login("iplimit-bob").await;
    let mut carol = app.login("iplimit-carol").await;
    for user in [&mut alice, &mut bob] {
        let (status, code) = error_code(user.setup_key("rnd_bad").await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "render_key_invalid")
        );
    }
    carol.setup_own_key().await;
    // The fourth attempt from this address, by a user who has made none.
    let mut dave = app.login("iplimit-dave").await;
    let key = dave.render.api_key.clone();
    let limited = dave.setup_key(&key).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (_, code) = error_code(limited).await;
    assert_eq!(code, "rate_limited");
    assert_eq!(status_of(&dave).await["render"]["configured"], false);
    let dave_fingerprint = emulator::fingerprint(&key);
    assert!(
        render_calls_since(&app, 0)
            .await
            .iter()
            .all(|c| c.credential_fingerprint.as_deref() != Some(dave_fingerprint.as_str())),
        "the refused attempt did not reach Render"
    );

    // The same user from another address (behind the trusted proxy) is not held back.
    let elsewhere = dave
        .http
        .post(dave.path("/api/render/setup"))
        .header("x-csrf-token", dave.csrf.clone().unwrap())
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({ "api_key": key }))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
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

/// GitHub failing during a login (token exchange or `/user`) is an
/// upstream failure, answered in time, and the session the browser already
/// had is left as it was.
#[tokio::test]
async fn github_faults_during_login_are_upstream_unavailable_and_change_nothing() {
    let app = spawn_app_with(&["--upstream-timeout=300ms"]).await;
    let mut alice = app.login("login-faults-alice").await;
    let token = alice.session_token().unwrap();
    let faults = [
        (FaultKind::Status, Some(503), None),
        (FaultKind::Status, Some(500), None),
        (FaultKind::Delay, None, Some(10_000)),
        (FaultKind::Drop, None, None),
        (FaultKind::Malformed, None, None),
        (FaultKind::RateLimit, None, None),
    ];
    for path_prefix in ["/login/oauth/access_token", "/user"] {
        for (kind, status, delay_ms) in faults {
            app.control
                .add_fault(&Fault {
                    upstream: Upstream::Github,
                    path_prefix: path_prefix.into(),
                    kind,
                    status,
                    delay_ms,
                    retry_after_s: None,
                    count: 1,
                })
                .await
                .unwrap();
            let started = Instant::now();
            let callback = alice.oauth_login(None).await;
            assert!(started.elapsed() < Duration::from_secs(8), "{kind:?}");
            let code_status = callback.status();
            let page = callback.text().await.unwrap();
            assert!(
                matches!(code_status.as_u16(), 502..=504),
                "{path_prefix} {kind:?}: {code_status} {page}"
            );
            assert!(page.contains("GitHub"), "{path_prefix} {kind:?}: {page}");
            app.control.clear_faults().await.unwrap();
            assert_eq!(
                alice.session_token().unwrap(),
                token,
                "{path_prefix} {kind:?}"
            );
            assert_eq!(
                alice.get("/api/render/status").await.status(),
                StatusCode::OK,
                "{path_prefix} {kind:?}: the earlier session still works"
            );
        }
    }
}

/// The status answers while Render is down (pages and scripts need it), says
/// the live check could not be made, and keeps the last verification.
#[tokio::test]
async fn status_with_render_down_says_the_check_was_unavailable() {
    let app = spawn_app_with(&["--upstream-timeout=300ms"]).await;
    let mut alice = app.login("status-faults-alice").await;
    alice.setup_own_key().await;
    let before = status_of(&alice).await;
    assert_eq!(before["render"]["check"], "passed", "{before}");
    for (kind, status, delay_ms) in [
        (FaultKind::Status, Some(503), None),
        (FaultKind::Delay, None, Some(10_000)),
        (FaultKind::Drop, None, None),
        (FaultKind::Malformed, None, None),
        (FaultKind::RateLimit, None, None),
    ] {
        app.control
            .add_fault(&Fault {
                upstream: Upstream::Render,
                path_prefix: "/v1/owners".into(),
                kind,
                status,
                delay_ms,
                retry_after_s: None,
                count: 1,
            })
            .await
            .unwrap();
        let during = status_of(&alice).await;
        assert_eq!(
            during["render"]["check"], "unavailable",
            "{kind:?}: {during}"
        );
        assert_eq!(during["render"]["verified"], true, "{kind:?}: {during}");
        assert_eq!(
            during["render"]["verified_at"], before["render"]["verified_at"],
            "{kind:?}: the last verification is kept"
        );
        app.control.clear_faults().await.unwrap();
    }
    // The dashboard says so too.
    let page = alice.get("/dashboard").await.text().await.unwrap();
    assert!(!page.contains("key-unchecked"), "{page}");
    app.control
        .add_fault(&Fault {
            upstream: Upstream::Render,
            path_prefix: "/v1/owners".into(),
            kind: FaultKind::Status,
            status: Some(503),
            delay_ms: None,
            retry_after_s: None,
            count: 1,
        })
        .await
        .unwrap();
    let page = alice.get("/dashboard").await.text().await.unwrap();
    assert!(
        page.contains("Render could not be reached just now"),
        "{page}"
    );
    app.control
        .revoke_render_key(&alice.render.api_key)
        .await
        .unwrap();
    let after = status_of(&alice).await;
    assert_eq!(after["render"]["check"], "rejected", "{after}");
    assert_eq!(after["render"]["verified"], false, "{after}");
    alice.post("/api/render/clear-credentials", json!({})).await;
    let cleared = status_of(&alice).await;
    assert!(cleared["render"].get("check").is_none(), "{cleared}");
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
    let request_id = limited.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, code) = error_code(limited).await;
    assert_eq!(code, "rate_limited");

    let events = crate::sessions::exported_everyone(&app).await;
    let limited = crate::sessions::events_named(&events, "rate_limited");
    assert_eq!(limited.len(), 1, "{events:#?}");
    let event = limited[0];
    assert_eq!(
        (event["status"].as_str(), event["reason"].as_str()),
        (Some("denied"), Some("login"))
    );
    assert_eq!(event["user_id"], Value::Null);
    assert_eq!(event["route"], "/api/auth/github/login");
    assert_eq!(event["client_ip"], "127.0.0.1");
    assert_eq!(event["request_id"], request_id.as_str());
}

/// A GET with extra headers from a jar-less client.
async fn get_with(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = bare(USER_AGENT).get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn hsts_and_the_https_redirect_follow_https_only_and_trust_proxy() {
    let forwarded_http = [("x-forwarded-proto", "http")];

    // Development defaults: no HSTS, and a forwarded scheme changes nothing.
    let plain = spawn_app_with(&["--trust-proxy=true"]).await;
    let response = get_with(&format!("{}/healthz", plain.url), &forwarded_http).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key("strict-transport-security"));

    // HTTPS_ONLY without TRUST_PROXY: HSTS, but X-Forwarded-Proto is anyone's to send.
    let https = ["--public-url=https://127.0.0.1:0", "--https-only=true"];
    let untrusted = spawn_app_with(&https).await;
    let url = untrusted.url.replacen("https://", "http://", 1);
    for headers in [&[][..], &forwarded_http[..]] {
        let response = get_with(&format!("{url}/healthz"), headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{headers:?}");
        let hsts = response.headers()["strict-transport-security"]
            .to_str()
            .unwrap();
        assert!(hsts.starts_with("max-age="), "{hsts}");
        let max_age: u64 = hsts["max-age=".len()..]
            .split(';')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age >= 180 * 24 * 3600, "{hsts}");
    }

    // Behind a trusted proxy, a request that came in over http is sent to https.
    let trusted = spawn_app_with(&[https[0], https[1], "--trust-proxy=true"]).await;
    let url = trusted.url.replacen("https://", "http://", 1);
    let response = get_with(&format!("{url}/api/render/status?x=1"), &forwarded_http).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(
        location(&response),
        format!("{}/api/render/status?x=1", trusted.url)
    );
    let response = get_with(&format!("{url}/healthz"), &[("x-forwarded-proto", "https")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn cors_answers_only_the_allowed_origins() {
    let app = spawn_app_with(&["--cors-allowed-origins=https://app.example"]).await;
    let status_url = format!("{}/api/render/status", app.url);
    let preflight = |origin: &'static str| {
        bare(USER_AGENT)
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/render/setup", app.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
            .send()
    };

    let allowed = get_with(&status_url, &[("origin", "https://app.example")]).await;
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let response = preflight("https://app.example").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("x-csrf-token"), "{headers}");

    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "null",
    ] {
        let refused = get_with(&status_url, &[("origin", origin)]).await;
        assert!(
            !refused
                .headers()
                .contains_key("access-control-allow-origin"),
            "{origin}"
        );
        assert!(
            !refused
                .headers()
                .contains_key("access-control-allow-credentials"),
            "{origin}"
        );
        let response = preflight(origin).await.unwrap();
        assert!(
            !response
                .headers()
                .contains_key("access-control-allow-origin"),
            "{origin}"
        );
    }

    // With no list, no origin at all is answered.
    let same_origin_only = spawn_app().await;
    let response = get_with(
        &format!("{}/api/render/status", same_origin_only.url),
        &[("origin", "https://app.example")],
    )
    .await;
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
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

//! Deploying over the API against the emulator: create, redeploy, conflict,
//! failure with build logs, SSE, env var secrecy, validation, isolation.

use std::collections::HashMap;
use std::time::Duration;

use emulator::control::Upstream;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, captured_logs, error_code, spawn_app, spawn_app_with};
use crate::sessions::{events_named, exported};

async fn ready_user(app: &TestApp, login: &str) -> TestUser {
    let mut user = app.login(login).await;
    user.setup_own_key().await;
    user
}

fn services(view: &Value) -> &Vec<Value> {
    view["services"].as_array().expect("services array")
}

fn assert_live_with_urls(view: &Value, names: &[&str]) {
    assert_eq!(view["status"], "live", "{view}");
    let got: Vec<&str> = services(view)
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, names, "{view}");
    for service in services(view) {
        assert_eq!(service["deploy_status"], "live", "{view}");
        assert!(
            service["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{view}"
        );
    }
}

#[tokio::test]
async fn node_static_and_blueprint_deploys_go_live_and_redeploy_in_place() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;

    let node = alice
        .deploy(json!({ "github_repo": "alice/node-hello" }))
        .await;
    let site = alice
        .deploy(json!({ "github_repo": "alice/static-site", "project_name": "my-site" }))
        .await;
    let shop = alice
        .deploy(json!({ "github_repo": "alice/shop-monorepo" }))
        .await;
    let node_id = node["id"].as_str().unwrap();
    assert_live_with_urls(&alice.wait_terminal(node_id).await, &["node-hello"]);
    let site_view = alice.wait_terminal(site["id"].as_str().unwrap()).await;
    assert_live_with_urls(&site_view, &["my-site"]);
    assert_eq!(services(&site_view)[0]["service_type"], "static_site");
    assert_live_with_urls(
        &alice.wait_terminal(shop["id"].as_str().unwrap()).await,
        &["shop-api", "shop-web"],
    );
    assert_eq!(app.render_count(&alice.render).await, 4);

    // Same name, same repo: a new deploy of the same service.
    let again = alice
        .deploy(json!({ "github_repo": "alice/node-hello" }))
        .await;
    assert_ne!(again["id"], node["id"]);
    let first = &services(&node)[0];
    let second = &services(&again)[0];
    assert_eq!(second["service_id"], first["service_id"]);
    assert_eq!(second["created"], false);
    assert!(second["deploy_id"].is_string());
    assert_ne!(second["deploy_id"], first["deploy_id"]);
    assert_live_with_urls(
        &alice.wait_terminal(again["id"].as_str().unwrap()).await,
        &["node-hello"],
    );
    assert_eq!(app.render_count(&alice.render).await, 4);

    // Same name, another repo: refused before anything is created.
    let clash = alice
        .post(
            "/api/render/deploy",
            json!({ "github_repo": "alice/flask-notes", "project_name": "node-hello" }),
        )
        .await;
    let (status, code) = error_code(clash).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    assert_eq!(app.render_count(&alice.render).await, 4);

    let history = alice.history().await;
    assert_eq!(history["deployments"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_failing_build_ends_failed_with_its_build_log() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    app.control
        .set_behavior(20, &["alice/node-hello"])
        .await
        .unwrap();

    let started = alice
        .deploy(json!({ "github_repo": "alice/node-hello" }))
        .await;
    let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(
        services(&view)[0]["deploy_status"],
        "build_failed",
        "{view}"
    );
    let logs = view["build_logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{view}");
    assert_eq!(logs[0]["service_id"], services(&view)[0]["service_id"]);
    assert!(!logs[0]["lines"].as_array().unwrap().is_empty(), "{view}");
}

/// A Render resource read straight from the emulator with the user's own key.
async fn render_get(app: &TestApp, user: &TestUser, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/v1{path}", app.emulator.base_url()))
        .bearer_auth(&user.render.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_deploy_lands_in_the_workspace_chosen_at_setup() {
    let app = spawn_app().await;
    let mut alice = app.login("alice").await;
    let personal = alice.render.owner_id.clone();
    let team = app
        .control
        .add_render_workspace(&personal, "Alice's team")
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
    app.seed_demo_repos("alice").await;

    let started = alice
        .deploy(json!({ "github_repo": "alice/static-site" }))
        .await;
    let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
    assert_live_with_urls(&view, &["static-site"]);
    let service_id = services(&view)[0]["service_id"].as_str().unwrap();
    let service = render_get(&app, &alice, &format!("/services/{service_id}")).await;
    assert_eq!(service["ownerId"], team.as_str(), "{service}");
    let in_team = render_get(&app, &alice, &format!("/services?ownerId={team}")).await;
    assert_eq!(in_team.as_array().unwrap().len(), 1);
    let personal_services =
        render_get(&app, &alice, &format!("/services?ownerId={personal}")).await;
    assert_eq!(
        personal_services,
        json!([]),
        "nothing in the other workspace"
    );

    // The redeploy finds the service in the same workspace instead of
    // creating another one.
    let again = alice
        .deploy(json!({ "github_repo": "alice/static-site" }))
        .await;
    assert_eq!(services(&again)[0]["service_id"], service_id);
    assert_eq!(services(&again)[0]["created"], false);
}

/// The `event:` names of a text/event-stream body, in order, with their data.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).ok()?))
        })
        .collect()
}

/// Reads an SSE body to its end (bounded), then parses it.
async fn read_events(response: reqwest::Response) -> (String, Vec<(String, Value)>) {
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = String::new();
    let mut chunks = response.bytes_stream();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = chunks.next().await {
            body.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not end: {body}");
    let events = sse_events(&body);
    (body, events)
}

#[tokio::test]
async fn events_of_a_finished_deployment_are_its_snapshot_alone() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    let started = alice
        .deploy(json!({ "github_repo": "alice/node-hello" }))
        .await;
    let id = started["id"].as_str().unwrap();
    alice.wait_terminal(id).await;

    let response = alice
        .get(&format!("/api/render/deployments/{id}/events"))
        .await;
    let (body, events) = read_events(response).await;
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0].0, "snapshot");
    assert_eq!(events[0].1["status"], "live");
}

#[tokio::test]
async fn events_stream_a_snapshot_then_status_changes_until_done() {
    let app = spawn_app().await;
    // Slow phases, so the stream is open while the deploy moves.
    app.control.set_behavior(150, &[]).await.unwrap();
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    let started = alice
        .deploy(json!({ "github_repo": "alice/node-hello" }))
        .await;
    let id = started["id"].as_str().unwrap();

    let response = alice
        .get(&format!("/api/render/deployments/{id}/events"))
        .await;
    let (body, events) = read_events(response).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"snapshot"), "{body}");
    assert_eq!(names.last(), Some(&"done"), "{body}");
    assert!(names.contains(&"status"), "{body}");
    assert_eq!(events[0].1["id"], id);
    let (_, done) = events.last().unwrap();
    assert_eq!(done["status"], "live");
    assert_eq!(done["terminal"], true);
    assert!(
        events
            .iter()
            .any(|(n, e)| n == "status" && e["deploy_status"] == "live"),
        "{body}"
    );
}

#[tokio::test]
async fn env_var_values_reach_render_and_nothing_else() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    let canary = format!("canary-{}", uuid::Uuid::new_v4());
    let body = json!({
        "github_repo": "alice/node-hello",
        "env_vars": [{ "key": "CANARY_VALUE", "value": canary }],
    });

    let mut seen = Vec::new();
    let response = alice.post("/api/render/deploy", body.clone()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let first: Value = serde_json::from_str(&{
        let text = response.text().await.unwrap();
        seen.push(text.clone());
        text
    })
    .unwrap();
    let view = alice.wait_terminal(first["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live");
    // A redeploy sets the variables on the existing service.
    let second = alice.post("/api/render/deploy", body).await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let second: Value = serde_json::from_str(&{
        let text = second.text().await.unwrap();
        seen.push(text.clone());
        text
    })
    .unwrap();
    alice.wait_terminal(second["id"].as_str().unwrap()).await;

    let service_id = services(&view)[0]["service_id"].as_str().unwrap();
    let vars = render_env_vars(&app, &alice, service_id).await;
    assert!(
        vars.contains(&("CANARY_VALUE".to_owned(), canary.clone())),
        "the value is not on Render"
    );

    for path in [
        format!("/api/render/deployments/{}", first["id"].as_str().unwrap()),
        format!("/api/render/deployments/{}", second["id"].as_str().unwrap()),
        "/api/render/my-deployments".to_owned(),
        "/api/render/services".to_owned(),
        "/api/audit/me".to_owned(),
        "/api/render/status".to_owned(),
    ] {
        seen.push(alice.get(&path).await.text().await.unwrap());
    }
    app.state.audit.flush().await;
    seen.extend(deployer::db::all_rows_text(&app.state.db).await.unwrap());
    let mut export = Vec::new();
    deployer::db::audit::export(&app.state.db, None, None, &mut export)
        .await
        .unwrap();
    assert!(!export.is_empty());
    seen.push(String::from_utf8(export).unwrap());
    seen.push(captured_logs());
    for text in &seen {
        assert!(!text.contains(&canary), "the env var value leaked: {text}");
    }
}

/// A service's env vars as Render holds them, read with the owner's key.
async fn render_env_vars(
    app: &TestApp,
    user: &TestUser,
    service_id: &str,
) -> Vec<(String, String)> {
    let page = render_get(app, user, &format!("/services/{service_id}/env-vars")).await;
    page.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let var = &v["envVar"];
            (
                var["key"].as_str().unwrap().to_owned(),
                var["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_redeploy_keeps_generated_values_and_earlier_variables() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    let first = alice
        .deploy(json!({
            "github_repo": "alice/shop-monorepo",
            "env_vars": [{ "key": "FIRST", "value": "one" }],
        }))
        .await;
    let view = alice.wait_terminal(first["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live");
    let api_id = services(&view)[0]["service_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = render_env_vars(&app, &alice, &api_id).await;
    let secret = |vars: &[(String, String)]| {
        vars.iter()
            .find(|(k, _)| k == "SECRET_TOKEN")
            .map(|(_, v)| v.clone())
            .expect("SECRET_TOKEN is set")
    };

    let again = alice
        .deploy(json!({
            "github_repo": "alice/shop-monorepo",
            "env_vars": [{ "key": "SECOND", "value": "two" }],
        }))
        .await;
    alice.wait_terminal(again["id"].as_str().unwrap()).await;
    let after = render_env_vars(&app, &alice, &api_id).await;
    assert_eq!(
        secret(&after),
        secret(&before),
        "a redeploy must not rotate a generated secret"
    );
    for key in ["FIRST", "SECOND"] {
        assert!(
            after.iter().any(|(k, _)| k == key),
            "{key} missing: {after:?}"
        );
    }
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_upstream_call() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    let before = app.control.requests().await.unwrap().len();

    let cases = [
        (json!({ "github_repo": "alice" }), "github_repo"),
        (json!({ "github_repo": "alice/node hello" }), "github_repo"),
        (json!({ "github_repo": "-alice/node-hello" }), "github_repo"),
        (
            json!({ "github_repo": "alice/node-hello", "project_name": "Bad_Name!" }),
            "project_name",
        ),
        (
            json!({ "github_repo": "alice/node-hello", "env_vars": [{ "key": "1BAD", "value": "x" }] }),
            "env_vars[0].key",
        ),
        (
            json!({ "github_repo": "alice/node-hello", "env_vars": [{ "key": "A-B", "value": "x" }] }),
            "env_vars[0].key",
        ),
        (
            json!({ "github_repo": "alice/node-hello", "region": "mars" }),
            "region",
        ),
        (
            json!({ "github_repo": "alice/node-hello", "plan": "gigantic" }),
            "plan",
        ),
    ];
    for (body, field) in cases {
        let response = alice.post("/api/render/deploy", body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_request", "{body}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body} → {message}"
        );
    }
    let plan = alice
        .post("/api/render/plan", json!({ "github_repo": "not a slug" }))
        .await;
    assert_eq!(error_code(plan).await.1, "invalid_request");

    let after = app.control.requests().await.unwrap();
    assert_eq!(
        after.len(),
        before,
        "upstream calls for invalid input: {:?}",
        &after[before..]
    );
    assert_eq!(app.render_count(&alice.render).await, 0);
}

#[tokio::test]
async fn another_users_private_repo_looks_missing() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    let _bob = app.login("bob").await;
    app.control
        .create_repo(&emulator::control::RepoSpec {
            owner: "bob".into(),
            name: "secret".into(),
            private: true,
            default_branch: "main".into(),
            files: [("index.html".to_owned(), "<h1>hi</h1>".to_owned())].into(),
            collaborators: Vec::new(),
            other_branches: Vec::new(),
        })
        .await
        .unwrap();

    for path in ["/api/render/deploy", "/api/render/plan"] {
        let mut answers = Vec::new();
        for repo in ["bob/secret", "bob/missing"] {
            let response = alice.post(path, json!({ "github_repo": repo })).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, StatusCode::NOT_FOUND, "{path} {repo}: {body}");
            assert_eq!(body["error"]["code"], "repo_not_found");
            answers.push(body);
        }
        assert_eq!(answers[0], answers[1], "{path}: private and missing differ");
    }
    assert_eq!(app.render_count(&alice.render).await, 0);
}

#[tokio::test]
async fn two_users_never_see_each_others_deployments() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    let bob = ready_user(&app, "bob").await;
    app.seed_demo_repos("alice").await;
    app.seed_demo_repos("bob").await;

    let (a, b) = tokio::join!(
        alice.deploy(json!({ "github_repo": "alice/node-hello" })),
        bob.deploy(json!({ "github_repo": "bob/node-hello" })),
    );
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (a_view, b_view) = tokio::join!(alice.wait_terminal(a_id), bob.wait_terminal(b_id));
    assert_eq!(a_view["status"], "live");
    assert_eq!(b_view["status"], "live");
    assert_ne!(
        services(&a_view)[0]["service_id"],
        services(&b_view)[0]["service_id"]
    );

    for (user, other) in [(&alice, b_id), (&bob, a_id)] {
        for path in [
            format!("/api/render/deployments/{other}"),
            format!("/api/render/deployments/{other}/events"),
        ] {
            let (status, code) = error_code(user.get(&path).await).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::NOT_FOUND, "not_found")
            );
        }
    }
    for (user, own) in [(&alice, a_id), (&bob, b_id)] {
        let history = user.history().await;
        let ids: Vec<&str> = history["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [own]);
        let listed: Value = user.get("/api/render/services").await.json().await.unwrap();
        assert_eq!(listed["services"].as_array().unwrap().len(), 1, "{listed}");
    }
}

const CROWD: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_users_deploy_at_once_each_with_their_own_key() {
    // Every user logs in from 127.0.0.1: lift the per-IP limits.
    let app = spawn_app_with(&[
        "--rate-limit-login-ip=1000/1m",
        "--rate-limit-setup-ip=1000/1m",
    ])
    .await;
    let app = &app;
    let run = async {
        let users = futures::future::join_all((0..CROWD).map(|i| async move {
            let login = format!("user{i}");
            let user = ready_user(app, &login).await;
            app.push_repo(&login, "app", &[("index.html", "<h1>hi</h1>\n")])
                .await;
            user
        }))
        .await;
        let views = futures::future::join_all(users.iter().map(|user| async move {
            let started = user
                .deploy(json!({ "github_repo": format!("{}/app", user.github.login) }))
                .await;
            user.wait_terminal(started["id"].as_str().unwrap()).await
        }))
        .await;
        (users, views)
    };
    let (users, views) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("100 deploys finish within a minute");

    let mut owner_of_service: HashMap<String, String> = HashMap::new();
    for (user, view) in users.iter().zip(&views) {
        assert_eq!(view["status"], "live", "{view}");
        let fingerprint = emulator::fingerprint(&user.render.api_key);
        for service in services(view) {
            owner_of_service.insert(
                service["service_id"].as_str().unwrap().to_owned(),
                fingerprint.clone(),
            );
        }
        assert_eq!(app.render_count(&user.render).await, 1);
    }
    assert_eq!(owner_of_service.len(), CROWD);

    let render_calls = app.upstream_requests(Upstream::Render).await;
    let mut creates: HashMap<String, usize> = HashMap::new();
    for call in &render_calls {
        let fingerprint = call
            .credential_fingerprint
            .clone()
            .unwrap_or_else(|| panic!("no key on {} {}", call.method, call.path));
        if call.method == "POST" && call.path == "/v1/services" {
            *creates.entry(fingerprint.clone()).or_default() += 1;
        }
        let service = call
            .path
            .strip_prefix("/v1/services/")
            .and_then(|rest| rest.split('/').next());
        if let Some(service) = service {
            assert_eq!(
                owner_of_service.get(service),
                Some(&fingerprint),
                "{} {} carried another user's key",
                call.method,
                call.path
            );
        }
    }
    for user in &users {
        assert_eq!(
            creates.get(&emulator::fingerprint(&user.render.api_key)),
            Some(&1),
            "one create per user"
        );
    }
}

/// A deploy of `alice/node-hello` that is still building (slow emulator
/// phases) and already polled by its tracker.
async fn deploy_still_building(app: &TestApp, user: &TestUser) -> (String, String) {
    let started = user
        .deploy(json!({ "github_repo": format!("{}/node-hello", user.github.login) }))
        .await;
    let id = started["id"].as_str().unwrap().to_owned();
    let service_id = services(&started)[0]["service_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_poll(&user.render.api_key, &service_id).await;
    (id, service_id)
}

fn assert_untracked(view: &Value, says: &str) {
    assert_eq!(view["status"], "untracked", "{view}");
    let note = view["note"].as_str().unwrap_or_default();
    assert!(note.contains(says), "note {note:?} should say {says:?}");
    for service in services(view) {
        assert_ne!(service["deploy_status"], "live", "{view}");
    }
}

#[tokio::test]
async fn signing_out_stops_tracking_and_no_later_render_call_carries_the_key() {
    let app = spawn_app().await;
    // Each deploy phase takes 5 s: the deploy is still building at sign-out.
    app.control.set_behavior(5_000, &[]).await.unwrap();
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    // The same person in another browser: a session of its own, which
    // watches the deployment and reads its outcome.
    let watcher = alice.another_browser().await;
    let (id, _) = deploy_still_building(&app, &alice).await;
    let stream = watcher
        .get(&format!("/api/render/deployments/{id}/events"))
        .await;

    let response = alice.post("/api/auth/logout", json!({})).await;
    assert!(response.status().is_success(), "{}", response.status());
    let after_logout = app.control.requests().await.unwrap().len();

    // SSE listeners get a final event saying why.
    let (body, events) = read_events(stream).await;
    let (name, done) = events.last().expect("events");
    assert_eq!(name, "done", "{body}");
    assert_eq!(done["status"], "untracked", "{body}");
    assert_eq!(done["terminal"], true);
    assert!(
        done["note"].as_str().unwrap().contains("you signed out"),
        "{body}"
    );
    let view = watcher.wait_terminal(&id).await;
    assert_untracked(&view, "you signed out");
    let history = watcher.history().await;
    assert_eq!(history["deployments"][0]["status"], "untracked");
    // The audit trail closes the deployment too, saying why.
    let events = exported(&app, alice.github.id).await;
    let untracked = events_named(&events, "deployment_untracked");
    assert_eq!(untracked.len(), 1, "{events:#?}");
    assert_eq!(untracked[0]["reason"], "signed_out");
    assert_eq!(untracked[0]["deployment_id"], id.as_str());
    assert!(events_named(&events, "deployment_failed").is_empty());

    // The tracker is gone, and with it the key: no Render call carried it
    // after the logout answered.
    assert_eq!(app.state.deployments.tracking(), 0);
    let later = app
        .render_calls_with_key_after(&alice.render.api_key, after_logout)
        .await;
    assert!(
        later.is_empty(),
        "calls with the key after logout: {later:?}"
    );
}

#[tokio::test]
async fn clearing_the_key_a_new_key_or_signing_out_everywhere_stop_tracking_too() {
    let app = spawn_app().await;
    app.control.set_behavior(5_000, &[]).await.unwrap();

    // Clear credentials: the session lives on, the key does not.
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    let (id, _) = deploy_still_building(&app, &alice).await;
    let response = alice.post("/api/render/clear-credentials", json!({})).await;
    assert!(response.status().is_success(), "{}", response.status());
    let cut = app.control.requests().await.unwrap().len();
    assert_untracked(
        &alice.wait_terminal(&id).await,
        "you removed your Render key",
    );
    assert!(
        app.render_calls_with_key_after(&alice.render.api_key, cut)
            .await
            .is_empty()
    );

    // Setting up a key again rotates the session: the old one is gone.
    let mut bob = ready_user(&app, "bob").await;
    app.seed_demo_repos("bob").await;
    let (id, _) = deploy_still_building(&app, &bob).await;
    bob.setup_own_key().await;
    let cut = app.control.requests().await.unwrap().len();
    assert_untracked(
        &bob.wait_terminal(&id).await,
        "you set up a Render key again",
    );
    // Render calls after the setup: only the new session's own (none here).
    assert!(
        app.render_calls_with_key_after(&bob.render.api_key, cut)
            .await
            .is_empty()
    );

    // Signing out everywhere stops every tracker of the user.
    let mut carol = ready_user(&app, "carol").await;
    app.seed_demo_repos("carol").await;
    let (first, _) = deploy_still_building(&app, &carol).await;
    let other = carol.another_browser().await;
    let mut other = other;
    other.setup_own_key().await;
    app.push_repo("carol", "site", &[("index.html", "<h1>hi</h1>\n")])
        .await;
    let second = other.deploy(json!({ "github_repo": "carol/site" })).await;
    let response = carol.post("/api/auth/logout-everywhere", json!({})).await;
    assert!(response.status().is_success(), "{}", response.status());
    let cut = app.control.requests().await.unwrap().len();
    carol.oauth_login(None).await;
    assert_untracked(&carol.wait_terminal(&first).await, "signed out everywhere");
    assert_untracked(
        &carol.wait_terminal(second["id"].as_str().unwrap()).await,
        "signed out everywhere",
    );
    assert!(
        app.render_calls_with_key_after(&carol.render.api_key, cut)
            .await
            .is_empty()
    );
    assert_eq!(app.state.deployments.tracking(), 0);
}

#[tokio::test]
async fn a_redeploy_applies_the_edited_plan_and_branch_to_the_existing_service() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.control
        .create_repo(&emulator::control::RepoSpec {
            owner: "alice".into(),
            name: "api".into(),
            private: false,
            default_branch: "main".into(),
            files: [
                (
                    "package.json".to_owned(),
                    r#"{"name":"api","main":"server.js","scripts":{"start":"node server.js"}}"#
                        .to_owned(),
                ),
                ("package-lock.json".to_owned(), "{}".to_owned()),
                (
                    "server.js".to_owned(),
                    "require('http').createServer((_, r) => r.end('ok')).listen(process.env.PORT);\n"
                        .to_owned(),
                ),
            ]
            .into(),
            collaborators: Vec::new(),
            other_branches: vec!["release".into()],
        })
        .await
        .unwrap();
    let first = alice.deploy(json!({ "github_repo": "alice/api" })).await;
    let view = alice.wait_terminal(first["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
    let service_id = services(&view)[0]["service_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = render_get(&app, &alice, &format!("/services/{service_id}")).await;
    assert_eq!(before["branch"], "main");
    assert_eq!(before["serviceDetails"]["plan"], "starter");

    let again = alice
        .deploy(json!({
            "github_repo": "alice/api",
            "branch": "release",
            "plan": "standard",
            "overrides": [{
                "service": "api",
                "build_command": "npm ci --omit=dev",
                "start_command": "node --enable-source-maps server.js",
            }],
        }))
        .await;
    assert_eq!(services(&again)[0]["service_id"], service_id.as_str());
    let view = alice.wait_terminal(again["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
    let after = render_get(&app, &alice, &format!("/services/{service_id}")).await;
    assert_eq!(after["branch"], "release", "{after}");
    assert_eq!(
        after["serviceDetails"]["envSpecificDetails"]["startCommand"],
        "node --enable-source-maps server.js",
        "{after}"
    );
    assert_eq!(
        after["serviceDetails"]["envSpecificDetails"]["buildCommand"],
        "npm ci --omit=dev"
    );
    assert_eq!(after["serviceDetails"]["plan"], "standard");
    assert_eq!(app.render_count(&alice.render).await, 1);

    // Render cannot move a service to another region: refused, nothing changed.
    let patches = |log: &[emulator::control::LoggedRequest]| {
        log.iter().filter(|r| r.method == "PATCH").count()
    };
    let before_patches = patches(&app.control.requests().await.unwrap());
    let response = alice
        .post(
            "/api/render/deploy",
            json!({ "github_repo": "alice/api", "region": "frankfurt" }),
        )
        .await;
    let status = response.status();
    let error: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["error"]["code"], "conflict");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("oregon") && message.contains("frankfurt"),
        "{message}"
    );
    assert_eq!(
        patches(&app.control.requests().await.unwrap()),
        before_patches
    );
    assert_eq!(
        render_get(&app, &alice, &format!("/services/{service_id}")).await["serviceDetails"]["region"],
        "oregon"
    );
}

#[tokio::test]
async fn from_service_host_is_the_services_slug() {
    let app = spawn_app().await;
    // Bob's shop-api takes the slug `shop-api`: Alice's gets a suffix.
    let bob = ready_user(&app, "bob").await;
    app.seed_demo_repos("bob").await;
    let bobs = bob
        .deploy(json!({ "github_repo": "bob/shop-monorepo" }))
        .await;
    bob.wait_terminal(bobs["id"].as_str().unwrap()).await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;

    let started = alice
        .deploy(json!({ "github_repo": "alice/shop-monorepo" }))
        .await;
    let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
    let api_id = services(&view)[0]["service_id"].as_str().unwrap();
    let web_id = services(&view)[1]["service_id"].as_str().unwrap();
    let slug = render_get(&app, &alice, &format!("/services/{api_id}")).await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(slug, "shop-api", "the emulator gives a taken slug a suffix");
    let vars = render_env_vars(&app, &alice, web_id).await;
    assert!(
        vars.contains(&("API_HOST".to_owned(), slug.clone())),
        "API_HOST should be {slug}: {vars:?}"
    );
}

const SYNC_FALSE_YAML: &str = "services:
  - type: web
    name: billing
    runtime: node
    buildCommand: npm ci
    startCommand: node server.js
    envVars:
      - key: STRIPE_SECRET
        sync: false
";

#[tokio::test]
async fn a_missing_sync_false_value_is_refused_naming_it_and_nothing_is_created() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.push_repo(
        "alice",
        "billing",
        &[
            ("render.yaml", SYNC_FALSE_YAML),
            ("package.json", r#"{"name":"billing"}"#),
            (
                "server.js",
                "require('http').createServer().listen(process.env.PORT);\n",
            ),
        ],
    )
    .await;
    let response = alice
        .post(
            "/api/render/deploy",
            json!({ "github_repo": "alice/billing" }),
        )
        .await;
    let status = response.status();
    let error: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["code"], "invalid_request");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("env_vars:") && message.contains("STRIPE_SECRET"),
        "{message}"
    );
    assert_eq!(app.render_count(&alice.render).await, 0);

    // With the value, it deploys.
    let started = alice
        .deploy(json!({
            "github_repo": "alice/billing",
            "env_vars": [{ "key": "STRIPE_SECRET", "value": "sk_test_123" }],
        }))
        .await;
    let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
}

#[tokio::test]
async fn deploy_reverifies_the_key_and_creates_nothing_once_render_revoked_it() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.seed_demo_repos("alice").await;
    app.control
        .revoke_render_key(&alice.render.api_key)
        .await
        .unwrap();

    let response = alice
        .post(
            "/api/render/deploy",
            json!({ "github_repo": "alice/node-hello" }),
        )
        .await;
    let (status, code) = error_code(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "render_key_invalid")
    );
    // The session now knows the key is not verified.
    let response = alice
        .post(
            "/api/render/deploy",
            json!({ "github_repo": "alice/node-hello" }),
        )
        .await;
    let (status, code) = error_code(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "render_key_unverified")
    );
    let render = app.upstream_requests(Upstream::Render).await;
    assert!(
        render
            .iter()
            .all(|r| !(r.method == "POST" && r.path.starts_with("/v1/services"))),
        "nothing is created or triggered: {render:?}"
    );
    let history = alice.history().await;
    assert_eq!(history["deployments"], json!([]));
}

/// Not in `plan::fixtures` (a table of detected stacks): a render.yaml is
/// planned as written.
const WORKER_CRON_YAML: &str = r#"services:
  - type: worker
    name: queue-worker
    runtime: python
    buildCommand: pip install -r requirements.txt
    startCommand: celery -A tasks worker
  - type: cron
    name: nightly-report
    runtime: python
    schedule: "0 3 * * *"
    buildCommand: pip install -r requirements.txt
    startCommand: python report.py
"#;

#[tokio::test]
async fn a_blueprint_with_a_worker_and_a_cron_job_deploys_both() {
    let app = spawn_app().await;
    let alice = ready_user(&app, "alice").await;
    app.push_repo(
        "alice",
        "jobs",
        &[
            ("render.yaml", WORKER_CRON_YAML),
            ("requirements.txt", "celery\n"),
            (
                "tasks.py",
                "from celery import Celery\napp = Celery('tasks')\n",
            ),
            ("report.py", "print('report')\n"),
        ],
    )
    .await;
    let started = alice.deploy(json!({ "github_repo": "alice/jobs" })).await;
    let view = alice.wait_terminal(started["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "live", "{view}");
    let kinds: Vec<(&str, &str)> = services(&view)
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["service_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("queue-worker", "background_worker"),
            ("nightly-report", "cron_job")
        ]
    );
    for service in services(&view) {
        assert_eq!(service["deploy_status"], "live", "{view}");
        let on_render = render_get(
            &app,
            &alice,
            &format!("/services/{}", service["service_id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(on_render["type"], service["service_type"]);
    }
    let cron = render_get(
        &app,
        &alice,
        &format!(
            "/services/{}",
            services(&view)[1]["service_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(cron["serviceDetails"]["schedule"], "0 3 * * *");
    assert_eq!(app.render_count(&alice.render).await, 2);
}

//! Render REST v1: owners, services, deploys, env vars, logs, and key isolation.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{spawn_emulator, web_service};

#[tokio::test]
async fn keys_see_only_their_own_owner_and_revoked_keys_are_unauthorized() {
    let t = spawn_emulator().await;
    let ada = t.account("ada").await;
    let bob = t.account("bob").await;
    assert!(ada.api_key.starts_with("rnd_") && ada.api_key.len() == 36);
    assert!(ada.owner_id.starts_with("usr-") && ada.owner_id.len() == 24);

    let owners = t
        .render_json(Method::GET, &ada.api_key, "/owners", None, StatusCode::OK)
        .await;
    assert_eq!(owners.as_array().expect("array").len(), 1);
    assert_eq!(owners[0]["owner"]["id"], ada.owner_id.as_str());
    assert_eq!(owners[0]["owner"]["email"], "ada@example.com");
    assert_eq!(owners[0]["owner"]["type"], "user");
    assert!(owners[0]["cursor"].is_string());
    let other = t
        .render_get(&ada.api_key, &format!("/owners/{}", bob.owner_id))
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let user = t
        .render_json(Method::GET, &ada.api_key, "/users", None, StatusCode::OK)
        .await;
    assert_eq!(user["name"], "ada");

    let created = t
        .create_web_service(&bob, "bobs", "https://github.com/b/r")
        .await;
    let bobs_id = created["service"]["id"].as_str().expect("id");
    for path in [
        format!("/services/{bobs_id}"),
        format!("/services/{bobs_id}/deploys"),
        format!("/services/{bobs_id}/env-vars"),
    ] {
        let response = t.render_get(&ada.api_key, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.expect("json");
        assert!(body["message"].is_string());
    }
    let list = t
        .render_json(Method::GET, &ada.api_key, "/services", None, StatusCode::OK)
        .await;
    assert_eq!(list, json!([]));

    let second_key = t.control.add_render_key(&ada.owner_id).await.expect("key");
    assert_eq!(
        t.render_get(&second_key, "/owners").await.status(),
        StatusCode::OK
    );
    t.control
        .revoke_render_key(&ada.api_key)
        .await
        .expect("revoke");
    let revoked = t.render_get(&ada.api_key, "/owners").await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    let body: Value = revoked.json().await.expect("json");
    assert_eq!(body["message"], "unauthorized");
    assert_eq!(
        t.render_get("rnd_neverissued", "/services").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let anonymous = t
        .http
        .get(t.url("/v1/services"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.render_get(&second_key, "/owners").await.status(),
        StatusCode::OK
    );
}

/// Every call that changes a service answers another owner's key with 404,
/// as if the service did not exist, and changes nothing.
#[tokio::test]
async fn another_owners_service_cannot_be_changed() {
    let t = spawn_emulator().await;
    let ada = t.account("ada").await;
    let bob = t.account("bob").await;
    let created = t
        .create_web_service(&bob, "bobs", "https://github.com/b/r")
        .await;
    let id = created["service"]["id"].as_str().expect("id");
    let before = t
        .render_json(
            Method::GET,
            &bob.api_key,
            &format!("/services/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    let vars = json!([{ "key": "PWNED", "value": "1" }]);
    let var = json!({ "value": "1" });
    let calls: [(Method, String, Option<&Value>); 7] = [
        (Method::DELETE, format!("/services/{id}"), None),
        (Method::POST, format!("/services/{id}/suspend"), None),
        (Method::POST, format!("/services/{id}/resume"), None),
        (
            Method::POST,
            format!("/services/{id}/deploys"),
            Some(&json!({})),
        ),
        (Method::PUT, format!("/services/{id}/env-vars"), Some(&vars)),
        (
            Method::PUT,
            format!("/services/{id}/env-vars/PWNED"),
            Some(&var),
        ),
        (
            Method::DELETE,
            format!("/services/{id}/env-vars/PORT"),
            None,
        ),
    ];
    for (method, path, body) in calls {
        let response = t.render(method.clone(), &ada.api_key, &path, body).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let after = t
        .render_json(
            Method::GET,
            &bob.api_key,
            &format!("/services/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(before, after, "the service is unchanged");
    let env = t
        .render_json(
            Method::GET,
            &bob.api_key,
            &format!("/services/{id}/env-vars"),
            None,
            StatusCode::OK,
        )
        .await;
    assert!(!env.to_string().contains("PWNED"), "{env}");
    let deploys = t
        .render_json(
            Method::GET,
            &bob.api_key,
            &format!("/services/{id}/deploys"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        deploys.as_array().expect("array").len(),
        1,
        "only the first deploy"
    );
}

#[tokio::test]
async fn a_key_reaches_its_accounts_team_workspaces_and_no_others() {
    let t = spawn_emulator().await;
    let ada = t.account("ada").await;
    let bob = t.account("bob").await;
    let design = t
        .control
        .add_render_workspace(&ada.owner_id, "Design team")
        .await
        .expect("workspace");
    let ops = t
        .control
        .add_render_workspace(&ada.owner_id, "Ops team")
        .await
        .expect("workspace");
    assert!(design.starts_with("tea-") && design.len() == 24);

    // The user first, then the teams in the order they were added.
    let owners = t
        .render_json(Method::GET, &ada.api_key, "/owners", None, StatusCode::OK)
        .await;
    let listed: Vec<(&str, &str, &str)> = owners
        .as_array()
        .expect("array")
        .iter()
        .map(|o| {
            let o = &o["owner"];
            (
                o["id"].as_str().unwrap_or_default(),
                o["type"].as_str().unwrap_or_default(),
                o["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (ada.owner_id.as_str(), "user", "ada"),
            (design.as_str(), "team", "Design team"),
            (ops.as_str(), "team", "Ops team"),
        ]
    );
    let page = t
        .render_json(
            Method::GET,
            &ada.api_key,
            "/owners?limit=1",
            None,
            StatusCode::OK,
        )
        .await;
    let cursor = page[0]["cursor"].as_str().expect("cursor");
    let rest = t
        .render_json(
            Method::GET,
            &ada.api_key,
            &format!("/owners?limit=5&cursor={}", urlencode(cursor)),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(rest.as_array().expect("array").len(), 2);
    let team = t
        .render_json(
            Method::GET,
            &ada.api_key,
            &format!("/owners/{ops}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(team["type"], "team");

    // A service created in a team is the team's, and every key of the account sees it.
    let body = web_service(&ops, "ops-api", "https://github.com/a/ops");
    let created = t
        .render_json(
            Method::POST,
            &ada.api_key,
            "/services",
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["service"]["ownerId"], ops.as_str());
    let id = created["service"]["id"].as_str().expect("id").to_owned();
    let second_key = t.control.add_render_key(&ada.owner_id).await.expect("key");
    let mine = t
        .render_json(
            Method::GET,
            &second_key,
            &format!("/services?ownerId={ops}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(mine[0]["service"]["id"], id.as_str());
    let in_user = t
        .render_json(
            Method::GET,
            &ada.api_key,
            &format!("/services?ownerId={}", ada.owner_id),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(in_user, json!([]), "the team's service is not the user's");
    // The same name may exist once per workspace.
    let again = web_service(&design, "ops-api", "https://github.com/a/ops");
    t.render_json(
        Method::POST,
        &ada.api_key,
        "/services",
        Some(&again),
        StatusCode::CREATED,
    )
    .await;
    let duplicate = t
        .render(Method::POST, &ada.api_key, "/services", Some(&body))
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);

    // Another account reaches none of it.
    let bobs_owners = t
        .render_json(Method::GET, &bob.api_key, "/owners", None, StatusCode::OK)
        .await;
    assert_eq!(bobs_owners.as_array().expect("array").len(), 1);
    assert_eq!(
        t.render_get(&bob.api_key, &format!("/owners/{ops}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.render_get(&bob.api_key, &format!("/services/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let intrusion = web_service(&ops, "sneaky", "https://github.com/b/r");
    let refused = t
        .render(Method::POST, &bob.api_key, "/services", Some(&intrusion))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Workspaces belong to accounts that exist, and not to teams.
    assert!(
        t.control
            .add_render_workspace("usr-nosuchaccount000000", "x")
            .await
            .is_err()
    );
    assert!(
        t.control
            .add_render_workspace(&ops, "nested")
            .await
            .is_err()
    );
    assert!(
        t.control
            .add_render_workspace(&ada.owner_id, " ")
            .await
            .is_err()
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn every_service_type_is_created_with_its_shape() {
    let t = spawn_emulator().await;
    let acct = t.account("types").await;
    let key = &acct.api_key;
    let created = t
        .create_web_service(&acct, "My Web", "https://github.com/o/r")
        .await;
    let service = &created["service"];
    let id = service["id"].as_str().expect("id");
    assert!(id.starts_with("srv-") && id.len() == 24);
    assert!(
        created["deployId"]
            .as_str()
            .expect("deployId")
            .starts_with("dep-")
    );
    assert_eq!(service["slug"], "my-web");
    assert_eq!(
        service["serviceDetails"]["url"],
        "https://my-web.onrender.com"
    );
    assert_eq!(
        service["dashboardUrl"],
        format!("https://dashboard.render.com/web/{id}")
    );
    assert_eq!(service["suspended"], "not_suspended");
    assert_eq!(service["serviceDetails"]["plan"], "starter");
    assert_eq!(service["serviceDetails"]["region"], "oregon");
    let created_at = service["createdAt"].as_str().expect("createdAt");
    assert_eq!(
        created_at.len(),
        "2025-01-13T16:41:48.081145Z".len(),
        "{created_at}"
    );
    assert!(created_at.ends_with('Z'));

    let cron = t
        .render_json(Method::POST, key, "/services", Some(&json!({"type": "cron_job", "name": "nightly", "ownerId": acct.owner_id,
            "repo": "https://github.com/o/r", "serviceDetails": {"runtime": "node", "schedule": "0 3 * * *",
            "envSpecificDetails": {"buildCommand": "npm ci", "startCommand": "node job.js"}}})), StatusCode::CREATED)
        .await;
    let cron_id = cron["service"]["id"].as_str().expect("id");
    assert!(cron_id.starts_with("crn-"));
    assert_eq!(
        cron["service"]["dashboardUrl"],
        format!("https://dashboard.render.com/cron/{cron_id}")
    );

    let site = t
        .render_json(Method::POST, key, "/services", Some(&json!({"type": "static_site", "name": "site", "ownerId": acct.owner_id,
            "repo": "https://github.com/o/r", "serviceDetails": {"buildCommand": "npm run build", "publishPath": "dist"}})), StatusCode::CREATED)
        .await;
    assert_eq!(site["service"]["serviceDetails"]["publishPath"], "dist");
    assert!(
        site["service"]["dashboardUrl"]
            .as_str()
            .expect("url")
            .contains("/static/")
    );

    for (kind, segment) in [
        ("private_service", "pserv"),
        ("background_worker", "worker"),
    ] {
        let body = json!({"type": kind, "name": kind, "ownerId": acct.owner_id, "repo": "https://github.com/o/r",
            "serviceDetails": {"runtime": "go", "envSpecificDetails": {"buildCommand": "go build", "startCommand": "./app"}}});
        let created = t
            .render_json(
                Method::POST,
                key,
                "/services",
                Some(&body),
                StatusCode::CREATED,
            )
            .await;
        assert!(
            created["service"]["dashboardUrl"]
                .as_str()
                .expect("url")
                .contains(&format!("/{segment}/"))
        );
    }

    // Validation and uniqueness.
    let duplicate = t
        .render(
            Method::POST,
            key,
            "/services",
            Some(&web_service(
                &acct.owner_id,
                "My Web",
                "https://github.com/o/r",
            )),
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    let no_runtime = json!({"type": "web_service", "name": "x", "ownerId": acct.owner_id, "repo": "https://github.com/o/r", "serviceDetails": {}});
    let bad = t
        .render(Method::POST, key, "/services", Some(&no_runtime))
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("runtime")
    );
    let no_name = json!({"type": "web_service", "ownerId": acct.owner_id});
    assert_eq!(
        t.render(Method::POST, key, "/services", Some(&no_name))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let bad_type = json!({"type": "database", "name": "x", "ownerId": acct.owner_id, "repo": "https://github.com/o/r"});
    assert_eq!(
        t.render(Method::POST, key, "/services", Some(&bad_type))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let other_owner = web_service("tea-someoneelse0000000000", "y", "https://github.com/o/r");
    assert_eq!(
        t.render(Method::POST, key, "/services", Some(&other_owner))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn pagination_returns_every_service_exactly_once_and_filters_apply() {
    let t = spawn_emulator().await;
    let acct = t.account("pages").await;
    let key = &acct.api_key;
    for i in 0..45 {
        t.create_web_service(&acct, &format!("svc-{i:02}"), "https://github.com/o/r")
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!(
                "/services?limit=10&cursor={}",
                url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            ),
            None => "/services?limit=10".to_owned(),
        };
        let page = t
            .render_json(Method::GET, key, &path, None, StatusCode::OK)
            .await;
        let items = page.as_array().expect("array");
        assert!(items.len() <= 10);
        if items.is_empty() {
            break;
        }
        seen.extend(
            items
                .iter()
                .map(|i| i["service"]["name"].as_str().expect("name").to_owned()),
        );
        cursor = Some(
            items.last().expect("last")["cursor"]
                .as_str()
                .expect("cursor")
                .to_owned(),
        );
    }
    assert_eq!(seen.len(), 45);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 45);

    let default_page = t
        .render_json(Method::GET, key, "/services", None, StatusCode::OK)
        .await;
    assert_eq!(default_page.as_array().expect("array").len(), 20);
    assert_eq!(
        t.render_get(key, "/services?limit=101").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        t.render_get(key, "/services?limit=0").await.status(),
        StatusCode::BAD_REQUEST
    );

    let named = t
        .render_json(
            Method::GET,
            key,
            "/services?name=svc-03,svc-07",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(named.as_array().expect("array").len(), 2);
    let typed = t
        .render_json(
            Method::GET,
            key,
            "/services?type=static_site&limit=100",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(typed, json!([]));
    let by_owner = t
        .render_json(
            Method::GET,
            key,
            &format!(
                "/services?ownerId={}&region=oregon&limit=100",
                acct.owner_id
            ),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(by_owner.as_array().expect("array").len(), 45);

    let first_id = named[0]["service"]["id"].as_str().expect("id").to_owned();
    let suspend = t
        .render(
            Method::POST,
            key,
            &format!("/services/{first_id}/suspend"),
            None,
        )
        .await;
    assert_eq!(suspend.status(), StatusCode::ACCEPTED);
    assert!(suspend.bytes().await.expect("body").is_empty());
    let suspended = t
        .render_json(
            Method::GET,
            key,
            "/services?suspended=suspended",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(suspended.as_array().expect("array").len(), 1);
    assert_eq!(suspended[0]["service"]["suspended"], "suspended");
    assert_eq!(suspended[0]["service"]["suspenders"], json!(["user"]));
    let resume = t
        .render(
            Method::POST,
            key,
            &format!("/services/{first_id}/resume"),
            None,
        )
        .await;
    assert_eq!(resume.status(), StatusCode::ACCEPTED);
    let service = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{first_id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(service["suspended"], "not_suspended");

    let deleted = t
        .render(Method::DELETE, key, &format!("/services/{first_id}"), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.expect("body").is_empty());
    assert_eq!(
        t.render_get(key, &format!("/services/{first_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_trigger_while_a_deploy_runs_is_queued_with_an_empty_202() {
    let t = spawn_emulator().await;
    // Slow enough that the first deploy is certainly still running when the trigger arrives.
    t.control.set_behavior(60_000, &[]).await.expect("behavior");
    let acct = t.account("queue").await;
    let key = &acct.api_key;
    let created = t
        .create_web_service(&acct, "slow", "https://github.com/o/app")
        .await;
    let id = created["service"]["id"].as_str().expect("id").to_owned();
    for _ in 0..2 {
        let queued = t
            .render(
                Method::POST,
                key,
                &format!("/services/{id}/deploys"),
                Some(&json!({})),
            )
            .await;
        assert_eq!(queued.status(), StatusCode::ACCEPTED);
        assert!(queued.bytes().await.expect("body").is_empty());
    }
    // At most one deploy waits; it is listed first, as `queued`.
    let list = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/deploys"),
            None,
            StatusCode::OK,
        )
        .await;
    let statuses: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["deploy"]["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, vec!["queued", "created"]);
    let queued = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/deploys?status=queued&limit=1"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(queued.as_array().expect("array").len(), 1);
    assert!(queued[0]["deploy"].get("startedAt").is_none());
}

#[tokio::test]
async fn deploys_go_live_and_a_newer_live_deploy_deactivates_the_previous_one() {
    let t = spawn_emulator().await;
    let acct = t.account("deploys").await;
    let key = &acct.api_key;
    let created = t
        .create_web_service(&acct, "app", "https://github.com/o/app")
        .await;
    let id = created["service"]["id"].as_str().expect("id").to_owned();
    let first = created["deployId"].as_str().expect("deployId").to_owned();

    let live = t.wait_for_deploy(key, &id, &first).await;
    assert_eq!(live["status"], "live");
    assert!(live["finishedAt"].is_string() && live["startedAt"].is_string());
    assert!(live["commit"]["id"].is_string());

    // Nothing is running now, so a trigger answers 201 with the deploy.
    let triggered = t
        .render_json(
            Method::POST,
            key,
            &format!("/services/{id}/deploys"),
            Some(&json!({"clearCache": "clear"})),
            StatusCode::CREATED,
        )
        .await;
    let second = triggered["id"].as_str().expect("id").to_owned();
    assert!(second.starts_with("dep-"));
    assert_eq!(triggered["status"], "created");
    assert!(triggered.get("finishedAt").is_none());

    let list = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/deploys"),
            None,
            StatusCode::OK,
        )
        .await;
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["deploy"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![second.as_str(), first.as_str()], "newest first");

    assert_eq!(t.wait_for_deploy(key, &id, &second).await["status"], "live");
    let first_now = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/deploys/{first}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(first_now["status"], "deactivated");
    let only_live = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/deploys?status=live"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(only_live.as_array().expect("array").len(), 1);
    assert_eq!(only_live[0]["deploy"]["id"], second.as_str());

    let bad = t
        .render(
            Method::POST,
            key,
            &format!("/services/{id}/deploys"),
            Some(&json!({"clearCache": "maybe"})),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let missing = t
        .render_get(
            key,
            &format!("/services/{id}/deploys/dep-00000000000000000000"),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn failing_repos_end_in_build_failed_with_error_lines_in_the_build_log() {
    let t = spawn_emulator().await;
    t.control
        .set_behavior(crate::helpers::PHASE_MS, &["o/Broken"])
        .await
        .expect("behavior");
    let acct = t.account("fails").await;
    let key = &acct.api_key;
    let good = t
        .create_web_service(&acct, "good", "https://github.com/o/fine")
        .await;
    let bad = t
        .create_web_service(&acct, "bad", "https://github.com/o/broken")
        .await;

    let bad_id = bad["service"]["id"].as_str().expect("id");
    let failed = t
        .wait_for_deploy(key, bad_id, bad["deployId"].as_str().expect("deploy"))
        .await;
    assert_eq!(failed["status"], "build_failed");
    assert!(failed["finishedAt"].is_string());
    let good_id = good["service"]["id"].as_str().expect("id");
    let ok = t
        .wait_for_deploy(key, good_id, good["deployId"].as_str().expect("deploy"))
        .await;
    assert_eq!(ok["status"], "live");

    let logs_of = |id: &str| {
        format!(
            "/logs?ownerId={}&resource={id}&type=build&direction=forward&limit=100",
            acct.owner_id
        )
    };
    let bad_logs = t
        .render_json(Method::GET, key, &logs_of(bad_id), None, StatusCode::OK)
        .await;
    let messages: Vec<&str> = bad_logs["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["message"].as_str().expect("message"))
        .collect();
    assert!(
        messages[0].starts_with("==> Cloning from https://github.com/o/broken"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("Build failed")),
        "{messages:?}"
    );
    assert!(bad_logs["logs"].as_array().expect("logs").iter().any(|l| {
        l["labels"]
            .as_array()
            .expect("labels")
            .contains(&json!({"name": "level", "value": "error"}))
    }));
    let good_logs = t
        .render_json(Method::GET, key, &logs_of(good_id), None, StatusCode::OK)
        .await;
    let messages: Vec<&str> = good_logs["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["message"].as_str().expect("message"))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Running build command 'npm ci'")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("Build successful")),
        "{messages:?}"
    );

    let paged = t
        .render_json(
            Method::GET,
            key,
            &format!("/logs?ownerId={}&resource={good_id}&limit=2", acct.owner_id),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(paged["hasMore"], true);
    assert_eq!(paged["logs"].as_array().expect("logs").len(), 2);
    let other = t.account("other").await;
    let foreign = t
        .render_get(
            &other.api_key,
            &format!("/logs?ownerId={}&resource={good_id}", acct.owner_id),
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        t.render_get(key, "/logs?resource=x").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn env_vars_put_replaces_the_whole_set() {
    let t = spawn_emulator().await;
    let acct = t.account("env").await;
    let key = &acct.api_key;
    let created = t
        .create_web_service(&acct, "app", "https://github.com/o/r")
        .await;
    let id = created["service"]["id"].as_str().expect("id");
    let base = format!("/services/{id}/env-vars");

    let initial = t
        .render_json(Method::GET, key, &base, None, StatusCode::OK)
        .await;
    assert_eq!(
        initial[0]["envVar"],
        json!({"key": "NODE_ENV", "value": "production"})
    );
    assert!(initial[0]["cursor"].is_string());

    let replaced = t
        .render_json(
            Method::PUT,
            key,
            &base,
            Some(&json!([{"key": "A", "value": "1"}, {"key": "SECRET", "generateValue": true}])),
            StatusCode::OK,
        )
        .await;
    let keys: Vec<&str> = replaced
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["envVar"]["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, vec!["A", "SECRET"]);
    assert!(
        !replaced[1]["envVar"]["value"]
            .as_str()
            .expect("value")
            .is_empty()
    );
    assert_eq!(
        t.render_get(key, &format!("{base}/NODE_ENV"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let one = t
        .render_json(Method::GET, key, &format!("{base}/A"), None, StatusCode::OK)
        .await;
    assert_eq!(one, json!({"key": "A", "value": "1"}));
    let updated = t
        .render_json(
            Method::PUT,
            key,
            &format!("{base}/A"),
            Some(&json!({"value": "2"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(updated, json!({"key": "A", "value": "2"}));
    t.render_json(
        Method::PUT,
        key,
        &format!("{base}/B"),
        Some(&json!({"value": "3"})),
        StatusCode::OK,
    )
    .await;
    let deleted = t
        .render(Method::DELETE, key, &format!("{base}/A"), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.render(Method::DELETE, key, &format!("{base}/A"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let all = t
        .render_json(Method::GET, key, &base, None, StatusCode::OK)
        .await;
    let keys: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["envVar"]["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, vec!["SECRET", "B"]);

    let both = t
        .render(
            Method::PUT,
            key,
            &base,
            Some(&json!([{"key": "X", "value": "1", "generateValue": true}])),
        )
        .await;
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
    let response = t.render_get(key, &base).await;
    for header in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
        assert!(response.headers().contains_key(header), "{header}");
    }
}

#[tokio::test]
async fn patch_changes_settings_of_an_existing_service_but_never_its_region_or_type() {
    let t = spawn_emulator().await;
    let acct = t.account("patch").await;
    let other = t.account("other").await;
    let key = &acct.api_key;
    let created = t
        .create_web_service(&acct, "app", "https://github.com/o/r")
        .await;
    let id = created["service"]["id"].as_str().expect("id");
    let path = format!("/services/{id}");

    let patched = t
        .render_json(
            Method::PATCH,
            key,
            &path,
            Some(&json!({
                "branch": "release",
                "rootDir": "api",
                "serviceDetails": {
                    "plan": "standard",
                    "envSpecificDetails": {"buildCommand": "npm ci && npm run build", "startCommand": "node dist/main.js"}
                }
            })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["branch"], "release");
    assert_eq!(patched["rootDir"], "api");
    let details = &patched["serviceDetails"];
    assert_eq!(details["plan"], "standard");
    assert_eq!(details["region"], "oregon");
    assert_eq!(
        details["envSpecificDetails"],
        json!({"buildCommand": "npm ci && npm run build", "startCommand": "node dist/main.js"})
    );
    // What PATCH answered is what a read gives.
    let read = t
        .render_json(Method::GET, key, &path, None, StatusCode::OK)
        .await;
    assert_eq!(read, patched);

    // Only the start command: the build command is kept.
    let start_only = t
        .render_json(
            Method::PATCH,
            key,
            &path,
            Some(&json!({"serviceDetails": {"envSpecificDetails": {"startCommand": "npm start"}}})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        start_only["serviceDetails"]["envSpecificDetails"]["buildCommand"],
        "npm ci && npm run build"
    );
    assert_eq!(
        start_only["serviceDetails"]["envSpecificDetails"]["startCommand"],
        "npm start"
    );

    // Render cannot move a service to another region or change its type.
    for body in [
        json!({"serviceDetails": {"region": "frankfurt"}}),
        json!({"type": "static_site"}),
        json!({"serviceDetails": {"publishPath": "dist"}}),
        json!({"serviceDetails": {"plan": "huge"}}),
        json!({"branch": ""}),
    ] {
        let response = t.render(Method::PATCH, key, &path, Some(&body)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let unchanged = t
        .render_json(Method::GET, key, &path, None, StatusCode::OK)
        .await;
    assert_eq!(unchanged["serviceDetails"]["region"], "oregon");
    assert_eq!(unchanged["serviceDetails"]["plan"], "standard");

    // Another workspace's key sees no such service.
    let response = t
        .render(
            Method::PATCH,
            &other.api_key,
            &path,
            Some(&json!({"branch": "x"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A static site takes its own fields.
    let site = t
        .render_json(
            Method::POST,
            key,
            "/services",
            Some(&json!({"type": "static_site", "name": "site", "ownerId": acct.owner_id,
                         "repo": "https://github.com/o/site",
                         "serviceDetails": {"buildCommand": "npm run build", "publishPath": "dist"}})),
            StatusCode::CREATED,
        )
        .await;
    let site_id = site["service"]["id"].as_str().expect("id");
    let site = t
        .render_json(
            Method::PATCH,
            key,
            &format!("/services/{site_id}"),
            Some(
                &json!({"serviceDetails": {"buildCommand": "vite build", "publishPath": "build"}}),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(site["serviceDetails"]["publishPath"], "build");
    assert_eq!(site["serviceDetails"]["buildCommand"], "vite build");
    let response = t
        .render(
            Method::PATCH,
            key,
            &format!("/services/{site_id}"),
            Some(&json!({"serviceDetails": {"plan": "standard"}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

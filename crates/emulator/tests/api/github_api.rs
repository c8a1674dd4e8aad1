//! GitHub REST: user, repos, contents, trees, visibility, auth rules.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{USER_AGENT, repo, spawn_emulator};

#[tokio::test]
async fn auth_rules_user_agent_schemes_and_revocation() {
    let t = spawn_emulator().await;
    let user = t.control.create_github_user("octo").await.expect("user");

    let no_agent = t
        .http
        .get(t.url("/user"))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("request");
    assert_eq!(no_agent.status(), StatusCode::FORBIDDEN);

    let me: Value = t
        .github_get(Some(&user.token), "/user")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["login"], "octo");
    assert_eq!(me["id"], user.id);

    let token_scheme = t
        .http
        .get(t.url("/user"))
        .header("user-agent", USER_AGENT)
        .header("authorization", format!("token {}", user.token))
        .send()
        .await
        .expect("request");
    assert_eq!(token_scheme.status(), StatusCode::OK);
    assert!(token_scheme.headers().contains_key("x-ratelimit-remaining"));
    assert!(
        token_scheme.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/json")
    );

    t.control
        .revoke_github_token(&user.token)
        .await
        .expect("revoke");
    let revoked = t.github_get(Some(&user.token), "/user").await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    let body: Value = revoked.json().await.expect("json");
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(body["status"], "401");
    assert!(body["documentation_url"].is_string());
}

#[tokio::test]
async fn repos_are_case_insensitive_and_private_ones_are_hidden() {
    let t = spawn_emulator().await;
    let owner = t.control.create_github_user("alice").await.expect("alice");
    let friend = t.control.create_github_user("bob").await.expect("bob");
    let stranger = t.control.create_github_user("eve").await.expect("eve");
    let mut secret = repo("alice", "Secret-App", true, &[("README.md", "hi")]);
    secret.collaborators = vec!["Bob".into()];
    t.control.create_repo(&secret).await.expect("repo");

    let mine: Value = t
        .github_get(Some(&owner.token), "/repos/ALICE/secret-app")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine["full_name"], "alice/Secret-App");
    assert_eq!(mine["private"], true);
    assert_eq!(mine["visibility"], "private");
    assert_eq!(mine["default_branch"], "main");
    assert!(mine["description"].is_string() && mine["html_url"].is_string());
    assert_eq!(mine["permissions"]["admin"], true);

    let shared: Value = t
        .github_get(Some(&friend.token), "/repos/alice/Secret-App")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shared["permissions"]["push"], true);
    assert_eq!(shared["permissions"]["admin"], false);

    for token in [Some(stranger.token.as_str()), None] {
        let hidden = t.github_get(token, "/repos/alice/Secret-App").await;
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
        let body: Value = hidden.json().await.expect("json");
        assert_eq!(body["message"], "Not Found");
        let contents = t
            .github_get(token, "/repos/alice/Secret-App/contents/README.md")
            .await;
        assert_eq!(contents.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn contents_files_dirs_raw_and_empty_repos() {
    let t = spawn_emulator().await;
    let user = t.control.create_github_user("octo").await.expect("user");
    let long = "x".repeat(200);
    t.control
        .create_repo(&repo(
            "octo",
            "app",
            false,
            &[
                ("package.json", "{\"name\":\"app\"}"),
                ("src/index.js", &long),
                ("src/lib/util.js", "u"),
            ],
        ))
        .await
        .expect("repo");
    t.control
        .create_repo(&repo("octo", "empty", false, &[]))
        .await
        .expect("empty repo");
    let token = Some(user.token.as_str());

    let file: Value = t
        .github_get(token, "/repos/octo/app/contents/src/index.js?ref=main")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(file["type"], "file");
    assert_eq!(file["encoding"], "base64");
    assert_eq!(file["size"], 200);
    let content = file["content"].as_str().expect("content");
    assert!(content.lines().all(|line| line.len() <= 60));
    assert!(content.contains('\n'));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(content.replace('\n', ""))
        .expect("base64");
    assert_eq!(decoded, long.as_bytes());

    let raw = t
        .http
        .get(t.url("/repos/octo/app/contents/package.json"))
        .header("user-agent", USER_AGENT)
        .header("accept", "application/vnd.github.raw+json")
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("raw");
    assert_eq!(raw.text().await.expect("text"), "{\"name\":\"app\"}");

    let root: Value = t
        .github_get(token, "/repos/octo/app/contents/")
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<(&str, &str)> = root
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().expect("name"),
                e["type"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(names, vec![("package.json", "file"), ("src", "dir")]);
    let dir: Value = t
        .github_get(token, "/repos/octo/app/contents/src")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(dir.as_array().expect("array").len(), 2);
    assert!(dir[0].get("content").is_none());

    let missing = t
        .github_get(token, "/repos/octo/app/contents/nope.txt")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad_ref = t
        .github_get(
            token,
            "/repos/octo/app/contents/package.json?ref=no-such-branch",
        )
        .await;
    assert_eq!(bad_ref.status(), StatusCode::NOT_FOUND);
    let empty = t.github_get(token, "/repos/octo/empty/contents/").await;
    assert_eq!(empty.status(), StatusCode::NOT_FOUND);
    let body: Value = empty.json().await.expect("json");
    assert_eq!(body["message"], "This repository is empty.");
}

#[tokio::test]
async fn trees_recurse_for_any_value_and_empty_repos_conflict() {
    let t = spawn_emulator().await;
    let user = t.control.create_github_user("octo").await.expect("user");
    t.control
        .create_repo(&repo(
            "octo",
            "mono",
            false,
            &[
                ("apps/web/package.json", "{}"),
                ("Cargo.toml", "[workspace]"),
            ],
        ))
        .await
        .expect("repo");
    t.control
        .create_repo(&repo("octo", "empty", false, &[]))
        .await
        .expect("repo");
    let token = Some(user.token.as_str());

    for flag in ["1", "0", "false"] {
        let tree: Value = t
            .github_get(
                token,
                &format!("/repos/octo/mono/git/trees/main?recursive={flag}"),
            )
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(tree["truncated"], false);
        let entries: Vec<(&str, &str)> = tree["tree"]
            .as_array()
            .expect("tree")
            .iter()
            .map(|e| {
                (
                    e["path"].as_str().expect("path"),
                    e["type"].as_str().expect("type"),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("Cargo.toml", "blob"),
                ("apps", "tree"),
                ("apps/web", "tree"),
                ("apps/web/package.json", "blob")
            ]
        );
        assert_eq!(tree["tree"][0]["size"], 11);
    }
    let shallow: Value = t
        .github_get(token, "/repos/octo/mono/git/trees/main")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shallow["tree"].as_array().expect("tree").len(), 2);

    let empty = t
        .github_get(token, "/repos/octo/empty/git/trees/main?recursive=1")
        .await;
    assert_eq!(empty.status(), StatusCode::CONFLICT);
}

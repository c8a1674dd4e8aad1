//! Planning over GitHub (`POST /api/render/plan`), over a local checkout
//! (`FsSource`) and through `deployer plan <dir> --json` give the same plan.

use deployer::plan::fixtures::{self, PROJECT};
use deployer::plan::{FsSource, Plan, plan_repository};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_fixture_plans_the_same_over_github_and_locally() {
    let app = spawn_app().await;
    let mut octo = app.login("octo").await;
    octo.setup_own_key().await;

    for fixture in fixtures::fixtures() {
        app.push_repo("octo", fixture.name, &fixture.files).await;
        let response = octo
            .post(
                "/api/render/plan",
                json!({ "github_repo": format!("octo/{}", fixture.name), "project_name": PROJECT }),
            )
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{}: {text}", fixture.name);
        let over_github: Plan = serde_json::from_str(&text).unwrap();
        fixture.check(&over_github).unwrap();

        let dir = tempfile::tempdir().unwrap();
        fixtures::write_files(dir.path(), &fixture.files).unwrap();
        let local = plan_repository(&FsSource::new(dir.path().to_owned()), &fixtures::request())
            .await
            .unwrap();
        assert_eq!(
            over_github.services, local.services,
            "{}: GitHub and local plans differ",
            fixture.name
        );
    }
}

/// `deployer plan <dir> --json` gives every fixture's expected plan, the
/// same as the service's planner over the same files.
#[tokio::test]
async fn the_cli_plans_every_checkout_like_the_service() {
    for fixture in fixtures::fixtures() {
        // The CLI names the project after the directory.
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join(PROJECT);
        fixtures::write_files(&dir, &fixture.files).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
            .arg("plan")
            .arg(&dir)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            fixture.name,
            String::from_utf8_lossy(&output.stderr)
        );
        let from_cli: Plan = serde_json::from_slice(&output.stdout).unwrap();
        fixture.check(&from_cli).unwrap();
        let local = plan_repository(&FsSource::new(dir.clone()), &fixtures::request())
            .await
            .unwrap();
        assert_eq!(from_cli.services, local.services, "{}", fixture.name);
    }
}

/// A plan costs one recursive tree call plus the marker files it needs:
/// never a file over the size limit, never an unrelated file.
#[tokio::test]
async fn a_plan_reads_one_tree_and_only_small_marker_files() {
    let app = spawn_app().await;
    let mut octo = app.login("octo").await;
    octo.setup_own_key().await;
    // An entry file past the 512 KiB limit, and a large unrelated file.
    let server = format!(
        "{}// {}\n",
        "require('http').createServer().listen(process.env.PORT);\n",
        "x".repeat(600 * 1024)
    );
    let data = "[0]".repeat(400 * 1024);
    let package = r#"{"name":"big","scripts":{"start":"node server.js"}}"#;
    app.push_repo(
        "octo",
        "big",
        &[
            ("package.json", package),
            ("server.js", &server),
            ("data/big.json", &data),
        ],
    )
    .await;
    let response = octo
        .post("/api/render/plan", json!({ "github_repo": "octo/big" }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let plan: Plan = response.json().await.unwrap();
    assert_eq!(plan.services[0].start_command.as_deref(), Some("npm start"));

    let calls: Vec<String> = app
        .upstream_requests(emulator::control::Upstream::Github)
        .await
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.starts_with("/repos/octo/big/"))
        .collect();
    let trees = calls.iter().filter(|p| p.contains("/git/trees/")).count();
    assert_eq!(trees, 1, "{calls:#?}");
    assert!(
        calls.iter().any(|p| p.ends_with("/contents/package.json")),
        "{calls:#?}"
    );
    for skipped in ["server.js", "data/big.json"] {
        assert!(
            !calls.iter().any(|p| p.ends_with(skipped)),
            "{skipped} was read: {calls:#?}"
        );
    }
}

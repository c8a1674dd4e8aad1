use std::collections::BTreeMap;
use std::sync::Arc;

use deployer::plan::source::{EntryKind, MAX_MARKER_FILE_BYTES, RepoSource, SourceError};
use deployer::upstream::github::{GitHubApi, GitHubRepoSource};
use deployer::upstream::{UnavailableReason, Upstream, UpstreamError};
use emulator::control::{FaultKind, RepoSpec, Upstream as EmuUpstream};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::{TestEmulator, spawn_emulator};

async fn create_repo(
    emu: &TestEmulator,
    owner: &str,
    name: &str,
    private: bool,
    files: &[(&str, &str)],
) {
    emu.control
        .create_repo(&RepoSpec {
            owner: owner.into(),
            name: name.into(),
            private,
            default_branch: "main".into(),
            files: files
                .iter()
                .map(|(path, content)| ((*path).to_owned(), (*content).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            collaborators: vec![],
            other_branches: Vec::new(),
        })
        .await
        .expect("repo created");
}

#[tokio::test]
async fn current_user_is_the_tokens_owner() {
    let emu = spawn_emulator().await;
    let (id, token) = emu.github_user("alice").await;

    let user = emu.github().current_user(&token).await.expect("user");

    assert_eq!(user.id, id);
    assert_eq!(user.login, "alice");
}

#[tokio::test]
async fn unknown_token_is_unauthorized() {
    let emu = spawn_emulator().await;
    let token = SecretString::from("gho_not_a_real_token".to_owned());

    let error = emu
        .github()
        .current_user(&token)
        .await
        .expect_err("bad token");

    assert!(
        matches!(error, UpstreamError::Unauthorized(Upstream::GitHub)),
        "{error:?}"
    );
}

#[tokio::test]
async fn private_repo_is_visible_to_its_owner_only() {
    let emu = spawn_emulator().await;
    let (_, alice) = emu.github_user("alice").await;
    let (_, bob) = emu.github_user("bob").await;
    create_repo(&emu, "alice", "secret-app", true, &[("README.md", "hi")]).await;
    let github = emu.github();

    let repo = github
        .repository(&alice, "alice", "secret-app")
        .await
        .expect("owner sees it");
    assert_eq!(repo.full_name, "alice/secret-app");
    assert!(repo.private);
    assert_eq!(repo.default_branch, "main");
    assert!(repo.can_pull);

    let error = github
        .repository(&bob, "alice", "secret-app")
        .await
        .expect_err("hidden");
    assert!(
        matches!(error, UpstreamError::NotFound(Upstream::GitHub)),
        "{error:?}"
    );
}

#[tokio::test]
async fn tree_lists_files_and_directories_once() {
    let emu = spawn_emulator().await;
    let (_, token) = emu.github_user("alice").await;
    create_repo(
        &emu,
        "alice",
        "mono",
        false,
        &[
            ("package.json", "{}"),
            ("apps/web/package.json", "{\"name\":\"web\"}"),
        ],
    )
    .await;

    let tree = emu
        .github()
        .tree(&token, "alice", "mono", "main")
        .await
        .expect("tree");

    assert!(!tree.truncated);
    let kinds: BTreeMap<_, _> = tree
        .entries
        .iter()
        .map(|e| (e.path.as_str(), (e.kind, e.size)))
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("apps", (EntryKind::Dir, None)),
            ("apps/web", (EntryKind::Dir, None)),
            ("apps/web/package.json", (EntryKind::File, Some(14))),
            ("package.json", (EntryKind::File, Some(2))),
        ])
    );
}

#[tokio::test]
async fn tree_of_missing_or_empty_repo() {
    let emu = spawn_emulator().await;
    let (_, token) = emu.github_user("alice").await;
    create_repo(&emu, "alice", "empty", false, &[]).await;
    let github = emu.github();

    let missing = github
        .tree(&token, "alice", "nope", "main")
        .await
        .expect_err("missing");
    assert!(matches!(missing, SourceError::RepoNotFound), "{missing:?}");
    let empty = github
        .tree(&token, "alice", "empty", "main")
        .await
        .expect_err("empty");
    assert!(matches!(empty, SourceError::Empty), "{empty:?}");
}

#[tokio::test]
async fn repo_source_reads_files_raw() {
    let emu = spawn_emulator().await;
    let (_, token) = emu.github_user("alice").await;
    let package = "{\n  \"name\": \"web\",\n  \"scripts\": {\"start\": \"node server.js\"}\n}\n";
    let big = "x".repeat(usize::try_from(MAX_MARKER_FILE_BYTES).expect("fits") + 1);
    create_repo(
        &emu,
        "alice",
        "app",
        true,
        &[
            ("apps/web/package.json", package),
            ("big.txt", &big),
            ("name with space.txt", "ok"),
        ],
    )
    .await;
    let source = GitHubRepoSource::new(
        Arc::new(emu.github()),
        token.clone(),
        "alice",
        "app",
        "main",
    );

    assert_eq!(
        source
            .read_file("apps/web/package.json")
            .await
            .expect("read")
            .as_deref(),
        Some(package)
    );
    assert_eq!(
        source
            .read_file("name with space.txt")
            .await
            .expect("read")
            .as_deref(),
        Some("ok")
    );
    assert_eq!(source.read_file("missing.toml").await.expect("read"), None);
    assert_eq!(
        source.read_file("apps/web").await.expect("a directory"),
        None
    );
    assert_eq!(
        source
            .read_file("apps/../big.txt")
            .await
            .expect("dot segments"),
        None
    );
    let too_large = source.read_file("big.txt").await.expect_err("too large");
    assert!(
        matches!(&too_large, SourceError::TooLarge { path } if path == "big.txt"),
        "{too_large:?}"
    );
    assert_eq!(source.tree().await.expect("tree").entries.len(), 5);

    // The token never shows in Debug.
    assert!(!format!("{source:?}").contains(token.expose_secret()));
}

#[tokio::test]
async fn github_rate_limit_carries_retry_after() {
    let emu = spawn_emulator().await;
    let (_, token) = emu.github_user("alice").await;
    emu.fault(
        EmuUpstream::Github,
        "/user",
        FaultKind::RateLimit,
        None,
        None,
    )
    .await;

    let error = emu
        .github()
        .current_user(&token)
        .await
        .expect_err("limited");

    assert!(
        matches!(
            error,
            UpstreamError::RateLimited {
                upstream: Upstream::GitHub,
                retry_after: Some(_)
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn github_server_error_in_a_file_read_is_an_upstream_error() {
    let emu = spawn_emulator().await;
    let (_, token) = emu.github_user("alice").await;
    create_repo(&emu, "alice", "app", false, &[("Cargo.toml", "[package]")]).await;
    emu.fault(
        EmuUpstream::Github,
        "/repos/alice/app/contents",
        FaultKind::Status,
        Some(502),
        None,
    )
    .await;

    let error = emu
        .github()
        .file(&token, "alice", "app", "Cargo.toml", "main")
        .await
        .expect_err("fault");

    assert!(
        matches!(
            error,
            SourceError::Upstream(UpstreamError::Unavailable {
                upstream: Upstream::GitHub,
                reason: UnavailableReason::ServerError
            })
        ),
        "{error:?}"
    );
}

//! The control API's own rules and the request log.

use emulator::control::{Control, Upstream};
use emulator::fingerprint;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::helpers::{repo, spawn_emulator};

#[tokio::test]
async fn the_request_log_fingerprints_the_credential_sent() {
    let t = spawn_emulator().await;
    let acct = t.account("logged").await;
    let user = t.control.create_github_user("octo").await.expect("user");
    t.render_get(&acct.api_key, "/services").await;
    t.github_get(Some(&user.token), "/user").await;
    t.render_get("rnd_wrong", "/owners").await;
    t.github_get(None, "/repos/octo/none").await;

    let log = t.control.requests().await.expect("log");
    let expected = |credential: &str| hex::encode(&Sha256::digest(credential.as_bytes())[..8]);
    assert_eq!(fingerprint(&acct.api_key), expected(&acct.api_key));

    let services = log
        .iter()
        .find(|r| r.path == "/v1/services")
        .expect("services call");
    assert_eq!(services.upstream, Upstream::Render);
    assert_eq!(services.method, "GET");
    assert_eq!(services.status, 200);
    assert_eq!(
        services.credential_fingerprint,
        Some(expected(&acct.api_key))
    );

    let me = log.iter().find(|r| r.path == "/user").expect("user call");
    assert_eq!(me.upstream, Upstream::Github);
    assert_eq!(me.credential_fingerprint, Some(expected(&user.token)));

    let rejected = log
        .iter()
        .find(|r| r.path == "/v1/owners")
        .expect("owners call");
    assert_eq!(rejected.status, 401);
    assert_eq!(rejected.credential_fingerprint, Some(expected("rnd_wrong")));
    let anonymous = log
        .iter()
        .find(|r| r.path == "/repos/octo/none")
        .expect("repo call");
    assert_eq!(anonymous.credential_fingerprint, None);
    assert_eq!(anonymous.status, 404);

    // Control calls are not upstream requests.
    assert!(log.iter().all(|r| !r.path.starts_with("/_emulator")));
}

#[tokio::test]
async fn control_calls_validate_their_input() {
    let t = spawn_emulator().await;
    t.control.create_github_user("octo").await.expect("user");
    assert!(
        t.control.create_github_user("octo").await.is_err(),
        "duplicate login"
    );
    assert!(t.control.create_github_user("bad login").await.is_err());
    assert!(
        t.control
            .create_repo(&repo("octo", "bad/name", false, &[]))
            .await
            .is_err()
    );
    assert!(
        t.control
            .add_render_key("tea-doesnotexist0000000")
            .await
            .is_err()
    );
    assert!(t.control.revoke_render_key("rnd_unknown").await.is_err());
    assert!(t.control.revoke_github_token("gho_unknown").await.is_err());
    assert!(t.control.create_oauth_app("not a url").await.is_err());
    // A client pointed at a server that is gone reports an error instead of hanging.
    let base = t.emulator.base_url().to_owned();
    t.emulator.shutdown().await;
    let gone = Control::new(&base).requests().await;
    assert!(gone.is_err());
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let t = spawn_emulator().await;
    let response = t
        .http
        .get(t.url("/v1/nothing-here"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_binary_prints_its_base_url_first_and_serves_there() {
    use tokio::io::AsyncBufReadExt as _;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_emulator"))
        .args(["--listen", "127.0.0.1:0", "--phase-ms", "5"])
        .args([
            "--github-client-id",
            "cid",
            "--github-client-secret",
            "secret",
        ])
        .args(["--github-redirect-uri", "http://127.0.0.1/callback"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("emulator binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let first_line = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read stdout")
        .expect("a first line");
    assert!(first_line.starts_with("http://127.0.0.1:"), "{first_line}");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let unauthorized = http
        .get(format!("{first_line}/v1/owners"))
        .send()
        .await
        .expect("request");
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    // The app given on the command line is registered.
    let control = Control::new(&first_line);
    control.create_github_user("octo").await.expect("user");
    let approved = http
        .get(format!(
            "{first_line}/login/oauth/authorize?client_id=cid&login=octo&state=s"
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(approved.status(), StatusCode::FOUND);
    child.kill().await.expect("stop the emulator");
}

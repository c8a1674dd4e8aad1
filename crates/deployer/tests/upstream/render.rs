use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use deployer::upstream::render::{
    Build, CronDetails, Deploy, DeployStatus, EnvVarInput, EnvVarInputValue, NativeRuntime,
    NewService, NewServiceDetails, PaidPlan, Plan, Region, RenderApi, RenderClient, Route,
    RouteKind, ServerDetails, ServiceFilter, ServiceType, StaticDetails, WebDetails,
};
use deployer::upstream::{UnavailableReason, Upstream, UpstreamError};
use emulator::control::{FaultKind, Upstream as EmuUpstream};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::{TestEmulator, spawn_emulator};

fn node_build() -> Build {
    Build::Native {
        runtime: NativeRuntime::Node,
        build_command: "npm ci".into(),
        start_command: "npm start".into(),
    }
}

fn server<P>(plan: P) -> ServerDetails<P> {
    ServerDetails {
        build: node_build(),
        plan,
        region: Region::Oregon,
    }
}

fn web_details() -> NewServiceDetails {
    NewServiceDetails::Web(WebDetails {
        server: server(Plan::Starter),
        health_check_path: Some("/healthz".into()),
    })
}

fn new_service(name: &str, owner_id: &str, repo: &str, details: NewServiceDetails) -> NewService {
    NewService {
        name: name.into(),
        owner_id: owner_id.into(),
        repo: format!("https://github.com/{repo}"),
        branch: Some("main".into()),
        root_dir: None,
        auto_deploy: false,
        env_vars: vec![],
        details,
    }
}

/// Polls like the deployer's tracker does, until the deploy is terminal.
async fn wait_terminal(
    render: &RenderClient,
    key: &SecretString,
    service_id: &str,
    deploy_id: &str,
) -> Deploy {
    for _ in 0..500 {
        let deploy = render
            .deploy(key, service_id, deploy_id)
            .await
            .expect("deploy readable");
        if deploy.status.is_terminal() {
            return deploy;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deploy {deploy_id} never finished");
}

#[tokio::test]
async fn owners_lists_the_keys_workspace_and_sends_the_key_as_bearer() {
    let emu = spawn_emulator().await;
    let (owner_id, key) = emu.render_account("alice").await;

    let owners = emu.render().owners(&key).await.expect("owners");

    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].id, owner_id);
    assert_eq!(owners[0].name, "alice");
    let requests = emu.control.requests().await.expect("request log");
    let owners_call = requests
        .iter()
        .find(|r| r.path.starts_with("/v1/owners"))
        .expect("owners was called");
    assert_eq!(
        owners_call.credential_fingerprint.as_deref(),
        Some(emulator::fingerprint(key.expose_secret()).as_str())
    );
}

#[tokio::test]
async fn creates_every_service_type() {
    let emu = spawn_emulator().await;
    let (owner_id, key) = emu.render_account("alice").await;
    let render = emu.render();
    let cases = [
        ("web", web_details()),
        (
            "site",
            NewServiceDetails::Static(StaticDetails {
                build_command: Some("npm ci && npm run build".into()),
                publish_path: "dist".into(),
                routes: vec![Route {
                    kind: RouteKind::Rewrite,
                    source: "/*".into(),
                    destination: "/index.html".into(),
                }],
            }),
        ),
        (
            "pserv",
            NewServiceDetails::PrivateService(server(PaidPlan::Starter)),
        ),
        (
            "worker",
            NewServiceDetails::Worker(ServerDetails {
                build: Build::Docker {
                    dockerfile_path: "./Dockerfile".into(),
                    docker_context: ".".into(),
                },
                plan: PaidPlan::Standard,
                region: Region::Frankfurt,
            }),
        ),
        (
            "cron",
            NewServiceDetails::Cron(CronDetails {
                server: server(PaidPlan::Starter),
                schedule: "0 * * * *".into(),
            }),
        ),
    ];

    for (name, details) in cases {
        let body = new_service(name, &owner_id, "alice/app", details);
        let expected_type = body.service_type();
        let created = render
            .create_service(&key, &body)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));

        let service = &created.service;
        assert_eq!(service.name, name);
        assert_eq!(service.owner_id, owner_id);
        assert_eq!(service.service_type, expected_type);
        assert_eq!(
            service.repo.as_deref(),
            Some("https://github.com/alice/app")
        );
        assert!(!service.suspended);
        assert!(
            created
                .deploy_id
                .as_deref()
                .is_some_and(|id| id.starts_with("dep-")),
            "{name}"
        );
        match expected_type {
            ServiceType::WebService | ServiceType::StaticSite => {
                assert!(
                    service
                        .url
                        .as_deref()
                        .is_some_and(|u| u.starts_with("https://")),
                    "{name}"
                );
            }
            ServiceType::CronJob => {
                assert!(service.id.starts_with("crn-"), "{}", service.id);
                assert_eq!(service.url, None);
            }
            ServiceType::BackgroundWorker => assert_eq!(service.url, None),
            ServiceType::PrivateService => {}
        }
        let fetched = render
            .service(&key, &service.id)
            .await
            .expect("retrievable");
        assert_eq!(&fetched, service);
    }
}

#[tokio::test]
async fn finds_services_across_pages_and_stops_at_max() {
    let emu = spawn_emulator().await;
    let (owner_id, key) = emu.render_account("alice").await;
    let render = emu.render();
    let total = 105;
    for i in 0..total {
        let body = new_service(
            &format!("svc-{i:03}"),
            &owner_id,
            "alice/app",
            web_details(),
        );
        render.create_service(&key, &body).await.expect("created");
    }
    let all_owner = ServiceFilter {
        owner_id: Some(owner_id.clone()),
        name: None,
    };

    let all = render
        .services(&key, &all_owner, 1_000)
        .await
        .expect("listed");
    let names: BTreeSet<_> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(all.len(), total);
    assert_eq!(names.len(), total, "no service listed twice");
    assert!(
        names.contains("svc-104"),
        "the last one is on the second page"
    );

    let by_name = ServiceFilter {
        owner_id: Some(owner_id.clone()),
        name: Some("svc-104".into()),
    };
    let found = render.services(&key, &by_name, 10).await.expect("listed");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "svc-104");

    let capped = render.services(&key, &all_owner, 30).await.expect("listed");
    assert_eq!(capped.len(), 30);

    let list_calls = emu
        .control
        .requests()
        .await
        .expect("request log")
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/services")
        .count();
    // Two pages for the full walk, one for the name, one for the capped list.
    assert_eq!(list_calls, 4);
}

#[tokio::test]
async fn deploys_run_to_live_and_a_busy_trigger_is_queued() {
    let emu = spawn_emulator().await;
    let (owner_id, key) = emu.render_account("alice").await;
    let render = emu.render();
    let created = render
        .create_service(
            &key,
            &new_service("web", &owner_id, "alice/app", web_details()),
        )
        .await
        .expect("created");
    let service_id = created.service.id.clone();
    let first = created.deploy_id.expect("first deploy");

    // The first deploy is still running: Render queues the new one, 202 with no body.
    let queued = render
        .trigger_deploy(&key, &service_id)
        .await
        .expect("triggered");
    assert_eq!(queued, None);

    let done = wait_terminal(&render, &key, &service_id, &first).await;
    assert_eq!(done.status, DeployStatus::Live);
    assert!(done.status.is_success());
    assert!(done.finished_at.is_some());

    // Wait for the queued one too, then a trigger on an idle service answers with the deploy.
    loop {
        let deploys = render.deploys(&key, &service_id, 10).await.expect("listed");
        if deploys.iter().all(|d| d.status.is_terminal()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let triggered = render
        .trigger_deploy(&key, &service_id)
        .await
        .expect("triggered")
        .expect("an idle service answers 201 with the deploy");
    let latest = render.deploys(&key, &service_id, 1).await.expect("listed");
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].id, triggered.id, "newest first");
    let done = wait_terminal(&render, &key, &service_id, &triggered.id).await;
    assert_eq!(done.status, DeployStatus::Live);
}

#[tokio::test]
async fn env_vars_are_replaced_as_a_set_and_listed_by_key() {
    let emu = spawn_emulator().await;
    let (owner_id, key) = emu.render_account("alice").await;
    let render = emu.render();
    let service = render
        .create_service(
            &key,
            &new_service("web", &owner_id, "alice/app", web_details()),
        )
        .await
        .expect("created")
        .service;
    let value = |v: &str| EnvVarInputValue::Value(SecretString::from(v.to_owned()));

    let first = [
        EnvVarInput::new("DATABASE_URL", value("postgres://secret")).expect("key"),
        EnvVarInput::new("SESSION_KEY", EnvVarInputValue::Generate).expect("key"),
    ];
    render
        .replace_env_vars(&key, &service.id, &first)
        .await
        .expect("replaced");
    let keys: BTreeSet<_> = render
        .env_var_keys(&key, &service.id)
        .await
        .expect("keys")
        .into_iter()
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["DATABASE_URL".to_owned(), "SESSION_KEY".to_owned()])
    );

    let second = [EnvVarInput::new("PORT", value("8080")).expect("key")];
    render
        .replace_env_vars(&key, &service.id, &second)
        .await
        .expect("replaced");
    let keys = render.env_var_keys(&key, &service.id).await.expect("keys");
    assert_eq!(keys, ["PORT"]);
}

#[tokio::test]
async fn build_logs_of_a_failing_repo() {
    let emu = spawn_emulator().await;
    emu.control
        .set_behavior(20, &["alice/broken"])
        .await
        .expect("behavior set");
    let (owner_id, key) = emu.render_account("alice").await;
    let render = emu.render();
    let created = render
        .create_service(
            &key,
            &new_service("broken", &owner_id, "alice/broken", web_details()),
        )
        .await
        .expect("created");
    let deploy_id = created.deploy_id.expect("first deploy");

    let done = wait_terminal(&render, &key, &created.service.id, &deploy_id).await;
    assert_eq!(done.status, DeployStatus::BuildFailed);
    assert!(!done.status.is_success());

    let lines = render
        .build_logs(&key, &owner_id, &created.service.id, 100)
        .await
        .expect("logs");
    // Oldest first: the clone comes before the failure.
    assert!(
        lines[0].contains("Cloning from https://github.com/alice/broken"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .skip(1)
            .any(|line| line.contains("Build failed")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn revoked_key_is_unauthorized() {
    let emu = spawn_emulator().await;
    let (_, key) = emu.render_account("alice").await;
    emu.control
        .revoke_render_key(key.expose_secret())
        .await
        .expect("revoked");

    let error = emu.render().owners(&key).await.expect_err("revoked");

    assert!(
        matches!(error, UpstreamError::Unauthorized(Upstream::Render)),
        "{error:?}"
    );
    assert!(!error.to_string().contains(key.expose_secret()));
}

#[tokio::test]
async fn another_workspaces_service_is_not_found() {
    let emu = spawn_emulator().await;
    let (alice_owner, alice_key) = emu.render_account("alice").await;
    let (_, bob_key) = emu.render_account("bob").await;
    let render = emu.render();
    let service = render
        .create_service(
            &alice_key,
            &new_service("web", &alice_owner, "alice/app", web_details()),
        )
        .await
        .expect("created")
        .service;

    let error = render
        .service(&bob_key, &service.id)
        .await
        .expect_err("not bob's");
    assert!(
        matches!(error, UpstreamError::NotFound(Upstream::Render)),
        "{error:?}"
    );
    let theirs = render
        .services(&bob_key, &ServiceFilter::default(), 100)
        .await
        .expect("bob lists his own");
    assert!(theirs.is_empty());
}

async fn owners_after_fault(
    emu: &TestEmulator,
    kind: FaultKind,
    status: Option<u16>,
) -> UpstreamError {
    let (_, key) = emu
        .render_account(&format!("user-{kind:?}-{status:?}").to_lowercase())
        .await;
    emu.fault(EmuUpstream::Render, "/v1/owners", kind, status, None)
        .await;
    emu.render().owners(&key).await.expect_err("fault injected")
}

type IsExpected = fn(&UpstreamError) -> bool;

#[tokio::test]
async fn status_faults_map_to_typed_errors() {
    let emu = spawn_emulator().await;
    let cases: [(u16, IsExpected); 6] = [
        (500, |e| {
            matches!(
                e,
                UpstreamError::Unavailable {
                    upstream: Upstream::Render,
                    reason: UnavailableReason::ServerError
                }
            )
        }),
        (503, |e| {
            matches!(
                e,
                UpstreamError::Unavailable {
                    reason: UnavailableReason::ServerError,
                    ..
                }
            )
        }),
        (400, |e| {
            matches!(
                e,
                UpstreamError::Rejected {
                    upstream: Upstream::Render,
                    status: 400
                }
            )
        }),
        (402, |e| {
            matches!(e, UpstreamError::Rejected { status: 402, .. })
        }),
        (403, |e| {
            matches!(e, UpstreamError::Forbidden(Upstream::Render))
        }),
        (409, |e| {
            matches!(e, UpstreamError::Conflict(Upstream::Render))
        }),
    ];
    for (status, expected) in cases {
        let error = owners_after_fault(&emu, FaultKind::Status, Some(status)).await;
        assert!(expected(&error), "{status}: {error:?}");
    }
}

#[tokio::test]
async fn dropped_connection_is_unavailable_connect() {
    let emu = spawn_emulator().await;
    let error = owners_after_fault(&emu, FaultKind::Drop, None).await;
    assert!(
        matches!(
            error,
            UpstreamError::Unavailable {
                upstream: Upstream::Render,
                reason: UnavailableReason::Connect
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_answer_is_unavailable_malformed() {
    let emu = spawn_emulator().await;
    let error = owners_after_fault(&emu, FaultKind::Malformed, None).await;
    assert!(
        matches!(
            error,
            UpstreamError::Unavailable {
                upstream: Upstream::Render,
                reason: UnavailableReason::Malformed
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let emu = spawn_emulator().await;
    let error = owners_after_fault(&emu, FaultKind::RateLimit, None).await;
    match error {
        UpstreamError::RateLimited {
            upstream: Upstream::Render,
            retry_after,
        } => {
            assert!(
                retry_after.is_some_and(|d| d > Duration::ZERO),
                "{retry_after:?}"
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn delay_beyond_the_timeout_is_unavailable_timeout() {
    let emu = spawn_emulator().await;
    let (_, key) = emu.render_account("alice").await;
    emu.fault(
        EmuUpstream::Render,
        "/v1/owners",
        FaultKind::Delay,
        None,
        Some(30_000),
    )
    .await;

    let error = emu
        .render_with_timeout(Duration::from_millis(200))
        .owners(&key)
        .await
        .expect_err("times out");

    assert!(
        matches!(
            error,
            UpstreamError::Unavailable {
                upstream: Upstream::Render,
                reason: UnavailableReason::Timeout
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn unreachable_upstream_is_unavailable_connect() {
    // Bind then drop a listener: the port is known to be closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let base = url::Url::parse(&format!("http://{addr}/v1")).expect("url");
    let key = SecretString::from("rnd_unused".to_owned());

    let error = RenderClient::new(&base, Duration::from_secs(5))
        .owners(&key)
        .await
        .expect_err("nothing listens");

    assert!(
        matches!(
            error,
            UpstreamError::Unavailable {
                reason: UnavailableReason::Connect,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn requests_are_counted_by_upstream_and_status_class_only() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A current-thread runtime keeps every poll inside the local recorder's scope.
    let key = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let emu = spawn_emulator().await;
            let (_, key) = emu.render_account("alice").await;
            emu.render().owners(&key).await.expect("owners");
            emu.fault(
                EmuUpstream::Render,
                "/v1/owners",
                FaultKind::RateLimit,
                None,
                None,
            )
            .await;
            emu.render().owners(&key).await.expect_err("limited");
            emu.fault(
                EmuUpstream::Render,
                "/v1/owners",
                FaultKind::Status,
                Some(404),
                None,
            )
            .await;
            emu.render().owners(&key).await.expect_err("not found");
            key
        })
    });

    let text = handle.render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    let mut counts = BTreeMap::new();
    for sample in scrape
        .samples
        .iter()
        .filter(|s| s.metric == "upstream_requests_total")
    {
        let mut labels: Vec<_> = sample.labels.keys().map(String::as_str).collect();
        labels.sort_unstable();
        assert_eq!(labels, ["status", "upstream"], "bounded label set");
        let value = match sample.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("unexpected value {other:?}"),
        };
        counts.insert(
            (
                sample.labels.get("upstream").unwrap_or_default().to_owned(),
                sample.labels.get("status").unwrap_or_default().to_owned(),
            ),
            value,
        );
    }
    let render = |status: &str| {
        counts
            .get(&("render".to_owned(), status.to_owned()))
            .copied()
    };
    assert_eq!(render("2xx"), Some(1.0));
    assert_eq!(render("429"), Some(1.0));
    assert_eq!(render("4xx"), Some(1.0));
    assert!(!text.contains(key.expose_secret()));
    assert!(!text.contains("/v1"));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let emu = spawn_emulator().await;
    let (_, key) = emu.render_account("alice").await;
    // A hostile or misconfigured upstream that points the client elsewhere.
    let target = emu
        .render_base()
        .join("v1/owners")
        .expect("url")
        .to_string();
    let redirector = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&target) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, redirector).await });
    let base = url::Url::parse(&format!("http://{addr}/v1")).expect("url");

    let error = RenderClient::new(&base, Duration::from_secs(5))
        .owners(&key)
        .await
        .expect_err("redirect refused");

    assert!(
        matches!(
            error,
            UpstreamError::Rejected {
                upstream: Upstream::Render,
                status: 307
            }
        ),
        "{error:?}"
    );
    let followed = emu
        .control
        .requests()
        .await
        .expect("request log")
        .iter()
        .any(|r| r.path.starts_with("/v1/owners"));
    assert!(!followed, "the key was not re-sent to the redirect target");
}

//! Planner tests over real directories (`FsSource` on temp dirs).

use super::fixtures::{self, write_files};
use super::*;
use crate::domain::names::Region;

async fn plan_files(files: &[(&str, &str)], request: &PlanRequest) -> Result<Plan, PlanError> {
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), files).expect("write fixture");
    plan_repository(&FsSource::new(dir.path().to_path_buf()), request).await
}

fn key(k: &str) -> EnvVarKey {
    EnvVarKey::parse(k).expect("valid key")
}

fn name(n: &str) -> ServiceName {
    ServiceName::parse(n).expect("valid name")
}

#[tokio::test]
async fn every_stack_fixture_plans_as_expected() {
    let mut failures = Vec::new();
    for fixture in fixtures::fixtures() {
        match plan_files(&fixture.files, &fixtures::request()).await {
            Ok(plan) => {
                assert_eq!(plan.source, PlanSource::Detected, "{}", fixture.name);
                if let Err(e) = fixture.check(&plan) {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(format!("fixture {}: {e}", fixture.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn spa_gets_rewrite_and_framework_reason() {
    let fixture = fixtures::fixtures()
        .into_iter()
        .find(|f| f.name == "vite")
        .expect("vite fixture");
    let plan = plan_files(&fixture.files, &fixtures::request())
        .await
        .expect("plan");
    let svc = &plan.services[0];
    assert_eq!(svc.routes, vec![Route::spa_rewrite()]);
    assert!(
        svc.reasons
            .iter()
            .any(|r| r.field == "publish_path" && r.text.contains("build-output"))
    );
    assert!(
        svc.reasons
            .iter()
            .any(|r| r.field == "kind" && r.text.contains("vite"))
    );
}

#[tokio::test]
async fn django_reason_names_the_settings_file() {
    let fixture = fixtures::fixtures()
        .into_iter()
        .find(|f| f.name == "django")
        .expect("django fixture");
    let plan = plan_files(&fixture.files, &fixtures::request())
        .await
        .expect("plan");
    let reason = plan.services[0]
        .reasons
        .iter()
        .find(|r| r.field == "start_command")
        .expect("start reason");
    assert!(
        reason.text.contains("mysite/settings.py"),
        "{}",
        reason.text
    );
    assert!(
        reason.text.contains("gunicorn mysite.wsgi:application"),
        "{}",
        reason.text
    );
}

const BLUEPRINT: &str = "\
services:
  - type: web
    name: api
    runtime: python
    plan: starter
    region: frankfurt
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn app:app --bind 0.0.0.0:$PORT
    healthCheckPath: /healthz
    envVars:
      - key: SECRET_KEY
        generateValue: true
      - key: STRIPE_KEY
        sync: false
      - key: CACHE_URL
        fromService:
          type: pserv
          name: cache
          property: hostport
      - key: DATABASE_URL
        fromDatabase:
          name: db
          property: connectionString
  - type: web
    name: site
    runtime: static
    buildCommand: npm ci && npm run build
    staticPublishPath: ./dist
    routes:
      - type: rewrite
        source: /*
        destination: /index.html
  - type: pserv
    name: cache
    runtime: docker
    dockerfilePath: ./cache/Dockerfile
    numInstances: 2
databases:
  - name: db
    plan: basic-256mb
";

#[tokio::test]
async fn blueprint_services_in_dependency_order() {
    let files = [
        ("render.yaml", BLUEPRINT),
        ("app.py", "import os\nKEY = os.environ['STRIPE_KEY']\n"),
    ];
    let plan = plan_files(&files, &fixtures::request())
        .await
        .expect("plan");
    assert_eq!(plan.source, PlanSource::Blueprint);
    let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        ["site", "cache", "api"],
        "cache must precede api, which reads it"
    );
    let api = plan.service(&name("api")).expect("api");
    assert_eq!(api.kind, ServiceKind::WebService);
    assert_eq!(api.region, Some(Region::Frankfurt));
    assert_eq!(api.health_check_path.as_deref(), Some("/healthz"));
    let sources: Vec<(&str, &EnvVarSource)> = api
        .env_vars
        .iter()
        .map(|v| (v.key.as_ref(), &v.source))
        .collect();
    assert_eq!(
        sources,
        [
            ("SECRET_KEY", &EnvVarSource::Generate),
            ("STRIPE_KEY", &EnvVarSource::UserSupplied),
            (
                "CACHE_URL",
                &EnvVarSource::FromService {
                    service: name("cache"),
                    reference: ServiceValue::Property("hostport".into())
                }
            ),
        ]
    );
    let site = plan.service(&name("site")).expect("site");
    assert_eq!(site.kind, ServiceKind::StaticSite);
    assert_eq!(site.runtime, None);
    assert_eq!(site.publish_path.as_deref(), Some("./dist"));
    let cache = plan.service(&name("cache")).expect("cache");
    assert_eq!(
        (cache.kind, cache.runtime),
        (ServiceKind::PrivateService, Some(Runtime::Docker))
    );
    assert_eq!(
        plan.required_env,
        vec![RequiredEnvVar {
            service: name("api"),
            key: key("STRIPE_KEY"),
            provided: false
        }]
    );
    assert!(plan.unsupported.iter().any(|u| u.contains("database db")));
    assert!(
        plan.unsupported
            .iter()
            .any(|u| u.contains("DATABASE_URL fromDatabase"))
    );
    assert!(
        plan.unsupported
            .iter()
            .any(|u| u.contains("cache: numInstances"))
    );
    assert_eq!(
        plan.blueprint_url.as_deref(),
        Some(
            "https://dashboard.render.com/blueprint/new?repo=https%3A%2F%2Fgithub.com%2Focto%2Fdemo"
        )
    );
    // STRIPE_KEY is read by the code, but the plan asks the user for it: no warning.
    assert!(
        !plan
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::UnsetEnvVar { .. })),
        "{:?}",
        plan.warnings
    );

    let mut request = fixtures::request();
    request.user_env_keys.push(key("STRIPE_KEY"));
    let plan = plan_files(&files, &request).await.expect("plan");
    assert!(plan.required_env[0].provided);
}

#[tokio::test]
async fn blueprint_syntax_error_reports_its_line() {
    let broken =
        "services:\n  - type: web\n    name: api\n    runtime: node\n   startCommand: [npm start\n";
    let err = plan_files(&[("render.yaml", broken)], &fixtures::request())
        .await
        .expect_err("invalid yaml");
    let PlanError::Blueprint { line, .. } = &err else {
        panic!("{err}")
    };
    assert!(matches!(line, Some(4..=6)), "line {line:?}: {err}");
    assert!(err.to_string().contains("line"), "{err}");
}

#[tokio::test]
async fn blueprint_semantic_errors_point_at_lines() {
    let typo =
        "services:\n  - type: web\n    name: api\n    runtime: node\n    startComand: npm start\n";
    let err = plan_files(&[("render.yaml", typo)], &fixtures::request())
        .await
        .expect_err("unknown key");
    assert!(
        matches!(err, PlanError::Blueprint { line: Some(5), .. }),
        "{err}"
    );

    let bad_plan = "services:\n  - type: worker\n    name: jobs\n    runtime: node\n    plan: free\n    buildCommand: npm ci\n    startCommand: node jobs.js\n";
    let err = plan_files(&[("render.yaml", bad_plan)], &fixtures::request())
        .await
        .expect_err("free worker");
    assert!(
        matches!(err, PlanError::Blueprint { line: Some(3), .. }),
        "{err}"
    );

    let cycle = "services:
  - type: web
    name: a
    runtime: node
    buildCommand: npm ci
    startCommand: npm start
    envVars:
      - key: B_HOST
        fromService: {type: web, name: b, property: host}
  - type: web
    name: b
    runtime: node
    buildCommand: npm ci
    startCommand: npm start
    envVars:
      - key: A_HOST
        fromService: {type: web, name: a, property: host}
";
    let err = plan_files(&[("render.yaml", cycle)], &fixtures::request())
        .await
        .expect_err("cycle");
    assert!(err.to_string().contains("cycle"), "{err}");

    let unknown = "services:\n  - type: web\n    name: a\n    runtime: node\n    buildCommand: x\n    startCommand: y\n    envVars:\n      - key: H\n        fromService: {type: web, name: ghost, property: host}\n";
    let err = plan_files(&[("render.yaml", unknown)], &fixtures::request())
        .await
        .expect_err("unknown ref");
    assert!(err.to_string().contains("ghost"), "{err}");
}

#[tokio::test]
async fn warns_about_fixed_ports_and_unset_env_vars() {
    let files = [
        (
            "package.json",
            r#"{"name":"api","scripts":{"start":"node server.js"}}"#,
        ),
        (
            "server.js",
            "const express = require('express');\nconst app = express();\nconst db = process.env.DATABASE_URL;\nconst opt = process.env.OPTIONAL || 'x';\nconst token = process.env.API_TOKEN;\nif (process.env.NODE_ENV === 'production') {}\napp.listen(3000);\n",
        ),
    ];
    let mut request = fixtures::request();
    request.user_env_keys.push(key("API_TOKEN"));
    let plan = plan_files(&files, &request).await.expect("plan");
    assert!(
        plan.warnings.contains(&Warning::FixedPort {
            service: name("demo"),
            file: "server.js".into(),
            line: 7
        }),
        "{:?}",
        plan.warnings
    );
    let unset: Vec<&str> = plan
        .warnings
        .iter()
        .filter_map(|w| match w {
            Warning::UnsetEnvVar { key, .. } => Some(key.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(unset, ["DATABASE_URL"]);

    let go = [
        ("go.mod", "module example.com/hello\n\ngo 1.22\n"),
        (
            "main.go",
            "package main\n\nimport \"net/http\"\n\nfunc main() {\n\thttp.ListenAndServe(\":8080\", nil)\n}\n",
        ),
    ];
    let plan = plan_files(&go, &fixtures::request()).await.expect("plan");
    assert!(
        plan.warnings
            .iter()
            .any(|w| matches!(w, Warning::FixedPort { line: 6, .. })),
        "{:?}",
        plan.warnings
    );
}

#[tokio::test]
async fn php_without_dockerfile_explains_itself() {
    let err = plan_files(
        &[("composer.json", "{}"), ("src/App.php", "<?php\n")],
        &fixtures::request(),
    )
    .await
    .expect_err("nothing to deploy");
    assert!(
        matches!(err, PlanError::NothingDetected { hint: Some(ref h) } if h.contains("Dockerfile")),
        "{err}"
    );
}

#[tokio::test]
async fn overrides_apply_and_refuse_what_does_not_fit() {
    let fixture = fixtures::fixtures()
        .into_iter()
        .find(|f| f.name == "procfile-web-worker")
        .expect("fixture");
    let mut plan = plan_files(&fixture.files, &fixtures::request())
        .await
        .expect("plan");
    let web = name("demo");
    plan.apply_overrides(
        &web,
        Overrides {
            start_command: Some("gunicorn app:app".into()),
            region: Some(Region::Ohio),
            ..Overrides::default()
        },
    )
    .expect("valid override");
    let svc = plan.service(&web).expect("web");
    assert_eq!(svc.start_command.as_deref(), Some("gunicorn app:app"));
    assert_eq!(svc.region, Some(Region::Ohio));
    assert!(
        svc.reasons
            .iter()
            .any(|r| r.field == "start_command" && r.text == "set by you")
    );

    let worker = name("demo-worker");
    let err = plan
        .apply_overrides(
            &worker,
            Overrides {
                plan: Some(InstancePlan::Free),
                ..Overrides::default()
            },
        )
        .expect_err("free worker");
    assert!(matches!(err, PlanError::PlanNotAvailable { .. }));
    let err = plan
        .apply_overrides(
            &web,
            Overrides {
                publish_path: Some("dist".into()),
                ..Overrides::default()
            },
        )
        .expect_err("publish path on a web service");
    assert!(matches!(
        err,
        PlanError::OverrideNotApplicable {
            field: "publish_path",
            ..
        }
    ));
    let err = plan
        .apply_overrides(
            &web,
            Overrides {
                build_command: Some("  ".into()),
                ..Overrides::default()
            },
        )
        .expect_err("empty command");
    assert!(matches!(
        err,
        PlanError::InvalidOverride {
            field: "build_command",
            ..
        }
    ));
    let err = plan
        .apply_overrides(&name("ghost"), Overrides::default())
        .expect_err("unknown service");
    assert!(matches!(err, PlanError::UnknownService(_)));
}

#[tokio::test]
async fn plan_roundtrips_through_json_and_renders_as_text() {
    let files = [("render.yaml", BLUEPRINT)];
    let plan = plan_files(&files, &fixtures::request())
        .await
        .expect("plan");
    let json = serde_json::to_string(&plan).expect("serialize");
    assert!(json.contains("\"kind\":\"static_site\""), "{json}");
    assert!(json.contains("\"source\":\"user_supplied\""), "{json}");
    let back: Plan = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, plan);

    let text = render_text(&plan);
    for needle in [
        "api (web_service, runtime python)",
        "STRIPE_KEY you supply the value",
        "rewrite /* -> /index.html",
        "Values you must supply: STRIPE_KEY (api)",
        "blueprint/new",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[tokio::test]
async fn procfile_worker_and_release_note() {
    let fixture = fixtures::fixtures()
        .into_iter()
        .find(|f| f.name == "procfile-web-worker")
        .expect("fixture");
    let plan = plan_files(&fixture.files, &fixtures::request())
        .await
        .expect("plan");
    assert!(
        plan.services[0]
            .reasons
            .iter()
            .any(|r| r.text.contains("web: line of Procfile"))
    );
    let start_reasons = plan.services[0]
        .reasons
        .iter()
        .filter(|r| r.field == "start_command")
        .count();
    assert_eq!(
        start_reasons, 1,
        "the Procfile line replaces the detected start reason"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.to_string().contains("release:")),
        "{:?}",
        plan.warnings
    );
}

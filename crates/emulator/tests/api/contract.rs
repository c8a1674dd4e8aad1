//! Contract tests: Render answers validate against their operation's response schema in
//! Render's own OpenAPI spec (a copy lives in `tests/fixtures/` so a clean clone has it).
//!
//! OpenAPI 3.0 schemas are translated into JSON Schema first: `nullable: true` becomes a type
//! array with `"null"`, and objects that list `properties` get `additionalProperties: false`
//! so that a misspelt field fails instead of passing unnoticed (the spec's single `allOf` is
//! left alone, since closing its parts would reject each other's fields).

use std::sync::OnceLock;

use emulator::control::{Fault, FaultKind, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{repo, spawn_emulator, web_service};

fn translate(schema: &mut Value, inside_all_of: bool) {
    match schema {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                if let Some(Value::String(kind)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([kind, "null"]));
                }
            }
            let is_object_schema = map.get("properties").is_some_and(Value::is_object);
            if is_object_schema && !inside_all_of && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, value) in map.iter_mut() {
                match key.as_str() {
                    // Property maps and examples hold names and data, not schemas with keywords.
                    "example" | "examples" => {}
                    "allOf" => {
                        if let Value::Array(items) = value {
                            for item in items {
                                translate(item, true);
                            }
                        }
                    }
                    _ => translate(value, false),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| translate(item, false)),
        _ => {}
    }
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/render-openapi.json"
        );
        let text = std::fs::read_to_string(path).expect("spec fixture");
        let mut spec: Value = serde_json::from_str(&text).expect("spec is JSON");
        translate(&mut spec, false);
        spec
    })
}

fn pointer_escape(segment: &str) -> String {
    segment
        .replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// JSON pointer (as a URI fragment) to the JSON schema of `operation_id`'s `status` answer.
fn response_schema_pointer(operation_id: &str, status: u16) -> String {
    let paths = spec()["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            if operation.get("operationId").and_then(Value::as_str) != Some(operation_id) {
                continue;
            }
            let response = &operation["responses"][status.to_string()];
            let base = match response.get("$ref").and_then(Value::as_str) {
                Some(reference) => reference.to_owned(),
                None => format!(
                    "#/paths/{}/{method}/responses/{status}",
                    pointer_escape(path)
                ),
            };
            return format!("{base}/content/application~1json/schema");
        }
    }
    panic!("operation {operation_id} not in the spec");
}

/// The validation errors of `body` against `operation_id`'s `status` answer.
pub fn contract_errors(operation_id: &str, status: u16, body: &Value) -> Vec<String> {
    let mut document = spec().clone();
    document["$ref"] = json!(response_schema_pointer(operation_id, status));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&document)
        .expect("schema compiles");
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

pub fn assert_conforms(operation_id: &str, status: u16, body: &Value) {
    let errors = contract_errors(operation_id, status, body);
    assert!(
        errors.is_empty(),
        "{operation_id} {status} breaks the contract: {errors:#?}\n{body:#}"
    );
}

#[tokio::test]
async fn render_answers_match_the_openapi_spec() {
    let t = spawn_emulator().await;
    let acct = t.account("contract").await;
    let key = &acct.api_key;

    let owners = t
        .render_json(Method::GET, key, "/owners", None, StatusCode::OK)
        .await;
    assert_conforms("list-owners", 200, &owners);
    let owner = t
        .render_json(
            Method::GET,
            key,
            &format!("/owners/{}", acct.owner_id),
            None,
            StatusCode::OK,
        )
        .await;
    assert_conforms("retrieve-owner", 200, &owner);
    let user = t
        .render_json(Method::GET, key, "/users", None, StatusCode::OK)
        .await;
    assert_conforms("get-user", 200, &user);

    // One of each service type.
    let bodies = [
        web_service(&acct.owner_id, "web", "https://github.com/o/web"),
        json!({"type": "static_site", "name": "site", "ownerId": acct.owner_id, "repo": "https://github.com/o/site",
               "serviceDetails": {"buildCommand": "npm run build", "publishPath": "dist"}}),
        json!({"type": "private_service", "name": "api", "ownerId": acct.owner_id, "repo": "https://github.com/o/api",
               "serviceDetails": {"runtime": "docker", "envSpecificDetails": {"dockerfilePath": "./Dockerfile"}}}),
        json!({"type": "background_worker", "name": "worker", "ownerId": acct.owner_id, "repo": "https://github.com/o/w",
               "serviceDetails": {"runtime": "python", "envSpecificDetails": {"buildCommand": "pip install -r requirements.txt", "startCommand": "python worker.py"}}}),
        json!({"type": "cron_job", "name": "nightly", "ownerId": acct.owner_id, "repo": "https://github.com/o/c",
               "serviceDetails": {"runtime": "ruby", "schedule": "0 3 * * *", "envSpecificDetails": {"buildCommand": "bundle install", "startCommand": "rake nightly"}}}),
    ];
    let mut first = None;
    for body in &bodies {
        let created = t
            .render_json(
                Method::POST,
                key,
                "/services",
                Some(body),
                StatusCode::CREATED,
            )
            .await;
        assert_conforms("create-service", 201, &created);
        let id = created["service"]["id"].as_str().expect("id").to_owned();
        let service = t
            .render_json(
                Method::GET,
                key,
                &format!("/services/{id}"),
                None,
                StatusCode::OK,
            )
            .await;
        assert_conforms("retrieve-service", 200, &service);
        first.get_or_insert((
            id,
            created["deployId"].as_str().expect("deployId").to_owned(),
        ));
    }
    let list = t
        .render_json(
            Method::GET,
            key,
            "/services?limit=100",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(list.as_array().expect("array").len(), 5);
    assert_conforms("list-services", 200, &list);

    let (id, deploy_id) = first.expect("a service");
    let patched = t
        .render_json(
            Method::PATCH,
            key,
            &format!("/services/{id}"),
            Some(
                &json!({"branch": "release", "serviceDetails": {"plan": "standard",
                "envSpecificDetails": {"buildCommand": "npm ci", "startCommand": "node main.js"}}}),
            ),
            StatusCode::OK,
        )
        .await;
    assert_conforms("update-service", 200, &patched);
    let deploy = t.wait_for_deploy(key, &id, &deploy_id).await;
    assert_conforms("retrieve-deploy", 200, &deploy);
    let triggered = t
        .render_json(
            Method::POST,
            key,
            &format!("/services/{id}/deploys"),
            Some(&json!({})),
            StatusCode::CREATED,
        )
        .await;
    assert_conforms("create-deploy", 201, &triggered);
    let deploys = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/deploys"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_conforms("list-deploys", 200, &deploys);

    let vars = t
        .render_json(
            Method::PUT,
            key,
            &format!("/services/{id}/env-vars"),
            Some(&json!([{"key": "A", "value": "1"}, {"key": "B", "generateValue": true}])),
            StatusCode::OK,
        )
        .await;
    assert_conforms("update-env-vars-for-service", 200, &vars);
    let vars = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/env-vars"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_conforms("get-env-vars-for-service", 200, &vars);
    let var = t
        .render_json(
            Method::GET,
            key,
            &format!("/services/{id}/env-vars/A"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_conforms("retrieve-env-var", 200, &var);
    let var = t
        .render_json(
            Method::PUT,
            key,
            &format!("/services/{id}/env-vars/C"),
            Some(&json!({"value": "3"})),
            StatusCode::OK,
        )
        .await;
    assert_conforms("update-env-var", 200, &var);

    let logs = t
        .render_json(
            Method::GET,
            key,
            &format!("/logs?ownerId={}&resource={id}&type=build", acct.owner_id),
            None,
            StatusCode::OK,
        )
        .await;
    assert!(!logs["logs"].as_array().expect("logs").is_empty());
    assert_conforms("list-logs", 200, &logs);

    // Error answers follow the error schema too.
    let missing = t
        .render_json(
            Method::GET,
            key,
            "/services/srv-00000000000000000000",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_conforms("retrieve-service", 404, &missing);
    let unauthorized = t
        .render_json(
            Method::GET,
            "rnd_unknown",
            "/services",
            None,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    assert_conforms("list-services", 401, &unauthorized);

    let bad_limit = t
        .render_json(
            Method::GET,
            key,
            &format!("/logs?ownerId={}&resource={id}&limit=500", acct.owner_id),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_conforms("list-logs", 400, &bad_limit);
    let other = t.account("other").await;
    let foreign = t
        .render_json(
            Method::GET,
            key,
            &format!("/logs?ownerId={}&resource={id}", other.owner_id),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_conforms("list-logs", 403, &foreign);
    let bad_body = t
        .render_json(
            Method::POST,
            key,
            "/services",
            Some(&json!({ "type": "web_service" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_conforms("create-service", 400, &bad_body);

    // Injected faults answer in Render's error shape too.
    for (kind, status, expect) in [
        (FaultKind::RateLimit, None, StatusCode::TOO_MANY_REQUESTS),
        (
            FaultKind::Status,
            Some(503),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            FaultKind::Status,
            Some(500),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ] {
        t.control
            .add_fault(&Fault {
                upstream: Upstream::Render,
                path_prefix: "/v1/services".into(),
                kind,
                status,
                delay_ms: None,
                retry_after_s: None,
                count: 1,
            })
            .await
            .expect("fault");
        let answer = t
            .render_json(Method::GET, key, "/services", None, expect)
            .await;
        assert_conforms("list-services", expect.as_u16(), &answer);
    }
}

#[tokio::test]
async fn the_contract_check_catches_a_wrong_name_or_type_but_not_a_missing_optional_field() {
    let t = spawn_emulator().await;
    t.control
        .create_repo(&repo("o", "r", false, &[]))
        .await
        .expect("repo");
    let acct = t.account("negative").await;
    let created = t
        .create_web_service(&acct, "svc", "https://github.com/o/r")
        .await;
    let service = created["service"].clone();
    assert_conforms("retrieve-service", 200, &service);

    let mut renamed = service.clone();
    let slug = renamed
        .as_object_mut()
        .expect("object")
        .remove("slug")
        .expect("slug");
    renamed["slugg"] = slug;
    assert!(
        !contract_errors("retrieve-service", 200, &renamed).is_empty(),
        "renamed field passed"
    );

    let mut extra = service.clone();
    extra["repoUrl"] = json!("https://github.com/o/r");
    assert!(
        !contract_errors("retrieve-service", 200, &extra).is_empty(),
        "unknown field passed"
    );

    let mut wrong_type = service.clone();
    wrong_type["suspended"] = json!(false);
    assert!(
        !contract_errors("retrieve-service", 200, &wrong_type).is_empty(),
        "boolean suspended passed"
    );

    let mut wrong_nested = service.clone();
    wrong_nested["serviceDetails"]["numInstances"] = json!("1");
    assert!(
        !contract_errors("retrieve-service", 200, &wrong_nested).is_empty(),
        "string numInstances passed"
    );

    let mut optional_left_out = service.clone();
    optional_left_out
        .as_object_mut()
        .expect("object")
        .remove("branch");
    assert_conforms("retrieve-service", 200, &optional_left_out);
}

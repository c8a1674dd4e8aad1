//! The OpenAPI document served at `/openapi.json`: every route of
//! DESIGN.md §4 with its method, auth and error answers.

use std::sync::OnceLock;

use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder};

struct Route {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    success: &'static str,
}

const ROUTES: &[Route] = &[
    Route {
        method: HttpMethod::Get,
        path: "/api/auth/github/login",
        summary: "Start GitHub login (302 to GitHub with state and PKCE S256)",
        success: "302",
    },
    Route {
        method: HttpMethod::Get,
        path: "/api/auth/github/callback",
        summary: "GitHub OAuth callback: new session, 302 to return_to",
        success: "302",
    },
    Route {
        method: HttpMethod::Post,
        path: "/api/auth/logout",
        summary: "Destroy this session",
        success: "204",
    },
    Route {
        method: HttpMethod::Post,
        path: "/api/auth/logout-everywhere",
        summary: "Destroy every session of this GitHub user",
        success: "204",
    },
    Route {
        method: HttpMethod::Post,
        path: "/api/render/setup",
        summary: "Verify a Render API key and seal it in the session",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/api/render/status",
        summary: "GitHub identity, Render key status, session expiry, CSRF token",
        success: "200",
    },
    Route {
        method: HttpMethod::Post,
        path: "/api/render/clear-credentials",
        summary: "Drop the sealed Render key",
        success: "200",
    },
    Route {
        method: HttpMethod::Post,
        path: "/api/render/plan",
        summary: "What a deploy would create, and why",
        success: "200",
    },
    Route {
        method: HttpMethod::Post,
        path: "/api/render/deploy",
        summary: "Create or redeploy the planned services",
        success: "202",
    },
    Route {
        method: HttpMethod::Get,
        path: "/api/render/services",
        summary: "The caller's own Render services",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/api/render/my-deployments",
        summary: "The caller's deployment history, newest first",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/api/render/deployments/{id}",
        summary: "One of the caller's deployments",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/api/render/deployments/{id}/events",
        summary: "Server-Sent Events of a deployment's status",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/api/audit/me",
        summary: "The caller's own audit events, newest first",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/healthz",
        summary: "Liveness",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/readyz",
        summary: "Readiness: session store and database reachable",
        success: "200",
    },
    Route {
        method: HttpMethod::Get,
        path: "/metrics",
        summary: "Prometheus metrics (bearer METRICS_TOKEN when set)",
        success: "200",
    },
];

pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut paths = PathsBuilder::new();
        for route in ROUTES {
            let operation = OperationBuilder::new()
                .summary(Some(route.summary))
                .response(route.success, ResponseBuilder::new().description("Success"))
                .response(
                    "default",
                    ResponseBuilder::new().description(
                        "Error: {\"error\":{\"code\",\"message\"}} with a stable code (DESIGN.md §4)",
                    ),
                )
                .build();
            paths = paths.path(route.path, PathItem::new(route.method.clone(), operation));
        }
        let components = ComponentsBuilder::new()
            .security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-session"))),
            )
            .security_scheme(
                "github_bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            )
            .build();
        let doc = OpenApiBuilder::new()
            .info(
                InfoBuilder::new()
                    .title("Render Deployer")
                    .version(env!("CARGO_PKG_VERSION"))
                    .build(),
            )
            .paths(paths.build())
            .components(Some(components))
            .build();
        doc.to_json().unwrap_or_else(|_| "{}".to_owned())
    })
}

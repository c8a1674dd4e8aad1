//! `GET /v1/logs`: the build log of each deploy, revealed line by line as the deploy clock runs.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{RenderError, RenderKey, json_response};
use crate::ids::{parse_time, render_time};
use crate::state::{AppState, Deploy, Service};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

struct LogLine {
    at: OffsetDateTime,
    id: String,
    resource: String,
    level: &'static str,
    message: String,
}

/// What a build prints: a clone, the build command and its outcome.
fn build_script(service: &Service, deploy: &Deploy) -> Vec<(&'static str, String)> {
    let repo = service.repo.as_deref().unwrap_or("(image)");
    let branch = service.branch.as_deref().unwrap_or("main");
    let command = if service.build_command.is_empty() {
        "true"
    } else {
        service.build_command.as_str()
    };
    let mut lines = vec![
        ("info", format!("==> Cloning from {repo}")),
        (
            "info",
            format!(
                "==> Checking out commit {} in branch {branch}",
                deploy.commit_id
            ),
        ),
        ("info", format!("==> Running build command '{command}'...")),
    ];
    if deploy.fails {
        lines.extend([
            ("error", format!("sh: 1: {}: not found", command.split_whitespace().next().unwrap_or(command))),
            ("error", "error: build script exited with code 127".to_owned()),
            ("error", "==> Build failed 😞".to_owned()),
            (
                "info",
                "==> Common ways to troubleshoot your deploy: https://render.com/docs/troubleshooting-deploys"
                    .to_owned(),
            ),
        ]);
    } else {
        lines.extend([
            ("info", "==> Uploading build...".to_owned()),
            ("info", "==> Build successful 🎉".to_owned()),
            ("info", "==> Deploying...".to_owned()),
        ]);
    }
    lines
}

/// Lines are spread over the build phase, so a poll mid-build sees a partial log.
fn deploy_lines(service: &Service, deploy: &Deploy) -> Vec<LogLine> {
    let script = build_script(service, deploy);
    let count = u32::try_from(script.len()).unwrap_or(u32::MAX);
    let build_start = deploy.started_at + deploy.phase;
    script
        .into_iter()
        .enumerate()
        .map(|(i, (level, message))| {
            let step = u32::try_from(i).unwrap_or(u32::MAX);
            LogLine {
                at: build_start + deploy.phase * step / count,
                id: format!("{}-{i:04}", deploy.id),
                resource: service.id.clone(),
                level,
                message,
            }
        })
        .collect()
}

fn line_json(line: &LogLine) -> Value {
    json!({
        "id": line.id,
        "message": line.message,
        "timestamp": render_time(line.at),
        "labels": [
            { "name": "resource", "value": line.resource },
            { "name": "type", "value": "build" },
            { "name": "level", "value": line.level },
        ],
    })
}

pub(crate) async fn list_logs(
    State(state): State<AppState>,
    key: RenderKey,
    RawQuery(raw): RawQuery,
) -> Result<Response, RenderError> {
    let mut owner_id = None;
    let mut resources: Vec<String> = Vec::new();
    let mut types: Vec<String> = Vec::new();
    let mut levels: Vec<String> = Vec::new();
    let mut start = None;
    let mut end = None;
    let mut forward = false;
    let mut limit = DEFAULT_LIMIT;
    let bad = |what: &str| RenderError::BadRequest(format!("invalid {what}"));
    for (name, value) in url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        let list = || {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match name.as_ref() {
            "ownerId" => owner_id = Some(value.to_string()),
            "resource" => resources.extend(list()),
            "type" => types.extend(list()),
            "level" => levels.extend(list()),
            "startTime" => start = Some(parse_time(&value).ok_or_else(|| bad("startTime"))?),
            "endTime" => end = Some(parse_time(&value).ok_or_else(|| bad("endTime"))?),
            "direction" => {
                forward = match value.as_ref() {
                    "forward" => true,
                    "backward" => false,
                    _ => return Err(bad("direction")),
                }
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad("limit"))?;
            }
            _ => {}
        }
    }
    let owner_id = owner_id.ok_or_else(|| RenderError::BadRequest("ownerId is required".into()))?;
    if resources.is_empty() {
        return Err(RenderError::BadRequest("resource is required".into()));
    }
    if !key.reaches(&owner_id) {
        return Err(RenderError::Forbidden(format!(
            "no access to owner {owner_id}"
        )));
    }
    let now = OffsetDateTime::now_utc();
    let end = end.unwrap_or(now).min(now);
    let start = start.unwrap_or(OffsetDateTime::UNIX_EPOCH);

    let mut lines: Vec<LogLine> = Vec::new();
    if types.is_empty() || types.iter().any(|t| t == "build") {
        let guard = state.lock();
        for resource in &resources {
            let Some(service) = guard.service(resource).filter(|s| s.owner_id == owner_id) else {
                continue;
            };
            for deploy in &service.deploys {
                lines.extend(
                    deploy_lines(service, deploy)
                        .into_iter()
                        .filter(|l| l.at >= start && l.at <= end)
                        .filter(|l| levels.is_empty() || levels.iter().any(|v| v == l.level)),
                );
            }
        }
    }
    lines.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    if !forward {
        lines.reverse();
    }
    let has_more = lines.len() > limit;
    lines.truncate(limit);
    let micro = time::Duration::microseconds(1);
    let (next_start, next_end) = match (has_more, lines.last()) {
        (true, Some(last)) if forward => (last.at + micro, end),
        (true, Some(last)) => (start, last.at - micro),
        _ => (start, end),
    };
    Ok(json_response(
        StatusCode::OK,
        json!({
            "hasMore": has_more,
            "nextStartTime": render_time(next_start),
            "nextEndTime": render_time(next_end),
            "logs": lines.iter().map(line_json).collect::<Vec<_>>(),
        }),
    ))
}

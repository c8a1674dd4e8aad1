//! GitHub REST: `GET /user`, `GET /repos/{owner}/{repo}`, contents and git trees.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::GithubError;
use crate::ids::{github_time, object_sha};
use crate::state::{AppState, Repo, State as EmuState};

/// Most entries a recursive tree answer holds before GitHub marks it `truncated`.
const TREE_LIMIT: usize = 100_000;

/// Who is calling: `None` for an anonymous request. Rejects a missing `User-Agent` (403) and
/// an unknown or revoked token (401), as GitHub does.
pub(crate) struct Caller(Option<CallerUser>);

pub(crate) struct CallerUser {
    id: u64,
    login: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = GithubError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let has_user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty());
        if !has_user_agent {
            return Err(GithubError::MissingUserAgent);
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
            })
            .map(|(_, token)| token.trim())
            .ok_or(GithubError::BadCredentials)?;
        let guard = state.lock();
        let user = guard
            .github_tokens
            .get(token)
            .and_then(|id| guard.github_users.get(id))
            .ok_or(GithubError::BadCredentials)?;
        Ok(Self(Some(CallerUser {
            id: user.id,
            login: user.login.clone(),
        })))
    }
}

fn json_response(value: Value) -> Response {
    let mut response = axum::Json(value).into_response();
    super::set_json_content_type(&mut response);
    let headers = response.headers_mut();
    headers.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    headers.insert(
        "x-oauth-scopes",
        HeaderValue::from_static("read:user, repo"),
    );
    response
}

pub(crate) async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, GithubError> {
    let caller = caller.0.ok_or(GithubError::RequiresAuthentication)?;
    let guard = state.lock();
    let user = guard
        .github_users
        .get(&caller.id)
        .ok_or(GithubError::BadCredentials)?;
    let public_repos = guard
        .repos
        .values()
        .filter(|r| r.is_owner(&user.login) && !r.spec.private)
        .count();
    let private_repos = guard
        .repos
        .values()
        .filter(|r| r.is_owner(&user.login) && r.spec.private)
        .count();
    let base = state.base_url();
    let login = &user.login;
    Ok(json_response(json!({
        "login": login,
        "id": user.id,
        "node_id": format!("U_kgDO{:08}", user.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", user.id),
        "gravatar_id": "",
        "url": format!("{base}/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "repos_url": format!("{base}/users/{login}/repos"),
        "type": "User",
        "user_view_type": "private",
        "site_admin": false,
        "name": login,
        "company": null,
        "blog": "",
        "location": null,
        "email": null,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": github_time(user.created_at),
        "updated_at": github_time(user.created_at),
        "private_gists": 0,
        "total_private_repos": private_repos,
        "owned_private_repos": private_repos,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": true,
    })))
}

/// The repo if `caller` may see it; otherwise GitHub's 404, which does not confirm that a
/// private repo exists.
fn visible_repo<'s>(
    state: &'s EmuState,
    owner: &str,
    name: &str,
    caller: &Caller,
) -> Result<&'s Repo, GithubError> {
    let key = format!("{owner}/{name}").to_ascii_lowercase();
    let repo = state.repos.get(&key).ok_or(GithubError::NotFound)?;
    if !repo.spec.private {
        return Ok(repo);
    }
    match &caller.0 {
        Some(user) if repo.is_owner(&user.login) || repo.is_collaborator(&user.login) => Ok(repo),
        _ => Err(GithubError::NotFound),
    }
}

fn head_sha(repo: &Repo) -> String {
    let mut parts: Vec<&[u8]> = vec![b"commit", repo.spec.default_branch.as_bytes()];
    for (path, content) in &repo.spec.files {
        parts.push(path.as_bytes());
        parts.push(content.as_bytes());
    }
    object_sha(&parts)
}

fn blob_sha(content: &str) -> String {
    object_sha(&[b"blob", content.as_bytes()])
}

fn tree_sha(repo: &Repo, dir: &str) -> String {
    object_sha(&[b"tree", dir.as_bytes(), head_sha(repo).as_bytes()])
}

pub(crate) async fn get_repo(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Response, GithubError> {
    let guard = state.lock();
    let repo = visible_repo(&guard, &owner, &name, &caller)?;
    let spec = &repo.spec;
    let owner_id = guard.github_user_by_login(&spec.owner).map_or(0, |u| u.id);
    let full_name = repo.full_name();
    let base = state.base_url();
    let mut body = json!({
        "id": repo.id,
        "node_id": format!("R_kgDO{:08}", repo.id),
        "name": spec.name,
        "full_name": full_name,
        "private": spec.private,
        "visibility": if spec.private { "private" } else { "public" },
        "owner": {
            "login": spec.owner,
            "id": owner_id,
            "type": "User",
            "site_admin": false,
            "url": format!("{base}/users/{}", spec.owner),
            "html_url": format!("https://github.com/{}", spec.owner),
        },
        "html_url": format!("https://github.com/{full_name}"),
        "description": format!("{} (emulated)", spec.name),
        "fork": false,
        "url": format!("{base}/repos/{full_name}"),
        "clone_url": format!("https://github.com/{full_name}.git"),
        "git_url": format!("git://github.com/{full_name}.git"),
        "ssh_url": format!("git@github.com:{full_name}.git"),
        "default_branch": spec.default_branch,
        "archived": false,
        "disabled": false,
        "size": spec.files.values().map(String::len).sum::<usize>() / 1024,
        "language": null,
        "created_at": github_time(repo.created_at),
        "updated_at": github_time(repo.created_at),
        "pushed_at": github_time(repo.created_at),
    });
    if let Some(user) = &caller.0 {
        let owner = repo.is_owner(&user.login);
        let collaborator = owner || repo.is_collaborator(&user.login);
        body["permissions"] = json!({
            "admin": owner,
            "maintain": owner,
            "push": collaborator,
            "triage": collaborator,
            "pull": true,
        });
    }
    Ok(json_response(body))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefQuery {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

fn check_ref(repo: &Repo, git_ref: Option<&str>) -> Result<(), GithubError> {
    match git_ref {
        None => Ok(()),
        Some(r) if repo.spec.has_branch(r) || r == head_sha(repo) => Ok(()),
        Some(r) => Err(GithubError::NoCommitForRef(r.to_owned())),
    }
}

fn wrap_base64(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut wrapped = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for chunk in encoded.as_bytes().chunks(60) {
        wrapped.push_str(&String::from_utf8_lossy(chunk));
        wrapped.push('\n');
    }
    wrapped
}

fn content_entry(base: &str, repo: &Repo, path: &str, file: Option<&str>) -> Value {
    let full_name = repo.full_name();
    let branch = &repo.spec.default_branch;
    let name = path.rsplit('/').next().unwrap_or(path);
    let url = format!("{base}/repos/{full_name}/contents/{path}?ref={branch}");
    let (kind, sha, size, git_url, html_url, download_url) = match file {
        Some(content) => {
            let sha = blob_sha(content);
            (
                "file",
                sha.clone(),
                content.len(),
                format!("{base}/repos/{full_name}/git/blobs/{sha}"),
                format!("https://github.com/{full_name}/blob/{branch}/{path}"),
                json!(format!(
                    "https://raw.githubusercontent.com/{full_name}/{branch}/{path}"
                )),
            )
        }
        None => {
            let sha = tree_sha(repo, path);
            (
                "dir",
                sha.clone(),
                0,
                format!("{base}/repos/{full_name}/git/trees/{sha}"),
                format!("https://github.com/{full_name}/tree/{branch}/{path}"),
                Value::Null,
            )
        }
    };
    json!({
        "type": kind,
        "size": size,
        "name": name,
        "path": path,
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": download_url,
        "_links": { "self": url, "git": git_url, "html": html_url },
    })
}

/// The direct children of `dir` ("" is the root): name → `Some(content)` for a file, `None` for a directory.
fn children<'r>(repo: &'r Repo, dir: &str) -> BTreeMap<String, Option<&'r str>> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut out = BTreeMap::new();
    for (path, content) in &repo.spec.files {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((sub, _)) => {
                out.entry(format!("{prefix}{sub}")).or_insert(None);
            }
            None => {
                out.insert(path.clone(), Some(content.as_str()));
            }
        }
    }
    out
}

fn wants_raw(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/vnd.github.raw"))
}

pub(crate) async fn get_root_contents(
    state: State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    query: Query<RefQuery>,
    headers: HeaderMap,
) -> Result<Response, GithubError> {
    contents(state, caller, owner, name, String::new(), query, headers)
}

pub(crate) async fn get_contents(
    state: State<AppState>,
    caller: Caller,
    Path((owner, name, path)): Path<(String, String, String)>,
    query: Query<RefQuery>,
    headers: HeaderMap,
) -> Result<Response, GithubError> {
    contents(state, caller, owner, name, path, query, headers)
}

fn contents(
    State(state): State<AppState>,
    caller: Caller,
    owner: String,
    name: String,
    path: String,
    Query(query): Query<RefQuery>,
    headers: HeaderMap,
) -> Result<Response, GithubError> {
    let guard = state.lock();
    let repo = visible_repo(&guard, &owner, &name, &caller)?;
    if repo.spec.files.is_empty() {
        return Err(GithubError::EmptyRepository);
    }
    check_ref(repo, query.git_ref.as_deref())?;
    let path = path.trim_matches('/');
    let base = state.base_url();
    if let Some(content) = repo.spec.files.get(path) {
        if wants_raw(&headers) {
            return Ok((
                [(
                    header::CONTENT_TYPE,
                    "application/vnd.github.raw; charset=utf-8",
                )],
                content.clone(),
            )
                .into_response());
        }
        let mut entry = content_entry(base, repo, path, Some(content));
        entry["encoding"] = json!("base64");
        entry["content"] = json!(wrap_base64(content.as_bytes()));
        return Ok(json_response(entry));
    }
    let entries = children(repo, path);
    if entries.is_empty() {
        return Err(GithubError::NotFound);
    }
    let listing: Vec<Value> = entries
        .iter()
        .map(|(entry_path, file)| content_entry(base, repo, entry_path, *file))
        .collect();
    Ok(json_response(Value::Array(listing)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TreeQuery {
    /// Any value at all turns recursion on, even `0` or `false`.
    recursive: Option<String>,
}

pub(crate) async fn get_tree(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, tree_ref)): Path<(String, String, String)>,
    Query(query): Query<TreeQuery>,
) -> Result<Response, GithubError> {
    let guard = state.lock();
    let repo = visible_repo(&guard, &owner, &name, &caller)?;
    if repo.spec.files.is_empty() {
        return Err(GithubError::EmptyGitRepository);
    }
    let root_sha = tree_sha(repo, "");
    if !repo.spec.has_branch(&tree_ref) && tree_ref != head_sha(repo) && tree_ref != root_sha {
        return Err(GithubError::NotFound);
    }
    let base = state.base_url();
    let full_name = repo.full_name();
    let mut entries: BTreeMap<String, Option<&str>> = BTreeMap::new();
    if query.recursive.is_some() {
        for (path, content) in &repo.spec.files {
            let mut dir = path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                entries.entry(parent.to_owned()).or_insert(None);
                dir = parent;
            }
            entries.insert(path.clone(), Some(content.as_str()));
        }
    } else {
        entries = children(repo, "");
    }
    let truncated = entries.len() > TREE_LIMIT;
    let tree: Vec<Value> = entries
        .iter()
        .take(TREE_LIMIT)
        .map(|(path, file)| match file {
            Some(content) => {
                let sha = blob_sha(content);
                json!({
                    "path": path, "mode": "100644", "type": "blob", "sha": sha,
                    "size": content.len(),
                    "url": format!("{base}/repos/{full_name}/git/blobs/{sha}"),
                })
            }
            None => {
                let sha = tree_sha(repo, path);
                json!({
                    "path": path, "mode": "040000", "type": "tree", "sha": sha,
                    "url": format!("{base}/repos/{full_name}/git/trees/{sha}"),
                })
            }
        })
        .collect();
    Ok(json_response(json!({
        "sha": root_sha,
        "url": format!("{base}/repos/{full_name}/git/trees/{root_sha}"),
        "tree": tree,
        "truncated": truncated,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_wrapped_at_60_columns() {
        let wrapped = wrap_base64(&[b'x'; 100]);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert_eq!(lines[0].len(), 60);
        assert!(wrapped.ends_with('\n'));
        let joined: String = lines.concat();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .expect("valid base64");
        assert_eq!(decoded, vec![b'x'; 100]);
    }
}

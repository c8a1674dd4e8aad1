//! GitHub REST client: the signed-in user, repository access, and a read-only
//! repository snapshot (one recursive tree call plus raw marker files) for
//! the planner.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::transport::{BodyError, Transport, read_capped};
use super::{Upstream, UpstreamError};
use crate::plan::source::{
    EntryKind, MAX_MARKER_FILE_BYTES, RepoSource, RepoTree, SourceError, TreeEntry,
};

const API_VERSION_HEADER: HeaderName = HeaderName::from_static("x-github-api-version");
const API_VERSION: &str = "2022-11-28";
const JSON_MEDIA_TYPE: &str = "application/vnd.github+json";
/// File bodies as raw bytes rather than base64-wrapped JSON.
const RAW_MEDIA_TYPE: &str = "application/vnd.github.raw+json";

/// The signed-in user. Accounts are keyed by `id`, never by `login`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitHubUser {
    pub id: u64,
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// A repository the token can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    pub full_name: String,
    pub private: bool,
    pub default_branch: String,
    pub description: Option<String>,
    pub html_url: String,
    /// The token may read the code. GitHub omits `permissions` for some
    /// tokens; a repository it returned at all is then readable.
    pub can_pull: bool,
}

#[derive(Deserialize)]
struct RepoWire {
    full_name: String,
    private: bool,
    default_branch: String,
    #[serde(default)]
    description: Option<String>,
    html_url: String,
    #[serde(default)]
    permissions: Option<PermissionsWire>,
}

#[derive(Deserialize)]
struct PermissionsWire {
    pull: bool,
}

#[derive(Deserialize)]
struct TreeWire {
    #[serde(default)]
    truncated: bool,
    tree: Vec<TreeEntryWire>,
}

#[derive(Deserialize)]
struct TreeEntryWire {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    size: Option<u64>,
}

#[async_trait]
pub trait GitHubApi: Send + Sync {
    async fn current_user(&self, token: &SecretString) -> Result<GitHubUser, UpstreamError>;
    /// `NotFound` also when the token may not see it (GitHub hides private repos).
    async fn repository(
        &self,
        token: &SecretString,
        owner: &str,
        name: &str,
    ) -> Result<RepoInfo, UpstreamError>;
    /// Every path at `git_ref`, from one recursive tree call.
    async fn tree(
        &self,
        token: &SecretString,
        owner: &str,
        name: &str,
        git_ref: &str,
    ) -> Result<RepoTree, SourceError>;
    /// One file's text, `None` when no file exists at `path` (a directory is not a file).
    async fn file(
        &self,
        token: &SecretString,
        owner: &str,
        name: &str,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<String>, SourceError>;
}

/// [`GitHubApi`] over HTTP.
#[derive(Clone)]
pub struct GitHubClient {
    transport: Transport,
}

impl fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubClient").finish_non_exhaustive()
    }
}

impl GitHubClient {
    /// `api_base` is `https://api.github.com` (or the emulator); `timeout`
    /// bounds both connecting and each whole request.
    pub fn new(api_base: &Url, timeout: Duration) -> Self {
        Self {
            transport: Transport::new(Upstream::GitHub, api_base, timeout),
        }
    }

    async fn get<'s>(
        &self,
        token: &SecretString,
        segments: impl IntoIterator<Item = &'s str>,
        query: &[(&str, &str)],
        accept: &str,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = self.transport.url(segments)?;
        let request = self
            .transport
            .http()
            .get(url)
            .query(query)
            .header(ACCEPT, accept)
            .header(API_VERSION_HEADER, API_VERSION)
            .bearer_auth(token.expose_secret());
        self.transport.send(request).await
    }
}

#[async_trait]
impl GitHubApi for GitHubClient {
    #[tracing::instrument(skip_all, fields(upstream = "github", op = "current_user"))]
    async fn current_user(&self, token: &SecretString) -> Result<GitHubUser, UpstreamError> {
        let response = self.get(token, ["user"], &[], JSON_MEDIA_TYPE).await?;
        self.transport.json(response).await
    }

    #[tracing::instrument(skip_all, fields(upstream = "github", op = "repository", repo.owner = %owner, repo.name = %name))]
    async fn repository(
        &self,
        token: &SecretString,
        owner: &str,
        name: &str,
    ) -> Result<RepoInfo, UpstreamError> {
        let response = self
            .get(token, ["repos", owner, name], &[], JSON_MEDIA_TYPE)
            .await?;
        let wire: RepoWire = self.transport.json(response).await?;
        Ok(RepoInfo {
            full_name: wire.full_name,
            private: wire.private,
            default_branch: wire.default_branch,
            description: wire.description,
            html_url: wire.html_url,
            can_pull: wire.permissions.is_none_or(|permissions| permissions.pull),
        })
    }

    #[tracing::instrument(skip_all, fields(upstream = "github", op = "tree", repo.owner = %owner, repo.name = %name))]
    async fn tree(
        &self,
        token: &SecretString,
        owner: &str,
        name: &str,
        git_ref: &str,
    ) -> Result<RepoTree, SourceError> {
        let response = self
            .get(
                token,
                ["repos", owner, name, "git", "trees", git_ref],
                // Any value turns recursion on.
                &[("recursive", "1")],
                JSON_MEDIA_TYPE,
            )
            .await
            .map_err(|error| match error {
                UpstreamError::NotFound(_) => SourceError::RepoNotFound,
                // "Git Repository is empty."
                UpstreamError::Conflict(_) => SourceError::Empty,
                other => SourceError::Upstream(other),
            })?;
        let wire: TreeWire = self.transport.json(response).await?;
        let entries = wire
            .tree
            .into_iter()
            .filter_map(|entry| {
                let kind = match entry.kind.as_str() {
                    "blob" => EntryKind::File,
                    "tree" => EntryKind::Dir,
                    // Submodules (`commit`) have no content in this repository.
                    _ => return None,
                };
                Some(TreeEntry {
                    path: entry.path,
                    kind,
                    size: entry.size.filter(|_| kind == EntryKind::File),
                })
            })
            .collect();
        Ok(RepoTree {
            entries,
            truncated: wire.truncated,
        })
    }

    #[tracing::instrument(skip_all, fields(upstream = "github", op = "file", repo.owner = %owner, repo.name = %name, file.path = %path))]
    async fn file(
        &self,
        token: &SecretString,
        owner: &str,
        name: &str,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<String>, SourceError> {
        let segments = ["repos", owner, name, "contents"]
            .into_iter()
            .chain(path.split('/'));
        let response = match self
            .get(token, segments, &[("ref", git_ref)], RAW_MEDIA_TYPE)
            .await
        {
            Ok(response) => response,
            Err(UpstreamError::NotFound(_)) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        // With the raw media type a file comes back as raw bytes
        // (`application/vnd.github.v3.raw`); `application/json` means the path
        // is a directory (a listing) or a submodule, not a file.
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if is_json {
            return Ok(None);
        }
        let cap = usize::try_from(MAX_MARKER_FILE_BYTES).unwrap_or(usize::MAX);
        let bytes = read_capped(response, cap)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => SourceError::TooLarge {
                    path: path.to_owned(),
                },
                BodyError::Upstream(reason) => self.transport.unavailable(reason).into(),
            })?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| SourceError::NotText {
                path: path.to_owned(),
            })
    }
}

/// One repository at one ref, read through the user's GitHub token: what the
/// planner reads when deploying.
pub struct GitHubRepoSource {
    api: Arc<dyn GitHubApi>,
    token: SecretString,
    owner: String,
    name: String,
    git_ref: String,
}

impl GitHubRepoSource {
    pub fn new(
        api: Arc<dyn GitHubApi>,
        token: SecretString,
        owner: impl Into<String>,
        name: impl Into<String>,
        git_ref: impl Into<String>,
    ) -> Self {
        Self {
            api,
            token,
            owner: owner.into(),
            name: name.into(),
            git_ref: git_ref.into(),
        }
    }
}

impl fmt::Debug for GitHubRepoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubRepoSource")
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("git_ref", &self.git_ref)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RepoSource for GitHubRepoSource {
    async fn tree(&self) -> Result<RepoTree, SourceError> {
        self.api
            .tree(&self.token, &self.owner, &self.name, &self.git_ref)
            .await
    }

    async fn read_file(&self, path: &str) -> Result<Option<String>, SourceError> {
        self.api
            .file(&self.token, &self.owner, &self.name, path, &self.git_ref)
            .await
    }
}

//! Where the planner reads a repository from: GitHub through the user's token,
//! or a local checkout for `deployer plan <dir>`. Same detection code for both.

use async_trait::async_trait;

use crate::upstream::UpstreamError;

/// Marker files larger than this are not read: detection never needs them and
/// GitHub's contents API stops serving base64 bodies at 1 MB.
pub const MAX_MARKER_FILE_BYTES: u64 = 512 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
}

/// One path of a recursive listing, relative to the repository root, `/`-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    /// Size in bytes for files, when the source knows it.
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoTree {
    pub entries: Vec<TreeEntry>,
    /// The source gave up listing (GitHub's 100,000-entry limit): detection
    /// still runs on what was listed, and the plan says so.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("repository not found or not accessible")]
    RepoNotFound,
    #[error("repository is empty")]
    Empty,
    #[error("file {path} is larger than {MAX_MARKER_FILE_BYTES} bytes")]
    TooLarge { path: String },
    #[error("file {path} is not UTF-8 text")]
    NotText { path: String },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("cannot read local checkout: {0}")]
    Io(#[from] std::io::Error),
}

/// A read-only snapshot of one repository at one ref.
#[async_trait]
pub trait RepoSource: Send + Sync {
    /// Every path in the repository, listed once (one recursive tree call on GitHub).
    async fn tree(&self) -> Result<RepoTree, SourceError>;
    /// The text of one file, `None` when it does not exist.
    async fn read_file(&self, path: &str) -> Result<Option<String>, SourceError>;
}

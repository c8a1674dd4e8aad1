//! [`RepoSource`] over a local directory, for `deployer plan <dir>` and tests.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::source::{
    EntryKind, MAX_MARKER_FILE_BYTES, RepoSource, RepoTree, SourceError, TreeEntry,
};
use crate::domain::names::RootDir;

/// Directories that are never part of what GitHub would serve for a pushed
/// repo (VCS data, installed dependencies, build output), so skipping them
/// keeps a local plan identical to the GitHub one.
const SKIPPED_DIRS: &[&str] = &[".git", "node_modules", "target", ".venv", "__pycache__"];

/// GitHub stops a recursive tree at about this many entries; do the same.
const MAX_ENTRIES: usize = 100_000;

pub struct FsSource {
    root: PathBuf,
}

impl FsSource {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }
}

fn walk(root: &Path) -> Result<RepoTree, std::io::Error> {
    let mut tree = RepoTree::default();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let mut entries = std::fs::read_dir(&dir)?.collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // GitHub paths are UTF-8; such a file could not be pushed as-is.
            };
            // Symlinks are not followed: they could point outside the checkout.
            let file_type = entry.file_type()?;
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if tree.entries.len() >= MAX_ENTRIES {
                tree.truncated = true;
                return Ok(tree);
            }
            if file_type.is_dir() {
                if SKIPPED_DIRS.contains(&name.as_str()) {
                    continue;
                }
                tree.entries.push(TreeEntry {
                    path: path.clone(),
                    kind: EntryKind::Dir,
                    size: None,
                });
                pending.push((entry.path(), path));
            } else if file_type.is_file() {
                tree.entries.push(TreeEntry {
                    path,
                    kind: EntryKind::File,
                    size: Some(entry.metadata()?.len()),
                });
            }
        }
    }
    Ok(tree)
}

#[async_trait]
impl RepoSource for FsSource {
    async fn tree(&self) -> Result<RepoTree, SourceError> {
        let root = self.root.clone();
        let tree = tokio::task::spawn_blocking(move || walk(&root))
            .await
            .map_err(|e| SourceError::Io(std::io::Error::other(e)))??;
        if tree.entries.is_empty() {
            return Err(SourceError::Empty);
        }
        Ok(tree)
    }

    async fn read_file(&self, path: &str) -> Result<Option<String>, SourceError> {
        // The same rules as a root directory: relative, no `..`, so a path can
        // never leave the checkout.
        if RootDir::parse(path).is_err() {
            return Ok(None);
        }
        let full = self.root.join(path);
        let meta = match tokio::fs::symlink_metadata(&full).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !meta.is_file() {
            return Ok(None);
        }
        if meta.len() > MAX_MARKER_FILE_BYTES {
            return Err(SourceError::TooLarge {
                path: path.to_owned(),
            });
        }
        let bytes = tokio::fs::read(&full).await?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| SourceError::NotText {
                path: path.to_owned(),
            })
    }
}

//! The planner's view of a repository: the one tree listing, plus file reads
//! that are cached, size-checked and capped so a plan costs a bounded number of
//! upstream calls.

use std::collections::{BTreeSet, HashMap};

use super::source::{EntryKind, MAX_MARKER_FILE_BYTES, RepoSource, RepoTree, SourceError};

/// At most this many file reads per plan (GitHub contents calls), whatever the repo holds.
const MAX_FILE_READS: usize = 80;

pub(crate) struct Repo<'a> {
    source: &'a dyn RepoSource,
    files: HashMap<String, Option<u64>>,
    dirs: BTreeSet<String>,
    cache: HashMap<String, Option<String>>,
    reads_left: usize,
    pub(crate) truncated: bool,
    /// Set when a read was skipped because the budget ran out.
    pub(crate) budget_exhausted: bool,
}

impl<'a> Repo<'a> {
    pub(crate) async fn load(source: &'a dyn RepoSource) -> Result<Repo<'a>, SourceError> {
        let RepoTree { entries, truncated } = source.tree().await?;
        let mut files = HashMap::new();
        let mut dirs = BTreeSet::new();
        for entry in entries {
            match entry.kind {
                EntryKind::File => {
                    files.insert(entry.path, entry.size);
                }
                EntryKind::Dir => {
                    dirs.insert(entry.path);
                }
            }
        }
        // Some sources list only files; every file's parents are directories too.
        let parents: Vec<String> = files
            .keys()
            .flat_map(|p| {
                p.match_indices('/')
                    .map(|(i, _)| p[..i].to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        dirs.extend(parents);
        Ok(Repo {
            source,
            files,
            dirs,
            cache: HashMap::new(),
            reads_left: MAX_FILE_READS,
            truncated,
            budget_exhausted: false,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    pub(crate) fn dir_exists(&self, path: &str) -> bool {
        self.dirs.contains(path)
    }

    /// Files directly inside `dir` ("" for the root), as full paths, sorted.
    pub(crate) fn files_in(&self, dir: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .files
            .keys()
            .map(String::as_str)
            .filter(|p| parent(p) == dir)
            .collect();
        out.sort_unstable();
        out
    }

    /// Directories directly inside `dir` ("" for the root), as full paths, sorted.
    pub(crate) fn subdirs(&self, dir: &str) -> Vec<&str> {
        self.dirs
            .iter()
            .map(String::as_str)
            .filter(|p| parent(p) == dir)
            .collect()
    }

    /// Every file under `dir` (at any depth), sorted.
    pub(crate) fn files_under(&self, dir: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .files
            .keys()
            .map(String::as_str)
            .filter(|p| dir.is_empty() || p.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
            .collect();
        out.sort_unstable();
        out
    }

    /// The text of `path`, or `None` when it is missing, too large, not text,
    /// or the read budget is spent. Only source failures are errors.
    pub(crate) async fn read(&mut self, path: &str) -> Result<Option<String>, SourceError> {
        if let Some(text) = self.cache.get(path) {
            return Ok(text.clone());
        }
        let text = self.fetch(path).await?;
        self.cache.insert(path.to_owned(), text.clone());
        Ok(text)
    }

    async fn fetch(&mut self, path: &str) -> Result<Option<String>, SourceError> {
        match self.files.get(path) {
            None => return Ok(None),
            Some(Some(size)) if *size > MAX_MARKER_FILE_BYTES => return Ok(None),
            Some(_) => {}
        }
        if self.reads_left == 0 {
            self.budget_exhausted = true;
            return Ok(None);
        }
        self.reads_left -= 1;
        match self.source.read_file(path).await {
            Ok(text) => Ok(text),
            Err(SourceError::TooLarge { .. } | SourceError::NotText { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `a/b/c` → `a/b`; `c` → ``.
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// `dir` joined with `name`, where either may be empty (the root, or `dir` itself).
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else if name.is_empty() {
        dir.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

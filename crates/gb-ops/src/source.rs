//! [`CopySource`]: the tree a copy reads, seen through the context's `.dockerignore` patterns.

use std::path::Path;

use gb_patterns::PatternMatcher;

use crate::error::{FileOpError, Result};
use crate::paths::relative_str;

/// Where a copy reads from: a host directory (a mounted snapshot, or the build context) and,
/// for the context, Docker exclude patterns.
///
/// Excluded paths behave as if they were absent, as they are in BuildKit, where the context is
/// transferred already filtered: naming one is "not found", wildcards do not match it, and an
/// excluded directory exists only when an `!` exception re-includes something below it.
#[derive(Debug, Clone, Copy)]
pub struct CopySource<'a> {
    /// The source's root directory on the host.
    pub root: &'a Path,
    /// `.dockerignore` patterns, relative to `root`.
    pub exclude: Option<&'a PatternMatcher>,
    /// The tree is the client's (the build context), read as BuildKit receives one: a socket in
    /// it arrives as an empty regular file, as fsutil sends it.
    pub from_client: bool,
}

impl<'a> CopySource<'a> {
    /// A source without exclude patterns.
    pub fn new(root: &'a Path) -> Self {
        Self { root, exclude: None, from_client: false }
    }

    /// The build context: paths matching `exclude` are hidden, sockets are empty files.
    pub fn with_exclude(root: &'a Path, exclude: &'a PatternMatcher) -> Self {
        Self { root, exclude: Some(exclude), from_client: true }
    }

    /// The path of `host` relative to the root, as the exclude patterns see it.
    pub(crate) fn relative(&self, host: &Path) -> String {
        relative_str(self.root, host)
    }

    /// Whether the patterns exclude the path itself (its descendants may still be re-included).
    pub(crate) fn excluded(&self, relative: &str) -> bool {
        self.exclude.is_some_and(|matcher| matcher.matches(relative))
    }

    /// Whether an excluded directory may hold re-included paths, so a walk must look inside.
    pub(crate) fn may_contain_included(&self, relative: &str) -> bool {
        self.exclude.is_none_or(|matcher| matcher.may_contain_included(relative))
    }

    /// Whether `host` (below the root) exists in the filtered view: it is not excluded, or it is
    /// a directory holding something that is not.
    pub(crate) fn visible(&self, host: &Path) -> Result<bool> {
        let relative = self.relative(host);
        if !self.excluded(&relative) {
            return Ok(true);
        }
        let is_dir = std::fs::symlink_metadata(host).is_ok_and(|meta| meta.is_dir());
        if !is_dir || !self.may_contain_included(&relative) {
            return Ok(false);
        }
        let entries = std::fs::read_dir(host).map_err(|err| FileOpError::io("read directory", host, err))?;
        for entry in entries {
            let entry = entry.map_err(|err| FileOpError::io("read directory", host, err))?;
            if self.visible(&entry.path())? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

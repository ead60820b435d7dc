//! In-image paths joined onto host roots: lexical cleaning and symlink resolution that never leaves the root.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{FileOpError, Result};

/// Linux's own limit on symlinks followed in one lookup (`MAXSYMLINKS` is 40; securejoin and
/// continuity allow 255). A loop is reported as [`FileOpError::TooManyLinks`] either way.
const MAX_LINKS: usize = 255;

/// What to do with a `..` (in the path or in a link target) that would climb above the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// Stay at the root, as `/..` is `/` (securejoin, image paths).
    Clamp,
    /// Fail: an archive entry or link that points outside is an attack, not a path.
    Reject,
}

/// Cleans an in-image path as Go's `path.Clean("/" + p)` and returns it without the leading `/`
/// (`""` for the root): `..` never climbs above the root.
pub(crate) fn clean_relative(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

/// [`clean_relative`] with a leading `/`: how paths are shown in messages.
pub(crate) fn clean_absolute(path: &str) -> String {
    format!("/{}", clean_relative(path))
}

/// Joins an absolute in-image path onto a root, resolving symlinks *inside* the root (like Go's
/// securejoin or continuity's `fs.RootPath`): `..` and absolute link targets never leave the
/// root. With `follow_last` false a symlink in the last component is kept, so the result names
/// the link itself. Components that do not exist are joined as they are.
pub fn resolve_in_root(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf, FileOpError> {
    // The path itself is cleaned lexically first (BuildKit joins it onto `/`), so `/link/..` is
    // `/`; `..` in link targets counts from where the link is.
    let parts = resolve_parts(root, Path::new(&clean_relative(path)), follow_last, Escape::Clamp)
        .map_err(|err| err.into_error(path))?
        .unwrap_or_default();
    Ok(join(root, &parts))
}

/// Joins resolved components onto a root.
pub(crate) fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut out = root.to_path_buf();
    out.extend(parts);
    out
}

/// Why [`resolve_parts`] failed, turned into a [`FileOpError`] by the caller, who knows what the
/// path means.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// Too many links.
    Loop,
    /// Lstat or readlink failed for a reason other than absence.
    Io(PathBuf, io::Error),
}

impl ResolveError {
    /// The error for resolving the in-image `path`.
    pub(crate) fn into_error(self, path: &str) -> FileOpError {
        match self {
            Self::Loop => FileOpError::TooManyLinks { path: path.to_owned() },
            Self::Io(host, source) => FileOpError::io("lstat", host, source),
        }
    }
}

/// Resolves `path` (absolute or relative, both meaning "from the root") below `root`, following
/// symlinks whose targets are read as paths in the same root. Returns the resolved components,
/// or `None` when a `..` (in the path or a link) climbs above the root under [`Escape::Reject`].
pub(crate) fn resolve_parts(
    root: &Path,
    path: &Path,
    follow_last: bool,
    escape: Escape,
) -> Result<Option<Vec<OsString>>, ResolveError> {
    let mut queue: VecDeque<OsString> = VecDeque::new();
    push_front(&mut queue, path);
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = queue.pop_front() {
        if part == ".." {
            if resolved.pop().is_none() && escape == Escape::Reject {
                return Ok(None);
            }
            continue;
        }
        let last = queue.is_empty();
        if last && !follow_last {
            resolved.push(part);
            break;
        }
        let candidate = join(root, &resolved).join(&part);
        let is_link = match std::fs::symlink_metadata(&candidate) {
            Ok(meta) => meta.file_type().is_symlink(),
            // A missing component (or one below a file) is joined lexically, as securejoin does.
            Err(err) if matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => false,
            Err(err) => return Err(ResolveError::Io(candidate, err)),
        };
        if !is_link {
            resolved.push(part);
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(ResolveError::Loop);
        }
        let target = std::fs::read_link(&candidate).map_err(|err| ResolveError::Io(candidate.clone(), err))?;
        if target.has_root() {
            resolved.clear();
        }
        push_front(&mut queue, &target);
    }
    Ok(Some(resolved))
}

/// Puts the components of `path` in front of `queue`, dropping `/` and `.`.
fn push_front(queue: &mut VecDeque<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for part in parts.into_iter().rev() {
        queue.push_front(part);
    }
}

/// The in-image path (`/a/b`) of a host path below `root`, for messages and for matching
/// patterns; `/` for the root itself or a path outside it.
pub(crate) fn image_path(root: &Path, host: &Path) -> String {
    format!("/{}", relative_str(root, host))
}

/// The `/`-separated path of `host` relative to `root` (`""` for the root).
pub(crate) fn relative_str(root: &Path, host: &Path) -> String {
    host.strip_prefix(root).map(|rel| rel.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The last component of a cleaned relative path (`""` for the root).
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A component as an `OsStr`, for names that came from `str` paths.
pub(crate) fn os(name: &str) -> &OsStr {
    OsStr::from_bytes(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::clean_relative;

    #[test]
    fn cleaning_never_climbs_above_the_root() {
        for (input, want) in [
            ("", ""),
            ("/", ""),
            ("a/b/", "a/b"),
            ("/a/./b", "a/b"),
            ("../../a", "a"),
            ("a/../../b", "b"),
            ("a//b/..", "a"),
        ] {
            assert_eq!(clean_relative(input), want, "clean_relative({input:?})");
        }
    }
}

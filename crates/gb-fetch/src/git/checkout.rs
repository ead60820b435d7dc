//! Checking out a remote at a ref: a shallow fetch of just that ref into a fresh repository, a
//! detached checkout, then BuildKit's `subdir` and `keep_git_dir` treatment of the result.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::command::{Git, refused_shallow};
use super::refs::{self, Target};
use crate::error::FetchError;
use crate::redact::redact_credentials;

/// Checks out `remote` at `reference` (a branch, tag or full commit hash; the remote's default
/// branch when `None`) into `dest_dir`, which must be empty or missing, and returns the commit.
///
/// Only the ref is fetched, with `--depth 1` (a full fetch when the server refuses a shallow one,
/// or refuses to serve a commit that no ref it advertises points at). Submodules are checked out
/// too when the repository has any (never from `file://` URLs). With `subdir`, only that
/// directory's content ends up in `dest_dir`, and no `.git` (as BuildKit, which keeps the git
/// directory only for whole checkouts). Otherwise `.git` is removed unless `keep_git_dir`; a kept
/// one has HEAD detached at the commit, the fetched ref, and `origin` set to the remote with its
/// credentials redacted.
///
/// `checksum` is the expected commit, in full or a prefix; for an annotated tag the tag object's
/// hash is accepted too (as BuildKit). On any failure `dest_dir` is left as it was found.
pub fn fetch_git(
    remote: &str,
    reference: Option<&str>,
    subdir: Option<&str>,
    keep_git_dir: bool,
    checksum: Option<&str>,
    dest_dir: &Path,
) -> Result<String, FetchError> {
    refs::check_remote(remote)?;
    if let Some(reference) = reference {
        refs::check_reference(reference)?;
    }
    let subdir = subdir.map(normalize_subdir).transpose()?.flatten();
    let checksum = checksum.map(normalize_checksum).transpose()?;

    let mut dest = Destination::prepare(dest_dir)?;
    let work_dir = match subdir {
        None => dest_dir.to_path_buf(),
        Some(_) => {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = dest_dir.join(format!(".gb-fetch-checkout-{}-{unique}", std::process::id()));
            fs::create_dir(&dir).map_err(|source| FetchError::io("create", &dir, source))?;
            dir
        }
    };
    let git = Git::new(&work_dir, remote);

    git.run(&["init", "--quiet", "--template="])?;
    git.run(&["remote", "add", "origin", remote])?;
    let target = refs::resolve(&git, "origin", reference)?;
    let fetched = fetch(&git, &target)?;
    if let Some(expected) = &checksum
        && !fetched.commit.starts_with(expected.as_str())
        && !fetched.object.starts_with(expected.as_str())
    {
        return Err(FetchError::CommitMismatch {
            remote: git.shown_remote().to_owned(),
            expected: expected.clone(),
            actual: fetched.commit,
        });
    }
    git.run(&["checkout", "--quiet", "--detach", &fetched.commit])?;
    if work_dir.join(".gitmodules").is_file() {
        let mut args = vec!["submodule", "update", "--init", "--recursive", "--depth=1"];
        if let Err(error) = git.run(&args) {
            if !refused_shallow(&error) {
                return Err(error);
            }
            args.retain(|arg| *arg != "--depth=1");
            git.run(&args)?;
        }
    }

    match &subdir {
        Some(subdir) => {
            move_subdir(&work_dir, subdir, dest_dir).map_err(|error| match error {
                MoveError::NotADirectory => FetchError::SubdirNotFound {
                    remote: git.shown_remote().to_owned(),
                    subdir: subdir.clone(),
                    commit: fetched.commit.clone(),
                },
                MoveError::Io(error) => error,
            })?;
            fs::remove_dir_all(&work_dir).map_err(|source| FetchError::io("remove", &work_dir, source))?;
        }
        None if keep_git_dir => {
            git.run(&["remote", "set-url", "origin", &redact_credentials(remote)])?;
            git.run(&["reflog", "expire", "--all", "--expire=now"])?;
            let fetch_head = work_dir.join(".git/FETCH_HEAD");
            fs::remove_file(&fetch_head).map_err(|source| FetchError::io("remove", &fetch_head, source))?;
        }
        None => {
            let git_dir = work_dir.join(".git");
            fs::remove_dir_all(&git_dir).map_err(|source| FetchError::io("remove", &git_dir, source))?;
        }
    }
    dest.keep();
    Ok(fetched.commit)
}

/// What a fetch brought in.
struct FetchedRef {
    /// The commit to check out.
    commit: String,
    /// The object the ref points at: the commit, or an annotated tag.
    object: String,
}

/// Fetches `target` into the repository and says which commit it is.
fn fetch(git: &Git<'_>, target: &Target) -> Result<FetchedRef, FetchError> {
    match target {
        Target::Named { name, .. } => {
            // Fetch into the same ref name so a kept `.git` has the branch or tag; the remote's
            // detached HEAD is fetched into FETCH_HEAD only.
            let refspec = if name.starts_with("refs/") { format!("+{name}:{name}") } else { name.clone() };
            let shallow = ["fetch", "--quiet", "--no-tags", "--update-head-ok", "--depth=1", "origin", &refspec];
            if let Err(error) = git.run(&shallow) {
                if !refused_shallow(&error) {
                    return Err(error);
                }
                git.run(&["fetch", "--quiet", "--no-tags", "--update-head-ok", "origin", &refspec])?;
            }
            let object = git.run(&["rev-parse", "--verify", "--quiet", "FETCH_HEAD"])?.trim().to_owned();
            let commit = git.run(&["rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"])?.trim().to_owned();
            Ok(FetchedRef { commit, object })
        }
        Target::Commit(commit) => {
            // Servers may refuse a commit no advertised ref points at, or shallow fetches at all;
            // then every branch and tag is fetched in full and the commit looked for among them.
            if git.run(&["fetch", "--quiet", "--no-tags", "--depth=1", "origin", commit]).is_err() {
                git.run(&[
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--update-head-ok",
                    "origin",
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*",
                ])?;
            }
            let peeled = format!("{commit}^{{commit}}");
            let resolved = git.run(&["rev-parse", "--verify", "--quiet", &peeled]).map_err(|_| {
                FetchError::RefNotFound { remote: git.shown_remote().to_owned(), reference: commit.clone() }
            })?;
            let resolved = resolved.trim().to_owned();
            Ok(FetchedRef { object: resolved.clone(), commit: resolved })
        }
    }
}

/// `subdir` as BuildKit cleans it: relative, no `.` parts, `None` for the root. `..` is refused
/// (it would leave the checkout).
fn normalize_subdir(subdir: &str) -> Result<Option<String>, FetchError> {
    let mut parts = Vec::new();
    for part in subdir.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(FetchError::InvalidGitSource {
                    what: "subdir",
                    value: subdir.to_owned(),
                    reason: "it leaves the repository with `..`",
                });
            }
            part => parts.push(part),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// The expected commit, lower-cased; it must be hex digits, at most a full sha256.
fn normalize_checksum(checksum: &str) -> Result<String, FetchError> {
    let checksum = checksum.trim().to_ascii_lowercase();
    if checksum.is_empty() || checksum.len() > 64 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::InvalidGitSource {
            what: "checksum",
            value: checksum,
            reason: "expected a commit hash or a prefix of one",
        });
    }
    Ok(checksum)
}

enum MoveError {
    NotADirectory,
    Io(FetchError),
}

/// Moves the entries of `work_dir/subdir` into `dest_dir`. Every part of `subdir` must be a real
/// directory: a symlink could point the move at the host's files.
fn move_subdir(work_dir: &Path, subdir: &str, dest_dir: &Path) -> Result<(), MoveError> {
    let mut source = work_dir.to_path_buf();
    for part in subdir.split('/') {
        source.push(part);
        match fs::symlink_metadata(&source) {
            Ok(metadata) if metadata.is_dir() => {}
            _ => return Err(MoveError::NotADirectory),
        }
    }
    let entries =
        fs::read_dir(&source).map_err(|source_error| MoveError::Io(FetchError::io("read", &source, source_error)))?;
    for entry in entries {
        let entry = entry.map_err(|error| MoveError::Io(FetchError::io("read", &source, error)))?;
        let to = dest_dir.join(entry.file_name());
        fs::rename(entry.path(), &to).map_err(|error| MoveError::Io(FetchError::io("move", to, error)))?;
    }
    Ok(())
}

/// The checkout's destination, put back as it was found (missing or empty) unless kept.
struct Destination {
    path: PathBuf,
    created: bool,
    kept: bool,
}

impl Destination {
    fn prepare(path: &Path) -> Result<Self, FetchError> {
        let created = match fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(FetchError::DestinationNotEmpty { path: path.to_path_buf() });
                }
                false
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(path).map_err(|source| FetchError::io("create", path, source))?;
                true
            }
            Err(source) => return Err(FetchError::io("read", path, source)),
        };
        Ok(Self { path: path.to_path_buf(), created, kept: false })
    }

    fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Best effort: the error that brought us here is the one to report.
        if self.created {
            let _ = fs::remove_dir_all(&self.path);
        } else if let Ok(entries) = fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = match entry.file_type() {
                    Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
                    _ => fs::remove_file(&path),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdirs_are_cleaned_and_must_stay_inside() {
        assert_eq!(normalize_subdir("/docs/./api/").ok().flatten(), Some("docs/api".to_owned()));
        assert_eq!(normalize_subdir("/").ok().flatten(), None);
        assert_eq!(normalize_subdir(".").ok().flatten(), None);
        assert!(normalize_subdir("docs/../../etc").is_err());
    }

    #[test]
    fn checksums_are_hex_prefixes() {
        assert_eq!(normalize_checksum(" ABC123 ").ok(), Some("abc123".to_owned()));
        assert!(normalize_checksum("").is_err());
        assert!(normalize_checksum("xyz").is_err());
        assert!(normalize_checksum(&"a".repeat(65)).is_err());
    }
}

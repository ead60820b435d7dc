//! The simple file actions: mkdir, mkfile and rm, on paths resolved inside the root.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use gb_ir::{MkdirAction, MkfileAction, RmAction};
use nix::sys::time::TimeSpec;

use crate::apply::FileOpStats;
use crate::error::{FileOpError, Result};
use crate::meta::{chown, clear_for_file, is_absent, lstat, mkdir_all, set_mode, set_times};
use crate::paths::{base_name, clean_relative, os, resolve_in_root};
use crate::source::CopySource;
use crate::user::resolve_owner;
use crate::wildcard::{has_wildcard, resolve_wildcards};

/// `mkdir`: with `make_parents`, every directory created (parents too) gets the mode and owner,
/// as BuildKit's `MkdirAll` does; without it the parent must exist. An existing directory is
/// left as it is.
pub(crate) fn mkdir(root: &Path, action: &MkdirAction) -> Result<()> {
    let owner = action.owner.as_ref().map(|owner| resolve_owner(root, owner)).transpose()?;
    let path = resolve_in_root(root, &action.path, true)?;
    if action.make_parents {
        // The directories this creates, deepest first, for their times.
        let created: Vec<PathBuf> = match action.timestamp {
            Some(_) => path
                .ancestors()
                .take_while(|dir| dir.starts_with(root) && *dir != root)
                .map(Path::to_path_buf)
                .filter(|dir| !matches!(lstat(dir), Ok(Some(_))))
                .collect(),
            None => Vec::new(),
        };
        mkdir_all(root, &path, action.mode, owner)?;
        if let Some(seconds) = action.timestamp {
            let time = TimeSpec::new(seconds, 0);
            for dir in &created {
                set_times(dir, time, time)?;
            }
        }
        return Ok(());
    }
    match lstat(&path)? {
        Some(meta) if meta.is_dir() => return Ok(()),
        Some(_) => return Err(FileOpError::NotADirectory { path: action.path.clone() }),
        None => {}
    }
    match fs::create_dir(&path) {
        Ok(()) => {}
        Err(err) if is_absent(&err) => {
            return Err(FileOpError::NotFound { path: parent_display(&action.path) });
        }
        Err(err) => return Err(FileOpError::io("mkdir", &path, err)),
    }
    if let Some((uid, gid)) = owner {
        chown(&path, uid, gid)?;
    }
    set_mode(&path, action.mode)?;
    match action.timestamp {
        Some(seconds) => set_times(&path, TimeSpec::new(seconds, 0), TimeSpec::new(seconds, 0)),
        None => Ok(()),
    }
}

/// `mkfile`: writes a new file with exactly `mode`, replacing a file or link at the path (a
/// link there is replaced, not written through). The parent must exist.
pub(crate) fn mkfile(root: &Path, action: &MkfileAction, stats: &mut FileOpStats) -> Result<()> {
    let owner = action.owner.as_ref().map(|owner| resolve_owner(root, owner)).transpose()?;
    let path = leaf_path(root, &action.path, "mkfile")?;
    clear_for_file(root, &path)?;
    let mut file = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(file) => file,
        Err(err) if is_absent(&err) => return Err(FileOpError::NotFound { path: parent_display(&action.path) }),
        Err(err) => return Err(FileOpError::io("create", &path, err)),
    };
    file.write_all(action.data.as_bytes()).map_err(|err| FileOpError::io("write", &path, err))?;
    drop(file);
    if let Some((uid, gid)) = owner {
        chown(&path, uid, gid)?;
    }
    set_mode(&path, action.mode)?;
    stats.files += 1;
    stats.bytes += action.data.len() as u64;
    Ok(())
}

/// `rm`: removes recursively; a link is removed, never followed. With `allow_wildcard` the path
/// may match several entries; no match (like a missing path) is an error unless
/// `allow_not_found`.
pub(crate) fn rm(root: &Path, action: &RmAction) -> Result<()> {
    let cleaned = clean_relative(&action.path);
    let paths = if action.allow_wildcard && cleaned.split('/').any(has_wildcard) {
        resolve_wildcards(&CopySource::new(root), &cleaned)?
    } else {
        vec![cleaned]
    };
    if paths.is_empty() && !action.allow_not_found {
        return Err(FileOpError::NotFound { path: action.path.clone() });
    }
    for path in paths {
        let host = leaf_path(root, &path, "rm")?;
        let removed = match lstat(&host)? {
            None if action.allow_not_found => continue,
            None => return Err(FileOpError::NotFound { path: format!("/{path}") }),
            Some(meta) if meta.is_dir() => fs::remove_dir_all(&host),
            Some(_) => fs::remove_file(&host),
        };
        match removed {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(FileOpError::io("remove", &host, err)),
        }
    }
    Ok(())
}

/// The host path of an in-image path whose parent is resolved (links followed inside the root)
/// but whose last component is not: what `rm` and `mkfile` act on. The root itself is refused.
fn leaf_path(root: &Path, path: &str, action: &'static str) -> Result<PathBuf> {
    let cleaned = clean_relative(path);
    let leaf = base_name(&cleaned);
    if leaf.is_empty() {
        return Err(FileOpError::InvalidPath { path: format!("/{cleaned}"), action });
    }
    let parent = &cleaned[..cleaned.len() - leaf.len()];
    Ok(resolve_in_root(root, parent, true)?.join(os(leaf)))
}

/// The parent of an in-image path, for "not found" messages.
fn parent_display(path: &str) -> String {
    let cleaned = clean_relative(path);
    let parent = cleaned.rsplit_once('/').map_or("", |(parent, _)| parent);
    format!("/{parent}")
}

//! Small file-system helpers shared by the actions: lstat, directory creation, and applying owner, mode, xattrs and times.

use std::fs::{self, Metadata, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

use crate::error::{FileOpError, Result};
use crate::paths::image_path;

/// Xattrs that belong to the overlay file system a snapshot is stored in, not to the file: a
/// single-layer snapshot is a bind mount of its layer directory, so they can show up there.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// `lstat`, with "does not exist" (or "a parent is not a directory") as `None`.
pub(crate) fn lstat(path: &Path) -> Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if is_absent(&err) => Ok(None),
        Err(err) => Err(FileOpError::io("lstat", path, err)),
    }
}

/// `stat` (following links), with absence as `None`.
pub(crate) fn stat(path: &Path) -> Result<Option<Metadata>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if is_absent(&err) => Ok(None),
        Err(err) => Err(FileOpError::io("stat", path, err)),
    }
}

/// Whether an IO error means the path is not there.
pub(crate) fn is_absent(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Creates `dir` (a host path below `root` whose existing components are already resolved) and
/// its missing parents, like fsutil's `MkdirAll`: each directory created gets exactly `mode`
/// and, when given, `owner`; existing ones are left alone. A non-directory in the way is an
/// error.
pub(crate) fn mkdir_all(root: &Path, dir: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let Ok(relative) = dir.strip_prefix(root) else {
        // The parent of the root itself (a copy onto `/`) exists by definition.
        if root.starts_with(dir) {
            return Ok(());
        }
        return Err(FileOpError::io("mkdir", dir, io::Error::other("path is outside the root")));
    };
    let mut current = root.to_path_buf();
    for part in relative.components() {
        current.push(part);
        match lstat(&current)? {
            Some(meta) if meta.is_dir() => {}
            Some(_) => return Err(FileOpError::NotADirectory { path: image_path(root, &current) }),
            None => {
                create_dir(&current)?;
                set_mode(&current, mode)?;
                if let Some((uid, gid)) = owner {
                    chown(&current, uid, gid)?;
                }
            }
        }
    }
    Ok(())
}

/// Makes one directory, private until its metadata is applied.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new().mode(0o700).create(path).map_err(|err| FileOpError::io("mkdir", path, err))
}

/// `chmod` to exactly `mode` (permission and special bits), whatever the umask.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, Permissions::from_mode(mode & 0o7777)).map_err(|err| FileOpError::io("chmod", path, err))
}

/// `lchown`: a symlink's own owner, never its target's.
pub(crate) fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|err| FileOpError::io("chown", path, err))
}

/// Sets access and modification times without following a symlink.
pub(crate) fn set_times(path: &Path, atime: TimeSpec, mtime: TimeSpec) -> Result<()> {
    utimensat(AT_FDCWD, path, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|errno| FileOpError::nix("set times", path, errno))
}

/// A file's access and modification times.
pub(crate) fn times_of(meta: &Metadata) -> (TimeSpec, TimeSpec) {
    (TimeSpec::new(meta.atime(), meta.atime_nsec()), TimeSpec::new(meta.mtime(), meta.mtime_nsec()))
}

/// Copies extended attributes from `src` to `dst` (neither followed if a link). Like BuildKit,
/// which logs and ignores xattr errors, a target file system that refuses one (no user xattrs
/// on tmpfs, `trusted.*` without the capability) does not fail the copy.
pub(crate) fn copy_xattrs(src: &Path, dst: &Path) {
    let Ok(names) = xattr::list(src) else { return };
    for name in names {
        if std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()).starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        if let Ok(Some(value)) = xattr::get(src, &name) {
            let _ = xattr::set(dst, &name, &value);
        }
    }
}

/// Removes whatever non-directory is at `path` so a file or link can be written there; a
/// directory is an error (fsutil's `ensureEmptyFileTarget`).
pub(crate) fn clear_for_file(root: &Path, path: &Path) -> Result<()> {
    match lstat(path)? {
        None => Ok(()),
        Some(meta) if meta.is_dir() => Err(FileOpError::ReplaceDirectory { path: image_path(root, path) }),
        Some(_) => fs::remove_file(path).map_err(|err| FileOpError::io("remove", path, err)),
    }
}

//! Small filesystem helpers shared by extraction, export and checksums: metadata that never
//! follows symlinks, overlay whiteout conventions, and which extended attributes travel.

use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;

use crate::error::SnapshotError;

/// The namespace of overlayfs' own attributes in layer directories. They describe the layer to
/// the kernel (opaque dirs, redirects, copy-up origins) and never belong to the files themselves.
pub(crate) const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
/// Marks a directory of an upper/layer dir as hiding everything below it in lower layers.
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The prefix of OCI whiteout file names in layer tars.
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The OCI name of the opaque marker inside a directory.
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// An overlay whiteout: a character device with device number 0:0.
pub(crate) fn is_whiteout(meta: &Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// The major and minor numbers of a device node.
pub(crate) fn device_numbers(meta: &Metadata) -> (u32, u32) {
    let (major, minor) = (nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
    // Linux device numbers have 12-bit majors and 20-bit minors.
    (u32::try_from(major).unwrap_or(u32::MAX), u32::try_from(minor).unwrap_or(u32::MAX))
}

/// Whether an extended attribute is part of a file's content as images carry it. Overlay's own
/// attributes describe the layer, and SELinux labels are assigned by the host that mounts it.
pub(crate) fn xattr_travels(name: &OsStr) -> bool {
    let name = name.as_bytes();
    !name.starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) && name != b"security.selinux"
}

/// The extended attributes of `path` (not following a symlink) that travel with the file, sorted
/// by name so that everything built from them is deterministic.
pub(crate) fn read_xattrs(path: &Path) -> Result<Vec<(OsString, Vec<u8>)>, SnapshotError> {
    collect_xattrs(path, || xattr::list(path), |name| xattr::get(path, name))
}

/// [`read_xattrs`] of a file already open (`path` names it in errors): no path is resolved again.
pub(crate) fn read_file_xattrs(file: &fs::File, path: &Path) -> Result<Vec<(OsString, Vec<u8>)>, SnapshotError> {
    use xattr::FileExt as _;
    collect_xattrs(path, || file.list_xattr(), |name| file.get_xattr(name))
}

/// The attributes `list` names that travel, each read with `get`, sorted by name.
fn collect_xattrs(
    path: &Path,
    list: impl FnOnce() -> std::io::Result<xattr::XAttrs>,
    get: impl Fn(&OsStr) -> std::io::Result<Option<Vec<u8>>>,
) -> Result<Vec<(OsString, Vec<u8>)>, SnapshotError> {
    let names = match list() {
        Ok(names) => names,
        // A filesystem without xattrs has none to copy.
        Err(err) if err.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(err) => return Err(SnapshotError::io("list extended attributes of", path)(err)),
    };
    let mut out = Vec::new();
    for name in names.filter(|name| xattr_travels(name)) {
        // An attribute removed between list and get is simply gone.
        if let Some(value) = get(&name).map_err(SnapshotError::io("read extended attributes of", path))? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether the directory at `path` carries overlay's opaque marker.
pub(crate) fn is_opaque(path: &Path) -> Result<bool, SnapshotError> {
    let value = xattr::get(path, OPAQUE_XATTR).map_err(SnapshotError::io("read extended attributes of", path))?;
    Ok(value.as_deref() == Some(b"y"))
}

/// Owner, permission bits, extended attributes and modification time to give a new entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryMeta {
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime_sec: i64,
    pub(crate) mtime_nsec: u32,
    pub(crate) xattrs: Vec<(OsString, Vec<u8>)>,
}

impl EntryMeta {
    /// The metadata of an existing file.
    pub(crate) fn of(meta: &Metadata, xattrs: Vec<(OsString, Vec<u8>)>) -> Self {
        EntryMeta {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime_sec: meta.mtime(),
            // `mtime_nsec` is always within 0..1e9.
            mtime_nsec: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
            xattrs,
        }
    }
}

/// Sets owner, permission bits and extended attributes of `path` without following a symlink.
/// The owner goes first because `chown` clears set-user-ID bits; the mtime is set separately,
/// since creating children changes a directory's mtime.
pub(crate) fn apply_meta(path: &Path, is_symlink: bool, meta: &EntryMeta) -> Result<(), SnapshotError> {
    std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))
        .map_err(SnapshotError::io("change owner of", path))?;
    if !is_symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode & 0o7777))
            .map_err(SnapshotError::io("change mode of", path))?;
    }
    for (name, value) in &meta.xattrs {
        xattr::set(path, name, value).map_err(SnapshotError::io("set extended attributes of", path))?;
    }
    Ok(())
}

/// Sets the access and modification time of `path` (not following a symlink) to `sec.nsec`.
pub(crate) fn set_mtime(path: &Path, sec: i64, nsec: u32) -> Result<(), SnapshotError> {
    let time = TimeSpec::new(sec, i64::from(nsec));
    utimensat(AT_FDCWD, path, &time, &time, UtimensatFlags::NoFollowSymlink)
        .map_err(SnapshotError::errno("set the times of", path))
}

/// Creates an overlay whiteout (character device 0:0) at `path`.
pub(crate) fn make_whiteout(path: &Path, mode: u32) -> Result<(), SnapshotError> {
    mknod(path, SFlag::S_IFCHR, Mode::from_bits_truncate(mode & 0o7777), 0)
        .map_err(SnapshotError::errno("create whiteout", path))
}

/// Cleans a path from an archive into a relative path below the root: `/` and `.` components are
/// dropped and `..` removes the previous component. `None` when `..` would leave the root.
pub(crate) fn clean_relative(raw: &[u8]) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// `lstat`, naming the path on failure.
pub(crate) fn lstat(path: &Path) -> Result<Metadata, SnapshotError> {
    fs::symlink_metadata(path).map_err(SnapshotError::io("inspect", path))
}

/// `lstat`, with "does not exist" as `None`.
pub(crate) fn lstat_opt(path: &Path) -> Result<Option<Metadata>, SnapshotError> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(SnapshotError::io("inspect", path)(err)),
    }
}

/// Removes whatever is at `path`: a directory with everything below it, or any other entry.
pub(crate) fn remove_any(path: &Path, meta: &Metadata) -> Result<(), SnapshotError> {
    if meta.is_dir() {
        fs::remove_dir_all(path).map_err(SnapshotError::io("remove", path))
    } else {
        fs::remove_file(path).map_err(SnapshotError::io("remove", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_relative_keeps_paths_inside_the_root() {
        let clean = |raw: &str| clean_relative(raw.as_bytes()).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(clean("a/b"), Some("a/b".into()));
        assert_eq!(clean("./a//b/"), Some("a/b".into()));
        assert_eq!(clean("/etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(clean("a/../b"), Some("b".into()));
        assert_eq!(clean("./"), Some(String::new()));
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("a/../../x"), None);
        assert_eq!(clean("/../x"), None);
    }
}

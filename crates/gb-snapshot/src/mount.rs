//! Mounting snapshots: read-only views (a bind mount of one layer, an overlay of several) and
//! writable overlays whose upper dir is a [`WorkDir`], plus the cleanup of leftover mounts.

use std::fs::{self, DirBuilder, File};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::error::SnapshotError;
use crate::fsutil::{lstat, set_mtime};
use crate::store::{SnapshotStore, WorkDir};
use gb_cache::Snapshot;

/// The kernel copies mount options into one page, NUL included.
const MAX_MOUNT_OPTIONS: usize = 4095;

/// Options on every overlay mount. Layers must be self-contained OCI-style diffs: with
/// `redirect_dir` a renamed directory would be a pointer into a lower layer, with `metacopy` a
/// chmod would copy up metadata without data, and `index` ties the upper dir to the inodes of
/// this particular lower stack. Off, overlay copies up instead (a directory rename fails with
/// EXDEV and tools fall back to copying, as on Docker's overlay2).
const OVERLAY_FEATURES: &str = "index=off,redirect_dir=off,metacopy=off";

/// A mounted snapshot. Unmounts, and removes its mount point, on drop.
#[derive(Debug)]
pub struct Mounted {
    path: PathBuf,
    /// `tmp/m-<random>/`, holding the mount point and, for an empty stack, an empty lower dir.
    private: PathBuf,
    mounted: bool,
    /// The live-mount count of the work dir of a writable mount.
    work_mounts: Option<Arc<AtomicUsize>>,
}

impl Mounted {
    /// The merged view.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts now, reporting a failure that drop would have to swallow.
    pub fn unmount(mut self) -> Result<(), SnapshotError> {
        self.release()
    }

    fn release(&mut self) -> Result<(), SnapshotError> {
        if self.mounted {
            unmount(&self.path)?;
            self.mounted = false;
            if let Some(count) = self.work_mounts.take() {
                count.fetch_sub(1, Ordering::SeqCst);
            }
        }
        // Only `remove_dir`, never a recursive removal: should the unmount above not have
        // happened, a recursive removal would delete files through the mount.
        for dir in [&self.path, &self.private.join("empty"), &self.private] {
            match fs::remove_dir(dir) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(SnapshotError::io("remove", dir)(err));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // Best effort: anything left is unmounted and removed by the next `SnapshotStore::open`.
        let _ = self.release();
    }
}

/// Unmounts `path`, lazily if it is busy (a process still has a file open in it).
fn unmount(path: &Path) -> Result<(), SnapshotError> {
    match umount2(path, MntFlags::empty()) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => umount2(path, MntFlags::MNT_DETACH)
            .map_err(|source| SnapshotError::Unmount { path: path.to_path_buf(), source }),
        Err(source) => Err(SnapshotError::Unmount { path: path.to_path_buf(), source }),
    }
}

/// Lazily unmounts every mount below `dir` (deepest first), as a crashed run leaves them. A
/// mount on `dir` itself (say a tmpfs for work dirs) is the administrator's and stays.
pub(crate) fn unmount_all_under(dir: &Path) -> Result<(), SnapshotError> {
    let mountinfo = Path::new("/proc/self/mountinfo");
    let text = fs::read(mountinfo).map_err(SnapshotError::io("read", mountinfo))?;
    let mut points: Vec<PathBuf> = text
        .split(|&b| b == b'\n')
        // Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .map(|field| PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_octal(field))))
        .filter(|point| point.starts_with(dir) && point != dir)
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.as_os_str().len()));
    for point in points {
        match umount2(&point, MntFlags::MNT_DETACH) {
            // Already gone with a parent that was detached before it.
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(source) => return Err(SnapshotError::Unmount { path: point, source }),
        }
    }
    Ok(())
}

fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let digits = field.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], digits) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

impl SnapshotStore {
    /// A read-only view of `snapshot`: an empty directory for no layers, a bind mount of the
    /// layer for one, an overlay (`lowerdir=top:...:bottom`) for more (a repeated layer counts
    /// once, at its topmost place).
    ///
    /// A single layer is shown as it is stored, so whiteouts in it (which hide nothing, there
    /// being nothing below) appear as 0:0 character devices; this crate's exports skip them.
    pub fn mount_readonly(&self, snapshot: &Snapshot) -> Result<Mounted, SnapshotError> {
        let lowers = self.lower_dirs(snapshot)?;
        let mut mounted = self.mount_point()?;
        match lowers.as_slice() {
            [] => {
                let empty = mounted.empty_dir()?;
                bind_readonly(&empty, &mounted.path, "an empty directory")?;
            }
            [layer] => bind_readonly(layer, &mounted.path, &format!("layer {}", layer.display()))?,
            _ => {
                let (options, _fds) = overlay_options(&lowers, None)?;
                mount_overlay(&options, &mounted.path, MsFlags::MS_RDONLY, lowers.len())?;
            }
        }
        mounted.mounted = true;
        Ok(mounted)
    }

    /// A writable overlay of `snapshot` whose changes land in `work`'s upper dir. The upper
    /// dir's root, when still empty, first takes the owner, mode and mtime of the snapshot's
    /// root, since overlayfs shows the upper dir's root as the merged root.
    pub fn mount_writable(&self, snapshot: &Snapshot, work: &WorkDir) -> Result<Mounted, SnapshotError> {
        let mut lowers = self.lower_dirs(snapshot)?;
        if work.mounts.load(Ordering::SeqCst) != 0 {
            return Err(SnapshotError::StillMounted { path: work.upper().to_path_buf() });
        }
        let mut mounted = self.mount_point()?;
        if let Some(top) = lowers.first() {
            inherit_root(work.upper(), top)?;
        } else {
            // overlayfs needs at least one lower dir.
            lowers.push(mounted.empty_dir()?);
        }
        let (options, _fds) = overlay_options(&lowers, Some((work.upper(), work.work())))?;
        mount_overlay(&options, &mounted.path, MsFlags::empty(), lowers.len())?;
        mounted.mounted = true;
        work.mounts.fetch_add(1, Ordering::SeqCst);
        mounted.work_mounts = Some(Arc::clone(&work.mounts));
        Ok(mounted)
    }

    /// The layer directories of `snapshot`, top first (overlay's `lowerdir` order), each once.
    ///
    /// A merge of snapshots that share a base repeats layers (`base, a, base, b`), and overlayfs
    /// refuses a directory twice (ELOOP). Only the topmost occurrence matters: every path the
    /// layer has is decided there, above anything its lower copy could show.
    fn lower_dirs(&self, snapshot: &Snapshot) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut seen = std::collections::HashSet::new();
        snapshot.layers.iter().rev().filter(|id| seen.insert(*id)).map(|id| self.existing_layer(id)).collect()
    }

    /// An unmounted [`Mounted`] with a fresh mount point, which cleans up if mounting fails.
    fn mount_point(&self) -> Result<Mounted, SnapshotError> {
        let private = self.private_dir("m-")?;
        let mounted = Mounted { path: private.join("root"), private, mounted: false, work_mounts: None };
        DirBuilder::new().mode(0o755).create(&mounted.path).map_err(SnapshotError::io("create", &mounted.path))?;
        Ok(mounted)
    }
}

impl Mounted {
    fn empty_dir(&self) -> Result<PathBuf, SnapshotError> {
        let empty = self.private.join("empty");
        DirBuilder::new().mode(0o755).create(&empty).map_err(SnapshotError::io("create", &empty))?;
        Ok(empty)
    }
}

fn bind_readonly(source: &Path, target: &Path, what: &str) -> Result<(), SnapshotError> {
    let err = |source| SnapshotError::Mount { what: what.to_owned(), target: target.to_path_buf(), source };
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(err)?;
    // A bind mount takes its read-only flag only from a remount.
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    if let Err(errno) = mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
        let _ = unmount(target);
        return Err(err(errno));
    }
    Ok(())
}

fn mount_overlay(options: &str, target: &Path, flags: MsFlags, layers: usize) -> Result<(), SnapshotError> {
    mount(Some("overlay"), target, Some("overlay"), flags, Some(options)).map_err(|source| SnapshotError::Mount {
        what: format!("an overlay of {layers} layers"),
        target: target.to_path_buf(),
        source,
    })
}

/// The overlay mount options for `lowers` (top first) and an optional upper/work pair, and the
/// descriptors they refer to, which must stay open until the mount is done.
///
/// Absolute layer paths keep `/proc/self/mountinfo` readable, but with a long state root they
/// exceed the one-page option limit at a few dozen layers; longer stacks name each lower dir by
/// an open descriptor (`/proc/self/fd/N`, which overlay resolves at mount time) instead, which
/// fits a couple of hundred. Changing the working directory to use short relative paths, as
/// Docker does in a helper process, is not an option in a multi-threaded process.
fn overlay_options(lowers: &[PathBuf], upper: Option<(&Path, &Path)>) -> Result<(String, Vec<File>), SnapshotError> {
    let mut tail = String::new();
    if let Some((upper, work)) = upper {
        tail = format!(",upperdir={},workdir={}", upper.display(), work.display());
    }
    tail.push(',');
    tail.push_str(OVERLAY_FEATURES);
    let join = |dirs: Vec<String>| format!("lowerdir={}{tail}", dirs.join(":"));
    let plain = join(lowers.iter().map(|dir| dir.display().to_string()).collect());
    if plain.len() <= MAX_MOUNT_OPTIONS {
        return Ok((plain, Vec::new()));
    }
    let fds = lowers
        .iter()
        .map(|dir| File::open(dir).map_err(SnapshotError::io("open", dir)))
        .collect::<Result<Vec<_>, _>>()?;
    let short = join(fds.iter().map(|fd| format!("/proc/self/fd/{}", fd.as_raw_fd())).collect());
    if short.len() <= MAX_MOUNT_OPTIONS {
        return Ok((short, fds));
    }
    // How many of these lower dirs would fit, for the message: the user needs a number of steps.
    let fixed = join(Vec::new()).len();
    let mut used = fixed;
    let max_layers = fds
        .iter()
        .map(|fd| format!("/proc/self/fd/{}", fd.as_raw_fd()).len())
        .take_while(|len| {
            used += len + 1;
            used - 1 <= MAX_MOUNT_OPTIONS
        })
        .count();
    Err(SnapshotError::TooManyLayers { layers: lowers.len(), max_layers, len: short.len(), max: MAX_MOUNT_OPTIONS })
}

/// Gives a still-empty upper dir the owner, mode and mtime of the snapshot's top root.
fn inherit_root(upper: &Path, top: &Path) -> Result<(), SnapshotError> {
    let mut entries = fs::read_dir(upper).map_err(SnapshotError::io("list", upper))?;
    if entries.next().is_some() {
        return Ok(());
    }
    let meta = lstat(top)?;
    std::os::unix::fs::lchown(upper, Some(meta.uid()), Some(meta.gid()))
        .map_err(SnapshotError::io("change owner of", upper))?;
    fs::set_permissions(upper, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(SnapshotError::io("change mode of", upper))?;
    set_mtime(upper, meta.mtime(), u32::try_from(meta.mtime_nsec()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_octal(br"/tmp/a\040b\134c"), b"/tmp/a b\\c");
        assert_eq!(unescape_octal(br"/x\04"), br"/x\04");
    }

    fn error_kind_of(lowers: &[PathBuf]) -> crate::ErrorKind {
        overlay_options(lowers, None).map_or_else(|e| e.kind(), |_| panic!("the options fit"))
    }

    #[test]
    fn long_stacks_fall_back_to_descriptors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("d".repeat(200));
        fs::create_dir(&dir).expect("mkdir");
        let long: Vec<PathBuf> = (0..60).map(|_| dir.clone()).collect();
        let (options, fds) = overlay_options(&long, None).expect("options");
        assert_eq!(fds.len(), 60);
        assert!(options.starts_with("lowerdir=/proc/self/fd/"), "{options}");
        let too_many: Vec<PathBuf> = (0..400).map(|_| dir.clone()).collect();
        let error = overlay_options(&too_many, None).expect_err("too many");
        let SnapshotError::TooManyLayers { layers, max_layers, .. } = error else { panic!("{error}") };
        assert_eq!(layers, 400);
        // Each lower dir takes `/proc/self/fd/N:` (17 to 20 bytes) of the 4095.
        assert!((150..250).contains(&max_layers), "{max_layers} layers fit");
        let fitting: Vec<PathBuf> = (0..max_layers).map(|_| dir.clone()).collect();
        assert!(overlay_options(&fitting, None).is_ok(), "the {max_layers} layers the message names do fit");
        assert_eq!(error_kind_of(&too_many), crate::ErrorKind::Input, "too many steps is the build's doing");
    }
}

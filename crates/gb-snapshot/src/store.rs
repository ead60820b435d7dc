//! [`SnapshotStore`]: the `layers/` and `tmp/` directories of the state root, work dirs, and
//! committing a work dir's upper dir as an immutable layer.

use std::collections::HashSet;
use std::fs::{self, DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::SnapshotError;
use crate::mount::unmount_all_under;
use gb_cache::LayerId;

/// The snapshot half of the state root: `ROOT/layers/ID/` (committed layers, overlayfs upper-dir
/// format, immutable) and `ROOT/tmp/` (work dirs and mount points, garbage after a crash).
///
/// **Invariant:** a directory appears in `layers/` only by an atomic rename of a complete,
/// synced tree, so a crash never leaves a half-written layer under its final name.
///
/// The store assumes it is the only user of `ROOT/tmp/` (the caller holds `ROOT/lock`): `open`
/// wipes it.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    layers: PathBuf,
    tmp: PathBuf,
}

/// A fresh directory pair for a change: `upper/` receives the change (through an overlay mount,
/// or written directly) and `work/` is overlayfs' scratch space. Removed on drop unless its upper
/// dir was committed; kept while a writable mount of it is alive, since removing an upper dir
/// under a live overlay would corrupt the mount (`open` collects it later).
#[derive(Debug)]
pub struct WorkDir {
    dir: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    /// Live writable mounts of this work dir (0 or 1), shared with their [`crate::Mounted`].
    pub(crate) mounts: Arc<AtomicUsize>,
    /// Kept on drop: a container's changes, which outlive any one run of it.
    kept: bool,
}

impl WorkDir {
    /// The upper dir: the new layer's content.
    pub fn upper(&self) -> &Path {
        &self.upper
    }

    /// overlayfs' work dir, on the same filesystem as the upper dir.
    pub(crate) fn work(&self) -> &Path {
        &self.work
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.mounts.load(Ordering::SeqCst) == 0 && !self.kept {
            // Best effort: whatever is left is wiped by the next `open`.
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl SnapshotStore {
    /// Opens the store under the state root `root`, creating `layers/` and `tmp/`. Stale entries
    /// in `tmp/` from a previous run are removed; mounts left under it are lazily unmounted first
    /// (`MNT_DETACH`), so that removing them never reaches into a mounted layer.
    pub fn open(root: &Path) -> Result<Self, SnapshotError> {
        fs::create_dir_all(root).map_err(SnapshotError::io("create", root))?;
        let root = fs::canonicalize(root).map_err(SnapshotError::io("resolve", root))?;
        // These characters separate overlay options and lower dirs; the kernel's escaping rules
        // for them differ between option parsers, so refuse them once, here.
        if let Some(ch) = root.to_string_lossy().chars().find(|c| matches!(c, ',' | ':' | '\\' | '\n')) {
            return Err(SnapshotError::UnsupportedRoot { path: root, ch });
        }
        let store = SnapshotStore { layers: root.join("layers"), tmp: root.join("tmp") };
        for dir in [&store.layers, &store.tmp] {
            // Private: layers hold set-user-ID binaries and device nodes of other users' images.
            DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(SnapshotError::io("create", dir))?;
        }
        store.wipe_tmp()?;
        Ok(store)
    }

    /// Unmounts everything under `tmp/` and removes its entries. An entry that cannot be removed
    /// (a process of a crashed build that could not be killed still writes into it) is left for
    /// the next open: every new entry gets a fresh random name, so garbage never collides with
    /// it, and refusing the whole state root over garbage would lock the user out.
    fn wipe_tmp(&self) -> Result<(), SnapshotError> {
        unmount_all_under(&self.tmp)?;
        for entry in fs::read_dir(&self.tmp).map_err(SnapshotError::io("list", &self.tmp))? {
            let entry = entry.map_err(SnapshotError::io("list", &self.tmp))?;
            let path = entry.path();
            if let Ok(meta) = crate::fsutil::lstat(&path) {
                let _ = crate::fsutil::remove_any(&path, &meta);
            }
        }
        Ok(())
    }

    /// Where layer `id` lives (whether or not it exists).
    pub fn layer_path(&self, id: &LayerId) -> PathBuf {
        self.layers.join(&id.0)
    }

    /// The directory of an existing layer, checking that the id is a plain name.
    pub(crate) fn existing_layer(&self, id: &LayerId) -> Result<PathBuf, SnapshotError> {
        if !id.is_well_formed() {
            return Err(SnapshotError::InvalidLayerId { id: id.0.clone() });
        }
        let path = self.layer_path(id);
        match crate::fsutil::lstat_opt(&path)? {
            Some(meta) if meta.is_dir() => Ok(path),
            _ => Err(SnapshotError::LayerNotFound { id: id.0.clone(), path }),
        }
    }

    /// A fresh private directory under `tmp/`, named `prefix` + a random suffix.
    pub(crate) fn private_dir(&self, prefix: &str) -> Result<PathBuf, SnapshotError> {
        loop {
            let dir = self.tmp.join(format!("{prefix}{}", LayerId::random().0));
            match DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(dir),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(SnapshotError::io("create", &dir)(err)),
            }
        }
    }

    /// A new work dir: `tmp/<random>/{upper,work}`.
    pub fn work_dir(&self) -> Result<WorkDir, SnapshotError> {
        let dir = self.private_dir("w-")?;
        let work = WorkDir {
            upper: dir.join("upper"),
            work: dir.join("work"),
            dir,
            mounts: Arc::new(AtomicUsize::new(0)),
            kept: false,
        };
        for path in [&work.upper, &work.work] {
            // The upper dir becomes the layer's root directory, so it gets a root's usual mode.
            DirBuilder::new().mode(0o755).create(path).map_err(SnapshotError::io("create", path))?;
        }
        Ok(work)
    }

    /// A work dir at `dir` (`dir/upper`, `dir/work`, created when missing) that is never
    /// removed on drop nor by [`SnapshotStore::open`]: a container's changes, kept between its
    /// runs until the container is removed. Committing it is refused.
    pub fn kept_work_dir(&self, dir: &Path) -> Result<WorkDir, SnapshotError> {
        let work = WorkDir {
            upper: dir.join("upper"),
            work: dir.join("work"),
            dir: dir.to_path_buf(),
            mounts: Arc::new(AtomicUsize::new(0)),
            kept: true,
        };
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(SnapshotError::io("create", dir))?;
        for path in [&work.upper, &work.work] {
            match DirBuilder::new().mode(0o755).create(path) {
                Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(SnapshotError::io("create", path)(err));
                }
                _ => {}
            }
        }
        Ok(work)
    }

    /// Makes the work dir's upper dir a layer: syncs it to disk, renames it to `layers/ID`, and
    /// syncs `layers/` so the rename itself is durable. Returns the new id and the layer's size
    /// (the bytes of its regular files, each hard-linked file counted once).
    pub fn commit(&self, work: WorkDir) -> Result<(LayerId, u64), SnapshotError> {
        if work.mounts.load(Ordering::SeqCst) != 0 || work.kept {
            return Err(SnapshotError::StillMounted { path: work.upper.clone() });
        }
        let size = tree_size(&work.upper)?;
        // One `syncfs` writes back the whole tree (files, directories, symlinks, device nodes)
        // in one journal commit, where a walk fsyncing each file would commit once per file.
        let upper = File::open(&work.upper).map_err(SnapshotError::io("open", &work.upper))?;
        nix::unistd::syncfs(&upper).map_err(SnapshotError::errno("sync", &work.upper))?;
        drop(upper);
        let id = LayerId::random();
        let dest = self.layer_path(&id);
        fs::rename(&work.upper, &dest).map_err(SnapshotError::io("rename the upper dir to", &dest))?;
        File::open(&self.layers).and_then(|dir| dir.sync_all()).map_err(SnapshotError::io("sync", &self.layers))?;
        Ok((id, size))
    }
}

/// The bytes of the regular files below `root`, each inode counted once (links are not
/// followed).
pub fn tree_size(root: &Path) -> Result<u64, SnapshotError> {
    let mut seen = HashSet::new();
    let mut size = 0;
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.map_err(|err| walk_error(root, err))?;
        let meta = entry.metadata().map_err(|err| walk_error(root, err))?;
        if meta.is_file() && (meta.nlink() == 1 || seen.insert((meta.dev(), meta.ino()))) {
            size += meta.len();
        }
    }
    Ok(size)
}

/// A walkdir error as an IO error naming the path it happened at.
pub(crate) fn walk_error(root: &Path, err: walkdir::Error) -> SnapshotError {
    let path = err.path().unwrap_or(root).to_path_buf();
    SnapshotError::Io { op: "walk", path, source: err.into() }
}

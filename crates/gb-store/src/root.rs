//! The state root: where everything persistent lives, opened once per process under a lock,
//! and the one place that knows its layout.
//!
//! ```text
//! ROOT/lock            flock held by the process that opened the root (the server)
//! ROOT/db/             RocksDB: cache results, file index, images, layers (gb-cache)
//! ROOT/content/sha256/ blobs by digest (gb-cache)
//! ROOT/layers/ID/      committed layer directories (gb-snapshot)
//! ROOT/tmp/            scratch, wiped at open
//! ROOT/exec/PID-RAND/  a container runtime's work dir, reaped when its process is dead
//! ROOT/cache-mounts/   RUN --mount=type=cache contents
//! ROOT/containers/ID/  a container (gb-containers): record, changes, log, runtime dir
//! ROOT/volumes/NAME/   a named volume's data (`_data`)
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gb_cache::{CacheDb, ContentStore};
use gb_snapshot::SnapshotStore;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::StoreError;

/// The opened state root: RocksDB, the blob store and the snapshot layers.
pub struct StateRoot {
    path: PathBuf,
    /// Cache results, the file index, images, layer records.
    pub db: CacheDb,
    /// Blobs by digest.
    pub content: ContentStore,
    /// Layer directories and mounts.
    pub snapshots: SnapshotStore,
    /// Held shared by builds, pulls and loads (a lease on what they make before anything
    /// references it), exclusively by garbage collection.
    collection: RwLock<()>,
    /// State that the root's users share, one value per type (the solver's running steps).
    shared: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl StateRoot {
    /// Opens (creating) the root. A second process using the same root waits for the lock,
    /// since both would mount and write the same layers.
    ///
    /// The root is made private (0700): cache mounts keep what RUN steps leave, set-uid files
    /// included, and runtimes' bundles hold secrets. A root owned by another user is refused,
    /// since its owner could plant container state that the reaper acts on.
    /// The exporters' view of this root: its records, blobs and layers.
    pub fn export_context(&self) -> gb_export::ExportContext<'_> {
        gb_export::ExportContext { db: &self.db, content: &self.content, snapshots: &self.snapshots }
    }

    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::create_dir(path)?;
        let lock_path = path.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(StoreError::io(format!("opening {}", lock_path.display())))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| StoreError::io(format!("locking {}", lock_path.display()))(e.into()))?;
        // First of all: containers of a killed graphbuild must not outlive it, and while they run
        // they write into `tmp/`, which the snapshot store is about to wipe.
        reap_orphaned_containers(path);
        // After the reaping, which removes an empty `exec/` (it takes it for a legacy work dir).
        for dir in ["exec", "cache-mounts"] {
            create_private_dir(&path.join(dir))?;
        }
        let db = CacheDb::open(path).map_err(StoreError::records("opening the cache database"))?;
        let content = ContentStore::open(path).map_err(StoreError::records("opening the content store"))?;
        let snapshots = SnapshotStore::open(path).map_err(StoreError::layers("opening the snapshot store"))?;
        Ok(Self {
            path: path.to_owned(),
            db,
            content,
            snapshots,
            collection: RwLock::new(()),
            shared: Mutex::default(),
            _lock: lock,
        })
    }

    /// Creates the root's directory (mode 0700) without opening it, or checks an existing one:
    /// one of another user is refused.
    pub fn create_dir(path: &Path) -> Result<(), StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(StoreError::io(format!("creating the state root {}", path.display())))?;
        }
        create_private_dir(path)
    }

    /// The value of type `T` that every user of this opened root shares (made on first use):
    /// how crates above the store keep per-root state without the store knowing them.
    pub fn shared<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut shared = self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let value = shared.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default())).clone();
        // The map holds a `T` under `T`'s type id, so the downcast cannot fail.
        value.downcast::<T>().unwrap_or_else(|_| Arc::new(T::default()))
    }

    /// A lease held while a build, pull or load makes layers and records: garbage collection
    /// waits for it, so it never removes a layer that is not referenced yet. For synchronous
    /// callers (never inside an async runtime).
    pub fn building(&self) -> RwLockReadGuard<'_, ()> {
        self.collection.blocking_read()
    }

    /// [`Self::building`] for async callers.
    pub async fn building_async(&self) -> RwLockReadGuard<'_, ()> {
        self.collection.read().await
    }

    /// Held by garbage collection: no build, pull or load runs meanwhile.
    pub fn collecting(&self) -> RwLockWriteGuard<'_, ()> {
        self.collection.blocking_write()
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where cache mounts live.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.path.join("cache-mounts")
    }

    /// Where build records live (`builds/ID.json`).
    pub fn builds_dir(&self) -> PathBuf {
        self.path.join("builds")
    }

    /// Scratch space for this process (wiped by the snapshot store at open).
    pub fn tmp_dir(&self) -> PathBuf {
        self.path.join("tmp")
    }

    /// Where committed layers live (`layers/ID/`).
    pub fn layers_dir(&self) -> PathBuf {
        self.path.join("layers")
    }

    /// Where containers live: `ID/container.json` (the record), their changes, logs and runtime.
    pub fn containers_dir(&self) -> PathBuf {
        self.path.join("containers")
    }

    /// Named volumes (`run -v NAME:/dir`): `NAME/_data` is what containers mount.
    pub fn volumes_dir(&self) -> PathBuf {
        self.path.join("volumes")
    }

    /// A new work dir for a container runtime of this process, `ROOT/exec/PID-RANDOM/`: each
    /// runtime's containers live apart and its owner is recorded there, so a later open kills
    /// exactly those whose graphbuild is dead.
    pub fn new_exec_dir(&self) -> PathBuf {
        let random = gb_cache::LayerId::random();
        self.path.join("exec").join(format!("{}-{}", std::process::id(), &random.0[..8]))
    }

    /// A new file name in the scratch space, `ROOT/tmp/WHAT-RANDOM` (the directory made if
    /// need be), for an archive passing between a file and a pipe.
    pub fn new_tmp_file(&self, what: &str) -> Result<PathBuf, StoreError> {
        let dir = self.tmp_dir();
        std::fs::create_dir_all(&dir).map_err(StoreError::io(format!("making {}", dir.display())))?;
        Ok(dir.join(format!("{what}-{}", gb_cache::LayerId::random())))
    }
}

/// Creates `dir` with mode 0700, or makes an existing one 0700 when it belongs to this user;
/// one of another user is an environment error.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::io(format!("creating {}", dir.display()))(e));
        }
        _ => {}
    }
    let meta = std::fs::metadata(dir).map_err(StoreError::io(format!("inspecting {}", dir.display())))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StoreError::NotOwner { path: dir.to_owned(), owner: meta.uid(), me });
    }
    if !meta.is_dir() {
        return Err(StoreError::NotADirectory { path: dir.to_owned() });
    }
    if meta.mode() & 0o7777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(StoreError::io(format!("making {} private (mode 0700)", dir.display())))?;
    }
    Ok(())
}

/// Kills the containers of graphbuild processes that died without cleaning up (a build killed
/// with SIGKILL, a crash, a killed server with containers): the runtimes of builds,
/// `ROOT/exec/*/` (and `ROOT/exec/` itself, the layout before per-runtime dirs), and those of
/// containers, `ROOT/containers/*/runtime/`. A runtime whose owner is alive is left alone. Best effort: whatever fails is tried again at the next open, and the open goes on,
/// since a leftover container is no reason to refuse the root.
fn reap_orphaned_containers(root: &Path) {
    let exec = root.join("exec");
    let mut work_dirs = vec![exec.clone()];
    work_dirs.extend(subdirs(&exec));
    work_dirs.extend(subdirs(&root.join("containers")).into_iter().map(|dir| dir.join("runtime")));
    for dir in work_dirs {
        let _ = gb_exec::reap_if_orphaned(&dir);
    }
}

/// Whether `error`, or an error it was caused by, is a full disk (or an exhausted quota): the
/// machine's failure, whichever step ran into it.
pub fn is_no_space(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
        {
            return true;
        }
        if matches!(error.downcast_ref::<gb_cache::CacheError>(), Some(gb_cache::CacheError::NoSpace { .. })) {
            return true;
        }
        current = error.source();
    }
    false
}

/// The directories in `dir` (none when it is missing or unreadable).
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    #[test]
    fn every_user_of_an_opened_root_shares_one_value_per_type() {
        let dir = tempfile::tempdir().expect("dir");
        let root = StateRoot::open(&dir.path().join("root")).expect("open");
        root.shared::<Counter>().0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        root.shared::<Counter>().0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(root.shared::<Counter>().0.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(root.shared::<Vec<u8>>().len(), 0, "another type has a value of its own");
    }

    #[test]
    fn collection_waits_for_every_building_lease() {
        let dir = tempfile::tempdir().expect("dir");
        let root = Arc::new(StateRoot::open(&dir.path().join("root")).expect("open"));
        let lease = root.building();
        let collected = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let collector = std::thread::spawn({
            let (root, collected) = (root.clone(), collected.clone());
            move || {
                let _collecting = root.collecting();
                collected.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!collected.load(std::sync::atomic::Ordering::SeqCst), "collection ran under a lease");
        drop(lease);
        collector.join().expect("collector");
        assert!(collected.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_root_of_another_user_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("dir");
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(12345)), None).expect("chown (needs root)");
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = StateRoot::open(&theirs).err().expect("refused");
        assert!(matches!(error, StoreError::NotOwner { owner: 12345, .. }), "{error}");
        assert_eq!(error.kind(), crate::ErrorKind::Environment);
    }
}

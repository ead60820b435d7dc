//! The state root: where everything persistent lives, opened once per process under a lock.

use std::path::{Path, PathBuf};

use gb_cache::{CacheDb, ContentStore};
use gb_snapshot::SnapshotStore;

use std::sync::Arc;

use tokio::sync::{RwLockReadGuard, RwLockWriteGuard};

use crate::error::SolveError;
use crate::steps::Steps;

/// The opened state root: RocksDB, the blob store and the snapshot layers.
pub struct StateRoot {
    path: PathBuf,
    /// Cache results, the file index, images, layer records.
    pub db: CacheDb,
    /// Blobs by digest.
    pub content: ContentStore,
    /// Layer directories and mounts.
    pub snapshots: SnapshotStore,
    /// What concurrent solves share: the whole-root step bound, running steps, the GC lock.
    pub(crate) steps: Arc<Steps>,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl StateRoot {
    /// Opens (creating) the root. A second process using the same root waits for the lock,
    /// since both would mount and write the same layers.
    ///
    /// The root is made private (0700): cache mounts keep what RUN steps leave, set-uid files
    /// included, and runtimes' bundles hold secrets. A root owned by another user is refused,
    /// since its owner could plant container state that the reaper acts on.
    pub fn open(path: &Path) -> Result<Self, SolveError> {
        Self::create_dir(path)?;
        let lock_path = path.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| SolveError::env(format!("opening {}", lock_path.display()), e))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| SolveError::env(format!("locking {}", lock_path.display()), e))?;
        // First of all: containers of a killed graphbuild must not outlive it, and while they run
        // they write into `tmp/`, which the snapshot store is about to wipe.
        reap_orphaned_containers(path);
        // After the reaping, which removes an empty `exec/` (it takes it for a legacy work dir).
        for dir in ["exec", "cache-mounts"] {
            create_private_dir(&path.join(dir))?;
        }
        let db = CacheDb::open(path).map_err(|e| SolveError::env("opening the cache database", e))?;
        let content = ContentStore::open(path).map_err(|e| SolveError::env("opening the content store", e))?;
        let snapshots = SnapshotStore::open(path).map_err(|e| SolveError::env("opening the snapshot store", e))?;
        Ok(Self { path: path.to_owned(), db, content, snapshots, steps: Arc::default(), _lock: lock })
    }

    /// Creates the root's directory (mode 0700) without opening it, or checks an existing one:
    /// one of another user is refused.
    pub fn create_dir(path: &Path) -> Result<(), SolveError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| SolveError::env(format!("creating the state root {}", path.display()), e))?;
        }
        create_private_dir(path)
    }

    /// Bounds how many steps all solves on this root run at once (the server's
    /// `--max-parallelism`; the core count when never set). Only the first call counts.
    pub fn limit_parallel_steps(&self, max: usize) {
        self.steps.limit(max);
    }

    /// Held while a build, pull or load makes layers and records: garbage collection waits for
    /// it, so it never removes a layer that is not referenced yet.
    pub fn building(&self) -> RwLockReadGuard<'_, ()> {
        self.steps.building()
    }

    /// [`Self::building`] for async callers.
    pub async fn building_async(&self) -> RwLockReadGuard<'_, ()> {
        self.steps.building_async().await
    }

    /// Held by garbage collection: no build, pull or load runs meanwhile.
    pub fn collecting(&self) -> RwLockWriteGuard<'_, ()> {
        self.steps.collecting()
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where cache mounts live.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.path.join("cache-mounts")
    }

    /// Scratch space for this process (wiped by the snapshot store at open).
    pub fn tmp_dir(&self) -> PathBuf {
        self.path.join("tmp")
    }

    /// A new work dir for a container runtime of this process, `ROOT/exec/PID-RANDOM/`: each
    /// runtime's containers live apart and its owner is recorded there, so a later open kills
    /// exactly those whose graphbuild is dead.
    pub fn new_exec_dir(&self) -> PathBuf {
        let random = gb_cache::LayerId::random();
        self.path.join("exec").join(format!("{}-{}", std::process::id(), &random.0[..8]))
    }
}

/// Creates `dir` with mode 0700, or makes an existing one 0700 when it belongs to this user;
/// one of another user is an environment error.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), SolveError> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(SolveError::env(format!("creating {}", dir.display()), e));
        }
        _ => {}
    }
    let meta = std::fs::metadata(dir).map_err(|e| SolveError::env(format!("inspecting {}", dir.display()), e))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(SolveError::env(
            format!("refusing the state root directory {}", dir.display()),
            format!("it is owned by uid {}, not by this user (uid {me}); use a --root of your own", meta.uid()),
        ));
    }
    if !meta.is_dir() {
        return Err(SolveError::env(format!("opening {}", dir.display()), "it is not a directory"));
    }
    if meta.mode() & 0o7777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| SolveError::env(format!("making {} private (mode 0700)", dir.display()), e))?;
    }
    Ok(())
}

/// Kills the containers of graphbuild processes that died without cleaning up (a build killed
/// with SIGKILL, a crash, a killed `graphbuild run`): the runtimes of builds, `ROOT/exec/*/`
/// (and `ROOT/exec/` itself, the layout before per-runtime dirs), and those of `graphbuild
/// run`, `ROOT/run/*/exec/`. A runtime whose owner is alive (a `run` that released the lock) is
/// left alone. Best effort: whatever fails is tried again at the next open, and the open goes on,
/// since a leftover container is no reason to refuse the root.
fn reap_orphaned_containers(root: &Path) {
    let exec = root.join("exec");
    let mut work_dirs = vec![exec.clone()];
    work_dirs.extend(subdirs(&exec));
    work_dirs.extend(subdirs(&root.join("run")).into_iter().map(|run| run.join("exec")));
    for dir in work_dirs {
        let _ = gb_exec::reap_if_orphaned(&dir);
    }
}

/// Whether `error`, or an error it was caused by, is a full disk (or an exhausted quota): the
/// machine's failure, whichever step ran into it.
pub(crate) fn is_no_space(error: &(dyn std::error::Error + 'static)) -> bool {
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

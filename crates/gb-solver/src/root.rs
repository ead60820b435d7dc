//! The state root: where everything persistent lives, opened once per process under a lock.

use std::path::{Path, PathBuf};

use gb_cache::{CacheDb, ContentStore};
use gb_snapshot::SnapshotStore;

use crate::error::SolveError;

/// The opened state root: RocksDB, the blob store and the snapshot layers.
pub struct StateRoot {
    path: PathBuf,
    /// Cache results, the file index, images, layer records.
    pub db: CacheDb,
    /// Blobs by digest.
    pub content: ContentStore,
    /// Layer directories and mounts.
    pub snapshots: SnapshotStore,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl StateRoot {
    /// The default root: `/var/lib/graphbuild` for root, else `$XDG_DATA_HOME/graphbuild`
    /// (`~/.local/share/graphbuild`).
    pub fn default_path() -> PathBuf {
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/graphbuild");
        }
        match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            Some(data) => PathBuf::from(data).join("graphbuild"),
            None => std::env::var_os("HOME").map_or_else(
                || PathBuf::from(".graphbuild"),
                |home| PathBuf::from(home).join(".local/share/graphbuild"),
            ),
        }
    }

    /// Opens (creating) the root. A second process using the same root waits for the lock,
    /// since both would mount and write the same layers.
    pub fn open(path: &Path) -> Result<Self, SolveError> {
        std::fs::create_dir_all(path)
            .map_err(|e| SolveError::env(format!("creating the state root {}", path.display()), e))?;
        let lock_path = path.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| SolveError::env(format!("opening {}", lock_path.display()), e))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| SolveError::env(format!("locking {}", lock_path.display()), e))?;
        let db = CacheDb::open(path).map_err(|e| SolveError::env("opening the cache database", e))?;
        let content = ContentStore::open(path).map_err(|e| SolveError::env("opening the content store", e))?;
        let snapshots = SnapshotStore::open(path).map_err(|e| SolveError::env("opening the snapshot store", e))?;
        Ok(Self { path: path.to_owned(), db, content, snapshots, _lock: lock })
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
}

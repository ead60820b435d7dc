//! A state root in a temporary directory, opened the way the engine opens one: RocksDB tables,
//! the content store and the snapshot store.

use std::fs;
use std::path::Path;
use std::process::Command;

use gb_cache::{CacheDb, ContentStore, LayerId, LayerRecord};
use gb_export::ExportContext;
use gb_snapshot::SnapshotStore;
use tempfile::TempDir;

/// A state root: database, content store and snapshot store.
pub struct Root {
    pub dir: TempDir,
    pub db: CacheDb,
    pub content: ContentStore,
    pub snapshots: SnapshotStore,
}

impl Root {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = CacheDb::open(dir.path()).expect("open db");
        let content = ContentStore::open(dir.path()).expect("open content");
        let snapshots = SnapshotStore::open(dir.path()).expect("open snapshots");
        Root { dir, db, content, snapshots }
    }

    /// What the exporters read from.
    pub fn ctx(&self) -> ExportContext<'_> {
        ExportContext { db: &self.db, content: &self.content, snapshots: &self.snapshots }
    }

    /// How many entries a directory of the root has (`content/sha256`, `layers`, `tmp`).
    pub fn count(&self, dir: &str) -> usize {
        fs::read_dir(self.dir.path().join(dir)).map_or(0, |entries| entries.count())
    }

    /// A committed, recorded layer whose upper dir `fill` writes directly.
    pub fn layer(&self, fill: impl FnOnce(&Path)) -> LayerId {
        let work = self.snapshots.work_dir().expect("work dir");
        fill(work.upper());
        let (id, size) = self.snapshots.commit(work).expect("commit");
        self.record_layer(&id, size);
        id
    }

    /// Records a committed layer in the layers table, as a build would.
    pub fn record_layer(&self, id: &LayerId, size: u64) {
        self.db.put_layer(id, &LayerRecord { size, created_unix: 0 }).expect("put layer");
    }
}

impl Default for Root {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // A failed test may leave a mount; detach it before the directory is removed.
        let _ = Command::new("umount").args(["-R", "-l"]).arg(self.dir.path().join("tmp")).output();
    }
}

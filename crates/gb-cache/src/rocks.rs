//! The RocksDB [`KvStore`]: one column family per [`Table`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rocksdb::{ColumnFamily, DB, Direction, IteratorMode, LogLevel, Options, WriteBatch, WriteOptions};

use crate::error::CacheError;
use crate::kv::{KvPair, KvStore, KvWrite, Table};

/// The free space RocksDB must find on its file system before it is opened or written to.
///
/// Debian's librocksdb is built with assertions on, and after one failed write to a file (its
/// info `LOG`, the WAL) the next operation on that file fails an assertion
/// (`sync_without_flush_called_`, writable_file_writer.h) and aborts the process: on a full disk
/// every command died with SIGABRT, before it could say why. So RocksDB is not given the chance
/// to run out of space. Opening writes a few hundred KB (the info log's header, OPTIONS, a new
/// MANIFEST and WAL, an SST of the replayed WAL), a write a few KB of WAL; the rest of the margin
/// is for a memtable flush ([`DB_WRITE_BUFFER`]) and for other writers on the same file system
/// between the check and the write.
pub const MIN_FREE_BYTES: u64 = 8 << 20;

/// The memtables of all tables together. It bounds a flush's SST and the WAL's preallocation
/// (1.1 times the write buffer, fallocated, which on a nearly full ext4 keeps whatever part it
/// got); the records are small, so flushes stay rare.
const DB_WRITE_BUFFER: usize = 4 << 20;

/// A [`KvStore`] in a RocksDB database directory.
///
/// Opening takes RocksDB's `LOCK` file, so a second open of the same directory (from this process
/// or another) fails with [`CacheError::Locked`] until the first store is dropped.
///
/// Opening and every write first check that [`MIN_FREE_BYTES`] are free ([`CacheError::NoSpace`]
/// otherwise). Should a write fail with an IO error all the same, the database is never closed
/// (closing flushes the failed WAL writer, which aborts): the handle is leaked, and the next
/// open recovers from the WAL as after a crash.
pub struct RocksStore {
    /// Shared only so that a failed store can leak one reference instead of closing.
    db: Arc<DB>,
    path: PathBuf,
    failed: AtomicBool,
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        if self.failed.load(Ordering::SeqCst) {
            std::mem::forget(Arc::clone(&self.db));
        }
    }
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl RocksStore {
    /// Opens (creating if needed) the database in `dir`, with a column family per table.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // RocksDB keeps up to 1000 info LOG files by default; a build cache needs a few to debug.
        options.set_keep_log_file_num(4);
        options.set_max_log_file_size(4 << 20);
        // Only the header (version, options) at open: any later line could be the second write
        // after a failed one, which aborts (see MIN_FREE_BYTES); errors reach us as statuses.
        options.set_log_level(LogLevel::Header);
        options.set_db_write_buffer_size(DB_WRITE_BUFFER);
        ensure_space(dir, || "the cache database".to_owned())?;

        // Column families a newer graphbuild added must be opened too, or RocksDB refuses to open
        // the database at all; they are left alone.
        let mut names: Vec<String> = Table::ALL.iter().map(|table| table.name().to_owned()).collect();
        if dir.join("CURRENT").exists() {
            let existing = DB::list_cf(&options, dir).map_err(|error| db_error(dir, error))?;
            for name in existing {
                if name != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        // No compression: the records are small, and a database written by one RocksDB build
        // (Debian's has Snappy, a bundled one may not) must open with any other.
        options.set_compression_type(rocksdb::DBCompressionType::None);
        let descriptors = names.iter().map(|name| {
            let mut cf_options = Options::default();
            cf_options.set_compression_type(rocksdb::DBCompressionType::None);
            rocksdb::ColumnFamilyDescriptor::new(name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, dir, descriptors).map_err(|error| db_error(dir, error))?;
        Ok(Self { db: Arc::new(db), path: dir.to_owned(), failed: AtomicBool::new(false) })
    }

    /// Opens an existing database read-only: it takes no lock, so it works while a build holds
    /// the database, and sees the state as of the open. Writes fail.
    pub fn open_read_only(dir: &Path) -> Result<Self, CacheError> {
        let options = Options::default();
        let names = DB::list_cf(&options, dir).map_err(|error| db_error(dir, error))?;
        let db = DB::open_cf_for_read_only(&options, dir, &names, false).map_err(|error| db_error(dir, error))?;
        Ok(Self { db: Arc::new(db), path: dir.to_owned(), failed: AtomicBool::new(false) })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, table: Table) -> Result<&ColumnFamily, CacheError> {
        self.db.cf_handle(table.name()).ok_or_else(|| CacheError::Db {
            path: self.path.clone(),
            message: format!("column family `{table}` is missing"),
        })
    }

    fn error(&self, error: rocksdb::Error) -> CacheError {
        db_error(&self.path, error)
    }
}

impl KvStore for RocksStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, CacheError> {
        self.db.get_cf(self.cf(table)?, key).map_err(|error| self.error(error))
    }

    fn get_many(&self, table: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        // The batched MultiGet looks keys up block by block instead of one seek per key.
        self.db
            .batched_multi_get_cf(self.cf(table)?, keys, false)
            .into_iter()
            .map(|value| value.map(|value| value.map(|slice| slice.to_vec())).map_err(|error| self.error(error)))
            .collect()
    }

    fn write(&self, writes: Vec<KvWrite>) -> Result<(), CacheError> {
        let tables: BTreeSet<Table> = writes.iter().map(|(table, _, _)| *table).collect();
        let what = || {
            let names: Vec<&str> = tables.iter().map(|table| table.name()).collect();
            format!("writing the {} table{} of the cache database", names.join(", "), plural(names.len()))
        };
        ensure_space(&self.path, what)?;
        let mut batch = WriteBatch::default();
        let mut durable = false;
        for (table, key, value) in writes {
            let cf = self.cf(table)?;
            durable |= table.is_durable();
            match value {
                Some(value) => batch.put_cf(cf, key, value),
                None => batch.delete_cf(cf, key),
            }
        }
        let mut options = WriteOptions::default();
        // A synced write also syncs every earlier write in the log, so unsynced file-index batches
        // never leave a durable record behind them unsynced.
        options.set_sync(durable);
        self.db.write_opt(batch, &options).map_err(|error| {
            if error.kind() == rocksdb::ErrorKind::IOError {
                self.failed.store(true, Ordering::SeqCst);
            }
            match db_error(&self.path, error) {
                CacheError::NoSpace { path, detail, .. } => CacheError::NoSpace { what: what(), path, detail },
                other => other,
            }
        })
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<KvPair>, CacheError> {
        // No prefix extractor is configured, so the iterator runs past the prefix and is cut here.
        let mut pairs = Vec::new();
        for item in self.db.iterator_cf(self.cf(table)?, IteratorMode::From(prefix, Direction::Forward)) {
            let (key, value) = item.map_err(|error| self.error(error))?;
            if !key.starts_with(prefix) {
                break;
            }
            pairs.push((key.into_vec(), value.into_vec()));
        }
        Ok(pairs)
    }
}

/// Converts a RocksDB error, recognizing a held `LOCK` file.
///
/// RocksDB reports that as an IO error naming `.../LOCK`: "While lock file: DIR/LOCK: Resource
/// temporarily unavailable" from another process, "lock hold by current process ... DIR/LOCK: No
/// locks available" from this one.
fn db_error(path: &Path, error: rocksdb::Error) -> CacheError {
    let message = error.into_string();
    if message.contains("/LOCK:") && (message.contains("lock file") || message.contains("lock hold")) {
        return CacheError::Locked { path: path.to_owned(), detail: message };
    }
    if message.contains("No space left on device") {
        return CacheError::NoSpace { what: "the cache database".to_owned(), path: path.to_owned(), detail: message };
    }
    CacheError::Db { path: path.to_owned(), message }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Fails with [`CacheError::NoSpace`] unless [`MIN_FREE_BYTES`] are free on the file system of
/// `dir` (or of its nearest existing ancestor, before the database is created). Root may use the
/// blocks ext4 reserves for it, so for root those count as free.
fn ensure_space(dir: &Path, what: impl FnOnce() -> String) -> Result<(), CacheError> {
    let Some(free) = dir.ancestors().find_map(|path| free_bytes(path).ok()) else {
        // Nothing to measure on: RocksDB's own error will say what is wrong.
        return Ok(());
    };
    if free >= MIN_FREE_BYTES {
        return Ok(());
    }
    Err(CacheError::NoSpace {
        what: what(),
        path: dir.to_owned(),
        detail: format!(
            "{} free, graphbuild needs at least {} MiB free to write its database safely; free some space",
            human_bytes(free),
            MIN_FREE_BYTES >> 20
        ),
    })
}

fn free_bytes(path: &Path) -> nix::Result<u64> {
    let stats = nix::sys::statvfs::statvfs(path)?;
    let blocks = if nix::unistd::geteuid().is_root() { stats.blocks_free() } else { stats.blocks_available() };
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let bytes = u64::from(blocks).saturating_mul(u64::from(stats.fragment_size()));
    Ok(bytes)
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_fails_because_of_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = RocksStore::open(dir.path()).expect("first open");
        let error = RocksStore::open(dir.path()).expect_err("second open must fail");
        assert!(matches!(error, CacheError::Locked { .. }), "{error:?}");
        assert!(error.to_string().contains("is in use by another graphbuild process"), "{error}");
        drop(first);
        RocksStore::open(dir.path()).expect("open after the first store is dropped");
    }

    #[test]
    fn scans_stop_at_the_end_of_the_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RocksStore::open(dir.path()).expect("open");
        let put = |key: &str| (Table::Images, key.as_bytes().to_vec(), Some(b"v".to_vec()));
        store.write(vec![put("a/1"), put("a/2"), put("b/1"), put("a")]).expect("write");
        let keys: Vec<_> =
            store.scan_prefix(Table::Images, b"a/").expect("scan").into_iter().map(|(key, _)| key).collect();
        assert_eq!(keys, [b"a/1".to_vec(), b"a/2".to_vec()]);
        assert_eq!(store.scan_prefix(Table::Images, b"").expect("scan").len(), 4);
        assert!(store.scan_prefix(Table::Layers, b"").expect("scan").is_empty());
    }

    #[test]
    fn unknown_column_families_do_not_stop_an_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut options = Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            DB::open_cf(&options, dir.path(), ["from_the_future"]).expect("create");
        }
        let store = RocksStore::open(dir.path()).expect("open");
        store.write(vec![(Table::Meta, b"k".to_vec(), Some(b"v".to_vec()))]).expect("write");
    }
}

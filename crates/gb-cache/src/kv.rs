//! The key-value interface the cache is written against, and its tables.

use std::fmt;
use std::sync::Arc;

use crate::error::CacheError;

/// The tables of the store; each is a RocksDB column family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Cache key (32 raw bytes) → [`crate::ResultRecord`].
    Results,
    /// Host file path (UTF-8) → [`crate::FileRecord`].
    FileIndex,
    /// Image name (UTF-8) → [`crate::ImageRecord`].
    Images,
    /// Layer id (UTF-8) → [`crate::LayerRecord`].
    Layers,
    /// Bookkeeping such as the schema version.
    Meta,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 5] = [Table::Results, Table::FileIndex, Table::Images, Table::Layers, Table::Meta];

    /// The column family's name (what `ldb --column_family=` takes).
    pub fn name(self) -> &'static str {
        match self {
            Table::Results => "results",
            Table::FileIndex => "file_index",
            Table::Images => "images",
            Table::Layers => "layers",
            Table::Meta => "meta",
        }
    }

    /// Whether a write to this table must reach the disk before `write` returns.
    ///
    /// Everything but the file index: a published result, image or layer record must survive a
    /// crash, while the file index is only a shortcut that is rebuilt by re-hashing, and is
    /// written in bulk where an fsync per batch would cost more than it saves.
    pub fn is_durable(self) -> bool {
        !matches!(self, Table::FileIndex)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One write of a batch: the table, the key, and the new value (`None` deletes).
pub type KvWrite = (Table, Vec<u8>, Option<Vec<u8>>);

/// A key and its value, as a scan returns them.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// The key-value store behind the cache, a trait so the backend can change.
///
/// Invariants every implementation keeps:
/// - [`KvStore::write`] applies all of its writes or none, and a read that starts after it returns
///   sees all of them;
/// - when a batch touches a table whose [`Table::is_durable`] is true, the batch (and every
///   earlier one) is on disk when `write` returns;
/// - [`KvStore::scan_prefix`] returns pairs in ascending byte order of their keys;
/// - tables are independent: the same key in two tables names two entries.
pub trait KvStore: Send + Sync {
    /// The value under `key`, if any.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, CacheError>;

    /// The values under many keys of one table, in the order of `keys`.
    ///
    /// Backends override this when they can batch lookups (a no-op rebuild of a large context asks
    /// for every file at once).
    fn get_many(&self, table: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        keys.iter().map(|key| self.get(table, key)).collect()
    }

    /// Applies all writes atomically (None deletes); later writes to a key win over earlier ones.
    fn write(&self, writes: Vec<KvWrite>) -> Result<(), CacheError>;

    /// Every pair of `table` whose key starts with `prefix`, in ascending key order.
    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<KvPair>, CacheError>;
}

/// A shared store is a store, so one backend can sit behind several handles (and tests can keep a
/// handle to the store they gave a [`crate::CacheDb`]).
impl<T: KvStore + ?Sized> KvStore for Arc<T> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, CacheError> {
        (**self).get(table, key)
    }

    fn get_many(&self, table: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        (**self).get_many(table, keys)
    }

    fn write(&self, writes: Vec<KvWrite>) -> Result<(), CacheError> {
        (**self).write(writes)
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<KvPair>, CacheError> {
        (**self).scan_prefix(table, prefix)
    }
}

//! An in-memory [`KvStore`]: a real implementation for tests of the crates above this one.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use crate::error::CacheError;
use crate::kv::{KvPair, KvStore, KvWrite, Table};

/// One table's entries, in key order.
type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// A [`KvStore`] in ordered maps, one per table. Nothing is persisted, so "durable" holds
/// trivially for as long as the value lives.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: RwLock<BTreeMap<Table, Entries>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvStore for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, CacheError> {
        // A panic while the lock is held can't leave a half-applied batch (see `write`), so a
        // poisoned lock still guards consistent data.
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        Ok(tables.get(&table).and_then(|entries| entries.get(key)).cloned())
    }

    fn write(&self, writes: Vec<KvWrite>) -> Result<(), CacheError> {
        // Nothing below can fail or panic part-way (short of running out of memory), which is what
        // makes the batch atomic under the one write lock.
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        for (table, key, value) in writes {
            let entries = tables.entry(table).or_default();
            match value {
                Some(value) => {
                    entries.insert(key, value);
                }
                None => {
                    entries.remove(&key);
                }
            }
        }
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<KvPair>, CacheError> {
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        let Some(entries) = tables.get(&table) else { return Ok(Vec::new()) };
        Ok(entries
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}

//! The persistent store: RocksDB tables for cache results, the per-file content index and images, and the content-addressed blob store.
//!
//! Two halves, both under the state root (`docs/engine.md`):
//! - [`CacheDb`] at `ROOT/db/`: typed JSON records in RocksDB column families ([`Table`]), behind
//!   the [`KvStore`] trait so tests can use a [`MemoryStore`];
//! - [`ContentStore`] at `ROOT/content/sha256/`: blobs named by their sha256, written atomically.
//!
//! Durability: results, images and layer records are synced before a write returns; the file
//! index is not (a crash costs re-hashing, never a wrong answer).

mod content;
mod db;
mod error;
mod ids;
mod kv;
mod memory;
mod records;
mod rocks;

pub use content::{BlobWriter, ContentStore};
pub use db::{CacheDb, SCHEMA_VERSION};
pub use error::CacheError;
pub use ids::{CacheKey, ImageName, LayerId, Snapshot};
pub use kv::{KvPair, KvStore, KvWrite, Table};
pub use memory::MemoryStore;
pub use records::{FileRecord, ImageRecord, LayerBlobRecord, LayerRecord, ResultRecord};
pub use rocks::{MIN_FREE_BYTES, RocksStore};

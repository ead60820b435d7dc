//! TEMPORARY stand-ins for the gb-cache types this crate uses, until gb-cache builds.

use std::sync::atomic::{AtomicU64, Ordering};

use gb_ir::Sha256Digest;

/// A layer's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub String);

impl LayerId {
    /// A fresh random id.
    pub fn random() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let seed = format!("{:?}{}{}", std::time::SystemTime::now(), std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        LayerId(Sha256Digest::of(seed.as_bytes()).hex()[..32].to_owned())
    }
}

/// A stack of layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Bottom first.
    pub layers: Vec<LayerId>,
}

/// A per-file record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub inode: u64,
    pub device: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub sha256: Sha256Digest,
}

/// The store's error.
#[derive(Debug, thiserror::Error)]
#[error("cache error")]
pub struct CacheError;

/// The database.
pub struct CacheDb;

impl CacheDb {
    pub fn file_records(&self, paths: &[&str]) -> Result<Vec<Option<FileRecord>>, CacheError> {
        Ok(vec![None; paths.len()])
    }
    pub fn put_file_records(&self, _records: &[(String, FileRecord)]) -> Result<(), CacheError> {
        Ok(())
    }
}

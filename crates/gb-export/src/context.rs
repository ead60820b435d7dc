//! What every export and load works against: the state root's database, blobs and layers.

/// The stores an export reads from and writes to, all of one state root.
#[derive(Debug, Clone, Copy)]
pub struct ExportContext<'a> {
    /// Layer blob records (`layerblob:` entries) and layer records.
    pub db: &'a gb_cache::CacheDb,
    /// Blobs: layer blobs, configs, manifests.
    pub content: &'a gb_cache::ContentStore,
    /// Layer directories.
    pub snapshots: &'a gb_snapshot::SnapshotStore,
}

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

/// Blobs and layers an operation added to the store, so a failed pull or import can take them
/// back and leave the store as it found it.
#[derive(Debug, Default)]
pub struct StoreAdditions {
    /// Blobs written to the content store.
    pub blobs: Vec<gb_ir::Sha256Digest>,
    /// Layers committed and recorded.
    pub layers: Vec<gb_cache::LayerId>,
}

impl StoreAdditions {
    /// Removes everything recorded here.
    pub fn take_back(&self, ctx: &ExportContext) {
        // Best effort: whatever stays is unreferenced and goes with the next prune.
        for layer in &self.layers {
            let _ = ctx.db.remove_layer(layer);
            let _ = std::fs::remove_dir_all(ctx.snapshots.layer_path(layer));
        }
        for blob in &self.blobs {
            let _ = ctx.content.remove(blob);
        }
    }
}

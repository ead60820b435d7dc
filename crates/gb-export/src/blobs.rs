//! Layer blobs: each layer's diff tar compressed into the content store once per compression
//! and SOURCE_DATE_EPOCH, with both digests computed while the bytes stream.

use std::collections::{HashMap, HashSet};

use gb_cache::{LayerBlobRecord, LayerId};
use gb_snapshot::DiffTarOptions;
use rayon::prelude::*;

use crate::compression::Compression;
use crate::context::ExportContext;
use crate::error::ExportError;
use crate::hashing::HashingWriter;

/// The blobs of `layers` (bottom first), one record per entry of `layers`.
///
/// Each layer's diff tar (overlay whiteouts as `.wh.` entries, sorted, deterministic; mtimes
/// later than `source_date_epoch` lowered to it when given) is compressed into the content
/// store; the sha256 of the tar (the diff id) and of the blob are computed on the way. A layer
/// already exported with the same compression and epoch is not compressed again (its record is
/// in [`gb_cache::CacheDb::layer_blob`] and its blob still in the store); the others are
/// compressed in parallel.
pub fn layer_blobs(
    ctx: &ExportContext,
    layers: &[LayerId],
    compression: Compression,
    source_date_epoch: Option<i64>,
) -> Result<Vec<LayerBlobRecord>, ExportError> {
    let variant = compression.cache_variant(source_date_epoch);
    let mut known: HashMap<&LayerId, LayerBlobRecord> = HashMap::new();
    let mut missing = Vec::new();
    let mut seen = HashSet::new();
    for id in layers {
        if !seen.insert(id) {
            continue;
        }
        let cached = ctx
            .db
            .layer_blob(id, &variant)
            .map_err(ExportError::store(format!("read the blob record of layer {id}")))?;
        match cached {
            // A pruned blob makes the record stale; export the layer again.
            Some(record) if ctx.content.contains(&record.digest) => {
                known.insert(id, record);
            }
            _ => missing.push(id),
        }
    }
    let made = missing
        .par_iter()
        .map(|id| {
            let record = export_layer(ctx, id, compression, source_date_epoch)?;
            // Recorded as soon as it exists, so a failure of another layer loses no work.
            ctx.db
                .put_layer_blob(id, &variant, &record)
                .map_err(ExportError::store(format!("record the blob of layer {id}")))?;
            Ok((*id, record))
        })
        .collect::<Result<Vec<_>, ExportError>>()?;
    known.extend(made);
    Ok(layers.iter().filter_map(|id| known.get(id).cloned()).collect())
}

/// Streams layer `id`'s diff tar through a hasher (diff id) and the encoder into a new blob
/// (whose writer hashes the compressed bytes).
fn export_layer(
    ctx: &ExportContext,
    id: &LayerId,
    compression: Compression,
    source_date_epoch: Option<i64>,
) -> Result<LayerBlobRecord, ExportError> {
    let compress_error = |source| ExportError::Compress { layer: id.clone(), source };
    let writer = ctx.content.writer().map_err(ExportError::store(format!("create the blob of layer {id}")))?;
    let mut tar = HashingWriter::new(compression.encoder(writer).map_err(compress_error)?);
    let options = DiffTarOptions { clamp_mtime: source_date_epoch };
    ctx.snapshots
        .layer_diff_tar_with(id, &mut tar, &options)
        .map_err(|source| ExportError::Layer { layer: id.clone(), source })?;
    let (encoder, diff_id) = tar.finish();
    let writer = encoder.finish().map_err(compress_error)?;
    let (digest, size) = writer.commit(None).map_err(ExportError::store(format!("store the blob of layer {id}")))?;
    Ok(LayerBlobRecord { digest, diff_id, size, media_type: compression.media_type().to_owned() })
}

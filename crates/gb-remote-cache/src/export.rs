//! Exporting cache results: their records and layer blobs written to a layout directory or
//! pushed to a registry.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use gb_cache::{CacheKey, LayerBlobRecord, LayerId};
use gb_export::{Compression, ExportContext, layer_blobs, unclamped_exports};
use gb_ir::{ImageReference, Sha256Digest};
use gb_registry::Registry;

use crate::error::CacheShareError;
use crate::format::{CONFIG_VERSION, CacheConfig, CacheLayer, CacheRecord, MANIFEST_MEDIA_TYPE, documents};
use crate::local::write_layout;
use crate::option::CacheLocation;
use crate::util::blocking;

/// How many blobs upload at once.
const MAX_UPLOADS: usize = 4;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Results in the cache.
    pub records: usize,
    /// Layer blobs in the cache (each once).
    pub blobs: usize,
    /// Blobs (layers, config, manifest) written to the directory or uploaded to the registry;
    /// the others were there already.
    pub written: usize,
    /// The cache manifest's digest.
    pub manifest_digest: Sha256Digest,
}

/// Exports the results stored under `keys` to `location`: each result's record (from
/// `ctx.db`) and the layers of its outputs as blobs. A layer already exported (a recorded
/// unclamped gzip, zstd or uncompressed blob still in the content store) gives that blob;
/// the others are compressed with gzip, without SOURCE_DATE_EPOCH, through
/// [`gb_export::layer_blobs`] (which records them). The config blob lists the records
/// (`docs/cache-format.md`); an OCI image manifest references it and every layer blob, each
/// once.
///
/// Local: the directory becomes (or is updated as) an OCI image layout whose `index.json`
/// tags the manifest `latest`; blobs already there are not copied again. Registry: blobs the
/// repository has are skipped, the others uploaded, then the manifest is put under the
/// reference's tag.
///
/// Which keys to pass is the caller's choice of [`crate::CacheMode`]: `min` exports
/// `[output_key]`, `max` every one of `result_keys`. A key without a stored result fails the
/// export ([`CacheShareError::MissingResult`]).
pub async fn export_cache(
    ctx: &ExportContext<'_>,
    registry: Option<&Registry>,
    keys: &[CacheKey],
    location: &CacheLocation,
) -> Result<ExportReport, CacheShareError> {
    let target = match location {
        CacheLocation::Local(_) => None,
        CacheLocation::Registry(reference) => Some(push_target(registry, reference)?),
        CacheLocation::Reapi(_) => return Err(not_a_document(location)),
    };
    let mut results = BTreeMap::new();
    for key in keys {
        let record = ctx
            .db
            .result(key)
            .map_err(CacheShareError::store(format!("read the result of {key}")))?
            .ok_or(CacheShareError::MissingResult { key: *key })?;
        results.insert(*key, record);
    }
    // Layers in order of first use: records by key, outputs in order, layers bottom first.
    let mut layers: Vec<LayerId> = Vec::new();
    let mut seen = HashSet::new();
    for layer in results.values().flat_map(|record| record.outputs.iter().flat_map(|output| &output.layers)) {
        if seen.insert(layer) {
            layers.push(layer.clone());
        }
    }
    let blob_of = blocking(|| layer_blob_records(ctx, &layers))?;
    let mut config = CacheConfig { version: CONFIG_VERSION, layers: Vec::new(), records: Vec::new() };
    let mut listed = HashSet::new();
    for layer in &layers {
        let record = &blob_of[layer];
        // Two layers with the same content give one blob, listed once.
        if listed.insert(record.digest) {
            config.layers.push(CacheLayer {
                blob: record.digest,
                diff_id: record.diff_id,
                size: record.size,
                media_type: record.media_type.clone(),
            });
        }
    }
    for (key, record) in &results {
        config.records.push(CacheRecord {
            key: *key,
            outputs: record
                .outputs
                .iter()
                .map(|output| output.layers.iter().map(|layer| blob_of[layer].digest).collect())
                .collect(),
            created_unix: record.created_unix,
            description: record.description.clone(),
        });
    }
    let (config_bytes, manifest_bytes) = documents(&config);
    let manifest_digest = Sha256Digest::of(&manifest_bytes);
    let blobs: Vec<Sha256Digest> = config.layers.iter().map(|layer| layer.blob).collect();
    let written = match (location, registry, target) {
        (CacheLocation::Local(dir), _, _) => {
            blocking(|| write_layout(ctx, dir, &blobs, &config_bytes, &manifest_bytes))?
        }
        (CacheLocation::Registry(_), Some(registry), Some(target)) => {
            // The config goes through the content store, whence blobs are pushed.
            let config_digest =
                ctx.content.put_bytes(&config_bytes).map_err(CacheShareError::store("store the cache config"))?;
            let uploads = blobs.iter().chain([&config_digest]).map(|digest| {
                let target = &target;
                async move { registry.push_blob_from_store(ctx, target, digest).await }
            });
            let uploaded: Vec<bool> = stream::iter(uploads).buffer_unordered(MAX_UPLOADS).try_collect().await?;
            registry.push_manifest_bytes(&target, manifest_bytes, MANIFEST_MEDIA_TYPE).await?;
            uploaded.into_iter().filter(|uploaded| *uploaded).count() + 1
        }
        (CacheLocation::Registry(reference), _, _) => {
            return Err(CacheShareError::NoRegistryClient { location: reference.to_string() });
        }
        (CacheLocation::Reapi(_), _, _) => return Err(not_a_document(location)),
    };
    Ok(ExportReport { records: results.len(), blobs: blobs.len(), written, manifest_digest })
}

/// The reference a registry cache is pushed to: a tag (`latest` when none is given); a digest
/// alone cannot be pushed to, since the manifest's digest is not known in advance.
fn push_target(registry: Option<&Registry>, reference: &ImageReference) -> Result<ImageReference, CacheShareError> {
    if registry.is_none() {
        return Err(CacheShareError::NoRegistryClient { location: reference.to_string() });
    }
    if reference.tag.is_none() && reference.digest.is_some() {
        return Err(CacheShareError::InvalidOption {
            text: reference.to_string(),
            reason: "a cache is exported under a tag, not a digest".to_owned(),
        });
    }
    Ok(ImageReference { digest: None, ..reference.clone() })
}

/// A REAPI cache holds no cache document: the engine stores and looks up its results step by
/// step (`gb-reapi`).
pub(crate) fn not_a_document(location: &CacheLocation) -> CacheShareError {
    CacheShareError::Unsupported {
        location: location.to_string(),
        reason: "a REAPI cache is read and written step by step, not as one document".to_owned(),
    }
}

/// The blob of each layer: its recorded unclamped export (gzip, zstd or uncompressed, in that
/// order) whose blob is still in the content store, else a new gzip blob.
pub fn layer_blob_records(
    ctx: &ExportContext,
    layers: &[LayerId],
) -> Result<HashMap<LayerId, LayerBlobRecord>, CacheShareError> {
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for layer in layers {
        let recorded = unclamped_exports(ctx, layer)?.into_iter().find(|record| ctx.content.contains(&record.digest));
        match recorded {
            Some(record) => {
                found.insert(layer.clone(), record);
            }
            None => missing.push(layer.clone()),
        }
    }
    let made = layer_blobs(ctx, &missing, Compression::Gzip, None)?;
    found.extend(missing.into_iter().zip(made));
    Ok(found)
}

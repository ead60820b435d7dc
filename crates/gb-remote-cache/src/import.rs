//! Importing a cache: its config read, the layer blobs of the results this root lacks fetched
//! (verified) and imported as layers, then the results recorded under their keys.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use futures_util::{StreamExt as _, stream};
use gb_cache::{CacheKey, LayerId, ResultRecord, Snapshot};
use gb_export::{Compression, ExportContext, StoreAdditions, import_layer_blob, unclamped_exports};
use gb_ir::{ImageReference, Sha256Digest};
use gb_registry::{Registry, RegistryError};

use crate::error::CacheShareError;
use crate::format::{CacheLayer, CacheRecord, Descriptor, MAX_CONFIG_SIZE, parse_config, parse_manifest};
use crate::local::{copy_blob_to_store, read_blob, read_manifest};
use crate::option::CacheLocation;
use crate::util::blocking;

/// How many blobs download at once.
const MAX_DOWNLOADS: usize = 4;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Results recorded (those this root had no usable result for).
    pub records: usize,
    /// Layer blobs copied from the directory or downloaded from the registry.
    pub layers_downloaded: usize,
    /// Layers unpacked into the snapshot store (the others were there already).
    pub layers_imported: usize,
    /// What the user should know: a cache that is not there (a miss, not an error).
    pub warnings: Vec<String>,
}

/// Imports the cache at `location` into the state root of `ctx`.
///
/// The manifest and config are read first ([`CacheDocument::open`]); a location without a cache
/// (no directory, no `index.json`, no such tag or repository) is a miss, as in BuildKit:
/// nothing is imported and the report carries a warning. Then every record this root has no
/// usable result for (none, or one naming a missing layer) is brought in
/// ([`CacheDocument::bring_in`]), so builds here run none of these steps. A build brings in only
/// the records its solve asks for instead (the engine's lazy import).
pub async fn import_cache(
    ctx: &ExportContext<'_>,
    registry: Option<&Registry>,
    location: &CacheLocation,
) -> Result<ImportReport, CacheShareError> {
    match CacheDocument::open(ctx, registry, location).await? {
        Some(document) => document.bring_in(ctx, registry, None).await,
        None => Ok(ImportReport {
            warnings: vec![format!("no cache found at {location}: nothing imported")],
            ..ImportReport::default()
        }),
    }
}

/// A cache's manifest and config, read once: its records are brought in when asked for
/// ([`CacheDocument::bring_in`]), so a build imports only the records its solve needs.
#[derive(Debug, Clone)]
pub struct CacheDocument {
    location: CacheLocation,
    config: crate::format::CacheConfig,
}

impl CacheDocument {
    /// Reads and checks the cache's manifest and config; `None` when there is no cache at
    /// `location` (a miss, not an error).
    pub async fn open(
        ctx: &ExportContext<'_>,
        registry: Option<&Registry>,
        location: &CacheLocation,
    ) -> Result<Option<Self>, CacheShareError> {
        let name = location.to_string();
        let source = Source::of(registry, location)?;
        let Some((manifest_bytes, media_type)) = source.manifest(&name).await? else { return Ok(None) };
        let manifest = parse_manifest(&manifest_bytes, &media_type, &name)?;
        let config = parse_config(&source.config(ctx, &manifest.config, &name).await?, &name)?;
        config.validate(&manifest, &name)?;
        Ok(Some(CacheDocument { location: location.clone(), config }))
    }

    /// Whether the cache has a record under `key`.
    pub fn has(&self, key: &CacheKey) -> bool {
        self.config.records.iter().any(|record| record.key == *key)
    }

    /// Imports the records under `keys` (all with `None`) that this root has no usable result
    /// for: each layer blob is made a layer (one imported from or exported as that very blob
    /// is reused; otherwise the blob is copied or downloaded, verified against its digest, and
    /// imported with [`gb_export::import_layer_blob`], which checks its diff id and records the
    /// blob as the layer's export, so images built on this root reuse the same bytes), then each
    /// record is stored as a `ResultRecord` with the exported `created_unix` and description.
    ///
    /// Any failure before the records are written (a tampered blob, a lost connection) takes
    /// back the blobs and layers this import added and records nothing.
    pub async fn bring_in(
        &self,
        ctx: &ExportContext<'_>,
        registry: Option<&Registry>,
        keys: Option<&[CacheKey]>,
    ) -> Result<ImportReport, CacheShareError> {
        let name = self.location.to_string();
        let source = Source::of(registry, &self.location)?;
        let mut wanted: Vec<&CacheRecord> = Vec::new();
        for record in &self.config.records {
            if keys.is_none_or(|keys| keys.contains(&record.key)) && !has_usable_result(ctx, &record.key)? {
                wanted.push(record);
            }
        }
        if wanted.is_empty() {
            return Ok(ImportReport::default());
        }
        let layers: HashMap<Sha256Digest, &CacheLayer> =
            self.config.layers.iter().map(|layer| (layer.blob, layer)).collect();
        let mut seen = HashSet::new();
        let needed: Vec<&CacheLayer> = wanted
            .iter()
            .flat_map(|record| record.outputs.iter().flatten())
            .filter(|blob| seen.insert(**blob))
            .map(|blob| layers[blob])
            .collect();
        let mut known = blocking(|| layers_by_blob(ctx))?;
        let mut added = StoreAdditions::default();
        let mut report = ImportReport { records: wanted.len(), ..ImportReport::default() };
        let made = make_layers(ctx, &source, &name, &needed, &mut known, &mut added, &mut report).await;
        if let Err(error) = made {
            added.take_back(ctx);
            return Err(error);
        }
        // Every layer exists now; each record is durable on its own and names only those layers.
        for record in wanted {
            let result = ResultRecord {
                outputs: record
                    .outputs
                    .iter()
                    .map(|blobs| Snapshot { layers: blobs.iter().map(|blob| known[blob].clone()).collect() })
                    .collect(),
                created_unix: record.created_unix,
                description: record.description.clone(),
                effective_key: None,
            };
            ctx.db
                .put_result(&record.key, &result)
                .map_err(CacheShareError::store(format!("record the result of {}", record.key)))?;
        }
        Ok(report)
    }
}

/// Where the cache's documents and blobs come from.
enum Source<'a> {
    Local(&'a Path),
    Registry(&'a Registry, &'a ImageReference),
}

impl<'a> Source<'a> {
    /// Where `location`'s documents and blobs come from.
    fn of(registry: Option<&'a Registry>, location: &'a CacheLocation) -> Result<Self, CacheShareError> {
        match location {
            CacheLocation::Local(dir) => Ok(Source::Local(dir)),
            CacheLocation::Registry(reference) => {
                let registry =
                    registry.ok_or_else(|| CacheShareError::NoRegistryClient { location: location.to_string() })?;
                Ok(Source::Registry(registry, reference))
            }
            CacheLocation::Reapi(_) => Err(crate::export::not_a_document(location)),
        }
    }

    /// The manifest's bytes and media type; `None` when there is no cache there.
    async fn manifest(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, CacheShareError> {
        match self {
            Source::Local(dir) => blocking(|| read_manifest(dir, name)),
            Source::Registry(registry, reference) => match registry.pull_manifest_bytes(reference).await {
                Ok((bytes, media_type, _)) => Ok(Some((bytes, media_type))),
                Err(RegistryError::NotFound { .. }) => Ok(None),
                Err(error) => Err(registry_error(error, name)),
            },
        }
    }

    /// The config blob's bytes, verified.
    async fn config(
        &self,
        ctx: &ExportContext<'_>,
        descriptor: &Descriptor,
        name: &str,
    ) -> Result<Vec<u8>, CacheShareError> {
        if descriptor.size > MAX_CONFIG_SIZE {
            return Err(CacheShareError::InvalidCache {
                location: name.to_owned(),
                reason: format!("its config is {} bytes", descriptor.size),
            });
        }
        let digest = &descriptor.digest;
        match self {
            Source::Local(dir) => blocking(|| read_blob(dir, digest, MAX_CONFIG_SIZE, "config", name)),
            Source::Registry(registry, reference) => {
                if !ctx.content.contains(digest) {
                    registry
                        .pull_blob_to_store(ctx, reference, digest, descriptor.size)
                        .await
                        .map_err(|error| registry_error(error, name))?;
                }
                ctx.content.read(digest).map_err(CacheShareError::store(format!("read the cache config {digest}")))
            }
        }
    }
}

/// Makes a layer for each of `needed` that `known` lacks: fetches the blobs the content store
/// lacks, then imports them. Records in `added` what it adds, for taking back.
async fn make_layers(
    ctx: &ExportContext<'_>,
    source: &Source<'_>,
    name: &str,
    needed: &[&CacheLayer],
    known: &mut HashMap<Sha256Digest, LayerId>,
    added: &mut StoreAdditions,
    report: &mut ImportReport,
) -> Result<(), CacheShareError> {
    let missing: Vec<&CacheLayer> = needed.iter().copied().filter(|layer| !known.contains_key(&layer.blob)).collect();
    let to_fetch: Vec<&CacheLayer> =
        missing.iter().copied().filter(|layer| !ctx.content.contains(&layer.blob)).collect();
    match source {
        Source::Local(dir) => {
            for layer in &to_fetch {
                blocking(|| copy_blob_to_store(ctx, dir, &layer.blob, name))?;
                added.blobs.push(layer.blob);
            }
        }
        Source::Registry(registry, reference) => {
            let downloads = to_fetch.iter().map(|layer| async move {
                registry.pull_blob_to_store(ctx, reference, &layer.blob, layer.size).await.map(|()| layer.blob)
            });
            let mut downloads = stream::iter(downloads).buffer_unordered(MAX_DOWNLOADS);
            // On a failure the stream is dropped, cancelling the other downloads (a cancelled
            // download leaves nothing in the store).
            while let Some(downloaded) = downloads.next().await {
                added.blobs.push(downloaded.map_err(|error| registry_error(error, name))?);
            }
        }
    }
    report.layers_downloaded = to_fetch.len();
    for layer in missing {
        let compression =
            Compression::from_media_type(&layer.media_type).ok_or_else(|| CacheShareError::InvalidCache {
                location: name.to_owned(),
                reason: format!("layer {} has media type {}, not a layer tar", layer.blob, layer.media_type),
            })?;
        let size =
            ctx.content.size(&layer.blob).map_err(CacheShareError::store(format!("read blob {}", layer.blob)))?;
        let id = blocking(|| import_layer_blob(ctx, &layer.blob, size, compression, &layer.diff_id, name))?;
        added.layers.push(id.clone());
        known.insert(layer.blob, id);
        report.layers_imported += 1;
    }
    Ok(())
}

/// Whether `key` has a result here whose layers all exist (what the solver would use).
fn has_usable_result(ctx: &ExportContext, key: &CacheKey) -> Result<bool, CacheShareError> {
    let record = ctx.db.result(key).map_err(CacheShareError::store(format!("read the result of {key}")))?;
    Ok(record.is_some_and(|record| {
        record.outputs.iter().all(|output| output.layers.iter().all(|layer| ctx.snapshots.layer_path(layer).is_dir()))
    }))
}

/// The layers of this root by the blobs they were imported from or exported as without
/// SOURCE_DATE_EPOCH (any compression): those blobs' content is exactly the layer's.
fn layers_by_blob(ctx: &ExportContext) -> Result<HashMap<Sha256Digest, LayerId>, CacheShareError> {
    let mut found = HashMap::new();
    for (layer, _) in ctx.db.layers().map_err(CacheShareError::store("list the layers"))? {
        if !layer.is_well_formed() || !ctx.snapshots.layer_path(&layer).is_dir() {
            continue;
        }
        for record in unclamped_exports(ctx, &layer)? {
            found.entry(record.digest).or_insert_with(|| layer.clone());
        }
    }
    Ok(found)
}

/// A registry error, with a digest mismatch named as the cache's.
fn registry_error(error: RegistryError, name: &str) -> CacheShareError {
    match error {
        RegistryError::DigestMismatch { what, expected, actual, .. } => {
            CacheShareError::DigestMismatch { what, location: name.to_owned(), expected, actual }
        }
        other => other.into(),
    }
}

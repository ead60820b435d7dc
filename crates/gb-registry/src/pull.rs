//! Pulling an image into the local store: layer blobs downloaded concurrently and verified as
//! they stream into the content store, each imported into the snapshot store, then the config,
//! the manifest and the image record. A failed pull takes back what it added.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::sync::Arc;

use futures_util::StreamExt as _;
use gb_cache::{CacheError, ContentStore, ImageRecord, LayerId};
use gb_export::{Compression, ExportContext, LayerReuse, StoreAdditions, import_layer_blob};
use gb_ir::{ImageReference, Platform, Sha256Digest};
use oci_client::{Client, Reference};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::{RegistryError, Request};
use crate::manifest::Descriptor;
use crate::registry::{Registry, blocking, oci_reference};
use crate::resolve::resolve_with;

/// How many layers download at once.
pub const MAX_DOWNLOADS: usize = 4;

/// A layer of the manifest, with the content its config promises.
struct Layer {
    blob: Sha256Digest,
    size: u64,
    media_type: String,
    diff_id: Sha256Digest,
}

impl Registry {
    /// Pulls `reference` for `platform` into the local store and records it under its
    /// normalized name (`reference.to_string()`).
    ///
    /// The manifest and config are fetched first ([`Registry::resolve`]); then up to
    /// [`MAX_DOWNLOADS`] layer blobs download at once, each streamed into the content store and
    /// verified against its digest, and each is imported into the snapshot store (decompressed
    /// by media type) while the others download. A blob already in the content store is not
    /// downloaded, and a layer whose diff id a stored image already has is not imported again.
    ///
    /// Any failure (a digest mismatch, a lost connection) fails the pull and takes back every
    /// blob and layer it added: nothing is recorded.
    pub async fn pull(
        &self,
        ctx: &ExportContext<'_>,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ImageRecord, RegistryError> {
        let session = self.session(&reference.registry).await?;
        let image = resolve_with(&session, reference, platform).await?;
        let request = session.request(reference, "pull");
        let layers = layers_of(&request, &image.manifest.layers, &image.resolved.config)?;
        let mut added = StoreAdditions::default();
        let result = async {
            let download = Download { client: session.client.clone(), reference: oci_reference(reference), request };
            let ids = pull_layers(ctx, &download, &layers, &mut added).await?;
            let resolved = &image.resolved;
            for bytes in [&resolved.config_bytes, &resolved.manifest_bytes] {
                let digest = Sha256Digest::of(bytes);
                if !ctx.content.contains(&digest) {
                    ctx.content.put_bytes(bytes).map_err(RegistryError::store(format!("store blob {digest}")))?;
                    added.blobs.push(digest);
                }
            }
            let name = reference.to_string();
            // The reference with the manifest's digest: the image's RepoDigests, as docker's.
            let mut pinned = reference.clone();
            pinned.digest = Some(resolved.manifest_digest);
            let record = ImageRecord {
                reference: pinned.to_string(),
                manifest_digest: resolved.manifest_digest,
                config_digest: resolved.config_digest,
                config: resolved.config.clone(),
                layers: ids,
                diff_ids: layers.iter().map(|layer| layer.diff_id).collect(),
                created_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_secs()),
            };
            ctx.db
                .put_image(&gb_cache::ImageName::of(reference), &record)
                .map_err(RegistryError::store(format!("record image {name}")))?;
            Ok(record)
        }
        .await;
        if result.is_err() {
            added.take_back(ctx);
        }
        result
    }
}

/// The manifest's layers paired with the config's diff ids.
fn layers_of(
    request: &Request,
    descriptors: &[Descriptor],
    config: &serde_json::Value,
) -> Result<Vec<Layer>, RegistryError> {
    let invalid =
        |what, reason: String| RegistryError::InvalidContent { what, reference: request.reference.clone(), reason };
    let diff_ids =
        config["rootfs"]["diff_ids"].as_array().ok_or_else(|| invalid("config", "no rootfs.diff_ids".into()))?;
    if diff_ids.len() != descriptors.len() {
        return Err(invalid(
            "config",
            format!("{} diff ids for the manifest's {} layers", diff_ids.len(), descriptors.len()),
        ));
    }
    descriptors
        .iter()
        .zip(diff_ids)
        .map(|(descriptor, diff_id)| {
            let blob = descriptor.sha256().map_err(|reason| RegistryError::Unsupported {
                what: "manifest",
                reference: request.reference.clone(),
                reason,
            })?;
            let text = diff_id.as_str().unwrap_or_default();
            let diff_id = text.parse().map_err(|_| invalid("config", format!("diff id `{text}` is not sha256")))?;
            Ok(Layer { blob, size: descriptor.size, media_type: descriptor.media_type.clone(), diff_id })
        })
        .collect()
}

/// Makes a layer for each of `layers`, in order: reused, imported from a blob in the store, or
/// downloaded then imported. Downloads run as tasks; imports run here as each blob arrives.
async fn pull_layers(
    ctx: &ExportContext<'_>,
    download: &Download,
    layers: &[Layer],
    added: &mut StoreAdditions,
) -> Result<Vec<LayerId>, RegistryError> {
    let import_error =
        |source| RegistryError::Import { reference: download.request.reference.clone(), source: Box::new(source) };
    let mut reuse = LayerReuse::new(ctx).map_err(import_error)?;
    let mut ids: Vec<Option<LayerId>> = vec![None; layers.len()];
    let mut ready = Vec::new();
    // Layers waiting for a blob, by blob (a manifest may name one blob twice).
    let mut waiting: HashMap<Sha256Digest, Vec<usize>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let permits = Arc::new(Semaphore::new(MAX_DOWNLOADS));
    for (index, layer) in layers.iter().enumerate() {
        if ctx.content.contains(&layer.blob) {
            ready.push(index);
            continue;
        }
        let entry = waiting.entry(layer.blob).or_default();
        if entry.is_empty() {
            let (download, content, permits) = (download.clone(), ctx.content.clone(), permits.clone());
            let (blob, size) = (layer.blob, layer.size);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                download.blob(&content, blob, size).await
            });
        }
        entry.push(index);
    }
    let mut result: Result<(), RegistryError> = Ok(());
    for index in ready {
        result = make_layer(ctx, &mut reuse, download, &layers[index], added).map(|id| ids[index] = Some(id));
        if result.is_err() {
            break;
        }
    }
    while result.is_ok()
        && let Some(joined) = tasks.join_next().await
    {
        result = joined
            .map_err(|error| RegistryError::Internal(format!("download task: {error}")))
            .and_then(|downloaded| downloaded)
            .and_then(|blob| {
                added.blobs.push(blob);
                for &index in waiting.get(&blob).into_iter().flatten() {
                    ids[index] = Some(make_layer(ctx, &mut reuse, download, &layers[index], added)?);
                }
                Ok(())
            });
    }
    if let Err(error) = result {
        // Stop the other downloads, and take back the blobs of those that finished meanwhile.
        tasks.abort_all();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Ok(blob)) = joined {
                added.blobs.push(blob);
            }
        }
        return Err(error);
    }
    ids.into_iter()
        .map(|id| id.ok_or_else(|| RegistryError::Internal("a layer was neither reused nor imported".to_owned())))
        .collect()
}

/// The layer of `layer`, whose blob is in the content store: a stored layer with its diff id,
/// or the blob imported.
fn make_layer(
    ctx: &ExportContext,
    reuse: &mut LayerReuse,
    download: &Download,
    layer: &Layer,
    added: &mut StoreAdditions,
) -> Result<LayerId, RegistryError> {
    let import_error =
        |source| RegistryError::Import { reference: download.request.reference.clone(), source: Box::new(source) };
    if let Some(id) = reuse.find(ctx, &layer.diff_id).map_err(import_error)? {
        return Ok(id);
    }
    let size = ctx.content.size(&layer.blob).map_err(RegistryError::store(format!("read blob {}", layer.blob)))?;
    let compression = match Compression::from_media_type(&layer.media_type) {
        Some(compression) => compression,
        None => sniff(ctx.content, &layer.blob)?,
    };
    let source = download.request.reference.as_str();
    let id = blocking(|| import_layer_blob(ctx, &layer.blob, size, compression, &layer.diff_id, source))
        .map_err(import_error)?;
    reuse.remember(&layer.diff_id, &id);
    added.layers.push(id.clone());
    Ok(id)
}

/// The compression of a blob whose media type does not say, from its magic number.
fn sniff(content: &ContentStore, blob: &Sha256Digest) -> Result<Compression, RegistryError> {
    let mut magic = Vec::with_capacity(4);
    let read = |error| RegistryError::store(format!("read blob {blob}"))(error);
    let file = content.open_blob(blob).map_err(read)?;
    file.take(4)
        .read_to_end(&mut magic)
        .map_err(|source| read(CacheError::Io { action: "read", path: content.path(blob), source }))?;
    Ok(Compression::sniff(&magic))
}

/// What a download task needs: owned, since tasks outlive any borrow.
#[derive(Clone)]
pub(crate) struct Download {
    pub(crate) client: Client,
    pub(crate) reference: Reference,
    pub(crate) request: Request,
}

impl Download {
    /// Streams blob `digest` (`size` bytes) into the content store, verified: a blob whose
    /// bytes do not hash to `digest` is never stored.
    pub(crate) async fn blob(
        &self,
        content: &ContentStore,
        digest: Sha256Digest,
        size: u64,
    ) -> Result<Sha256Digest, RegistryError> {
        let what = format!("layer blob {digest}");
        let digest_text = digest.to_string();
        let mut stream = self
            .client
            .pull_blob_stream(&self.reference, digest_text.as_str())
            .await
            .map_err(|error| self.request.error(&what, error))?;
        let mut writer = content.writer().map_err(RegistryError::store(format!("store {what}")))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| self.request.io_error(&what, error))?;
            // A registry that sends more than the manifest promised is not believed further
            // (a descriptor without a size promises nothing).
            if size > 0 && writer.written() + chunk.len() as u64 > size {
                return Err(self.request.protocol(format!("{what} is larger than the {size} bytes its manifest says")));
            }
            writer.write_all(&chunk).map_err(|source| {
                RegistryError::store(format!("store {what}"))(CacheError::Io {
                    action: "write",
                    path: content.path(&digest),
                    source,
                })
            })?;
        }
        match writer.commit(Some(&digest)) {
            Ok(_) => Ok(digest),
            Err(CacheError::DigestMismatch { expected, actual }) => {
                Err(RegistryError::DigestMismatch { what, reference: self.request.reference.clone(), expected, actual })
            }
            Err(error) => Err(RegistryError::store(format!("store {what}"))(error)),
        }
    }
}

//! Loading an OCI layout (directory or tar) or a docker-archive into the store: blobs verified
//! and stored, layers imported into the snapshot store (or reused), one image record per image.

use std::collections::HashMap;
use std::path::Path;

use gb_cache::{ImageRecord, LayerBlobRecord, LayerId, LayerRecord};
use gb_ir::{ImageReference, Platform, Sha256Digest};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType};
use serde::Deserialize;

use crate::compression::Compression;
use crate::context::ExportContext;
use crate::error::ExportError;
use crate::files::{ArchiveFiles, blob_path};
use crate::layout::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::oci::{MEDIA_CONFIG, StoredImage, canonical_bytes, descriptor, descriptor_digest, diff_ids_of};
use crate::tarball::{decompressed, sniff_blob};
use crate::time::now_unix;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Reads the OCI image layout (directory or tar, recognized by its `oci-layout` file) or the
/// docker-archive (recognized by `manifest.json`) at `path`, stores every blob it uses
/// (verifying their digests), imports each layer into the snapshot store (decompressing gzip and
/// zstd) and returns, per image, the names found and its record. Nothing is named in the
/// database: the caller stores the records under the names it wants.
///
/// Names are normalized references, from `io.containerd.image.name` annotations or RepoTags;
/// a layout whose descriptor has only `org.opencontainers.image.ref.name` gives that value as
/// written (often a bare tag). A multi-platform index yields the manifest for this host's
/// platform (or its first one). A docker-archive's image gets an OCI manifest made from its
/// config and its layer files as they are (nothing is compressed).
///
/// A layer whose diff id is already in the store (an image record pairs them, and the layer's
/// recorded blob has that diff id) is reused instead of imported again.
pub fn load_archive(ctx: &ExportContext, path: &Path) -> Result<Vec<(Vec<String>, ImageRecord)>, ExportError> {
    let files = ArchiveFiles::open(ctx, path)?;
    let mut loader = Loader { ctx, files, reuse: LayerReuse::new(ctx)? };
    if loader.files.exists("oci-layout") {
        loader.load_oci()
    } else if loader.files.exists("manifest.json") {
        loader.load_docker()
    } else {
        Err(ExportError::InvalidArchive {
            path: path.to_path_buf(),
            reason: "neither an OCI layout (no oci-layout) nor a docker-archive (no manifest.json)".to_owned(),
        })
    }
}

/// An image of an OCI layout, as buildx's `oci-layout://PATH[:TAG][@DIGEST]` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutReference {
    /// The layout: a directory (or a tar of one).
    pub path: std::path::PathBuf,
    /// The `org.opencontainers.image.ref.name` of its `index.json` entry.
    pub tag: Option<String>,
    /// The manifest or index digest, which wins over the tag.
    pub digest: Option<Sha256Digest>,
}

impl LayoutReference {
    /// Parses what follows `oci-layout://` as buildx does: a trailing `@sha256:…` is the
    /// digest, then a trailing `:TAG` (a valid tag) the tag; with neither, the tag is `latest`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut path = text;
        let mut digest = None;
        if let Some((rest, after)) = path.rsplit_once('@')
            && after.starts_with("sha256:")
        {
            digest = Some(after.parse::<Sha256Digest>().map_err(|_| format!("`{after}` is not a sha256 digest"))?);
            path = rest;
        }
        let mut tag = None;
        if let Some((rest, after)) = path.rsplit_once(':')
            && is_tag(after)
        {
            tag = Some(after.to_owned());
            path = rest;
        }
        if path.is_empty() {
            return Err("the layout's path is empty".to_owned());
        }
        if tag.is_none() && digest.is_none() {
            tag = Some("latest".to_owned());
        }
        Ok(Self { path: path.into(), tag, digest })
    }
}

/// Whether `text` is a tag as the distribution reference grammar has it: `[\w][\w.-]{0,127}`.
fn is_tag(text: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.len() <= 128 && text.chars().next().is_some_and(word) && text.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// Reads the image `reference` names for `platform` from its OCI layout (a directory or a tar):
/// a manifest as it is, an index's manifest for the platform. Its blobs are stored (verified)
/// and its layers imported or reused, as [`load_archive`] does; nothing is named in the
/// database.
pub fn load_layout_image(
    ctx: &ExportContext,
    reference: &LayoutReference,
    platform: &Platform,
) -> Result<ImageRecord, ExportError> {
    let files = ArchiveFiles::open(ctx, &reference.path)?;
    let mut loader = Loader { ctx, files, reuse: LayerReuse::new(ctx)? };
    if !loader.files.exists("oci-layout") {
        return Err(loader.invalid("not an OCI layout (no oci-layout file)"));
    }
    let digest = loader.layout_digest(reference)?;
    loader.files.store(ctx, &blob_path(&digest), Some(&digest))?;
    let bytes = ctx.content.read(&digest).map_err(ExportError::store(format!("read {digest}")))?;
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ExportError::InvalidBlob {
        what: "manifest",
        digest,
        reason: e.to_string(),
    })?;
    let manifest =
        if parsed.get("manifests").is_some() { loader.pick_platform(&digest, platform, false)? } else { digest };
    loader.load_oci_image(&manifest, None)
}

struct Loader<'a, 'c> {
    ctx: &'a ExportContext<'c>,
    files: ArchiveFiles,
    reuse: LayerReuse,
}

/// One image of a docker-archive's `manifest.json`.
#[derive(Deserialize)]
struct DockerImage {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

impl Loader<'_, '_> {
    fn invalid(&self, reason: impl Into<String>) -> ExportError {
        ExportError::InvalidArchive { path: self.files.path().to_path_buf(), reason: reason.into() }
    }

    fn load_oci(&mut self) -> Result<Vec<(Vec<String>, ImageRecord)>, ExportError> {
        let index = self.layout_index()?;
        // One entry per manifest, in index order, with the names of every descriptor of it.
        let mut images: Vec<(Sha256Digest, Vec<String>)> = Vec::new();
        for entry in index.manifests() {
            let digest = descriptor_digest(entry).map_err(|reason| self.invalid(format!("index.json: {reason}")))?;
            let manifest = match entry.media_type().as_ref() {
                "application/vnd.oci.image.manifest.v1+json" | DOCKER_MANIFEST => digest,
                "application/vnd.oci.image.index.v1+json" | DOCKER_MANIFEST_LIST => {
                    self.pick_platform(&digest, &Platform::host(), true)?
                }
                other => return Err(self.invalid(format!("index.json: unsupported manifest media type {other}"))),
            };
            let names = names_of(entry)?;
            match images.iter_mut().find(|(existing, _)| *existing == manifest) {
                Some((_, known)) => {
                    for name in names {
                        if !known.contains(&name) {
                            known.push(name);
                        }
                    }
                }
                None => images.push((manifest, names)),
            }
        }
        images
            .into_iter()
            .map(|(manifest, names)| {
                // A bare tag (`ref.name` alone) is no reference to file the image under.
                let reference = names.iter().find(|name| name.contains('/'));
                let record = self.load_oci_image(&manifest, reference)?;
                Ok((names.clone(), record))
            })
            .collect()
    }

    /// The layout's `index.json`, once `oci-layout` says it is a version this reads.
    fn layout_index(&self) -> Result<ImageIndex, ExportError> {
        let layout: serde_json::Value = serde_json::from_slice(&self.files.read(self.ctx, "oci-layout")?)
            .map_err(|e| self.invalid(format!("oci-layout: {e}")))?;
        let version = layout["imageLayoutVersion"].as_str().unwrap_or_default();
        if !version.starts_with("1.") {
            return Err(self.invalid(format!("unsupported image layout version `{version}`")));
        }
        serde_json::from_slice(&self.files.read(self.ctx, "index.json")?)
            .map_err(|e| self.invalid(format!("index.json: {e}")))
    }

    /// The digest `reference` names: its own, else the `index.json` entry whose
    /// `org.opencontainers.image.ref.name` is its tag, else the only entry, as buildx resolves
    /// an `oci-layout://` context.
    fn layout_digest(&self, reference: &LayoutReference) -> Result<Sha256Digest, ExportError> {
        if let Some(digest) = reference.digest {
            return Ok(digest);
        }
        let index = self.layout_index()?;
        let tag = reference.tag.as_deref().unwrap_or("latest");
        let tagged = index.manifests().iter().find(|entry| {
            entry.annotations().as_ref().and_then(|a| a.get(ANNOTATION_REF_NAME)).is_some_and(|name| name == tag)
        });
        let entry = match (tagged, index.manifests().as_slice()) {
            (Some(entry), _) | (None, [entry]) => entry,
            (None, _) => return Err(self.invalid(format!("index.json names no image tagged `{tag}`"))),
        };
        descriptor_digest(entry).map_err(|reason| self.invalid(format!("index.json: {reason}")))
    }

    /// The manifest of a (nested) index for `platform`. With `or_first`, an index without one
    /// gives its first image manifest (a load takes some image of every entry); without, it
    /// is an error, unless no entry names a platform and there is one manifest.
    fn pick_platform(
        &mut self,
        index_digest: &Sha256Digest,
        platform: &Platform,
        or_first: bool,
    ) -> Result<Sha256Digest, ExportError> {
        self.files.store(self.ctx, &blob_path(index_digest), Some(index_digest))?;
        let bytes =
            self.ctx.content.read(index_digest).map_err(ExportError::store(format!("read index {index_digest}")))?;
        let invalid = |reason: String| ExportError::InvalidBlob { what: "index", digest: *index_digest, reason };
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let is_manifest = |entry: &&Descriptor| {
            matches!(entry.media_type(), MediaType::ImageManifest) || entry.media_type().as_ref() == DOCKER_MANIFEST
        };
        let matches_platform = |entry: &&Descriptor| {
            entry.platform().as_ref().is_some_and(|actual| {
                platform.matches(&Platform {
                    os: actual.os().to_string(),
                    architecture: actual.architecture().to_string(),
                    variant: actual.variant().clone(),
                })
            })
        };
        let manifests: Vec<&Descriptor> = index.manifests().iter().filter(is_manifest).collect();
        let fallback = match manifests.as_slice() {
            [only] if only.platform().is_none() => Some(only),
            _ if or_first => manifests.first(),
            _ => None,
        };
        let chosen = match manifests.iter().find(|entry| matches_platform(entry)).or(fallback) {
            Some(chosen) => chosen,
            None if manifests.is_empty() => return Err(invalid("it names no image manifest".to_owned())),
            None => return Err(invalid(format!("it has no image for {platform}"))),
        };
        descriptor_digest(chosen).map_err(invalid)
    }

    fn load_oci_image(&mut self, digest: &Sha256Digest, name: Option<&String>) -> Result<ImageRecord, ExportError> {
        self.files.store(self.ctx, &blob_path(digest), Some(digest))?;
        let bytes = self.ctx.content.read(digest).map_err(ExportError::store(format!("read manifest {digest}")))?;
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| ExportError::InvalidBlob {
            what: "manifest",
            digest: *digest,
            reason: e.to_string(),
        })?;
        let config = descriptor_digest(manifest.config()).map_err(|reason| ExportError::InvalidBlob {
            what: "manifest",
            digest: *digest,
            reason,
        })?;
        self.files.store(self.ctx, &blob_path(&config), Some(&config))?;
        let stored = StoredImage::read(self.ctx, digest)?;
        let mut layers = Vec::new();
        for ((descriptor, blob), diff_id) in
            stored.manifest.layers().iter().zip(stored.layer_digests()?).zip(&stored.diff_ids)
        {
            let (_, size) = self.files.store(self.ctx, &blob_path(&blob), Some(&blob))?;
            let compression = match Compression::from_media_type(descriptor.media_type().as_ref()) {
                Some(compression) => compression,
                None => sniff_blob(self.ctx, &blob)?,
            };
            layers.push(self.layer(&blob, size, compression, diff_id)?);
        }
        Ok(ImageRecord {
            reference: name.cloned().unwrap_or_default(),
            manifest_digest: *digest,
            config_digest: stored.config_digest,
            config: stored.config,
            layers,
            diff_ids: stored.diff_ids,
            created_unix: stored_since(self.ctx, &stored.config_digest),
        })
    }

    fn load_docker(&mut self) -> Result<Vec<(Vec<String>, ImageRecord)>, ExportError> {
        let images: Vec<DockerImage> = serde_json::from_slice(&self.files.read(self.ctx, "manifest.json")?)
            .map_err(|e| self.invalid(format!("manifest.json: {e}")))?;
        let mut out = Vec::new();
        for image in images {
            let (config_digest, config_size) = self.files.store(self.ctx, &image.config, None)?;
            let config_bytes =
                self.ctx.content.read(&config_digest).map_err(ExportError::store(format!("read {}", image.config)))?;
            let invalid_config =
                |reason: String| ExportError::InvalidBlob { what: "config", digest: config_digest, reason };
            let config: serde_json::Value =
                serde_json::from_slice(&config_bytes).map_err(|e| invalid_config(e.to_string()))?;
            let diff_ids = diff_ids_of(&config).map_err(invalid_config)?;
            if diff_ids.len() != image.layers.len() {
                return Err(self.invalid(format!(
                    "{} lists {} layers but its config has {} diff ids",
                    image.config,
                    image.layers.len(),
                    diff_ids.len()
                )));
            }
            let mut descriptors = Vec::new();
            let mut layers = Vec::new();
            for (file, diff_id) in image.layers.iter().zip(&diff_ids) {
                let (blob, size) = self.files.store(self.ctx, file, None)?;
                let compression = sniff_blob(self.ctx, &blob)?;
                layers.push(self.layer(&blob, size, compression, diff_id)?);
                descriptors.push(descriptor(compression.media_type(), size, &blob)?);
            }
            let manifest = ImageManifestBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageManifest)
                .config(descriptor(MEDIA_CONFIG, config_size, &config_digest)?)
                .layers(descriptors)
                .build()
                .map_err(|source| ExportError::Oci { what: "manifest", source })?;
            let manifest_digest = self
                .ctx
                .content
                .put_bytes(&canonical_bytes(&manifest))
                .map_err(ExportError::store("store the image manifest"))?;
            let names = image
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|tag| ImageReference::parse(tag).map(|reference| reference.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let record = ImageRecord {
                reference: names.first().cloned().unwrap_or_default(),
                manifest_digest,
                config_digest,
                config,
                layers,
                diff_ids,
                created_unix: stored_since(self.ctx, &config_digest),
            };
            out.push((names, record));
        }
        Ok(out)
    }

    /// The layer of blob `blob` (already in the content store): reused, or imported and
    /// recorded, with the blob recorded as its export so it is never compressed again.
    fn layer(
        &mut self,
        blob: &Sha256Digest,
        blob_size: u64,
        compression: Compression,
        diff_id: &Sha256Digest,
    ) -> Result<LayerId, ExportError> {
        if let Some(layer) = self.reuse.find(self.ctx, diff_id)? {
            return Ok(layer);
        }
        let source = self.files.path().display().to_string();
        let layer = import_layer_blob(self.ctx, blob, blob_size, compression, diff_id, &source)?;
        self.reuse.remember(diff_id, &layer);
        Ok(layer)
    }
}

/// Imports layer blob `blob` (already in the content store, `blob_size` bytes, compressed with
/// `compression`) into the snapshot store and records the layer, with the blob recorded as its
/// export so it is never compressed again. The uncompressed stream must hash to `diff_id`; when
/// it does not, the new layer is removed and the error names the blob as coming from `source`
/// (an archive path, a registry reference).
pub fn import_layer_blob(
    ctx: &ExportContext,
    blob: &Sha256Digest,
    blob_size: u64,
    compression: Compression,
    diff_id: &Sha256Digest,
    source: &str,
) -> Result<LayerId, ExportError> {
    let imported = ctx
        .snapshots
        .import_tar(decompressed(ctx, blob, compression)?)
        .map_err(|source| ExportError::Import { blob: *blob, source })?;
    if imported.diff_id != *diff_id {
        // Nothing records the layer yet, so nothing else can be using it.
        let _ = std::fs::remove_dir_all(ctx.snapshots.layer_path(&imported.layer));
        return Err(ExportError::DigestMismatch {
            what: format!("the uncompressed layer blob {blob} of {source}"),
            expected: *diff_id,
            actual: imported.diff_id,
        });
    }
    let layer = imported.layer;
    let created_unix = u64::try_from(now_unix()).unwrap_or(0);
    ctx.db
        .put_layer(&layer, &LayerRecord { size: imported.size, created_unix })
        .map_err(ExportError::store(format!("record layer {layer}")))?;
    let record = LayerBlobRecord {
        digest: *blob,
        diff_id: *diff_id,
        size: blob_size,
        media_type: compression.media_type().to_owned(),
    };
    ctx.db
        .put_layer_blob(&layer, &compression.cache_variant(None), &record)
        .map_err(ExportError::store(format!("record the blob of layer {layer}")))?;
    Ok(layer)
}

/// Layers already in the store, by diff id: what a load or a pull uses instead of importing a
/// layer blob again.
pub struct LayerReuse {
    /// Every (diff id, layer) pair the image records make.
    candidates: HashMap<Sha256Digest, Vec<LayerId>>,
    /// Every layer by the diff id of its recorded unclamped blobs, made when a diff id is not
    /// among the images' (the layers a cache import brought in belong to no image).
    recorded: Option<HashMap<Sha256Digest, Vec<LayerId>>>,
    /// Layers confirmed (or imported) for a diff id.
    found: HashMap<Sha256Digest, LayerId>,
}

/// The unclamped exports a layer's blob records are kept for.
const UNCLAMPED: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::Uncompressed];

impl LayerReuse {
    /// The candidates of every stored image.
    pub fn new(ctx: &ExportContext) -> Result<Self, ExportError> {
        let mut candidates: HashMap<Sha256Digest, Vec<LayerId>> = HashMap::new();
        for (_, image) in ctx.db.images().map_err(ExportError::store("list the stored images"))? {
            for (layer, diff_id) in image.layers.into_iter().zip(image.diff_ids) {
                candidates.entry(diff_id).or_default().push(layer);
            }
        }
        Ok(LayerReuse { candidates, recorded: None, found: HashMap::new() })
    }

    /// A layer whose content is `diff_id`: one an image record pairs with it, or else any layer
    /// of the root, still on disk, whose recorded unclamped export has that diff id (a record
    /// alone could pair a layer with the diff id of a clamped export, whose file times differ).
    pub fn find(&mut self, ctx: &ExportContext, diff_id: &Sha256Digest) -> Result<Option<LayerId>, ExportError> {
        if let Some(layer) = self.found.get(diff_id) {
            return Ok(Some(layer.clone()));
        }
        let of_images = self.candidates.get(diff_id).cloned().unwrap_or_default();
        if let Some(layer) = confirmed(ctx, &of_images, diff_id)? {
            self.found.insert(*diff_id, layer.clone());
            return Ok(Some(layer));
        }
        if self.recorded.is_none() {
            self.recorded = Some(layers_by_diff_id(ctx)?);
        }
        let recorded = self.recorded.as_ref().and_then(|recorded| recorded.get(diff_id)).cloned().unwrap_or_default();
        let layer = confirmed(ctx, &recorded, diff_id)?;
        if let Some(layer) = &layer {
            self.found.insert(*diff_id, layer.clone());
        }
        Ok(layer)
    }

    /// Notes that `layer` (just imported) has content `diff_id`.
    pub fn remember(&mut self, diff_id: &Sha256Digest, layer: &LayerId) {
        self.found.insert(*diff_id, layer.clone());
    }
}

/// The first of `layers` still on disk whose recorded unclamped export has content `diff_id`.
fn confirmed(ctx: &ExportContext, layers: &[LayerId], diff_id: &Sha256Digest) -> Result<Option<LayerId>, ExportError> {
    for layer in layers {
        if !layer.is_well_formed() || !ctx.snapshots.layer_path(layer).is_dir() {
            continue;
        }
        if unclamped_diff_ids(ctx, layer)?.contains(diff_id) {
            return Ok(Some(layer.clone()));
        }
    }
    Ok(None)
}

/// The recorded unclamped exports of `layer` (without SOURCE_DATE_EPOCH, whose blobs hold the
/// layer's files as they are): gzip, zstd, uncompressed, in that order, those recorded.
pub fn unclamped_exports(ctx: &ExportContext, layer: &LayerId) -> Result<Vec<gb_cache::LayerBlobRecord>, ExportError> {
    let mut records = Vec::new();
    for compression in UNCLAMPED {
        let record = ctx
            .db
            .layer_blob(layer, &compression.cache_variant(None))
            .map_err(ExportError::store(format!("read the blob record of layer {layer}")))?;
        records.extend(record);
    }
    Ok(records)
}

/// The diff ids of `layer`'s recorded unclamped exports (one per compression recorded).
pub fn unclamped_diff_ids(ctx: &ExportContext, layer: &LayerId) -> Result<Vec<Sha256Digest>, ExportError> {
    Ok(unclamped_exports(ctx, layer)?.into_iter().map(|record| record.diff_id).collect())
}

/// Every layer of the root by the diff ids of its recorded unclamped exports.
fn layers_by_diff_id(ctx: &ExportContext) -> Result<HashMap<Sha256Digest, Vec<LayerId>>, ExportError> {
    let mut found: HashMap<Sha256Digest, Vec<LayerId>> = HashMap::new();
    for (layer, _) in ctx.db.layers().map_err(ExportError::store("list the layers"))? {
        for diff_id in unclamped_diff_ids(ctx, &layer)? {
            found.entry(diff_id).or_default().push(layer.clone());
        }
    }
    Ok(found)
}

/// The names an index descriptor gives its manifest.
fn names_of(entry: &Descriptor) -> Result<Vec<String>, ExportError> {
    let Some(annotations) = entry.annotations() else { return Ok(Vec::new()) };
    if let Some(name) = annotations.get(ANNOTATION_IMAGE_NAME) {
        return Ok(vec![ImageReference::parse(name)?.to_string()]);
    }
    match annotations.get(ANNOTATION_REF_NAME) {
        // The spec allows a full reference here; many tools write only the tag.
        Some(name) if name.contains(['/', ':']) => Ok(vec![ImageReference::parse(name)?.to_string()]),
        Some(tag) => Ok(vec![tag.clone()]),
        None => Ok(Vec::new()),
    }
}

/// When the image with config `config_digest` was first stored: an image loaded again keeps
/// its time (what `images` shows when its config has no `created`), a new one is stored now.
fn stored_since(ctx: &ExportContext<'_>, config_digest: &Sha256Digest) -> u64 {
    let stored = ctx.db.images().ok().into_iter().flatten();
    stored
        .filter(|(_, image)| image.config_digest == *config_digest)
        .map(|(_, image)| image.created_unix)
        .min()
        .unwrap_or_else(|| u64::try_from(now_unix()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::LayoutReference;

    /// As buildx's `util/ocilayout` parse tests: a trailing digest, then a trailing tag, else
    /// `latest`; a colon that starts no tag is part of the path.
    #[test]
    fn layout_references_parse_as_buildx_parses_them() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let parsed = |text: &str| LayoutReference::parse(text).expect(text);
        let plain = parsed("/path/to/oci/layout");
        assert_eq!(
            (plain.path.to_str(), plain.tag.as_deref(), plain.digest),
            (Some("/path/to/oci/layout"), Some("latest"), None)
        );
        let tagged = parsed("/path/to/oci/layout:1.3");
        assert_eq!((tagged.path.to_str(), tagged.tag.as_deref()), (Some("/path/to/oci/layout"), Some("1.3")));
        let pinned = parsed(&format!("/path/to/oci/@/layout@{digest}"));
        assert_eq!(pinned.path.to_str(), Some("/path/to/oci/@/layout"));
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.digest.map(|d| d.to_string()), Some(digest.clone()));
        let both = parsed(&format!("layout:v1@{digest}"));
        assert_eq!((both.path.to_str(), both.tag.as_deref()), (Some("layout"), Some("v1")));
        assert_eq!(parsed("dir:with/colon").path.to_str(), Some("dir:with/colon"));
        assert!(LayoutReference::parse("layout@sha256:nothex").is_err());
        assert!(LayoutReference::parse(":v1").is_err());
    }
}

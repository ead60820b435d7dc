//! An image from a build result: the base image's layers reused as they are, the new layers
//! exported, the config (base config, front end settings, history, diff ids) and the manifest
//! written to the content store.

use std::collections::BTreeMap;

use gb_cache::{ImageRecord, LayerId, Snapshot};
use gb_ir::{ImageSpec, Sha256Digest};
use oci_spec::image::{
    Arch, Descriptor, History, HistoryBuilder, ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os,
    RootFsBuilder,
};
use serde_json::Value;

use crate::blobs::layer_blobs;
use crate::compression::Compression;
use crate::config::{RuntimeConfig, history_of};
use crate::context::ExportContext;
use crate::error::ExportError;
use crate::oci::{MEDIA_CONFIG, StoredImage, as_oci_layer, canonical_bytes, descriptor};
use crate::time::{now_unix, rfc3339};

/// The `created_by` of history entries added for layers the front end's history left out.
const UNDESCRIBED_LAYER: &str = "graphbuild: layer without a history entry";

/// An image assembled from a build result: config and manifest blobs written to the content
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The manifest blob's digest.
    pub manifest_digest: Sha256Digest,
    /// The manifest blob's size.
    pub manifest_size: u64,
    /// The manifest, as stored.
    pub manifest: Value,
    /// The config blob's digest.
    pub config_digest: Sha256Digest,
    /// The config, as stored.
    pub config: Value,
    /// The image's layers, bottom first.
    pub layers: Vec<LayerId>,
    /// The layers' diff ids, bottom first.
    pub diff_ids: Vec<Sha256Digest>,
}

impl BuiltImage {
    /// The record to store the image under `reference` with.
    pub fn record(&self, reference: &str, created_unix: u64) -> ImageRecord {
        ImageRecord {
            reference: reference.to_owned(),
            manifest_digest: self.manifest_digest,
            config_digest: self.config_digest,
            config: self.config.clone(),
            layers: self.layers.clone(),
            diff_ids: self.diff_ids.clone(),
            created_unix,
        }
    }
}

/// Builds the image of `output` (the build's root snapshot) from the front end's `spec`.
///
/// - Layers: when `base` is given and `output` starts with its layers, the base manifest's
///   layer descriptors and diff ids are reused as they are (never exported again); the other
///   layers go through [`layer_blobs`].
/// - Config: when `spec.base_config_applied` is false, the base's config with `spec.config`
///   applied over it (see `docs/ir.md`); `created` and the new history entries' times are
///   `source_date_epoch` or now; history is the base's followed by the spec's. The new layers'
///   file times are clamped to `source_date_epoch` ([`AssembleOptions::rewrite_timestamp`]),
///   for an image that is the same whenever it is made.
/// - History that names more or fewer layers than the image has is adjusted so that it
///   matches, with a warning in the returned list.
///
/// Config and manifest are canonical JSON (sorted keys, compact): the same inputs give the
/// same bytes.
pub fn assemble_image(
    ctx: &ExportContext,
    spec: &ImageSpec,
    output: &Snapshot,
    base: Option<&ImageRecord>,
    compression: Compression,
    source_date_epoch: Option<i64>,
) -> Result<(BuiltImage, Vec<String>), ExportError> {
    let options = AssembleOptions {
        compression,
        source_date_epoch,
        rewrite_timestamp: source_date_epoch,
        ..AssembleOptions::default()
    };
    assemble_image_with(ctx, spec, output, base, &options)
}

/// The annotation BuildKit puts on a layer whose file times `rewrite-timestamp` clamped: the
/// epoch, in seconds.
pub const REWRITTEN_TIMESTAMP: &str = "buildkit/rewritten-timestamp";

/// How an image is assembled, beyond its content and the front end's spec.
#[derive(Debug, Clone, Default)]
pub struct AssembleOptions {
    /// How new layers are compressed.
    pub compression: Compression,
    /// `SOURCE_DATE_EPOCH`: the image's `created` and its new history entries' times.
    pub source_date_epoch: Option<i64>,
    /// BuildKit's `rewrite-timestamp=true` with the exporter's epoch: the new layers' file
    /// times are clamped to it, and each such layer's descriptor says so
    /// ([`REWRITTEN_TIMESTAMP`]). Without it, layers keep their files' times, as BuildKit's do.
    pub rewrite_timestamp: Option<i64>,
    /// When the output was first built, the time used without `source_date_epoch`: a no-op
    /// rebuild then gives the same image, so nothing downstream (an unchanged export file, a
    /// registry) has to change. Absent, now.
    pub built_at: Option<i64>,
    /// Annotations of the manifest (`--annotation`), part of its digest.
    pub annotations: BTreeMap<String, String>,
}

/// [`assemble_image`] with every [`AssembleOptions`].
pub fn assemble_image_with(
    ctx: &ExportContext,
    spec: &ImageSpec,
    output: &Snapshot,
    base: Option<&ImageRecord>,
    options: &AssembleOptions,
) -> Result<(BuiltImage, Vec<String>), ExportError> {
    let AssembleOptions { compression, source_date_epoch, rewrite_timestamp, built_at, annotations } = options;
    let (compression, source_date_epoch, built_at) = (*compression, *source_date_epoch, *built_at);
    let mut warnings = Vec::new();
    let created = rfc3339(source_date_epoch.or(built_at).unwrap_or_else(now_unix));
    // The base's history describes the bottom of this image only when the image is built on it:
    // on its layers, or on layers of the same content (a shared cache's import of them, say).
    let built_on_base = match base {
        Some(base) if output.layers.starts_with(&base.layers) || same_content(ctx, &output.layers, base)? => Some(base),
        _ => None,
    };
    if let Some(base) = base.filter(|_| built_on_base.is_none()) {
        warnings.push(format!(
            "the build result is not built on the layers of the base image {}; its history is left out",
            base.reference
        ));
    }

    let (mut layers, mut diff_ids) =
        built_on_base.and_then(|base| reusable_base_layers(ctx, base, &mut warnings)).unwrap_or_default();
    let clamp = *rewrite_timestamp;
    for record in layer_blobs(ctx, &output.layers[layers.len()..], compression, clamp)? {
        let mut layer = descriptor(&record.media_type, record.size, &record.digest)?;
        if let Some(epoch) = clamp {
            layer.set_annotations(Some([(REWRITTEN_TIMESTAMP.to_owned(), epoch.to_string())].into()));
        }
        layers.push(layer);
        diff_ids.push(record.diff_id);
    }

    let mut runtime = RuntimeConfig::default();
    if !spec.base_config_applied {
        match (base, &spec.base) {
            (Some(base), _) => runtime = RuntimeConfig::from_image_config(&base.config),
            (None, Some(name)) => warnings.push(format!(
                "the config of the base image {name} is not available; the image config holds only the build's settings"
            )),
            (None, None) => {}
        }
    }
    runtime.apply(&spec.config)?;

    let mut history = built_on_base.map(|base| history_of(&base.config)).unwrap_or_default();
    for entry in &spec.history {
        let mut builder = HistoryBuilder::default().created(created.clone()).created_by(entry.created_by.clone());
        if let Some(comment) = &entry.comment {
            builder = builder.comment(comment.clone());
        }
        if entry.empty_layer {
            builder = builder.empty_layer(true);
        }
        history.push(builder.build().map_err(|source| ExportError::Oci { what: "history", source })?);
    }
    if let Some(warning) = reconcile_history(&mut history, diff_ids.len(), &created)? {
        warnings.push(warning);
    }

    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>())
        .build()
        .map_err(|source| ExportError::Oci { what: "config", source })?;
    let mut config = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(Arch::from(spec.platform.architecture.as_str()))
        .os(Os::from(spec.platform.os.as_str()))
        .config(runtime.to_oci()?)
        .rootfs(rootfs)
        .history(history);
    if let Some(variant) = &spec.platform.variant {
        config = config.variant(variant.clone());
    }
    if let Some(author) = &runtime.author {
        config = config.author(author.clone());
    }
    let config = config.build().map_err(|source| ExportError::Oci { what: "config", source })?;
    let mut config = serde_json::to_value(&config)
        .map_err(|e| ExportError::Oci { what: "config", source: oci_spec::OciSpecError::SerDe(e) })?;
    if let Some(inner) = config.get_mut("config").and_then(Value::as_object_mut) {
        runtime.add_docker_fields(inner);
    }
    let config_bytes = canonical_bytes(&config);
    let config_digest = ctx.content.put_bytes(&config_bytes).map_err(ExportError::store("store the image config"))?;

    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MEDIA_CONFIG, config_bytes.len() as u64, &config_digest)?)
        .layers(layers)
        .build()
        .map_err(|source| ExportError::Oci { what: "manifest", source })?;
    if !annotations.is_empty() {
        manifest.set_annotations(Some(annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
    }
    let manifest_bytes = canonical_bytes(&manifest);
    let manifest_digest =
        ctx.content.put_bytes(&manifest_bytes).map_err(ExportError::store("store the image manifest"))?;
    let parse = |bytes: &[u8]| serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let image = BuiltImage {
        manifest_digest,
        manifest_size: manifest_bytes.len() as u64,
        manifest: parse(&manifest_bytes),
        config_digest,
        config: parse(&config_bytes),
        layers: output.layers.clone(),
        diff_ids,
    };
    Ok((image, warnings))
}

/// Whether the bottom of `layers` has the content of `base`'s layers, layer by layer, as their
/// recorded unclamped exports say.
fn same_content(ctx: &ExportContext, layers: &[LayerId], base: &ImageRecord) -> Result<bool, ExportError> {
    if layers.len() < base.layers.len() || base.layers.len() != base.diff_ids.len() {
        return Ok(false);
    }
    for (layer, diff_id) in layers.iter().zip(&base.diff_ids) {
        if !crate::unclamped_diff_ids(ctx, layer)?.contains(diff_id) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The base manifest's layer descriptors and the base's diff ids, when they can stand for the
/// bottom of the new image: the manifest is readable, agrees with the record, and every blob is
/// in the store (a writer needs them). Otherwise a warning, and the layers are exported again.
fn reusable_base_layers(
    ctx: &ExportContext,
    base: &ImageRecord,
    warnings: &mut Vec<String>,
) -> Option<(Vec<Descriptor>, Vec<Sha256Digest>)> {
    if base.layers.is_empty() {
        return Some(Default::default());
    }
    let reason = match StoredImage::read(ctx, &base.manifest_digest) {
        Err(error) => error.to_string(),
        Ok(stored) if stored.manifest.layers().len() != base.layers.len() || stored.diff_ids != base.diff_ids => {
            format!("its manifest {} does not match its record", base.manifest_digest)
        }
        Ok(stored) => match stored.layer_digests() {
            Err(error) => error.to_string(),
            Ok(digests) => match digests.iter().find(|digest| !ctx.content.contains(digest)) {
                Some(missing) => format!("its layer blob {missing} is not in the store"),
                None => {
                    let layers = stored.manifest.layers().iter().cloned().map(as_oci_layer).collect();
                    return Some((layers, stored.diff_ids));
                }
            },
        },
    };
    warnings.push(format!("the layers of the base image {} are exported again: {reason}", base.reference));
    None
}

/// Makes `history` describe `layers` layers: entries are added (after the others) when it
/// names fewer, and the latest layer entries marked empty when it names more. Returns what was
/// done, for a warning.
fn reconcile_history(history: &mut Vec<History>, layers: usize, created: &str) -> Result<Option<String>, ExportError> {
    let described = history.iter().filter(|entry| entry.empty_layer() != Some(true)).count();
    if described < layers {
        for _ in described..layers {
            let entry = HistoryBuilder::default()
                .created(created.to_owned())
                .created_by(UNDESCRIBED_LAYER)
                .build()
                .map_err(|source| ExportError::Oci { what: "history", source })?;
            history.push(entry);
        }
        return Ok(Some(format!(
            "the image history describes {described} layers but the image has {layers}; added {} history entries",
            layers - described
        )));
    }
    if described > layers {
        // The latest entries are the build's own; the base's history matched its layers.
        for entry in history.iter_mut().rev().filter(|entry| entry.empty_layer() != Some(true)).take(described - layers)
        {
            entry.set_empty_layer(Some(true));
        }
        return Ok(Some(format!(
            "the image history describes {described} layers but the image has {layers}; marked the last {} as empty",
            described - layers
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(empty: &[bool]) -> Vec<History> {
        empty
            .iter()
            .map(|&e| {
                let mut entry = HistoryBuilder::default().created_by("x").build().expect("history");
                if e {
                    entry.set_empty_layer(Some(true));
                }
                entry
            })
            .collect()
    }

    fn described(history: &[History]) -> usize {
        history.iter().filter(|entry| entry.empty_layer() != Some(true)).count()
    }

    #[test]
    fn history_that_matches_is_left_alone() {
        let mut history = entries(&[false, true, false]);
        assert_eq!(reconcile_history(&mut history, 2, "t").expect("ok"), None);
        assert_eq!(history, entries(&[false, true, false]));
    }

    #[test]
    fn missing_entries_are_added_and_extra_ones_emptied() {
        let mut history = entries(&[false, true]);
        let warning = reconcile_history(&mut history, 3, "t").expect("ok").expect("a warning");
        assert!(warning.contains("describes 1 layers but the image has 3"), "{warning}");
        assert_eq!((history.len(), described(&history)), (4, 3));
        assert_eq!(history[3].created_by().as_deref(), Some(UNDESCRIBED_LAYER));

        let mut history = entries(&[false, false, true, false]);
        reconcile_history(&mut history, 1, "t").expect("ok").expect("a warning");
        assert_eq!(
            history.iter().map(|e| e.empty_layer() == Some(true)).collect::<Vec<_>>(),
            [false, true, true, true]
        );
    }
}

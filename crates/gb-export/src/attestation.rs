//! In-toto attestations attached to images as BuildKit attaches them: an attestation manifest
//! whose layers are in-toto statements, listed in the image index beside the image it is about,
//! with the platform `unknown/unknown` and the `vnd.docker.reference.*` annotations naming it.

use std::collections::BTreeMap;

use gb_ir::Sha256Digest;
use oci_spec::image::{ImageManifestBuilder, MediaType};
use serde_json::{Value, json};

use crate::context::ExportContext;
use crate::error::ExportError;
use crate::oci::{MEDIA_CONFIG, canonical_bytes, descriptor};

/// The media type of an in-toto statement layer.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// One manifest of an image index, with the annotations of its descriptor there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The manifest (image or attestation), in the content store.
    pub manifest: Sha256Digest,
    /// Annotations of its descriptor in the index.
    pub annotations: BTreeMap<String, String>,
}

impl IndexEntry {
    /// An image's entry, without annotations.
    pub fn image(manifest: Sha256Digest) -> Self {
        Self { manifest, annotations: BTreeMap::new() }
    }
}

/// Stores an attestation manifest about the image manifest `subject`, one layer per in-toto
/// `statements` entry (each with its `predicateType` as the `in-toto.io/predicate-type`
/// annotation), and returns its index entry.
pub fn store_attestation_manifest(
    ctx: &ExportContext,
    subject: &Sha256Digest,
    statements: &[Value],
) -> Result<IndexEntry, ExportError> {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for statement in statements {
        let bytes = canonical_bytes(statement);
        let digest = ctx.content.put_bytes(&bytes).map_err(ExportError::store("store an attestation"))?;
        let mut layer = descriptor(IN_TOTO, bytes.len() as u64, &digest)?;
        let predicate = statement["predicateType"].as_str().unwrap_or_default().to_owned();
        layer.set_annotations(Some([("in-toto.io/predicate-type".to_owned(), predicate)].into_iter().collect()));
        layers.push(layer);
        diff_ids.push(digest.to_string());
    }
    // BuildKit's attestation config: an image of the unknown platform whose diff ids are the
    // statements' digests.
    let config = json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config_bytes = canonical_bytes(&config);
    let config_digest =
        ctx.content.put_bytes(&config_bytes).map_err(ExportError::store("store an attestation config"))?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MEDIA_CONFIG, config_bytes.len() as u64, &config_digest)?)
        .layers(layers)
        .build()
        .map_err(|source| ExportError::Oci { what: "attestation manifest", source })?;
    let bytes = canonical_bytes(&manifest);
    let manifest = ctx.content.put_bytes(&bytes).map_err(ExportError::store("store an attestation manifest"))?;
    let annotations = BTreeMap::from([
        ("vnd.docker.reference.digest".to_owned(), subject.to_string()),
        ("vnd.docker.reference.type".to_owned(), "attestation-manifest".to_owned()),
    ]);
    Ok(IndexEntry { manifest, annotations })
}

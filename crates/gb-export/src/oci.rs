//! Small bridges between the store's types and oci-spec's: digests, descriptors, media types,
//! and reading manifests and configs back from the content store.

use std::str::FromStr;

use gb_ir::Sha256Digest;
use oci_spec::image::{Descriptor, Digest, ImageManifest, MediaType};
use serde::Serialize;

use crate::compression::Compression;
use crate::context::ExportContext;
use crate::error::ExportError;

/// The media type of an OCI image config.
pub(crate) const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The canonical bytes of a JSON document: keys sorted, compact. oci-spec keeps maps in
/// `HashMap`s, so its own serialization is not the same twice; this is.
pub(crate) fn canonical_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    gb_ir::canonical_json(value)
}

/// The oci-spec form of a digest.
pub(crate) fn oci_digest(digest: &Sha256Digest) -> Result<Digest, ExportError> {
    Digest::from_str(&digest.to_string()).map_err(|source| ExportError::Oci { what: "descriptor", source })
}

/// A descriptor's digest, which must be sha256 (the only algorithm the store names blobs by).
pub(crate) fn descriptor_digest(descriptor: &Descriptor) -> Result<Sha256Digest, String> {
    let text = descriptor.digest().to_string();
    text.parse().map_err(|_| format!("unsupported digest `{text}`: only sha256 is supported"))
}

/// A descriptor of a blob.
pub(crate) fn descriptor(media_type: &str, size: u64, digest: &Sha256Digest) -> Result<Descriptor, ExportError> {
    Ok(Descriptor::new(MediaType::from(media_type), size, oci_digest(digest)?))
}

/// A layer descriptor under its OCI media type: Docker's layer types name the same bytes, and
/// an OCI manifest should not mix the two vocabularies.
pub(crate) fn as_oci_layer(mut descriptor: Descriptor) -> Descriptor {
    let media_type = descriptor.media_type().to_string();
    if media_type.starts_with("application/vnd.docker.")
        && let Some(compression) = Compression::from_media_type(&media_type)
    {
        descriptor.set_media_type(MediaType::from(compression.media_type()));
    }
    descriptor
}

/// An image manifest from the content store, with its parsed config.
pub(crate) struct StoredImage {
    pub(crate) manifest_digest: Sha256Digest,
    pub(crate) manifest_size: u64,
    pub(crate) manifest: ImageManifest,
    pub(crate) config_digest: Sha256Digest,
    pub(crate) config: serde_json::Value,
    /// `rootfs.diff_ids`, one per manifest layer.
    pub(crate) diff_ids: Vec<Sha256Digest>,
}

impl StoredImage {
    /// Reads manifest `digest` and its config from the store, checking that the config has a
    /// diff id per layer.
    pub(crate) fn read(ctx: &ExportContext, digest: &Sha256Digest) -> Result<Self, ExportError> {
        let bytes = ctx.content.read(digest).map_err(ExportError::store(format!("read manifest {digest}")))?;
        let invalid =
            |what, digest: &Sha256Digest, reason: String| ExportError::InvalidBlob { what, digest: *digest, reason };
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| invalid("manifest", digest, e.to_string()))?;
        let config_digest =
            descriptor_digest(manifest.config()).map_err(|reason| invalid("manifest", digest, reason))?;
        let config_bytes =
            ctx.content.read(&config_digest).map_err(ExportError::store(format!("read config {config_digest}")))?;
        let config: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| invalid("config", &config_digest, e.to_string()))?;
        let diff_ids = diff_ids_of(&config).map_err(|reason| invalid("config", &config_digest, reason))?;
        if diff_ids.len() != manifest.layers().len() {
            let reason =
                format!("{} diff ids for {} layers of manifest {digest}", diff_ids.len(), manifest.layers().len());
            return Err(invalid("config", &config_digest, reason));
        }
        Ok(StoredImage {
            manifest_digest: *digest,
            manifest_size: bytes.len() as u64,
            manifest,
            config_digest,
            config,
            diff_ids,
        })
    }

    /// The layers' blob digests, bottom first.
    pub(crate) fn layer_digests(&self) -> Result<Vec<Sha256Digest>, ExportError> {
        self.manifest
            .layers()
            .iter()
            .map(|layer| {
                descriptor_digest(layer).map_err(|reason| ExportError::InvalidBlob {
                    what: "manifest",
                    digest: self.manifest_digest,
                    reason,
                })
            })
            .collect()
    }
}

/// `rootfs.diff_ids` of a config JSON.
pub(crate) fn diff_ids_of(config: &serde_json::Value) -> Result<Vec<Sha256Digest>, String> {
    let Some(ids) = config["rootfs"]["diff_ids"].as_array() else {
        return Err("no rootfs.diff_ids".to_owned());
    };
    ids.iter()
        .map(|id| {
            let text = id.as_str().unwrap_or_default();
            text.parse().map_err(|_| format!("unsupported diff id `{id}`: only sha256 is supported"))
        })
        .collect()
}

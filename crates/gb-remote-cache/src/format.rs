//! The cache's documents: the config blob (graphbuild's own schema, see the crate docs and
//! `docs/cache-format.md`) and the OCI image manifest that references it and the layer blobs.

use std::collections::HashSet;

use gb_cache::CacheKey;
use gb_ir::Sha256Digest;
use serde::{Deserialize, Serialize};

use crate::error::CacheShareError;

/// The media type of the cache config blob (the manifest's `config`).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.graphbuild.cache.config.v1+json";
/// The version of the config schema this graphbuild writes and reads.
pub const CONFIG_VERSION: u32 = 1;
/// The media type of the manifest: an OCI image manifest, which every registry stores.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config media type of BuildKit's caches, recognized to say why they are not read.
const BUILDKIT_CONFIG_MEDIA_TYPE: &str = "application/vnd.buildkit.cacheconfig.v0";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The most a config may weigh: it is read into memory.
pub(crate) const MAX_CONFIG_SIZE: u64 = 64 << 20;
/// The most a manifest may weigh.
pub(crate) const MAX_MANIFEST_SIZE: u64 = 16 << 20;

/// The cache config: the layer blobs, and the results that name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// [`CONFIG_VERSION`]; a reader refuses versions it does not know.
    pub version: u32,
    /// Every layer blob the records name, each once, in the manifest's order.
    pub layers: Vec<CacheLayer>,
    /// The results, in key order.
    pub records: Vec<CacheRecord>,
}

/// One layer blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheLayer {
    /// The (compressed) blob's digest.
    pub blob: Sha256Digest,
    /// The uncompressed tar's digest, checked when the blob is imported.
    pub diff_id: Sha256Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Its OCI layer media type, which says its compression.
    pub media_type: String,
}

/// One cache result: a `gb_cache::ResultRecord` with blob digests for layer ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The cache key (machine independent: op digests, input keys, content keys).
    pub key: CacheKey,
    /// Per output, its layers' blobs, bottom first.
    pub outputs: Vec<Vec<Sha256Digest>>,
    /// When the result was made; images built from it derive their `created` from it.
    pub created_unix: u64,
    /// The op's description.
    pub description: String,
}

impl CacheConfig {
    /// Checks what an import relies on: a known version, every layer once, every blob a record
    /// names in `layers`, and `layers` listed in the manifest.
    pub(crate) fn validate(&self, manifest: &Manifest, location: &str) -> Result<(), CacheShareError> {
        let invalid = |reason: String| CacheShareError::InvalidCache { location: location.to_owned(), reason };
        if self.version != CONFIG_VERSION {
            return Err(CacheShareError::Unsupported {
                location: location.to_owned(),
                reason: format!("config version {} (this graphbuild reads version {CONFIG_VERSION})", self.version),
            });
        }
        let mut blobs = HashSet::new();
        for layer in &self.layers {
            if !blobs.insert(layer.blob) {
                return Err(invalid(format!("layer {} is listed twice", layer.blob)));
            }
            if !manifest.layers.iter().any(|descriptor| descriptor.digest == layer.blob) {
                return Err(invalid(format!("layer {} is not in the manifest", layer.blob)));
            }
        }
        for record in &self.records {
            if let Some(blob) = record.outputs.iter().flatten().find(|blob| !blobs.contains(*blob)) {
                return Err(invalid(format!("result {} names blob {blob}, which is not a layer", record.key)));
            }
        }
        Ok(())
    }
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType")]
    pub(crate) media_type: String,
    pub(crate) digest: Sha256Digest,
    pub(crate) size: u64,
}

/// The OCI image manifest of a cache: the config, and every layer blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub(crate) schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: Option<String>,
    pub(crate) config: Descriptor,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
}

/// The canonical bytes of the config and of the manifest that references it.
pub(crate) fn documents(config: &CacheConfig) -> (Vec<u8>, Vec<u8>) {
    let config_bytes = gb_ir::canonical_json(config);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_owned(),
            digest: Sha256Digest::of(&config_bytes),
            size: config_bytes.len() as u64,
        },
        layers: config
            .layers
            .iter()
            .map(|layer| Descriptor { media_type: layer.media_type.clone(), digest: layer.blob, size: layer.size })
            .collect(),
    };
    (config_bytes, gb_ir::canonical_json(&manifest))
}

/// Parses a cache manifest of type `media_type` (as the index entry or the registry says),
/// refusing indexes (BuildKit's classic cache format) and manifests of anything but our config.
pub(crate) fn parse_manifest(bytes: &[u8], media_type: &str, location: &str) -> Result<Manifest, CacheShareError> {
    let unsupported =
        |reason: &str| CacheShareError::Unsupported { location: location.to_owned(), reason: reason.into() };
    if matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST) {
        return Err(unsupported("it is an image index, as BuildKit's caches are; not a graphbuild cache"));
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|error| CacheShareError::InvalidCache {
        location: location.to_owned(),
        reason: format!("manifest: {error}"),
    })?;
    match manifest.config.media_type.as_str() {
        CONFIG_MEDIA_TYPE => Ok(manifest),
        BUILDKIT_CONFIG_MEDIA_TYPE => Err(unsupported("it is a BuildKit cache; not a graphbuild cache")),
        other => Err(unsupported(&format!("its config has media type {other}; not a graphbuild cache"))),
    }
}

/// Parses the config blob.
pub(crate) fn parse_config(bytes: &[u8], location: &str) -> Result<CacheConfig, CacheShareError> {
    serde_json::from_slice(bytes).map_err(|error| CacheShareError::InvalidCache {
        location: location.to_owned(),
        reason: format!("config: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(seed: &str) -> Sha256Digest {
        Sha256Digest::of(seed.as_bytes())
    }

    fn config() -> CacheConfig {
        CacheConfig {
            version: CONFIG_VERSION,
            layers: vec![CacheLayer {
                blob: digest("blob"),
                diff_id: digest("tar"),
                size: 10,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
            }],
            records: vec![CacheRecord {
                key: CacheKey(digest("key")),
                outputs: vec![vec![digest("blob")], vec![]],
                created_unix: 1_700_000_000,
                description: "RUN make".to_owned(),
            }],
        }
    }

    #[test]
    fn documents_are_canonical_and_parse_back() {
        let (config_bytes, manifest_bytes) = documents(&config());
        let text = String::from_utf8(config_bytes.clone()).expect("utf-8");
        assert!(text.starts_with(r#"{"layers":[{"blob":"sha256:"#), "{text}");
        assert!(text.contains(r#""records":[{"created_unix":1700000000,"description":"RUN make","key":"sha256:"#));
        assert_eq!(parse_config(&config_bytes, "here").expect("config"), config());
        let manifest = parse_manifest(&manifest_bytes, MANIFEST_MEDIA_TYPE, "here").expect("manifest");
        assert_eq!(manifest.config.digest, Sha256Digest::of(&config_bytes));
        assert_eq!(manifest.layers.len(), 1);
        config().validate(&manifest, "here").expect("valid");
        assert_eq!(documents(&config()), (config_bytes, manifest_bytes));
    }

    #[test]
    fn foreign_and_broken_caches_are_refused() {
        let (_, manifest_bytes) = documents(&config());
        let manifest = parse_manifest(&manifest_bytes, MANIFEST_MEDIA_TYPE, "here").expect("manifest");
        let buildkit =
            String::from_utf8(manifest_bytes).expect("utf-8").replace(CONFIG_MEDIA_TYPE, BUILDKIT_CONFIG_MEDIA_TYPE);
        assert!(matches!(
            parse_manifest(buildkit.as_bytes(), MANIFEST_MEDIA_TYPE, "here"),
            Err(CacheShareError::Unsupported { reason, .. }) if reason.contains("BuildKit")
        ));
        assert!(matches!(parse_manifest(b"{}", OCI_INDEX, "here"), Err(CacheShareError::Unsupported { .. })));
        assert!(matches!(
            parse_manifest(b"[]", MANIFEST_MEDIA_TYPE, "here"),
            Err(CacheShareError::InvalidCache { .. })
        ));
        let mut newer = config();
        newer.version = 2;
        assert!(matches!(newer.validate(&manifest, "here"), Err(CacheShareError::Unsupported { .. })));
        let mut dangling = config();
        dangling.records[0].outputs[1].push(digest("elsewhere"));
        assert!(matches!(dangling.validate(&manifest, "here"), Err(CacheShareError::InvalidCache { .. })));
    }
}

//! The distribution documents a pull reads: image manifests (OCI and Docker schema 2), indexes
//! (OCI and Docker manifest lists), their descriptors, and choosing an index's manifest for a
//! platform.

use gb_ir::{Platform, Sha256Digest};
use serde::Deserialize;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The manifest media types a pull asks for (`Accept`).
pub(crate) const ACCEPTED: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// A content descriptor.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) platform: Option<DescriptorPlatform>,
}

/// The platform an index entry is for.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DescriptorPlatform {
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default)]
    pub(crate) variant: Option<String>,
}

/// An image manifest.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Manifest {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: Option<String>,
    pub(crate) config: Descriptor,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
}

/// An index (manifest list).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Index {
    pub(crate) manifests: Vec<Descriptor>,
}

/// A manifest document of either kind.
#[derive(Debug)]
pub(crate) enum Document {
    Manifest(Manifest),
    Index(Index),
}

/// Why a document cannot be used: `Invalid` is malformed, `Unsupported` is valid but not
/// handled (schema 1, artifacts of other kinds).
#[derive(Debug)]
pub(crate) enum DocumentError {
    Invalid(String),
    Unsupported(String),
}

/// Parses a manifest or index, telling them apart by `mediaType`, or by their fields when it
/// is absent (OCI makes it optional).
pub(crate) fn parse(bytes: &[u8]) -> Result<Document, DocumentError> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "schemaVersion", default)]
        schema_version: u32,
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let invalid = |error: serde_json::Error| DocumentError::Invalid(error.to_string());
    let head: Head = serde_json::from_slice(bytes).map_err(invalid)?;
    if head.schema_version != 2 {
        return Err(DocumentError::Unsupported(format!(
            "schema version {} (only schema 2 manifests are supported)",
            head.schema_version
        )));
    }
    let is_index = match head.media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) => return Err(DocumentError::Unsupported(format!("media type {other}"))),
        None if head.manifests.is_some() => true,
        None if head.config.is_some() => false,
        None => return Err(DocumentError::Invalid("neither `manifests` nor `config`".to_owned())),
    };
    if is_index {
        serde_json::from_slice(bytes).map(Document::Index).map_err(invalid)
    } else {
        serde_json::from_slice(bytes).map(Document::Manifest).map_err(invalid)
    }
}

impl Descriptor {
    /// The digest, which must be sha256 (the only algorithm the store names blobs by).
    pub(crate) fn sha256(&self) -> Result<Sha256Digest, String> {
        self.digest.parse().map_err(|_| format!("digest `{}` is not sha256", self.digest))
    }
}

/// The entry of `index` for `wanted`: an image manifest whose platform matches, preferring one
/// whose variant matches exactly. `Err` lists the platforms the index has.
pub(crate) fn select<'i>(index: &'i Index, wanted: &Platform) -> Result<&'i Descriptor, Vec<String>> {
    let images: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|entry| matches!(entry.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST | ""))
        .collect();
    let candidates = images.iter().filter(|entry| {
        entry.platform.as_ref().is_some_and(|p| platform_matches(wanted, &p.os, &p.architecture, p.variant.as_deref()))
    });
    let exact = candidates
        .clone()
        .find(|entry| entry.platform.as_ref().is_some_and(|p| p.variant.as_deref() == wanted.variant.as_deref()));
    if let Some(entry) = exact.or_else(|| candidates.clone().next()) {
        return Ok(entry);
    }
    let mut available: Vec<String> = Vec::new();
    for entry in images {
        // Attestation manifests (BuildKit's provenance) carry the platform `unknown/unknown`.
        let Some(platform) = entry.platform.as_ref().filter(|p| p.os != "unknown") else { continue };
        let name = platform_name(&platform.os, &platform.architecture, platform.variant.as_deref());
        if !available.contains(&name) {
            available.push(name);
        }
    }
    Err(available)
}

/// Whether an image for `os`/`architecture`/`variant` runs as `wanted` ([`Platform::matches`]).
pub(crate) fn platform_matches(wanted: &Platform, os: &str, architecture: &str, variant: Option<&str>) -> bool {
    let actual =
        Platform { os: os.to_owned(), architecture: architecture.to_owned(), variant: variant.map(str::to_owned) };
    wanted.matches(&actual)
}

/// `os/architecture[/variant]`.
pub(crate) fn platform_name(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(variant) if !variant.is_empty() => format!("{os}/{architecture}/{variant}"),
        _ => format!("{os}/{architecture}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        Index {
            manifests: platforms
                .iter()
                .enumerate()
                .map(|(i, (os, architecture, variant))| Descriptor {
                    media_type: OCI_MANIFEST.to_owned(),
                    digest: format!("sha256:{}", format!("{i}").repeat(64)),
                    size: 1,
                    platform: Some(DescriptorPlatform {
                        os: (*os).to_owned(),
                        architecture: (*architecture).to_owned(),
                        variant: variant.map(str::to_owned),
                    }),
                })
                .collect(),
        }
    }

    fn platform(text: &str) -> Platform {
        Platform::parse(text).expect("platform")
    }

    #[test]
    fn selects_the_platform_and_prefers_the_exact_variant() {
        let index = index(&[
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", Some("v8")),
            ("unknown", "unknown", None),
        ]);
        let digest_of = |text: &str| select(&index, &platform(text)).map(|entry| entry.digest.clone());
        assert_eq!(digest_of("linux/amd64"), Ok(index.manifests[0].digest.clone()));
        assert_eq!(digest_of("linux/x86_64"), Ok(index.manifests[0].digest.clone()));
        assert_eq!(digest_of("linux/arm/v7"), Ok(index.manifests[2].digest.clone()));
        assert_eq!(digest_of("linux/arm"), Ok(index.manifests[1].digest.clone()));
        assert_eq!(digest_of("linux/arm64"), Ok(index.manifests[3].digest.clone()));
        assert_eq!(
            digest_of("linux/s390x"),
            Err(vec![
                "linux/amd64".to_owned(),
                "linux/arm/v6".to_owned(),
                "linux/arm/v7".to_owned(),
                "linux/arm64/v8".to_owned()
            ])
        );
    }

    #[test]
    fn arm64_without_a_variant_is_v8() {
        assert!(platform_matches(&platform("linux/arm64/v8"), "linux", "arm64", None));
        assert!(!platform_matches(&platform("linux/arm/v7"), "linux", "arm", None));
        assert!(!platform_matches(&platform("linux/amd64"), "windows", "amd64", None));
    }

    #[test]
    fn parses_documents_by_media_type_or_shape() {
        let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:aa","size":1},"layers":[]}"#;
        assert!(matches!(parse(manifest), Ok(Document::Manifest(_))));
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(parse(index), Ok(Document::Index(_))));
        let schema1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(matches!(parse(schema1), Err(DocumentError::Unsupported(_))));
        assert!(matches!(parse(b"not json"), Err(DocumentError::Invalid(_))));
    }
}

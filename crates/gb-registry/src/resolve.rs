//! Resolving a reference to the image manifest for a platform, with its config, without
//! downloading layers.

use gb_ir::{ImageReference, Platform, Sha256Digest};
use oci_client::RegistryOperation;

use crate::error::{RegistryError, Request};
use crate::manifest::{self, ACCEPTED, Document, DocumentError, Manifest, OCI_MANIFEST};
use crate::registry::{Registry, Session, oci_reference};

/// Configs larger than this are refused: they are read into memory, and real ones are a few
/// kilobytes.
const MAX_CONFIG_SIZE: u64 = 16 << 20;

/// An image manifest and its config, as the registry serves them.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The image manifest's digest (for an index, that of the platform's manifest).
    pub manifest_digest: Sha256Digest,
    /// The image manifest.
    pub manifest: serde_json::Value,
    /// The image manifest's bytes, as served (they hash to `manifest_digest`).
    pub manifest_bytes: Vec<u8>,
    /// The manifest's media type (OCI or Docker schema 2).
    pub media_type: String,
    /// The image config.
    pub config: serde_json::Value,
    /// The config's bytes, as served.
    pub config_bytes: Vec<u8>,
    /// The config's digest.
    pub config_digest: Sha256Digest,
    /// The index the reference named, when it named one.
    pub index_digest: Option<Sha256Digest>,
}

/// A resolved image with its parsed manifest, for pulls.
pub(crate) struct ResolvedImage {
    pub(crate) resolved: Resolved,
    pub(crate) manifest: Manifest,
}

impl Registry {
    /// Resolves `reference` to its manifest digest for `platform`: an index is resolved to the
    /// platform's manifest; a single manifest is checked against the platform its config
    /// names. Downloads the manifest(s) and the config, no layer.
    pub async fn resolve(&self, reference: &ImageReference, platform: &Platform) -> Result<Resolved, RegistryError> {
        let session = self.session(&reference.registry).await?;
        Ok(resolve_with(&session, reference, platform).await?.resolved)
    }
}

/// [`Registry::resolve`] with a session.
pub(crate) async fn resolve_with(
    session: &Session,
    reference: &ImageReference,
    platform: &Platform,
) -> Result<ResolvedImage, RegistryError> {
    let request = session.request(reference, "pull");
    let oci = oci_reference(reference);
    session.authenticate(&oci, RegistryOperation::Pull, &request).await?;
    let what = format!("image {reference}");
    let (bytes, _) = session
        .client
        .pull_manifest_raw(&oci, &session.auth, ACCEPTED)
        .await
        .map_err(|error| request.error(&what, error))?;
    let digest = Sha256Digest::of(&bytes);
    if let Some(pinned) = reference.digest
        && pinned != digest
    {
        return Err(mismatch(&request, "manifest", pinned, digest));
    }
    let (manifest_digest, manifest_bytes, manifest, index_digest) = match parse(&request, &bytes)? {
        Document::Manifest(manifest) => (digest, bytes.to_vec(), manifest, None),
        Document::Index(index) => {
            let entry = manifest::select(&index, platform).map_err(|available| RegistryError::NoMatchingPlatform {
                reference: reference.to_string(),
                platform: platform.to_string(),
                available,
            })?;
            let child = entry.sha256().map_err(|reason| unsupported(&request, "index", reason))?;
            let (child_bytes, _) = session
                .client
                .pull_manifest_raw(&oci.clone_with_digest(child.to_string()), &session.auth, ACCEPTED)
                .await
                .map_err(|error| request.error(&format!("manifest {child} of {what}"), error))?;
            let actual = Sha256Digest::of(&child_bytes);
            if actual != child {
                return Err(mismatch(&request, "platform manifest", child, actual));
            }
            match parse(&request, &child_bytes)? {
                Document::Manifest(manifest) => (child, child_bytes.to_vec(), manifest, Some(digest)),
                Document::Index(_) => {
                    return Err(unsupported(&request, "index", format!("its entry {child} is another index")));
                }
            }
        }
    };
    let config_digest = manifest.config.sha256().map_err(|reason| unsupported(&request, "manifest", reason))?;
    if manifest.config.size > MAX_CONFIG_SIZE {
        return Err(invalid(&request, "manifest", format!("its config is {} bytes", manifest.config.size)));
    }
    let mut config_bytes = Vec::new();
    session
        .client
        .pull_blob(&oci, manifest.config.digest.as_str(), &mut config_bytes)
        .await
        .map_err(|error| request.error(&format!("config {config_digest} of {what}"), error))?;
    let actual = Sha256Digest::of(&config_bytes);
    if actual != config_digest {
        return Err(mismatch(&request, "config", config_digest, actual));
    }
    let config: serde_json::Value =
        serde_json::from_slice(&config_bytes).map_err(|error| invalid(&request, "config", error.to_string()))?;
    if index_digest.is_none() {
        let text = |key: &str| config[key].as_str().unwrap_or_default().to_owned();
        let (os, architecture, variant) = (text("os"), text("architecture"), config["variant"].as_str());
        if !manifest::platform_matches(platform, &os, &architecture, variant) {
            return Err(RegistryError::NoMatchingPlatform {
                reference: reference.to_string(),
                platform: platform.to_string(),
                available: vec![manifest::platform_name(&os, &architecture, variant)],
            });
        }
    }
    let manifest_json: serde_json::Value =
        serde_json::from_slice(&manifest_bytes).map_err(|error| invalid(&request, "manifest", error.to_string()))?;
    let media_type = manifest.media_type.clone().unwrap_or_else(|| OCI_MANIFEST.to_owned());
    Ok(ResolvedImage {
        resolved: Resolved {
            manifest_digest,
            manifest: manifest_json,
            manifest_bytes,
            media_type,
            config,
            config_bytes,
            config_digest,
            index_digest,
        },
        manifest,
    })
}

fn parse(request: &Request, bytes: &[u8]) -> Result<Document, RegistryError> {
    manifest::parse(bytes).map_err(|error| match error {
        DocumentError::Invalid(reason) => invalid(request, "manifest", reason),
        DocumentError::Unsupported(reason) => unsupported(request, "manifest", reason),
    })
}

fn mismatch(request: &Request, what: &str, expected: Sha256Digest, actual: Sha256Digest) -> RegistryError {
    RegistryError::DigestMismatch { what: what.to_owned(), reference: request.reference.clone(), expected, actual }
}

fn invalid(request: &Request, what: &'static str, reason: String) -> RegistryError {
    RegistryError::InvalidContent { what, reference: request.reference.clone(), reason }
}

fn unsupported(request: &Request, what: &'static str, reason: String) -> RegistryError {
    RegistryError::Unsupported { what, reference: request.reference.clone(), reason }
}

//! Generic transfers, for content that is not an image (a build cache, see gb-remote-cache): one
//! blob pushed from or pulled into the content store, one manifest pushed or pulled as bytes.
//! They use the same sessions, credentials, plain-HTTP rules, existence checks and digest
//! verification as [`Registry::push`] and [`Registry::pull`].

use std::collections::HashMap;

use gb_export::ExportContext;
use gb_ir::{ImageReference, Sha256Digest};
use oci_client::RegistryOperation;
use serde::Deserialize;

use crate::error::RegistryError;
use crate::manifest::{ACCEPTED, OCI_INDEX, OCI_MANIFEST};
use crate::pull::Download;
use crate::push::{Outcome, Upload, manifest_reference};
use crate::registry::{Registry, oci_reference};

impl Registry {
    /// Pushes blob `digest` from the content store to the repository of `target` (its tag or
    /// digest is not used), unless the repository has it already: it is asked for first, and
    /// an existing blob is never uploaded. Returns whether the blob was uploaded.
    pub async fn push_blob_from_store(
        &self,
        ctx: &ExportContext<'_>,
        target: &ImageReference,
        digest: &Sha256Digest,
    ) -> Result<bool, RegistryError> {
        // Fail before talking to the registry when the store lacks the blob.
        ctx.content.size(digest).map_err(RegistryError::store(format!("read blob {digest}")))?;
        let session = self.session(&target.registry).await?;
        let request = session.request(target, "push to");
        let oci = manifest_reference(target);
        session.authenticate(&oci, RegistryOperation::Push, &request).await?;
        let sources = HashMap::new();
        let upload = Upload { session: &session, ctx, target: &oci, request: &request, sources: &sources };
        let (_, outcome) = upload.blob(*digest).await?;
        Ok(outcome == Outcome::Uploaded)
    }

    /// Downloads blob `digest` of the repository of `repository` into the content store,
    /// verified as it streams: a blob whose bytes do not hash to `digest` fails with
    /// [`RegistryError::DigestMismatch`] and is never stored. `size` is the size its descriptor
    /// promises (a larger blob is refused); 0 promises nothing.
    pub async fn pull_blob_to_store(
        &self,
        ctx: &ExportContext<'_>,
        repository: &ImageReference,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<(), RegistryError> {
        let session = self.session(&repository.registry).await?;
        let request = session.request(repository, "pull");
        let oci = oci_reference(repository);
        session.authenticate(&oci, RegistryOperation::Pull, &request).await?;
        let download = Download { client: session.client.clone(), reference: oci, request };
        download.blob(ctx.content, *digest, size).await.map(drop)
    }

    /// Puts `bytes`, a manifest or index of type `media_type`, under `target`'s tag (or digest,
    /// which must then be the bytes' digest). The blobs it names must be in the repository
    /// already. Returns the manifest's digest.
    pub async fn push_manifest_bytes(
        &self,
        target: &ImageReference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Sha256Digest, RegistryError> {
        let digest = Sha256Digest::of(&bytes);
        if let Some(pinned) = target.digest
            && pinned != digest
        {
            return Err(RegistryError::InvalidTarget {
                reference: target.to_string(),
                reason: format!("the manifest is {digest}"),
            });
        }
        let session = self.session(&target.registry).await?;
        let request = session.request(target, "push to");
        let content_type = media_type.parse().map_err(|_| RegistryError::InvalidContent {
            what: "manifest",
            reference: target.to_string(),
            reason: format!("media type `{media_type}`"),
        })?;
        let oci = manifest_reference(target);
        session.authenticate(&oci, RegistryOperation::Push, &request).await?;
        session
            .client
            .push_manifest_raw(&oci, bytes, content_type)
            .await
            .map_err(|error| request.error(&format!("manifest of {target}"), error))?;
        Ok(digest)
    }

    /// The manifest or index `reference` names, as the registry serves it: its bytes, its media
    /// type (its `mediaType` field, else guessed from its fields) and its digest (checked
    /// against the reference's digest when it has one). A tag or repository the registry does
    /// not have is [`RegistryError::NotFound`].
    pub async fn pull_manifest_bytes(
        &self,
        reference: &ImageReference,
    ) -> Result<(Vec<u8>, String, Sha256Digest), RegistryError> {
        let session = self.session(&reference.registry).await?;
        let request = session.request(reference, "pull");
        let oci = oci_reference(reference);
        session.authenticate(&oci, RegistryOperation::Pull, &request).await?;
        let (bytes, _) = session
            .client
            .pull_manifest_raw(&oci, &session.auth, ACCEPTED)
            .await
            .map_err(|error| request.error(&format!("manifest {reference}"), error))?;
        let digest = Sha256Digest::of(&bytes);
        if let Some(pinned) = reference.digest
            && pinned != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: "manifest".to_owned(),
                reference: reference.to_string(),
                expected: pinned,
                actual: digest,
            });
        }
        let media_type = media_type_of(&bytes).map_err(|reason| RegistryError::InvalidContent {
            what: "manifest",
            reference: reference.to_string(),
            reason,
        })?;
        Ok((bytes.to_vec(), media_type, digest))
    }
}

/// A manifest's media type: its `mediaType`, else an index when it has `manifests`, else an
/// image manifest (OCI makes the field optional).
fn media_type_of(bytes: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    Ok(match (head.media_type, head.manifests) {
        (Some(media_type), _) if !media_type.is_empty() => media_type,
        (_, Some(_)) => OCI_INDEX.to_owned(),
        _ => OCI_MANIFEST.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_field_or_the_shape() {
        let custom = br#"{"schemaVersion":2,"mediaType":"application/x.test","config":{}}"#;
        assert_eq!(media_type_of(custom), Ok("application/x.test".to_owned()));
        assert_eq!(media_type_of(br#"{"schemaVersion":2,"manifests":[]}"#), Ok(OCI_INDEX.to_owned()));
        assert_eq!(media_type_of(br#"{"schemaVersion":2,"config":{},"layers":[]}"#), Ok(OCI_MANIFEST.to_owned()));
        assert!(media_type_of(b"not json").is_err());
    }
}

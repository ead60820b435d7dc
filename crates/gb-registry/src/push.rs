//! Pushing a stored image: each blob checked for first, mounted from another repository of the
//! same registry when a stored image came from there, else uploaded from the content store;
//! then the manifest, under the target's tag.

use std::collections::HashMap;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use gb_cache::ImageRecord;
use gb_export::ExportContext;
use gb_ir::{ImageReference, Sha256Digest};
use oci_client::errors::OciDistributionError;
use oci_client::{Reference, RegistryOperation};
use tokio::io::AsyncReadExt as _;

use crate::error::{RegistryError, Request};
use crate::manifest::{self, Document, OCI_MANIFEST};
use crate::registry::{Registry, Session};

/// How many blobs upload at once.
pub const MAX_UPLOADS: usize = 4;
/// The size of the pieces a blob is read in while it uploads.
const UPLOAD_CHUNK: usize = 1 << 20;

/// What a push did with each blob (layers and config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The pushed manifest's digest.
    pub manifest_digest: Sha256Digest,
    /// Blobs sent to the registry.
    pub uploaded: Vec<Sha256Digest>,
    /// Blobs the target repository already had.
    pub skipped: Vec<Sha256Digest>,
    /// Blobs mounted from another repository of the same registry.
    pub mounted: Vec<Sha256Digest>,
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Uploaded,
    Skipped,
    Mounted,
}

impl Registry {
    /// Pushes the stored image `record` to `target`: each layer blob and the config are first
    /// checked for in the target repository (an existing blob is never uploaded), then mounted
    /// when a stored image names the blob and comes from another repository of the same
    /// registry, else uploaded; then the manifest is put under the target's tag (or digest).
    pub async fn push(
        &self,
        ctx: &ExportContext<'_>,
        record: &ImageRecord,
        target: &ImageReference,
    ) -> Result<PushReport, RegistryError> {
        let session = self.session(&target.registry).await?;
        let request = session.request(target, "push to");
        let manifest_bytes = ctx
            .content
            .read(&record.manifest_digest)
            .map_err(RegistryError::store(format!("read manifest {}", record.manifest_digest)))?;
        let invalid = |reason: String| RegistryError::InvalidContent {
            what: "manifest",
            reference: record.reference.clone(),
            reason,
        };
        let manifest = match manifest::parse(&manifest_bytes) {
            Ok(Document::Manifest(manifest)) => manifest,
            Ok(Document::Index(_)) => return Err(invalid("it is an index, not an image manifest".to_owned())),
            Err(manifest::DocumentError::Invalid(reason) | manifest::DocumentError::Unsupported(reason)) => {
                return Err(invalid(reason));
            }
        };
        if let Some(digest) = target.digest
            && digest != record.manifest_digest
        {
            return Err(RegistryError::InvalidTarget {
                reference: target.to_string(),
                reason: format!("the image's manifest is {}", record.manifest_digest),
            });
        }
        let mut blobs: Vec<Sha256Digest> = Vec::new();
        for descriptor in manifest.layers.iter().chain([&manifest.config]) {
            let digest = descriptor.sha256().map_err(invalid)?;
            if !blobs.contains(&digest) {
                // Fail before talking to the registry when the store lacks a blob.
                ctx.content.size(&digest).map_err(RegistryError::store(format!("read blob {digest}")))?;
                blobs.push(digest);
            }
        }
        let oci = manifest_reference(target);
        session.authenticate(&oci, RegistryOperation::Push, &request).await?;
        let sources = mount_sources(ctx, target)?;
        let upload = Upload { session: &session, ctx, target: &oci, request: &request, sources: &sources };
        let outcomes: Vec<(Sha256Digest, Outcome)> =
            stream::iter(blobs).map(|digest| upload.blob(digest)).buffered(MAX_UPLOADS).try_collect().await?;
        let media_type = manifest.media_type.as_deref().unwrap_or(OCI_MANIFEST);
        let content_type = media_type.parse().map_err(|_| invalid(format!("media type `{media_type}`")))?;
        session
            .client
            .push_manifest_raw(&oci, manifest_bytes, content_type)
            .await
            .map_err(|error| request.error(&format!("manifest of {target}"), error))?;
        let pick = |wanted: Outcome| {
            outcomes.iter().filter(|(_, outcome)| *outcome == wanted).map(|(digest, _)| *digest).collect::<Vec<_>>()
        };
        Ok(PushReport {
            manifest_digest: record.manifest_digest,
            uploaded: pick(Outcome::Uploaded),
            skipped: pick(Outcome::Skipped),
            mounted: pick(Outcome::Mounted),
        })
    }
}

/// Where the manifest goes: under the tag when there is one (a digest alone otherwise).
pub(crate) fn manifest_reference(target: &ImageReference) -> Reference {
    match (&target.tag, &target.digest) {
        (Some(tag), _) => Reference::with_tag(target.registry.clone(), target.repository.clone(), tag.clone()),
        (None, Some(digest)) => {
            Reference::with_digest(target.registry.clone(), target.repository.clone(), digest.to_string())
        }
        (None, None) => Reference::with_tag(target.registry.clone(), target.repository.clone(), "latest".to_owned()),
    }
}

/// For each blob a stored image from another repository of the target's registry names, that
/// repository: the blob is there (the image was pulled from or pushed to it), so the registry
/// can link it instead of receiving it again.
fn mount_sources(ctx: &ExportContext, target: &ImageReference) -> Result<HashMap<Sha256Digest, String>, RegistryError> {
    let mut sources = HashMap::new();
    let images = ctx.db.images().map_err(RegistryError::store("list the stored images"))?;
    for (name, image) in images {
        let Ok(reference) = name.reference() else { continue };
        if reference.registry != target.registry || reference.repository == target.repository {
            continue;
        }
        // An unreadable manifest only means no mount from there.
        let Ok(bytes) = ctx.content.read(&image.manifest_digest) else { continue };
        let Ok(Document::Manifest(manifest)) = manifest::parse(&bytes) else { continue };
        for descriptor in manifest.layers.iter().chain([&manifest.config]) {
            if let Ok(digest) = descriptor.sha256() {
                sources.entry(digest).or_insert_with(|| reference.repository.clone());
            }
        }
    }
    Ok(sources)
}

/// One push's blob uploads.
pub(crate) struct Upload<'a> {
    pub(crate) session: &'a Session,
    pub(crate) ctx: &'a ExportContext<'a>,
    pub(crate) target: &'a Reference,
    pub(crate) request: &'a Request,
    pub(crate) sources: &'a HashMap<Sha256Digest, String>,
}

impl Upload<'_> {
    pub(crate) async fn blob(&self, digest: Sha256Digest) -> Result<(Sha256Digest, Outcome), RegistryError> {
        let client = &self.session.client;
        let text = digest.to_string();
        let what = format!("blob {digest}");
        let error = |error| self.request.error(&what, error);
        if client.blob_exists(self.target, &text).await.map_err(error)? {
            return Ok((digest, Outcome::Skipped));
        }
        if let Some(repository) = self.sources.get(&digest) {
            let source =
                Reference::with_tag(self.target.registry().to_owned(), repository.clone(), "latest".to_owned());
            // A refused mount (the blob is gone there, the token does not cover that repository)
            // costs nothing but the upload it would have saved.
            if client.mount_blob(self.target, &source, &text).await.is_ok() {
                return Ok((digest, Outcome::Mounted));
            }
        }
        let path = self.ctx.content.path(&digest);
        let size = self.ctx.content.size(&digest).map_err(RegistryError::store(format!("read {what}")))?;
        let file = tokio::fs::File::open(&path).await.map_err(|source| RegistryError::Store {
            action: format!("read {what}"),
            source: gb_cache::CacheError::Io { action: "open", path: path.clone(), source },
        })?;
        let chunks = stream::try_unfold(file, |mut file| async move {
            let mut chunk = vec![0; UPLOAD_CHUNK];
            let read = file.read(&mut chunk).await.map_err(OciDistributionError::IoError)?;
            if read == 0 {
                return Ok(None);
            }
            chunk.truncate(read);
            Ok(Some((chunk.into(), file)))
        });
        client.push_blob_stream(self.target, chunks, &text, Some(size)).await.map_err(error)?;
        Ok((digest, Outcome::Uploaded))
    }
}

//! The engine's registry work: base images pulled lazily for the solver, and pushes.

use std::sync::Arc;

use gb_ir::{ImageReference, Platform};
use gb_registry::{PushReport, Registry, RegistryConfig};
use gb_solver::PullError;
use gb_store::StateRoot;

use crate::error::EngineError;
use crate::{Engine, export_context};

/// Pulls base images for the solver when an op needs their layers, one at a time.
pub struct RegistryPuller {
    registry: Registry,
    root: Arc<StateRoot>,
    lock: tokio::sync::Mutex<()>,
}

impl RegistryPuller {
    /// A puller with the build's registry settings.
    pub fn new(root: Arc<StateRoot>, config: RegistryConfig) -> Result<Self, EngineError> {
        Ok(Self { registry: Registry::new(config)?, root, lock: tokio::sync::Mutex::new(()) })
    }
}

impl gb_solver::ImagePuller for RegistryPuller {
    fn pull<'a>(
        &'a self,
        reference: &'a str,
        manifest: &'a gb_ir::Sha256Digest,
        platform: &'a Platform,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<gb_cache::ImageRecord, PullError>> + Send + 'a>>
    {
        Box::pin(async move {
            let _one_at_a_time = self.lock.lock().await;
            // No such image or no access is the build's input; an unreachable or misbehaving
            // registry, or our own disk, is the environment's.
            pull_pinned(&self.root, &self.registry, reference, manifest, platform)
                .await
                .map_err(|e| PullError { environment: e.kind() != crate::ErrorKind::Input, source: Box::new(e) })
        })
    }
}

/// The image `reference` pinned to `manifest`: the store's when it holds that manifest under
/// the name, else pulled by digest and stored under the name the build gave (where the solver
/// and the exporter look it up).
async fn pull_pinned(
    root: &StateRoot,
    registry: &Registry,
    reference: &str,
    manifest: &gb_ir::Sha256Digest,
    platform: &Platform,
) -> Result<gb_cache::ImageRecord, EngineError> {
    let invalid = |e: &dyn std::fmt::Display| EngineError::Invalid(format!("{reference}: {e}"));
    let name = gb_cache::ImageName::parse(reference).map_err(|e| invalid(&e))?;
    let store = |action| move |source| EngineError::Store { action, source: Box::new(source) };
    if let Some(record) = root.db.image(&name).map_err(store("reading the image store"))?
        && record.manifest_digest == *manifest
    {
        return Ok(record);
    }
    let mut pinned = ImageReference::parse(reference).map_err(|e| invalid(&e))?;
    (pinned.tag, pinned.digest) = (None, Some(*manifest));
    let mut record = registry.pull(&export_context(root), &pinned, platform).await?;
    record.reference = reference.to_owned();
    root.db.put_image(&name, &record).map_err(store("storing the pulled image"))?;
    Ok(record)
}

impl Engine {
    /// Puts the base image of `definition`'s image in the store when it is not there, so that
    /// the image is assembled on the base's own blobs and history. A build whose steps all came
    /// from a shared cache never needed the base's layers, so nothing pulled it; an image
    /// assembled without it would re-serialize its layers and lose its history. The pull finds
    /// the layers the cache import brought in by their blobs and downloads only what is missing.
    pub(crate) async fn ensure_base_image(
        &self,
        definition: &gb_ir::Definition,
        config: &RegistryConfig,
    ) -> Result<(), EngineError> {
        let Some(spec) = &definition.image else { return Ok(()) };
        let Some(reference) = &spec.base else { return Ok(()) };
        // The manifest the front end resolved the base to, which the build's steps were keyed on.
        let Some(manifest) = definition.ops.iter().find_map(|entry| match &entry.node.op {
            gb_ir::Op::Source(gb_ir::SourceOp::Image(image)) if image.reference == *reference => image.manifest,
            _ => None,
        }) else {
            return Ok(());
        };
        pull_pinned(self.root(), &Registry::new(config.clone())?, reference, &manifest, &spec.platform).await?;
        Ok(())
    }
}

/// Pushes the stored image `name` (normalized) to its registry; returns its familiar name and
/// what the push did.
pub async fn push(engine: &Engine, name: &str, config: &RegistryConfig) -> Result<(String, PushReport), EngineError> {
    let record = engine
        .root()
        .db
        .image(&gb_cache::ImageName::parse(name).map_err(|e| EngineError::Invalid(format!("{name}: {e}")))?)
        .map_err(|source| EngineError::Store { action: "reading the image store", source: Box::new(source) })?
        .ok_or_else(|| EngineError::Invalid(format!("no such image: {name}")))?;
    let target = ImageReference::parse(name).map_err(|e| EngineError::Invalid(format!("{name}: {e}")))?;
    let registry = Registry::new(config.clone())?;
    let report = registry.push(&engine.export_context(), &record, &target).await?;
    // The registry now holds it by that digest: its RepoDigests say so, as docker's.
    let mut pinned = target.clone();
    pinned.digest = Some(report.manifest_digest);
    let name_key = gb_cache::ImageName::of(&target);
    let mut stored = record;
    stored.reference = pinned.to_string();
    engine
        .root()
        .db
        .put_image(&name_key, &stored)
        .map_err(|source| EngineError::Store { action: "recording the pushed digest", source: Box::new(source) })?;
    Ok((target.familiar(), report))
}

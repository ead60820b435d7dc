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
            let name = gb_cache::ImageName::parse(reference)
                .map_err(|e| PullError { environment: false, source: Box::new(e) })?;
            if let Ok(Some(record)) = self.root.db.image(&name)
                && record.manifest_digest == *manifest
            {
                return Ok(record);
            }
            let mut pinned =
                ImageReference::parse(reference).map_err(|e| PullError { environment: false, source: Box::new(e) })?;
            pinned.tag = None;
            pinned.digest = Some(*manifest);
            let mut record = self.registry.pull(&export_context(&self.root), &pinned, platform).await.map_err(|e| {
                // No such image or no access is the build's input; an unreachable or misbehaving
                // registry, or our own disk, is the environment's.
                let environment = e.kind() != gb_registry::ErrorKind::Input;
                PullError { environment, source: Box::new(e) }
            })?;
            // Also under the tag the build named, where the solver looks it up.
            record.reference = reference.to_owned();
            self.root.db.put_image(&name, &record).map_err(|e| PullError { environment: true, source: Box::new(e) })?;
            Ok(record)
        })
    }
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
        let name =
            gb_cache::ImageName::parse(reference).map_err(|e| EngineError::Invalid(format!("{reference}: {e}")))?;
        let stored = self
            .root()
            .db
            .image(&name)
            .map_err(|source| EngineError::Store { action: "reading the image store", source: Box::new(source) })?;
        if stored.is_some_and(|record| record.manifest_digest == manifest) {
            return Ok(());
        }
        let mut pinned =
            ImageReference::parse(reference).map_err(|e| EngineError::Invalid(format!("{reference}: {e}")))?;
        (pinned.tag, pinned.digest) = (None, Some(manifest));
        let registry = Registry::new(config.clone())?;
        let mut record = registry.pull(&export_context(self.root()), &pinned, &spec.platform).await?;
        record.reference = reference.clone();
        self.root()
            .db
            .put_image(&name, &record)
            .map_err(|source| EngineError::Store { action: "storing the base image", source: Box::new(source) })
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
    Ok((target.familiar(), report))
}

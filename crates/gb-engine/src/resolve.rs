//! Base image resolution for front ends while they lower: the local store first, then the
//! image's registry (manifest and config only; layers come when a step needs them).

use gb_ir::{ImageConfig, ImageReference, Platform, Sha256Digest};
use gb_registry::{Registry, RegistryConfig};

use crate::Engine;
use crate::error::EngineError;

/// A base image as a front end needs it.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The manifest digest the build pins.
    pub manifest: Sha256Digest,
    /// Its config.
    pub config: ImageConfig,
    /// The platform its config names, when it names one.
    pub platform: Option<Platform>,
}

/// What resolving a base image found.
#[derive(Debug)]
pub enum Resolution {
    /// The image.
    Found(BaseImage),
    /// The store has it, but its registry could not be asked (with `always_pull`): the stored
    /// image is used, and this says why it was not re-resolved.
    Stored(BaseImage, EngineError),
}

impl Engine {
    /// Resolves `reference` for `platform`: the stored image unless `always_pull` (`--pull`),
    /// else its registry's. A registry that cannot be asked is an error (its kind says whose)
    /// unless the store has the image; a registry without the platform is an error even then,
    /// since a stored image could be for any platform.
    pub async fn resolve_image(
        &self,
        reference: &ImageReference,
        platform: &Platform,
        registry: &RegistryConfig,
        always_pull: bool,
    ) -> Result<Resolution, EngineError> {
        let stored = self
            .root()
            .db
            .image(&gb_cache::ImageName::of(reference))
            .map_err(|source| EngineError::Store { action: "reading the image store", source: Box::new(source) })?
            .map(|record| {
                let matches = gb_store::record_platform(&record.config).is_none_or(|actual| platform.matches(&actual));
                (record, matches)
            });
        // A stored image for another platform (one platform of a multi-platform base) is not
        // this one's: the registry is asked, and only if it cannot answer is the stored one
        // used (for the build to report the mismatch).
        let stored_matches = stored.as_ref().is_some_and(|(_, matches)| *matches);
        let stored = stored.map(|(record, _)| BaseImage {
            manifest: record.manifest_digest,
            config: gb_store::ir_config(&record.config),
            platform: gb_store::record_platform(&record.config),
        });
        if let Some(image) = &stored
            && stored_matches
            && !always_pull
        {
            return Ok(Resolution::Found(image.clone()));
        }
        let resolved = match Registry::new(registry.clone()) {
            Ok(client) => client.resolve(reference, platform).await,
            Err(error) => Err(error),
        };
        match (resolved, stored) {
            (Ok(found), _) => Ok(Resolution::Found(BaseImage {
                manifest: found.manifest_digest,
                config: gb_store::ir_config(&found.config),
                platform: gb_store::record_platform(&found.config),
            })),
            (Err(error @ gb_registry::RegistryError::NoMatchingPlatform { .. }), _) => Err(error.into()),
            (Err(error), Some(image)) => Ok(Resolution::Stored(image, error.into())),
            (Err(error), None) => Err(error.into()),
        }
    }
}

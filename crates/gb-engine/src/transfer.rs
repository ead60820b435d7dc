//! Images in and out of the store: pulling from a registry, saving to and loading from
//! docker-archive and OCI archives. Each holds the root's building lease while it makes layers
//! and records, so garbage collection never takes them before an image names them.

use std::path::Path;

use gb_cache::{ImageName, ImageRecord};
use gb_ir::{ImageReference, Platform, Sha256Digest};
use gb_registry::{Registry, RegistryConfig};

use crate::{Engine, EngineError};

/// The archive formats `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// What `docker load` reads (`manifest.json`, `repositories`).
    Docker,
    /// An OCI image layout as a tar.
    Oci,
}

/// One image an archive held.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The names it was stored under (none for an archive entry without a name).
    pub names: Vec<ImageName>,
    /// Its id (config digest).
    pub id: Sha256Digest,
}

impl Engine {
    /// Pulls `reference` for `platform` into the store and names it.
    pub async fn pull(
        &self,
        reference: &ImageReference,
        platform: &Platform,
        config: &RegistryConfig,
    ) -> Result<ImageRecord, EngineError> {
        let _building = self.root().building_async().await;
        let registry = Registry::new(config.clone())?;
        Ok(registry.pull(&self.export_context(), reference, platform).await?)
    }

    /// Writes the images `names` (names or ids) to an archive at `dest`. A name saves the image
    /// under that name; an id saves it unnamed, as docker does.
    pub fn save(&self, names: &[String], dest: &Path, format: ArchiveFormat) -> Result<(), EngineError> {
        let mut found: Vec<(Sha256Digest, Vec<String>)> = Vec::new();
        for name in names {
            let (full_name, record) = gb_store::find_image(self.root(), name)?;
            let by_name = ImageName::parse(name).ok().as_ref() == Some(&full_name);
            match found.iter_mut().find(|(digest, _)| *digest == record.manifest_digest) {
                Some((_, names)) if by_name => names.push(full_name.to_string()),
                Some(_) => {}
                None => {
                    let names = if by_name { vec![full_name.to_string()] } else { Vec::new() };
                    found.push((record.manifest_digest, names));
                }
            }
        }
        let images: Vec<gb_export::ImageRef<'_>> = found
            .iter()
            .map(|(digest, names)| gb_export::ImageRef {
                manifest_digest: *digest,
                names: names.as_slice(),
                descriptor_annotations: Default::default(),
            })
            .collect();
        let context = self.export_context();
        match format {
            ArchiveFormat::Docker => gb_export::write_docker_archive(&context, &images, dest),
            ArchiveFormat::Oci => gb_export::write_oci_layout(&context, &images, dest, true),
        }
        .map_err(|source| EngineError::Archive { dest: dest.to_owned(), source: Box::new(source) })
    }

    /// Stores the image an `oci-layout://` build context named `name` takes (for `platform`)
    /// and returns the reference the build reads it by: `oci-layout.invalid/NAME@DIGEST`, the
    /// manifest's digest under a registry name that never resolves (`.invalid` is reserved),
    /// so the image can only ever come from the store, and is listed there as such.
    pub fn import_layout_image(
        &self,
        name: &str,
        layout: &gb_export::LayoutReference,
        platform: &Platform,
    ) -> Result<ImageReference, EngineError> {
        let root = self.root();
        let _building = root.building();
        let mut record = gb_export::load_layout_image(&self.export_context(), layout, platform)
            .map_err(|source| EngineError::Load { input: layout.path.clone(), source: Box::new(source) })?;
        // A single manifest names no platform of its own: its config says which it is for.
        if let Some(actual) = gb_store::record_platform(&record.config)
            && !platform.matches(&actual)
        {
            return Err(EngineError::Invalid(format!(
                "the image {} of the OCI layout {} is for {actual}, not {platform}",
                record.manifest_digest,
                layout.path.display()
            )));
        }
        let repository: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let repository = repository.trim_matches('-');
        let text = format!(
            "oci-layout.invalid/{}@{}",
            if repository.is_empty() { "layout" } else { repository },
            record.manifest_digest
        );
        let reference = ImageReference::parse(&text)
            .or_else(|_| ImageReference::parse(&format!("oci-layout.invalid/layout@{}", record.manifest_digest)))
            .map_err(|e| EngineError::Invalid(format!("{text}: {e}")))?;
        record.reference = reference.to_string();
        let key = ImageName::of(&reference);
        root.db
            .put_image(&key, &record)
            .map_err(|source| EngineError::Store { action: "writing the image store", source: Box::new(source) })?;
        Ok(reference)
    }

    /// Loads every image of the archive at `input` (docker-archive or OCI) and names them.
    pub fn load(&self, input: &Path) -> Result<Vec<Loaded>, EngineError> {
        let root = self.root();
        let _building = root.building();
        let loaded = gb_export::load_archive(&self.export_context(), input)
            .map_err(|source| EngineError::Load { input: input.to_owned(), source: Box::new(source) })?;
        let mut images = Vec::with_capacity(loaded.len());
        for (names, record) in loaded {
            let mut stored = Vec::with_capacity(names.len());
            for name in names {
                let key = ImageName::parse(&name).map_err(|e| EngineError::Invalid(format!("{name}: {e}")))?;
                let mut named = record.clone();
                named.reference = key.to_string();
                root.db.put_image(&key, &named).map_err(|source| EngineError::Store {
                    action: "writing the image store",
                    source: Box::new(source),
                })?;
                stored.push(key);
            }
            images.push(Loaded { names: stored, id: record.config_digest });
        }
        Ok(images)
    }
}

//! Several platforms in one build (`--platform linux/amd64,linux/arm64`): each platform's graph
//! is solved and its image assembled, then the images go out together as one OCI image index,
//! as BuildKit exports a multi-platform result (an OCI layout holding the index, a push of each
//! image and of the index under the names, or each platform's files in a directory of its own).

use std::path::PathBuf;
use std::sync::Arc;

use gb_events::EventSink;
use gb_export::Compression;
use gb_ir::{Definition, ImageReference, Platform, Sha256Digest};
use gb_registry::{Registry, RegistryConfig};
use gb_solver::{SolveOptions, Solver};

use crate::build::{Annotations, ImageDigests};
use crate::provenance::Provenance;
use crate::{Engine, EngineError};

/// The OCI image index media type, under which the index is pushed.
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One platform's graph.
pub struct PlatformBuild {
    /// The platform it builds for.
    pub platform: Platform,
    /// Its graph (the front end lowered for this platform).
    pub definition: Definition,
    /// `--annotation`s of its manifest.
    pub annotations: Annotations,
}

/// Where a multi-platform result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexExport {
    /// An OCI layout (a directory, or a tar with `tar`) whose `index.json` names the index.
    Oci {
        /// Where.
        dest: PathBuf,
        /// A tar rather than a directory.
        tar: bool,
    },
    /// Each platform's root file system in `DIR/os_arch[_variant]`, as BuildKit's local exporter
    /// splits a multi-platform result.
    Local(PathBuf),
    /// Each image pushed by digest, then the index under each of these names.
    Push(Vec<String>),
}

/// A multi-platform build.
pub struct PlatformsRequest {
    /// One graph per platform, in the order the index lists them.
    pub builds: Vec<PlatformBuild>,
    /// How to solve (its `puller` is set by the engine).
    pub solve: SolveOptions,
    /// Where the result goes.
    pub exports: Vec<IndexExport>,
    /// The build's names (normalized), which an OCI layout carries.
    pub names: Vec<String>,
    /// How to reach registries (lazy base pulls, pushes).
    pub registry: RegistryConfig,
    /// `SOURCE_DATE_EPOCH`: the images' and their new history entries' time.
    pub source_date_epoch: Option<i64>,
    /// The outputs' `source-date-epoch` and `rewrite-timestamp` (one index, so one setting).
    pub export_epoch: crate::ExportEpoch,
    /// What its record says of the front end's options ([`crate::records`]).
    pub info: crate::BuildInfo,
    /// How many build records the root keeps.
    pub keep_records: usize,
    /// Attach SLSA provenance to each image (`--provenance`).
    pub provenance: Option<Provenance>,
}

/// What a multi-platform build made.
pub struct PlatformsOutcome {
    /// The index's digest.
    pub index: Sha256Digest,
    /// Each platform's image.
    pub images: Vec<(Platform, ImageDigests)>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// The names the index was pushed under (familiar).
    pub pushed: Vec<String>,
    /// The build's record id (`builds show ID`), unless recording is off.
    pub record: Option<String>,
}

impl Engine {
    /// Builds every platform's graph, assembles each image and stores their index, then
    /// exports it. Garbage collection waits until it is done.
    pub async fn build_platforms(
        &self,
        request: PlatformsRequest,
        events: Arc<dyn EventSink>,
    ) -> Result<PlatformsOutcome, EngineError> {
        let started = std::time::SystemTime::now();
        let recorder = Arc::new(crate::records::Recorder::new(events));
        let graphs = request
            .builds
            .iter()
            .map(|build| crate::RecordedGraph {
                platform: Some(build.platform.to_string()),
                definition: build.definition.clone(),
            })
            .collect();
        let (info, keep) = (request.info.clone(), request.keep_records);
        let mut outcome = self.build_platforms_unrecorded(request, recorder.clone()).await;
        let image = outcome
            .as_ref()
            .ok()
            .map(|o| crate::RecordedImage { id: o.index.to_string(), manifest: o.index.to_string() });
        let ended = crate::records::Ended { started, graphs, info, keep, image, sources: Default::default() };
        let record = self.record(&recorder, ended, &outcome);
        if let Ok(outcome) = &mut outcome {
            outcome.warnings.extend(crate::records::unrecorded());
            outcome.record = record;
        }
        outcome
    }

    async fn build_platforms_unrecorded(
        &self,
        request: PlatformsRequest,
        events: Arc<dyn EventSink>,
    ) -> Result<PlatformsOutcome, EngineError> {
        let root = self.root().clone();
        let _building = root.building_async().await;
        let PlatformsRequest {
            builds,
            mut solve,
            exports,
            names,
            registry,
            source_date_epoch,
            export_epoch,
            provenance,
            info: _,
            keep_records: _,
        } = request;
        // As a single-platform build's exports do (`Engine::build`).
        let config_epoch = export_epoch.source_date_epoch.flatten().or(source_date_epoch);
        let files_epoch = export_epoch.source_date_epoch.unwrap_or(source_date_epoch);
        solve.puller = Some(Arc::new(crate::RegistryPuller::new(root.clone(), registry.clone())?));
        let mut warnings = Vec::new();
        let mut built = Vec::new();
        let mut entries = Vec::new();
        let mut statements = Vec::new();
        for build in &builds {
            let started = now_unix();
            let result = Solver::new(root.clone()).solve(&build.definition, &solve, events.clone()).await?;
            self.ensure_base_image(&build.definition, &registry).await?;
            let image = self.assemble(
                &build.definition,
                &result,
                Compression::Gzip,
                (config_epoch, files_epoch.filter(|_| export_epoch.rewrite_timestamp)),
                &build.annotations,
                &mut warnings,
            )?;
            entries.push(gb_export::IndexEntry::image(image.manifest_digest));
            if let Some(provenance) = &provenance {
                let statement = crate::provenance::statement(
                    provenance,
                    &crate::provenance::Built {
                        definition: &build.definition,
                        platform: &build.platform,
                        manifest: image.manifest_digest,
                        names: &names,
                        started,
                        finished: now_unix(),
                    },
                );
                let attestation = gb_export::store_attestation_manifest(
                    &self.export_context(),
                    &image.manifest_digest,
                    std::slice::from_ref(&statement),
                )
                .map_err(|e| EngineError::Assemble(Box::new(e)))?;
                entries.push(attestation);
                statements.push(statement);
            }
            built.push((build.platform.clone(), result, image));
        }
        let (index, _) = gb_export::store_image_index(&self.export_context(), &entries)
            .map_err(|e| EngineError::Assemble(Box::new(e)))?;

        let mut pushed = Vec::new();
        for export in exports {
            match export {
                IndexExport::Oci { dest, tar } => {
                    gb_export::write_oci_index_layout(&self.export_context(), &index, &names, &dest, tar)
                        .map_err(|source| EngineError::Archive { dest: dest.clone(), source: Box::new(source) })?;
                }
                IndexExport::Local(dir) => {
                    // One platform's files go to the directory itself, as BuildKit's local
                    // exporter writes a single-platform result; its provenance beside them.
                    let split = built.len() > 1;
                    for (i, (platform, result, _)) in built.iter().enumerate() {
                        let dest = if split { dir.join(platform_dir(platform)) } else { dir.clone() };
                        self.export_local(result, &dest, files_epoch)?;
                        if let Some(statement) = statements.get(i) {
                            write_json(&dest.join("provenance.json"), statement)?;
                        }
                    }
                }
                IndexExport::Push(targets) => {
                    for name in targets {
                        pushed.push(self.push_index(&entries, &index, &name, &registry).await?);
                    }
                }
            }
        }
        let images = built
            .into_iter()
            .map(|(platform, _, image)| {
                let digests = ImageDigests {
                    config: image.config_digest,
                    manifest: image.manifest_digest,
                    manifest_size: image.manifest_size,
                };
                (platform, digests)
            })
            .collect();
        Ok(PlatformsOutcome { index, images, warnings, pushed, record: None })
    }

    /// Pushes each manifest of the index (images and attestations) by digest to `name`'s
    /// repository, then the index under `name`.
    async fn push_index(
        &self,
        entries: &[gb_export::IndexEntry],
        index: &Sha256Digest,
        name: &str,
        registry: &RegistryConfig,
    ) -> Result<String, EngineError> {
        let target = ImageReference::parse(name).map_err(|e| EngineError::Invalid(format!("{name}: {e}")))?;
        let client = Registry::new(registry.clone())?;
        for entry in entries {
            let by_digest = ImageReference { tag: None, digest: Some(entry.manifest), ..target.clone() };
            let record = manifest_record(&self.export_context(), &by_digest, &entry.manifest)?;
            client.push(&self.export_context(), &record, &by_digest).await?;
        }
        let bytes = self
            .root()
            .content
            .read(index)
            .map_err(|source| EngineError::Store { action: "reading the image index", source: Box::new(source) })?;
        client.push_manifest_bytes(&target, bytes, OCI_INDEX).await?;
        Ok(target.familiar())
    }
}

/// A record of the stored manifest `manifest`, for a push: its config read from the store (the
/// push reads the blobs the manifest names; the record's layers are not needed).
fn manifest_record(
    ctx: &gb_export::ExportContext<'_>,
    reference: &ImageReference,
    manifest: &Sha256Digest,
) -> Result<gb_cache::ImageRecord, EngineError> {
    let store = |source| EngineError::Store { action: "reading a manifest to push", source: Box::new(source) };
    let bytes = ctx.content.read(manifest).map_err(store)?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| EngineError::Invalid(format!("manifest {manifest}: {e}")))?;
    let config_digest: Sha256Digest = parsed["config"]["digest"]
        .as_str()
        .and_then(|digest| digest.parse().ok())
        .ok_or_else(|| EngineError::Invalid(format!("manifest {manifest} names no sha256 config")))?;
    let config = serde_json::from_slice(&ctx.content.read(&config_digest).map_err(store)?)
        .map_err(|e| EngineError::Invalid(format!("config {config_digest}: {e}")))?;
    Ok(gb_cache::ImageRecord {
        reference: reference.to_string(),
        manifest_digest: *manifest,
        config_digest,
        config,
        layers: Vec::new(),
        diff_ids: Vec::new(),
        created_unix: 0,
    })
}

/// Writes `value` as JSON to `path`.
fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<(), EngineError> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    std::fs::write(path, text)
        .map_err(|source| EngineError::Io { action: format!("writing {}", path.display()), source })
}

/// Seconds since the Unix epoch.
fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The directory of a platform's files in a multi-platform local export: `linux_arm64`,
/// `linux_arm_v7`, as BuildKit names them.
pub fn platform_dir(platform: &Platform) -> String {
    let mut name = format!("{}_{}", platform.os, platform.architecture);
    if let Some(variant) = &platform.variant {
        name.push('_');
        name.push_str(variant);
    }
    name
}

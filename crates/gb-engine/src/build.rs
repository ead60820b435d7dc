//! A build on the engine: import shared cache, solve, export shared cache, then each export
//! (files, archives, the image store, pushes), as a sequence of named phases.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use gb_events::EventSink;
use gb_export::Compression;
use gb_ir::{Definition, ImageReference};
use gb_registry::{PushReport, Registry, RegistryConfig};
use gb_remote_cache::{CacheDocument, CacheLocation, CacheMode};
use gb_solver::{SolveOptions, SolveResult, Solver};

use crate::error::EngineError;
use crate::outputs::{image_identity, layers_identity, mark_output, output_is_current};
use crate::{Engine, export_context};

/// Where a result goes.
pub enum Export {
    /// The root file system into a directory.
    Local(PathBuf),
    /// The root file system as a tar.
    Tar(TarDestination),
    /// An OCI image layout, as a tar (`tar`) or a directory, with the names it carries.
    Oci {
        /// Where.
        dest: PathBuf,
        /// A tar file rather than a directory.
        tar: bool,
        /// Layer compression.
        compression: Compression,
        /// The names (normalized); none means the build's.
        names: Vec<String>,
    },
    /// A docker-archive (what `docker load` reads).
    Docker {
        /// Where.
        dest: PathBuf,
        /// Layer compression.
        compression: Compression,
        /// The names (normalized); none means the build's.
        names: Vec<String>,
    },
    /// The local image store under these (normalized) names, pushed to their registries when
    /// `push`.
    Image {
        /// The names.
        names: Vec<String>,
        /// Layer compression.
        compression: Compression,
        /// Push each name after storing it.
        push: bool,
    },
}

/// How an image was made: its layers' compression, its epoch, and the epoch its new layers were
/// clamped to.
type ImageHow = (Compression, Option<i64>, Option<i64>);

/// An export and its exporter's SOURCE_DATE_EPOCH options.
pub struct ExportTo {
    /// Where.
    pub export: Export,
    /// Its `source-date-epoch` and `rewrite-timestamp`.
    pub epoch: ExportEpoch,
}

impl From<Export> for ExportTo {
    fn from(export: Export) -> Self {
        Self { export, epoch: ExportEpoch::default() }
    }
}

/// SOURCE_DATE_EPOCH as one export applies it: BuildKit's exporter options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportEpoch {
    /// `source-date-epoch=SECONDS` replaces the build's epoch; empty (`Some(None)`) drops it.
    pub source_date_epoch: Option<Option<i64>>,
    /// `rewrite-timestamp=true`: the image's new layers have their file times clamped to the
    /// epoch (and say so); otherwise they keep them.
    pub rewrite_timestamp: bool,
}

/// Where a root file system tar goes.
pub enum TarDestination {
    /// A file, written whole or not at all (not rewritten when it holds the result already).
    File(PathBuf),
    /// A stream (the client's standard output).
    Stream(Box<dyn Write + Send>),
}

/// What to build and where the result goes.
pub struct BuildRequest {
    /// The graph.
    pub definition: Definition,
    /// How to solve it (its `puller` is set by the engine).
    pub solve: SolveOptions,
    /// Where the result goes, each with its exporter's SOURCE_DATE_EPOCH options.
    pub exports: Vec<ExportTo>,
    /// The build's names (normalized), which archives carry when they name none themselves.
    pub names: Vec<String>,
    /// Cache to import before solving.
    pub cache_from: Vec<(CacheLocation, CacheMode)>,
    /// Cache to export after solving.
    pub cache_to: Vec<(CacheLocation, CacheMode)>,
    /// How to reach registries (lazy base pulls, registry caches, pushes).
    pub registry: RegistryConfig,
    /// `SOURCE_DATE_EPOCH` (the front end's): the image's and its new history entries' time,
    /// and every file's time in local and tar exports, as BuildKit's exporters apply it, unless
    /// an export's own [`ExportEpoch`] replaces it.
    pub source_date_epoch: Option<i64>,
    /// Assemble the image even when no export needs it, so the outcome names it (`-q`,
    /// `--iidfile`, `--metadata-file`).
    pub describe_image: bool,
    /// `--annotation`s of the image.
    pub annotations: Annotations,
    /// What its record says of the front end's options ([`crate::records`]).
    pub info: crate::BuildInfo,
    /// How many build records the root keeps.
    pub keep_records: usize,
    /// Explain each step that runs, in its `op_started` event, against the last recorded build
    /// of the same Dockerfile and target (`build --explain`).
    pub explain: bool,
}

/// OCI annotations a build adds (`docker buildx build --annotation`), by where they go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// On the image manifest itself (part of its digest): `KEY=VALUE` or `manifest:KEY=VALUE`.
    pub manifest: BTreeMap<String, String>,
    /// On the manifest's descriptor in an OCI layout's `index.json`:
    /// `manifest-descriptor:KEY=VALUE`.
    pub manifest_descriptor: BTreeMap<String, String>,
}

/// The image a build assembled, as `--iidfile` and `--metadata-file` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageDigests {
    /// The config's digest: the image id.
    pub config: gb_ir::Sha256Digest,
    /// The manifest's digest.
    pub manifest: gb_ir::Sha256Digest,
    /// The manifest's size in bytes.
    pub manifest_size: u64,
}

/// What a build did.
pub struct BuildOutcome {
    /// The solve's result.
    pub solve: SolveResult,
    /// Warnings for the user (a cache import's skipped records, an image assembled without
    /// its base's history).
    pub warnings: Vec<String>,
    /// Each pushed name (familiar) and what its push did.
    pub pushed: Vec<(String, PushReport)>,
    /// The image, when one was assembled (an image export, or `describe_image`).
    pub image: Option<ImageDigests>,
    /// The build's record id (`builds show ID`), unless recording is off.
    pub record: Option<String>,
    /// What the REAPI cache did, by its endpoint, when the build used one.
    pub remote: Option<(String, gb_reapi::ReapiReport)>,
}

impl Engine {
    /// Runs a build. Garbage collection waits until it is done, so no layer it makes is
    /// removed before a result or an image names it.
    pub async fn build(&self, request: BuildRequest, events: Arc<dyn EventSink>) -> Result<BuildOutcome, EngineError> {
        let started = std::time::SystemTime::now();
        let earlier = match request.explain && request.keep_records > 0 {
            true => crate::records::newest_like(&self.root().builds_dir(), &request.info)?,
            false => None,
        };
        let recorder = Arc::new(match earlier {
            Some(earlier) => crate::records::Recorder::explaining(events, earlier, &request.definition, &request.info),
            None => crate::records::Recorder::new(events),
        });
        let mut request = request;
        request.solve.on_sources = recorder.sources_hook();
        let graphs = vec![crate::RecordedGraph { platform: None, definition: request.definition.clone() }];
        let (info, keep) = (request.info.clone(), request.keep_records);
        let mut outcome = self.build_unrecorded(request, recorder.clone()).await;
        let image = outcome
            .as_ref()
            .ok()
            .and_then(|o| o.image)
            .map(|image| crate::RecordedImage { id: image.config.to_string(), manifest: image.manifest.to_string() });
        let sources = outcome.as_ref().map(|o| o.solve.sources.clone()).unwrap_or_default();
        let ended = crate::records::Ended { started, graphs, info, keep, image, sources };
        let record = self.record(&recorder, ended, &outcome);
        if let Ok(outcome) = &mut outcome {
            outcome.warnings.extend(crate::records::unrecorded());
            outcome.record = record;
        }
        outcome
    }

    async fn build_unrecorded(
        &self,
        request: BuildRequest,
        events: Arc<dyn EventSink>,
    ) -> Result<BuildOutcome, EngineError> {
        let root = self.root().clone();
        let _building = root.building_async().await;
        let BuildRequest {
            definition,
            mut solve,
            exports,
            names,
            cache_from,
            cache_to,
            registry,
            source_date_epoch,
            describe_image,
            annotations,
            info: _,
            keep_records: _,
            explain: _,
        } = request;
        let mut warnings = Vec::new();
        // Base images not in the store are pulled only when an op that must run reads them.
        solve.puller = Some(Arc::new(crate::RegistryPuller::new(root.clone(), registry.clone())?));
        let registry_client = registry_client(&registry, &cache_from, &cache_to)?.map(Arc::new);

        let reapi = self.reapi_cache(&cache_from, &cache_to);
        let mut remotes = open_caches(self, registry_client.as_ref(), &cache_from, &mut warnings).await?;
        if let Some(cache) = reapi.as_ref().filter(|cache| cache.from) {
            remotes.push(cache.cache.clone());
        }
        solve.remote = match remotes.len() {
            0 => None,
            1 => remotes.pop(),
            _ => Some(Arc::new(crate::remote::Caches(remotes))),
        };
        let solved = Solver::new(root.clone()).solve(&definition, &solve, events).await;
        if let Some(cache) = &reapi {
            // Its failures so far are warnings even when the solve failed.
            warnings.extend(cache.cache.take_warnings());
        }
        let result = solved?;
        export_cache(self, registry_client.as_deref(), &cache_to, &result).await?;
        if let Some(cache) = reapi.as_ref().filter(|cache| cache.to.is_some()) {
            let keys = cache_keys(self, cache.to.unwrap_or_default(), &result);
            cache.cache.store(&keys).await.map_err(|e| EngineError::Invalid(e.to_string()))?;
            warnings.extend(cache.cache.take_warnings());
        }
        let remote_report = reapi.as_ref().map(|cache| (cache.endpoint.clone(), cache.cache.report()));

        let mut pushed = Vec::new();
        let makes_image = exports.iter().any(|to| !matches!(to.export, Export::Local(_) | Export::Tar(_)));
        if makes_image || describe_image {
            self.ensure_base_image(&definition, &registry).await?;
        }
        // Each image made, by how: exports that make it alike share it; the last is the build's.
        let mut images: Vec<(ImageHow, gb_export::BuiltImage)> = Vec::new();
        let mut built =
            |compression, (epoch, rewrite): (Option<i64>, Option<i64>)| -> Result<gb_export::BuiltImage, EngineError> {
                let how = (compression, epoch, rewrite);
                if let Some(position) = images.iter().position(|(made_how, _)| *made_how == how) {
                    let made = images.remove(position);
                    images.push(made.clone());
                    return Ok(made.1);
                }
                let made =
                    self.assemble(&definition, &result, compression, (epoch, rewrite), &annotations, &mut warnings)?;
                images.push((how, made.clone()));
                Ok(made)
            };
        for ExportTo { export, epoch: options } in exports {
            // The exporter's epoch (its own, else the front end's) dates exported files and
            // clamps rewritten layers; the image's times are the front end's unless the
            // exporter names an epoch of its own (BuildKit's `patchImageConfig`).
            let epoch = options.source_date_epoch.unwrap_or(source_date_epoch);
            let config_epoch = options.source_date_epoch.flatten().or(source_date_epoch);
            let image_epoch = (config_epoch, epoch.filter(|_| options.rewrite_timestamp));
            match export {
                Export::Local(dir) => self.export_local(&result, &dir, epoch)?,
                Export::Tar(destination) => self.export_tar(&result, destination, epoch)?,
                Export::Oci { dest, tar, compression, names: own } => {
                    let image = built(compression, image_epoch)?;
                    let refs = if own.is_empty() { names.clone() } else { own };
                    self.export_oci(&image, &refs, &annotations.manifest_descriptor, &dest, tar)?;
                }
                Export::Docker { dest, compression, names: own } => {
                    let image = built(compression, image_epoch)?;
                    let refs = if own.is_empty() { names.clone() } else { own };
                    self.export_docker(&image, &refs, &dest)?;
                }
                Export::Image { names: own, compression, push } => {
                    let image = built(compression, image_epoch)?;
                    for name in own {
                        self.store_image(&image, &name)?;
                        if push {
                            pushed.push(crate::push(self, &name, &registry).await?);
                        }
                    }
                }
            }
        }
        if describe_image && !makes_image {
            built(Compression::Gzip, (source_date_epoch, None))?;
        }
        let image = images.pop().map(|(_, image)| ImageDigests {
            config: image.config_digest,
            manifest: image.manifest_digest,
            manifest_size: image.manifest_size,
        });
        Ok(BuildOutcome { solve: result, warnings, pushed, image, record: None, remote: remote_report })
    }

    /// The result's files into `dir`, each with the time `mtime` when given (SOURCE_DATE_EPOCH).
    pub(crate) fn export_local(
        &self,
        result: &SolveResult,
        dir: &std::path::Path,
        mtime: Option<i64>,
    ) -> Result<(), EngineError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| EngineError::Io { action: format!("creating {}", dir.display()), source })?;
        self.root()
            .snapshots
            .export_dir_with(&result.output, dir, mtime)
            .map_err(|source| EngineError::Files { where_to: dir.display().to_string(), source: Box::new(source) })
    }

    /// The result's files as a tar, each with the time `mtime` when given (SOURCE_DATE_EPOCH).
    fn export_tar(
        &self,
        result: &SolveResult,
        destination: TarDestination,
        mtime: Option<i64>,
    ) -> Result<(), EngineError> {
        let snapshots = &self.root().snapshots;
        match destination {
            TarDestination::Stream(mut out) => {
                let stdout = || "standard output".to_owned();
                snapshots
                    .export_tar_with(&result.output, &mut out, mtime)
                    .map_err(|source| EngineError::Files { where_to: stdout(), source: Box::new(source) })?;
                out.flush().map_err(|source| EngineError::Io { action: stdout(), source })
            }
            TarDestination::File(file) => {
                let epoch = mtime.map(|t| format!("@{t}")).unwrap_or_default();
                write_unless_current(&file, &format!("{}{epoch}", layers_identity(&result.output)), || {
                    // As the image archives: a reader never sees half a tar, a device is written
                    // in place rather than replaced, a killed export leaves no temporary file.
                    let archive = |source| EngineError::Archive { dest: file.clone(), source: Box::new(source) };
                    let mut out = gb_export::OutputFile::create(&file).map_err(archive)?;
                    snapshots.export_tar_with(&result.output, &mut out, mtime).map_err(|source| {
                        EngineError::Files { where_to: file.display().to_string(), source: Box::new(source) }
                    })?;
                    out.persist().map_err(archive)
                })
            }
        }
    }

    /// An OCI layout, as a tar (not rewritten when it holds the image already) or a directory.
    fn export_oci(
        &self,
        image: &gb_export::BuiltImage,
        names: &[String],
        descriptor_annotations: &BTreeMap<String, String>,
        dest: &std::path::Path,
        tar: bool,
    ) -> Result<(), EngineError> {
        let images = [gb_export::ImageRef {
            manifest_digest: image.manifest_digest,
            names,
            descriptor_annotations: descriptor_annotations.clone(),
        }];
        let write = || {
            gb_export::write_oci_layout(&export_context(self.root()), &images, dest, tar)
                .map_err(|source| EngineError::Archive { dest: dest.to_owned(), source: Box::new(source) })
        };
        // The descriptor's annotations are in the file but not in the image: they name it too.
        let identity = format!("{} {descriptor_annotations:?}", image_identity(image, names));
        if tar { write_unless_current(dest, &identity, write) } else { write() }
    }

    /// A docker-archive (not rewritten when it holds the image already).
    fn export_docker(
        &self,
        image: &gb_export::BuiltImage,
        names: &[String],
        dest: &std::path::Path,
    ) -> Result<(), EngineError> {
        let images = [gb_export::ImageRef {
            manifest_digest: image.manifest_digest,
            names,
            descriptor_annotations: BTreeMap::new(),
        }];
        write_unless_current(dest, &image_identity(image, names), || {
            gb_export::write_docker_archive(&export_context(self.root()), &images, dest)
                .map_err(|source| EngineError::Archive { dest: dest.to_owned(), source: Box::new(source) })
        })
    }

    /// Names the image `name` in the store; a no-op rebuild, which names the image the name has
    /// already, writes nothing.
    fn store_image(&self, image: &gb_export::BuiltImage, name: &str) -> Result<(), EngineError> {
        let db = &self.root().db;
        let name_text = name;
        let name = gb_cache::ImageName::parse(name).map_err(|e| EngineError::Invalid(format!("{name}: {e}")))?;
        let current = db
            .image(&name)
            .map_err(|source| EngineError::Store { action: "reading the image store", source: Box::new(source) })?;
        if current.is_some_and(|record| record.manifest_digest == image.manifest_digest) {
            return Ok(());
        }
        let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        db.put_image(&name, &image.record(name_text, created))
            .map_err(|source| EngineError::Store { action: "writing the image store", source: Box::new(source) })
    }

    /// Assembles the image of a solve result (config, manifest, layer blobs) in the content store.
    pub(crate) fn assemble(
        &self,
        definition: &Definition,
        result: &SolveResult,
        compression: Compression,
        (source_date_epoch, rewrite_timestamp): (Option<i64>, Option<i64>),
        annotations: &Annotations,
        warnings: &mut Vec<String>,
    ) -> Result<gb_export::BuiltImage, EngineError> {
        let root = self.root();
        let spec = definition.image.clone().unwrap_or_else(|| gb_ir::ImageSpec {
            base: None,
            base_config_applied: true,
            platform: gb_ir::Platform::host(),
            config: gb_ir::ImageConfig::default(),
            history: Vec::new(),
        });
        let base = match &spec.base {
            Some(reference) => root
                .db
                .image(
                    &gb_cache::ImageName::parse(reference)
                        .map_err(|e| EngineError::Invalid(format!("{reference}: {e}")))?,
                )
                .map_err(|source| EngineError::Store { action: "reading the image store", source: Box::new(source) })?,
            None => None,
        };
        // The image is as old as its content: a no-op rebuild gives the same image (and digest).
        let built_at = match result.output_key {
            Some(key) => root.db.result(&key).ok().flatten().and_then(|r| i64::try_from(r.created_unix).ok()),
            None => None,
        };
        let options = gb_export::AssembleOptions {
            compression,
            source_date_epoch,
            rewrite_timestamp,
            built_at,
            annotations: annotations.manifest.clone(),
        };
        let (image, assembled_warnings) =
            gb_export::assemble_image_with(&export_context(root), &spec, &result.output, base.as_ref(), &options)
                .map_err(|e| EngineError::Assemble(Box::new(e)))?;
        warnings.extend(assembled_warnings);
        Ok(image)
    }
}

/// Writes the output file `dest` with `write` unless it already holds `identity`, and records
/// that it does.
fn write_unless_current(
    dest: &std::path::Path,
    identity: &str,
    write: impl FnOnce() -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    if output_is_current(dest, identity) {
        return Ok(());
    }
    write()?;
    mark_output(dest, identity);
    Ok(())
}

/// A registry client when a cache location needs one.
fn registry_client(
    config: &RegistryConfig,
    cache_from: &[(CacheLocation, CacheMode)],
    cache_to: &[(CacheLocation, CacheMode)],
) -> Result<Option<Registry>, EngineError> {
    if cache_from.iter().chain(cache_to).any(|(l, _)| matches!(l, CacheLocation::Registry(_))) {
        Ok(Some(Registry::new(config.clone())?))
    } else {
        Ok(None)
    }
}

/// The `--cache-from` documents (registry tags, OCI layouts), read now; their records are
/// brought in as the solve asks for them. A location with no cache is a warning, as in BuildKit.
async fn open_caches(
    engine: &Engine,
    registry: Option<&Arc<Registry>>,
    cache_from: &[(CacheLocation, CacheMode)],
    warnings: &mut Vec<String>,
) -> Result<Vec<Arc<dyn gb_solver::RemoteCache>>, EngineError> {
    let mut caches: Vec<Arc<dyn gb_solver::RemoteCache>> = Vec::new();
    for (location, _) in cache_from {
        if matches!(location, CacheLocation::Reapi(_)) {
            continue;
        }
        let opened = CacheDocument::open(&engine.export_context(), registry.map(Arc::as_ref), location).await;
        let cache_share = |source| EngineError::CacheShare {
            flag: "--cache-from",
            location: location.to_string(),
            source: Box::new(source),
        };
        match opened.map_err(cache_share)? {
            Some(document) => caches.push(Arc::new(crate::remote::DocumentCache {
                root: engine.root().clone(),
                registry: registry.cloned(),
                document,
                name: location.to_string(),
            })),
            None => warnings.push(format!("--cache-from {location}: no cache found at {location}: nothing imported")),
        }
    }
    Ok(caches)
}

/// The results a cache export of `mode` includes: min, the final result only (when it is
/// stored); max, every step's result.
fn cache_keys(engine: &Engine, mode: CacheMode, result: &SolveResult) -> Vec<gb_cache::CacheKey> {
    let stored = |key| engine.root().db.result(key).ok().flatten().is_some();
    match (mode, result.output_key) {
        (CacheMode::Min, Some(key)) if stored(&key) => vec![key],
        _ => result.result_keys.clone(),
    }
}

/// A build's REAPI cache: read (`--cache-from`), written (`--cache-to`, with its mode) or both.
pub(crate) struct ReapiUse {
    pub(crate) cache: Arc<gb_reapi::ReapiCache>,
    pub(crate) endpoint: String,
    pub(crate) from: bool,
    pub(crate) to: Option<CacheMode>,
}

impl Engine {
    /// The REAPI cache the build's cache options name (the first endpoint named; one cache per
    /// build).
    fn reapi_cache(
        &self,
        cache_from: &[(CacheLocation, CacheMode)],
        cache_to: &[(CacheLocation, CacheMode)],
    ) -> Option<ReapiUse> {
        let reapi = |options: &[(CacheLocation, CacheMode)]| {
            options.iter().find_map(|(location, mode)| match location {
                CacheLocation::Reapi(reapi) => Some((reapi.clone(), *mode)),
                _ => None,
            })
        };
        let (from, to) = (reapi(cache_from), reapi(cache_to));
        let (location, _) = from.clone().or_else(|| to.clone())?;
        let endpoint = gb_reapi::Endpoint {
            url: location.endpoint.clone(),
            instance: location.instance.clone(),
            token: location.token.clone(),
            ca_cert: location.ca_cert.clone(),
            client_cert: location.client_cert.clone(),
            client_key: location.client_key.clone(),
        };
        let fatal = !location.ignore_error || to.as_ref().is_some_and(|(to, _)| !to.ignore_error);
        let mut cache = gb_reapi::ReapiCache::new(endpoint, self.root().clone(), fatal);
        if to.as_ref().is_some_and(|(_, mode)| *mode == CacheMode::Max) {
            cache = cache.storing_every_step();
        }
        Some(ReapiUse {
            cache: Arc::new(cache),
            endpoint: location.endpoint,
            from: from.is_some(),
            to: to.map(|(_, mode)| mode),
        })
    }
}

async fn export_cache(
    engine: &Engine,
    registry: Option<&Registry>,
    cache_to: &[(CacheLocation, CacheMode)],
    result: &SolveResult,
) -> Result<(), EngineError> {
    for (location, mode) in cache_to {
        if matches!(location, CacheLocation::Reapi(_)) {
            continue;
        }
        let keys = cache_keys(engine, *mode, result);
        gb_remote_cache::export_cache(&engine.export_context(), registry, &keys, location).await.map_err(|source| {
            EngineError::CacheShare { flag: "--cache-to", location: location.to_string(), source: Box::new(source) }
        })?;
    }
    Ok(())
}

/// Normalizes the names an image is given (`app:1` → `docker.io/library/app:1`); a name
/// pinning a digest is refused, as `tag` refuses it.
pub fn normalized(names: &[String]) -> Result<Vec<String>, EngineError> {
    names
        .iter()
        .map(|n| {
            ImageReference::parse_new_name(n)
                .map(|r| r.to_string())
                .map_err(|e| EngineError::Invalid(format!("image name {n}: {e}")))
        })
        .collect()
}

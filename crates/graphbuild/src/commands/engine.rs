//! What `build` and `solve` share: opening the state root, parsing `-o` and `--secret`,
//! running the solver on a tokio runtime with Ctrl-C cancelling, and exporting the result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gb_export::Compression;
use gb_ir::{Definition, ImageReference};
use gb_solver::{Entitlement, SolveOptions, Solver, StateRoot};

use crate::cli::RunOptions;
use crate::exit::Failure;

/// Where a result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// The root file system into a directory.
    Local(PathBuf),
    /// The root file system as a tar file (`-` for standard output).
    Tar(PathBuf),
    /// An OCI image layout, as a tar (default) or a directory (`tar=false`).
    Oci { dest: PathBuf, tar: bool, compression: Compression, names: Vec<String> },
    /// A docker-archive (what `docker load` reads).
    Docker { dest: PathBuf, compression: Compression, names: Vec<String> },
    /// The local image store, under these names, and their registries when `push`.
    Image { names: Vec<String>, compression: Compression, push: bool },
}

/// Parses `-o type=local,dest=DIR`, `type=tar,dest=FILE`, `type=oci,dest=FILE[,tar=false]`,
/// `type=docker,dest=FILE`, `type=image,name=NAME` (with `compression=gzip|zstd|uncompressed`
/// for images); a bare path means `type=local`.
pub fn parse_outputs(outputs: &[String]) -> Result<Vec<Export>, Failure> {
    outputs
        .iter()
        .map(|spec| {
            let fields: BTreeMap<&str, &str> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
            if fields.is_empty() {
                return Ok(Export::Local(PathBuf::from(spec)));
            }
            let dest = || {
                fields
                    .get("dest")
                    .map(PathBuf::from)
                    .ok_or_else(|| Failure::Input(format!("-o {spec}: dest=PATH is missing")))
            };
            let compression = match fields.get("compression") {
                Some(text) => text.parse::<Compression>().map_err(|_| {
                    Failure::Input(format!("-o {spec}: compression must be gzip, zstd or uncompressed"))
                })?,
                None => Compression::Gzip,
            };
            let names: Vec<String> = fields
                .get("name")
                .map(|n| n.split(';').filter(|n| !n.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default();
            let push = fields.get("push").is_some_and(|p| *p == "true");
            if push && fields.get("type") != Some(&"image") {
                return Err(Failure::Input(format!("-o {spec}: push=true needs type=image")));
            }
            match fields.get("type").copied() {
                Some("local") => Ok(Export::Local(dest()?)),
                Some("tar") => Ok(Export::Tar(dest()?)),
                Some("oci") => {
                    Ok(Export::Oci { dest: dest()?, tar: fields.get("tar") != Some(&"false"), compression, names })
                }
                Some("docker") => Ok(Export::Docker { dest: dest()?, compression, names }),
                Some("image") if names.is_empty() => Err(Failure::Input(format!("-o {spec}: name=NAME is missing"))),
                Some("image") => Ok(Export::Image { names, compression, push }),
                Some(other) => Err(Failure::Input(format!(
                    "-o {spec}: output type {other:?} is not supported (local, tar, oci, docker or image)"
                ))),
                None => Err(Failure::Input(format!("-o {spec}: type=TYPE is missing"))),
            }
        })
        .collect()
}

/// Parses `--secret id=ID,src=PATH` (also `source=`, and `env=` is not supported here).
pub fn parse_secrets(secrets: &[String]) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let mut map = BTreeMap::new();
    for spec in secrets {
        let fields: BTreeMap<&str, &str> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
        let id = fields.get("id").ok_or_else(|| Failure::Input(format!("--secret {spec}: id=ID is missing")))?;
        let src = fields
            .get("src")
            .or_else(|| fields.get("source"))
            .ok_or_else(|| Failure::Input(format!("--secret {spec}: src=PATH is missing")))?;
        if !Path::new(src).is_file() {
            return Err(Failure::Input(format!("--secret {spec}: {src} is not a file")));
        }
        map.insert((*id).to_owned(), PathBuf::from(src));
    }
    Ok(map)
}

/// The entitlements `--allow` grants. Each must be permitted by `entitlements` in
/// `ROOT/config.toml`: the build's command line alone cannot widen what the machine allows, as
/// buildkitd's `insecure-entitlements` rules `docker buildx build --allow`.
pub fn granted_entitlements(root: &Path, allow: &[Entitlement]) -> Result<BTreeSet<Entitlement>, Failure> {
    if allow.is_empty() {
        return Ok(BTreeSet::new());
    }
    let path = root.join("config.toml");
    let permitted = super::registry::config_file(root)?
        .entitlements
        .iter()
        .map(|name| name.parse::<Entitlement>())
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|e| Failure::Input(format!("{}: entitlements: {e}", path.display())))?;
    if let Some(missing) = allow.iter().find(|e| !permitted.contains(e)) {
        let wanted: Vec<String> = permitted
            .iter()
            .chain([missing])
            .map(|e| format!("\"{e}\""))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(Failure::Input(format!(
            "--allow {missing}: {missing} is not permitted on this machine; to permit it, add it to the \
             entitlements in {}: entitlements = [{}]",
            path.display(),
            wanted.join(", ")
        )));
    }
    Ok(allow.iter().copied().collect())
}

/// Opens the state root named by `--root` (or the default).
pub fn open_root(root: Option<&Path>) -> Result<Arc<StateRoot>, Failure> {
    // In the server, every command uses the root it holds open (the command line's root was
    // checked to be that one).
    if let Some(served) = crate::server::served_root() {
        return Ok(served.clone());
    }
    let path = root.map_or_else(StateRoot::default_path, Path::to_path_buf);
    if crate::client::server_is_running(&path) {
        return Err(Failure::Io(format!(
            "a graphbuild server is serving {}: stop it with `graphbuild server stop`, or leave out --no-server",
            path.display()
        )));
    }
    StateRoot::open(&path).map(Arc::new).map_err(|error| Failure::Solve { error: Box::new(error), dockerfile: None })
}

/// Solves a definition and exports its output.
pub fn solve_and_export(
    root: Arc<StateRoot>,
    definition: &Definition,
    run: &RunOptions,
    local_dirs: BTreeMap<String, PathBuf>,
    dockerfile: Option<(String, String)>,
    tags: &[String],
    insecure: &[String],
) -> Result<gb_solver::SolveResult, Failure> {
    // Garbage collection waits until the build's layers are referenced by results and images.
    let _building = root.building();
    let mut exports = parse_outputs(&run.outputs)?;
    let mut names = Vec::new();
    for tag in tags {
        names.push(
            ImageReference::parse_new_name(tag).map_err(|e| Failure::Input(format!("-t {tag}: {e}")))?.to_string(),
        );
    }
    if !names.is_empty() {
        exports.push(Export::Image { names: names.clone(), compression: Compression::Gzip, push: false });
    }
    let secrets = parse_secrets(&run.secrets)?;
    let entitlements = granted_entitlements(root.path(), &run.allow)?;
    let runtime = crate::session::runtime(true).map_err(|e| Failure::Io(format!("starting the async runtime: {e}")))?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut options = SolveOptions {
        no_cache: run.no_cache,
        local_dirs,
        secrets,
        cancel: cancel.clone(),
        entitlements,
        ..SolveOptions::default()
    };
    // Base images not in the store are pulled only when an op that must run reads them.
    let puller: Arc<dyn gb_solver::ImagePuller> =
        Arc::new(super::registry::RegistryPuller::new(root.clone(), insecure)?);
    options.puller = Some(puller);
    if let Some(max) = run.max_parallelism {
        options.max_parallelism = max.max(1);
    }
    let cache_from = run
        .cache_from
        .iter()
        .map(|text| {
            gb_remote_cache::parse_cache_option(text).map_err(|e| Failure::Input(format!("--cache-from {text}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cache_to = run
        .cache_to
        .iter()
        .map(|text| {
            gb_remote_cache::parse_cache_option(text).map_err(|e| Failure::Input(format!("--cache-to {text}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let registry =
        if cache_from.iter().chain(&cache_to).any(|(l, _)| matches!(l, gb_remote_cache::CacheLocation::Registry(_))) {
            let config = super::registry::registry_config(root.path(), insecure)?;
            Some(gb_registry::Registry::new(config).map_err(|e| Failure::Io(e.to_string()))?)
        } else {
            None
        };
    for (location, _) in &cache_from {
        let report = runtime
            .block_on(gb_remote_cache::import_cache(
                &super::archive::export_context(&root),
                registry.as_ref(),
                location,
            ))
            .map_err(|e| cache_failure("--cache-from", location, e))?;
        for warning in &report.warnings {
            crate::session::errln!("warning: --cache-from {location}: {warning}");
        }
    }
    let sink: Arc<dyn gb_events::EventSink> = Arc::from(crate::progress::sink(run.progress));
    let solver = Solver::new(root.clone());
    let result = runtime.block_on(async {
        let on_ctrl_c = {
            let cancel = cancel.clone();
            let interrupted = crate::session::current().interrupted();
            tokio::spawn(async move {
                if let Ok(interrupted) = interrupted {
                    interrupted.await;
                    cancel.cancel();
                }
            })
        };
        let result = solver.solve(definition, &options, sink).await;
        on_ctrl_c.abort();
        result
    });
    let result = result.map_err(|error| Failure::Solve { error: Box::new(error), dockerfile })?;
    for (location, mode) in &cache_to {
        // min: the final result only (when it is stored); max: every step's result.
        let keys: Vec<gb_cache::CacheKey> = match (mode, result.output_key) {
            (gb_remote_cache::CacheMode::Min, Some(key)) if root.db.result(&key).ok().flatten().is_some() => vec![key],
            _ => result.result_keys.clone(),
        };
        runtime
            .block_on(gb_remote_cache::export_cache(
                &super::archive::export_context(&root),
                registry.as_ref(),
                &keys,
                location,
            ))
            .map_err(|e| cache_failure("--cache-to", location, e))?;
    }
    for export in exports {
        match export {
            Export::Local(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| Failure::Io(format!("creating {}: {e}", dir.display())))?;
                root.snapshots
                    .export_dir(&result.output, &dir)
                    .map_err(|e| Failure::Io(format!("exporting to {}: {e}", dir.display())))?;
            }
            Export::Oci { dest, tar, compression, names: own } => {
                let image = image_for(&root, definition, &result, compression)?;
                let refs = normalized(if own.is_empty() { &names } else { &own })?;
                let images = [gb_export::ImageRef { manifest_digest: image.manifest_digest, names: &refs }];
                if !(tar && output_is_current(&dest, &image_identity(&image, &refs))) {
                    gb_export::write_oci_layout(&super::archive::export_context(&root), &images, &dest, tar)
                        .map_err(|e| super::archive::write_failure(&dest, &e))?;
                    if tar {
                        mark_output(&dest, &image_identity(&image, &refs));
                    }
                }
            }
            Export::Docker { dest, compression, names: own } => {
                let image = image_for(&root, definition, &result, compression)?;
                let refs = normalized(if own.is_empty() { &names } else { &own })?;
                let images = [gb_export::ImageRef { manifest_digest: image.manifest_digest, names: &refs }];
                if !output_is_current(&dest, &image_identity(&image, &refs)) {
                    gb_export::write_docker_archive(&super::archive::export_context(&root), &images, &dest)
                        .map_err(|e| super::archive::write_failure(&dest, &e))?;
                    mark_output(&dest, &image_identity(&image, &refs));
                }
            }
            Export::Image { names: own, compression, push } => {
                let image = image_for(&root, definition, &result, compression)?;
                let created =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                for name in normalized(&own)? {
                    // A no-op rebuild names the image the name has already: nothing is written.
                    let current = root.db.image(&name).ok().flatten();
                    if current.is_none_or(|record| record.manifest_digest != image.manifest_digest) {
                        root.db
                            .put_image(&name, &image.record(&name, created))
                            .map_err(|e| Failure::Io(format!("writing the image store: {e}")))?;
                    }
                    if push {
                        super::registry::push_image(&root, insecure, &name)?;
                    }
                }
            }
            Export::Tar(file) => {
                let export = |writer: &mut dyn std::io::Write| root.snapshots.export_tar(&result.output, writer);
                if file == Path::new("-") {
                    let session = crate::session::current();
                    let mut out = session.stdout();
                    export(&mut out).map_err(|e| Failure::Io(format!("exporting to standard output: {e}")))?;
                    out.flush().map_err(|e| Failure::Io(format!("exporting to standard output: {e}")))?;
                } else if !output_is_current(&file, &layers_identity(&result.output)) {
                    // As the image archives: a reader never sees half a tar, a device is written
                    // in place rather than replaced, a killed export leaves no temporary file.
                    let mut out =
                        gb_export::OutputFile::create(&file).map_err(|e| super::archive::write_failure(&file, &e))?;
                    export(&mut out).map_err(|e| Failure::Io(format!("exporting to {}: {e}", file.display())))?;
                    out.persist().map_err(|e| super::archive::write_failure(&file, &e))?;
                    mark_output(&file, &layers_identity(&result.output));
                }
            }
        }
    }
    Ok(result)
}

/// The extended attribute that records what an output file holds.
const OUTPUT_XATTR: &str = "user.graphbuild.output";

/// What a root file system tar holds: its snapshot's layers.
fn layers_identity(snapshot: &gb_cache::Snapshot) -> String {
    use sha2::Digest as _;
    let layers: Vec<&str> = snapshot.layers.iter().map(|l| l.as_str()).collect();
    hex::encode(sha2::Sha256::digest(layers.join(",").as_bytes()))
}

/// What identifies an output file: what it holds plus the file's size and mtime, so a file
/// changed by anyone else is rewritten.
fn file_identity(file: &Path, content: &str) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("{content}:{}:{modified}", meta.len()))
}

/// True when `file` already holds `content`: the unchanged result of a no-op rebuild is not
/// written again (BuildKit rewrites it every time).
fn output_is_current(file: &Path, content: &str) -> bool {
    let Some(expected) = file_identity(file, content) else { return false };
    matches!(xattr::get(file, OUTPUT_XATTR), Ok(Some(value)) if value == expected.as_bytes())
}

/// Records what a freshly written output file holds; file systems without user xattrs just get
/// the output rewritten every time.
fn mark_output(file: &Path, content: &str) {
    if let Some(identity) = file_identity(file, content) {
        let _ = xattr::set(file, OUTPUT_XATTR, identity.as_bytes());
    }
}

/// What an image archive holds: the manifest and the names it carries.
fn image_identity(image: &gb_export::BuiltImage, names: &[String]) -> String {
    let mut names = names.to_vec();
    names.sort();
    format!("{}:{}", image.manifest_digest, names.join(","))
}

/// Normalizes the names an image is given (`app:1` → `docker.io/library/app:1`); a name
/// pinning a digest is refused, as `tag` refuses it.
fn normalized(names: &[String]) -> Result<Vec<String>, Failure> {
    names
        .iter()
        .map(|n| {
            ImageReference::parse_new_name(n)
                .map(|r| r.to_string())
                .map_err(|e| Failure::Input(format!("image name {n}: {e}")))
        })
        .collect()
}

/// The SOURCE_DATE_EPOCH the user set, for reproducible images.
fn source_date_epoch() -> Result<Option<i64>, Failure> {
    match crate::session::var("SOURCE_DATE_EPOCH") {
        Some(text) if !text.is_empty() => text
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Failure::Input(format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds"))),
        _ => Ok(None),
    }
}

/// Assembles the image of a solve result (config, manifest, layer blobs) in the content store.
fn image_for(
    root: &StateRoot,
    definition: &Definition,
    result: &gb_solver::SolveResult,
    compression: Compression,
) -> Result<gb_export::BuiltImage, Failure> {
    let spec = match &definition.image {
        Some(spec) => spec.clone(),
        None => gb_ir::ImageSpec {
            base: None,
            base_config_applied: true,
            platform: gb_ir::Platform::host(),
            config: gb_ir::ImageConfig::default(),
            history: Vec::new(),
        },
    };
    let base = match &spec.base {
        Some(reference) => {
            root.db.image(reference).map_err(|e| Failure::Io(format!("reading the image store: {e}")))?
        }
        None => None,
    };
    // The image is as old as its content: a no-op rebuild gives the same image (and digest).
    let built_at = match result.output_key {
        Some(key) => root.db.result(&key).ok().flatten().and_then(|r| i64::try_from(r.created_unix).ok()),
        None => None,
    };
    let (image, warnings) = gb_export::assemble_image_at(
        &super::archive::export_context(root),
        &spec,
        &result.output,
        base.as_ref(),
        compression,
        source_date_epoch()?,
        built_at,
    )
    .map_err(|e| Failure::Io(format!("assembling the image: {e}")))?;
    for warning in warnings {
        crate::session::errln!("warning: {warning}");
    }
    Ok(image)
}

/// A cache sharing failure as the right kind of failure.
fn cache_failure(
    flag: &str,
    location: &gb_remote_cache::CacheLocation,
    err: gb_remote_cache::CacheShareError,
) -> Failure {
    let message = format!("{flag} {location}: {err}");
    match err.kind() {
        gb_remote_cache::ErrorKind::Input => Failure::Input(message),
        _ => Failure::Io(message),
    }
}

//! `build --platform a,b`: the Dockerfile lowered once per platform and the graphs built
//! together into one OCI image index (gb-engine's `build_platforms`), exported as an OCI
//! layout, pushed, or split into one directory per platform, as `docker buildx build` does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use gb_engine::{Export, IndexExport, PlatformBuild, PlatformsRequest};
use gb_ir::{ImageReference, Platform};
use gb_store::StateRoot;

use super::build::EngineImages;
use crate::cli::BuildArgs;
use crate::exit::Failure;

/// The platforms of `--platform`: one, or a comma-separated list of several.
pub fn requested(text: Option<&str>) -> Result<Vec<Platform>, Failure> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let mut platforms = Vec::new();
    for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let platform = Platform::parse(part)
            .ok_or_else(|| Failure::Input(format!("invalid --platform {part:?}: expected os/arch[/variant]")))?;
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    Ok(platforms)
}

/// The provenance `--provenance` and `--attest type=provenance` ask for, as buildx reads them
/// (`--provenance=false` turns it off; `--attest type=sbom` is not supported yet).
pub fn provenance(args: &BuildArgs) -> Result<Option<gb_engine::Provenance>, Failure> {
    let mut mode = None;
    if let Some(value) = &args.provenance {
        mode = match value.as_str() {
            "false" | "0" => None,
            "true" | "1" | "min" | "mode=min" => Some(gb_engine::ProvenanceMode::Min),
            "max" | "mode=max" => Some(gb_engine::ProvenanceMode::Max),
            other => {
                return Err(Failure::Input(format!(
                    "--provenance {other}: expected true, false, mode=min or mode=max"
                )));
            }
        };
    }
    for attest in &args.attest {
        let owned = super::engine::key_values(attest);
        let fields: BTreeMap<&str, &str> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match (fields.get("type").copied(), fields.get("mode").copied(), fields.get("disabled").copied()) {
            (Some("provenance"), _, Some("true")) => mode = None,
            (Some("provenance"), None | Some("min"), _) => mode = Some(gb_engine::ProvenanceMode::Min),
            (Some("provenance"), Some("max"), _) => mode = Some(gb_engine::ProvenanceMode::Max),
            (Some("sbom"), _, _) => return Err(Failure::Input("--attest type=sbom is not supported yet".to_owned())),
            _ => return Err(Failure::Input(format!("--attest {attest}: expected type=provenance[,mode=min|max]"))),
        }
    }
    let Some(mode) = mode else { return Ok(None) };
    let mut request_args = BTreeMap::new();
    for (name, value) in super::lower::parse_build_args(&args.dockerfile.build_args)? {
        request_args.insert(format!("build-arg:{name}"), value);
    }
    if let Some(target) = &args.dockerfile.target {
        request_args.insert("target".to_owned(), target.clone());
    }
    let config_path = args
        .dockerfile
        .file
        .as_ref()
        .and_then(|file| file.file_name())
        .map_or_else(|| "Dockerfile".to_owned(), |name| name.to_string_lossy().into_owned());
    Ok(Some(gb_engine::Provenance {
        mode,
        frontend: "dockerfile.v0".to_owned(),
        args: request_args,
        config_path,
        locals: vec!["context".to_owned(), "dockerfile".to_owned()],
    }))
}

/// What a multi-platform build needs beside its arguments.
pub struct Shared<'a> {
    /// The state root.
    pub state: Arc<StateRoot>,
    /// Resolves base images for each platform's lowering.
    pub images: &'a EngineImages<'a>,
    /// `--label`s, applied to every platform's image.
    pub labels: &'a BTreeMap<String, String>,
    /// The provenance `--provenance`/`--attest` ask for ([`provenance`]).
    pub provenance: Option<gb_engine::Provenance>,
    /// `--insecure-registry`.
    pub insecure: &'a [String],
}

/// Builds every platform of `platforms` into one image index and exports it.
pub fn run(args: &BuildArgs, platforms: &[Platform], shared: Shared<'_>) -> Result<(), Failure> {
    let (builds, locals, source_date_epoch, info) = lower_each(args, platforms, &shared)?;
    let (exports, names) = index_exports(args)?;
    let root = shared.state.path().to_path_buf();
    let (solve, cancel, _key_agents) = super::engine::solve_options(&shared.state, &args.run, locals)?;
    let request = PlatformsRequest {
        builds,
        solve,
        exports,
        names,
        registry: super::registry::registry_config(&root, shared.insecure)?,
        source_date_epoch,
        export_epoch: super::engine::output_epoch(&args.run.outputs)?,
        info,
        keep_records: super::registry::records_kept(&root)?,
        provenance: shared.provenance,
    };
    let sink: Arc<dyn gb_events::EventSink> = Arc::from(crate::progress::sink(args.run.progress));
    let engine = gb_engine::Engine::new(shared.state.clone());
    let outcome = super::engine::cancellable(&cancel, engine.build_platforms(request, sink))?
        .map_err(|error| super::engine::engine_failure(error, None))?;
    for warning in &outcome.warnings {
        crate::session::errln!("warning: {warning}");
    }
    for name in &outcome.pushed {
        crate::session::errln!("pushed {name} ({} platforms, index {})", outcome.images.len(), outcome.index);
    }
    report_index(args, &outcome)
}

/// Each platform's graph, the local directories they read, `SOURCE_DATE_EPOCH`, and what the
/// build's record says of its options.
type Lowered = (Vec<PlatformBuild>, BTreeMap<String, PathBuf>, Option<i64>, gb_engine::BuildInfo);

/// Lowers the Dockerfile for each platform (`TARGETPLATFORM` and the base images differ),
/// printing each warning once.
fn lower_each(args: &BuildArgs, platforms: &[Platform], shared: &Shared<'_>) -> Result<Lowered, Failure> {
    let mut builds = Vec::new();
    let mut locals = BTreeMap::from([("context".to_owned(), args.context.clone())]);
    let mut printed = Vec::new();
    let mut source_date_epoch = None;
    let mut info = gb_engine::BuildInfo::default();
    for platform in platforms {
        let mut dockerfile =
            crate::cli::DockerfileArgs { platform: Some(platform.to_string()), ..args.dockerfile.clone() };
        super::build::layout_contexts(&mut dockerfile, &shared.state, platform)?;
        let prepared = super::lower::prepare(&args.context, &dockerfile)?;
        let (definition, epoch) = super::build::lower_for_build(&prepared, shared.images, shared.labels, &mut printed)?;
        locals.extend(prepared.named_locals.clone());
        source_date_epoch = epoch;
        info = super::build::build_info(args, &prepared);
        let annotations = super::build::parse_annotations(&args.annotations, platform)?;
        builds.push(PlatformBuild { platform: platform.clone(), definition, annotations });
    }
    info.platform = Some(platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
    Ok((builds, locals, source_date_epoch, info))
}

/// Where the index goes: `-o type=oci`, `-o type=local`, `-o type=image,push=true` and `-t`
/// with `--push`. What cannot hold an index is refused: the local image store holds one
/// platform per name (as Docker's classic store, which refuses manifest lists too), and a
/// docker-archive or a file system tar has no room for several platforms.
fn index_exports(args: &BuildArgs) -> Result<(Vec<IndexExport>, Vec<String>), Failure> {
    let mut names = Vec::new();
    for tag in &args.tags {
        let name = ImageReference::parse_new_name(tag).map_err(|e| Failure::Input(format!("-t {tag}: {e}")))?;
        names.push(name.to_string());
    }
    let unsupported = |what: &str| {
        Failure::Input(format!(
            "{what} cannot hold an image index (several platforms, or an image with provenance): push it (--push, \
             -o type=image,push=true), or export it with -o type=oci or -o type=local"
        ))
    };
    let mut exports = Vec::new();
    for super::engine::ExportTo { export, .. } in super::engine::parse_outputs(&args.run.outputs)? {
        exports.push(match export {
            Export::Oci { dest, tar, .. } => IndexExport::Oci { dest, tar },
            Export::Local(dir) => IndexExport::Local(dir),
            Export::Image { names: own, push: true, .. } => {
                IndexExport::Push(if own.is_empty() { names.clone() } else { own })
            }
            Export::Image { .. } => return Err(unsupported("the local image store (-o type=image without push)")),
            Export::Docker { .. } => return Err(unsupported("a docker-archive (-o type=docker)")),
            Export::Tar(_) => return Err(unsupported("a file system tar (-o type=tar)")),
        });
    }
    if args.push {
        exports.push(IndexExport::Push(names.clone()));
    } else if !names.is_empty() && !exports.iter().any(|export| matches!(export, IndexExport::Push(_))) {
        return Err(unsupported("the local image store (-t without --push)"));
    }
    Ok((exports, names))
}

/// `-q`, `--iidfile` and `--metadata-file` name the index, as buildx names a multi-platform
/// result.
fn report_index(args: &BuildArgs, outcome: &gb_engine::PlatformsOutcome) -> Result<(), Failure> {
    if args.quiet {
        crate::stdout::outln!("{}", outcome.index);
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, outcome.index.to_string()).map_err(Failure::os(format!("writing {}", path.display())))?;
    }
    if let Some(path) = &args.metadata_file {
        let mut metadata = serde_json::json!({
            "containerimage.digest": outcome.index.to_string(),
            "containerimage.descriptor": {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": outcome.index.to_string(),
            },
        });
        if !outcome.pushed.is_empty() {
            metadata["image.name"] = serde_json::Value::String(outcome.pushed.join(","));
        }
        let text = serde_json::to_string_pretty(&metadata).unwrap_or_default();
        std::fs::write(path, text).map_err(Failure::os(format!("writing {}", path.display())))?;
    }
    Ok(())
}

//! `graphbuild build`: lower a Dockerfile with base image configs from the local store, solve
//! it, export the result, and name it in the image store.

use std::collections::BTreeMap;

use gb_dockerfile::{ImageResolver, ResolveError, ResolvedImage};
use gb_ir::{ImageReference, Platform};

use crate::cli::BuildArgs;
use crate::exit::Failure;
use crate::report;
use crate::stdout::{out, outln};

/// The front end's view of the engine's image resolution (`Engine::resolve_image`): the local
/// store, else the image's registry (or always the registry, with `--pull`). A registry that
/// cannot be asked fails the build at its `FROM` with its reason, unless the store has the
/// image (then a warning).
pub(crate) struct EngineImages<'a> {
    engine: gb_engine::Engine,
    registry: gb_registry::RegistryConfig,
    always_pull: bool,
    runtime: &'a tokio::runtime::Runtime,
}

impl EngineImages<'static> {
    /// The resolver of a build on `state`: the registries as `--insecure-registry` and the
    /// root's config say, always asking them with `--pull`.
    fn new(
        state: &std::sync::Arc<gb_store::StateRoot>,
        insecure: &[String],
        always_pull: bool,
    ) -> Result<Self, Failure> {
        Ok(EngineImages {
            engine: gb_engine::Engine::new(state.clone()),
            registry: super::registry::registry_config(state.path(), insecure)?,
            always_pull,
            runtime: crate::session::shared_runtime().map_err(Failure::os("starting the async runtime"))?,
        })
    }
}

impl ImageResolver for EngineImages<'_> {
    fn resolve(&self, reference: &ImageReference, platform: &Platform) -> Result<Option<ResolvedImage>, ResolveError> {
        let resolution =
            self.runtime.block_on(self.engine.resolve_image(reference, platform, &self.registry, self.always_pull));
        let image = match resolution {
            Ok(gb_engine::Resolution::Found(image)) => image,
            Ok(gb_engine::Resolution::Stored(image, why)) => {
                crate::session::errln!("warning: resolving {}: {why}; using the stored image", reference.familiar());
                image
            }
            Err(error) => {
                let environment = error.kind() == gb_engine::ErrorKind::Environment;
                let message = match error {
                    gb_engine::EngineError::Registry(ref inner)
                        if matches!(**inner, gb_registry::RegistryError::NoMatchingPlatform { .. }) =>
                    {
                        error.to_string()
                    }
                    error => format!(
                        "{error}; nor is it in the local store (make one with `graphbuild import ROOTFS.tar NAME`)"
                    ),
                };
                return Err(ResolveError { message, environment });
            }
        };
        Ok(Some(ResolvedImage { manifest: Some(image.manifest), config: image.config, platform: image.platform }))
    }

    fn source_time(&self, source: &gb_dockerfile::RemoteSource) -> Result<Option<i64>, ResolveError> {
        let tmp = self.engine.root().tmp_dir();
        let found = match source {
            gb_dockerfile::RemoteSource::Http { url, checksum } => {
                gb_engine::http_source_time(&tmp, url, checksum.as_deref())
            }
            gb_dockerfile::RemoteSource::Git { url } => gb_engine::git_source_time(&tmp, url),
        };
        found.map_err(|error| ResolveError {
            environment: error.kind() == gb_engine::ErrorKind::Environment,
            message: error.to_string(),
        })
    }
}

/// Builds.
pub fn run(mut args: BuildArgs, root: Option<&std::path::Path>, insecure: &[String]) -> Result<(), Failure> {
    if args.push && args.tags.is_empty() {
        return Err(Failure::Input("--push needs at least one -t NAME".to_owned()));
    }
    // `-q` is buildx's `--progress=quiet` with the image id printed at the end.
    if args.quiet {
        args.run.progress = crate::cli::ProgressMode::Quiet;
    }
    let labels = parse_labels(&args.labels)?;
    let state = super::engine::open_root(root)?;
    // Kept until the build is done: the context unpacked from standard input or fetched.
    let _unpacked_context = match context_from_url(&mut args, &state)? {
        Some(fetched) => Some(fetched),
        None => context_from_stdin(&mut args, &state)?,
    };
    let _named_contexts = named_contexts_from_urls(&mut args, &state)?;
    let mut platforms = super::platforms::requested(args.dockerfile.platform.as_deref())?;
    let provenance = super::platforms::provenance(&args)?;
    // Provenance is attached in an image index, so one platform goes the same way as several.
    if platforms.len() > 1 || (provenance.is_some() && !args.check) {
        if platforms.is_empty() {
            platforms.push(Platform::host());
        }
        return build_platforms(&args, &platforms, &labels, provenance, state, insecure);
    }
    let requested = args.dockerfile.platform.as_deref().and_then(Platform::parse).unwrap_or_else(Platform::host);
    layout_contexts(&mut args.dockerfile, &state, &requested)?;
    let prepared = super::lower::prepare(&args.context, &args.dockerfile)?;
    let platform = prepared.options.target_platform.clone().unwrap_or_else(gb_ir::Platform::host);
    let annotations = parse_annotations(&args.annotations, &platform)?;
    let images = EngineImages::new(&state, insecure, args.pull)?;
    if args.check {
        return check(&prepared, &images);
    }
    let (definition, source_date_epoch) = lower_for_build(&prepared, &images, &labels, &mut Vec::new())?;
    drop(images);
    let mut locals = BTreeMap::new();
    locals.insert("context".to_owned(), args.context.clone());
    locals.extend(prepared.named_locals.clone());
    let describe = args.quiet || args.iidfile.is_some() || args.metadata_file.is_some();
    let info = build_info(&args, &prepared);
    let super::engine::Solved { image, record } = super::engine::solve_and_export(
        state.clone(),
        &definition,
        &args.run,
        locals,
        Some((prepared.file, prepared.text)),
        super::engine::ImageOptions {
            tags: &args.tags,
            describe,
            source_date_epoch,
            annotations,
            info,
            explain: args.explain,
        },
        insecure,
    )?;
    if args.push {
        for tag in &args.tags {
            super::registry::push_image(&state, insecure, tag)?;
        }
    }
    // The live view ends with the critical path (issue 12); other modes are read by scripts.
    let tty = match args.run.progress {
        crate::cli::ProgressMode::Tty => true,
        crate::cli::ProgressMode::Auto => crate::session::current().stderr_is_terminal(),
        _ => false,
    };
    // Read back only when shown: the record is written in the background.
    let record =
        record.filter(|_| tty || args.explain).and_then(|id| gb_engine::records::find(&state.builds_dir(), &id).ok());
    if tty && let Some(line) = record.as_ref().and_then(super::builds::critical_path_line) {
        crate::session::errln!("critical path: {line}");
    }
    if args.explain {
        let json = matches!(args.run.progress, crate::cli::ProgressMode::Json);
        match &record {
            Some(record) => super::builds::explain_build(&state, record, json)?,
            None => crate::session::errln!("explain: builds are not recorded here ([builds] keep = 0)"),
        }
    }
    match image {
        Some(image) => report_image(&args, &image),
        None if describe => Err(Failure::Environment("the build assembled no image to name".to_owned())),
        None => Ok(()),
    }
}

/// What a build's record says of its options (`gb_engine::records`).
pub(super) fn build_info(args: &BuildArgs, prepared: &super::lower::Prepared) -> gb_engine::BuildInfo {
    gb_engine::BuildInfo {
        dockerfile: Some(prepared.file.clone()),
        target: prepared.options.target.clone(),
        platform: prepared.options.target_platform.as_ref().map(ToString::to_string),
        build_args: prepared.options.build_args.clone(),
        names: args.tags.clone(),
        no_cache: args.run.no_cache,
    }
}

/// Lowers a prepared Dockerfile for a build: `--label`s after the Dockerfile's LABELs (as
/// docker applies them), the warnings not in `printed` printed (and added to it), and a build
/// check's finding under `# check=error=true` failing the build before anything runs.
pub(super) fn lower_for_build(
    prepared: &super::lower::Prepared,
    images: &EngineImages<'_>,
    labels: &BTreeMap<String, String>,
    printed: &mut Vec<gb_dockerfile::Warning>,
) -> Result<(gb_ir::Definition, Option<i64>), Failure> {
    let mut lowered = match gb_dockerfile::lower(&prepared.text, &prepared.options, images) {
        Ok(lowered) => lowered,
        Err(error) => {
            // The findings made before the error are reported first, as BuildKit's build does
            // (testWarningsBeforeError).
            let report = gb_dockerfile::check_report(&prepared.text, &prepared.options, images);
            for warning in report.warnings.iter().filter(|w| !printed.contains(w)) {
                report::print_warning(&prepared.file, warning);
            }
            return Err(prepared.failure(error));
        }
    };
    if let Some(image) = lowered.definition.image.as_mut() {
        image.config.labels.extend(labels.clone());
    }
    for warning in &lowered.warnings {
        if !printed.contains(warning) {
            report::print_warning(&prepared.file, warning);
            printed.push(warning.clone());
        }
    }
    if let Some(violation) = lowered.check.violation(&prepared.text, &lowered.warnings) {
        return Err(prepared.failure(violation));
    }
    Ok((lowered.definition, lowered.source_date_epoch))
}

/// `build --platform a,b`: every platform into one image index.
fn build_platforms(
    args: &BuildArgs,
    platforms: &[Platform],
    labels: &BTreeMap<String, String>,
    provenance: Option<gb_engine::Provenance>,
    state: std::sync::Arc<gb_store::StateRoot>,
    insecure: &[String],
) -> Result<(), Failure> {
    if args.check {
        return Err(Failure::Input("--check checks one platform: leave out the others".to_owned()));
    }
    let images = EngineImages::new(&state, insecure, args.pull)?;
    let shared = super::platforms::Shared { state, images: &images, labels, provenance, insecure };
    super::platforms::run(args, platforms, shared)
}

/// Whether a context names a remote one (http(s), git) rather than a directory.
fn is_remote(context: &str) -> bool {
    ["http://", "https://", "git://", "git@"].iter().any(|scheme| context.starts_with(scheme))
}

/// `build URL`: a git repository (`https://host/repo.git#ref:subdir`, `git@host:repo.git`) or
/// an http(s) tarball (or Dockerfile) as the context, as `docker build URL` takes them; `-f`
/// names a file in it. Points `args` at what it fetched, which lives as long as the returned
/// guard.
fn context_from_url(
    args: &mut BuildArgs,
    state: &gb_store::StateRoot,
) -> Result<Option<gb_engine::UnpackedContext>, Failure> {
    let Some(url) = args.context.to_str().filter(|text| is_remote(text)) else {
        return Ok(None);
    };
    let (fetched, dockerfile) =
        gb_engine::UnpackedContext::from_url(&state.tmp_dir(), url).map_err(|e| Failure::Engine(Box::new(e)))?;
    match (dockerfile, args.dockerfile.file.as_mut()) {
        (Some(_), Some(_)) => {
            return Err(Failure::Input(format!("{url} is a Dockerfile, not a context: -f cannot name another")));
        }
        (Some(dockerfile), None) => args.dockerfile.file = Some(dockerfile),
        (None, Some(file)) if file.is_relative() && file != std::path::Path::new("-") => {
            *file = fetched.path().join(&*file);
        }
        (None, _) => {}
    }
    args.dockerfile.remote_contexts.insert(gb_dockerfile::MAIN_CONTEXT.to_owned(), url.to_owned());
    args.context = fetched.path().to_owned();
    Ok(Some(fetched))
}

/// `--build-context NAME=URL` (a git repository, or an http(s) file): fetched now into
/// directories of the state root, which the flags then name instead; they live as long as the
/// returned guards.
fn named_contexts_from_urls(
    args: &mut BuildArgs,
    state: &gb_store::StateRoot,
) -> Result<Vec<gb_engine::UnpackedContext>, Failure> {
    let mut fetched = Vec::new();
    for value in &mut args.dockerfile.build_contexts {
        let Some((name, url)) = value.split_once('=') else { continue };
        if !is_remote(url) {
            continue;
        }
        let context = gb_engine::UnpackedContext::named_from_url(&state.tmp_dir(), url)
            .map_err(|e| Failure::Engine(Box::new(e)))?;
        args.dockerfile.remote_contexts.insert(gb_dockerfile::named_context_key(name), url.to_owned());
        *value = format!("{name}={}", context.path().display());
        fetched.push(context);
    }
    Ok(fetched)
}

/// `--build-context NAME=oci-layout://PATH[:TAG][@DIGEST]`: stores the layout's image for
/// `platform` and makes the context that stored image (`docker-image://` of the reference
/// [`gb_engine::Engine::import_layout_image`] gives), so `FROM NAME` and `COPY --from=NAME`
/// read it as buildx's OCI layout store serves it.
pub(crate) fn layout_contexts(
    dockerfile: &mut crate::cli::DockerfileArgs,
    state: &std::sync::Arc<gb_store::StateRoot>,
    platform: &Platform,
) -> Result<(), Failure> {
    for value in &mut dockerfile.build_contexts {
        let Some((name, layout)) = value.split_once('=') else { continue };
        let Some(layout) = layout.strip_prefix("oci-layout://") else { continue };
        let layout = gb_export::LayoutReference::parse(layout)
            .map_err(|why| Failure::Input(format!("--build-context {value}: {why}")))?;
        let layout =
            gb_export::LayoutReference { path: std::path::absolute(&layout.path).unwrap_or(layout.path), ..layout };
        if !layout.path.exists() {
            return Err(Failure::Input(format!("--build-context {value}: {} does not exist", layout.path.display())));
        }
        let reference = gb_engine::Engine::new(state.clone())
            .import_layout_image(name, &layout, platform)
            .map_err(|e| Failure::Engine(Box::new(e)))?;
        *value = format!("{name}=docker-image://{reference}");
    }
    Ok(())
}

/// `build -`: the context comes from standard input, as `docker build -` takes it: a tar
/// archive (plain or compressed) is the context, with `-f` naming a file in it; anything else is
/// the Dockerfile, with an empty context. Points `args` at what it unpacked, which lives as long
/// as the returned guard.
fn context_from_stdin(
    args: &mut BuildArgs,
    state: &gb_store::StateRoot,
) -> Result<Option<gb_engine::UnpackedContext>, Failure> {
    if args.context != std::path::Path::new("-") {
        return Ok(None);
    }
    if args.dockerfile.file.as_deref() == Some(std::path::Path::new("-")) {
        return Err(Failure::Input("the context and the Dockerfile cannot both come from standard input".to_owned()));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut crate::session::current().stdin(), &mut bytes)
        .map_err(Failure::os("reading standard input"))?;
    let engine_failure = |e| Failure::Engine(Box::new(e));
    let unpacked = if gb_engine::is_archive(&bytes) {
        let unpacked = gb_engine::UnpackedContext::from_archive(&state.tmp_dir(), &bytes).map_err(engine_failure)?;
        if let Some(file) = args.dockerfile.file.as_mut().filter(|file| file.is_relative()) {
            *file = unpacked.path().join(&*file);
        }
        unpacked
    } else {
        if args.dockerfile.file.is_some() {
            return Err(Failure::Input(
                "-f cannot be used when the Dockerfile comes from standard input (`build -`)".to_owned(),
            ));
        }
        let text = String::from_utf8_lossy(&bytes);
        let (unpacked, dockerfile) =
            gb_engine::UnpackedContext::with_dockerfile_only(&state.tmp_dir(), &text).map_err(engine_failure)?;
        args.dockerfile.file = Some(dockerfile);
        unpacked
    };
    args.context = unpacked.path().to_owned();
    Ok(Some(unpacked))
}

/// `build --check`: the build checks of the Dockerfile, printed as `docker build --check`
/// prints them (on standard output); exits 1 when they found anything, or the Dockerfile does
/// not build.
fn check(prepared: &super::lower::Prepared, images: &EngineImages) -> Result<(), Failure> {
    let found = gb_dockerfile::check_report(&prepared.text, &prepared.options, images);
    let count = found.warnings.len();
    match count {
        0 if found.error.is_none() => outln!("Check complete, no warnings found."),
        0 => {}
        1 => outln!("Check complete, 1 warning has been found!"),
        n => outln!("Check complete, {n} warnings have been found!"),
    }
    let mut warnings: Vec<&gb_dockerfile::Warning> = found.warnings.iter().collect();
    warnings.sort_by_key(|warning| (warning.line.is_some(), warning.line));
    for warning in warnings {
        out!("{}", report::render_check_warning(&prepared.file, &prepared.text, warning));
    }
    if let Some(error) = found.error {
        return Err(prepared.failure(error));
    }
    if let Some(violation) = found.check.violation(&prepared.text, &found.warnings) {
        return Err(prepared.failure(violation));
    }
    if count > 0 { Err(Failure::Exited(crate::exit::USER_INPUT)) } else { Ok(()) }
}

/// `--label KEY=VALUE` values (`build --label`, `run -l`).
pub(crate) fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    labels
        .iter()
        .map(|label| match label.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            // docker takes a bare key as a label with an empty value.
            None if !label.is_empty() => Ok((label.clone(), String::new())),
            _ => Err(Failure::Input(format!("--label {label:?}: expected KEY=VALUE"))),
        })
        .collect()
}

/// `--annotation [TYPE[,TYPE...][\[PLATFORM\]]:]KEY=VALUE` values, as buildx reads them: the
/// types are `manifest` (the default) and `manifest-descriptor`; one for another platform than
/// the build's is left out. A single-platform image has no index, so `index` and
/// `index-descriptor` are refused with BuildKit's error.
pub(super) fn parse_annotations(
    values: &[String],
    platform: &gb_ir::Platform,
) -> Result<gb_engine::Annotations, Failure> {
    let mut annotations = gb_engine::Annotations::default();
    for value in values {
        let invalid = |why: &str| Failure::Input(format!("--annotation {value:?}: {why}"));
        let (key, text) = value.split_once('=').ok_or_else(|| invalid("expected [TYPE:]KEY=VALUE"))?;
        let (types, key) = match key.split_once(':') {
            Some((types, key)) => (types, key),
            None => ("manifest", key),
        };
        if key.is_empty() {
            return Err(invalid("the key is empty"));
        }
        let (types, only_for) = match types.split_once('[') {
            Some((types, rest)) => {
                let name = rest.strip_suffix(']').ok_or_else(|| invalid("a platform is written [os/arch]"))?;
                let wanted =
                    gb_ir::Platform::parse(name).ok_or_else(|| invalid(&format!("invalid platform {name:?}")))?;
                (types, Some(wanted))
            }
            None => (types, None),
        };
        if only_for.is_some_and(|wanted| !wanted.matches(platform)) {
            continue;
        }
        for kind in types.split(',') {
            let into = match kind {
                "" | "manifest" => &mut annotations.manifest,
                "manifest-descriptor" => &mut annotations.manifest_descriptor,
                "index" | "index-descriptor" => {
                    return Err(Failure::Input(
                        "index annotations not supported for single platform export".to_owned(),
                    ));
                }
                other => return Err(invalid(&format!("unknown annotation type {other:?}"))),
            };
            into.insert(key.to_owned(), text.to_owned());
        }
    }
    Ok(annotations)
}

/// What `-q`, `--iidfile` and `--metadata-file` say of the built image.
fn report_image(args: &BuildArgs, image: &gb_engine::ImageDigests) -> Result<(), Failure> {
    if args.quiet {
        crate::stdout::outln!("{}", image.config);
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, image.config.to_string()).map_err(Failure::os(format!("writing {}", path.display())))?;
    }
    if let Some(path) = &args.metadata_file {
        let text = serde_json::to_string_pretty(&metadata(args, image)).unwrap_or_default();
        std::fs::write(path, text).map_err(Failure::os(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// buildx's `--metadata-file` JSON: the image's config and manifest digests, its descriptor,
/// and the names it was given.
fn metadata(args: &BuildArgs, image: &gb_engine::ImageDigests) -> serde_json::Value {
    let mut metadata = serde_json::json!({
        "containerimage.config.digest": image.config.to_string(),
        "containerimage.digest": image.manifest.to_string(),
        "containerimage.descriptor": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image.manifest.to_string(),
            "size": image.manifest_size,
        },
    });
    let names: Vec<String> = args
        .tags
        .iter()
        .filter_map(|tag| gb_ir::ImageReference::parse_new_name(tag).ok())
        .map(|reference| reference.to_string())
        .collect();
    if !names.is_empty() {
        metadata["image.name"] = serde_json::Value::String(names.join(","));
    }
    metadata
}

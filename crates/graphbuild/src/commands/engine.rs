//! What `build` and `solve` share: opening the state root, parsing `-o`, `--secret` and the
//! cache options into a `gb_engine::BuildRequest`, and running it on a tokio runtime with Ctrl-C
//! cancelling; the build itself (solve, exports, cache sharing) is `gb_engine::Engine::build`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use gb_engine::ExportTo;
use gb_engine::{BuildRequest, Engine, EngineError, Export, ExportEpoch, TarDestination};
use gb_export::Compression;
use gb_ir::{Definition, ImageReference};
use gb_solver::{Entitlement, SecretSource, SolveOptions};
use gb_store::StateRoot;

use crate::cli::RunOptions;
use crate::exit::Failure;

/// Parses `-o type=local,dest=DIR`, `type=tar,dest=FILE`, `type=oci,dest=FILE[,tar=false]`,
/// `type=docker,dest=FILE`, `type=image,name=NAME` (with `compression=gzip|zstd|uncompressed`
/// for images); a bare path means `type=local`. Each may carry BuildKit's
/// `source-date-epoch=` and `rewrite-timestamp=` ([`output_epoch_of`]).
pub fn parse_outputs(outputs: &[String]) -> Result<Vec<ExportTo>, Failure> {
    outputs
        .iter()
        .map(|spec| {
            let owned = key_values(spec);
            let fields: BTreeMap<&str, &str> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let epoch = output_epoch_of(spec, &fields)?;
            parse_output(spec, &fields).map(|export| ExportTo { export, epoch })
        })
        .collect()
}

/// One `-o` spec's export.
fn parse_output(spec: &str, fields: &BTreeMap<&str, &str>) -> Result<Export, Failure> {
    if fields.is_empty() {
        // As buildx: `-o -` is the root file system as a tar on standard output.
        if spec == "-" {
            return Ok(Export::Tar(TarDestination::Stream(crate::session::current().stdout_stream())));
        }
        return Ok(Export::Local(PathBuf::from(spec)));
    }
    let dest = || {
        fields.get("dest").map(PathBuf::from).ok_or_else(|| Failure::Input(format!("-o {spec}: dest=PATH is missing")))
    };
    let compression = match fields.get("compression") {
        Some(text) => text
            .parse::<Compression>()
            .map_err(|_| Failure::Input(format!("-o {spec}: compression must be gzip, zstd or uncompressed")))?,
        None => Compression::Gzip,
    };
    let names: Vec<String> = fields
        .get("name")
        .map(|n| n.split([';', ',']).filter(|n| !n.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let push = fields.get("push").is_some_and(|p| *p == "true");
    if push && fields.get("type") != Some(&"image") {
        return Err(Failure::Input(format!("-o {spec}: push=true needs type=image")));
    }
    let names = gb_engine::normalized(&names).map_err(|e| Failure::Input(e.to_string()))?;
    match fields.get("type").copied() {
        Some("local") => Ok(Export::Local(dest()?)),
        Some("tar") => {
            let dest = dest()?;
            Ok(Export::Tar(if dest == Path::new("-") {
                TarDestination::Stream(crate::session::current().stdout_stream())
            } else {
                TarDestination::File(dest)
            }))
        }
        Some("oci") => Ok(Export::Oci { dest: dest()?, tar: fields.get("tar") != Some(&"false"), compression, names }),
        Some("docker") => Ok(Export::Docker { dest: dest()?, compression, names }),
        Some("image") if names.is_empty() => Err(Failure::Input(format!("-o {spec}: name=NAME is missing"))),
        Some("image") => Ok(Export::Image { names, compression, push }),
        Some(other) => Err(Failure::Input(format!(
            "-o {spec}: output type {other:?} is not supported (local, tar, oci, docker or image)"
        ))),
        None => Err(Failure::Input(format!("-o {spec}: type=TYPE is missing"))),
    }
}

/// The fields of a comma-separated option value as buildx reads them (Go's `encoding/csv`): a
/// field in double quotes may hold commas, and `""` inside it is one quote. Each `KEY=VALUE`
/// field becomes an entry; a field without `=` is left out.
pub fn key_values(spec: &str) -> BTreeMap<String, String> {
    csv_fields(spec)
        .into_iter()
        .filter_map(|field| field.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The fields of one CSV record.
fn csv_fields(record: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Parses `--secret` as buildx does: `id=ID,src=PATH` (also `source=`, `type=file`),
/// `id=ID,env=VAR` (`type=env`), and a bare `id=ID`, the environment variable `ID`.
pub fn parse_secrets(secrets: &[String]) -> Result<BTreeMap<String, SecretSource>, Failure> {
    let mut map = BTreeMap::new();
    for spec in secrets {
        let owned = key_values(spec);
        let fields: BTreeMap<&str, &str> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let invalid = |why: String| Failure::Input(format!("--secret {spec}: {why}"));
        let id = fields.get("id").ok_or_else(|| invalid("id=ID is missing".to_owned()))?;
        let src = fields.get("src").or_else(|| fields.get("source"));
        let source = match (fields.get("type").copied(), src, fields.get("env")) {
            (Some("file") | None, Some(src), _) => {
                if !Path::new(src).is_file() {
                    return Err(invalid(format!("{src} is not a file")));
                }
                // Absolute now, against the client's working directory: the step reads it on
                // another thread of the server.
                let path = std::path::absolute(src).map_err(|e| invalid(e.to_string()))?;
                SecretSource::File(path)
            }
            (Some("file"), None, _) => return Err(invalid("src=PATH is missing".to_owned())),
            (Some("env") | None, None, env) => {
                let name = env.copied().unwrap_or(id);
                let value = crate::session::var(name)
                    .ok_or_else(|| invalid(format!("the environment variable {name} is not set")))?;
                SecretSource::Value(value.into_bytes())
            }
            (Some("env"), Some(_), _) => return Err(invalid("type=env takes env=VAR, not src".to_owned())),
            (Some(other), _, _) => return Err(invalid(format!("type={other} is not supported (file or env)"))),
        };
        map.insert((*id).to_owned(), source);
    }
    Ok(map)
}

/// `--ssh` values, as buildx reads them: `default` or a bare `ID` forwards the client's
/// `$SSH_AUTH_SOCK`; `ID=PATH` forwards the agent listening at `PATH` when it is a socket;
/// otherwise the paths are key files, loaded into an `ssh-agent` started for the build (returned,
/// so it lives as long as the build).
pub fn parse_ssh(
    specs: &[String],
    tmp: &Path,
) -> Result<(BTreeMap<String, PathBuf>, Vec<gb_engine::KeyAgent>), Failure> {
    let mut agents = BTreeMap::new();
    let mut started = Vec::new();
    for spec in specs {
        let invalid = |why: String| Failure::Input(format!("--ssh {spec}: {why}"));
        let (id, paths) = match spec.split_once('=') {
            Some((id, paths)) => (id, paths.split(',').filter(|p| !p.is_empty()).map(PathBuf::from).collect()),
            None => (spec.as_str(), Vec::new()),
        };
        if id.is_empty() {
            return Err(invalid("the id is empty".to_owned()));
        }
        // Absolute now: the relay runs on other threads than this client's command, whose
        // working directory is the client's.
        let absolute = |path: &Path| std::path::absolute(path).map_err(|e| invalid(format!("{}: {e}", path.display())));
        let socket = match paths.as_slice() {
            [] => {
                let sock = crate::session::var("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).ok_or_else(|| {
                    invalid("invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set".to_owned())
                })?;
                absolute(Path::new(&sock))?
            }
            [one] if is_socket(one) => absolute(one)?,
            keys => {
                let keys = keys.iter().map(|key| absolute(key)).collect::<Result<Vec<_>, _>>()?;
                if let Some(missing) = keys.iter().find(|key| !key.is_file()) {
                    return Err(invalid(format!("{} is neither an agent's socket nor a key file", missing.display())));
                }
                let agent = gb_engine::KeyAgent::start(tmp, &keys).map_err(|e| Failure::Engine(Box::new(e)))?;
                let socket = agent.socket().to_owned();
                started.push(agent);
                socket
            }
        };
        agents.insert(id.to_owned(), socket);
    }
    Ok((agents, started))
}

/// Whether `path` is a Unix socket.
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
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
    let path = root.map_or_else(gb_client::default_root, Path::to_path_buf);
    if std::os::unix::net::UnixStream::connect(path.join(gb_client::protocol::SOCKET)).is_ok() {
        return Err(Failure::Environment(format!(
            "a graphbuild server is serving {}: stop it with `graphbuild server stop`, or leave out --no-server",
            path.display()
        )));
    }
    Ok(Arc::new(StateRoot::open(&path)?))
}

/// The image a build names and whether the caller needs its id.
#[derive(Debug, Default, Clone)]
pub struct ImageOptions<'a> {
    /// `-t` names.
    pub tags: &'a [String],
    /// Assemble the image even with no image export, for its id (`-q`, `--iidfile`).
    pub describe: bool,
    /// SOURCE_DATE_EPOCH as the front end resolved it (the build arg, which the environment
    /// variable sets as in buildx, or the Dockerfile's default); an output's
    /// `source-date-epoch=` wins.
    pub source_date_epoch: Option<i64>,
    /// `--annotation`s of the image.
    pub annotations: gb_engine::Annotations,
    /// What the build's record says of the front end's options.
    pub info: gb_engine::BuildInfo,
    /// `--explain`: each step that runs says why in its `op_started` event.
    pub explain: bool,
}

/// What [`solve_and_export`] made.
pub struct Solved {
    /// The image it assembled, when it made one.
    pub image: Option<gb_engine::ImageDigests>,
    /// The build's record id, unless recording is off.
    pub record: Option<String>,
}

/// Points the image archives bound for standard output (`type=oci|docker,dest=-`) at scratch
/// files, which the caller copies out after the build: archives are written by path.
fn archives_to_stdout(root: &StateRoot, exports: &mut [ExportTo]) -> Result<Vec<super::archive::ScratchFile>, Failure> {
    let mut scratches = Vec::new();
    for ExportTo { export, .. } in exports.iter_mut() {
        let dest = match export {
            Export::Oci { dest, tar: false, .. } if dest.as_path() == Path::new("-") => {
                return Err(Failure::Input("-o type=oci,tar=false needs a directory, not dest=-".to_owned()));
            }
            Export::Oci { dest, .. } | Export::Docker { dest, .. } if dest.as_path() == Path::new("-") => dest,
            _ => continue,
        };
        let scratch = super::archive::ScratchFile::new(root, "export")?;
        *dest = scratch.path().to_owned();
        scratches.push(scratch);
    }
    Ok(scratches)
}

/// Solves a definition and exports its output, on the engine.
pub fn solve_and_export(
    root: Arc<StateRoot>,
    definition: &Definition,
    run: &RunOptions,
    local_dirs: BTreeMap<String, PathBuf>,
    dockerfile: Option<(String, String)>,
    image: ImageOptions<'_>,
    insecure: &[String],
) -> Result<Solved, Failure> {
    let tags = image.tags;
    let mut exports = parse_outputs(&run.outputs)?;
    let to_stdout = archives_to_stdout(&root, &mut exports)?;
    let mut names = Vec::new();
    for tag in tags {
        names.push(
            ImageReference::parse_new_name(tag).map_err(|e| Failure::Input(format!("-t {tag}: {e}")))?.to_string(),
        );
    }
    if !names.is_empty() {
        exports.push(Export::Image { names: names.clone(), compression: Compression::Gzip, push: false }.into());
    }
    // The agents started for key files live until the build is done.
    let (solve, cancel, _key_agents) = solve_options(&root, run, local_dirs)?;
    let (mut cache_from, mut cache_to) =
        (cache_options("--cache-from", &run.cache_from)?, cache_options("--cache-to", &run.cache_to)?);
    super::registry::with_remote_cache(root.path(), &mut cache_from, &mut cache_to)?;
    let request = BuildRequest {
        definition: definition.clone(),
        solve,
        exports,
        names,
        cache_from,
        cache_to,
        registry: super::registry::registry_config(root.path(), insecure)?,
        source_date_epoch: image.source_date_epoch,
        describe_image: image.describe,
        annotations: image.annotations,
        info: image.info,
        keep_records: super::registry::records_kept(root.path())?,
        explain: image.explain,
    };
    let sink: Arc<dyn gb_events::EventSink> = Arc::from(crate::progress::sink(run.progress));
    let engine = Engine::new(root);
    let outcome = cancellable(&cancel, engine.build(request, sink))?;
    let outcome = outcome.map_err(|error| engine_failure(error, dockerfile))?;
    for scratch in &to_stdout {
        scratch.to_stdout()?;
    }
    for warning in &outcome.warnings {
        crate::session::errln!("warning: {warning}");
    }
    for (name, report) in &outcome.pushed {
        super::registry::print_push(name, report);
    }
    if let Some((endpoint, report)) = &outcome.remote
        && !matches!(run.progress, crate::cli::ProgressMode::Quiet)
    {
        crate::session::errln!(
            "remote cache {endpoint}: {} found, {} not found, {} stored, {} downloaded, {} uploaded",
            report.hits,
            report.misses,
            report.stored,
            super::images::human_size(report.downloaded),
            super::images::human_size(report.uploaded)
        );
    }
    Ok(Solved { image: outcome.image, record: outcome.record })
}

/// How to solve, from the shared flags: the solve options, the token Ctrl-C fires, and the ssh
/// agents started for `--ssh` key files (which must live until the build is done).
pub fn solve_options(
    root: &StateRoot,
    run: &RunOptions,
    local_dirs: BTreeMap<String, PathBuf>,
) -> Result<(SolveOptions, tokio_util::sync::CancellationToken, Vec<gb_engine::KeyAgent>), Failure> {
    let cancel = tokio_util::sync::CancellationToken::new();
    let (ssh, key_agents) = parse_ssh(&run.ssh, &root.tmp_dir())?;
    let mut solve = SolveOptions {
        no_cache: run.no_cache,
        local_dirs,
        secrets: parse_secrets(&run.secrets)?,
        ssh,
        cancel: cancel.clone(),
        entitlements: granted_entitlements(root.path(), &run.allow)?,
        ..SolveOptions::default()
    };
    if let Some(max) = run.max_parallelism {
        solve.max_parallelism = max.max(1);
    }
    Ok((solve, cancel, key_agents))
}

/// Runs `work` on the shared runtime, firing `cancel` when the client presses Ctrl-C.
pub fn cancellable<T>(
    cancel: &tokio_util::sync::CancellationToken,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    let runtime = crate::session::shared_runtime().map_err(Failure::os("starting the async runtime"))?;
    Ok(runtime.block_on(async {
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
        let outcome = work.await;
        on_ctrl_c.abort();
        outcome
    }))
}

/// `--cache-from` / `--cache-to` values.
type CacheOptions = Vec<(gb_remote_cache::CacheLocation, gb_remote_cache::CacheMode)>;

fn cache_options(flag: &str, values: &[String]) -> Result<CacheOptions, Failure> {
    values
        .iter()
        .map(|text| {
            gb_remote_cache::parse_cache_option(text).map_err(|e| Failure::Input(format!("{flag} {text}: {e}")))
        })
        .collect()
}

/// An engine failure as the CLI reports it: a solve's with the Dockerfile it came from.
pub fn engine_failure(error: EngineError, dockerfile: Option<(String, String)>) -> Failure {
    match error {
        EngineError::Solve(error) => Failure::Solve { error, dockerfile },
        other if other.kind() == gb_engine::ErrorKind::Cancelled => {
            Failure::Solve { error: Box::new(gb_solver::SolveError::Cancelled), dockerfile }
        }
        other => Failure::Engine(Box::new(other)),
    }
}

/// What one `-o` spec says of SOURCE_DATE_EPOCH, as BuildKit's exporter options:
/// `source-date-epoch=SECONDS` (empty: none) replaces the build's epoch, `rewrite-timestamp=true`
/// clamps the image's new layers to it.
fn output_epoch_of(spec: &str, fields: &BTreeMap<&str, &str>) -> Result<ExportEpoch, Failure> {
    let invalid = |why: &str| Failure::Input(format!("-o {spec}: {why}"));
    let source_date_epoch = match fields.get("source-date-epoch") {
        None => None,
        Some(&"") => Some(None),
        Some(text) => {
            Some(Some(text.parse::<i64>().map_err(|_| invalid("source-date-epoch must be a number of seconds"))?))
        }
    };
    let rewrite_timestamp = match fields.get("rewrite-timestamp").copied() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(invalid("rewrite-timestamp must be true or false")),
    };
    Ok(ExportEpoch { source_date_epoch, rewrite_timestamp })
}

/// The SOURCE_DATE_EPOCH options of a multi-platform build's outputs, which share one image
/// index and so one setting: outputs that disagree are refused.
pub fn output_epoch(outputs: &[String]) -> Result<ExportEpoch, Failure> {
    let mut found: Option<ExportEpoch> = None;
    for spec in outputs {
        let owned = key_values(spec);
        let fields: BTreeMap<&str, &str> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let invalid = |why: &str| Failure::Input(format!("-o {spec}: {why}"));
        let this = output_epoch_of(spec, &fields)?;
        match found {
            Some(earlier) if earlier != this => {
                return Err(invalid(
                    "the outputs of a multi-platform build share one image index, so they cannot differ in source-date-epoch or rewrite-timestamp",
                ));
            }
            _ => found = Some(this),
        }
    }
    Ok(found.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::key_values;

    #[test]
    fn option_values_read_as_buildx_reads_them() {
        let fields = key_values(r#"type=oci,dest=out,"name=org/repo:tag1,org/repo:tag2",tar=false"#);
        assert_eq!(fields["name"], "org/repo:tag1,org/repo:tag2");
        assert_eq!(fields["type"], "oci");
        assert_eq!(fields["tar"], "false");
        assert_eq!(key_values(r#""label=say ""hi""",x=1"#)["label"], r#"say "hi""#);
        assert_eq!(key_values("a=1,,b=2").len(), 2);
    }
}

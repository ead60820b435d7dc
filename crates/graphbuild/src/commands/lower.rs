//! `graphbuild lower`: print the Definition a Dockerfile lowers to.

use std::collections::BTreeMap;
use std::path::Path;

use gb_dockerfile::{LowerOptions, NoImages};
use gb_ir::Platform;

use crate::cli::{DockerfileArgs, GraphFormat, LowerArgs};
use crate::exit::Failure;
use crate::report;
use crate::stdout::out;

/// A Dockerfile read and ready to lower: its name, text and the options from the command line.
pub struct Prepared {
    /// The Dockerfile's path as given.
    pub file: String,
    /// Its text.
    pub text: String,
    /// Lowering options.
    pub options: LowerOptions,
    /// The directories of `--build-context NAME=DIR`, by the local name the graph reads them as.
    pub named_locals: BTreeMap<String, std::path::PathBuf>,
}

impl Prepared {
    /// A front-end error as a failure that shows the Dockerfile line.
    pub fn failure(&self, error: gb_dockerfile::DockerfileError) -> Failure {
        Failure::dockerfile(error, &self.file, &self.text)
    }
}

/// Reads the Dockerfile and `.dockerignore` and parses the shared flags of `lower` and `build`.
pub fn prepare(context: &Path, args: &DockerfileArgs) -> Result<Prepared, Failure> {
    // Without -f, `Dockerfile`, else `dockerfile`, as BuildKit's `DefaultLocalNameDockerfile`
    // lookup falls back to the lower-case name.
    let dockerfile = args.file.clone().unwrap_or_else(|| {
        let upper = context.join("Dockerfile");
        let lower = context.join("dockerfile");
        if !upper.exists() && lower.is_file() { lower } else { upper }
    });
    if !context.is_dir() {
        return Err(Failure::Input(format!("the build context {} is not a directory", context.display())));
    }
    let text = super::read_dockerfile(&dockerfile)?;
    let file = dockerfile.display().to_string();
    let context_excludes =
        gb_dockerfile::dockerignore::load(context, &dockerfile).map_err(|e| Failure::dockerfile(e, &file, &text))?;
    let (named_contexts, named_locals) = parse_build_contexts(&args.build_contexts, &file, &text)?;
    let options = LowerOptions {
        dockerfile_name: dockerfile.file_name().map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned()),
        target: args.target.clone(),
        build_args: with_source_date_epoch(parse_build_args(&args.build_args)?),
        target_platform: args
            .platform
            .as_deref()
            .map(|p| {
                Platform::parse(p).ok_or_else(|| {
                    Failure::Input(if p.contains(',') {
                        format!("--platform {p}: building several platforms in one build is not supported yet; build each platform on its own")
                    } else {
                        format!("invalid --platform {p:?}: expected os/arch[/variant]")
                    })
                })
            })
            .transpose()?,
        build_platform: None,
        context_excludes,
        extra_hosts: parse_add_hosts(&args.add_hosts)?,
        network: match args.network.as_str() {
            "default" => gb_ir::NetworkMode::Default,
            "none" => gb_ir::NetworkMode::None,
            "host" => gb_ir::NetworkMode::Host,
            other => {
                return Err(Failure::Input(format!("--network {other}: expected default, none or host")));
            }
        },
        shm_size: args.shm_size.as_deref().map(parse_shm_size).transpose()?,
        ulimits: args.ulimits.iter().map(|text| gb_ir::Ulimit::parse(text).map_err(Failure::Input)).collect::<Result<_, _>>()?,
        no_cache_filter: (!args.no_cache_filter.is_empty()).then(|| args.no_cache_filter.clone()),
        named_contexts,
        remote_contexts: args.remote_contexts.clone(),
    };
    Ok(Prepared { file, text, options, named_locals })
}

/// Base images from the local store, read without taking the build lock; images that are not
/// there, or are there for another platform, are resolved when the graph is solved.
struct StoredImages(gb_cache::CacheDb);

impl gb_dockerfile::ImageResolver for StoredImages {
    fn resolve(
        &self,
        reference: &gb_ir::ImageReference,
        platform: &Platform,
    ) -> Result<Option<gb_dockerfile::ResolvedImage>, gb_dockerfile::ResolveError> {
        let Some(record) = self.0.image(&gb_cache::ImageName::of(reference)).ok().flatten() else { return Ok(None) };
        if gb_store::record_platform(&record.config).is_some_and(|actual| !platform.matches(&actual)) {
            return Ok(None);
        }
        Ok(Some(gb_dockerfile::ResolvedImage {
            manifest: Some(record.manifest_digest),
            config: gb_store::ir_config(&record.config),
            platform: gb_store::record_platform(&record.config),
        }))
    }
}

/// Lowers and prints.
pub fn run(args: LowerArgs, root: Option<&Path>) -> Result<(), Failure> {
    let prepared = prepare(&args.context, &args.dockerfile)?;
    let (file, text, options) = (&prepared.file, &prepared.text, &prepared.options);
    let as_failure = |error| Failure::dockerfile(error, file, text);
    // An image in the local store is used as it is (config applied, manifest pinned).
    let root = root.map_or_else(gb_client::default_root, Path::to_path_buf);
    let store = gb_cache::CacheDb::open_read_only(&root).ok().flatten().map(StoredImages);
    let lowered = match &store {
        Some(images) => gb_dockerfile::lower(text, options, images),
        None => gb_dockerfile::lower(text, options, &NoImages),
    }
    .map_err(as_failure)?;
    for warning in &lowered.warnings {
        report::print_warning(file, warning);
    }
    match args.format {
        GraphFormat::Json => out!("{}", lowered.definition.to_json()),
        GraphFormat::Dot => out!("{}", gb_ir::to_dot(&lowered.definition)),
    }
    Ok(())
}

/// Parses `--add-host HOST:IP` (or `HOST=IP`; an IPv6 address keeps its colons) into the IR's
/// `name=ip` entries.
pub fn parse_add_hosts(hosts: &[String]) -> Result<Vec<String>, Failure> {
    hosts
        .iter()
        .map(|entry| {
            let (name, ip) = entry
                .split_once('=')
                .or_else(|| entry.split_once(':'))
                .ok_or_else(|| Failure::Input(format!("--add-host {entry}: expected HOST:IP")))?;
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(Failure::Input(format!("--add-host {entry}: {name:?} is not a host name")));
            }
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| Failure::Input(format!("--add-host {entry}: {ip:?} is not an IP address")))?;
            Ok(format!("{name}={ip}"))
        })
        .collect()
}

/// The build args with `SOURCE_DATE_EPOCH` from the environment when no `--build-arg` sets it,
/// as buildx passes the variable.
fn with_source_date_epoch(mut build_args: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if !build_args.contains_key(gb_dockerfile::SOURCE_DATE_EPOCH)
        && let Some(value) = crate::session::var(gb_dockerfile::SOURCE_DATE_EPOCH)
    {
        build_args.insert(gb_dockerfile::SOURCE_DATE_EPOCH.to_owned(), value);
    }
    build_args
}

/// Parses `--build-arg` values; a bare `KEY` takes its value from the environment, as Docker.
pub fn parse_build_args(args: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut map = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some(("", _)) => return Err(Failure::Input(format!("invalid --build-arg {arg:?}: the name is empty"))),
            Some((key, value)) => {
                map.insert(key.to_owned(), value.to_owned());
            }
            None => {
                if let Some(value) = crate::session::var(arg) {
                    map.insert(arg.clone(), value);
                }
            }
        }
    }
    Ok(map)
}

/// The named contexts and their local directories.
type BuildContexts = (BTreeMap<String, gb_dockerfile::NamedContext>, BTreeMap<String, std::path::PathBuf>);

/// Parses `--build-context NAME=VALUE` as buildx does: `docker-image://REF` is an image; a value
/// with another scheme is refused (`build` turns URLs and `oci-layout://` into directories and
/// images first); anything else is a local directory, read with its own `.dockerignore`.
fn parse_build_contexts(values: &[String], file: &str, text: &str) -> Result<BuildContexts, Failure> {
    let mut contexts = BTreeMap::new();
    let mut locals = BTreeMap::new();
    for value in values {
        let invalid = |why: String| Failure::Input(format!("--build-context {value}: {why}"));
        let (name, target) = value.split_once('=').ok_or_else(|| invalid("expected NAME=VALUE".to_owned()))?;
        if name.is_empty() || target.is_empty() {
            return Err(invalid("expected NAME=VALUE".to_owned()));
        }
        let key = gb_dockerfile::named_context_key(name);
        let context = if let Some(image) = target.strip_prefix("docker-image://") {
            gb_ir::ImageReference::parse(image).map_err(|e| invalid(e.to_string()))?;
            gb_dockerfile::NamedContext::Image(image.to_owned())
        } else if let Some((scheme, _)) = target.split_once("://") {
            // `build` fetches git and http(s) contexts into directories and stores OCI layouts'
            // images before this; `lower` fetches and stores nothing.
            return Err(invalid(format!(
                "{scheme}:// build contexts are not supported here (a directory, docker-image://, or a git or http(s) URL or oci-layout:// with `build`)"
            )));
        } else {
            let dir = std::path::absolute(target).map_err(|e| invalid(e.to_string()))?;
            if !dir.is_dir() {
                return Err(invalid(format!("{} is not a directory", dir.display())));
            }
            let exclude = gb_dockerfile::dockerignore::load(&dir, &dir.join("Dockerfile"))
                .map_err(|e| Failure::dockerfile(e, file, text))?;
            let local = format!("context:{key}");
            locals.insert(local.clone(), dir);
            gb_dockerfile::NamedContext::Local { name: local, exclude }
        };
        contexts.insert(key, context);
    }
    Ok((contexts, locals))
}

/// Parses `--shm-size` as Docker's `units.RAMInBytes` does: a number (decimals allowed) and an
/// optional binary unit `k`, `m`, `g`, `t` or `p`, optionally followed by `b`/`ib`, any case.
fn parse_shm_size(text: &str) -> Result<u64, Failure> {
    let invalid = || Failure::Input(format!("invalid --shm-size {text:?}: expected a size such as 64m or 1g"));
    let lower = text.trim().to_ascii_lowercase();
    let unit_start = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(unit_start);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(invalid()),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_shm_size;

    #[test]
    fn shm_sizes_read_as_docker_reads_them() {
        for (text, bytes) in [
            ("1024", 1024),
            ("64m", 64 << 20),
            ("1g", 1 << 30),
            ("128MB", 128 << 20),
            ("2GiB", 2 << 30),
            ("1.5k", 1536),
        ] {
            assert_eq!(parse_shm_size(text).ok(), Some(bytes), "{text}");
        }
        for bad in ["", "m", "12x", "-1m", "1e400"] {
            assert!(parse_shm_size(bad).is_err(), "{bad}");
        }
    }
}

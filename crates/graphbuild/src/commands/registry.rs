//! `pull`, `push`, `login`, `logout`, and the registry settings every command shares
//! (`--insecure-registry`, `$GRAPHBUILD_ROOT/config.toml`, `$DOCKER_CONFIG`). The config file's
//! other settings (`entitlements`) are read here too, so the file has one reader.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gb_ir::{ImageReference, Platform};
use gb_registry::{Registry, RegistryConfig};
use gb_store::StateRoot;

use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::exit::Failure;
use crate::stdout::outln;

/// The parts of `$GRAPHBUILD_ROOT/config.toml` graphbuild reads: the machine's settings, which
/// a build's command line cannot widen.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Registries reached over plain HTTP.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// The entitlements a build may be granted with `--allow` (buildkitd.toml's
    /// `insecure-entitlements`).
    #[serde(default)]
    pub entitlements: Vec<String>,
    /// `[server]`: the root's server.
    #[serde(default)]
    pub server: ServerSection,
    /// `[builds]`: the build records.
    #[serde(default)]
    pub builds: BuildsSection,
    /// `[remote-cache]`: a REAPI cache every build reads and writes.
    #[serde(default)]
    pub remote_cache: Option<RemoteCacheSection>,
}

/// `[remote-cache]` in `config.toml`: a REAPI cache (`endpoint = "grpc://HOST:PORT"`) every
/// build of the root reads from and writes to, and the bearer token for it (never printed).
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RemoteCacheSection {
    /// `grpc://HOST:PORT`.
    pub endpoint: String,
    /// The REAPI instance name.
    #[serde(default)]
    pub instance: String,
    /// What builds store: `min` (the final result, the default) or `max` (every step's).
    #[serde(default)]
    pub mode: Option<String>,
    /// Failures are warnings (`true`, the default) or the build's.
    #[serde(default)]
    pub ignore_error: Option<bool>,
    /// A bearer token sent with every call.
    #[serde(default)]
    pub token: Option<String>,
    /// For a `grpcs://` endpoint: a CA certificate (PEM file) to trust besides the system's.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// A client certificate (PEM file) for servers that ask for one (mTLS).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's key (PEM file).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl std::fmt::Debug for RemoteCacheSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCacheSection")
            .field("endpoint", &self.endpoint)
            .field("instance", &self.instance)
            .field("mode", &self.mode)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Adds the root's standing REAPI cache (`[remote-cache]`) to a build's cache options, unless
/// they name one already, and gives the token to any option naming its endpoint.
pub fn with_remote_cache(
    root: &Path,
    cache_from: &mut Vec<(gb_remote_cache::CacheLocation, gb_remote_cache::CacheMode)>,
    cache_to: &mut Vec<(gb_remote_cache::CacheLocation, gb_remote_cache::CacheMode)>,
) -> Result<(), Failure> {
    use gb_remote_cache::{CacheLocation, CacheMode};
    let Some(section) = config_file(root)?.remote_cache else { return Ok(()) };
    let invalid =
        |what: String| Failure::Input(format!("{}: [remote-cache] {what}", root.join("config.toml").display()));
    let mode = match section.mode.as_deref() {
        None | Some("min") => CacheMode::Min,
        Some("max") => CacheMode::Max,
        Some(other) => return Err(invalid(format!("mode `{other}`: expected min or max"))),
    };
    let option = format!("type=reapi,endpoint={},instance={}", section.endpoint, section.instance);
    let (location, _) = gb_remote_cache::parse_cache_option(&option).map_err(|e| invalid(format!("endpoint: {e}")))?;
    let CacheLocation::Reapi(mut standing) = location else { return Ok(()) };
    if section.client_cert.is_some() != section.client_key.is_some() {
        return Err(invalid("client-cert and client-key come together".to_owned()));
    }
    standing.ignore_error = section.ignore_error.unwrap_or(true);
    standing.token = section.token.clone();
    (standing.ca_cert, standing.client_cert, standing.client_key) =
        (section.ca_cert.clone(), section.client_cert.clone(), section.client_key.clone());
    for options in [&mut *cache_from, &mut *cache_to] {
        for (location, _) in options.iter_mut() {
            if let CacheLocation::Reapi(named) = location
                && named.endpoint == standing.endpoint
            {
                named.token = standing.token.clone();
                (named.ca_cert, named.client_cert, named.client_key) =
                    (standing.ca_cert.clone(), standing.client_cert.clone(), standing.client_key.clone());
            }
        }
        if !options.iter().any(|(location, _)| matches!(location, CacheLocation::Reapi(_))) {
            options.push((CacheLocation::Reapi(standing.clone()), mode));
        }
    }
    Ok(())
}

/// `[builds]` in `config.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildsSection {
    /// How many build records the root keeps (`gb_engine::DEFAULT_KEEP` when absent; 0 records
    /// nothing).
    #[serde(default)]
    pub keep: Option<usize>,
}

/// How many build records the root keeps.
pub fn records_kept(root: &Path) -> Result<usize, Failure> {
    Ok(config_file(root)?.builds.keep.unwrap_or(gb_engine::DEFAULT_KEEP))
}

/// `[server]` in `config.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServerSection {
    /// Seconds (or `30s`, `10m`, `1h`) without a client before the server exits.
    #[serde(default)]
    pub idle_timeout: Option<toml::Value>,
}

/// Reads `ROOT/config.toml`; a missing file is the default (nothing permitted).
pub fn config_file(root: &Path) -> Result<ConfigFile, Failure> {
    let path = root.join("config.toml");
    if !path.is_file() {
        return Ok(ConfigFile::default());
    }
    let text = std::fs::read_to_string(&path).map_err(Failure::os(format!("reading {}", path.display())))?;
    toml::from_str(&text).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}

/// The registry settings: plain-HTTP registries from the flag and the config file, and the
/// Docker config directory for credentials.
pub fn registry_config(root: &Path, insecure: &[String]) -> Result<RegistryConfig, Failure> {
    let mut all: Vec<String> = insecure.to_vec();
    all.extend(config_file(root)?.insecure_registries);
    Ok(RegistryConfig { insecure: all, docker_config_dir: docker_config_dir() })
}

/// `$DOCKER_CONFIG`, else `~/.docker` (the docker_credential convention).
pub fn docker_config_dir() -> Option<PathBuf> {
    crate::session::var("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| crate::session::var("HOME").map(|home| PathBuf::from(home).join(".docker")))
}

fn runtime() -> Result<&'static tokio::runtime::Runtime, Failure> {
    crate::session::shared_runtime().map_err(Failure::os("starting the async runtime"))
}

fn registry_failure(err: gb_registry::RegistryError) -> Failure {
    Failure::Registry(Box::new(err))
}

/// `graphbuild pull`.
pub fn pull(args: PullArgs, root: &Arc<StateRoot>, insecure: &[String]) -> Result<(), Failure> {
    let reference = ImageReference::parse(&args.name).map_err(|e| Failure::Input(e.to_string()))?;
    let platform = match &args.platform {
        Some(text) => Platform::parse(text).ok_or_else(|| Failure::Input(format!("invalid --platform {text:?}")))?,
        None => Platform::host(),
    };
    let engine = gb_engine::Engine::new(root.clone());
    let config = registry_config(root.path(), insecure)?;
    let record = runtime()?
        .block_on(engine.pull(&reference, &platform, &config))
        .map_err(|e| super::engine::engine_failure(e, None))?;
    outln!("{}: Pulled", reference.familiar());
    outln!("Digest: {}", record.manifest_digest);
    Ok(())
}

/// Pushes a stored image to the registry its name points at.
pub fn push_image(root: &Arc<StateRoot>, insecure: &[String], name: &str) -> Result<(), Failure> {
    let (full_name, _) = super::images::find(root, name)?;
    let engine = gb_engine::Engine::new(root.clone());
    let config = registry_config(root.path(), insecure)?;
    let (familiar, report) = runtime()?
        .block_on(gb_engine::push(&engine, full_name.as_str(), &config))
        .map_err(|e| super::engine::engine_failure(e, None))?;
    print_push(&familiar, &report);
    Ok(())
}

/// What `docker push` prints: each layer's fate, then the digest.
pub fn print_push(name: &str, report: &gb_registry::PushReport) {
    for digest in &report.skipped {
        outln!("{}: Layer already exists", &digest.hex()[..12]);
    }
    for digest in &report.mounted {
        outln!("{}: Mounted from another repository", &digest.hex()[..12]);
    }
    for digest in &report.uploaded {
        outln!("{}: Pushed", &digest.hex()[..12]);
    }
    outln!("{name}: digest: {}", report.manifest_digest);
}

/// `graphbuild push`.
pub fn push(args: PushArgs, root: &Arc<StateRoot>, insecure: &[String]) -> Result<(), Failure> {
    push_image(root, insecure, &args.name)
}

/// `graphbuild login`.
pub fn login(args: LoginArgs, root: &StateRoot, insecure: &[String]) -> Result<(), Failure> {
    let username = args.username.clone().ok_or_else(|| Failure::Input("login needs -u USER".to_owned()))?;
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => return Err(Failure::Input("--password and --password-stdin are exclusive".to_owned())),
        (Some(password), false) => password.clone(),
        (None, true) => {
            let mut text = String::new();
            crate::session::current().stdin().read_to_string(&mut text).map_err(Failure::os("reading the password"))?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => return Err(Failure::Input("login needs --password-stdin (or -p)".to_owned())),
    };
    let registry = Registry::new(registry_config(root.path(), insecure)?).map_err(registry_failure)?;
    runtime()?.block_on(registry.verify_login(&args.registry, &username, &password)).map_err(registry_failure)?;
    gb_registry::login(docker_config_dir().as_deref(), &args.registry, &username, &password)
        .map_err(registry_failure)?;
    outln!("Login Succeeded");
    Ok(())
}

/// `graphbuild logout`.
pub fn logout(args: LogoutArgs) -> Result<(), Failure> {
    let removed = gb_registry::logout(docker_config_dir().as_deref(), &args.registry).map_err(registry_failure)?;
    if removed {
        outln!("Removing login credentials for {}", args.registry);
    } else {
        outln!("Not logged in to {}", args.registry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_registries_come_from_the_flag_and_the_config_file() {
        let root = tempfile::tempdir().expect("root");
        std::fs::write(root.path().join("config.toml"), "insecure-registries = [\"registry.lan:5000\"]\n")
            .expect("config");
        let config = registry_config(root.path(), &["other.lan".to_owned()]).expect("parses");
        assert!(config.is_insecure("registry.lan:5000"));
        assert!(config.is_insecure("other.lan:443"));
        assert!(config.is_insecure("127.0.0.1:5000"), "loopback is always plain HTTP");
        assert!(!config.is_insecure("registry.example.com"));
        std::fs::write(root.path().join("config.toml"), "insecure-registries = 3\n").expect("config");
        assert!(registry_config(root.path(), &[]).is_err(), "a malformed config file is an error");
    }
}

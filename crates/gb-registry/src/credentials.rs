//! Credentials from the Docker config file (`config.json`), as Docker reads and writes them:
//! `auths` entries hold base64 `user:password`, `credHelpers` and `credsStore` name helper
//! programs (run through `docker_credential`). `login` and `logout` edit `auths` only.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};
use serde_json::{Map, Value};

use crate::config::docker_config_dir;
use crate::error::RegistryError;

/// The key Docker files Docker Hub's credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The username and password stored for `registry` (`host[:port]`; `docker.io` for Docker Hub)
/// in the Docker config file of `config_dir` (`None`: `$DOCKER_CONFIG`, else `~/.docker`):
/// from the registry's `credHelpers` helper, its `auths` entry, or the `credsStore` helper.
/// `None` when the file or an entry for the registry is missing.
pub fn credentials(config_dir: Option<&Path>, registry: &str) -> Result<Option<(String, String)>, RegistryError> {
    let Some(path) = config_file(config_dir) else { return Ok(None) };
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RegistryError::Io { action: "read", path, source }),
    };
    let registry = normalize(registry);
    let unusable = |reason: &str| RegistryError::Credentials { registry: registry.clone(), reason: reason.to_owned() };
    match docker_credential::get_credential_from_reader(bytes.as_slice(), server_key(&registry)) {
        Ok(DockerCredential::UsernamePassword(username, password)) => Ok(Some((username, password))),
        Ok(DockerCredential::IdentityToken(_)) => {
            Err(unusable("it is an identity token, which graphbuild cannot use; log in with a username and password"))
        }
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(None),
        // Helpers answer "credentials not found" for a registry they hold nothing for, which is
        // no failure: the registry is then used anonymously, as Docker does.
        Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. })
            if format!("{stdout}{stderr}").contains("credentials not found") =>
        {
            Ok(None)
        }
        // The helper's output is left out: it is the helper's to say what it holds.
        Err(CredentialRetrievalError::HelperFailure { helper, .. }) => {
            Err(unusable(&format!("the credential helper `{helper}` failed")))
        }
        Err(CredentialRetrievalError::ConfigReadError) => {
            Err(RegistryError::Config { path, reason: "it is not a JSON Docker config".to_owned() })
        }
        Err(other) => Err(unusable(&other.to_string())),
    }
}

/// Stores `username` and `password` for `registry` as an `auths` entry of the Docker config
/// file, creating the directory (mode 0700) and the file (mode 0600) when needed and keeping
/// everything else in it. Other spellings of the registry's key (`https://host/v1/`) are
/// replaced. Check the credentials first with [`crate::Registry::verify_login`].
pub fn login(config_dir: Option<&Path>, registry: &str, username: &str, password: &str) -> Result<(), RegistryError> {
    let path = config_file(config_dir).ok_or_else(|| no_config_dir(registry))?;
    let mut document = read_document(&path)?;
    let auths = auths_of(&path, &mut document)?;
    let registry = normalize(registry);
    auths.retain(|key, _| normalize(key) != registry);
    let mut entry = Map::new();
    entry.insert("auth".to_owned(), Value::String(base64(format!("{username}:{password}").as_bytes())));
    auths.insert(server_key(&registry).to_owned(), Value::Object(entry));
    write_document(&path, &document)
}

/// Removes the `auths` entries of `registry` from the Docker config file; returns whether there
/// was one.
pub fn logout(config_dir: Option<&Path>, registry: &str) -> Result<bool, RegistryError> {
    let Some(path) = config_file(config_dir) else { return Ok(false) };
    if !path.exists() {
        return Ok(false);
    }
    let mut document = read_document(&path)?;
    let auths = auths_of(&path, &mut document)?;
    let registry = normalize(registry);
    let before = auths.len();
    auths.retain(|key, _| normalize(key) != registry);
    if auths.len() == before {
        return Ok(false);
    }
    write_document(&path, &document)?;
    Ok(true)
}

fn config_file(config_dir: Option<&Path>) -> Option<PathBuf> {
    docker_config_dir(config_dir).map(|dir| dir.join("config.json"))
}

fn no_config_dir(registry: &str) -> RegistryError {
    RegistryError::Credentials {
        registry: registry.to_owned(),
        reason: "there is no Docker config directory: set DOCKER_CONFIG or HOME".to_owned(),
    }
}

/// A registry as `auths` keys name it, reduced to `host[:port]` (`https://host/v1/` → `host`),
/// with Docker Hub's names all `docker.io`.
fn normalize(key: &str) -> String {
    let bare = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

/// The key Docker files a (normalized) registry's credentials under, and asks helpers about.
fn server_key(registry: &str) -> &str {
    if registry == "docker.io" { DOCKER_HUB_KEY } else { registry }
}

fn read_document(path: &Path) -> Result<Map<String, Value>, RegistryError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => return Err(RegistryError::Io { action: "read", path: path.to_path_buf(), source }),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RegistryError::Config { path: path.to_path_buf(), reason: "it is not a JSON object".to_owned() }),
        // serde_json's message names a line and column, never the content.
        Err(error) => Err(RegistryError::Config { path: path.to_path_buf(), reason: error.to_string() }),
    }
}

fn auths_of<'d>(
    path: &Path,
    document: &'d mut Map<String, Value>,
) -> Result<&'d mut Map<String, Value>, RegistryError> {
    match document.entry("auths").or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(auths) => Ok(auths),
        _ => Err(RegistryError::Config { path: path.to_path_buf(), reason: "`auths` is not an object".to_owned() }),
    }
}

/// Writes the file beside itself with mode 0600 and renames it into place, so a crash leaves
/// the old file or the new one, and the credentials are never readable by others.
fn write_document(path: &Path, document: &Map<String, Value>) -> Result<(), RegistryError> {
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Io { action, path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_error("create", dir))?;
    let tmp = dir.join(format!(".config.json.tmp-{}", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(document).map_err(|error| RegistryError::Internal(error.to_string()))?;
    bytes.push(b'\n');
    let written = (|| {
        // A stale file of an earlier crash might have another mode; start afresh.
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()
    })();
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    if let Err(source) = renamed {
        // Best effort: the temporary file holds the credentials.
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", path)(source));
    }
    Ok(())
}

/// Standard base64 with padding, as Docker writes `auth` entries.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:p@ss/w?rd"), "dXNlcjpwQHNzL3c/cmQ=");
    }

    #[test]
    fn login_writes_an_entry_credentials_reads_and_logout_removes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("docker");
        assert_eq!(credentials(Some(&config), "127.0.0.1:5000").expect("no file"), None);
        assert!(!logout(Some(&config), "127.0.0.1:5000").expect("no file"));

        login(Some(&config), "127.0.0.1:5000", "alice", "s3cret:x").expect("login");
        login(Some(&config), "docker.io", "bob", "hub").expect("login");
        let file = config.join("config.json");
        assert_eq!(fs::metadata(&file).expect("stat").permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&config).expect("stat").permissions().mode() & 0o777, 0o700);
        let document: Value = serde_json::from_slice(&fs::read(&file).expect("read")).expect("json");
        assert_eq!(document["auths"]["127.0.0.1:5000"]["auth"], base64(b"alice:s3cret:x"));
        assert!(document["auths"][DOCKER_HUB_KEY].is_object(), "{document}");

        assert_eq!(
            credentials(Some(&config), "127.0.0.1:5000").expect("read"),
            Some(("alice".to_owned(), "s3cret:x".to_owned()))
        );
        assert_eq!(
            credentials(Some(&config), "index.docker.io").expect("read"),
            Some(("bob".to_owned(), "hub".to_owned()))
        );
        assert_eq!(credentials(Some(&config), "127.0.0.1:5001").expect("read"), None);

        assert!(logout(Some(&config), "127.0.0.1:5000").expect("logout"));
        assert!(!logout(Some(&config), "127.0.0.1:5000").expect("logout again"));
        assert_eq!(credentials(Some(&config), "127.0.0.1:5000").expect("read"), None);
        assert!(credentials(Some(&config), "docker.io").expect("read").is_some());
    }

    #[test]
    fn login_keeps_other_settings_and_replaces_other_spellings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.json");
        fs::write(
            &file,
            r#"{"auths": {"https://reg.example:5000/v1/": {"auth": "b2xkOm9sZA=="}}, "psFormat": "table"}"#,
        )
        .expect("write");
        login(Some(dir.path()), "reg.example:5000", "new", "pass").expect("login");
        let document: Value = serde_json::from_slice(&fs::read(&file).expect("read")).expect("json");
        assert_eq!(document["psFormat"], "table");
        let auths = document["auths"].as_object().expect("auths");
        assert_eq!(auths.keys().collect::<Vec<_>>(), ["reg.example:5000"]);
        assert_eq!(
            credentials(Some(dir.path()), "reg.example:5000").expect("read"),
            Some(("new".to_owned(), "pass".to_owned()))
        );
    }

    #[test]
    fn a_broken_config_file_is_an_error_that_shows_no_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("config.json"), r#"{"auths": {"r": {"auth": "c2VjcmV0"#).expect("write");
        let error = credentials(Some(dir.path()), "r").expect_err("broken");
        assert!(matches!(error, RegistryError::Config { .. }), "{error:?}");
        assert!(!error.to_string().contains("c2VjcmV0"), "{error}");
        let error = login(Some(dir.path()), "r", "u", "p").expect_err("broken");
        assert!(!format!("{error} {error:?}").contains("c2VjcmV0"), "{error}");
    }
}

//! The download itself: one GET (following redirects), streamed to a temporary file in the
//! destination while hashing, checked, then renamed into place with BuildKit's mode and mtime.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use gb_ir::Sha256Digest;
use sha2::{Digest as _, Sha256};
use ureq::Agent;

use super::date::parse_http_date;
use super::filename::download_file_name;
use crate::error::FetchError;
use crate::redact::redact_credentials;

/// BuildKit writes downloads with mode 0600 (`AttrHTTPPerm` unset).
const FILE_MODE: u32 = 0o600;
/// How long establishing a connection (DNS, TCP, TLS, proxy) may take; the transfer itself has no
/// limit, as large downloads over slow links are legitimate.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const BUFFER_SIZE: usize = 64 * 1024;
/// As many redirects as ureq (and Go's client, which BuildKit uses) follow by default.
const MAX_REDIRECTS: usize = 10;

/// A downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Where it was written: `dest_dir/<file name>`.
    pub path: PathBuf,
    /// The sha256 of its content.
    pub sha256: Sha256Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// Downloads `url` into `dest_dir` (created when missing) as one file.
///
/// The file is named `filename` when given, else by the response's `Content-Disposition`, else by
/// the last path segment of `url` as written (not of where redirects led), else `download`, each
/// reduced to a plain file name as BuildKit does. It gets mode 0600 and the `Last-Modified` time
/// as its mtime (the Unix epoch without one, as BuildKit, so the result does not depend on when
/// it was fetched). The body is streamed to disk while hashed, never held in memory. When
/// `checksum` is given and differs, the call fails and leaves no file.
///
/// Redirects are followed (up to 10), but only to http and https URLs (a `file://` target is an
/// error) and never from https down to http; a final status other than 2xx is an error. Connecting may take 30 s, the transfer is
/// not limited. `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
/// (and their lower-case forms) are honoured. Credentials in the URL are sent as basic auth and
/// never appear in messages.
pub fn fetch_http(
    url: &str,
    checksum: Option<&Sha256Digest>,
    filename: Option<&str>,
    dest_dir: &Path,
) -> Result<Fetched, FetchError> {
    let shown_url = redact_credentials(url);
    let request_error = |error: &dyn std::fmt::Display| FetchError::Request {
        url: shown_url.clone(),
        message: redact_credentials(&error.to_string()),
    };

    let response = get_following_redirects(url)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::HttpStatus { url: shown_url, status: status.as_u16() });
    }
    let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok());
    let name = download_file_name(url, filename, header("content-disposition"));
    let mtime = header("last-modified").and_then(parse_http_date).unwrap_or(SystemTime::UNIX_EPOCH);

    fs::create_dir_all(dest_dir).map_err(|source| FetchError::io("create", dest_dir, source))?;
    let mut partial = PartialFile::create(dest_dir)?;
    let mut body = response.into_body().into_reader();
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(request_error(&error)),
        };
        hasher.update(&buffer[..read]);
        partial.write_all(&buffer[..read])?;
        size += read as u64;
    }
    let actual = Sha256Digest::from_bytes(hasher.finalize().into());
    if let Some(expected) = checksum
        && *expected != actual
    {
        return Err(FetchError::ChecksumMismatch { url: shown_url, expected: *expected, actual });
    }

    let path = dest_dir.join(&name);
    partial.finish(mtime, &path)?;
    Ok(Fetched { path, sha256: actual, size })
}

/// GETs `url`, following up to [`MAX_REDIRECTS`] redirects to http(s) URLs only; returns the
/// first response that is not a redirect (or a redirect without a `Location`).
///
/// Redirects are followed here rather than by ureq, which has no hook to vet a target: it reads
/// a `Location` such as `file:///etc/passwd` as a path on the same server and requests it.
fn get_following_redirects(url: &str) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
    let mut current = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let shown = redact_credentials(&current);
        let response = agent().get(&current).call().map_err(|error| FetchError::Request {
            url: shown.clone(),
            message: redact_credentials(&error.to_string()),
        })?;
        let location = response.headers().get("location").filter(|_| response.status().is_redirection());
        let Some(location) = location else { return Ok(response) };
        let refused = |location: &str, reason| FetchError::Redirect {
            url: shown.clone(),
            location: redact_credentials(location),
            reason,
        };
        let location = location.to_str().map_err(|_| refused("(a non-ASCII Location)", "it is not a URL"))?;
        current = redirect_target(&current, location).map_err(|reason| refused(location, reason))?;
    }
    Err(FetchError::Request { url: redact_credentials(url), message: format!("more than {MAX_REDIRECTS} redirects") })
}

/// The URL a redirect from `from` to `location` leads to (a relative `location` is resolved
/// against `from`, as browsers and Go's client do), when it is http or https and does not leave
/// https for http.
///
/// Go's client, and so BuildKit, follow a downgrade; curl and docker refuse it, and so does
/// this: whoever can answer the https request could otherwise send the rest of the download
/// (and any credentials in the URL) over plain http, where anyone on the path can read or
/// change it. An `ADD` without `--checksum` has nothing else to catch changed bytes.
fn redirect_target(from: &str, location: &str) -> Result<String, &'static str> {
    let base = url::Url::parse(from).map_err(|_| "the redirecting URL cannot be parsed")?;
    let target = base.join(location).map_err(|_| "it is not a URL")?;
    match (base.scheme(), target.scheme()) {
        ("https", "http") => Err("a redirect from https to plain http is refused"),
        (_, "http" | "https") => Ok(target.into()),
        _ => Err("only http and https redirects are followed"),
    }
}

/// One agent for the process, so connections are reused across downloads.
fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            // Redirects are followed by `get_following_redirects`, which checks each target.
            .max_redirects(0)
            // Statuses are checked here so the error can name the URL.
            .http_status_as_error(false)
            .user_agent(concat!("graphbuild/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent()
    })
}

/// The download in progress: a hidden file next to its final place (so the rename is atomic and
/// a failed download never leaves a file under the final name), removed unless finished.
struct PartialFile {
    path: PathBuf,
    file: File,
    finished: bool,
}

impl PartialFile {
    fn create(dir: &Path) -> Result<Self, FetchError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".gb-fetch-{}-{unique}.partial", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|source| FetchError::io("create", &path, source))?;
        Ok(Self { path, file, finished: false })
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.file.write_all(bytes).map_err(|source| FetchError::io("write", &self.path, source))
    }

    /// Sets the mode (exactly, whatever the umask) and mtime, and renames into `dest`.
    fn finish(mut self, mtime: SystemTime, dest: &Path) -> Result<(), FetchError> {
        self.file
            .set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(|source| FetchError::io("set the mode of", &self.path, source))?;
        self.file.set_modified(mtime).map_err(|source| FetchError::io("set the mtime of", &self.path, source))?;
        fs::rename(&self.path, dest).map_err(|source| FetchError::io("rename", dest, source))?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: the error that brought us here is the one to report.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redirect_target;

    #[test]
    fn https_never_redirects_down_to_http() {
        let refused = Err("a redirect from https to plain http is refused");
        assert_eq!(redirect_target("https://example.com/a", "http://example.com/b"), refused);
        assert_eq!(redirect_target("https://example.com/a", "HTTP://example.com/a"), refused, "schemes are case-blind");
        assert_eq!(redirect_target("https://example.com/a", "http://other.example:8080/a"), refused);
        assert_eq!(redirect_target("https://u:p@example.com/a", "http://example.com/a"), refused);
        // A scheme-relative location keeps https.
        assert_eq!(
            redirect_target("https://example.com/a", "//mirror.example/b").as_deref(),
            Ok("https://mirror.example/b")
        );
    }

    #[test]
    fn other_redirects_between_http_and_https_are_followed() {
        assert_eq!(redirect_target("https://example.com/a", "/b").as_deref(), Ok("https://example.com/b"));
        assert_eq!(
            redirect_target("https://example.com/a", "https://cdn.example/b").as_deref(),
            Ok("https://cdn.example/b")
        );
        assert_eq!(
            redirect_target("http://example.com/a", "https://example.com/a").as_deref(),
            Ok("https://example.com/a")
        );
        assert_eq!(
            redirect_target("http://example.com/a", "http://cdn.example/b").as_deref(),
            Ok("http://cdn.example/b")
        );
        assert_eq!(redirect_target("http://example.com/a", "/b").as_deref(), Ok("http://example.com/b"));
        assert_eq!(
            redirect_target("https://example.com/a", "file:///etc/passwd"),
            Err("only http and https redirects are followed")
        );
    }
}

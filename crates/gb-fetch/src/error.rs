//! The crate's error type, with the kind of each failure so callers can tell a bad source from a
//! failing server or machine.

use std::io;
use std::path::PathBuf;

use gb_ir::Sha256Digest;

/// Who is to blame for a [`FetchError`], so the CLI can pick an exit code and say which it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The build's input is wrong: a checksum that does not match, a ref or subdir that does not
    /// exist, a malformed URL or ref.
    Input,
    /// An outside service failed: an http error status, a refused connection, a git server that
    /// would not answer.
    Remote,
    /// The machine failed: no `git`, a full disk, a destination that cannot be written.
    Environment,
}

/// Why a fetch failed. URLs and remotes in every field are redacted (no credentials).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request could not be made or its response not read: a bad URL, DNS, a refused or
    /// timed-out connection, too many redirects, TLS.
    #[error("cannot fetch {url}: {message}")]
    Request {
        /// The URL, redacted.
        url: String,
        /// What went wrong, redacted.
        message: String,
    },
    /// The server answered with a status other than 2xx (after following redirects).
    #[error("cannot fetch {url}: http status {status}")]
    HttpStatus {
        /// The URL, redacted.
        url: String,
        /// The final status code.
        status: u16,
    },
    /// A redirect to a scheme other than http or https (`file://`, `ftp://`), or to a `Location`
    /// that is not a URL: never followed, so a server cannot point a download at anything but
    /// another web resource.
    #[error("cannot fetch {url}: refusing to follow its redirect to {location}: {reason}")]
    Redirect {
        /// The URL that answered with the redirect, redacted.
        url: String,
        /// The `Location` it named, redacted.
        location: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The downloaded content's sha256 differs from the expected checksum; no file is left.
    #[error("checksum mismatch for {url}: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// The URL, redacted.
        url: String,
        /// The checksum the build asked for.
        expected: Sha256Digest,
        /// The checksum of what the server sent.
        actual: Sha256Digest,
    },
    /// A destination file or directory could not be written.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done (`create`, `write`, `rename`, ...).
        op: &'static str,
        /// The host path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The `git` program could not be started.
    #[error("cannot run git (is it installed?): {source}")]
    GitUnavailable {
        /// The underlying error.
        source: io::Error,
    },
    /// A git command failed; `stderr` is what git said, redacted.
    #[error("`git {command}` failed for {remote}: {stderr}")]
    GitCommand {
        /// The remote, redacted.
        remote: String,
        /// The git arguments, redacted.
        command: String,
        /// Git's error output, redacted and trimmed.
        stderr: String,
    },
    /// The remote has no such branch, tag or commit (or, without a ref, no default branch).
    #[error("{remote} has no branch, tag or commit `{reference}`")]
    RefNotFound {
        /// The remote, redacted.
        remote: String,
        /// The ref as written (`HEAD` for the default branch).
        reference: String,
    },
    /// The ref resolved to a commit other than the expected checksum.
    #[error("commit mismatch for {remote}: expected {expected}, got {actual}")]
    CommitMismatch {
        /// The remote, redacted.
        remote: String,
        /// The expected commit (full or a prefix).
        expected: String,
        /// The commit the ref resolved to.
        actual: String,
    },
    /// The remote, ref, subdir or checksum is not acceptable as written.
    #[error("invalid git {what} `{value}`: {reason}")]
    InvalidGitSource {
        /// Which part: `remote`, `ref`, `subdir` or `checksum`.
        what: &'static str,
        /// The value as written, redacted.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The subdir does not exist in the checkout or is not a directory (symlinks are refused).
    #[error("{remote} has no directory `{subdir}` at {commit}")]
    SubdirNotFound {
        /// The remote, redacted.
        remote: String,
        /// The subdir as normalized.
        subdir: String,
        /// The commit checked out.
        commit: String,
    },
    /// A git checkout's destination already holds files.
    #[error("cannot check out into {path}: the directory is not empty")]
    DestinationNotEmpty {
        /// The host path.
        path: PathBuf,
    },
}

impl FetchError {
    /// Who is to blame.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Request { .. } | Self::HttpStatus { .. } | Self::Redirect { .. } | Self::GitCommand { .. } => {
                ErrorKind::Remote
            }
            Self::Io { .. } | Self::GitUnavailable { .. } => ErrorKind::Environment,
            Self::ChecksumMismatch { .. }
            | Self::RefNotFound { .. }
            | Self::CommitMismatch { .. }
            | Self::InvalidGitSource { .. }
            | Self::SubdirNotFound { .. }
            | Self::DestinationNotEmpty { .. } => ErrorKind::Input,
        }
    }

    /// An IO error about `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { op, path: path.into(), source }
    }
}

//! The crate's error type, with the kind of each failure so callers can tell bad input from a bad environment.

use std::io;
use std::path::PathBuf;

/// Who is to blame for a [`FileOpError`], so the CLI can pick an exit code and say which it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The build's input is wrong: a missing source path, an unknown user, a bad `--chmod`, an
    /// archive that tries to write outside its destination.
    Input,
    /// The machine failed us: an IO error (full disk, permissions, a vanished mount).
    Environment,
    /// The caller broke a contract of this crate (e.g. no source root for a copy's input).
    Bug,
}

/// Why a file action failed. Paths in messages are in-image paths where the user wrote them,
/// host paths only for IO errors (where the host path is what helps).
#[derive(Debug, thiserror::Error)]
pub enum FileOpError {
    /// A copy source that does not exist (or is excluded by `.dockerignore`), as BuildKit's
    /// `failed to compute cache key: "/x": not found`.
    #[error("{path:?}: not found")]
    SourceNotFound {
        /// The source path as written, with a leading `/`.
        path: String,
    },
    /// A wildcard source that matched nothing, without `allow_empty_wildcard`.
    #[error("no source files match {pattern:?}")]
    NoMatch {
        /// The source pattern as written.
        pattern: String,
    },
    /// A path removed by `rm` that does not exist, without `allow_not_found`.
    #[error("{path:?}: not found")]
    NotFound {
        /// The in-image path.
        path: String,
    },
    /// The parent of a copy destination is missing and `create_dest_path` is off.
    #[error("destination parent of {dest:?} does not exist")]
    DestParentMissing {
        /// The destination as written.
        dest: String,
    },
    /// A file or link would replace a directory.
    #[error("cannot replace directory {path:?} with a file")]
    ReplaceDirectory {
        /// The in-image path of the directory.
        path: String,
    },
    /// A directory would be written where a non-directory is.
    #[error("cannot copy a directory onto non-directory {path:?}")]
    NotADirectory {
        /// The in-image path of the non-directory.
        path: String,
    },
    /// A path that names nothing that can be changed, such as `rm /`.
    #[error("invalid path {path:?} for {action}")]
    InvalidPath {
        /// The path as written.
        path: String,
        /// The action (`rm`, `mkfile`, ...).
        action: &'static str,
    },
    /// A user name without an entry in the root file system's `/etc/passwd`.
    #[error("unable to find user {name:?} in /etc/passwd")]
    UnknownUser {
        /// The name.
        name: String,
    },
    /// A group name without an entry in the root file system's `/etc/group`.
    #[error("unable to find group {name:?} in /etc/group")]
    UnknownGroup {
        /// The name.
        name: String,
    },
    /// A `--chmod` value that is neither octal nor a symbolic mode.
    #[error("invalid chmod {mode:?}: expected octal digits or a symbolic mode like u+x,go-w")]
    InvalidChmod {
        /// The value as written.
        mode: String,
    },
    /// An `include` or `exclude` pattern Docker would reject.
    #[error(transparent)]
    Pattern(#[from] gb_patterns::PatternError),
    /// An archive entry (or a link in it) that would land outside the extraction directory.
    #[error("archive {archive:?}: entry {entry:?} points outside the destination")]
    UnsafeArchive {
        /// The archive's source path.
        archive: String,
        /// The offending entry name.
        entry: String,
    },
    /// An archive entry of a kind that cannot be extracted.
    #[error("archive {archive:?}: entry {entry:?} has unsupported type {kind}")]
    UnsupportedArchiveEntry {
        /// The archive's source path.
        archive: String,
        /// The entry name.
        entry: String,
        /// The tar type flag.
        kind: u8,
    },
    /// Symlinks nested too deep (or in a loop) while resolving a path inside a root.
    #[error("too many levels of symbolic links resolving {path:?}")]
    TooManyLinks {
        /// The in-image path.
        path: String,
    },
    /// A copy names an input that has no source root.
    #[error("copy reads input {index}, which has no source directory")]
    MissingSource {
        /// The input index.
        index: u32,
    },
    /// An IO operation failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// The host path.
        path: PathBuf,
        /// What was being done (`open`, `mkdir`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl FileOpError {
    /// Who is to blame.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { .. } => ErrorKind::Environment,
            Self::MissingSource { .. } => ErrorKind::Bug,
            _ => ErrorKind::Input,
        }
    }

    /// An IO error about `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), op, source }
    }

    /// An IO error from nix about `path`.
    pub(crate) fn nix(op: &'static str, path: impl Into<PathBuf>, errno: nix::errno::Errno) -> Self {
        Self::Io { path: path.into(), op, source: io::Error::from(errno) }
    }
}

/// Shorthand for results in this crate.
pub(crate) type Result<T, E = FileOpError> = std::result::Result<T, E>;

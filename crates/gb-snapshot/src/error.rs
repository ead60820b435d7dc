//! The crate's error: which operation failed on which path, and whose fault that is.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// Who is to blame for a failure, so callers can map errors to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is bad: a malicious or malformed tar, an invalid pattern, a snapshot of more
    /// layers than overlayfs can stack (a build of too many steps).
    Input,
    /// The machine failed: a mount, a write or a read failed, the disk is full.
    Environment,
    /// The caller broke a rule of this API (committing a mounted work dir, an invalid layer id).
    Bug,
}

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A filesystem operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `rename`, `read`...).
        op: &'static str,
        /// The host path it was done to.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A mount failed.
    #[error("cannot mount {what} on {}: {source}", target.display())]
    Mount {
        /// What was mounted (`overlay of 3 layers`, `layer ID`).
        what: String,
        /// The mount point.
        target: PathBuf,
        /// The system's error.
        #[source]
        source: Errno,
    },
    /// An unmount failed.
    #[error("cannot unmount {}: {source}", path.display())]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: Errno,
    },
    /// A snapshot names a layer that is not in the store.
    #[error("layer {id} is not in the store (no directory {})", path.display())]
    LayerNotFound {
        /// The layer's id.
        id: String,
        /// Where it should be.
        path: PathBuf,
    },
    /// A layer id that cannot name a directory of its own.
    #[error("invalid layer id `{id}`: it must be 32 lowercase hex digits")]
    InvalidLayerId {
        /// The id.
        id: String,
    },
    /// The state root's path cannot be written into overlay mount options.
    #[error("the state root {} contains `{ch}`, which overlay mount options cannot carry", path.display())]
    UnsupportedRoot {
        /// The state root.
        path: PathBuf,
        /// The offending character.
        ch: char,
    },
    /// The overlay options for this many layers do not fit in the kernel's one-page limit: the
    /// build stacked more layers (steps) than overlayfs can mount.
    #[error(
        "{layers} layers are more than overlayfs can stack here: at most {max_layers} fit in the kernel's \
         {max}-byte limit on mount options (these take {len}); use fewer steps, e.g. by joining RUN commands"
    )]
    TooManyLayers {
        /// How many layers the snapshot has.
        layers: usize,
        /// How many of them would have fitted.
        max_layers: usize,
        /// The options' length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A work dir is committed or mounted again while a writable mount of it is alive.
    #[error("work dir {} is still mounted", path.display())]
    StillMounted {
        /// The work dir's upper dir.
        path: PathBuf,
    },
    /// Reading a tar stream failed (a read error or a malformed archive).
    #[error("cannot read the tar stream: {source}")]
    TarRead {
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing a tar stream failed.
    #[error("cannot write the tar stream at {}: {source}", path.display())]
    TarWrite {
        /// The entry being written, relative to the tree.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tar entry would write outside the root, through a symlink, or link to something outside.
    #[error("refusing tar entry `{entry}`: {reason}")]
    UnsafeEntry {
        /// The entry's path as written in the archive.
        entry: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A tar entry of a type a layer cannot hold.
    #[error("unsupported tar entry `{entry}` of type {kind}")]
    UnsupportedEntry {
        /// The entry's path as written in the archive.
        entry: String,
        /// Its type, as the tar crate names it.
        kind: String,
    },
    /// A layer holds overlay metadata that an OCI layer tar cannot express.
    #[error("{} carries the overlay attribute `{xattr}`, which a layer tar cannot express", path.display())]
    UnsupportedOverlayXattr {
        /// The file in the layer directory.
        path: PathBuf,
        /// The attribute's name.
        xattr: String,
    },
    /// A path given to a [`crate::ConfinedDir`] operation that cannot name an entry below it.
    #[error("`{}` cannot be used below a confined directory: {reason}", path.display())]
    InvalidRelativePath {
        /// The path as given.
        path: PathBuf,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An include or exclude pattern is invalid.
    #[error("invalid pattern: {0}")]
    Pattern(#[from] gb_patterns::PatternError),
    /// The per-file index failed.
    #[error("the file index failed to {op}: {source}")]
    Index {
        /// `read records` or `write records`.
        op: &'static str,
        /// The index's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl SnapshotError {
    /// Whose fault the failure is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::TarRead { .. }
            | SnapshotError::UnsafeEntry { .. }
            | SnapshotError::UnsupportedEntry { .. }
            | SnapshotError::TooManyLayers { .. }
            | SnapshotError::Pattern(_) => ErrorKind::Input,
            SnapshotError::Io { .. }
            | SnapshotError::Mount { .. }
            | SnapshotError::Unmount { .. }
            | SnapshotError::LayerNotFound { .. }
            | SnapshotError::UnsupportedRoot { .. }
            | SnapshotError::TarWrite { .. }
            | SnapshotError::Index { .. } => ErrorKind::Environment,
            SnapshotError::InvalidLayerId { .. }
            | SnapshotError::StillMounted { .. }
            | SnapshotError::InvalidRelativePath { .. }
            | SnapshotError::UnsupportedOverlayXattr { .. } => ErrorKind::Bug,
        }
    }

    /// For `map_err`: an IO error while doing `op` to `path`.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
        let path = path.to_path_buf();
        move |source| SnapshotError::Io { op, path, source }
    }

    /// For `map_err`: an errno while doing `op` to `path`.
    pub(crate) fn errno(op: &'static str, path: &Path) -> impl FnOnce(Errno) -> SnapshotError {
        let path = path.to_path_buf();
        move |errno| SnapshotError::Io { op, path, source: io::Error::from(errno) }
    }
}

//! The crate's error: what failed, naming the layer, blob or path, and whose fault it is.

use std::io;
use std::path::PathBuf;

use gb_cache::{CacheError, LayerId};
use gb_ir::Sha256Digest;
use gb_snapshot::SnapshotError;

/// Who is to blame for a failure, so the CLI can map it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is bad: an unknown compression name, a malformed or tampered archive, an
    /// environment word that does not expand.
    Input,
    /// The machine failed: a read or write, a full disk, a missing blob or layer.
    Environment,
    /// graphbuild produced something it cannot describe (an invalid OCI structure).
    Bug,
}

/// Why an export or a load failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A compression name that is none of `gzip`, `zstd`, `uncompressed`.
    #[error("unknown compression `{0}`: expected gzip, zstd or uncompressed")]
    UnknownCompression(String),
    /// Reading a layer (its diff tar, its directory) failed.
    #[error("cannot export layer {layer}: {source}")]
    Layer {
        /// The layer.
        layer: LayerId,
        /// What went wrong.
        #[source]
        source: SnapshotError,
    },
    /// Compressing a layer into its blob failed.
    #[error("cannot compress layer {layer}: {source}")]
    Compress {
        /// The layer.
        layer: LayerId,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The cache database or the content store failed.
    #[error("cannot {action}: {source}")]
    Store {
        /// What was being done, naming the blob or layer (`read manifest sha256:…`).
        action: String,
        /// What went wrong.
        #[source]
        source: CacheError,
    },
    /// A file system operation outside the store failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `write`, `read`…).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Writing into an output directory failed, or would have gone through a link in it.
    #[error("cannot write into {}: {source}", dest.display())]
    Dest {
        /// The output directory.
        dest: PathBuf,
        /// What went wrong.
        #[source]
        source: SnapshotError,
    },
    /// An output path that names something an archive cannot be written over (a directory, a
    /// block device, a socket).
    #[error("refusing to write {}: it is {what}; an archive goes to a file, a character device or a fifo",
        path.display())]
    NotAFile {
        /// The output path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// A manifest, config or index blob that does not say what an image needs.
    #[error("invalid {what} {digest}: {reason}")]
    InvalidBlob {
        /// `manifest`, `config`, `index`.
        what: &'static str,
        /// The blob.
        digest: Sha256Digest,
        /// What is wrong with it.
        reason: String,
    },
    /// An archive or layout that is neither a complete OCI layout nor a docker-archive.
    #[error("{}: {reason}", path.display())]
    InvalidArchive {
        /// The archive or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Content that does not hash to the digest it is named by.
    #[error("{what} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which content (`blob blobs/sha256/… in app.tar`, `layer sha256:… of image …`).
        what: String,
        /// The digest it should have.
        expected: Sha256Digest,
        /// The digest it has.
        actual: Sha256Digest,
    },
    /// Importing a layer tar into the snapshot store failed.
    #[error("cannot import layer blob {blob}: {source}")]
    Import {
        /// The layer's blob.
        blob: Sha256Digest,
        /// What went wrong.
        #[source]
        source: SnapshotError,
    },
    /// A deferred environment word that does not expand.
    #[error("cannot expand the value of {name} ({word:?}) against the base image's environment: {source}")]
    Expand {
        /// The variable.
        name: String,
        /// The word.
        word: String,
        /// What went wrong.
        #[source]
        source: gb_shell::ExpandError,
    },
    /// An image name that is not a valid reference.
    #[error(transparent)]
    Reference(#[from] gb_ir::ReferenceError),
    /// An OCI structure could not be built.
    #[error("cannot build the image {what}: {source}")]
    Oci {
        /// Which structure (`config`, `manifest`, `index`).
        what: &'static str,
        /// What went wrong.
        #[source]
        source: oci_spec::OciSpecError,
    },
}

impl ExportError {
    /// Whose fault the failure is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExportError::UnknownCompression(_)
            | ExportError::InvalidBlob { .. }
            | ExportError::InvalidArchive { .. }
            | ExportError::DigestMismatch { .. }
            | ExportError::Expand { .. }
            | ExportError::NotAFile { .. }
            | ExportError::Reference(_) => ErrorKind::Input,
            ExportError::Import { source, .. }
            | ExportError::Layer { source, .. }
            | ExportError::Dest { source, .. } => match source.kind() {
                gb_snapshot::ErrorKind::Input => ErrorKind::Input,
                gb_snapshot::ErrorKind::Environment => ErrorKind::Environment,
                gb_snapshot::ErrorKind::Bug => ErrorKind::Bug,
            },
            ExportError::Store { source: CacheError::DigestMismatch { .. }, .. } => ErrorKind::Input,
            ExportError::Compress { .. } | ExportError::Store { .. } | ExportError::Io { .. } => ErrorKind::Environment,
            ExportError::Oci { .. } => ErrorKind::Bug,
        }
    }

    /// For `map_err`: a store failure while doing `action`.
    pub(crate) fn store(action: impl Into<String>) -> impl FnOnce(CacheError) -> ExportError {
        let action = action.into();
        move |source| ExportError::Store { action, source }
    }

    /// For `map_err`: an IO failure while doing `action` to `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ExportError {
        let path = path.into();
        move |source| ExportError::Io { action, path, source }
    }
}

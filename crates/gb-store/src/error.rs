//! Why a store operation failed, with its source, and whose failure that is.

use std::path::PathBuf;

/// Whose failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input: a name, an image that is not there, a tarball that is not one.
    Input,
    /// The machine: a disk, a permission, a lock.
    Environment,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation on the root failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The root (or a directory in it) belongs to another user.
    #[error(
        "refusing the state root directory {}: it is owned by uid {owner}, not by this user (uid {me}); use a --root of your own",
        path.display()
    )]
    NotOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This user.
        me: u32,
    },
    /// Something that must be a directory is not.
    #[error("opening {}: it is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The records or the content store failed.
    #[error("{action}: {source}")]
    Records {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<gb_cache::CacheError>,
    },
    /// The layer store failed.
    #[error("{action}: {source}")]
    Layers {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<gb_snapshot::SnapshotError>,
    },
    /// No image has this name or id.
    #[error("no such image: {0}")]
    NoSuchImage(String),
    /// An id prefix that more than one image's id starts with.
    #[error("multiple IDs found with provided prefix: {prefix} ({count} images)")]
    AmbiguousImage { prefix: String, count: usize },
    /// The store's state forbids the operation (an image in use, a shared id), as docker's
    /// "conflict" errors.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A name that is not an image name.
    #[error("{0}")]
    InvalidName(String),
    /// A `--filter` the command does not know or whose value is wrong.
    #[error("{0}")]
    InvalidFilter(String),
    /// An `import --change` that is not one.
    #[error("{0}")]
    InvalidChange(String),
    /// An image to import is not one (`graphbuild import`).
    #[error("import: {0}")]
    Import(String),
}

impl StoreError {
    /// Whose failure this is. A full disk is always the machine's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NoSuchImage(_)
            | StoreError::AmbiguousImage { .. }
            | StoreError::Conflict(_)
            | StoreError::InvalidName(_)
            | StoreError::InvalidFilter(_)
            | StoreError::InvalidChange(_)
            | StoreError::Import(_) => ErrorKind::Input,
            StoreError::Io { .. }
            | StoreError::NotOwner { .. }
            | StoreError::NotADirectory { .. }
            | StoreError::Records { .. }
            | StoreError::Layers { .. } => ErrorKind::Environment,
        }
    }

    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let action = action.into();
        move |source| StoreError::Io { action, source }
    }

    pub(crate) fn records(action: &'static str) -> impl FnOnce(gb_cache::CacheError) -> Self {
        move |source| StoreError::Records { action, source: Box::new(source) }
    }

    pub(crate) fn layers(action: &'static str) -> impl FnOnce(gb_snapshot::SnapshotError) -> Self {
        move |source| StoreError::Layers { action, source: Box::new(source) }
    }
}

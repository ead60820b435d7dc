//! Why an engine operation failed, with its source, and whose failure that is.

use std::path::PathBuf;

/// Whose failure an [`EngineError`] is: what the CLI maps to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The build's input (its Definition, options, names) or a step of it.
    Input,
    /// The machine or a service it relies on (disk, runtime, registry, network).
    Environment,
    /// The build was cancelled.
    Cancelled,
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The solve failed (a step, the Definition, the environment, a cancellation).
    #[error(transparent)]
    Solve(Box<gb_solver::SolveError>),
    /// An option of the request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The state root failed or refused: no such image, a conflict, its records or layers.
    #[error(transparent)]
    Root(Box<gb_store::StoreError>),
    /// Importing or exporting the build cache (`--cache-from`, `--cache-to`) failed.
    #[error("{flag} {location}: {source}")]
    CacheShare {
        /// The option.
        flag: &'static str,
        /// Where the cache was.
        location: String,
        /// Why.
        #[source]
        source: Box<gb_remote_cache::CacheShareError>,
    },
    /// Writing an image archive or layout failed.
    #[error("writing {}: {source}", dest.display())]
    Archive {
        /// Where.
        dest: PathBuf,
        /// Why.
        #[source]
        source: Box<gb_export::ExportError>,
    },
    /// Reading an image archive (`load`) failed.
    #[error("loading {}: {source}", input.display())]
    Load {
        /// The archive.
        input: PathBuf,
        /// Why.
        #[source]
        source: Box<gb_export::ExportError>,
    },
    /// Writing the result's root file system (a directory or a tar) failed.
    #[error("exporting to {where_to}: {source}")]
    Files {
        /// Where (a path, or standard output).
        where_to: String,
        /// Why.
        #[source]
        source: Box<gb_snapshot::SnapshotError>,
    },
    /// Assembling the image (config, manifest, layer blobs) failed.
    #[error("assembling the image: {0}")]
    Assemble(#[source] Box<gb_export::ExportError>),
    /// Reading or writing the store failed.
    #[error("{action}: {source}")]
    Store {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<gb_cache::CacheError>,
    },
    /// A file system operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A registry operation (push) failed.
    #[error(transparent)]
    Registry(Box<gb_registry::RegistryError>),
    /// Fetching a remote build context (a git repository, an http tarball) failed.
    #[error("fetching the build context {url}: {source}")]
    Fetch {
        /// The context's URL, credentials redacted.
        url: String,
        /// Why.
        #[source]
        source: Box<gb_fetch::FetchError>,
    },
}

impl From<gb_solver::SolveError> for EngineError {
    fn from(error: gb_solver::SolveError) -> Self {
        EngineError::Solve(Box::new(error))
    }
}

impl From<gb_store::StoreError> for EngineError {
    fn from(error: gb_store::StoreError) -> Self {
        EngineError::Root(Box::new(error))
    }
}

impl From<gb_registry::RegistryError> for EngineError {
    fn from(error: gb_registry::RegistryError) -> Self {
        EngineError::Registry(Box::new(error))
    }
}

impl EngineError {
    /// Whose failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Solve(error) => match error.kind() {
                gb_solver::ErrorKind::Build => ErrorKind::Input,
                gb_solver::ErrorKind::Environment => ErrorKind::Environment,
                gb_solver::ErrorKind::Cancelled => ErrorKind::Cancelled,
            },
            EngineError::Invalid(_) => ErrorKind::Input,
            EngineError::Root(error) => match error.kind() {
                gb_store::ErrorKind::Input => ErrorKind::Input,
                gb_store::ErrorKind::Environment => ErrorKind::Environment,
            },
            EngineError::CacheShare { source, .. } => match source.kind() {
                gb_remote_cache::ErrorKind::Input => ErrorKind::Input,
                _ => ErrorKind::Environment,
            },
            // A destination no archive may replace is the user's; anything else the machine's.
            EngineError::Archive { source, .. } if matches!(**source, gb_export::ExportError::NotAFile { .. }) => {
                ErrorKind::Input
            }
            EngineError::Archive { source, .. } | EngineError::Assemble(source) | EngineError::Load { source, .. } => {
                match source.kind() {
                    gb_export::ErrorKind::Input => ErrorKind::Input,
                    gb_export::ErrorKind::Environment | gb_export::ErrorKind::Bug => ErrorKind::Environment,
                }
            }
            EngineError::Files { .. } | EngineError::Store { .. } | EngineError::Io { .. } => ErrorKind::Environment,
            EngineError::Registry(error) => match error.kind() {
                gb_registry::ErrorKind::Input => ErrorKind::Input,
                _ => ErrorKind::Environment,
            },
            EngineError::Fetch { source, .. } => match source.kind() {
                gb_fetch::ErrorKind::Input => ErrorKind::Input,
                gb_fetch::ErrorKind::Remote | gb_fetch::ErrorKind::Environment => ErrorKind::Environment,
            },
        }
    }
}

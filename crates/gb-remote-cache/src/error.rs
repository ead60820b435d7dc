//! The crate's error: what failed, naming the option, cache location, blob or key, and whose
//! fault it is.

use std::io;
use std::path::PathBuf;

use gb_cache::{CacheError, CacheKey};
use gb_export::ExportError;
use gb_ir::Sha256Digest;
use gb_registry::RegistryError;

/// Who is to blame for a failure, so the CLI can map it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input: a malformed `--cache-to`/`--cache-from` option, or a cache whose
    /// content is malformed, unsupported or tampered with.
    Input,
    /// The machine: the state root, the cache directory.
    Environment,
    /// The registry: unreachable, refusing credentials, answering outside the protocol.
    Registry,
    /// graphbuild itself (a caller passing a key without a result, no registry client).
    Bug,
}

/// Why sharing the cache failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheShareError {
    /// A `--cache-to`/`--cache-from` value that does not parse.
    #[error("invalid cache option `{text}`: {reason}")]
    InvalidOption {
        /// The option's value.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A registry location was given without a registry client.
    #[error("cache {location} is in a registry, but no registry client was given")]
    NoRegistryClient {
        /// The cache's reference.
        location: String,
    },
    /// A key to export has no result in the cache database.
    #[error("cannot export cache key {key}: there is no result under it")]
    MissingResult {
        /// The key.
        key: CacheKey,
    },
    /// The cache database or the content store failed.
    #[error("cannot {action}: {source}")]
    Store {
        /// What was being done (`read the result of sha256:…`).
        action: String,
        /// What went wrong.
        #[source]
        source: CacheError,
    },
    /// A file system operation on a cache directory failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read`, `write`, `create`, `copy a blob to`…
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Making a layer's blob, or importing a blob as a layer, failed (boxed: it is large).
    #[error(transparent)]
    Export(Box<ExportError>),
    /// A registry request failed (boxed: it is large).
    #[error(transparent)]
    Registry(Box<RegistryError>),
    /// Content of the cache that does not hash to the digest it is named by; nothing was
    /// recorded.
    #[error("{what} of cache {location} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// `blob sha256:…`, `manifest`.
        what: String,
        /// The cache's directory or reference.
        location: String,
        /// The digest it should have.
        expected: Sha256Digest,
        /// The digest it has.
        actual: Sha256Digest,
    },
    /// A cache whose index, manifest or config does not say what an import needs.
    #[error("invalid cache {location}: {reason}")]
    InvalidCache {
        /// The cache's directory or reference.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A well-formed cache of a kind this graphbuild does not read (BuildKit's, a newer
    /// version of ours).
    #[error("unsupported cache {location}: {reason}")]
    Unsupported {
        /// The cache's directory or reference.
        location: String,
        /// Why.
        reason: String,
    },
}

impl CacheShareError {
    /// Whose fault the failure is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CacheShareError::InvalidOption { .. }
            | CacheShareError::DigestMismatch { .. }
            | CacheShareError::InvalidCache { .. }
            | CacheShareError::Unsupported { .. } => ErrorKind::Input,
            CacheShareError::Store { source: CacheError::DigestMismatch { .. }, .. } => ErrorKind::Input,
            CacheShareError::Store { .. } | CacheShareError::Io { .. } => ErrorKind::Environment,
            CacheShareError::NoRegistryClient { .. } | CacheShareError::MissingResult { .. } => ErrorKind::Bug,
            CacheShareError::Export(error) => match error.kind() {
                gb_export::ErrorKind::Input => ErrorKind::Input,
                gb_export::ErrorKind::Environment => ErrorKind::Environment,
                gb_export::ErrorKind::Bug => ErrorKind::Bug,
            },
            CacheShareError::Registry(error) => match error.kind() {
                gb_registry::ErrorKind::Input => ErrorKind::Input,
                gb_registry::ErrorKind::Environment => ErrorKind::Environment,
                gb_registry::ErrorKind::Registry => ErrorKind::Registry,
                gb_registry::ErrorKind::Bug => ErrorKind::Bug,
            },
        }
    }

    /// For `map_err`: a store failure while doing `action`.
    pub(crate) fn store(action: impl Into<String>) -> impl FnOnce(CacheError) -> CacheShareError {
        let action = action.into();
        move |source| CacheShareError::Store { action, source }
    }

    /// For `map_err`: an IO failure while doing `action` to `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> CacheShareError {
        let path = path.into();
        move |source| CacheShareError::Io { action, path, source }
    }
}

impl From<ExportError> for CacheShareError {
    fn from(error: ExportError) -> Self {
        CacheShareError::Export(Box::new(error))
    }
}

impl From<RegistryError> for CacheShareError {
    fn from(error: RegistryError) -> Self {
        CacheShareError::Registry(Box::new(error))
    }
}

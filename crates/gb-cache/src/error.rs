//! The crate's error type: what went wrong with the store, naming the path, table or digest.

use std::io;
use std::path::PathBuf;

use gb_ir::Sha256Digest;

use crate::kv::Table;

/// A failure of the cache database or the content store.
///
/// Almost every variant is the environment's fault (a full disk, a damaged file, a second process);
/// [`CacheError::DigestMismatch`] means content did not match the digest it was promised under.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Another handle (in this process or another one) holds the database's RocksDB `LOCK` file.
    /// The CLI shows this message as is, so it says what to do.
    #[error(
        "the cache database {path} is in use by another graphbuild process; wait for it to finish or use another --root"
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's own message, for debugging.
        detail: String,
    },
    /// RocksDB failed.
    #[error("cache database {path}: {message}")]
    Db {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// The file system holding the store is full, or too close to full for RocksDB (see
    /// [`crate::MIN_FREE_BYTES`]): a refused write, or RocksDB's own "No space left on device".
    #[error("no space left on device for {what} ({path}): {detail}")]
    NoSpace {
        /// What was to be written, naming the tables.
        what: String,
        /// The database directory.
        path: PathBuf,
        /// How much space there is, or RocksDB's message.
        detail: String,
    },
    /// The database was written by a graphbuild with a different record layout.
    #[error("cache database {path} has schema version {found}, this graphbuild reads version {supported}")]
    UnsupportedSchema {
        /// The database directory.
        path: PathBuf,
        /// The version recorded in the database.
        found: u64,
        /// The version this build reads and writes.
        supported: u64,
    },
    /// A file system operation failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done ("create", "read", "rename to", ...), for the message.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A stored value could not be decoded (or, for writes, encoded).
    #[error("corrupt {table} record {key}: {reason}")]
    CorruptRecord {
        /// The table it is in.
        table: Table,
        /// The key, printable (digest, path, name, or hex for raw bytes).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Content hashed to something else than expected.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the content was supposed to have.
        expected: Sha256Digest,
        /// The digest it has.
        actual: Sha256Digest,
    },
    /// The content store has no blob with this digest.
    #[error("blob {digest} is not in the content store ({path})")]
    MissingBlob {
        /// The digest asked for.
        digest: Sha256Digest,
        /// Where it would be.
        path: PathBuf,
    },
    /// A layer id that is not 32 lowercase hex digits (it would not be a safe directory name).
    #[error("invalid layer id `{text}`: expected 32 lowercase hex digits")]
    InvalidLayerId {
        /// The text given.
        text: String,
    },
}

impl CacheError {
    /// An [`CacheError::Io`] error; a helper for `map_err`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| CacheError::Io { action, path, source }
    }
}

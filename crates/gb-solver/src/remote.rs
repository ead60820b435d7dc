//! A cache beyond the state root (a REAPI server shared by a farm): asked for a step's result
//! only when the root has none and the solve needs it (phase 2 reaches the step walking down
//! from the output), so a record's layers are brought in only when a step that must run or the
//! export reads them.

use std::future::Future;
use std::pin::Pin;

use gb_cache::{CacheKey, Snapshot};

/// A result a remote cache held, brought into the root (its layers unpacked there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteResult {
    /// Its outputs.
    pub outputs: Vec<Snapshot>,
    /// The key its dependents build on, when it differs (content-based keys).
    pub effective_key: Option<CacheKey>,
    /// When the result was made (seconds since the Unix epoch): an image of it is as old as
    /// its content, on every machine.
    pub created_unix: u64,
}

/// A boxed future, as the trait's methods return them. Not `Send`: the solver drives it to its
/// end where it asks (phase 2 is sequential), never across threads.
pub type RemoteFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A cache failure that fails the build (a `--cache-from` document, or `ignore-error=false`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    /// What went wrong, naming the cache.
    pub message: String,
    /// Whether the cache's content is at fault (a blob that does not match its digest), so the
    /// build's input, rather than the machine or network.
    pub input: bool,
}

/// A cache the solver asks after the state root. A cache that fails (unreachable, slow, a
/// blob that does not match its digest) answers a miss, so the step runs locally, and reports
/// its failure itself; unless told failures are fatal, when it answers the error.
pub trait RemoteCache: Send + Sync {
    /// The result it holds under `key`, brought into the root; the solver stores it in the
    /// root's cache.
    fn lookup<'a>(&'a self, key: &'a CacheKey) -> RemoteFuture<'a, Result<Option<RemoteResult>, RemoteError>>;

    /// Stores the root's result under `key` as soon as a step made it, when the cache takes
    /// every step's result (`mode=max`): another machine's build then finds it even while this
    /// build goes on. The default stores nothing.
    fn store_step<'a>(&'a self, _key: &'a CacheKey) -> RemoteFuture<'a, Result<(), RemoteError>> {
        Box::pin(async { Ok(()) })
    }
}

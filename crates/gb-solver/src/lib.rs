//! The solver: runs a Definition's ops against the persistent cache, in parallel, with real
//! containers, and reports progress events.
//!
//! A solve has three phases: compute every op's cache key (hashing only the context files
//! whose stat changed), decide which ops must run (walking down from the output and stopping
//! at cache hits, so a cached result needs nothing below it), then run the misses as soon as
//! their inputs are ready, bounded by the parallelism limit. The phases are generic over an op
//! trait (`graph.rs`, tested with fake ops); `solve.rs` binds the IR's ops to it.

mod content;
mod entitlements;
mod env;
mod error;
mod graph;
mod keys;
mod remote;
mod scheduler;
mod solve;
mod steps;
mod worker;

pub use entitlements::{Entitlement, UnknownEntitlement};
pub use error::{ErrorKind, SolveError};
pub use keys::cache_key;
pub use remote::{RemoteCache, RemoteError, RemoteFuture, RemoteResult};
pub use solve::{
    ImagePuller, PullError, SecretSource, SolveOptions, SolveResult, Solver, SourceContent, SourcesHook,
    default_parallelism,
};
pub use steps::limit_parallel_steps;

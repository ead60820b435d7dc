//! A shared build cache in a server of the Bazel Remote Execution API v2 (the cache half:
//! ContentAddressableStorage, ActionCache, ByteStream, Capabilities), as bazel-remote,
//! Buildbarn, NativeLink and BuildGrid serve it: many machines' builds share their steps.
//!
//! Each step's cache key maps to an Action (a Command `graphbuild-step sha256:KEY` and an empty
//! input root, so the Action's digest is a function of the key), its result to an ActionResult
//! whose output files are `graphbuild/result.json` (the outputs' layers, in order) and each
//! layer blob. `docs/reapi-cache.md` has the mapping and the protocol's rules it follows.
//!
//! - [`ReapiCache`] is the solver's [`gb_solver::RemoteCache`] (a lookup brings the result's
//!   layers into the root) and stores a build's results ([`ReapiCache::store`]).
//! - A failure never fails a build unless asked: it is one warning and the build goes on
//!   locally.

mod cache;
mod client;
mod error;

pub use cache::{RESULT_FILE, ReapiCache, ReapiReport};
pub use client::Endpoint;
pub use error::ReapiError;

//! The front end's integration tests: data-driven snapshots of lowering and errors, the build
//! checks against BuildKit's cases, the real-world corpus, determinism, limits on deep and
//! large inputs, and a property test that no input panics.

mod common;
mod determinism;
mod errors;
mod limits;
mod lint;
mod lower_snapshots;
mod no_panic;
mod real_world;

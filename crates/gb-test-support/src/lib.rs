//! Test fixtures shared by the workspace's integration tests, so that each crate's tests drive
//! the same real components the same way: a registry, state roots, base images and tools.
//!
//! Dev-only: no library crate depends on it outside `[dev-dependencies]` (checked by
//! `workspace_rules`). Fixtures fail the test with an "install X" message when a tool they need
//! is missing; they never let a test pass without its subject.

mod base;
mod emulation;
mod files;
mod reapi;
mod registry;
mod root;
mod tools;

pub use base::{busybox_rootfs, busybox_tar};
pub use emulation::{ARM64_DEBS, busybox_arm64_tar, require_arm64_emulation};
pub use files::{TreeDetail, tree, write};
pub use reapi::{BUILDGRID, ClientTls, ReapiServer};
pub use registry::{PASSWORD, TestRegistry, USER};
pub use root::Root;
pub use tools::{process_alive, require_root, require_tool, run};

//! End-to-end tests of the `graphbuild` binary, plus the workspace's structural rules.

mod crash;
mod debug_parse;
mod engine;
mod entitlements;
mod help;
mod images;
mod input_errors;
mod lower;
mod network;
mod platform;
mod registry;
mod run;
mod security;
mod workspace_rules;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The graphbuild binary under test.
pub fn graphbuild() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
}

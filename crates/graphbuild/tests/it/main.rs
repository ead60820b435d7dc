//! End-to-end tests of the `graphbuild` binary, plus the workspace's structural rules.

mod build_checks;
mod build_flags;
mod buildkit_cases;
mod builds;
mod case_file;
mod containers;
mod crash;
mod debug_parse;
mod engine;
mod entitlements;
mod explain_cases;
mod help;
mod images;
mod input_errors;
mod lower;
mod network;
mod parity;
mod pipes;
mod platform;
mod registry;
mod remote_cache;
mod run;
mod security;
mod server;
mod ssh;
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

/// A state root of its own for one command, so no test starts a server on the machine's
/// default root; removed on drop, and its server (which notices) exits.
#[derive(Default)]
pub struct Scratch {
    dir: Option<tempfile::TempDir>,
}

impl Drop for Scratch {
    /// Stops the root's server before the root goes (see `engine::Env`'s drop).
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = graphbuild().arg("--root").arg(dir.path()).args(["server", "stop"]).output();
        }
    }
}

impl Scratch {
    pub fn new() -> Self {
        Self { dir: Some(tempfile::tempdir().expect("scratch root")) }
    }

    /// graphbuild on this root.
    pub fn graphbuild(&self) -> assert_cmd::Command {
        let mut command = graphbuild();
        if let Some(dir) = &self.dir {
            command.arg("--root").arg(dir.path());
        }
        command
    }
}

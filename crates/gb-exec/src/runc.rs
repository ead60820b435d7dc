//! The runc command line: the calls `run` needs around `runc run` (kill, delete, list), and the
//! cleanup that still happens when a run's future is dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// One runc binary and the `--root` directory that holds its container state.
#[derive(Debug, Clone)]
pub(crate) struct Runc {
    pub path: PathBuf,
    pub root: PathBuf,
}

impl Runc {
    /// A `runc --root ROOT` command with no stdio, for the short management calls.
    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.path);
        command.arg("--root").arg(&self.root).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        command
    }

    /// Whether runc holds state for `id` (a created, running or stopped container). runc keeps
    /// one directory per container under its root, so this costs a `stat`, not a process.
    pub fn has_state(&self, id: &str) -> bool {
        self.root.join(id).exists()
    }

    /// Sends SIGKILL to the container's init; false when runc cannot (e.g. it is not created yet).
    /// Killing init ends the whole container: the kernel kills the rest of its pid namespace.
    pub async fn kill(&self, id: &str) -> bool {
        let status = self.command().args(["kill", id, "KILL"]).status().await;
        status.is_ok_and(|s| s.success())
    }

    /// `runc delete --force`, which kills what is left and removes the cgroups and state.
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        let output = self.command().args(["delete", "--force", id]).output().await.map_err(|e| e.to_string())?;
        if output.status.success() || !self.has_state(id) {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }

    /// The same kill and delete, blocking, for [`Cleanup`]'s thread.
    fn kill_and_delete_blocking(&self, id: &str) {
        if !self.has_state(id) {
            return;
        }
        let run = |args: &[&str]| {
            std::process::Command::new(&self.path)
                .arg("--root")
                .arg(&self.root)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        let _ = run(&["kill", id, "KILL"]);
        let _ = run(&["delete", "--force", id]);
    }
}

/// Kills and deletes a container and removes its bundle if the run future is dropped before it
/// cleaned up itself. Drop cannot await, so a thread does it; the caller's runtime may be
/// shutting down.
pub(crate) struct Cleanup {
    runc: Runc,
    id: String,
    bundle: PathBuf,
    armed: bool,
}

impl Cleanup {
    pub fn new(runc: &Runc, id: &str, bundle: &Path) -> Self {
        Self { runc: runc.clone(), id: id.to_owned(), bundle: bundle.to_owned(), armed: true }
    }

    /// The run is cleaning up itself.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (runc, id, bundle) = (self.runc.clone(), std::mem::take(&mut self.id), std::mem::take(&mut self.bundle));
        std::thread::spawn(move || {
            runc.kill_and_delete_blocking(&id);
            let _ = std::fs::remove_dir_all(&bundle);
        });
    }
}

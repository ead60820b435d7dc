//! [`ContainerControl`]: acting on a container that a [`crate::Runtime`] of this or another
//! thread runs: signalling it (`docker stop`, `kill`) and running another process in it
//! (`docker exec`). It needs only the runtime's work dir, since runc keeps its state there.

use std::path::Path;
use std::process::Stdio;

use tokio_util::sync::CancellationToken;

use crate::config::{self, HostLimits};
use crate::error::ExecError;
use crate::runc::Runc;
use crate::spec::{ContainerSpec, OutputStream};
use crate::terminal::ProcessIo;

/// runc's view of the containers under one runtime work dir.
#[derive(Debug, Clone)]
pub struct ContainerControl {
    runc: Runc,
}

impl ContainerControl {
    /// The containers of the runtime whose work dir is `work_dir` (the one given to
    /// [`crate::Runtime::detect`]).
    pub fn new(work_dir: &Path) -> Result<Self, ExecError> {
        let path = crate::runtime::find_runc()?;
        Ok(Self { runc: Runc { path, root: work_dir.join("state") } })
    }

    /// Whether runc reports container `id` running (its process started, not only made).
    pub async fn is_running(&self, id: &str) -> bool {
        if !self.runc.has_state(id) {
            return false;
        }
        let Ok(output) = self.runc.command().args(["state", id]).stdout(Stdio::piped()).output().await else {
            return false;
        };
        serde_json::from_slice::<serde_json::Value>(&output.stdout).is_ok_and(|state| state["status"] == "running")
    }

    /// Sends `signal` (a name as runc takes it, `TERM`, `KILL`, or a number) to the container's
    /// main process.
    pub async fn signal(&self, id: &str, signal: &str) -> Result<(), ExecError> {
        self.simple(id, &["kill", id, signal]).await
    }

    /// Whether runc holds container `id` at all (made, running or stopped): without it no
    /// process of the container exists.
    pub fn exists(&self, id: &str) -> bool {
        self.runc.has_state(id)
    }

    /// Freezes every process of container `id` (`runc pause`, the cgroup freezer), so nothing in
    /// it changes its file system while it is read, as `docker commit` pauses. Synchronous, so
    /// a guard's drop can [`Self::resume`].
    pub fn pause(&self, id: &str) -> Result<(), ExecError> {
        self.blocking(id, &["pause", id])
    }

    /// Thaws container `id` after [`Self::pause`].
    pub fn resume(&self, id: &str) -> Result<(), ExecError> {
        self.blocking(id, &["resume", id])
    }

    /// Runs one runc command about container `id` on this thread.
    fn blocking(&self, id: &str, args: &[&str]) -> Result<(), ExecError> {
        let output = std::process::Command::new(&self.runc.path)
            .arg("--root")
            .arg(&self.runc.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let output = output.map_err(|source| ExecError::Spawn { path: self.runc.path.clone(), source })?;
        check_output(id, args[0], &output)
    }

    /// Runs one runc command about container `id` that prints nothing when it succeeds.
    async fn simple(&self, id: &str, args: &[&str]) -> Result<(), ExecError> {
        let output = self.runc.command().args(args).output().await;
        let output = output.map_err(|source| ExecError::Spawn { path: self.runc.path.clone(), source })?;
        check_output(id, args[0], &output)
    }

    /// Runs `spec`'s process (its args, env, cwd and user; its rootfs and mounts are the
    /// container's) in running container `id`, as `docker exec` does; returns its exit code.
    /// `scratch` is a private directory for the process file and console socket.
    pub async fn exec(
        &self,
        id: &str,
        spec: &ContainerSpec,
        io: ProcessIo,
        scratch: &Path,
        on_output: &(dyn Fn(OutputStream, &[u8]) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<i32, ExecError> {
        let mut config = config::build(spec, &HostLimits::read())?;
        if let Some(size) = io.terminal {
            config::give_terminal(&mut config, size);
        }
        let process =
            config.process().clone().ok_or_else(|| ExecError::InvalidSpec { message: "no process".into() })?;
        let process_file = scratch.join("process.json");
        let json = serde_json::to_vec(&process).map_err(|e| ExecError::Config(e.into()))?;
        std::fs::write(&process_file, json).map_err(ExecError::io("write", &process_file))?;

        let log = scratch.join("runc.log");
        let mut command = self.runc.command();
        command.arg("--log").arg(&log).args(["--log-format", "json", "exec", "--process"]).arg(&process_file);
        command.arg(id);
        // runc exec passes signals on to the process it runs.
        let kill = async |child: &mut tokio::process::Child| {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid.cast_signed()),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
        };
        let status = crate::runtime::run_piped(&self.runc.path, command, io.stdin, on_output, &cancel, kill).await?;
        match status.code() {
            // runc exec exits 255 when it fails itself (the command not found, not executable):
            // its log says so.
            Some(255) => match crate::runtime::runc_errors(&log).await {
                Some(message) => Err(ExecError::Runtime { id: id.to_owned(), message }),
                None => Ok(255),
            },
            Some(code) => Ok(code),
            None => Err(ExecError::Runtime { id: id.to_owned(), message: "runc exec was killed".to_owned() }),
        }
    }
}

/// runc's failure, with what it said, unless it succeeded.
fn check_output(id: &str, command: &str, output: &std::process::Output) -> Result<(), ExecError> {
    if output.status.success() {
        Ok(())
    } else {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(ExecError::Runtime { id: id.to_owned(), message: format!("{command}: {message}") })
    }
}

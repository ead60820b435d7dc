//! [`Runtime`]: runs a [`ContainerSpec`] with `runc run`, streaming its output, and always deletes
//! the container, its bundle and its private network's processes afterwards.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::config::{self, HostLimits};
use crate::error::ExecError;
use crate::net::{NetworkTools, PrivateNetwork};
use crate::reap::{OWNER_FILE, ProcessId, Watchdog};
use crate::runc::{Cleanup, Runc};
use crate::spec::{ContainerSpec, Network, OutputStream};
use crate::terminal::ProcessIo;

/// The environment variable that names the runc binary, overriding the `PATH` search.
pub const RUNC_ENV: &str = "GRAPHBUILD_RUNC";

/// Directories where runc (and slirp4netns, unshare) usually live, searched after `PATH` (a
/// non-root `PATH` often lacks sbin).
const FALLBACK_DIRS: [&str; 4] = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"];

/// How long `runc kill` is retried on cancellation: the container may not be created yet.
const KILL_RETRY_FOR: Duration = Duration::from_secs(2);
/// How long `runc run` gets to reap a killed container before it is killed itself.
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// Read size for the output pipes; a chunk goes to the callback as soon as it is read.
const CHUNK: usize = 64 * 1024;

/// A runc binary plus the directory holding bundles and runc's state.
///
/// The work dir belongs to this runtime alone: it records the owning process (`owner`), and a
/// watchdog process kills the runtime's containers once that process is gone, whether it exits
/// or is killed; [`crate::reap_if_orphaned`] is the later fallback.
///
/// Cgroups: no `cgroupsPath` is set, so runc (cgroupfs driver) makes a cgroup named after the
/// container id *inside the caller's own cgroup* in every hierarchy (on this VM's hybrid v1+v2
/// layout: `memory:/<caller's>/<id>`, `pids:/<id>`, `0::/<id>`), and removes it on delete.
/// Containers thus stay under whatever limits the caller runs with.
#[derive(Debug, Clone)]
pub struct Runtime {
    runc: Runc,
    version: String,
    bundles: PathBuf,
    host: HostLimits,
    network: NetworkTools,
    /// Shared by the clones; the last one dropped lets the watchdog finish.
    _watchdog: Arc<Watchdog>,
}

impl Runtime {
    /// Finds runc on PATH (or `$GRAPHBUILD_RUNC`) and checks that it runs; `work_dir` holds
    /// bundles and runc's `--root` state (e.g. `ROOT/exec/ID`) and is created if missing. It must
    /// be this runtime's alone: its `owner` file is rewritten to name this process, and the
    /// watchdog started here kills whatever runs under it once this process is gone.
    pub fn detect(work_dir: &Path) -> Result<Self, ExecError> {
        let path = find_runc()?;
        let output = std::process::Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ExecError::RuntimeUnusable { path: path.clone(), message: e.to_string() })?;
        if !output.status.success() {
            let message = format!("--version failed: {}", String::from_utf8_lossy(&output.stderr).trim());
            return Err(ExecError::RuntimeUnusable { path, message });
        }
        let version = String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or_default().trim().to_owned();
        let work_dir = std::path::absolute(work_dir).map_err(ExecError::io("resolve", work_dir))?;
        let root = work_dir.join("state");
        let bundles = work_dir.join("bundles");
        // Private to the owner: bundles hold each process's env, secrets included, and runc's
        // state names pids that the reaper kills.
        create_private_dir(&work_dir)?;
        // The owner first: a work dir with containers but no live owner is reaped.
        let owner = work_dir.join(OWNER_FILE);
        std::fs::write(&owner, ProcessId::current()?.to_line()).map_err(ExecError::io("write", &owner))?;
        for dir in [&root, &bundles] {
            create_private_dir(dir)?;
        }
        let watchdog = Arc::new(Watchdog::start(&path, &root)?);
        Ok(Self {
            runc: Runc { path, root },
            version,
            bundles,
            host: HostLimits::read(),
            network: NetworkTools::find(),
            _watchdog: watchdog,
        })
    }

    /// The runc binary in use.
    pub fn runc_path(&self) -> &Path {
        &self.runc.path
    }

    /// The first line of `runc --version` (e.g. `runc version 1.1.5+ds1`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// runc's `--root`: one directory per live container (`runc --root DIR list` shows them).
    pub fn state_root(&self) -> &Path {
        &self.runc.root
    }

    /// The OCI config.json this spec becomes (for tests and `--debug` output).
    pub fn oci_config(&self, spec: &ContainerSpec) -> Result<oci_spec::runtime::Spec, ExecError> {
        config::build(spec, &self.host)
    }

    /// Runs the container to completion; streams output chunks to `on_output` as they arrive;
    /// returns the exit code (128+signal when killed).
    ///
    /// Cancellation (`cancel` fired) kills the container (`runc kill KILL`, then
    /// `runc delete --force`) and returns [`ExecError::Cancelled`]. The container and bundle are
    /// deleted afterwards in every case, also when this future is dropped. When runc itself fails
    /// (bad mount source, missing executable), the error is [`ExecError::Runtime`] with runc's
    /// message, which runc also prints on the container's stderr.
    pub async fn run(
        &self,
        id: &str,
        spec: &ContainerSpec,
        on_output: &(dyn Fn(OutputStream, &[u8]) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<i32, ExecError> {
        self.run_with_io(id, spec, ProcessIo::default(), on_output, cancel).await
    }

    /// [`Runtime::run`] with a standard input and, optionally, a terminal (`docker run -i -t`).
    pub async fn run_with_io(
        &self,
        id: &str,
        spec: &ContainerSpec,
        io: ProcessIo,
        on_output: &(dyn Fn(OutputStream, &[u8]) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<i32, ExecError> {
        check_id(id)?;
        let mut config = self.oci_config(spec)?;
        if let Some(size) = io.terminal {
            config::give_terminal(&mut config, size);
        }
        if cancel.is_cancelled() {
            return Err(ExecError::Cancelled);
        }
        if self.runc.has_state(id) {
            return Err(ExecError::IdInUse { id: id.to_owned() });
        }
        let bundle = self.bundles.join(id);
        match tokio::fs::DirBuilder::new().mode(0o700).create(&bundle).await {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(ExecError::IdInUse { id: id.to_owned() }),
            other => other.map_err(ExecError::io("create", &bundle))?,
        }
        let mut cleanup = Cleanup::new(&self.runc, id, &bundle);
        // Dropped with this future (which kills its processes), or stopped once runc is done.
        let mut network = None;
        let result = match self.private_network(spec, &bundle, &mut config, &cancel).await {
            Ok(made) => {
                network = made;
                self.run_in_bundle(id, &bundle, &config, io, on_output, cancel).await
            }
            Err(e) => Err(e),
        };
        cleanup.disarm();
        let deleted = if self.runc.has_state(id) { self.runc.delete(id).await } else { Ok(()) };
        if let Some(network) = network {
            network.stop();
        }
        // A bundle left behind is garbage in the caller's tmp dir, not worth failing a build for.
        let _ = tokio::fs::remove_dir_all(&bundle).await;
        match (result, deleted) {
            (Ok(_), Err(message)) => {
                Err(ExecError::Runtime { id: id.to_owned(), message: format!("delete: {message}") })
            }
            (result, _) => result,
        }
    }

    /// Force-deletes every container under this runtime's state root (one created there by hand,
    /// or one a run lost track of); returns their ids. Containers of other, dead processes are
    /// [`crate::reap_if_orphaned`]'s.
    pub async fn delete_all(&self) -> Result<Vec<String>, ExecError> {
        let mut entries = match tokio::fs::read_dir(&self.runc.root).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(ExecError::io("list", &self.runc.root))?,
        };
        let mut ids = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(ExecError::io("list", &self.runc.root))? {
            let id = entry.file_name().to_string_lossy().into_owned();
            self.runc.delete(&id).await.map_err(|message| ExecError::Runtime { id: id.clone(), message })?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// For a [`Network::Private`] spec, the network namespace with slirp4netns ready, which
    /// `config` is made to join; nothing for the other networks.
    async fn private_network(
        &self,
        spec: &ContainerSpec,
        bundle: &Path,
        config: &mut oci_spec::runtime::Spec,
        cancel: &CancellationToken,
    ) -> Result<Option<PrivateNetwork>, ExecError> {
        if spec.network != Network::Private {
            if !spec.published.is_empty() {
                return Err(ExecError::InvalidSpec {
                    message: "ports are published only on the container's own network".to_owned(),
                });
            }
            return Ok(None);
        }
        let network =
            PrivateNetwork::start(&self.network, &bundle.join("slirp4netns.log"), &spec.published, cancel).await?;
        config::join_network(config, &network.path()?);
        Ok(Some(network))
    }

    async fn run_in_bundle(
        &self,
        id: &str,
        bundle: &Path,
        config: &oci_spec::runtime::Spec,
        io: ProcessIo,
        on_output: &(dyn Fn(OutputStream, &[u8]) + Send + Sync),
        cancel: CancellationToken,
    ) -> Result<i32, ExecError> {
        let config_path = bundle.join("config.json");
        let json = serde_json::to_vec(config).map_err(|e| ExecError::Config(e.into()))?;
        write_private_file(&config_path, json).await?;
        let log = bundle.join("runc.log");

        // Without a terminal, `runc run` hands its own stdio to the container, so these pipes
        // are the container's stdout and stderr; runc's logs go to the log file instead. With
        // one, runc copies the terminal's output to its stdout.
        let mut command = self.runc.command();
        command.arg("--log").arg(&log).args(["--log-format", "json", "run", "--bundle"]).arg(bundle);
        // The pipes reach EOF when the container's last process exits: the pid namespace dies
        // with its init, so nothing inside can hold them open longer.
        command.arg(id);
        let stop = async |child: &mut tokio::process::Child| self.stop(id, child).await;
        let status = run_piped(&self.runc.path, command, io.stdin, on_output, &cancel, stop).await?;
        exit_code(id, status, &log).await
    }

    /// Kills the container and waits for `runc run` to exit. `runc kill` fails until runc has
    /// written the container's state, so it is retried for a while; if runc never gets there
    /// (or hangs), runc itself is killed and [`Runtime::run`]'s `delete --force` cleans up.
    async fn stop(&self, id: &str, child: &mut tokio::process::Child) {
        let started = Instant::now();
        loop {
            if self.runc.kill(id).await || started.elapsed() > KILL_RETRY_FOR {
                break;
            }
            tokio::select! {
                _ = child.wait() => return,
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
        if tokio::time::timeout(EXIT_GRACE, child.wait()).await.is_err() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// Writes `bytes` to a new file at `path`, owner-only (a bundle's config holds the process env,
/// which may hold secrets), and returns once every byte is written.
///
/// Not through `tokio::fs::File`: its `write_all` hands the bytes to a background task and
/// returns, and dropping the file does not wait for that write. runc then sometimes read a
/// truncated config.json under load and failed with nothing but "runc run failed: EOF".
async fn write_private_file(path: &Path, bytes: Vec<u8>) -> Result<(), ExecError> {
    let owned = path.to_owned();
    let written = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&owned)?;
        file.write_all(&bytes)
    })
    .await
    .map_err(|join| io::Error::other(join.to_string()));
    written.and_then(|result| result).map_err(ExecError::io("write", path))
}

/// The container's exit code from `runc run`'s status, unless runc reported its own failure.
async fn exit_code(id: &str, status: ExitStatus, log: &Path) -> Result<i32, ExecError> {
    match status.code() {
        Some(0) => Ok(0),
        // runc exits with the container's code (128+signal when it was killed), and also
        // with 1 when it fails itself: only its log tells the two apart.
        Some(code) => match runc_errors(log).await {
            Some(message) => Err(ExecError::Runtime { id: id.to_owned(), message }),
            None => Ok(code),
        },
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = status.signal().unwrap_or_default();
            Err(ExecError::Runtime { id: id.to_owned(), message: format!("runc was killed by signal {signal}") })
        }
    }
}

/// The error-level messages in runc's JSON log, joined, if there are any.
pub(crate) async fn runc_errors(log: &Path) -> Option<String> {
    let bytes = tokio::fs::read(log).await.ok()?;
    // runc writes one JSON object per entry, not always newline-terminated.
    let messages: Vec<String> = serde_json::Deserializer::from_slice(&bytes)
        .into_iter::<serde_json::Value>()
        .map_while(Result::ok)
        .filter(|entry| matches!(entry["level"].as_str(), Some("error" | "fatal" | "panic")))
        .filter_map(|entry| entry["msg"].as_str().map(str::to_owned))
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// Runs a runc command (`run` or `exec`, whose stdio are the process's) with `stdin`, its
/// stdout and stderr copied to `on_output` until both end, and returns its exit status; when
/// `cancel` fires first, `on_cancel` ends it and the result is [`ExecError::Cancelled`].
pub(crate) async fn run_piped(
    runc: &Path,
    mut command: tokio::process::Command,
    stdin: Option<std::fs::File>,
    on_output: &(dyn Fn(OutputStream, &[u8]) + Send + Sync),
    cancel: &CancellationToken,
    on_cancel: impl AsyncFnOnce(&mut tokio::process::Child),
) -> Result<ExitStatus, ExecError> {
    let mut child = command
        .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ExecError::Spawn { path: runc.to_path_buf(), source })?;
    let stdout = pump(child.stdout.take(), OutputStream::Stdout, on_output);
    let stderr = pump(child.stderr.take(), OutputStream::Stderr, on_output);
    let waiter = async {
        tokio::select! {
            status = child.wait() => Some(status),
            () = cancel.cancelled() => {
                on_cancel(&mut child).await;
                None
            }
        }
    };
    let (stdout, stderr, status) = tokio::join!(stdout, stderr, waiter);
    let Some(status) = status else { return Err(ExecError::Cancelled) };
    let status = status.map_err(ExecError::io("wait for", runc))?;
    stdout.map_err(ExecError::io("read the stdout of", runc))?;
    stderr.map_err(ExecError::io("read the stderr of", runc))?;
    Ok(status)
}

/// Copies a pipe to `on_output` chunk by chunk until EOF.
async fn pump(
    pipe: Option<impl AsyncRead + Unpin>,
    stream: OutputStream,
    on_output: &(dyn Fn(OutputStream, &[u8]) + Send + Sync),
) -> io::Result<()> {
    let Some(mut pipe) = pipe else { return Ok(()) };
    let mut buf = vec![0; CHUNK];
    loop {
        match pipe.read(&mut buf).await? {
            0 => return Ok(()),
            n => on_output(stream, &buf[..n]),
        }
    }
}

/// runc's rule for ids (`^[\w+-\.]+$`), checked here so a bad id fails before any file is made;
/// it also keeps ids from naming paths outside the bundle and state dirs.
fn check_id(id: &str) -> Result<(), ExecError> {
    let valid = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if valid { Ok(()) } else { Err(ExecError::InvalidId { id: id.to_owned() }) }
}

/// Creates `dir` (and missing parents) readable by its owner only, and tightens it when it
/// already exists.
fn create_private_dir(dir: &Path) -> Result<(), ExecError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(ExecError::io("create", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(ExecError::io("chmod", dir))
}

pub(crate) fn find_runc() -> Result<PathBuf, ExecError> {
    find_runc_in(std::env::var_os(RUNC_ENV), std::env::var_os("PATH").unwrap_or_default())
}

/// runc as named by `runc_var` (`$GRAPHBUILD_RUNC`) or found on `path_var`, made absolute: the
/// watchdog and `runc` children run in other directories, where a relative path names nothing.
fn find_runc_in(runc_var: Option<std::ffi::OsString>, path_var: std::ffi::OsString) -> Result<PathBuf, ExecError> {
    if let Some(path) = runc_var.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            std::path::absolute(&path).map_err(ExecError::io("resolve", &path))
        } else {
            Err(ExecError::RuntimeNotFound { searched: format!("{RUNC_ENV}={} is not an executable", path.display()) })
        };
    }
    let found = find_in("runc", &path_var).map_err(|searched| ExecError::RuntimeNotFound { searched })?;
    std::path::absolute(&found).map_err(ExecError::io("resolve", &found))
}

/// `name` on `PATH` or in [`FALLBACK_DIRS`], made absolute (a relative `PATH` entry names
/// nothing in the directories the children run in); the error says where it was looked for.
pub(crate) fn find_program(name: &str) -> Result<PathBuf, String> {
    let found = find_in(name, &std::env::var_os("PATH").unwrap_or_default())?;
    std::path::absolute(&found).map_err(|e| format!("{} cannot be made absolute: {e}", found.display()))
}

fn find_in(name: &str, path_var: &std::ffi::OsStr) -> Result<PathBuf, String> {
    let dirs = std::env::split_paths(path_var).chain(FALLBACK_DIRS.iter().map(PathBuf::from));
    dirs.map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("{name} is not on PATH nor in {}", FALLBACK_DIRS.join(", ")))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    /// The config must be whole on disk when runc reads it, right after the write returns; a
    /// large body makes a write still in flight (the old tokio::fs::File path) visible.
    #[tokio::test]
    async fn a_private_file_is_complete_and_owner_only_when_the_write_returns() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.json");
        let body = vec![b'x'; 64 << 20];
        super::write_private_file(&path, body.clone()).await.expect("write");
        let meta = std::fs::metadata(&path).expect("stat");
        assert_eq!(meta.len(), body.len() as u64, "the write was still in flight when it returned");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(super::write_private_file(&path, Vec::new()).await.is_err(), "an existing file is never replaced");
    }

    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        assert!(check_id("gb-exec_1.2+x").is_ok());
        for bad in ["", "..", "a/b", "a b", "ü"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    /// `../../..` up to `/` from the current directory, then `target`: a relative path to it.
    fn relative_to_cwd(target: &Path) -> PathBuf {
        let cwd = std::env::current_dir().expect("cwd");
        let ups = cwd.components().count().saturating_sub(1);
        let mut relative: PathBuf = std::iter::repeat_n("..", ups).collect();
        relative.push(target.strip_prefix("/").expect("an absolute target"));
        relative
    }

    #[test]
    fn a_relative_runc_path_is_made_absolute() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let runc = dir.path().join("runc");
        std::fs::write(&runc, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let relative = relative_to_cwd(&runc);
        assert!(relative.is_relative());

        let from_env = find_runc_in(Some(relative.clone().into_os_string()), "".into()).expect("found");
        assert!(from_env.is_absolute(), "{}", from_env.display());
        assert!(is_executable(&from_env));

        let on_path = find_runc_in(None, relative_to_cwd(dir.path()).into_os_string()).expect("found");
        assert!(on_path.is_absolute(), "{}", on_path.display());
        assert!(is_executable(&on_path));
    }
}

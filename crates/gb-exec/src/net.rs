//! The private network of a [`crate::Network::Private`] container: a network namespace made
//! before runc runs, with slirp4netns attached and ready, which the container then joins.
//!
//! Why not `runc create` + `runc start`: runc reports the container's exit code only from
//! `runc run`, where it is the init's parent; after `runc create` the init is reparented, and
//! its status would need this process to be a child subreaper for all its orphans. Making the
//! namespace first keeps `runc run` and its exit codes, kill and delete as they are, and the
//! process still starts only once the network is up.
//!
//! Nothing here outlives the run, nor graphbuild: the namespace's holder (`unshare --net cat`)
//! and slirp4netns (`--exit-fd=0`) both read a pipe whose only writer is this process, so they
//! exit on its EOF when graphbuild is gone, even by SIGKILL; a run kills them by pid when it ends,
//! and dropping a [`PrivateNetwork`] kills them too.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio_util::sync::CancellationToken;

use crate::error::ExecError;
use crate::spec::PublishedPort;

/// The MTU rootless Docker and Podman give slirp4netns: the largest a tap device takes, which
/// makes slirp's copying cheapest.
const MTU: &str = "--mtu=65520";
/// The interface slirp4netns creates in the namespace, named as BuildKit's containers name theirs
/// (scripts run `ip addr show eth0`).
pub(crate) const TAP: &str = "eth0";
/// slirp's built-in DNS forwarder, which relays to the host's resolvers.
pub const DNS_SERVER: &str = "10.0.2.3";
/// How long slirp4netns may take to configure the namespace before the run fails.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs slirp4netns with fd 3 as its ready fd (a dup of the stdout pipe) and its own messages
/// on stderr (the log file): std's `Command` passes no fds beyond stdio without `unsafe`.
const SLIRP_LAUNCHER: &str = r#"exec "$0" "$@" 3>&1 1>&2"#;

/// The programs a private network needs, found once by [`crate::Runtime::detect`]; a missing
/// one fails only the runs that need it.
#[derive(Debug, Clone)]
pub(crate) struct NetworkTools {
    slirp4netns: Result<PathBuf, String>,
    unshare: Result<PathBuf, String>,
}

impl NetworkTools {
    pub(crate) fn find() -> Self {
        Self {
            slirp4netns: crate::runtime::find_program("slirp4netns"),
            unshare: crate::runtime::find_program("unshare"),
        }
    }
}

/// A network namespace with slirp4netns serving its `eth0` (a tap device); both processes are killed on drop.
#[derive(Debug)]
pub(crate) struct PrivateNetwork {
    holder: Child,
    slirp: Child,
    /// The write ends of the pipes the two processes read: closing them ends both.
    _holder_stdin: Option<ChildStdin>,
    _slirp_exit: Option<ChildStdin>,
    /// slirp4netns's API socket, when ports are published.
    _api: Option<ApiSocket>,
}

/// The directory of slirp4netns's API socket, removed on drop.
#[derive(Debug)]
struct ApiSocket {
    dir: PathBuf,
}

impl ApiSocket {
    /// A fresh owner-only directory under the temporary directory.
    fn new() -> Result<Self, ExecError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let base = std::env::temp_dir();
        let mut attempt = 0u64;
        loop {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let dir = base.join(format!("gb-slirp-{}-{nanos:x}-{attempt}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => attempt += 1,
                Err(e) => return Err(ExecError::io("create", &dir)(e)),
                Ok(()) => return Ok(Self { dir }),
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("api.sock")
    }

    /// Asks slirp4netns to forward a host port to the container (`add_hostfwd`).
    async fn forward(&self, port: &PublishedPort) -> Result<(), ExecError> {
        use tokio::io::AsyncWriteExt as _;
        let request = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": port.protocol,
                "host_addr": port.host_ip,
                "host_port": port.host_port,
                "guest_port": port.container_port,
            },
        });
        let path = self.path();
        let mut stream = tokio::net::UnixStream::connect(&path).await.map_err(ExecError::io("connect to", &path))?;
        stream.write_all(request.to_string().as_bytes()).await.map_err(ExecError::io("write to", &path))?;
        stream.shutdown().await.map_err(ExecError::io("write to", &path))?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.map_err(ExecError::io("read from", &path))?;
        let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap_or_default();
        match reply.get("error") {
            None if reply.get("return").is_some() => Ok(()),
            _ => {
                let reason = reply["error"]["desc"].as_str().unwrap_or("slirp4netns refused");
                // slirp only says its bind failed; the usual cause is docker's message.
                let reason = if reason.contains("slirp_add_hostfwd failed") {
                    "port is already allocated (or not bindable)"
                } else {
                    reason
                };
                Err(setup(&format!("Bind for {}:{} failed: {reason}", port.host_ip, port.host_port)))
            }
        }
    }
}

impl Drop for ApiSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PrivateNetwork {
    /// Makes the namespace, attaches slirp4netns (`--configure --disable-host-loopback`) and
    /// waits until it reports the network configured. slirp4netns's messages go to `log`.
    pub(crate) async fn start(
        tools: &NetworkTools,
        log: &Path,
        published: &[PublishedPort],
        cancel: &CancellationToken,
    ) -> Result<Self, ExecError> {
        let unshare = tools.unshare.as_ref().map_err(|searched| missing("unshare", searched))?;
        let slirp4netns = tools.slirp4netns.as_ref().map_err(|searched| missing("slirp4netns", searched))?;
        // The holder says it is in its namespace before it waits for EOF on stdin: reading
        // `/proc/PID/ns/net` earlier could name the host's namespace.
        let mut holder = Command::new(unshare)
            .args(["--net", "--", "/bin/sh", "-c", "echo && exec cat >/dev/null"])
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ExecError::Spawn { path: unshare.clone(), source })?;
        let holder_stdin = holder.stdin.take();
        let mut line = String::new();
        let mut holder_out = BufReader::new(holder.stdout.take().ok_or_else(|| setup("the holder has no stdout"))?);
        tokio::select! {
            read = holder_out.read_line(&mut line) => {
                read.map_err(ExecError::io("read the stdout of", unshare))?;
            }
            () = cancel.cancelled() => return Err(ExecError::Cancelled),
        }
        let pid = holder.id().ok_or_else(|| setup("the namespace holder exited"))?;
        if line != "\n" || same_namespace(pid)? {
            return Err(setup("unshare --net did not make a network namespace"));
        }

        let log_file = std::fs::File::create(log).map_err(ExecError::io("create", log))?;
        // Published ports are added through slirp4netns's API socket, in a directory of its own
        // (a bundle's path is often longer than a socket's may be).
        let api = if published.is_empty() { None } else { Some(ApiSocket::new()?) };
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(SLIRP_LAUNCHER).arg(slirp4netns).args([
            "--configure",
            MTU,
            "--disable-host-loopback",
            "--ready-fd=3",
            "--exit-fd=0",
        ]);
        if let Some(api) = &api {
            command.arg("--api-socket").arg(api.path());
        }
        let mut slirp = command
            .arg(pid.to_string())
            .arg(TAP)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ExecError::Spawn { path: slirp4netns.clone(), source })?;
        let slirp_exit = slirp.stdin.take();
        let mut ready = slirp.stdout.take().ok_or_else(|| setup("slirp4netns has no ready pipe"))?;
        let network = Self { holder, slirp, _holder_stdin: holder_stdin, _slirp_exit: slirp_exit, _api: api };
        let mut byte = [0u8; 1];
        let read = tokio::select! {
            read = tokio::time::timeout(READY_TIMEOUT, ready.read(&mut byte)) => read,
            () = cancel.cancelled() => return Err(ExecError::Cancelled),
        };
        match read {
            Ok(Ok(1)) if byte[0] == b'1' => {
                if let Some(api) = &network._api {
                    for port in published {
                        api.forward(port).await?;
                    }
                }
                Ok(network)
            }
            Ok(Ok(_)) => {
                // EOF: slirp4netns failed; its reason is in the log.
                let message = std::fs::read_to_string(log).unwrap_or_default();
                Err(setup(&format!("slirp4netns failed: {}", message.trim())))
            }
            Ok(Err(e)) => Err(ExecError::io("read the ready fd of", slirp4netns)(e)),
            Err(_) => Err(setup(&format!("slirp4netns was not ready after {READY_TIMEOUT:?}"))),
        }
    }

    /// The namespace for runc to join.
    pub(crate) fn path(&self) -> Result<PathBuf, ExecError> {
        let pid = self.holder.id().ok_or_else(|| setup("the namespace holder exited"))?;
        Ok(PathBuf::from(format!("/proc/{pid}/ns/net")))
    }

    /// Sends SIGKILL to slirp4netns and the holder, so no process of the run can act any more,
    /// and reaps them in the background: their exit tears down the tap device and namespace,
    /// which takes the kernel about 20 ms here, a third of a run's time if waited for.
    pub(crate) fn stop(mut self) {
        for child in [&mut self.slirp, &mut self.holder] {
            let _ = child.start_kill();
        }
        tokio::spawn(async move {
            let _ = self.slirp.wait().await;
            let _ = self.holder.wait().await;
        });
    }
}

/// Whether process `pid` is in this process's network namespace.
fn same_namespace(pid: u32) -> Result<bool, ExecError> {
    use std::os::unix::fs::MetadataExt;
    let theirs = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let ours = Path::new("/proc/self/ns/net");
    let theirs = std::fs::metadata(&theirs).map_err(ExecError::io("stat", theirs))?;
    let ours = std::fs::metadata(ours).map_err(ExecError::io("stat", ours))?;
    Ok(theirs.dev() == ours.dev() && theirs.ino() == ours.ino())
}

fn missing(program: &'static str, searched: &str) -> ExecError {
    ExecError::NetworkToolMissing { program, searched: searched.to_owned() }
}

fn setup(message: &str) -> ExecError {
    ExecError::NetworkSetup { message: message.to_owned() }
}

//! An ssh agent holding the key files given as `--ssh ID=KEY[,KEY...]`, as buildx serves such
//! keys to `RUN --mount=type=ssh`: OpenSSH's own `ssh-agent`, started for one build and
//! stopped with it, even when this process is killed: a shell watches a pipe from this process
//! and kills the agent (by its PID) when the pipe closes, as the kernel closes it on any exit.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::EngineError;

/// How long the agent may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `ssh-agent` with keys loaded; killed, and its directory removed, when dropped.
pub struct KeyAgent {
    child: Child,
    /// The watching shell's standard input: closing it (or this process ending) stops the agent.
    lifeline: Option<ChildStdin>,
    dir: PathBuf,
    socket: PathBuf,
}

impl KeyAgent {
    /// Starts an agent listening in a new private directory below `tmp` and adds `keys` to it.
    /// A key that `ssh-add` refuses (not a key, protected by a passphrase) fails with its reason.
    pub fn start(tmp: &Path, keys: &[PathBuf]) -> Result<Self, EngineError> {
        let dir = tmp.join(format!("ssh-agent-{}", gb_cache::LayerId::random()));
        let io = |action: &str| {
            let action = action.to_owned();
            move |source| EngineError::Io { action, source }
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)
            .map_err(io("making the ssh agent's directory"))?;
        let socket = dir.join("agent.sock");
        // The agent runs in the background of a shell that waits for its standard input to
        // close, then kills the agent: a killed build leaves no agent running.
        let mut child = Command::new("sh")
            .arg("-c")
            // SIGKILL: the agent inherits the server threads' blocked SIGTERM and would ignore it.
            .arg("ssh-agent -D -a \"$1\" </dev/null >/dev/null 2>&1 & agent=$!; read -r _; kill -9 \"$agent\"; wait")
            .arg("graphbuild-ssh-agent")
            .arg(&socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| EngineError::Io {
                action: "starting ssh-agent for --ssh key files".to_owned(),
                source,
            })?;
        let lifeline = child.stdin.take();
        let agent = KeyAgent { child, lifeline, dir, socket };
        agent.wait_until_listening()?;
        agent.add(keys)?;
        Ok(agent)
    }

    /// The agent's socket, for the solve's `ssh` map.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn wait_until_listening(&self) -> Result<(), EngineError> {
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            // The shell ends at once when ssh-agent cannot run (not installed).
            if self.exited() {
                return Err(EngineError::Io {
                    action: "starting ssh-agent for --ssh key files (install openssh-client)".to_owned(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(EngineError::Io {
                    action: "waiting for ssh-agent to listen".to_owned(),
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn add(&self, keys: &[PathBuf]) -> Result<(), EngineError> {
        let output = Command::new("ssh-add")
            .args(keys)
            .env("SSH_AUTH_SOCK", &self.socket)
            // Never ask for a passphrase: a build has no one to ask.
            .env("SSH_ASKPASS_REQUIRE", "never")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| EngineError::Io {
                action: "running ssh-add (install openssh-client)".to_owned(),
                source,
            })?;
        if !output.status.success() {
            let names: Vec<String> = keys.iter().map(|key| key.display().to_string()).collect();
            return Err(EngineError::Invalid(format!(
                "--ssh: loading the key {}: {}",
                names.join(", "),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(())
    }
}

impl KeyAgent {
    /// Whether the watching shell has ended (the agent with it).
    fn exited(&self) -> bool {
        // `try_wait` needs `&mut`; reading the shell's state in /proc does not reap it.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        stat.rsplit_once(") ").is_none_or(|(_, rest)| rest.starts_with('Z'))
    }
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        // Closing the pipe makes the shell kill the agent and exit; a shell that does not within
        // seconds is killed itself rather than hold the build up.
        drop(self.lifeline.take());
        let deadline = Instant::now() + START_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

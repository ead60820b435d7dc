//! An ssh agent holding the key files given as `--ssh ID=KEY[,KEY...]`, as buildx serves such
//! keys to `RUN --mount=type=ssh`: OpenSSH's own `ssh-agent`, started for one build and
//! stopped (by its PID) with it.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::EngineError;

/// How long the agent may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `ssh-agent` with keys loaded; killed, and its directory removed, when dropped.
pub struct KeyAgent {
    child: Child,
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
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| EngineError::Io {
                action: "starting ssh-agent for --ssh key files (install openssh-client)".to_owned(),
                source,
            })?;
        let agent = KeyAgent { child, dir, socket };
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

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! SSH agent forwarding for `RUN --mount=type=ssh`: a socket of the step's own that relays
//! each connection to the agent the build was given (`--ssh`), as BuildKit's ssh forwarding.
//!
//! The agent's own socket is never mounted: the relay socket carries the mount's owner and mode
//! (so a step running as another user can use it, and no other can), and it disappears with the
//! step, so nothing the step leaves behind can reach the agent later.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A relay socket at `path` forwarding to an agent, until dropped.
pub(crate) struct SshRelay {
    path: PathBuf,
    /// The listening socket, shut down to wake the acceptor when the relay stops.
    listener: UnixListener,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl SshRelay {
    /// Listens at `path` (which must not exist; its directory should be private), owned by
    /// `uid:gid` with `mode`, relaying every connection to the agent socket `agent`.
    pub(crate) fn start(agent: &Path, path: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<Self> {
        // Checked now, so a wrong `--ssh` socket fails the step with its reason rather than
        // leaving the step's ssh client to report a closed connection.
        drop(UnixStream::connect(agent)?);
        let listener = UnixListener::bind(path)?;
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o777))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = std::thread::Builder::new().name("ssh-relay".to_owned()).spawn({
            let (listener, agent, stopping) = (listener.try_clone()?, agent.to_owned(), stopping.clone());
            move || accept(&listener, &agent, &stopping)
        })?;
        Ok(Self { path: path.to_owned(), listener, stopping, acceptor: Some(acceptor) })
    }
}

impl Drop for SshRelay {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Shutting the listening socket down makes the acceptor's `accept` fail at once (Linux),
        // whether or not its path still exists; it sees it is stopping and returns.
        let _ = nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        // And a connection, which wakes it too where a shutdown would not.
        drop(UnixStream::connect(&self.path));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Accepts connections until stopped; each is relayed on threads of its own, which end when
/// either side closes.
fn accept(listener: &UnixListener, agent: &Path, stopping: &AtomicBool) {
    for client in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else {
            // A listener that fails to accept without being stopped (out of descriptors) is
            // given a moment rather than spun on.
            std::thread::sleep(std::time::Duration::from_millis(10));
            continue;
        };
        let Ok(upstream) = UnixStream::connect(agent) else { continue };
        let _ = relay(client, upstream);
    }
}

/// Copies both ways between `client` and `upstream`, each direction on its own thread, closing
/// the other side's writing half when one side is done.
fn relay(client: UnixStream, upstream: UnixStream) -> io::Result<()> {
    let (client_reader, upstream_writer) = (client.try_clone()?, upstream.try_clone()?);
    let pump = |mut from: UnixStream, mut to: UnixStream| {
        move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        }
    };
    std::thread::Builder::new().name("ssh-relay-up".to_owned()).spawn(pump(client_reader, upstream_writer))?;
    std::thread::Builder::new().name("ssh-relay-down".to_owned()).spawn(pump(upstream, client))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// An "agent" that answers each connection with the four bytes it read, reversed (the
    /// relay's own check at start sends nothing, and gets nothing).
    fn fake_agent(path: &Path) {
        let listener = UnixListener::bind(path).expect("bind agent");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = [0u8; 4];
                if stream.read_exact(&mut request).is_ok() {
                    request.reverse();
                    let _ = stream.write_all(&request);
                }
            }
        });
    }

    #[test]
    fn connections_reach_the_agent_and_the_socket_goes_with_the_relay() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = dir.path().join("agent.sock");
        fake_agent(&agent);
        let path = dir.path().join("relay.sock");
        let relay =
            SshRelay::start(&agent, &path, nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw(), 0o600)
                .expect("start");
        assert_eq!(std::fs::metadata(&path).expect("socket").permissions().mode() & 0o777, 0o600);
        for _ in 0..2 {
            let mut stream = UnixStream::connect(&path).expect("connect");
            stream.write_all(b"ping").expect("write");
            let mut answer = [0u8; 4];
            stream.read_exact(&mut answer).expect("read");
            assert_eq!(&answer, b"gnip");
        }
        drop(relay);
        assert!(!path.exists(), "the relay socket is removed");
    }

    #[test]
    fn a_socket_that_is_no_agent_fails_at_start() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("none.sock");
        assert!(SshRelay::start(&missing, &dir.path().join("relay.sock"), 0, 0, 0o600).is_err());
    }
}

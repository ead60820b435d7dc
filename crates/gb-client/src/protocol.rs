//! The client–server protocol (version 1, documented in `docs/server-protocol.md`): JSON
//! lines over the root's Unix socket, the client's standard streams passed with the first line
//! as `SCM_RIGHTS` descriptors.

use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut, Write as _};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

/// The protocol's version; a server refuses a first line of another.
pub const PROTOCOL: u32 = 1;

/// The socket's name inside the state root.
pub const SOCKET: &str = "server.sock";

/// A client's first line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL`].
    pub protocol: u32,
    /// The client's build (version and binary identity); a command is refused by a server of
    /// another build, which the graphbuild client then replaces.
    #[serde(default)]
    pub client: Option<String>,
    /// What the client asks.
    pub request: Request,
}

impl Hello {
    /// The first line of a request from a client of the server binary `identity` names (see
    /// [`build_identity`]).
    pub fn new(request: Request, identity: String) -> Self {
        Self { protocol: PROTOCOL, client: Some(identity), request }
    }
}

/// What a client asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Run a graphbuild command line as if in the client's process: `argv` without the program
    /// name, in `cwd`, with `env`; the first line carries the client's stdin, stdout and stderr.
    Command {
        /// The arguments after `graphbuild`.
        argv: Vec<String>,
        /// The client's working directory (absolute).
        cwd: PathBuf,
        /// The client's environment.
        env: BTreeMap<String, String>,
        /// The client's umask (the server's when absent): files the command creates get it.
        #[serde(default)]
        umask: Option<u32>,
    },
    /// The server's state.
    Status,
    /// Every image name in the store (`images`), newest first: a `result` with a list of
    /// image summaries.
    Images,
    /// One image in docker's `image inspect` shape.
    Inspect {
        /// A name or an id (prefix).
        name: String,
    },
    /// An image's id and history, oldest entry first.
    History {
        /// A name or an id (prefix).
        name: String,
    },
    /// Give an image another name.
    Tag {
        /// The image (name or id).
        source: String,
        /// The new name.
        target: String,
    },
    /// Remove a name, or with an id every name of the image (`force` as `rmi -f`); layers
    /// nothing names any more are collected.
    Remove {
        /// A name or an id (prefix).
        name: String,
        /// As `rmi -f`.
        #[serde(default)]
        force: bool,
    },
    /// What images, build cache and blobs take on disk.
    DiskUsage,
    /// Solve a Definition (the IR, `docs/ir.md`) and export its output: progress events stream
    /// back as `event` lines, then a `result` (or `failed`). Closing the connection cancels it.
    Solve(Box<SolveRequest>),
    /// Stop the server: no new requests; with `cancel`, running commands are cancelled, else
    /// they run to their end first.
    Stop {
        /// Cancel running commands.
        #[serde(default)]
        cancel: bool,
    },
}

/// A Definition to solve, and where its output goes. Paths are absolute: a typed request has
/// no working directory.
#[derive(Debug, Serialize, Deserialize)]
pub struct SolveRequest {
    /// The Definition, as `graphbuild lower` prints it.
    pub definition: serde_json::Value,
    /// The local directories its `local` sources name (`{"context": "/abs/dir"}`).
    #[serde(default)]
    pub locals: BTreeMap<String, PathBuf>,
    /// Outputs in `-o` syntax (`type=oci,dest=/abs/out.tar`, `type=image,name=app:1`).
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Run every step, as `--no-cache`.
    #[serde(default)]
    pub no_cache: bool,
}

/// What a client sends while its command runs.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientEvent {
    /// The client got this signal (2 SIGINT, 15 SIGTERM): the command is cancelled.
    Signal(i32),
}

/// What the server answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The command ended with this exit status.
    Exit(i32),
    /// The server's state.
    Status(Status),
    /// A typed request's answer (its shape is the request's, see `docs/server-protocol.md`).
    Result(serde_json::Value),
    /// A progress event of a `solve` (the `--progress json` event).
    Event(serde_json::Value),
    /// A typed request failed.
    Failed {
        /// Why, for a person.
        message: String,
        /// The exit status the graphbuild command would end with (1 input, 3 environment,
        /// 130 cancelled).
        exit_code: i32,
    },
    /// The server stops.
    Stopping,
    /// The request was refused (another protocol, another build, a stopping server).
    Refused {
        /// Why.
        message: String,
        /// Whether the server is of another build than the client.
        #[serde(default)]
        other_build: bool,
    },
}

/// What `server status` shows.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// The server's process id.
    pub pid: u32,
    /// The state root it serves.
    pub root: PathBuf,
    /// Its build.
    pub build: String,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// Commands running now (this status request not counted).
    pub commands: usize,
    /// Containers it supervises now (`run -d`, `start`); absent from servers before them.
    #[serde(default)]
    pub containers: usize,
    /// It exits after this many idle seconds.
    pub idle_timeout_s: u64,
    /// Steps it runs at once, all builds together.
    pub max_parallelism: usize,
}

/// One end of a connection: whole lines in, whole lines out.
pub struct Connection {
    stream: UnixStream,
    buffer: Vec<u8>,
}

impl Connection {
    /// Wraps a connected stream.
    pub fn new(stream: UnixStream) -> Self {
        Self { stream, buffer: Vec::new() }
    }

    /// The stream.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Sends one JSON line, with `fds` attached.
    pub fn send<T: Serialize>(&self, message: &T, fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        if fds.is_empty() {
            return (&self.stream).write_all(&line);
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(std::io::Error::other("too many descriptors for one message"));
        }
        // The descriptors go with the first byte; the rest of the line follows plainly.
        let sent = rustix::net::sendmsg(&self.stream, &[IoSlice::new(&line)], &mut control, SendFlags::NOSIGNAL)?;
        (&self.stream).write_all(&line[sent..])
    }

    /// Receives one JSON line and the descriptors that came with it; `None` at the end.
    pub fn receive<T: for<'de> Deserialize<'de>>(&mut self) -> std::io::Result<Option<(T, Vec<OwnedFd>)>> {
        let mut fds = Vec::new();
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let message = serde_json::from_slice(&line)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                return Ok(Some((message, fds)));
            }
            if self.buffer.len() > MAX_LINE {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a line over 16 MiB"));
            }
            let mut chunk = [0u8; 64 * 1024];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let received = rustix::net::recvmsg(
                &self.stream,
                &mut [IoSliceMut::new(&mut chunk)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            )?;
            for message in control.drain() {
                if let RecvAncillaryMessage::ScmRights(received) = message {
                    fds.extend(received);
                }
            }
            if received.bytes == 0 {
                return Ok(None);
            }
            self.buffer.extend_from_slice(&chunk[..received.bytes]);
        }
    }
}

/// The longest line either side accepts (a command line with its environment).
const MAX_LINE: usize = 16 << 20;

/// The build of the server binary at `path` (`/proc/self/exe` for the running one): its version
/// and the identity of its file, so a rebuilt binary never talks to a server started from the
/// old one.
pub fn build_identity(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let version = env!("CARGO_PKG_VERSION");
    match std::fs::metadata(path) {
        Ok(meta) => format!(
            "{version} ({}:{}:{}:{})",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000
        ),
        Err(_) => version.to_owned(),
    }
}

//! The client side of a state root's server: its wire protocol ([`protocol`]), finding the
//! root's server or starting one, and running a command line through it with this process's
//! standard streams. Holds no engine code: the `graphbuild` front door links only this, so a
//! command reaches the server a few milliseconds after it was typed.

pub mod protocol;

use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use protocol::{ClientEvent, Connection, Hello, Reply, Request, SOCKET};

/// Why talking to the server failed. Every kind is an environment failure (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file operation on the state root failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// The state root belongs to another user.
    #[error(
        "refusing the state root directory {}: it is owned by uid {owner}, not by this user (uid {me}); use a --root of your own",
        path.display()
    )]
    NotOwner {
        /// The root.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This user.
        me: u32,
    },
    /// The server process exited before it served.
    #[error("the graphbuild server for {} did not start ({status}): {log_tail}", root.display())]
    DidNotStart {
        /// The root.
        root: PathBuf,
        /// How it exited.
        status: std::process::ExitStatus,
        /// The end of its log.
        log_tail: String,
    },
    /// Nothing answers on the socket although a server was started.
    #[error("no graphbuild server answers on {} (see {})", root.join(SOCKET).display(), root.join("server.log").display())]
    NoAnswer {
        /// The root.
        root: PathBuf,
    },
    /// The server refused the request.
    #[error("the graphbuild server refused the command: {0}")]
    Refused(String),
    /// Another build's server kept refusing this client.
    #[error("the graphbuild server kept refusing this client's build")]
    KeptRefusing,
    /// The server answered something that is not an answer to the request.
    #[error("the graphbuild server answered {0} to a command")]
    Unexpected(String),
    /// The server went away in the middle of a request.
    #[error(
        "the graphbuild server for {} stopped before the command finished (see {}); the next command starts a new one",
        root.display(),
        root.join("server.log").display()
    )]
    Died {
        /// The root.
        root: PathBuf,
    },
}

impl ClientError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| ClientError::Io { context, source }
    }
}

/// The program that serves state roots (`graphbuild-engine`, or the running binary), with the
/// build identity its server reports.
#[derive(Debug, Clone)]
pub struct ServerProgram {
    path: PathBuf,
    identity: String,
}

impl ServerProgram {
    /// The server program at `path`.
    pub fn at(path: PathBuf) -> Self {
        let identity = protocol::build_identity(&path);
        Self { path, identity }
    }

    /// The running binary, which serves roots itself.
    pub fn this_process() -> Result<Self, ClientError> {
        std::env::current_exe().map(Self::at).map_err(ClientError::io("finding the graphbuild binary"))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its build identity (what a server started from it reports).
    pub fn identity(&self) -> &str {
        &self.identity
    }
}

/// The state root when the command line names none (`--root`, `$GRAPHBUILD_ROOT`):
/// /var/lib/graphbuild as root, else `$XDG_DATA_HOME/graphbuild` or
/// `~/.local/share/graphbuild`.
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/graphbuild");
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(data) => PathBuf::from(data).join("graphbuild"),
        None => std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from(".graphbuild"), |home| PathBuf::from(home).join(".local/share/graphbuild")),
    }
}

/// The state root a command line names (`None`: the default), made absolute.
pub fn root_path(root: Option<&Path>) -> Result<PathBuf, ClientError> {
    let path = root.map_or_else(default_root, Path::to_path_buf);
    std::path::absolute(&path).map_err(ClientError::io(format!("the state root {}", path.display())))
}

/// How a started server is configured (`server start`'s flags).
#[derive(Debug, Default, Clone)]
pub struct ServerFlags {
    /// `--idle-timeout`.
    pub idle_timeout: Option<String>,
    /// `--max-parallelism`.
    pub max_parallelism: Option<usize>,
}

/// Runs `argv` (without the program name) through the root's server, starting one from
/// `program` when none answers, and returns the command's exit status.
pub fn run_remotely(root: &Path, program: &ServerProgram, argv: Vec<String>) -> Result<i32, ClientError> {
    let cwd = std::env::current_dir().map_err(ClientError::io("the working directory"))?;
    let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let hello = Hello::new(Request::Command { argv, cwd, env, umask: Some(own_umask()) }, program.identity.clone());
    // Signals are taken by a thread of this client and forwarded, from before the request is sent.
    let mut signals = nix::sys::signal::SigSet::empty();
    signals.add(nix::sys::signal::Signal::SIGINT);
    signals.add(nix::sys::signal::Signal::SIGTERM);
    signals.thread_block().map_err(|e| ClientError::Io { context: "blocking signals".into(), source: e.into() })?;
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let (mut refused, mut unread) = (0, 0);
    while refused < 3 {
        let mut connection = Connection::new(connect_or_start(root, program, &ServerFlags::default())?);
        // A failed send may be a server that refused before reading all of it: its reply says why.
        let sent = connection.send(&hello, &[stdin.as_fd(), stdout.as_fd(), stderr.as_fd()]);
        forward_signals(&connection, signals);
        match (connection.receive::<Reply>(), sent) {
            (Ok(Some((Reply::Refused { message, other_build: false }, _))), _) => {
                return Err(ClientError::Refused(message));
            }
            // A server that dies with the command unread (killed as this client connected, its
            // socket still open for a moment) resets the connection: nothing ran, so the
            // command goes to the next server. One that read it and died closes it instead.
            (Err(error), _) | (Ok(None), Err(error)) if never_read(&error) && unread < 5 => {
                unread += 1;
                std::thread::sleep(Duration::from_millis(50 << unread));
            }
            (_, Err(source)) => {
                return Err(ClientError::Io { context: "sending the command to the graphbuild server".into(), source });
            }
            (Ok(Some((Reply::Exit(code), _))), Ok(())) => return Ok(code),
            (Ok(Some((Reply::Refused { other_build: true, .. }, _))), Ok(())) => {
                refused += 1;
                replace_server(root, program);
            }
            (Ok(Some((other, _))), Ok(())) => return Err(ClientError::Unexpected(format!("{other:?}"))),
            (Ok(None) | Err(_), Ok(())) => return Err(ClientError::Died { root: root.to_owned() }),
        }
    }
    Err(ClientError::KeptRefusing)
}

/// Whether a connection failed because its server went away without reading what was sent
/// (the kernel resets a Unix socket closed with unread data, refuses one no longer listened
/// on, and breaks the pipe of a send to a closed one), rather than after reading it.
fn never_read(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(error.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused | ErrorKind::BrokenPipe)
}

/// This process's umask (read by setting it and putting it back; nothing else runs yet).
fn own_umask() -> u32 {
    use nix::sys::stat::{Mode, umask};
    let mask = umask(Mode::from_bits_truncate(0o022));
    umask(mask);
    mask.bits()
}

/// Forwards the first SIGINT or SIGTERM (and any later one) to the server, which cancels the
/// command and answers once it is cleaned up.
fn forward_signals(connection: &Connection, signals: nix::sys::signal::SigSet) {
    let Ok(stream) = connection.stream().try_clone() else { return };
    let _ = std::thread::Builder::new().name("signals".to_owned()).spawn(move || {
        let connection = Connection::new(stream);
        while let Ok(signal) = signals.wait() {
            if connection.send(&ClientEvent::Signal(signal as i32), &[]).is_err() {
                return;
            }
        }
    });
}

/// A connection to the root's server, started from `program` in the background when none
/// answers.
pub fn connect_or_start(root: &Path, program: &ServerProgram, flags: &ServerFlags) -> Result<UnixStream, ClientError> {
    let socket = root.join(SOCKET);
    if let Ok(stream) = UnixStream::connect(&socket) {
        return Ok(stream);
    }
    let mut child = spawn_server(root, program, flags)?;
    let started = Instant::now();
    let mut told = false;
    let mut exited_at: Option<Instant> = None;
    loop {
        if let Ok(stream) = UnixStream::connect(&socket) {
            return Ok(stream);
        }
        match child.try_wait() {
            Ok(Some(status)) if !status.success() => {
                return Err(ClientError::DidNotStart { root: root.to_owned(), status, log_tail: log_tail(root) });
            }
            // Another client's server won the race; it is opening the root.
            Ok(Some(_)) => {
                let since = *exited_at.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(30) {
                    return Err(ClientError::NoAnswer { root: root.to_owned() });
                }
            }
            _ => {}
        }
        if !told && started.elapsed() > Duration::from_secs(3) {
            told = true;
            eprintln!("waiting for the graphbuild server to open {} (another process is using it)", root.display());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The size past which `ROOT/server.log` is started afresh.
const LOG_LIMIT: u64 = 1 << 20;

/// Starts `PROGRAM server start --foreground` for the root in the background, its output in
/// `ROOT/server.log`.
fn spawn_server(root: &Path, program: &ServerProgram, flags: &ServerFlags) -> Result<std::process::Child, ClientError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    create_root(root)?;
    let log_path = root.join("server.log");
    // Each server appends a few lines; past 1 MiB the log starts over, the last one kept as
    // `server.log.1`.
    if std::fs::metadata(&log_path).is_ok_and(|meta| meta.len() > LOG_LIMIT) {
        let _ = std::fs::rename(&log_path, root.join("server.log.1"));
    }
    let opening = format!("opening {}", log_path.display());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(ClientError::io(opening.clone()))?;
    let log_err = log.try_clone().map_err(ClientError::io(opening))?;
    let mut command = Command::new(&program.path);
    command.arg("--root").arg(root).args(["server", "start", "--foreground", "--background"]);
    if let Some(timeout) = &flags.idle_timeout {
        command.args(["--idle-timeout", timeout]);
    }
    if let Some(max) = flags.max_parallelism {
        command.arg("--max-parallelism").arg(max.to_string());
    }
    // The server serves the root it is given; a GRAPHBUILD_ROOT of the starting client's would
    // otherwise stand in for the root of every later command line that names none.
    command
        .env_remove("GRAPHBUILD_ROOT")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(ClientError::io(format!("starting the graphbuild server {}", program.path.display())))
}

/// Creates the state root (mode 0700, its parents as needed) for the server's log, refusing a
/// root of another user's.
fn create_root(root: &Path) -> Result<(), ClientError> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    let creating = format!("creating the state root {}", root.display());
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(ClientError::io(creating.clone()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(root) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(ClientError::io(creating)(e)),
        _ => {}
    }
    let meta = std::fs::metadata(root).map_err(ClientError::io(format!("inspecting {}", root.display())))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(ClientError::NotOwner { path: root.to_owned(), owner: meta.uid(), me });
    }
    Ok(())
}

/// The last lines of the server's log, for a failure to start.
fn log_tail(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Asks a server of another build to stop once its commands are done, so that one of this
/// client's program replaces it.
fn replace_server(root: &Path, program: &ServerProgram) {
    let _ = request(root, program, Request::Stop { cancel: false });
}

/// Sends one request that is not a command and returns the reply; `None` when no server runs.
pub fn request(root: &Path, program: &ServerProgram, request: Request) -> Result<Option<Reply>, ClientError> {
    let Ok(stream) = UnixStream::connect(root.join(SOCKET)) else { return Ok(None) };
    let mut connection = Connection::new(stream);
    connection
        .send(&Hello::new(request, program.identity.clone()), &[])
        .map_err(ClientError::io("talking to the graphbuild server"))?;
    match connection.receive::<Reply>() {
        Ok(Some((reply, _))) => Ok(Some(reply)),
        Ok(None) | Err(_) => Err(ClientError::Died { root: root.to_owned() }),
    }
}

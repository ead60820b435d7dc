//! The thin client: hands the command line to the state root's server (starting one when none
//! runs), forwards Ctrl-C and SIGTERM, and exits with the command's status. The server writes to
//! this process's own stdout and stderr (their descriptors go with the request), so output,
//! terminals and pipes behave as if the command ran here.

use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::exit::{self, Failure};
use crate::server::protocol::{ClientEvent, Connection, Hello, Reply, Request, SOCKET, Status};

/// The state root a command line names: `--root` (or `$GRAPHBUILD_ROOT`), else the default,
/// made absolute.
pub fn root_path(root: Option<&Path>) -> Result<PathBuf, Failure> {
    let path = root.map_or_else(gb_solver::StateRoot::default_path, Path::to_path_buf);
    std::path::absolute(&path).map_err(|e| Failure::Io(format!("the state root {}: {e}", path.display())))
}

/// Whether a server answers on the root's socket.
pub fn server_is_running(root: &Path) -> bool {
    UnixStream::connect(root.join(SOCKET)).is_ok()
}

/// Runs `argv` (without the program name) through the root's server and returns its exit
/// status.
pub fn run_remotely(root: &Path, argv: Vec<String>) -> Result<i32, Failure> {
    let cwd = std::env::current_dir().map_err(|e| Failure::Io(format!("the working directory: {e}")))?;
    let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let hello = Hello::new(Request::Command { argv, cwd, env, umask: Some(own_umask()) });
    // Signals are taken by a thread of this client and forwarded, from before the request is sent.
    let mut signals = nix::sys::signal::SigSet::empty();
    signals.add(nix::sys::signal::Signal::SIGINT);
    signals.add(nix::sys::signal::Signal::SIGTERM);
    signals.thread_block().map_err(|e| Failure::Io(format!("blocking signals: {e}")))?;
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    for _attempt in 0..3 {
        let mut connection = Connection::new(connect_or_start(root, &ServerFlags::default())?);
        // A failed send may be a server that refused before reading all of it: its reply says why.
        let sent = connection.send(&hello, &[stdin.as_fd(), stdout.as_fd(), stderr.as_fd()]);
        forward_signals(&connection, signals);
        match (connection.receive::<Reply>(), sent) {
            (Ok(Some((Reply::Refused { message, other_build: false }, _))), _) => {
                return Err(Failure::Io(format!("the graphbuild server refused the command: {message}")));
            }
            (_, Err(error)) => {
                return Err(Failure::Io(format!("sending the command to the graphbuild server: {error}")));
            }
            (Ok(Some((Reply::Exit(code), _))), Ok(())) => return Ok(code),
            (Ok(Some((Reply::Refused { other_build: true, .. }, _))), Ok(())) => replace_server(root),
            (Ok(Some((other, _))), Ok(())) => {
                return Err(Failure::Io(format!("the graphbuild server answered {other:?} to a command")));
            }
            (Ok(None) | Err(_), Ok(())) => return Err(died(root)),
        }
    }
    Err(Failure::Io("the graphbuild server kept refusing this client's build".to_owned()))
}

/// This process's umask (read by setting it and putting it back; nothing else runs yet).
fn own_umask() -> u32 {
    use nix::sys::stat::{Mode, umask};
    let mask = umask(Mode::from_bits_truncate(0o022));
    umask(mask);
    mask.bits()
}

/// The failure when the server went away in the middle of a command.
fn died(root: &Path) -> Failure {
    Failure::Io(format!(
        "the graphbuild server for {} stopped before the command finished (see {}); the next command starts a new one",
        root.display(),
        root.join("server.log").display()
    ))
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

/// How `server start` starts a server.
#[derive(Debug, Default, Clone)]
pub struct ServerFlags {
    /// `--idle-timeout`.
    pub idle_timeout: Option<String>,
    /// `--max-parallelism`.
    pub max_parallelism: Option<usize>,
}

/// A connection to the root's server, started in the background when none answers.
pub fn connect_or_start(root: &Path, flags: &ServerFlags) -> Result<UnixStream, Failure> {
    let socket = root.join(SOCKET);
    if let Ok(stream) = UnixStream::connect(&socket) {
        return Ok(stream);
    }
    let mut child = spawn_server(root, flags)?;
    let started = Instant::now();
    let mut told = false;
    let mut exited_at: Option<Instant> = None;
    loop {
        if let Ok(stream) = UnixStream::connect(&socket) {
            return Ok(stream);
        }
        match child.try_wait() {
            Ok(Some(status)) if !status.success() => {
                return Err(Failure::Io(format!(
                    "the graphbuild server for {} did not start ({status}): {}",
                    root.display(),
                    log_tail(root)
                )));
            }
            // Another client's server won the race; it is opening the root.
            Ok(Some(_)) => {
                let since = *exited_at.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(30) {
                    return Err(Failure::Io(format!(
                        "no graphbuild server answers on {} (see {})",
                        socket.display(),
                        root.join("server.log").display()
                    )));
                }
            }
            _ => {}
        }
        if !told && started.elapsed() > Duration::from_secs(3) {
            told = true;
            crate::session::errln!(
                "waiting for the graphbuild server to open {} (another process is using it)",
                root.display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The size past which `ROOT/server.log` is started afresh.
const LOG_LIMIT: u64 = 1 << 20;

/// Starts `graphbuild server start --foreground` for the root in the background, its output in
/// `ROOT/server.log`.
fn spawn_server(root: &Path, flags: &ServerFlags) -> Result<std::process::Child, Failure> {
    use std::os::unix::fs::OpenOptionsExt as _;
    gb_solver::StateRoot::create_dir(root)?;
    let log_path = root.join("server.log");
    // Each server appends a few lines; past 1 MiB the log starts over, the last one kept as
    // `server.log.1`.
    if std::fs::metadata(&log_path).is_ok_and(|meta| meta.len() > LOG_LIMIT) {
        let _ = std::fs::rename(&log_path, root.join("server.log.1"));
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| Failure::Io(format!("opening {}: {e}", log_path.display())))?;
    let log_err = log.try_clone().map_err(|e| Failure::Io(format!("opening {}: {e}", log_path.display())))?;
    let exe = std::env::current_exe().map_err(|e| Failure::Io(format!("finding the graphbuild binary: {e}")))?;
    let mut command = Command::new(exe);
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
        .map_err(|e| Failure::Io(format!("starting the graphbuild server: {e}")))
}

/// The last lines of the server's log, for a failure to start.
fn log_tail(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Asks a server of another build to stop once its commands are done, so that one of this
/// build replaces it.
fn replace_server(root: &Path) {
    let _ = request(root, Request::Stop { cancel: false });
}

/// Sends one request that is not a command and returns the reply; `None` when no server runs.
pub fn request(root: &Path, request: Request) -> Result<Option<Reply>, Failure> {
    let Ok(stream) = UnixStream::connect(root.join(SOCKET)) else { return Ok(None) };
    let mut connection = Connection::new(stream);
    connection
        .send(&Hello::new(request), &[])
        .map_err(|e| Failure::Io(format!("talking to the graphbuild server: {e}")))?;
    match connection.receive::<Reply>() {
        Ok(Some((reply, _))) => Ok(Some(reply)),
        Ok(None) | Err(_) => Err(died(root)),
    }
}

/// `graphbuild server start`: starts the root's server in the background unless one runs.
pub fn start(root: &Path, flags: &ServerFlags) -> Result<(), Failure> {
    if let Some(Reply::Status(status)) = request(root, Request::Status)? {
        crate::stdout::outln!("graphbuild server already running for {} (pid {})", root.display(), status.pid);
        return Ok(());
    }
    drop(connect_or_start(root, flags)?);
    match request(root, Request::Status)? {
        Some(Reply::Status(status)) => {
            crate::stdout::outln!("graphbuild server started for {} (pid {})", root.display(), status.pid);
            Ok(())
        }
        _ => Err(Failure::Io(format!("the graphbuild server for {} did not answer", root.display()))),
    }
}

/// `graphbuild server stop`: stops the root's server, cancelling running commands, and waits
/// for it to exit.
pub fn stop(root: &Path) -> Result<(), Failure> {
    let Some(Reply::Status(status)) = request(root, Request::Status)? else {
        crate::stdout::outln!("no graphbuild server is running for {}", root.display());
        return Ok(());
    };
    request(root, Request::Stop { cancel: true })?;
    // Gone once it is dead, reaped or not (a zombie's parent may take its time).
    let deadline = Instant::now() + Duration::from_secs(60);
    while gb_engine::process_runs(u64::from(status.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    crate::stdout::outln!("graphbuild server for {} stopped (pid {})", root.display(), status.pid);
    Ok(())
}

/// `graphbuild server status`: what the root's server is doing; exit 1 when none runs.
pub fn status(root: &Path, json: bool) -> Result<(), Failure> {
    let Some(Reply::Status(status)) = request(root, Request::Status)? else {
        if json {
            crate::stdout::outln!("null");
        } else {
            crate::stdout::outln!("no graphbuild server is running for {}", root.display());
        }
        return Err(Failure::Exited(exit::USER_INPUT));
    };
    if json {
        crate::stdout::outln!("{}", serde_json::to_string(&status).unwrap_or_default());
    } else {
        print_status(&status);
    }
    Ok(())
}

fn print_status(status: &Status) {
    crate::stdout::outln!("graphbuild server running for {}", status.root.display());
    crate::stdout::outln!("  pid:             {}", status.pid);
    crate::stdout::outln!("  build:           {}", status.build);
    crate::stdout::outln!("  uptime:          {}s", status.uptime_s);
    crate::stdout::outln!("  commands:        {} running", status.commands);
    crate::stdout::outln!("  max parallelism: {}", status.max_parallelism);
    crate::stdout::outln!("  idle timeout:    {}s", status.idle_timeout_s);
}

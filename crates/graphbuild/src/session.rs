//! The session a command runs in: its standard streams, environment and interruption. A
//! command run in-process uses the process's own; one run by the server on a client's behalf
//! uses the client's (its file descriptors, passed over the socket, and its environment), so the
//! same command code serves both and many clients at once.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// One command's world.
pub struct Session {
    /// The client's streams; `None` for the process's own.
    streams: Option<Streams>,
    /// The client's environment; `None` for the process's own.
    env: Option<BTreeMap<OsString, OsString>>,
    /// Fired when the client is interrupted or goes away (server sessions only).
    interrupted: CancellationToken,
    /// The signal the client forwarded (2 for SIGINT, 15 for SIGTERM).
    signal: AtomicI32,
    /// The exit code a failed write to standard output ends the command with (0: none failed).
    stdout_failure: AtomicI32,
    /// Every signal the client forwards, for commands that pass them on (`run`'s sig-proxy).
    forwarded: tokio::sync::broadcast::Sender<i32>,
    /// Fired when the client went away (server sessions only).
    gone: CancellationToken,
}

/// A client's standard streams.
pub struct Streams {
    /// Standard input.
    pub stdin: File,
    /// Standard output.
    pub stdout: File,
    /// Standard error.
    pub stderr: File,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Session>>> = const { RefCell::new(None) };
}

impl Session {
    /// A session for a client of the server.
    pub fn remote(streams: Streams, env: BTreeMap<OsString, OsString>) -> Arc<Self> {
        Arc::new(Self::new(Some(streams), Some(env)))
    }

    /// A session with these streams and environment (`None`: the process's own).
    fn new(streams: Option<Streams>, env: Option<BTreeMap<OsString, OsString>>) -> Self {
        Self {
            streams,
            env,
            interrupted: CancellationToken::new(),
            signal: AtomicI32::new(0),
            stdout_failure: AtomicI32::new(0),
            forwarded: tokio::sync::broadcast::channel(16).0,
            gone: CancellationToken::new(),
        }
    }

    /// Makes this the session of the calling thread (and of the async runtimes it starts, see
    /// [`runtime`]).
    pub fn enter(self: &Arc<Self>) {
        CURRENT.with(|current| *current.borrow_mut() = Some(self.clone()));
    }

    /// The client was interrupted by `signal`.
    pub fn interrupt(&self, signal: i32) {
        let _ = self.signal.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        self.interrupted.cancel();
        let _ = self.forwarded.send(signal);
    }

    /// The client went away: its command is interrupted as by SIGINT; no signal is passed on.
    pub fn client_gone(&self) {
        let _ = self.signal.compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
        self.interrupted.cancel();
        self.gone.cancel();
    }

    /// Fired when the client has gone away (never for the process's own session).
    pub fn gone(&self) -> CancellationToken {
        self.gone.clone()
    }

    /// Whether the user has interrupted the command (or, in the server, its client went away).
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.is_cancelled()
    }

    /// Each SIGINT and SIGTERM the user sends from now on, by number, as `docker run`'s
    /// sig-proxy passes them to the container. In-process these are signals to this process
    /// (which then no longer ends it); in the server, the client's forwarded ones. Must be called
    /// inside a tokio runtime.
    pub fn signals(self: &Arc<Self>) -> std::io::Result<tokio::sync::mpsc::UnboundedReceiver<i32>> {
        use tokio::signal::unix::{SignalKind, signal};
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        if self.is_remote() {
            let mut forwarded = self.forwarded.subscribe();
            tokio::spawn(async move {
                loop {
                    let signal = match forwarded.recv().await {
                        Ok(signal) => signal,
                        // Some were missed while nobody read: the next ones still count.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    };
                    if sender.send(signal).is_err() {
                        return;
                    }
                }
            });
        } else {
            let (mut int, mut term) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
            tokio::spawn(async move {
                loop {
                    let signal = tokio::select! {
                        _ = int.recv() => 2,
                        _ = term.recv() => 15,
                    };
                    if sender.send(signal).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(receiver)
    }

    /// The exit code a failed write to standard output ends the command with, if one failed.
    pub fn stdout_failure(&self) -> Option<i32> {
        Some(self.stdout_failure.load(Ordering::SeqCst)).filter(|code| *code != 0)
    }

    /// Records that writing to standard output failed; the command goes on without it and ends
    /// with `code`.
    pub fn fail_stdout(&self, code: i32) {
        let _ = self.stdout_failure.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether this session serves a client of the server.
    pub fn is_remote(&self) -> bool {
        self.streams.is_some()
    }

    /// An environment variable of the user's.
    pub fn var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(env) => env.get(std::ffi::OsStr::new(name)).and_then(|v| v.to_str()).map(str::to_owned),
            None => std::env::var(name).ok(),
        }
    }

    /// Standard output. A client's is buffered until flushed or dropped, so what one `write!`
    /// formats reaches the pipe in one write, never interleaved with another thread's; flush
    /// it to see errors.
    pub fn stdout(&self) -> Box<dyn Write + '_> {
        match &self.streams {
            Some(streams) => Box::new(std::io::BufWriter::with_capacity(1 << 16, &streams.stdout)),
            None => Box::new(std::io::stdout().lock()),
        }
    }

    /// Standard output as an owned stream (for an export that writes a tar to it); flush it.
    pub fn stdout_stream(&self) -> Box<dyn Write + Send> {
        match self.streams.as_ref().and_then(|s| s.stdout.try_clone().ok()) {
            Some(file) => Box::new(std::io::BufWriter::with_capacity(1 << 16, file)),
            None => Box::new(std::io::stdout()),
        }
    }

    /// Standard error, buffered as [`Self::stdout`].
    pub fn stderr(&self) -> Box<dyn Write + '_> {
        match &self.streams {
            Some(streams) => Box::new(std::io::BufWriter::with_capacity(1 << 16, &streams.stderr)),
            None => Box::new(std::io::stderr().lock()),
        }
    }

    /// Standard input.
    pub fn stdin(&self) -> Box<dyn std::io::Read + '_> {
        match &self.streams {
            Some(streams) => Box::new(&streams.stdin),
            None => Box::new(std::io::stdin().lock()),
        }
    }

    /// Standard input as an owned file (a container reads it directly).
    pub fn stdin_file(&self) -> Option<File> {
        match &self.streams {
            Some(streams) => streams.stdin.try_clone().ok(),
            None => {
                use std::os::fd::AsFd as _;
                std::io::stdin().as_fd().try_clone_to_owned().ok().map(File::from)
            }
        }
    }

    /// Whether standard output is a pipe whose reader has gone (writing to it fails with
    /// EPIPE): `poll` reports an error on it.
    pub fn stdout_reader_gone(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let Some(file) = self.stdout_file() else { return false };
        let mut fds = [PollFd::new(&file, PollFlags::OUT)];
        let now = Timespec { tv_sec: 0, tv_nsec: 0 };
        poll(&mut fds, Some(&now)).is_ok() && fds[0].revents().contains(PollFlags::ERR)
    }

    /// Standard output as an owned file (to ask a terminal its size).
    pub fn stdout_file(&self) -> Option<File> {
        match &self.streams {
            Some(streams) => streams.stdout.try_clone().ok(),
            None => {
                use std::os::fd::AsFd as _;
                std::io::stdout().as_fd().try_clone_to_owned().ok().map(File::from)
            }
        }
    }

    /// A handle on standard error that outlives the borrow (for progress renderers).
    pub fn stderr_file(&self) -> Option<File> {
        self.streams.as_ref().and_then(|s| s.stderr.try_clone().ok())
    }

    /// Whether standard output is a terminal.
    pub fn stdout_is_terminal(&self) -> bool {
        match &self.streams {
            Some(streams) => streams.stdout.is_terminal(),
            None => std::io::stdout().is_terminal(),
        }
    }

    /// Whether standard input is a terminal.
    pub fn stdin_is_terminal(&self) -> bool {
        match &self.streams {
            Some(streams) => streams.stdin.is_terminal(),
            None => std::io::stdin().is_terminal(),
        }
    }

    /// Whether standard error is a terminal.
    pub fn stderr_is_terminal(&self) -> bool {
        match &self.streams {
            Some(streams) => streams.stderr.is_terminal(),
            None => std::io::stderr().is_terminal(),
        }
    }

    /// Resolves when the user interrupts the command (Ctrl-C, SIGTERM), with the signal's number.
    /// In-process that is a signal to this process; in the server, the client's forwarded
    /// signal or its going away. Must be called inside a tokio runtime.
    pub fn interrupted(self: &Arc<Self>) -> std::io::Result<impl Future<Output = i32> + Send + use<>> {
        use tokio::signal::unix::{SignalKind, signal};
        let session = self.clone();
        let signals = if self.is_remote() {
            None
        } else {
            Some((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
        };
        Ok(async move {
            match signals {
                Some((mut int, mut term)) => tokio::select! {
                    _ = int.recv() => 2,
                    _ = term.recv() => 15,
                },
                None => {
                    session.interrupted.cancelled().await;
                    match session.signal.load(Ordering::SeqCst) {
                        0 => 2,
                        signal => signal,
                    }
                }
            }
        })
    }
}

/// The calling thread's session: the one entered, else the process's own.
pub fn current() -> Arc<Session> {
    static PROCESS: OnceLock<Arc<Session>> = OnceLock::new();
    CURRENT
        .with(|current| current.borrow().clone())
        .unwrap_or_else(|| PROCESS.get_or_init(|| Arc::new(Session::new(None, None))).clone())
}

/// An environment variable of the user's (the client's, when the server runs the command).
pub fn var(name: &str) -> Option<String> {
    current().var(name)
}

/// A tokio runtime on the calling thread, whose blocking threads belong to the calling thread's
/// session: for commands whose async tasks write to the session's streams (`run`).
pub fn local_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let session = current();
    tokio::runtime::Builder::new_current_thread().enable_all().on_thread_start(move || session.enter()).build()
}

/// The process's one multi-threaded runtime, started on first use and shared by every command
/// the process runs: a no-op build neither starts nor stops worker and blocking threads, and
/// blocking threads stay warm between builds. Its threads belong to no session, so tasks spawned
/// on it never reach a session's streams through [`current`]: what a build prints goes through
/// sinks that hold their session (`progress::sink`). A command drives it with `block_on` on its
/// own thread; the tasks it spawns are its own (the solver's `JoinSet` aborts them when dropped).
pub fn shared_runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    static SHARED: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(runtime) = SHARED.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().thread_name("graphbuild-worker").enable_all().build()?;
    // Another command may have started one meanwhile; the loser's is dropped unused.
    Ok(SHARED.get_or_init(|| runtime))
}

/// `eprintln!` to the session's standard error.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let session = $crate::session::current();
        let _ = writeln!(session.stderr(), $($arg)*);
    }};
}

pub(crate) use errln;

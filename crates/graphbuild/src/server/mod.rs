//! `graphbuild server`: one process per state root that holds the root open (RocksDB, the
//! snapshot store, warm caches) and runs the commands of any number of clients at once, each on
//! its own thread with the client's streams, working directory and environment.
//!
//! Besides command lines, it answers typed requests (`requests`): the image store's operations
//! and solving a Definition, as data, for programs that drive the engine directly.
//!
//! Life cycle: the first command that needs the root starts the server (see `gb_client`);
//! it exits after `server.idle-timeout` without a client, on `graphbuild server stop`, or when
//! its socket is removed (the root deleted). `ROOT/server.lock` makes sure one server at most
//! starts per root; the root's own lock keeps `--no-server` commands out while it runs.

mod requests;

use std::os::fd::AsFd as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use gb_store::StateRoot;

use crate::exit::Failure;
use crate::session::{Session, Streams};
use gb_client::protocol::{ClientEvent, Connection, Hello, PROTOCOL, Reply, Request, SOCKET, Status};

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Exit after this long without a client.
    pub idle_timeout: Duration,
    /// Steps running at once, all builds together.
    pub max_parallelism: usize,
    /// Started by a client in the background: leave its session (and terminal).
    pub background: bool,
}

/// The root this process serves, once it is a server: commands it runs use it instead of
/// opening the root (which its lock would refuse).
static SERVED: OnceLock<Arc<StateRoot>> = OnceLock::new();

/// The served root, when this process is a server.
pub fn served_root() -> Option<&'static Arc<StateRoot>> {
    SERVED.get()
}

/// What the server's threads share.
struct Server {
    root: PathBuf,
    socket: PathBuf,
    started: Instant,
    build: String,
    options: ServerOptions,
    state: Mutex<State>,
    /// `ROOT/server.lock`, held while this server may take new commands.
    server_lock: Mutex<Option<nix::fcntl::Flock<std::fs::File>>>,
}

/// The commands running and whether the server stops.
struct State {
    running: usize,
    idle_since: Instant,
    sessions: Vec<Weak<Session>>,
    stopping: bool,
}

/// Runs the server for `root` in this process until it stops.
pub fn serve(root: &Path, options: ServerOptions) -> Result<(), Failure> {
    let root = std::path::absolute(root).map_err(Failure::os(format!("the state root {}", root.display())))?;
    StateRoot::create_dir(&root)?;
    let Some(server_lock) = lock_server(&root)? else {
        crate::session::errln!("a graphbuild server for {} is already running", root.display());
        return Ok(());
    };
    if options.background {
        // Out of the starting client's session: its terminal's Ctrl-C and hang-up are not ours.
        let _ = nix::unistd::setsid();
    }
    let state = StateRoot::open(&root)?;
    gb_solver::limit_parallel_steps(&state, options.max_parallelism);
    let _ = SERVED.set(Arc::new(state));
    let socket = root.join(SOCKET);
    let listener = bind(&socket)?;
    let server = Arc::new(Server {
        root: root.clone(),
        socket: socket.clone(),
        started: Instant::now(),
        build: gb_client::protocol::build_identity(Path::new("/proc/self/exe")),
        options,
        state: Mutex::new(State { running: 0, idle_since: Instant::now(), sessions: Vec::new(), stopping: false }),
        server_lock: Mutex::new(Some(server_lock)),
    });
    crate::session::errln!(
        "graphbuild server {} (pid {}) serving {}",
        server.build,
        std::process::id(),
        root.display()
    );
    let identity = socket_identity(&socket);
    {
        let server = server.clone();
        std::thread::Builder::new()
            .name("watch".to_owned())
            .spawn(move || watch(&server, identity))
            .map_err(Failure::os("starting the server"))?;
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let server = server.clone();
        // Commands run on threads with the main thread's stack size: lowering and parsing are
        // bounded for it.
        let spawned = std::thread::Builder::new()
            .name("client".to_owned())
            .stack_size(8 << 20)
            .spawn(move || handle(&server, stream));
        if let Err(e) = spawned {
            crate::session::errln!("server: starting a client thread: {e}");
        }
    }
    Ok(())
}

/// Takes `ROOT/server.lock` without waiting; `None` when another server holds it.
fn lock_server(root: &Path) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, Failure> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = root.join("server.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(Failure::os(format!("opening {}", path.display())))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(Failure::os(format!("locking {}", path.display()))(e)),
    }
}

/// Binds the socket, mode 0600 (the root is 0700 as well); a socket left by a dead server is
/// replaced, since this process holds the server lock.
fn bind(socket: &Path) -> Result<UnixListener, Failure> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Failure::os(format!("removing the stale socket {}", socket.display()))(e));
        }
        _ => {}
    }
    let listener = UnixListener::bind(socket).map_err(Failure::os(format!("listening on {}", socket.display())))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(Failure::os(format!("making {} private", socket.display())))?;
    Ok(listener)
}

/// The socket file's device and inode, to notice it removed or replaced.
fn socket_identity(socket: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(socket).ok().map(|m| (m.dev(), m.ino()))
}

/// Ends the process when it has nothing to do: idle for the timeout, stopping with no command
/// left, or its socket gone (the root removed: no client can reach it any more).
fn watch(server: &Server, identity: Option<(u64, u64)>) {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let orphaned = socket_identity(&server.socket) != identity;
        let Ok(mut state) = server.state.lock() else { std::process::exit(crate::exit::ENVIRONMENT) };
        if orphaned {
            state.stopping = true;
        }
        // Containers it supervises keep it busy, as commands do; stopping, it stops them as
        // docker's daemon does: SIGTERM, then SIGKILL after the shutdown timeout.
        let containers = gb_containers::supervised();
        if let Some(root) = served_root().filter(|_| state.stopping && containers > 0) {
            gb_containers::stop_all(root, gb_containers::SHUTDOWN_TIMEOUT);
        }
        let idle = state.running == 0 && containers == 0 && state.idle_since.elapsed() >= server.options.idle_timeout;
        if state.running == 0 && containers == 0 && (state.stopping || idle) {
            if !orphaned {
                let _ = std::fs::remove_file(&server.socket);
            }
            gb_engine::records::flush();
            crate::session::errln!("graphbuild server (pid {}) exits", std::process::id());
            std::process::exit(crate::exit::SUCCESS);
        }
    }
}

/// Serves one connection.
fn handle(server: &Arc<Server>, stream: UnixStream) {
    let mut connection = Connection::new(stream);
    // The first line is read before a refusal, so the client, done sending, reads the reason
    // rather than finding its request cut off; whatever it sent is dropped unused.
    let Ok(Some((hello, fds))) = connection.receive::<Hello>() else { return };
    if let Err(message) = check_peer(connection.stream()) {
        drop(fds);
        return refuse(&connection, message, false);
    }
    if hello.protocol != PROTOCOL {
        let message = format!("protocol {} is not spoken here (this server speaks {PROTOCOL})", hello.protocol);
        return refuse(&connection, message, false);
    }
    match hello.request {
        Request::Status => {
            let _ = connection.send(&Reply::Status(server.status()), &[]);
        }
        Request::Stop { cancel } => {
            server.stop(cancel);
            let _ = connection.send(&Reply::Stopping, &[]);
        }
        Request::Command { argv, cwd, env, umask } => {
            if hello.client.as_deref() != Some(server.build.as_str()) {
                return refuse(&connection, format!("this server is graphbuild {}", server.build), true);
            }
            let Ok([stdin, stdout, stderr]) = <[_; 3]>::try_from(fds) else {
                return refuse(&connection, "a command needs the client's stdin, stdout and stderr".to_owned(), false);
            };
            let streams = Streams { stdin: stdin.into(), stdout: stdout.into(), stderr: stderr.into() };
            let session = Session::remote(streams, env.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
            if !server.begin(&session) {
                return refuse(&connection, "the server is stopping".to_owned(), false);
            }
            let code = run_command(server, &connection, &session, argv, &cwd, umask);
            let _ = connection.send(&Reply::Exit(code), &[]);
            let _ = connection.stream().shutdown(std::net::Shutdown::Both);
            server.end();
        }
        typed => {
            // A typed request brings no streams: whatever a command would print goes nowhere,
            // and answers are data on the connection.
            let (Ok(streams), Some(root)) = (null_streams(), served_root()) else {
                return refuse(&connection, "the server cannot take requests yet".to_owned(), false);
            };
            let session = Session::remote(streams, Default::default());
            if !server.begin(&session) {
                return refuse(&connection, "the server is stopping".to_owned(), false);
            }
            session.enter();
            // Closing the connection (or `server stop`) cancels a solve.
            listen_for_signals(&connection, &session);
            requests::answer(root, &connection, &session, typed);
            let _ = connection.stream().shutdown(std::net::Shutdown::Both);
            server.end();
        }
    }
}

/// Standard streams that read nothing and write nowhere.
fn null_streams() -> std::io::Result<Streams> {
    let write = || std::fs::OpenOptions::new().write(true).open("/dev/null");
    Ok(Streams { stdin: std::fs::File::open("/dev/null")?, stdout: write()?, stderr: write()? })
}

/// Answers a request the server will not run with why (`other_build`: the client is of another
/// build).
fn refuse(connection: &Connection, message: String, other_build: bool) {
    let _ = connection.send(&Reply::Refused { message, other_build }, &[]);
}

/// Only this server's own user may use it (the root is 0700 too; this holds should its mode be
/// widened).
fn check_peer(stream: &UnixStream) -> Result<(), String> {
    let me = nix::unistd::geteuid().as_raw();
    match rustix::net::sockopt::socket_peercred(stream.as_fd()) {
        Ok(peer) if peer.uid.as_raw() == me => Ok(()),
        Ok(peer) => Err(format!("uid {} may not use the graphbuild server of uid {me}", peer.uid.as_raw())),
        Err(e) => Err(format!("checking the client's credentials: {e}")),
    }
}

/// Runs a client's command line on this thread, in the client's working directory and with its
/// umask, and returns its exit status.
fn run_command(
    server: &Server,
    connection: &Connection,
    session: &Arc<Session>,
    argv: Vec<String>,
    cwd: &Path,
    umask: Option<u32>,
) -> i32 {
    session.enter();
    // The working directory and umask become this thread's own (and those of the threads it
    // starts): both live in the file system context that CLONE_FS stops sharing.
    let entered = nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)
        .map_err(std::io::Error::from)
        .and_then(|()| std::env::set_current_dir(cwd));
    if let Err(e) = entered {
        crate::session::errln!("error: entering the working directory {}: {e}", cwd.display());
        return crate::exit::ENVIRONMENT;
    }
    if let Some(mask) = umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    listen_for_signals(connection, session);
    let run = std::panic::AssertUnwindSafe(|| crate::execute_argv(&server.root, argv));
    let code = std::panic::catch_unwind(run).unwrap_or_else(|_| {
        crate::session::errln!("error: graphbuild failed internally (a panic); see the server's log");
        crate::exit::ENVIRONMENT
    });
    session.stdout_failure().unwrap_or(code)
}

/// Cancels the session's command when the client forwards a signal or goes away.
fn listen_for_signals(connection: &Connection, session: &Arc<Session>) {
    let Ok(stream) = connection.stream().try_clone() else { return };
    let session = Arc::downgrade(session);
    let _ = std::thread::Builder::new().name("signals".to_owned()).spawn(move || {
        let mut events = Connection::new(stream);
        loop {
            let event = events.receive::<ClientEvent>();
            let Some(session) = session.upgrade() else { return };
            match event {
                Ok(Some((ClientEvent::Signal(signal), _))) => session.interrupt(signal),
                // The client went away (killed, or done): nobody waits for the command.
                Ok(None) | Err(_) => {
                    session.client_gone();
                    return;
                }
            }
        }
    });
}

impl Server {
    fn status(&self) -> Status {
        let commands = self.state.lock().map_or(0, |s| s.running);
        Status {
            pid: std::process::id(),
            root: self.root.clone(),
            build: self.build.clone(),
            uptime_s: self.started.elapsed().as_secs(),
            commands,
            containers: gb_containers::supervised(),
            idle_timeout_s: self.options.idle_timeout.as_secs(),
            max_parallelism: self.options.max_parallelism,
        }
    }

    /// Counts a command in; false when the server stops.
    fn begin(&self, session: &Arc<Session>) -> bool {
        let Ok(mut state) = self.state.lock() else { return false };
        if state.stopping {
            return false;
        }
        state.running += 1;
        state.sessions.retain(|s| s.strong_count() > 0);
        state.sessions.push(Arc::downgrade(session));
        true
    }

    /// Counts a command out.
    fn end(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.running -= 1;
            state.idle_since = Instant::now();
        }
    }

    /// Takes no new commands: the socket goes at once (so the next client starts a new server,
    /// which opens the root once this one is gone), running commands are cancelled or finish,
    /// then the watcher ends the process.
    fn stop(&self, cancel: bool) {
        let Ok(mut state) = self.state.lock() else { return };
        state.stopping = true;
        let _ = std::fs::remove_file(&self.socket);
        if let Ok(mut lock) = self.server_lock.lock() {
            lock.take();
        }
        if cancel {
            for session in state.sessions.iter().filter_map(Weak::upgrade) {
                session.interrupt(15);
            }
        }
    }
}

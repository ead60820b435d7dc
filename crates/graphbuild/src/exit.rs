//! Exit codes, in one place: each kind of failure maps to one code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the user's input is wrong (Dockerfile, build args, definition) |
//! | 2 | the command line is wrong (clap's usage errors) |
//! | 3 | the environment failed (no container runtime, a mount or write failed) |
//! | 130 | the build was cancelled (Ctrl-C) |
//! | 125, 126, 127 | `run`: graphbuild failed, the command cannot be executed, it was not found (docker's) |
//! | 141 | standard output's reader went away (`graphbuild images \| head`), as SIGPIPE ends docker |

use gb_dockerfile::{DockerfileError, ErrorKind};

/// Success.
pub const SUCCESS: i32 = 0;
/// The user's input is wrong.
pub const USER_INPUT: i32 = 1;
/// The environment failed.
pub const ENVIRONMENT: i32 = 3;
/// The build was cancelled.
pub const CANCELLED: i32 = 130;
/// Standard output's reader went away: the status a shell shows for a process ended by SIGPIPE.
pub const BROKEN_PIPE: i32 = 141;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A Dockerfile error, rendered against its source.
    #[error("{error}")]
    Dockerfile {
        /// The error (boxed: it is large and failures are rare).
        error: Box<DockerfileError>,
        /// The file's name as the user gave it.
        file: String,
        /// The file's text.
        source_text: String,
    },
    /// Some other input is wrong.
    #[error("{0}")]
    Input(String),
    /// The machine is in a state that forbids the command (no error to carry: a server holds
    /// the root that `--no-server` asked for).
    #[error("{0}")]
    Environment(String),
    /// An engine operation failed (outside a solve, which [`Failure::Solve`] carries with its
    /// Dockerfile); its kind picks the exit code.
    #[error(transparent)]
    Engine(Box<gb_engine::EngineError>),
    /// A registry operation failed; its kind picks the exit code.
    #[error(transparent)]
    Registry(Box<gb_registry::RegistryError>),
    /// Something on the machine failed (a file, a socket, a thread, the container runtime, a
    /// mount, the store), with its typed error as the source.
    #[error("{action}: {source}")]
    Os {
        /// What was being done.
        action: String,
        /// The error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Talking to the state root's server failed.
    #[error(transparent)]
    Client(#[from] gb_client::ClientError),
    /// The command ran to its end and gives this exit status: the container's of `run`, as
    /// `docker run` exits with its container's.
    #[error("exited with status {0}")]
    Exited(i32),
    /// A container command failed; its kind picks the exit code.
    #[error(transparent)]
    Container(#[from] gb_containers::ContainerError),
    /// A failure that ends the command with a status of its own: `run`'s 125 when graphbuild
    /// fails before the container's process runs, as docker's.
    #[error("{failure}")]
    WithStatus {
        /// The exit status.
        status: i32,
        /// The failure.
        failure: Box<Failure>,
    },
    /// A solve failed; the Dockerfile (name, text) is kept to show the failing line.
    #[error("{error}")]
    Solve {
        /// The error.
        error: Box<gb_solver::SolveError>,
        /// The Dockerfile's name and text, when building one.
        dockerfile: Option<(String, String)>,
    },
}

/// The state root's failure (opening it, its image store): the engine's kind of failure.
impl From<gb_store::StoreError> for Failure {
    fn from(error: gb_store::StoreError) -> Self {
        Failure::Engine(Box::new(error.into()))
    }
}

/// A solve's failure outside a Dockerfile build (opening the root, importing): no source to
/// point into.
impl From<gb_solver::SolveError> for Failure {
    fn from(error: gb_solver::SolveError) -> Self {
        Failure::Solve { error: Box::new(error), dockerfile: None }
    }
}

impl Failure {
    /// The machine's failure, with what was being done: `.map_err(Failure::os("reading X"))`.
    pub fn os<E: std::error::Error + Send + Sync + 'static>(action: impl Into<String>) -> impl FnOnce(E) -> Failure {
        let action = action.into();
        move |source| Failure::Os { action, source: Box::new(source) }
    }

    /// A Dockerfile error with the text it points into.
    pub fn dockerfile(error: DockerfileError, file: &str, source_text: &str) -> Self {
        Failure::Dockerfile { error: Box::new(error), file: file.to_owned(), source_text: source_text.to_owned() }
    }

    /// Whether it failed because standard output's reader went away (`export | head`): the
    /// command then ends quietly with 141, as SIGPIPE ends docker, wherever in the command the
    /// write was. A broken pipe elsewhere (a registry's socket) is an ordinary failure.
    pub fn is_broken_pipe(&self) -> bool {
        if !crate::session::current().stdout_reader_gone() {
            return false;
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = cause {
            if error.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
                return true;
            }
            cause = error.source();
        }
        false
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        if self.is_broken_pipe() {
            return BROKEN_PIPE;
        }
        match self {
            Failure::Dockerfile { error, .. } if error.kind == ErrorKind::Io => ENVIRONMENT,
            Failure::Dockerfile { .. } | Failure::Input(_) => USER_INPUT,
            Failure::Environment(_) | Failure::Client(_) | Failure::Os { .. } => ENVIRONMENT,
            Failure::Engine(error) => match error.kind() {
                gb_engine::ErrorKind::Input => USER_INPUT,
                gb_engine::ErrorKind::Environment => ENVIRONMENT,
                gb_engine::ErrorKind::Cancelled => CANCELLED,
            },
            Failure::Registry(error) => match error.kind() {
                gb_registry::ErrorKind::Input => USER_INPUT,
                _ => ENVIRONMENT,
            },
            Failure::Exited(code) => *code,
            Failure::Container(gb_containers::ContainerError::CannotStart { code, .. }) => *code,
            Failure::Container(error) => match error.kind() {
                gb_containers::ErrorKind::Input => USER_INPUT,
                gb_containers::ErrorKind::Environment => ENVIRONMENT,
            },
            Failure::WithStatus { status, .. } => *status,
            Failure::Solve { error, .. } => match error.kind() {
                gb_solver::ErrorKind::Build => USER_INPUT,
                gb_solver::ErrorKind::Environment => ENVIRONMENT,
                gb_solver::ErrorKind::Cancelled => CANCELLED,
            },
        }
    }
}

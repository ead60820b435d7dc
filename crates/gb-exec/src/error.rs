//! The crate's error type: why a container could not be run, naming the container, path or runtime.

use std::io;
use std::path::PathBuf;

/// What kind of failure an error is, so the CLI can tell a bad environment from bad input or a bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The spec asked for something impossible (a relative cwd, an empty argv, a bad mount target).
    Input,
    /// The machine is not fit to run containers (no runc, no permission, a full disk), or runc refused.
    Environment,
    /// The run was cancelled by the caller.
    Cancelled,
    /// graphbuild built something it should not have (an invalid OCI config).
    Bug,
}

/// A failure to run a container. The container's own non-zero exit is not an error: `run` returns it.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No OCI runtime binary was found.
    #[error("no OCI runtime found: {searched} (install runc or set GRAPHBUILD_RUNC to its path)")]
    RuntimeNotFound {
        /// Where it was looked for.
        searched: String,
    },
    /// The runtime binary exists but does not run (`runc --version` failed).
    #[error("the OCI runtime {path} does not work: {message}")]
    RuntimeUnusable {
        /// The binary.
        path: PathBuf,
        /// What went wrong when running it.
        message: String,
    },
    /// The container id is not one runc accepts (`[A-Za-z0-9_+.-]+`, at most 1024 bytes).
    #[error("invalid container id {id:?}: use letters, digits and _ + - . only")]
    InvalidId {
        /// The rejected id.
        id: String,
    },
    /// A container with this id is already running under this runtime's work dir.
    #[error("container id {id} is already in use")]
    IdInUse {
        /// The id.
        id: String,
    },
    /// The container spec cannot be turned into a runnable config.
    #[error("invalid container spec: {message}")]
    InvalidSpec {
        /// What is wrong, naming the field.
        message: String,
    },
    /// The runtime process could not be started.
    #[error("could not start {path}: {source}")]
    Spawn {
        /// The runtime binary.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// runc failed to create or start the container (the process never ran, or runc itself died).
    #[error("runc could not run container {id}: {message}")]
    Runtime {
        /// The container id.
        id: String,
        /// runc's error message.
        message: String,
    },
    /// A container of a dead graphbuild did not die after SIGKILL (its init is stuck in the kernel).
    #[error("container {id} left by a killed graphbuild is still running after SIGKILL (init pid {pid})")]
    Unkillable {
        /// The container id.
        id: String,
        /// Its init's pid on the host.
        pid: i32,
    },
    /// A dead runtime's container state names an init pid no container can have (pid 1 or
    /// less: `kill` would signal init, or every process); it is left alone.
    #[error("the container state {path} names init pid {pid}, which is not a container's; refusing to signal it")]
    BadInitPid {
        /// The `state.json`.
        path: PathBuf,
        /// The pid it names.
        pid: i64,
    },
    /// A program a private network needs (slirp4netns, unshare) is not installed.
    #[error(
        "{program} is needed for a container's private network but {searched} (install slirp4netns and util-linux, scripts/install-deps.sh)"
    )]
    NetworkToolMissing {
        /// The program.
        program: &'static str,
        /// Where it was looked for.
        searched: String,
    },
    /// The private network could not be set up (slirp4netns failed or never became ready).
    #[error("could not set up the container's private network: {message}")]
    NetworkSetup {
        /// What went wrong, with slirp4netns's own message when it printed one.
        message: String,
    },
    /// The cancellation token fired; the container was killed and deleted.
    #[error("the container run was cancelled")]
    Cancelled,
    /// A file system operation (bundle, state dir) or a pipe failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done ("create", "write", "read output of", ...), for the message.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// oci-spec refused a value while building config.json.
    #[error("could not build the OCI config: {0}")]
    Config(#[from] oci_spec::OciSpecError),
}

impl ExecError {
    /// Which kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidId { .. } | Self::InvalidSpec { .. } => ErrorKind::Input,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Config(_) => ErrorKind::Bug,
            Self::RuntimeNotFound { .. }
            | Self::RuntimeUnusable { .. }
            | Self::IdInUse { .. }
            | Self::Spawn { .. }
            | Self::Runtime { .. }
            | Self::Unkillable { .. }
            | Self::BadInitPid { .. }
            | Self::NetworkToolMissing { .. }
            | Self::NetworkSetup { .. }
            | Self::Io { .. } => ErrorKind::Environment,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}

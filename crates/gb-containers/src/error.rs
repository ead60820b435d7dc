//! [`ContainerError`]: why a container command failed, and whether the user or the machine is
//! at fault.

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input: no such container, a name in use, a bad option.
    Input,
    /// The machine: the runtime, a mount, a file.
    Environment,
}

/// A container command's failure.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// Nothing has this name or id.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// An id prefix that several containers' ids start with.
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    /// `--name` names another container.
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse {
        /// The name.
        name: String,
        /// The container that has it.
        id: String,
    },
    /// A name docker would refuse.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// The container runs and the command needs it stopped.
    #[error(
        "cannot remove container \"/{0}\": container is running: stop the container before removing or force remove"
    )]
    Running(String),
    /// The container does not run and the command needs it running.
    #[error("container {0} is not running")]
    NotRunning(String),
    /// The container's process could not start: docker's 125, 126 (not executable) or 127
    /// (not found).
    #[error("failed to start the container: {message}")]
    CannotStart {
        /// The exit status `run` gives.
        code: i32,
        /// The runtime's reason.
        message: String,
    },
    /// Some other input is wrong (a volume, a working directory, a user, a change).
    #[error("{0}")]
    Input(String),
    /// The image store failed or has no such image.
    #[error(transparent)]
    Store(#[from] gb_store::StoreError),
    /// The container runtime failed.
    #[error("{action}: {source}")]
    Exec {
        /// What was being done.
        action: String,
        /// The runtime's error.
        source: gb_exec::ExecError,
    },
    /// A mount or a layer operation failed.
    #[error("{action}: {source}")]
    Snapshot {
        /// What was being done.
        action: String,
        /// The error.
        source: gb_snapshot::SnapshotError,
    },
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record could not be read.
    #[error("reading the container record {path}: {source}")]
    Record {
        /// The record file.
        path: std::path::PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl ContainerError {
    /// Whose fault it is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContainerError::NoSuchContainer(_)
            | ContainerError::Ambiguous(_)
            | ContainerError::NameInUse { .. }
            | ContainerError::InvalidName(_)
            | ContainerError::Running(_)
            | ContainerError::NotRunning(_)
            | ContainerError::CannotStart { .. }
            | ContainerError::Input(_) => ErrorKind::Input,
            ContainerError::Store(error) => match error.kind() {
                gb_store::ErrorKind::Input => ErrorKind::Input,
                _ => ErrorKind::Environment,
            },
            ContainerError::Exec { .. }
            | ContainerError::Snapshot { .. }
            | ContainerError::Io { .. }
            | ContainerError::Record { .. } => ErrorKind::Environment,
        }
    }

    /// An IO error at `path`: `.map_err(ContainerError::io("writing", &path))`.
    pub(crate) fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| ContainerError::Io { action, path, source }
    }

    /// A runtime error while doing `action`.
    pub(crate) fn exec(action: impl Into<String>) -> impl FnOnce(gb_exec::ExecError) -> Self {
        let action = action.into();
        move |source| ContainerError::Exec { action, source }
    }

    /// A snapshot error while doing `action`.
    pub(crate) fn snapshot(action: impl Into<String>) -> impl FnOnce(gb_snapshot::SnapshotError) -> Self {
        let action = action.into();
        move |source| ContainerError::Snapshot { action, source }
    }
}

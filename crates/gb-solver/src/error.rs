//! The solver's error: what failed, where in the user's source it came from, and what kind of
//! failure it is (the CLI maps kinds to exit codes).

use gb_ir::Location;

/// Who is to blame for a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The build itself failed: a RUN exited non-zero, a COPY source is missing, an image is
    /// not in the store. The user's input is what needs changing.
    Build,
    /// The machine failed: no runtime, a mount or a write failed, the state root is locked.
    Environment,
    /// The build was cancelled (Ctrl-C).
    Cancelled,
}

/// Why a solve failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// A RUN step exited non-zero; the message holds BuildKit's (`process "..." did not
    /// complete successfully: exit code: N`), which scripts match.
    #[error("{description}: process \"{}\" did not complete successfully: exit code: {exit_code}", command.join(" "))]
    RunFailed {
        /// The op's description.
        description: String,
        /// Where it comes from.
        location: Option<Location>,
        /// The command.
        command: Vec<String>,
        /// The exit code.
        exit_code: i32,
        /// The last lines of its output.
        last_lines: Vec<String>,
    },
    /// An op failed for a reason of the build's input.
    #[error("{description}: {message}")]
    OpFailed {
        /// The op's description.
        description: String,
        /// Where it comes from.
        location: Option<Location>,
        /// What happened.
        message: String,
    },
    /// An op needs an entitlement the build was not granted (`RUN --network=host`,
    /// `RUN --security=insecure`).
    #[error("{description}: {entitlement} is not allowed")]
    NotEntitled {
        /// The op's description.
        description: String,
        /// Where it comes from.
        location: Option<Location>,
        /// What it needs.
        entitlement: crate::Entitlement,
    },
    /// The environment failed.
    #[error("{context}: {source}")]
    Environment {
        /// What was being done.
        context: String,
        /// What happened: the failing crate's typed error (or a sentence where there is none).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The definition cannot be run.
    #[error("{0}")]
    Definition(#[from] gb_ir::DefinitionError),
    /// The state root failed (opening it, reading or writing its records).
    #[error(transparent)]
    Store(#[from] gb_store::StoreError),
    /// The build was cancelled.
    #[error("the build was cancelled")]
    Cancelled,
}

impl SolveError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SolveError::RunFailed { .. }
            | SolveError::OpFailed { .. }
            | SolveError::NotEntitled { .. }
            | SolveError::Definition(_) => ErrorKind::Build,
            SolveError::Environment { .. } => ErrorKind::Environment,
            SolveError::Store(error) => match error.kind() {
                gb_store::ErrorKind::Input => ErrorKind::Build,
                gb_store::ErrorKind::Environment => ErrorKind::Environment,
            },
            SolveError::Cancelled => ErrorKind::Cancelled,
        }
    }

    /// The source location the failure points at, if any.
    pub fn location(&self) -> Option<&Location> {
        match self {
            SolveError::RunFailed { location, .. }
            | SolveError::OpFailed { location, .. }
            | SolveError::NotEntitled { location, .. } => location.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn env(context: impl Into<String>, err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SolveError::Environment { context: context.into(), source: err.into() }
    }
}

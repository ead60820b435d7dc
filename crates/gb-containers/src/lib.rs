//! Containers that live on, as docker's: made from a stored image (`create`), run and
//! supervised by the process that starts them (the root's server for `run -d`), stopped,
//! restarted, logged, exec'd into, diffed, exported, committed back as an image and removed.
//!
//! A container is the directory `ROOT/containers/ID/`:
//! - `container.json`: its [`ContainerRecord`] (config and state), replaced atomically;
//! - `fs/upper`, `fs/work`: its changes over the image's layers (an overlayfs upper dir), kept
//!   between its runs until it is removed;
//! - `container.log`: its output, one JSON object per line (docker's `json-file` format);
//! - `layers` (a link to the root's `layers/`) and `tmp/`: the private snapshot store its root
//!   file system is mounted from while it runs;
//! - `runtime/`: runc's state while it runs; `hosts`, `hostname`, `resolv.conf`: its files.
//!
//! **Invariant:** a record says `running` only while its supervisor process lives; a record
//! whose supervisor died (a killed server) reads as exited with 137, and its leftovers (runc
//! state, mounts) are cleaned up the next time it is touched. The container's processes die
//! with the supervisor: its runtime's watchdog kills them.

mod changes;
mod error;
mod lock;
mod logs;
mod record;
mod run;
mod spec;

pub use spec::PRIVATE_ADDRESS;

pub use changes::{Change, ChangeKind, CommitOptions, VolumeUsage, commit, diff, export, size, volumes};
pub use error::{ContainerError, ErrorKind};
pub use logs::{LogEntry, LogStream, read_log};
pub use record::{
    ContainerConfig, ContainerId, ContainerRecord, ContainerState, NetworkMode, PortMapping, Status, VolumeMount,
    VolumeSource, find, list, remove, rename_check,
};
pub use run::{
    CreateOptions, ExecOptions, RunIo, SHUTDOWN_TIMEOUT, create, exec, kill, prepare_start, run, stop, stop_all,
    supervised, wait_until_made,
};

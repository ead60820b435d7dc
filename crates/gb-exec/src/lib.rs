//! Running a process in an isolated container: OCI runtime bundle (runc), namespaces, mounts,
//! output capture, cancellation.
//!
//! [`Runtime::run`] writes a bundle whose `config.json` ([`Runtime::oci_config`]) gives the
//! process Docker's defaults (namespaces, capabilities, `/proc`, `/dev`, `/sys`, masked paths)
//! on the caller's already mounted rootfs, runs it with `runc run`, streams its output and
//! deletes the container. A [`Network::Private`] container joins a network namespace made before
//! runc runs, with slirp4netns attached and ready (`net.rs`). [`mount_points`] names what runc creates in the rootfs, so the layer
//! diff can drop it.
//!
//! Containers die with the graphbuild that started them: each runtime's watchdog kills them when
//! the process is gone (even by SIGKILL), and [`reap_if_orphaned`] kills those of a work dir
//! whose owner is dead, for whatever the watchdog missed.

mod caps;
mod config;
mod control;
mod error;
mod net;
mod reap;
mod runc;
mod runtime;
mod spec;
mod terminal;

pub use caps::{DOCKER_DEFAULT as DOCKER_DEFAULT_CAPABILITIES, mask as capability_mask};
pub use config::mount_points;
pub use control::ContainerControl;
pub use error::{ErrorKind, ExecError};
pub use net::DNS_SERVER as PRIVATE_NETWORK_DNS;
pub use reap::reap_if_orphaned;
pub use runtime::{RUNC_ENV, Runtime};
pub use spec::{
    ContainerMount, ContainerSpec, DEFAULT_SHM_SIZE, MountSource, Network, OutputStream, PublishedPort, Rlimit,
};
pub use terminal::{ProcessIo, TerminalSize};

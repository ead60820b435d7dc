//! What the caller asks for: the process, its root file system, its mounts and its network.

use std::path::PathBuf;

/// One process to run in a fresh container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// An already mounted, writable root file system (the caller mounts the overlay); used in place.
    pub rootfs: PathBuf,
    /// The argv; `args[0]` is looked up on the container's `PATH` when it has no `/`.
    pub args: Vec<String>,
    /// `K=V` entries. When none sets `PATH`, the usual Linux default is added (as Docker does),
    /// because runc resolves `args[0]` with it.
    pub env: Vec<String>,
    /// The working directory inside the container; absolute. runc creates it when missing.
    pub cwd: String,
    /// The numeric user id the process runs as.
    pub uid: u32,
    /// The numeric primary group id.
    pub gid: u32,
    /// Supplementary group ids (runc adds the user's groups from the rootfs's `/etc/group`).
    pub additional_gids: Vec<u32>,
    /// Extra mounts, applied after the runtime's own; parents are mounted before children
    /// whatever the order here.
    pub mounts: Vec<ContainerMount>,
    /// The container's network: private with outbound access (the default), none, or the host's.
    pub network: Network,
    /// All capabilities, no masked paths, all devices allowed, `/sys` writable
    /// (BuildKit's `security=insecure`).
    pub privileged: bool,
    /// The container's host name; empty keeps the host's name (in a new UTS namespace).
    pub hostname: String,
    /// The size of `/dev/shm` in bytes.
    pub shm_size: u64,
    /// Resource limits beyond the default file limit; one for `RLIMIT_NOFILE` replaces it.
    pub rlimits: Vec<Rlimit>,
    /// Host ports forwarded to the container's (`docker run -p`); a [`Network::Private`]
    /// container's only.
    pub published: Vec<PublishedPort>,
}

/// A host port forwarded to a container port (`-p [IP:]HOST:CONTAINER[/PROTO]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// The host address it listens on (`0.0.0.0` for every one).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// Docker's `/dev/shm` size: 64 MiB.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// One resource limit of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    /// The OCI runtime spec's name of the resource (`RLIMIT_NOFILE`).
    pub resource: String,
    /// The soft limit (`u64::MAX` for none).
    pub soft: u64,
    /// The hard limit (`u64::MAX` for none).
    pub hard: u64,
}

impl ContainerSpec {
    /// A spec running `args` as root in `/` on `rootfs`, with a private network
    /// ([`Network::Private`]) and no extra mounts.
    pub fn new(rootfs: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Self {
            rootfs: rootfs.into(),
            args,
            env: Vec::new(),
            cwd: "/".to_owned(),
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            mounts: Vec::new(),
            network: Network::default(),
            privileged: false,
            hostname: String::new(),
            shm_size: DEFAULT_SHM_SIZE,
            rlimits: Vec::new(),
            published: Vec::new(),
        }
    }
}

/// An extra mount at `target` (an absolute path inside the container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMount {
    /// Where it appears inside the container; absolute, `..` resolved lexically.
    pub target: String,
    /// What is mounted there.
    pub source: MountSource,
}

/// What an extra mount shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host file or directory, recursively bind-mounted (`rbind`).
    Bind {
        /// The host path; must exist.
        path: PathBuf,
        /// Mount read-only, so writes fail with `EROFS`.
        readonly: bool,
    },
    /// A fresh tmpfs (`nosuid,nodev`), gone when the container exits.
    Tmpfs {
        /// Its size limit in bytes; `None` is the kernel's default (half of RAM).
        size: Option<u64>,
    },
}

/// The container's network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// A new network namespace whose `eth0` (a tap device, named as BuildKit's containers name theirs) reaches out through slirp4netns, a user-mode network
    /// stack: outbound connections and DNS (10.0.2.3) work, the host's loopback (its 127.0.0.1
    /// services, its abstract unix sockets) does not. The default, as a build's steps must not
    /// reach the host's private services, like Docker's bridge or BuildKit's worker namespace.
    #[default]
    Private,
    /// Share the host's network namespace (`--network=host`).
    Host,
    /// A new network namespace with only loopback, which runc brings up (`--network=none`).
    Isolated,
}

/// Which of the container's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    /// File descriptor 1.
    Stdout,
    /// File descriptor 2 (runc's own fatal errors land here too).
    Stderr,
}

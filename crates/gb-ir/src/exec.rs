//! Exec ops: a process run in a container over mounted inputs.

use serde::{Deserialize, Serialize};

/// The PATH a process gets when its image and step set none, as BuildKit and Docker give it.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `meta.args` in a container whose file systems are `mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOp {
    /// The process: argv, environment, working directory, user.
    pub meta: ExecMeta,
    /// The file systems, the root (`/`) first.
    pub mounts: Vec<Mount>,
    /// The network the process sees.
    #[serde(default, skip_serializing_if = "NetworkMode::is_default")]
    pub network: NetworkMode,
    /// Whether the process runs with the default confinement or fully privileged.
    #[serde(default, skip_serializing_if = "SecurityMode::is_sandbox")]
    pub security: SecurityMode,
}

/// The process an exec op runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecMeta {
    /// The argv; the first element is looked up in `PATH`.
    pub args: Vec<String>,
    /// The environment, in order. When `config_from` is set, these entries are layered over the
    /// image's `Env`, a later entry replacing an earlier one of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// The working directory. Relative (or absent) means relative to the image's `WorkingDir`
    /// when `config_from` is set, and to `/` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// `user[:group]`, names or ids; absent means the image's `User` when `config_from` is set,
    /// and root otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Index of an input that is an image source whose config (Env, WorkingDir, User) the
    /// solver resolves and applies under this process's own settings. Front ends set it when
    /// they could not resolve the image config themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_from: Option<u32>,
    /// Proxy variables (`HTTP_PROXY` and friends) given as build args: in the process's
    /// environment but, as in BuildKit, not in the op's digest, so a proxy change re-runs nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_env: Vec<EnvVar>,
    /// Extra `/etc/hosts` entries, `name=ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// The container's host name; absent, `buildkitsandbox`, as BuildKit names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The size of `/dev/shm` in bytes (`--shm-size`); absent, Docker's 64 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// Resource limits (`--ulimit`), each replacing the default of its resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
}

/// One resource limit of a process, as `docker run --ulimit` and BuildKit's `Meta.Ulimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ulimit {
    /// The resource limited.
    pub resource: Resource,
    /// The soft limit.
    pub soft: i64,
    /// The hard limit, at least the soft one (-1 for no limit, as Docker spells it).
    pub hard: i64,
}

/// A resource `setrlimit` limits, named as `docker run --ulimit` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Resource {
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
    #[serde(rename = "as")]
    AddressSpace,
}

impl Resource {
    /// Every resource, in the order Docker lists them.
    pub const ALL: [Resource; 16] = [
        Resource::Core,
        Resource::Cpu,
        Resource::Data,
        Resource::Fsize,
        Resource::Locks,
        Resource::Memlock,
        Resource::Msgqueue,
        Resource::Nice,
        Resource::Nofile,
        Resource::Nproc,
        Resource::Rss,
        Resource::Rtprio,
        Resource::Rttime,
        Resource::Sigpending,
        Resource::Stack,
        Resource::AddressSpace,
    ];

    /// The name `--ulimit` takes (`nofile`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Core => "core",
            Resource::Cpu => "cpu",
            Resource::Data => "data",
            Resource::Fsize => "fsize",
            Resource::Locks => "locks",
            Resource::Memlock => "memlock",
            Resource::Msgqueue => "msgqueue",
            Resource::Nice => "nice",
            Resource::Nofile => "nofile",
            Resource::Nproc => "nproc",
            Resource::Rss => "rss",
            Resource::Rtprio => "rtprio",
            Resource::Rttime => "rttime",
            Resource::Sigpending => "sigpending",
            Resource::Stack => "stack",
            Resource::AddressSpace => "as",
        }
    }

    /// The OCI runtime spec's name (`RLIMIT_NOFILE`).
    pub fn rlimit_name(self) -> String {
        format!("RLIMIT_{}", self.name().to_uppercase())
    }
}

impl Ulimit {
    /// Parses `--ulimit`'s `NAME=SOFT[:HARD]` (the hard limit defaults to the soft one), as
    /// Docker's `units.ParseUlimit` reads it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, limits) =
            text.split_once('=').ok_or_else(|| format!("invalid ulimit {text:?}: expected NAME=SOFT[:HARD]"))?;
        let resource = Resource::ALL
            .into_iter()
            .find(|resource| resource.name() == name)
            .ok_or_else(|| format!("invalid ulimit type: {name}"))?;
        let number = |value: &str| {
            value.parse::<i64>().map_err(|_| format!("invalid ulimit {text:?}: {value:?} is not a number"))
        };
        let (soft, hard) = match limits.split_once(':') {
            Some((soft, hard)) => (number(soft)?, number(hard)?),
            None => (number(limits)?, number(limits)?),
        };
        if hard != -1 && (soft == -1 || soft > hard) {
            return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
        }
        Ok(Ulimit { resource, soft, hard })
    }
}

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EnvVar {
    /// The variable's name.
    pub name: String,
    /// Its value, or a deferred word (see [`EnvValue`]).
    #[serde(flatten)]
    pub value: EnvValue,
}

/// A variable's value, known now or only once the base image's config is resolved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    /// The value itself.
    Value(String),
    /// A shell word (Docker's expansion rules, `\` as escape) that refers to variables of an
    /// image config not known when the graph was made. The solver expands it against that
    /// image's `Env` overlaid by the entries before this one in the same list.
    Deferred(String),
}

impl EnvVar {
    /// A variable with a known value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: EnvValue::Value(value.into()) }
    }
}

/// The network namespace a process gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The engine's default, which is the host network, as BuildKit's.
    #[default]
    Default,
    /// The host's network namespace.
    Host,
    /// A private namespace with only a loopback interface.
    None,
}

impl NetworkMode {
    fn is_default(&self) -> bool {
        *self == Self::Default
    }
}

/// The confinement of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    /// Docker's default capabilities and confinement.
    #[default]
    Sandbox,
    /// All capabilities (`RUN --security=insecure`).
    Insecure,
}

impl SecurityMode {
    fn is_sandbox(&self) -> bool {
        *self == Self::Sandbox
    }
}

/// One file system mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Where it is mounted in the container.
    pub target: String,
    /// Index into the op's inputs of the file system mounted; absent means an empty directory
    /// (or, for cache, tmpfs, secret and ssh mounts, nothing from the graph).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<u32>,
    /// The path inside the input that is mounted, `/` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Read-only mounts cannot be written by the process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    /// The output index this mount's final state becomes; absent when it is discarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<u32>,
    /// What kind of mount it is.
    #[serde(default, skip_serializing_if = "MountKind::is_bind")]
    pub kind: MountKind,
}

/// The kinds of mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// A snapshot of an input (or an empty directory).
    #[default]
    Bind,
    /// A directory that persists across builds, shared by `id`.
    Cache {
        /// The cache's identity.
        id: String,
        /// What happens when two processes use the cache at once.
        sharing: CacheSharing,
        /// Owner of the cache directory when it is created.
        uid: u32,
        /// Group of the cache directory when it is created.
        gid: u32,
        /// Mode of the cache directory when it is created.
        mode: u32,
    },
    /// A memory file system.
    Tmpfs {
        /// Size limit in bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    /// A secret file, never part of any layer or cache key.
    Secret {
        /// Which secret the client provides.
        id: String,
        /// Fail when the client has no such secret.
        required: bool,
        /// Owner of the file.
        uid: u32,
        /// Group of the file.
        gid: u32,
        /// Mode of the file.
        mode: u32,
        /// Also (or only, when `target` is empty) expose the secret as this variable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<String>,
    },
    /// An SSH agent socket forwarded from the client.
    Ssh {
        /// Which agent the client provides.
        id: String,
        /// Fail when the client has no such agent.
        required: bool,
        /// Owner of the socket.
        uid: u32,
        /// Group of the socket.
        gid: u32,
        /// Mode of the socket.
        mode: u32,
    },
}

impl MountKind {
    fn is_bind(&self) -> bool {
        *self == Self::Bind
    }
}

/// How concurrent users of one cache mount interact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    /// All users see the same directory at once.
    #[default]
    Shared,
    /// Each concurrent user gets its own directory.
    Private,
    /// Users take turns.
    Locked,
}

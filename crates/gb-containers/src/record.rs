//! [`ContainerRecord`]: what a container is (its config) and where it is in its life (its
//! state), kept in `ROOT/containers/ID/container.json`; listing, finding and removing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gb_cache::LayerId;
use gb_ir::Sha256Digest;
use gb_store::StateRoot;
use serde::{Deserialize, Serialize};

use crate::error::ContainerError;

/// A container's id: 64 lowercase hex digits, as docker's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContainerId(String);

impl ContainerId {
    /// A new random id.
    pub fn random() -> Self {
        Self(Sha256Digest::of(LayerId::random().0.as_bytes()).hex())
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, as docker shows ids.
    pub fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }

    /// Whether this is a well-formed id (so it can name a directory).
    fn is_well_formed(text: &str) -> bool {
        text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The container's network (`--network`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Its own network namespace with outbound access through slirp4netns (docker's bridge).
    #[default]
    Default,
    /// The host's network.
    Host,
    /// Only loopback.
    None,
}

/// What a volume mount shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeSource {
    /// A host path (`-v /host:/ctr`).
    Bind(PathBuf),
    /// A named volume (`-v data:/ctr`), `ROOT/volumes/NAME/_data`.
    Volume(String),
}

/// One `-v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// What is mounted.
    pub source: VolumeSource,
    /// Where, inside the container.
    pub target: String,
    /// `:ro`.
    pub readonly: bool,
}

/// One `-p [IP:]HOST:CONTAINER[/PROTO]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address (`0.0.0.0`: all).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

impl PortMapping {
    /// The port as the runtime publishes it, on `host_port` (the free one chosen at a start
    /// when this asks for none).
    pub(crate) fn published_on(&self, host_port: u16) -> gb_exec::PublishedPort {
        gb_exec::PublishedPort {
            host_ip: self.host_ip.clone(),
            host_port,
            container_port: self.container_port,
            protocol: self.protocol.clone(),
        }
    }
}

impl From<&gb_exec::PublishedPort> for PortMapping {
    /// What a run publishes, as its record keeps it.
    fn from(port: &gb_exec::PublishedPort) -> Self {
        Self {
            host_ip: port.host_ip.clone(),
            host_port: port.host_port,
            container_port: port.container_port,
            protocol: port.protocol.clone(),
        }
    }
}

impl std::fmt::Display for PortMapping {
    /// docker's `ps` form: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}->{}/{}", self.host_ip, self.host_port, self.container_port, self.protocol)
    }
}

/// What the container runs, fixed when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The command line: the image's ENTRYPOINT and CMD as docker's rules combine them.
    pub args: Vec<String>,
    /// Its ENTRYPOINT, as docker's `Config.Entrypoint` (what `commit` keeps).
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// Its CMD, as docker's `Config.Cmd` (what `commit` keeps).
    #[serde(default)]
    pub cmd: Vec<String>,
    /// `K=V` entries.
    pub env: Vec<String>,
    /// The working directory (absolute).
    pub cwd: String,
    /// The user (`name|uid[:group|gid]`), resolved in the container's files at each start.
    pub user: String,
    /// The host name.
    pub hostname: String,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// `--network`.
    pub network: NetworkMode,
    /// `-v`.
    pub volumes: Vec<VolumeMount>,
    /// `--rm`: removed once it exits.
    pub auto_remove: bool,
    /// `-p`: host ports forwarded to the container's.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// The image's labels, for `ps --filter label=`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Its process ended.
    Exited,
}

impl Status {
    /// docker's name of the state (`ps --filter status=`, `.State`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// The state of a container's current or last run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// Where it is.
    pub status: Status,
    /// The supervising process (while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    /// That process's start time (clock ticks since boot), so a reused pid is not taken for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// When it last started (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix: Option<u64>,
    /// When it last ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_unix: Option<u64>,
    /// How it last ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it could not start, when it could not.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Whether `stop` or `kill` ended it.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Where its root file system is mounted while it runs (`exec` and `export` read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
    /// The ports this run publishes: `config.ports` with each host port 0 (`-p 80`) replaced
    /// by the free one chosen at its start, as docker chooses at each start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
}

/// A container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Its id.
    pub id: ContainerId,
    /// Its name.
    pub name: String,
    /// When it was created (seconds since the epoch).
    pub created_unix: u64,
    /// The nanoseconds within that second, so containers made in one second list newest first.
    #[serde(default)]
    pub created_nanos: u32,
    /// The image as the user named it.
    pub image: String,
    /// The image's id (its config's digest).
    pub image_id: Sha256Digest,
    /// The image's layers, bottom first: its root file system's lower dirs (kept by GC while
    /// the container lives).
    pub layers: Vec<LayerId>,
    /// What it runs.
    pub config: ContainerConfig,
    /// Where it is in its life.
    pub state: ContainerState,
}

/// Serializes changes of records within this process: a state change reads, changes and
/// writes a record, and several commands (a `stop` and the run it ends) touch one at once.
/// Other processes never do: the root's server, or one `--no-server` process, owns the root.
pub(crate) static RECORDS: Mutex<()> = Mutex::new(());

/// The directory of container `id`.
pub(crate) fn container_dir(root: &StateRoot, id: &ContainerId) -> PathBuf {
    root.containers_dir().join(id.as_str())
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join("container.json")
}

impl ContainerRecord {
    /// Its directory.
    pub fn dir(&self, root: &StateRoot) -> PathBuf {
        container_dir(root, &self.id)
    }

    /// The ports it publishes now: none unless it runs.
    pub fn published(&self) -> Vec<PortMapping> {
        match (self.is_running(), self.state.ports.is_empty()) {
            (false, _) => Vec::new(),
            (true, false) => self.state.ports.clone(),
            (true, true) => self.config.ports.iter().filter(|p| p.host_port != 0).cloned().collect(),
        }
    }

    /// Whether it runs now: its record says so and its supervisor lives.
    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running && supervisor_lives(&self.state)
    }

    /// Writes the record: beside, then renamed over, so a reader never sees half of one.
    pub(crate) fn save(&self, root: &StateRoot) -> Result<(), ContainerError> {
        let dir = self.dir(root);
        let path = record_path(&dir);
        let partial = dir.join(".container.json.partial");
        let json =
            serde_json::to_vec_pretty(self).map_err(|source| ContainerError::Record { path: path.clone(), source })?;
        std::fs::write(&partial, json).map_err(ContainerError::io("writing", &partial))?;
        std::fs::rename(&partial, &path).map_err(ContainerError::io("writing", &path))
    }

    /// Reads the record in `dir`.
    pub(crate) fn load(dir: &Path) -> Result<Self, ContainerError> {
        let path = record_path(dir);
        let bytes = std::fs::read(&path).map_err(ContainerError::io("reading", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| ContainerError::Record { path, source })
    }

    /// Changes the stored record of `id` under [`RECORDS`] and returns the new one.
    pub(crate) fn update(
        root: &StateRoot,
        id: &ContainerId,
        change: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        let _guard = RECORDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut record = Self::load(&container_dir(root, id))?;
        change(&mut record);
        record.save(root)?;
        Ok(record)
    }
}

/// This process's start time in clock ticks since boot (`/proc/PID/stat` field 22).
pub(crate) fn process_start(pid: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the supervisor a state names still lives (the same process, not a reused pid).
fn supervisor_lives(state: &ContainerState) -> bool {
    match state.pid {
        Some(pid) => gb_store::process_runs(pid) && process_start(pid) == state.pid_start,
        None => false,
    }
}

/// Every container of the root, newest first. A record that says `running` although its
/// supervisor is dead is made `exited` (137, as a kill), and what the dead run left is removed
/// (a `--rm` container with it).
pub fn list(root: &StateRoot) -> Result<Vec<ContainerRecord>, ContainerError> {
    let mut records = Vec::new();
    for record in load_all(root)? {
        records.extend(recover(root, record)?);
    }
    Ok(records)
}

/// Every container record as stored, newest first (no recovery: callable under [`RECORDS`]).
pub(crate) fn load_all(root: &StateRoot) -> Result<Vec<ContainerRecord>, ContainerError> {
    let dir = root.containers_dir();
    let entries = match std::fs::read_dir(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(ContainerError::io("listing", &dir))?,
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !ContainerId::is_well_formed(&name) || !record_path(&entry.path()).exists() {
            continue;
        }
        // A record that does not read, or names another directory than its own, is not a
        // container this root made: it is passed over (and never acted on), as docker's daemon
        // skips a container it cannot load.
        match ContainerRecord::load(&entry.path()) {
            Ok(record) if record.id.as_str() == name => records.push(record),
            Ok(_) | Err(_) => {}
        }
    }
    records.sort_by(|a, b| (b.created_unix, b.created_nanos, &a.id).cmp(&(a.created_unix, a.created_nanos, &b.id)));
    Ok(records)
}

/// A record whose supervisor died while it ran, made exited (or removed, with `--rm`);
/// others unchanged.
fn recover(root: &StateRoot, record: ContainerRecord) -> Result<Option<ContainerRecord>, ContainerError> {
    if record.state.status != Status::Running || supervisor_lives(&record.state) {
        return Ok(Some(record));
    }
    // Not waiting for its lock: whoever holds it (perhaps this very thread, listing) is acting
    // on it; it reads as not running meanwhile, and the next listing recovers it.
    let Some(_lock) = crate::lock::ContainerLock::try_take(&record.id) else { return Ok(Some(record)) };
    crate::run::clean_up_dead_run(root, &record);
    let recovered = ContainerRecord::update(root, &record.id, |r| {
        if r.state.status == Status::Running && !supervisor_lives(&r.state) {
            r.state.status = Status::Exited;
            r.state.exit_code = Some(137);
            r.state.finished_unix = Some(crate::run::now());
            r.state.pid = None;
            r.state.pid_start = None;
            r.state.rootfs = None;
        }
    })?;
    // A `--rm` container goes once it has ended, whoever noticed the end.
    if recovered.config.auto_remove && recovered.state.status == Status::Exited {
        remove_dir(root, &recovered)?;
        return Ok(None);
    }
    Ok(Some(recovered))
}

/// The container a name, an id or an unambiguous id prefix names.
pub fn find(root: &StateRoot, name_or_id: &str) -> Result<ContainerRecord, ContainerError> {
    let wanted = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
    let records = list(root)?;
    if let Some(record) = records.iter().find(|r| r.id.as_str() == wanted || r.name == wanted) {
        return Ok(record.clone());
    }
    let prefixed: Vec<&ContainerRecord> =
        records.iter().filter(|r| !wanted.is_empty() && r.id.as_str().starts_with(wanted)).collect();
    match prefixed.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ContainerError::NoSuchContainer(name_or_id.to_owned())),
        _ => Err(ContainerError::Ambiguous(name_or_id.to_owned())),
    }
}

/// Checks a new container name: docker's rule, and no other container has it. Callable under
/// [`RECORDS`].
pub fn rename_check(root: &StateRoot, name: &str) -> Result<(), ContainerError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(first_ok && rest_ok) {
        return Err(ContainerError::InvalidName(name.to_owned()));
    }
    match load_all(root)?.into_iter().find(|r| r.name == name) {
        Some(other) => Err(ContainerError::NameInUse { name: name.to_owned(), id: other.id.to_string() }),
        None => Ok(()),
    }
}

/// Removes a container that does not run (with `force`, one that does is killed first):
/// its mounts, changes, logs and record.
pub async fn remove(root: &StateRoot, record: &ContainerRecord, force: bool) -> Result<(), ContainerError> {
    let record = find(root, record.id.as_str())?;
    if record.is_running() {
        if !force {
            return Err(ContainerError::Running(record.name.clone()));
        }
        crate::run::kill(root, &record, "KILL").await?;
        if !crate::run::wait_until_stopped(root, &record.id, std::time::Duration::from_secs(10)).await? {
            return Err(ContainerError::Input(format!("container {} did not stop after SIGKILL", record.name)));
        }
    }
    // Under its lock, nothing mounts, reads or starts it while it goes.
    let _lock = crate::lock::ContainerLock::take(&record.id);
    let record = find(root, record.id.as_str())?;
    if record.is_running() {
        return Err(ContainerError::Running(record.name.clone()));
    }
    remove_dir(root, &record)
}

/// Removes a container that does not run: what a dead run left, then its directory. Under
/// its lock.
fn remove_dir(root: &StateRoot, record: &ContainerRecord) -> Result<(), ContainerError> {
    let dir = record.dir(root);
    crate::run::clean_up_dead_run(root, record);
    // The link to the root's layers goes first, so that removing the directory can never
    // reach into a layer.
    let link = dir.join("layers");
    if std::fs::symlink_metadata(&link).is_ok() {
        std::fs::remove_file(&link).map_err(ContainerError::io("removing", &link))?;
    }
    std::fs::remove_dir_all(&dir).map_err(ContainerError::io("removing", &dir))
}

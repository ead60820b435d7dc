//! A container's life: `create` makes it from an image; `run` mounts its root file system,
//! runs it to its end under this process's supervision, logging its output, and records how
//! it ended; `stop`, `kill` and `exec` act on it from other threads meanwhile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use gb_cache::Snapshot;
use gb_exec::{ContainerControl, OutputStream, ProcessIo};
use gb_snapshot::SnapshotStore;
use gb_store::StateRoot;
use tokio_util::sync::CancellationToken;

use crate::error::ContainerError;
use crate::lock::ContainerLock;
use crate::logs::{LogStream, LogWriter};
use crate::record::{
    ContainerConfig, ContainerId, ContainerRecord, ContainerState, NetworkMode, RECORDS, Status, VolumeMount, find,
    process_start,
};
use crate::spec::{container_env, container_spec, entrypoint_and_cmd, string_list};

/// What `create` (and `run`) are asked for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The image, by name or id.
    pub image: String,
    /// `--name`; docker's style of random name when `None`.
    pub name: Option<String>,
    /// The arguments after the image (they replace its CMD).
    pub args: Vec<String>,
    /// `--entrypoint`.
    pub entrypoint: Option<String>,
    /// `-e` and `--env-file` entries, `K=V`, or `K` for one the caller found unset.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// `--network`.
    pub network: NetworkMode,
    /// `-v`.
    pub volumes: Vec<VolumeMount>,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-p`.
    pub ports: Vec<crate::record::PortMapping>,
    /// `-l`/`--label` `KEY=VALUE`, over the image's labels.
    pub labels: BTreeMap<String, String>,
}

/// The standard streams of a run or an exec.
pub type RunIo = ProcessIo;

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The containers this process supervises now, each with the token that ends its run.
static SUPERVISED: Mutex<BTreeMap<ContainerId, CancellationToken>> = Mutex::new(BTreeMap::new());

/// How many containers this process supervises (a server with any is not idle).
pub fn supervised() -> usize {
    SUPERVISED.lock().map_or(0, |s| s.len())
}

/// When [`stop_all`] first asked the containers this process supervises to stop.
static STOPPING_ALL: Mutex<Option<std::time::Instant>> = Mutex::new(None);

/// How long a stopping server waits for its containers after SIGTERM before it kills them, as
/// docker's daemon waits for each container's stop timeout (10 s) when it shuts down.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Stops every container this process supervises, as docker's daemon does when it shuts
/// down: the first call sends each SIGTERM; a call `timeout` or more after that kills those
/// still running (their runs record them exited). It returns at once, so a server's watch loop
/// calls it until no container is left.
pub fn stop_all(root: &StateRoot, timeout: Duration) {
    let Ok(mut since) = STOPPING_ALL.lock() else { return };
    let first = since.is_none();
    let asked = *since.get_or_insert_with(std::time::Instant::now);
    drop(since);
    let Ok(supervised) = SUPERVISED.lock() else { return };
    if first {
        let ids: Vec<ContainerId> = supervised.keys().cloned().collect();
        let runtimes: Vec<PathBuf> =
            ids.iter().map(|id| crate::record::container_dir(root, id).join("runtime")).collect();
        // runc's kill is a process of its own: on a thread, so the caller's loop goes on.
        let _ = std::thread::Builder::new().name("stop-containers".to_owned()).spawn(move || {
            terminate(&ids, &runtimes);
        });
    } else if asked.elapsed() >= timeout {
        for cancel in supervised.values() {
            cancel.cancel();
        }
    }
}

/// Sends SIGTERM to each container (best effort: one that has ended needs none).
fn terminate(ids: &[ContainerId], runtimes: &[PathBuf]) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    runtime.block_on(async {
        for (id, dir) in ids.iter().zip(runtimes) {
            if let Ok(control) = ContainerControl::new(dir) {
                let _ = control.signal(id.as_str(), "TERM").await;
            }
        }
    });
}

/// Makes a container from a stored image: its record (created, not started) and directory.
pub fn create(root: &StateRoot, options: &CreateOptions) -> Result<ContainerRecord, ContainerError> {
    let (_, image) = gb_store::find_image(root, &options.image)?;
    let image_config = &image.config["config"];
    let (entrypoint, cmd) = entrypoint_and_cmd(image_config, options.entrypoint.as_deref(), &options.args)?;
    let cwd = match &options.workdir {
        Some(dir) if !dir.starts_with('/') => {
            return Err(ContainerError::Input(format!(
                "the working directory '{dir}' is invalid, it needs to be an absolute path"
            )));
        }
        Some(dir) => dir.clone(),
        None => match image_config["WorkingDir"].as_str().unwrap_or_default() {
            "" => "/".to_owned(),
            dir if dir.starts_with('/') => dir.to_owned(),
            dir => format!("/{dir}"),
        },
    };
    let id = ContainerId::random();
    // As docker's: a container on the host's network has the host's name.
    let hostname = match (&options.hostname, options.network) {
        (Some(name), _) => name.clone(),
        (None, NetworkMode::Host) => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_owned())
            .unwrap_or_else(|_| id.short().to_owned()),
        (None, _) => id.short().to_owned(),
    };
    let image_env = string_list(&image_config["Env"]).unwrap_or_default();
    let mut labels: BTreeMap<String, String> = image_config["Labels"]
        .as_object()
        .map(|labels| labels.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    labels.extend(options.labels.iter().map(|(key, value)| (key.clone(), value.clone())));
    let config = ContainerConfig {
        args: entrypoint.iter().chain(&cmd).cloned().collect(),
        entrypoint,
        cmd,
        env: container_env(&image_env, &options.env, &hostname),
        cwd,
        user: options.user.clone().unwrap_or_else(|| image_config["User"].as_str().unwrap_or_default().to_owned()),
        hostname,
        tty: options.tty,
        open_stdin: options.open_stdin,
        network: options.network,
        volumes: options.volumes.clone(),
        auto_remove: options.auto_remove,
        labels,
        ports: match options.network {
            // As docker: published ports mean nothing on the host's network.
            NetworkMode::Host => Vec::new(),
            NetworkMode::None if !options.ports.is_empty() => {
                return Err(ContainerError::Input(
                    "conflicting options: port publishing and the container type network mode".to_owned(),
                ));
            }
            _ => options.ports.clone(),
        },
    };
    check_volumes(&config.volumes)?;

    // Containers whose supervisor died are made exited first (that takes the lock).
    crate::record::list(root)?;
    let _guard = RECORDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = match &options.name {
        Some(name) => {
            crate::record::rename_check(root, name)?;
            name.clone()
        }
        None => random_name(root)?,
    };
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let record = ContainerRecord {
        id,
        name,
        created_unix: created.as_secs(),
        created_nanos: created.subsec_nanos(),
        image: options.image.clone(),
        image_id: image.config_digest,
        layers: image.layers.clone(),
        config,
        state: ContainerState::default(),
    };
    let dir = record.dir(root);
    gb_store::create_private_dir(&root.containers_dir())?;
    gb_store::create_private_dir(&dir)?;
    let layers =
        std::fs::canonicalize(root.layers_dir()).map_err(ContainerError::io("resolving", &root.layers_dir()))?;
    let link = dir.join("layers");
    std::os::unix::fs::symlink(&layers, &link).map_err(ContainerError::io("linking", &link))?;
    record.save(root)?;
    Ok(record)
}

/// Bind sources must be absolute and exist; targets absolute.
fn check_volumes(volumes: &[VolumeMount]) -> Result<(), ContainerError> {
    for volume in volumes {
        if !volume.target.starts_with('/') {
            return Err(ContainerError::Input(format!(
                "invalid mount config: the mount path {:?} must be absolute",
                volume.target
            )));
        }
        if let crate::record::VolumeSource::Bind(path) = &volume.source
            && !path.exists()
        {
            return Err(ContainerError::Input(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// A docker-style name, `adjective_scientist`, that no container has.
fn random_name(root: &StateRoot) -> Result<String, ContainerError> {
    const ADJECTIVES: [&str; 16] = [
        "admiring", "bold", "brave", "clever", "eager", "focused", "gifted", "happy", "jolly", "keen", "lucid",
        "modest", "nifty", "quirky", "serene", "zealous",
    ];
    const NAMES: [&str; 16] = [
        "turing", "hopper", "lovelace", "curie", "noether", "knuth", "ritchie", "thompson", "hamilton", "dijkstra",
        "shannon", "galois", "euler", "gauss", "kepler", "darwin",
    ];
    let taken: Vec<String> = crate::record::load_all(root)?.into_iter().map(|r| r.name).collect();
    let random = gb_cache::LayerId::random();
    let bytes = random.0.as_bytes();
    for attempt in 0..1000usize {
        let a = ADJECTIVES[(usize::from(bytes[0]) + attempt) % ADJECTIVES.len()];
        let n = NAMES[(usize::from(bytes[1]) + attempt / ADJECTIVES.len()) % NAMES.len()];
        let name = if attempt < 256 { format!("{a}_{n}") } else { format!("{a}_{n}{attempt}") };
        if !taken.contains(&name) {
            return Ok(name);
        }
    }
    Ok(format!("container_{}", &random.0[..12]))
}

/// The exit status of a container whose process could not start, as docker's: 127 when the
/// command is not found, 126 when it cannot be executed, else 125.
fn start_failure_code(message: &str) -> i32 {
    if message.contains("executable file not found") || message.contains("no such file or directory") {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// Marks the container running under this process; refuses one that already runs.
fn mark_started(root: &StateRoot, id: &ContainerId) -> Result<ContainerRecord, ContainerError> {
    let pid = u64::from(std::process::id());
    let _guard = RECORDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut record = ContainerRecord::load(&crate::record::container_dir(root, id))?;
    if record.is_running() {
        return Err(ContainerError::Input(format!("container {} is already running", record.name)));
    }
    record.state = ContainerState {
        status: Status::Running,
        pid: Some(pid),
        pid_start: process_start(pid),
        started_unix: Some(now()),
        ..ContainerState::default()
    };
    record.save(root)?;
    Ok(record)
}

/// Makes a container that does not run read as about to start: its last run's end (status,
/// exit code, error) is forgotten, so whoever waits for this start reads this start's.
pub fn prepare_start(root: &StateRoot, id: &ContainerId) -> Result<(), ContainerError> {
    ContainerRecord::update(root, id, |r| {
        if !r.is_running() {
            r.state.status = Status::Created;
            r.state.exit_code = None;
            r.state.error.clear();
        }
    })?;
    Ok(())
}

/// Runs the container to its end under this process's supervision and returns its exit
/// status. Its output goes to its log and to `on_output`. Cancelling `cancel` (or
/// [`stop_all`], or a `stop` from another command) kills it. A process that cannot start is
/// [`ContainerError::CannotStart`] with docker's 125/126/127. With `--rm`, it is removed after.
pub async fn run(
    root: &StateRoot,
    id: &ContainerId,
    io: RunIo,
    on_output: &(dyn Fn(LogStream, &[u8]) + Send + Sync),
    cancel: CancellationToken,
) -> Result<i32, ContainerError> {
    // Held while its file system is mounted and again while it is unmounted: nothing else
    // mounts, reads or removes it then.
    let lock = ContainerLock::take(id);
    let record = mark_started(root, id)?;
    // Whatever ends the run, a panic too, this process no longer supervises it after, and a
    // run that did not record its end leaves it marked exited.
    let supervision = Supervision::begin(root, id, &cancel);
    let outcome = run_mounted(root, &record, lock, io, on_output, cancel).await;
    let (code, error, status) = match &outcome {
        Ok(code) => (*code, String::new(), Status::Exited),
        // As docker's: a container whose process never started stays created, with the error.
        Err(ContainerError::CannotStart { code, message }) => (*code, message.clone(), Status::Created),
        Err(error) => (125, error.to_string(), Status::Exited),
    };
    let finished = supervision.end(status, code, error)?;
    if finished.config.auto_remove {
        crate::record::remove(root, &finished, false).await?;
    }
    outcome
}

/// A container this process supervises: in [`SUPERVISED`] while it lives. Dropped without
/// [`Supervision::end`] (its run panicked), it still leaves the set and records the container
/// exited, so a server is not kept busy by a run that is gone.
struct Supervision<'a> {
    root: &'a StateRoot,
    id: &'a ContainerId,
    ended: bool,
}

impl<'a> Supervision<'a> {
    fn begin(root: &'a StateRoot, id: &'a ContainerId, cancel: &CancellationToken) -> Self {
        if let Ok(mut supervised) = SUPERVISED.lock() {
            supervised.insert(id.clone(), cancel.clone());
        }
        Self { root, id, ended: false }
    }

    /// Records how the run ended (`status`: exited, or created when its process never
    /// started) and leaves supervision.
    fn end(mut self, status: Status, code: i32, error: String) -> Result<ContainerRecord, ContainerError> {
        self.ended = true;
        ContainerRecord::update(self.root, self.id, |r| {
            r.state.status = status;
            r.state.exit_code = Some(code);
            r.state.error = error;
            r.state.finished_unix = Some(now());
            r.state.pid = None;
            r.state.pid_start = None;
            r.state.rootfs = None;
        })
    }
}

impl Drop for Supervision<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let _ = ContainerRecord::update(self.root, self.id, |r| {
                r.state.status = Status::Exited;
                r.state.exit_code = Some(125);
                r.state.error = "its supervisor failed".to_owned();
                r.state.finished_unix = Some(now());
                r.state.pid = None;
                r.state.pid_start = None;
            });
        }
        if let Ok(mut supervised) = SUPERVISED.lock() {
            supervised.remove(self.id);
        }
    }
}

/// Mounts the root file system, runs the process, removes the runtime's mount points from
/// the changes and unmounts. `lock` is held while it mounts and while it unmounts.
async fn run_mounted(
    root: &StateRoot,
    record: &ContainerRecord,
    lock: ContainerLock,
    io: RunIo,
    on_output: &(dyn Fn(LogStream, &[u8]) + Send + Sync),
    cancel: CancellationToken,
) -> Result<i32, ContainerError> {
    let dir = record.dir(root);
    let (work, mounted) = mount(root, record)?;
    let rootfs = mounted.path().to_path_buf();
    let prepared = container_spec(root, record, &rootfs).and_then(|(spec, created)| {
        let ports: Vec<crate::record::PortMapping> = spec.published.iter().map(Into::into).collect();
        ContainerRecord::update(root, &record.id, |r| {
            r.state.rootfs = Some(rootfs.clone());
            r.state.ports = ports;
        })?;
        Ok((spec, created))
    });
    drop(lock);
    match prepared {
        Ok((spec, created)) => {
            // Making a mount point copies its directory up into the changes (`/etc` for
            // `/etc/hosts`); those copies go again when the process left them empty, so a
            // container's diff shows what its process changed, as docker's does.
            let copied_up = parents_copied_up(work.upper(), &spec, &rootfs);
            let result = run_process(&dir, record, &spec, io, on_output, cancel).await;
            // The process's changes stay; the runtime's empty mount points go.
            let _lock = ContainerLock::take(&record.id);
            let _ = gb_snapshot::remove_created_mount_points(work.upper(), &created);
            let _ = gb_snapshot::remove_created_mount_points(work.upper(), &copied_up);
            unmount(root, record, mounted)?;
            result
        }
        Err(error) => {
            let _lock = ContainerLock::take(&record.id);
            unmount(root, record, mounted)?;
            Err(error)
        }
    }
}

/// Unmounts a run's root file system and forgets it in the record (under the lock).
fn unmount(root: &StateRoot, record: &ContainerRecord, mounted: gb_snapshot::Mounted) -> Result<(), ContainerError> {
    mounted.unmount().map_err(ContainerError::snapshot("unmounting the root file system"))?;
    ContainerRecord::update(root, &record.id, |r| r.state.rootfs = None)?;
    Ok(())
}

/// Mounts the container's root file system writable: the image's layers under its changes, in
/// its private store (opening which wipes its tmp/, what a dead run left mounted). Only for a
/// container that does not run.
pub(crate) fn mount(
    root: &StateRoot,
    record: &ContainerRecord,
) -> Result<(gb_snapshot::WorkDir, gb_snapshot::Mounted), ContainerError> {
    let dir = record.dir(root);
    let store = SnapshotStore::open(&dir).map_err(ContainerError::snapshot("opening the container's store"))?;
    let work = store.kept_work_dir(&dir.join("fs")).map_err(ContainerError::snapshot("opening the changes"))?;
    let mounted = store
        .mount_writable(&Snapshot { layers: record.layers.clone() }, &work)
        .map_err(ContainerError::snapshot("mounting the root file system"))?;
    Ok((work, mounted))
}

/// The parent directories of the runtime's mount points that are not in the changes yet,
/// deepest first (relative to the root).
fn parents_copied_up(upper: &Path, spec: &gb_exec::ContainerSpec, rootfs: &Path) -> Vec<PathBuf> {
    let Ok(upper_dir) = gb_snapshot::ConfinedDir::open(upper) else { return Vec::new() };
    let mut parents: Vec<PathBuf> = Vec::new();
    for point in gb_exec::mount_points(spec) {
        let Ok(resolved) = gb_ops::resolve_in_root(rootfs, &point, true) else { continue };
        let Ok(relative) = resolved.strip_prefix(rootfs) else { continue };
        for parent in relative.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()) {
            let missing = matches!(upper_dir.lookup(parent), Ok(gb_snapshot::Lookup::Missing));
            if missing && !parents.iter().any(|p| p == parent) {
                parents.push(parent.to_path_buf());
            }
        }
    }
    parents.sort_by(|a, b| b.components().count().cmp(&a.components().count()).then_with(|| b.cmp(a)));
    parents
}

/// Runs the process with runc, logging its output.
async fn run_process(
    dir: &Path,
    record: &ContainerRecord,
    spec: &gb_exec::ContainerSpec,
    io: RunIo,
    on_output: &(dyn Fn(LogStream, &[u8]) + Send + Sync),
    cancel: CancellationToken,
) -> Result<i32, ContainerError> {
    let runtime =
        gb_exec::Runtime::detect(&dir.join("runtime")).map_err(ContainerError::exec("finding a container runtime"))?;
    let log = LogWriter::open(&dir.join("container.log"))?;
    let output = |stream: OutputStream, bytes: &[u8]| {
        let stream = match stream {
            OutputStream::Stdout => LogStream::Stdout,
            OutputStream::Stderr => LogStream::Stderr,
        };
        log.write(stream, bytes);
        on_output(stream, bytes);
    };
    let result = runtime.run_with_io(record.id.as_str(), spec, io, &output, cancel).await;
    log.finish();
    match result {
        Ok(code) => Ok(code),
        Err(gb_exec::ExecError::Cancelled) => Ok(137),
        Err(gb_exec::ExecError::Runtime { message, .. }) if message.contains("exec:") || message.contains("exec ") => {
            Err(ContainerError::CannotStart { code: start_failure_code(&message), message })
        }
        Err(error) => Err(ContainerError::exec("running the container")(error)),
    }
}

/// What a dead run left: runc's containers (killed), and mounts under the container's tmp/.
/// Only for a container that does not run. Best effort: what fails stays for the next time.
pub(crate) fn clean_up_dead_run(root: &StateRoot, record: &ContainerRecord) {
    let dir = record.dir(root);
    let runtime = dir.join("runtime");
    if runtime.exists() {
        let _ = gb_exec::reap_if_orphaned(&runtime);
    }
    if dir.join("tmp").exists() {
        let _ = SnapshotStore::open(&dir);
    }
}

/// Sends `signal` to a running container's process.
pub async fn kill(root: &StateRoot, record: &ContainerRecord, signal: &str) -> Result<(), ContainerError> {
    if !record.is_running() {
        return Err(ContainerError::NotRunning(record.id.to_string()));
    }
    let control = ContainerControl::new(&record.dir(root).join("runtime"))
        .map_err(ContainerError::exec("finding a container runtime"))?;
    // A container just started may not be made by runc yet: its signal waits for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let sent = control.signal(record.id.as_str(), signal).await;
        match sent {
            Ok(()) => return Ok(()),
            Err(error) => {
                let running = find(root, record.id.as_str())?.is_running();
                if !running {
                    return Err(ContainerError::NotRunning(record.id.to_string()));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ContainerError::exec(format!("signalling {}", record.name))(error));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Waits until runc has made a container that `run` just started, or its run ended, so a
/// command right after `run -d` finds it signallable; a process that could not start is
/// [`ContainerError::CannotStart`] with docker's 125/126/127, as `docker run -d nosuch` fails.
/// A supervisor that has not marked it started within [`START_TIMEOUT`] is a failure too.
pub async fn wait_until_made(root: &StateRoot, id: &ContainerId) -> Result<ContainerRecord, ContainerError> {
    let dir = crate::record::container_dir(root, id);
    let control =
        ContainerControl::new(&dir.join("runtime")).map_err(ContainerError::exec("finding a container runtime"))?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let record = find(root, id.as_str())?;
        // Ended, or never started (created again, with the reason; `prepare_start` cleared
        // the last run's).
        if record.state.status == Status::Exited
            || (record.state.status == Status::Created && !record.state.error.is_empty())
        {
            return match record.state.exit_code {
                Some(code) if !record.state.error.is_empty() => {
                    Err(ContainerError::CannotStart { code, message: record.state.error.clone() })
                }
                _ => Ok(record),
            };
        }
        if record.is_running() && control.is_running(id.as_str()).await {
            return Ok(record);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ContainerError::CannotStart {
                code: 125,
                message: format!("container {} did not start within {START_TIMEOUT:?}", record.name),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long a detached start may take: mounting, the user-mode network and runc's create, on
/// a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until the container no longer runs, for at most `timeout`.
pub(crate) async fn wait_until_stopped(
    root: &StateRoot,
    id: &ContainerId,
    timeout: Duration,
) -> Result<bool, ContainerError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // A `--rm` container is removed by its supervisor as soon as it ends.
        match find(root, id.as_str()) {
            Ok(record) if record.is_running() => {}
            Ok(_) | Err(ContainerError::NoSuchContainer(_)) => return Ok(true),
            Err(error) => return Err(error),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `docker stop`: SIGTERM, then SIGKILL after `timeout`; waits until it has exited. A
/// container that does not run is left as it is.
pub async fn stop(root: &StateRoot, record: &ContainerRecord, timeout: Duration) -> Result<(), ContainerError> {
    if !record.is_running() {
        return Ok(());
    }
    ContainerRecord::update(root, &record.id, |r| r.state.stopped_by_user = true)?;
    // It may end by itself between the check and the signal.
    let _ = kill(root, record, "TERM").await;
    if wait_until_stopped(root, &record.id, timeout).await? {
        return Ok(());
    }
    let _ = kill(root, record, "KILL").await;
    if wait_until_stopped(root, &record.id, Duration::from_secs(30)).await? {
        Ok(())
    } else {
        Err(ContainerError::Input(format!("container {} did not stop after SIGKILL", record.name)))
    }
}

/// What `exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command.
    pub args: Vec<String>,
    /// `-e` entries, over the container's environment.
    pub env: Vec<String>,
    /// `-w`; the container's working directory when `None`.
    pub workdir: Option<String>,
    /// `-u`; the container's user when `None`.
    pub user: Option<String>,
}

/// `docker exec`: runs a process in a running container and returns its exit status.
pub async fn exec(
    root: &StateRoot,
    record: &ContainerRecord,
    options: &ExecOptions,
    io: RunIo,
    on_output: &(dyn Fn(LogStream, &[u8]) + Send + Sync),
    cancel: CancellationToken,
) -> Result<i32, ContainerError> {
    let rootfs = match (&record.state.rootfs, record.is_running()) {
        (Some(rootfs), true) => rootfs.clone(),
        _ => return Err(ContainerError::NotRunning(record.id.to_string())),
    };
    let user_name = options.user.clone().unwrap_or_else(|| record.config.user.clone());
    let user = gb_ops::resolve_user(&rootfs, &user_name)
        .map_err(|e| ContainerError::Input(format!("unable to find user {user_name}: {e}")))?;
    let mut env = container_env(&record.config.env, &options.env, &record.config.hostname);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home.clone().unwrap_or_else(|| "/".to_owned())));
    }
    let mut spec = gb_exec::ContainerSpec::new(&rootfs, options.args.clone());
    spec.env = env;
    spec.cwd = options.workdir.clone().unwrap_or_else(|| record.config.cwd.clone());
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.additional_gids = user.additional_gids;
    let scratch = scratch_dir(&record.dir(root))?;
    let control = ContainerControl::new(&record.dir(root).join("runtime"))
        .map_err(ContainerError::exec("finding a container runtime"))?;
    let output = |stream: OutputStream, bytes: &[u8]| match stream {
        OutputStream::Stdout => on_output(LogStream::Stdout, bytes),
        OutputStream::Stderr => on_output(LogStream::Stderr, bytes),
    };
    let result = control.exec(record.id.as_str(), &spec, io, &scratch, &output, cancel).await;
    let _ = std::fs::remove_dir_all(&scratch);
    match result {
        Ok(code) => Ok(code),
        Err(gb_exec::ExecError::Cancelled) => Ok(130),
        Err(gb_exec::ExecError::Runtime { message, .. }) if message.contains("exec:") => {
            Err(ContainerError::CannotStart { code: start_failure_code(&message), message })
        }
        Err(error) => Err(ContainerError::exec("running the command in the container")(error)),
    }
}

/// A fresh private directory for one exec's process file and console socket, in the
/// container's `tmp/`, which the next start or clean-up wipes should this process die first.
fn scratch_dir(dir: &Path) -> Result<PathBuf, ContainerError> {
    let path = dir.join("tmp").join(format!("exec-{}", &gb_cache::LayerId::random().0[..16]));
    gb_store::create_private_dir(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_failures_get_dockers_codes() {
        let not_found = "unable to start container process: exec: \"nosuch\": executable file not found in $PATH";
        assert_eq!(super::start_failure_code(not_found), 127);
        assert_eq!(super::start_failure_code("exec: \"/etc/passwd\": permission denied"), 126);
        assert_eq!(super::start_failure_code("something else"), 125);
    }
}

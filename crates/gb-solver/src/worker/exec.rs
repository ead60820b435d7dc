//! Exec ops: the root snapshot mounted writable, extra mounts prepared (snapshots, cache
//! directories, tmpfs, secrets), the process run in a container, mount points the runtime
//! created removed from the diff, and the upper dir committed as a layer.

use std::collections::VecDeque;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gb_cache::Snapshot;
use gb_events::{Event, Stream};
use gb_exec::{ContainerMount, ContainerSpec, MountSource, Network, OutputStream};
use gb_ir::{CacheSharing, ExecOp, MountKind, NetworkMode, OpDigest, OpNode, SecurityMode};
use gb_snapshot::{ConfinedDir, Lookup};

use super::{Value, commit, input_snapshot, mount_failed};
use crate::env::{BaseConfig, process_settings};
use crate::error::SolveError;
use crate::solve::Context;

/// How many output lines a failure report shows.
const LAST_LINES: usize = 20;

pub(super) async fn run(
    context: &Context,
    digest: &OpDigest,
    node: &OpNode,
    exec: &ExecOp,
    inputs: Vec<Value>,
) -> Result<Vec<Snapshot>, SolveError> {
    let description = context.description(digest);
    let location = context.location(digest);
    let fail = {
        let (description, location) = (description.clone(), location.clone());
        move |message: String| SolveError::OpFailed {
            description: description.clone(),
            location: location.clone(),
            message,
        }
    };
    if let Some(platform) = &node.platform {
        check_emulation(platform).map_err(&fail)?;
    }
    let runtime = context.runtime()?;

    let mut snapshots = Vec::with_capacity(exec.mounts.len());
    for mount in &exec.mounts {
        snapshots.push(match (mount.input, &mount.kind) {
            (Some(index), MountKind::Bind | MountKind::Cache { .. }) => {
                Some(input_snapshot(context, digest, inputs[index as usize].clone()).await?)
            }
            _ => None,
        });
    }
    // Read after the snapshots: an image pulled on demand is in the store only now.
    // The base image's config, when the front end left it to us.
    let base_config = match exec.meta.config_from {
        Some(index) => {
            let input = node.inputs.get(index as usize).ok_or_else(|| fail("config_from names no input".to_owned()))?;
            let Some(entry) = context.definition.ops.iter().find(|e| e.digest == input.op) else {
                return Err(fail("config_from names an op that is not in the definition".to_owned()));
            };
            let gb_ir::Op::Source(gb_ir::SourceOp::Image(image)) = &entry.node.op else {
                return Err(fail("config_from must name an image source".to_owned()));
            };
            let name = gb_cache::ImageName::parse(&image.reference)
                .map_err(|e| fail(format!("image {}: {e}", image.reference)))?;
            let record = context
                .root
                .db
                .image(&name)
                .map_err(|e| SolveError::env("reading the image store", e))?
                .ok_or_else(|| fail(format!("image {} is not in the local store", image.reference)))?;
            Some(BaseConfig::from_oci(&record.config))
        }
        None => None,
    };
    let settings = process_settings(&exec.meta, base_config.as_ref()).map_err(&fail)?;

    let root_mount = exec
        .mounts
        .first()
        .filter(|m| m.target == "/")
        .ok_or_else(|| fail("the first mount must be the root file system".to_owned()))?;
    if exec.mounts.iter().skip(1).any(|m| m.output.is_some()) {
        return Err(fail("outputs of mounts other than the root are not supported yet".to_owned()));
    }
    let root_snapshot = snapshots[0].clone().unwrap_or_default();
    let _ = root_mount;
    let root_layers = root_snapshot.layers.clone();

    let state = context.root.clone();
    let given = Given { secrets: context.options.secrets.clone(), ssh: context.options.ssh.clone() };
    let exec = exec.clone();
    let prepared = tokio::task::spawn_blocking({
        let state = state.clone();
        let fail = fail.clone();
        move || prepare(&state, &exec, &root_snapshot, &snapshots, settings, &given, &fail)
    })
    .await
    .map_err(|e| SolveError::env("preparing a container", e))??;

    let last_lines: Arc<Mutex<VecDeque<String>>> = Arc::new(Mutex::new(VecDeque::new()));
    let on_output = {
        let events = context.events.clone();
        let op = digest.to_string();
        let started = context.started;
        let last_lines = last_lines.clone();
        move |stream: OutputStream, bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            if let Ok(mut lines) = last_lines.lock() {
                for line in text.lines() {
                    lines.push_back(line.to_owned());
                    if lines.len() > LAST_LINES {
                        lines.pop_front();
                    }
                }
            }
            let stream = match stream {
                OutputStream::Stdout => Stream::Stdout,
                OutputStream::Stderr => Stream::Stderr,
            };
            events.emit(Event::OpLog {
                op: op.clone(),
                stream,
                data: text,
                at_ms: started.elapsed().as_millis() as u64,
            });
        }
    };
    let container_id = format!("gb-{}-{}", digest.short(), &gb_cache::LayerId::random().0[..8]);
    // The whole root's bound covers the command itself, the CPU-heavy part that the core count
    // is about; mounting, runc's start and the commit around it overlap freely.
    let slot = context.root.shared::<crate::steps::Steps>().slot().await;
    context.events.emit(gb_events::Event::OpRunning { op: digest.to_string(), at_ms: context.now_ms() });
    let outcome = runtime.run(&container_id, &prepared.spec, &on_output, context.options.cancel.clone()).await;
    drop(slot);
    let args = prepared.spec.args.clone();
    let work = tokio::task::spawn_blocking(move || prepared.tear_down())
        .await
        .map_err(|e| SolveError::env("cleaning up a container", e))?;
    match outcome {
        Ok(0) => {}
        Ok(exit_code) => {
            let last_lines = last_lines.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default();
            return Err(SolveError::RunFailed { description, location, command: args, exit_code, last_lines });
        }
        Err(gb_exec::ExecError::Cancelled) => return Err(SolveError::Cancelled),
        // The command could not be started (no such program, not executable): the step's
        // doing, reported at its line as BuildKit reports it.
        Err(gb_exec::ExecError::Runtime { message, .. })
            if message.contains("unable to start container process: exec:") =>
        {
            return Err(SolveError::OpFailed {
                description,
                location,
                message: format!("process \"{}\" did not complete successfully: {message}", args.join(" ")),
            });
        }
        Err(err) => return Err(SolveError::env("running a container", err)),
    }
    let work = work.map_err(|e| SolveError::env("removing the mount points from the diff", e))?;
    let layer = tokio::task::spawn_blocking(move || commit(&state, work))
        .await
        .map_err(|e| SolveError::env("committing", e))??;
    let mut layers = root_layers;
    layers.push(layer);
    Ok(vec![Snapshot { layers }])
}

/// The directory name of a cache mount: its id with the owner and mode of its new directory,
/// as BuildKit keys a cache by its id and the base it starts from (a directory made with that
/// owner and mode), so `uid=1001` does not reuse a cache root's steps made.
fn cache_dir_name(id: &str, uid: u32, gid: u32, mode: u32) -> String {
    gb_ir::Sha256Digest::of(format!("{id}\n{uid}:{gid}:{mode:o}").as_bytes()).hex()
}

/// Empties the cache mounts of `exec` (each its id with its owner and mode): the directory is
/// moved aside at once, so a step that starts next makes a new one, and removed after; a step
/// still using it keeps what it mounted.
pub(crate) fn prune_cache_mounts(state: &gb_store::StateRoot, exec: &gb_ir::ExecOp) -> Result<(), SolveError> {
    for mount in &exec.mounts {
        let MountKind::Cache { id, uid, gid, mode, .. } = &mount.kind else { continue };
        let dir = state.cache_mounts_dir().join(cache_dir_name(id, *uid, *gid, *mode));
        let aside = state.tmp_dir().join(format!("cache-pruned-{}", gb_cache::LayerId::random()));
        match std::fs::rename(&dir, &aside) {
            Ok(()) => {
                std::fs::remove_dir_all(&aside)
                    .map_err(|e| SolveError::env(format!("removing the pruned cache mount {id}"), e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SolveError::env(format!("pruning the cache mount {id}"), e)),
        }
    }
    Ok(())
}

/// What the build was given for its steps' secret and ssh mounts.
struct Given {
    secrets: std::collections::BTreeMap<String, crate::SecretSource>,
    ssh: std::collections::BTreeMap<String, PathBuf>,
}

/// Fails unless this machine can run programs of `platform`: its own architecture, or one a
/// `binfmt_misc` handler of QEMU (Debian's qemu-user-static) emulates, as BuildKit runs RUN
/// steps of another platform.
fn check_emulation(platform: &gb_ir::Platform) -> Result<(), String> {
    let host = gb_ir::Platform::host();
    let wanted = gb_ir::Platform { variant: None, ..platform.clone() };
    if wanted.matches(&host) || (host.architecture == "amd64" && platform.architecture == "386") {
        return Ok(());
    }
    let qemu = match platform.architecture.as_str() {
        "arm64" => "aarch64",
        "amd64" => "x86_64",
        "386" => "i386",
        "ppc64le" => "ppc64le",
        "arm" => "arm",
        other => other,
    };
    let handler = Path::new("/proc/sys/fs/binfmt_misc").join(format!("qemu-{qemu}"));
    match std::fs::read_to_string(&handler) {
        Ok(state) if state.starts_with("enabled") => Ok(()),
        _ => Err(format!(
            "running a step for {}/{} on this {} machine needs emulation: install qemu-user-static and register its binfmt_misc handler qemu-{qemu}",
            platform.os, platform.architecture, host.architecture
        )),
    }
}

/// A container ready to run, and everything that must be released after it.
struct Prepared {
    spec: ContainerSpec,
    work: gb_snapshot::WorkDir,
    // Dropped (unmounted) before the upper dir is committed; the extra mounts first.
    extra: Vec<gb_snapshot::Mounted>,
    scratch_work: Vec<gb_snapshot::WorkDir>,
    root: gb_snapshot::Mounted,
    // Relative to the root, deepest first: where the runtime will create each mount point.
    created_mount_points: Vec<PathBuf>,
    // Relays of `--mount=type=ssh` to the build's agents, stopped (and their sockets removed)
    // before the secret files' directories go (fields drop in order).
    ssh_relays: Vec<super::ssh::SshRelay>,
    secret_files: TempPaths,
    // Cache mount locks held while the process runs (`sharing=locked|private`).
    locks: Vec<nix::fcntl::Flock<std::fs::File>>,
    // Cache directories made for one run because the shared one was busy (`sharing=private`).
    private_dirs: TempPaths,
}

/// A step's hosts file, as BuildKit writes it (`executor/oci/hosts.go`): the loopback
/// addresses with `localhost` and the step's host name, then one `IP\tNAME` line per `name=ip`
/// entry. The host's own entries stay out, so a step sees the same names on every machine.
fn hosts_file(hostname: &str, extra: &[String]) -> String {
    let mut text = format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for entry in extra {
        if let Some((name, ip)) = entry.split_once('=') {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    text
}

/// The resolv.conf of a step on the private network: slirp's DNS forwarder (which relays to the
/// host's resolvers) and the host's `search` and `options` lines.
fn private_resolv_conf(host: &str) -> String {
    let mut text = format!("nameserver {}\n", gb_exec::PRIVATE_NETWORK_DNS);
    for line in host.lines().map(str::trim) {
        if line.starts_with("search ") || line.starts_with("options ") {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// Files and directories removed when dropped, so an error anywhere leaves none behind.
#[derive(Default)]
struct TempPaths(Vec<PathBuf>);

impl TempPaths {
    fn push(&mut self, path: PathBuf) {
        self.0.push(path);
    }
}

impl Drop for TempPaths {
    fn drop(&mut self) {
        for path in &self.0 {
            if path.is_dir() {
                let _ = std::fs::remove_dir_all(path);
            } else {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Prepared {
    /// Unmounts everything, deletes secret copies and removes the mount points the runtime
    /// made, leaving the upper dir holding exactly the process's changes.
    fn tear_down(self) -> Result<gb_snapshot::WorkDir, gb_snapshot::SnapshotError> {
        let Prepared {
            spec: _,
            work,
            extra,
            scratch_work,
            root,
            created_mount_points,
            secret_files,
            ssh_relays,
            locks,
            private_dirs,
        } = self;
        drop(ssh_relays);
        drop(locks);
        drop(private_dirs);
        drop(extra);
        drop(scratch_work);
        drop(root);
        drop(secret_files);
        gb_snapshot::remove_created_mount_points(work.upper(), &created_mount_points)?;
        Ok(work)
    }
}

fn prepare(
    state: &gb_store::StateRoot,
    exec: &ExecOp,
    root_snapshot: &Snapshot,
    snapshots: &[Option<Snapshot>],
    mut settings: crate::env::ProcessSettings,
    given: &Given,
    fail: &(dyn Fn(String) -> SolveError + Send + Sync),
) -> Result<Prepared, SolveError> {
    let secrets = &given.secrets;
    let work = state.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
    let root = state
        .snapshots
        .mount_writable(root_snapshot, &work)
        .map_err(|e| mount_failed("mounting the root file system", e, fail))?;
    let rootfs = root.path().to_path_buf();
    // The working directory and mount points are inspected and made below this descriptor,
    // never through a link an earlier layer left.
    let rootfs_dir = ConfinedDir::open(&rootfs).map_err(|e| SolveError::env("opening the root file system", e))?;
    let user = gb_ops::resolve_user(&rootfs, &settings.user).map_err(|e| fail(e.to_string()))?;
    let cwd = gb_ops::resolve_in_root(&rootfs, &settings.cwd, true).map_err(|e| fail(e.to_string()))?;
    let cwd = cwd.strip_prefix(&rootfs).unwrap_or(Path::new(""));
    if rootfs_dir.lookup(cwd).map_err(|e| SolveError::env("inspecting the working directory", e))? == Lookup::Missing {
        rootfs_dir
            .create_dir_all(cwd, 0o755)
            .map_err(|e| SolveError::env(format!("creating the working directory {}", settings.cwd), e))?;
    }

    let mut mounts = Vec::new();
    // Declared before `extra` so that, on an error, the mounts drop (unmount) before the
    // throwaway work dirs under them are removed.
    let mut scratch_work = Vec::new();
    let mut extra = Vec::new();
    // Secret copies (and the private network's resolv.conf) and private cache dirs are removed
    // when these guards drop, on every path.
    let mut secret_files = TempPaths::default();
    let mut ssh_relays = Vec::new();
    let mut locks = Vec::new();
    let mut private_dirs = TempPaths::default();
    // `sharing=locked` caches are locked up front, each id once and in sorted order, so two
    // steps locking the same caches can never wait on each other.
    let locked_ids: std::collections::BTreeSet<String> = exec
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Cache { id, sharing: CacheSharing::Locked, uid, gid, mode } => {
                Some(cache_dir_name(id, *uid, *gid, *mode))
            }
            _ => None,
        })
        .collect();
    // Private: what RUN steps leave in cache mounts (a set-uid copy of a shell) must not be
    // reachable by other users.
    gb_store::create_private_dir(&state.cache_mounts_dir())?;
    for name in locked_ids {
        let lock_path = state.cache_mounts_dir().join(name).with_extension("lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| SolveError::env(format!("opening {}", lock_path.display()), e))?;
        let lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| SolveError::env(format!("locking cache mount {}", lock_path.display()), e))?;
        locks.push(lock);
    }
    for (mount, snapshot) in exec.mounts.iter().zip(snapshots).skip(1) {
        let selector = mount.selector.as_deref().unwrap_or("/").trim_start_matches('/').to_owned();
        match &mount.kind {
            MountKind::Bind => {
                let snapshot = snapshot.clone().unwrap_or_default();
                let mounted = if mount.readonly {
                    state
                        .snapshots
                        .mount_readonly(&snapshot)
                        .map_err(|e| mount_failed("mounting a bind source", e, fail))?
                } else {
                    // A writable bind mount's changes are thrown away, so it gets its own upper dir.
                    let throwaway =
                        state.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
                    let mounted = state
                        .snapshots
                        .mount_writable(&snapshot, &throwaway)
                        .map_err(|e| mount_failed("mounting a bind source", e, fail))?;
                    scratch_work.push(throwaway);
                    mounted
                };
                // Symlinks in the source resolve inside the snapshot, never onto the host.
                let path = gb_ops::resolve_in_root(mounted.path(), &format!("/{selector}"), true)
                    .map_err(|e| fail(e.to_string()))?;
                if !path.exists() {
                    return Err(fail(format!("the bind mount source /{selector} does not exist")));
                }
                mounts.push(ContainerMount {
                    target: mount.target.clone(),
                    source: MountSource::Bind { path, readonly: mount.readonly },
                });
                extra.push(mounted);
            }
            MountKind::Cache { id, uid, gid, mode, sharing } => {
                let shared_dir = state.cache_mounts_dir().join(cache_dir_name(id, *uid, *gid, *mode));
                gb_store::create_private_dir(&state.cache_mounts_dir())?;
                let lock_path = shared_dir.with_extension("lock");
                let lock_file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| SolveError::env(format!("opening {}", lock_path.display()), e))?;
                let dir = match sharing {
                    CacheSharing::Shared => shared_dir,
                    // One user at a time: wait for the lock and hold it while the process runs.
                    // Locked above, before any mount.
                    CacheSharing::Locked => {
                        drop(lock_file);
                        shared_dir
                    }
                    // The shared directory when nobody holds it, else a fresh one for this run.
                    CacheSharing::Private => {
                        match nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                            Ok(lock) => {
                                locks.push(lock);
                                shared_dir
                            }
                            Err(_) => {
                                let private =
                                    state.tmp_dir().join(format!("cache-private-{}", gb_cache::LayerId::random()));
                                private_dirs.push(private.clone());
                                private
                            }
                        }
                    }
                };
                if !dir.exists() {
                    create_cache_dir(&dir, id, *uid, *gid, *mode, |staging| {
                        // `from=`: a new cache starts with the contents of that stage or image.
                        let Some(seed) = snapshot.as_ref().filter(|s| !s.layers.is_empty()) else { return Ok(()) };
                        let mounted = state
                            .snapshots
                            .mount_readonly(seed)
                            .map_err(|e| mount_failed("mounting a cache seed", e, fail))?;
                        let mut copy = gb_ir::CopyAction::docker(0, format!("/{selector}"), "/");
                        copy.allow_empty_wildcard = true;
                        let op = gb_ir::FileOp { base: None, actions: vec![gb_ir::FileAction::Copy(copy)] };
                        gb_ops::apply_file_op(staging, &op, &[Some(gb_ops::CopySource::new(mounted.path()))])
                            .map_err(|e| fail(format!("seeding cache mount {id}: {e}")))?;
                        Ok(())
                    })?;
                }
                mounts.push(ContainerMount {
                    target: mount.target.clone(),
                    source: MountSource::Bind { path: dir, readonly: mount.readonly },
                });
            }
            MountKind::Tmpfs { size } => {
                mounts
                    .push(ContainerMount { target: mount.target.clone(), source: MountSource::Tmpfs { size: *size } });
            }
            MountKind::Secret { id, required, uid, gid, mode, env } => {
                let Some(source) = secrets.get(id) else {
                    if *required {
                        return Err(fail(format!("secret {id}: not found (give it with --secret id={id},src=PATH)")));
                    }
                    continue;
                };
                let content = match source {
                    crate::SecretSource::File(path) => std::fs::read(path)
                        .map_err(|e| fail(format!("reading secret {id} from {}: {e}", path.display())))?,
                    crate::SecretSource::Value(value) => value.clone(),
                };
                if let Some(name) = env {
                    settings.env.push(format!("{name}={}", String::from_utf8_lossy(&content)));
                }
                if !mount.target.is_empty() {
                    let copy = state.tmp_dir().join(format!("secret-{}", gb_cache::LayerId::random()));
                    write_secret(&copy, &content, *uid, *gid, *mode)
                        .map_err(|e| SolveError::env(format!("staging secret {id}"), e))?;
                    mounts.push(ContainerMount {
                        target: mount.target.clone(),
                        source: MountSource::Bind { path: copy.clone(), readonly: true },
                    });
                    secret_files.push(copy);
                }
            }
            MountKind::Ssh { id, required, uid, gid, mode } => {
                let Some(agent) = given.ssh.get(id) else {
                    if *required {
                        return Err(fail(format!("no SSH key {id:?} forwarded from the client (--ssh {id})")));
                    }
                    continue;
                };
                let dir = state.tmp_dir().join(format!("ssh-{}", gb_cache::LayerId::random()));
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|e| SolveError::env("making the ssh agent relay's directory", e))?;
                secret_files.push(dir.clone());
                let socket = dir.join("agent.sock");
                let relay = super::ssh::SshRelay::start(agent, &socket, *uid, *gid, *mode)
                    .map_err(|e| fail(format!("forwarding ssh agent {id} ({}): {e}", agent.display())))?;
                ssh_relays.push(relay);
                mounts.push(ContainerMount {
                    target: mount.target.clone(),
                    source: MountSource::Bind { path: socket, readonly: false },
                });
                // As BuildKit's exec op: the first agent is the default one, unless the step
                // names its own.
                if !settings.env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                    settings.env.push(format!("SSH_AUTH_SOCK={}", mount.target));
                }
            }
        }
    }
    // Without `--network`, a private namespace reaching out through slirp4netns: a step must not
    // reach the host's loopback services, as under docker build or BuildKit.
    // BuildKit's default host name of a step (`buildkitsandbox`), unless the op names one.
    let hostname = exec.meta.hostname.clone().unwrap_or_else(|| "buildkitsandbox".to_owned());
    let network = match exec.network {
        NetworkMode::None => Network::Isolated,
        NetworkMode::Default => Network::Private,
        NetworkMode::Host => Network::Host,
    };
    if network != Network::Isolated {
        // The host's hosts file and a resolver, as BuildKit provides them, so names resolve: the
        // host's resolv.conf itself on the host network, one naming slirp's DNS forwarder on the
        // private one (the host's nameservers, 127.0.0.53 included, are not reachable from it).
        let resolv_conf = if network == Network::Private {
            let copy = state.tmp_dir().join(format!("resolv-{}.conf", gb_cache::LayerId::random()));
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            std::fs::write(&copy, private_resolv_conf(&host))
                .map_err(|e| SolveError::env("writing the step's resolv.conf", e))?;
            secret_files.push(copy.clone());
            Some(copy)
        } else {
            Some(PathBuf::from("/etc/resolv.conf")).filter(|p| p.is_file())
        };
        let hosts = {
            let copy = state.tmp_dir().join(format!("hosts-{}", gb_cache::LayerId::random()));
            std::fs::write(&copy, hosts_file(&hostname, &exec.meta.extra_hosts))
                .map_err(|e| SolveError::env("writing the step's hosts file", e))?;
            secret_files.push(copy.clone());
            Some(copy)
        };
        for (target, path) in [("/etc/resolv.conf", resolv_conf), ("/etc/hosts", hosts)] {
            if let Some(path) = path {
                mounts.push(ContainerMount {
                    target: target.to_owned(),
                    source: MountSource::Bind { path, readonly: true },
                });
            }
        }
    }
    let spec = ContainerSpec {
        rootfs: rootfs.clone(),
        args: exec.meta.args.clone(),
        env: settings.env,
        cwd: settings.cwd,
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.additional_gids,
        mounts,
        network,
        privileged: exec.security == SecurityMode::Insecure,
        hostname,
        shm_size: exec.meta.shm_size.unwrap_or(gb_exec::DEFAULT_SHM_SIZE),
        rlimits: exec.meta.ulimits.iter().map(rlimit).collect(),
        published: Vec::new(),
    };
    let resolved =
        gb_exec::mount_points(&spec).into_iter().filter_map(|p| gb_ops::resolve_in_root(&rootfs, &p, true).ok());
    let created = gb_snapshot::created_mount_points(&rootfs, &rootfs_dir, resolved)
        .map_err(|e| SolveError::env("inspecting mount points", e))?;
    Ok(Prepared {
        spec,
        work,
        extra,
        scratch_work,
        root,
        created_mount_points: created,
        secret_files,
        ssh_relays,
        locks,
        private_dirs,
    })
}

fn write_secret(path: &Path, content: &[u8], uid: u32, gid: u32, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, content)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)))
        .map_err(std::io::Error::from)
}

/// Makes the missing cache mount directory `dir` with its owner, mode and first contents
/// (`seed` fills it), so that no other step sees it half made: it is built in a private
/// directory beside it and renamed into place only if `dir` still does not exist. Another step
/// may mount a shared cache and run a process in it at any time; seeding in place would let
/// that process swap links in under the copy. When another step wins the race, its directory
/// is used and this one is thrown away.
fn create_cache_dir(
    dir: &Path,
    id: &str,
    uid: u32,
    gid: u32,
    mode: u32,
    seed: impl FnOnce(&Path) -> Result<(), SolveError>,
) -> Result<(), SolveError> {
    use std::os::unix::fs::DirBuilderExt as _;
    use std::os::unix::fs::PermissionsExt as _;
    let parent =
        dir.parent().ok_or_else(|| SolveError::env(format!("creating cache mount {id}"), "no parent directory"))?;
    std::fs::create_dir_all(parent).map_err(|e| SolveError::env(format!("creating cache mount {id}"), e))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut staging = TempPaths(vec![parent.join(format!(".{name}.new-{}", gb_cache::LayerId::random()))]);
    let path = staging.0[0].clone();
    let path = path.as_path();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| SolveError::env(format!("creating cache mount {id}"), e))?;
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)))
        .map_err(|e| SolveError::env(format!("chown of cache mount {id}"), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| SolveError::env(format!("chmod of cache mount {id}"), e))?;
    seed(path)?;
    let renamed = nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        path,
        nix::fcntl::AT_FDCWD,
        dir,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    );
    match renamed {
        Ok(()) => {
            // Renamed into place: nothing is left for the guard to remove.
            staging.0.clear();
            Ok(())
        }
        // Another step made it first: the staging copy is dropped (removed) and theirs used.
        Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(SolveError::env(format!("creating cache mount {id}"), e)),
    }
}

/// A `--ulimit` as the runtime takes it: Docker's -1 (or any negative) is no limit.
fn rlimit(limit: &gb_ir::Ulimit) -> gb_exec::Rlimit {
    let value = |v: i64| u64::try_from(v).unwrap_or(u64::MAX);
    gb_exec::Rlimit { resource: limit.resource.rlimit_name(), soft: value(limit.soft), hard: value(limit.hard) }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    /// The entries of `dir`, sorted by name.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_private_networks_resolv_conf_names_slirps_dns_and_keeps_search_and_options() {
        let host = "nameserver 127.0.0.53\nsearch corp.example\noptions edns0 trust-ad\n# comment\n";
        assert_eq!(private_resolv_conf(host), "nameserver 10.0.2.3\nsearch corp.example\noptions edns0 trust-ad\n");
        assert_eq!(private_resolv_conf(""), "nameserver 10.0.2.3\n");
    }

    #[test]
    fn a_new_cache_dir_appears_complete_with_its_owner_mode_and_seed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cache-mounts/abc");
        create_cache_dir(&dir, "id", 1000, 1001, 0o750, |staging| {
            assert!(!dir.exists(), "the cache is visible before it is seeded");
            std::fs::write(staging.join("seeded"), "x").map_err(|e| SolveError::env("seeding", e))
        })
        .expect("create");
        let meta = std::fs::symlink_metadata(&dir).expect("cache dir");
        assert_eq!((meta.is_dir(), meta.uid(), meta.gid(), meta.mode() & 0o7777), (true, 1000, 1001, 0o750));
        assert_eq!(names(&dir), ["seeded"]);
        assert_eq!(names(tmp.path().join("cache-mounts").as_path()), ["abc"], "a staging dir was left");
    }

    #[test]
    fn a_cache_dir_made_meanwhile_by_another_step_is_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("abc");
        create_cache_dir(&dir, "id", 0, 0, 0o755, |staging| {
            // Another step wins the race while this one seeds.
            std::fs::create_dir(&dir).map_err(|e| SolveError::env("racing", e))?;
            std::fs::write(dir.join("theirs"), "t").map_err(|e| SolveError::env("racing", e))?;
            std::fs::write(staging.join("ours"), "o").map_err(|e| SolveError::env("seeding", e))
        })
        .expect("create");
        assert_eq!(names(&dir), ["theirs"], "the other step's cache was replaced");
        assert_eq!(names(tmp.path()), ["abc"], "a staging dir was left");
    }

    #[test]
    fn a_failed_seed_leaves_no_cache_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("abc");
        let result = create_cache_dir(&dir, "id", 0, 0, 0o755, |_| Err(SolveError::env("seeding", "boom")));
        assert!(result.is_err());
        assert!(names(tmp.path()).is_empty(), "a half-made cache or staging dir was left");
    }
}

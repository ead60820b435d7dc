//! Exec ops: the root snapshot mounted writable, extra mounts prepared (snapshots, cache
//! directories, tmpfs, secrets), the process run in a container, mount points the runtime
//! created removed from the diff, and the upper dir committed as a layer.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gb_cache::Snapshot;
use gb_events::{Event, Stream};
use gb_exec::{ContainerMount, ContainerSpec, MountSource, Network, OutputStream};
use gb_ir::{CacheSharing, ExecOp, MountKind, NetworkMode, OpDigest, OpNode, SecurityMode};

use super::{Value, commit, to_snapshot};
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
    let runtime =
        context.runtime.clone().ok_or_else(|| SolveError::env("running a container", "no runtime was set up"))?;

    let mut snapshots = Vec::with_capacity(exec.mounts.len());
    for mount in &exec.mounts {
        snapshots.push(match (mount.input, &mount.kind) {
            (Some(index), MountKind::Bind | MountKind::Cache { .. }) => {
                Some(to_snapshot(context, inputs[index as usize].clone()).await?)
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
            let record = context
                .root
                .db
                .image(&image.reference)
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
    let secrets = context.options.secrets.clone();
    let exec = exec.clone();
    let prepared = tokio::task::spawn_blocking({
        let state = state.clone();
        let fail = fail.clone();
        move || prepare(&state, &exec, &root_snapshot, &snapshots, settings, &secrets, &fail)
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
    let outcome = runtime.run(&container_id, &prepared.spec, &on_output, context.options.cancel.clone()).await;
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
        Err(err) => return Err(SolveError::env("running a container", err)),
    }
    let layer = tokio::task::spawn_blocking(move || commit(&state, work))
        .await
        .map_err(|e| SolveError::env("committing", e))??;
    let mut layers = root_layers;
    layers.push(layer);
    Ok(vec![Snapshot { layers }])
}

/// A container ready to run, and everything that must be released after it.
struct Prepared {
    spec: ContainerSpec,
    work: gb_snapshot::WorkDir,
    // Dropped (unmounted) before the upper dir is committed; the extra mounts first.
    extra: Vec<gb_snapshot::Mounted>,
    scratch_work: Vec<gb_snapshot::WorkDir>,
    root: gb_snapshot::Mounted,
    created_mount_points: Vec<String>,
    secret_files: TempPaths,
    // Cache mount locks held while the process runs (`sharing=locked|private`).
    locks: Vec<nix::fcntl::Flock<std::fs::File>>,
    // Cache directories made for one run because the shared one was busy (`sharing=private`).
    private_dirs: TempPaths,
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
    fn tear_down(self) -> gb_snapshot::WorkDir {
        let Prepared {
            spec: _,
            work,
            extra,
            scratch_work,
            root,
            created_mount_points,
            secret_files,
            locks,
            private_dirs,
        } = self;
        drop(locks);
        drop(private_dirs);
        drop(extra);
        drop(scratch_work);
        drop(root);
        drop(secret_files);
        remove_created_mount_points(work.upper(), &created_mount_points);
        work
    }
}

fn prepare(
    state: &crate::StateRoot,
    exec: &ExecOp,
    root_snapshot: &Snapshot,
    snapshots: &[Option<Snapshot>],
    mut settings: crate::env::ProcessSettings,
    secrets: &std::collections::BTreeMap<String, PathBuf>,
    fail: &(dyn Fn(String) -> SolveError + Send + Sync),
) -> Result<Prepared, SolveError> {
    let work = state.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
    let root = state
        .snapshots
        .mount_writable(root_snapshot, &work)
        .map_err(|e| SolveError::env("mounting the root file system", e))?;
    let rootfs = root.path().to_path_buf();
    let user = gb_ops::resolve_user(&rootfs, &settings.user).map_err(|e| fail(e.to_string()))?;
    let cwd = gb_ops::resolve_in_root(&rootfs, &settings.cwd, true).map_err(|e| fail(e.to_string()))?;
    if !cwd.exists() {
        std::fs::create_dir_all(&cwd)
            .map_err(|e| SolveError::env(format!("creating the working directory {}", settings.cwd), e))?;
    }

    let mut mounts = Vec::new();
    // Declared before `extra` so that, on an error, the mounts drop (unmount) before the
    // throwaway work dirs under them are removed.
    let mut scratch_work = Vec::new();
    let mut extra = Vec::new();
    // Secret copies and private cache dirs are removed when this guard drops, on every path.
    let mut secret_files = TempPaths::default();
    let mut locks = Vec::new();
    let mut private_dirs = TempPaths::default();
    // `sharing=locked` caches are locked up front, each id once and in sorted order, so two
    // steps locking the same caches can never wait on each other.
    let locked_ids: std::collections::BTreeSet<&String> = exec
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Cache { id, sharing: CacheSharing::Locked, .. } => Some(id),
            _ => None,
        })
        .collect();
    std::fs::create_dir_all(state.cache_mounts_dir())
        .map_err(|e| SolveError::env("creating the cache mount directory", e))?;
    for id in locked_ids {
        let lock_path =
            state.cache_mounts_dir().join(gb_ir::Sha256Digest::of(id.as_bytes()).hex()).with_extension("lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| SolveError::env(format!("opening {}", lock_path.display()), e))?;
        let lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| SolveError::env(format!("locking cache mount {id}"), e))?;
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
                        .map_err(|e| SolveError::env("mounting a bind source", e))?
                } else {
                    // A writable bind mount's changes are thrown away, so it gets its own upper dir.
                    let throwaway =
                        state.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
                    let mounted = state
                        .snapshots
                        .mount_writable(&snapshot, &throwaway)
                        .map_err(|e| SolveError::env("mounting a bind source", e))?;
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
                let shared_dir = state.cache_mounts_dir().join(gb_ir::Sha256Digest::of(id.as_bytes()).hex());
                std::fs::create_dir_all(state.cache_mounts_dir())
                    .map_err(|e| SolveError::env("creating the cache mount directory", e))?;
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
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| SolveError::env(format!("creating cache mount {id}"), e))?;
                    nix::unistd::chown(
                        &dir,
                        Some(nix::unistd::Uid::from_raw(*uid)),
                        Some(nix::unistd::Gid::from_raw(*gid)),
                    )
                    .map_err(|e| SolveError::env(format!("chown of cache mount {id}"), e))?;
                    use std::os::unix::fs::PermissionsExt as _;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(*mode))
                        .map_err(|e| SolveError::env(format!("chmod of cache mount {id}"), e))?;
                    // `from=`: a new cache starts with the contents of that stage or image.
                    if let Some(seed) = snapshot.as_ref().filter(|s| !s.layers.is_empty()) {
                        let mounted = state
                            .snapshots
                            .mount_readonly(seed)
                            .map_err(|e| SolveError::env("mounting a cache seed", e))?;
                        let mut copy = gb_ir::CopyAction::docker(0, format!("/{selector}"), "/");
                        copy.allow_empty_wildcard = true;
                        let op = gb_ir::FileOp { base: None, actions: vec![gb_ir::FileAction::Copy(copy)] };
                        gb_ops::apply_file_op(&dir, &op, &[Some(gb_ops::CopySource::new(mounted.path()))])
                            .map_err(|e| fail(format!("seeding cache mount {id}: {e}")))?;
                    }
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
                        return Err(fail(format!(
                            "secret {id} is required but was not given (--secret id={id},src=PATH)"
                        )));
                    }
                    continue;
                };
                let content = std::fs::read(source)
                    .map_err(|e| fail(format!("reading secret {id} from {}: {e}", source.display())))?;
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
            MountKind::Ssh { id, required, .. } => {
                if *required {
                    return Err(fail(format!("ssh agent forwarding ({id}) is not supported by this engine yet")));
                }
            }
        }
    }
    let network = match exec.network {
        NetworkMode::None => Network::Isolated,
        NetworkMode::Default | NetworkMode::Host => Network::Host,
    };
    if network == Network::Host {
        // The host's resolver and hosts file, as BuildKit provides them, so names resolve.
        for file in ["/etc/resolv.conf", "/etc/hosts"] {
            if Path::new(file).is_file() {
                mounts.push(ContainerMount {
                    target: file.to_owned(),
                    source: MountSource::Bind { path: PathBuf::from(file), readonly: true },
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
        hostname: "buildkitsandbox".to_owned(),
    };
    // Every mount point and its parents that do not exist yet will be created by the
    // runtime; remember them so they can be taken out of the diff.
    let mut created = Vec::new();
    for point in gb_exec::mount_points(&spec) {
        let mut path = String::new();
        for part in point.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            path.push_str(part);
            if std::fs::symlink_metadata(rootfs.join(path.trim_start_matches('/'))).is_err() && !created.contains(&path)
            {
                created.push(path.clone());
            }
        }
    }
    created.sort_by(|a: &String, b: &String| b.matches('/').count().cmp(&a.matches('/').count()).then(b.cmp(a)));
    Ok(Prepared {
        spec,
        work,
        extra,
        scratch_work,
        root,
        created_mount_points: created,
        secret_files,
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

/// Removes empty mount points (deepest first) that the runtime created in the upper dir.
fn remove_created_mount_points(upper: &Path, points: &[String]) {
    for point in points {
        let path = upper.join(point.trim_start_matches('/'));
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            let _ = std::fs::remove_dir(&path);
        } else if meta.is_file() && meta.len() == 0 {
            let _ = std::fs::remove_file(&path);
        }
    }
}

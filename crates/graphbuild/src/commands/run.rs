//! `graphbuild run`: one container from a stored image, following `docker run`'s rules for the
//! command (ENTRYPOINT/CMD), environment, user and working directory; its changes are thrown away.
//!
//! The state root's lock is held only while the container is set up, so other commands (`rmi`,
//! `build`) work while it runs. That is why the container lives in its own directory,
//! `ROOT/run/<id>/`, rather than in `ROOT/tmp/`, which every process that opens the root wipes:
//! `ROOT/run/<id>/` is a private [`SnapshotStore`] (its `layers` is a link to the root's
//! `layers/`) plus the runc state of this one container (`exec/`, owned by this process, so an
//! open of the root leaves it alone while the process lives). `ROOT/containers/<id>.json` says
//! the container is running (image, pid, name) for `rmi` and for `--name`. When the `run` process
//! is killed, its runtime's watchdog kills the container (and any later open of the root does,
//! should the watchdog have been killed too); a later `run` removes the mounts and directories.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use gb_cache::{ImageRecord, Snapshot};
use gb_exec::{ContainerMount, ContainerSpec, MountSource, Network, OutputStream};
use gb_ir::Sha256Digest;
use gb_snapshot::{Mounted, SnapshotStore, WorkDir};
use gb_store::StateRoot;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::exit::Failure;

// The PATH Docker gives a container whose image sets none.
use gb_ir::DEFAULT_PATH;

/// Runs the container; when it exits with a non-zero status, graphbuild exits with that status
/// (after everything is unmounted and removed), as `docker run` does.
pub fn run(args: RunArgs, root: Option<&Path>) -> Result<(), Failure> {
    match run_container(&args, root)? {
        0 => Ok(()),
        code => {
            let session = crate::session::current();
            let _ = session.stdout().flush();
            let _ = session.stderr().flush();
            Err(Failure::Exited(code))
        }
    }
}

/// Sets up, runs and tears down the container; returns its exit status.
fn run_container(args: &RunArgs, root: Option<&Path>) -> Result<i32, Failure> {
    let tokio = crate::session::local_runtime().map_err(Failure::os("starting the async runtime"))?;
    let cancel = CancellationToken::new();
    // Listening from the start, so a Ctrl-C during set-up still lets the clean-up run.
    let on_signal = {
        let _context = tokio.enter();
        cancel_on_signal(cancel.clone())?
    };
    let (container, spec, runtime) = tokio.block_on(set_up(args, root))?;
    let (outcome, signal) = tokio.block_on(async {
        let signals = tokio::spawn(on_signal);
        let outcome = runtime.run(&container.id, &spec, &print_output, cancel.clone()).await;
        let signal = if cancel.is_cancelled() {
            signals.await.ok()
        } else {
            signals.abort();
            None
        };
        (outcome, signal)
    });
    container.tear_down()?;
    match outcome {
        Ok(code) => Ok(code),
        // Killed on a signal: exit as a shell reports a process killed by it.
        Err(gb_exec::ExecError::Cancelled) => Ok(128 + signal.unwrap_or(2)),
        // runc could not start the command (missing, not executable): the user's input, like
        // Docker's 126/127.
        Err(gb_exec::ExecError::Runtime { message, .. }) if message.contains("exec:") => {
            Err(Failure::Input(format!("starting {:?}: {message}", spec.args)))
        }
        Err(err) => Err(Failure::os("running the container")(err)),
    }
}

/// Everything done under the state root's lock: find the image, check the name, record the
/// container, mount its root file system, resolve user and working directory. The lock is
/// released (the root dropped) before the container starts.
async fn set_up(args: &RunArgs, root: Option<&Path>) -> Result<(Container, ContainerSpec, gb_exec::Runtime), Failure> {
    let state = super::engine::open_root(root)?;
    let (_, image) = super::images::find(&state, &args.image)?;
    let config = &image.config["config"];
    let argv = command_line(config, args.entrypoint.as_deref(), &args.args)?;
    if let Some(name) = &args.name {
        check_name(name)?;
    }
    let cwd = match &args.workdir {
        Some(dir) if !dir.starts_with('/') => {
            return Err(Failure::Input(format!(
                "the working directory {dir:?} is invalid, it needs to be an absolute path"
            )));
        }
        Some(dir) => dir.clone(),
        None => match config["WorkingDir"].as_str().unwrap_or_default() {
            "" => "/".to_owned(),
            dir if dir.starts_with('/') => dir.to_owned(),
            dir => format!("/{dir}"),
        },
    };
    let user = args.user.clone().unwrap_or_else(|| config["User"].as_str().unwrap_or_default().to_owned());

    remove_stale(&state);
    let id = Sha256Digest::of(gb_cache::LayerId::random().0.as_bytes()).hex();
    let hostname = id[..12].to_owned();
    let name = args.name.clone().unwrap_or_else(|| hostname.clone());
    if let Some(other) = running(&state).into_iter().find(|c| c.name == name) {
        return Err(Failure::Input(format!(
            "conflict: the container name {name:?} is already in use by container {}",
            other.id
        )));
    }
    let container = Container::create(&state, &id, &name, &image)?;
    let runtime = gb_exec::Runtime::detect(&container.dir.join("exec"))
        .map_err(Failure::os("finding a container runtime (install runc)"))?;
    let rootfs = container.rootfs().to_path_buf();

    let resolved = gb_ops::resolve_user(&rootfs, &user).map_err(|e| Failure::Input(format!("user {user:?}: {e}")))?;
    let cwd_path = gb_ops::resolve_in_root(&rootfs, &cwd, true).map_err(|e| Failure::Input(format!("{cwd}: {e}")))?;
    if !cwd_path.exists() {
        std::fs::create_dir_all(&cwd_path).map_err(Failure::os(format!("creating the working directory {cwd}")))?;
    }
    let image_env: Vec<String> = string_list(&config["Env"]).unwrap_or_default();
    let mut env = container_env(&image_env, &args.env, &hostname, crate::session::var);
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={}", resolved.home.clone().unwrap_or_else(|| "/".to_owned())));
    }
    // The host's resolver and hosts file, since the container shares the host's network.
    let mounts = ["/etc/resolv.conf", "/etc/hosts"]
        .into_iter()
        .filter(|file| Path::new(file).is_file())
        .map(|file| ContainerMount {
            target: file.to_owned(),
            source: MountSource::Bind { path: PathBuf::from(file), readonly: true },
        })
        .collect();
    let spec = ContainerSpec {
        rootfs,
        args: argv,
        env,
        cwd,
        uid: resolved.uid,
        gid: resolved.gid,
        additional_gids: resolved.additional_gids,
        mounts,
        network: Network::Host,
        privileged: false,
        hostname,
        shm_size: gb_exec::DEFAULT_SHM_SIZE,
        rlimits: Vec::new(),
    };
    drop(state);
    Ok((container, spec, runtime))
}

/// Docker's ENTRYPOINT/CMD rules: ENTRYPOINT + (the arguments if given, else CMD).
/// `--entrypoint X` replaces ENTRYPOINT with `[X]` and drops the image's CMD; `--entrypoint ""`
/// clears ENTRYPOINT and keeps CMD. Shell forms are stored as `["/bin/sh", "-c", "..."]`, so a
/// shell-form ENTRYPOINT gets CMD or the arguments appended as `$0 $1 ...`, which `sh -c` ignores.
fn command_line(config: &serde_json::Value, entrypoint: Option<&str>, args: &[String]) -> Result<Vec<String>, Failure> {
    let (mut argv, image_cmd) = match entrypoint {
        None => (string_list(&config["Entrypoint"]).unwrap_or_default(), string_list(&config["Cmd"])),
        Some("") => (Vec::new(), string_list(&config["Cmd"])),
        Some(program) => (vec![program.to_owned()], None),
    };
    if args.is_empty() {
        argv.extend(image_cmd.unwrap_or_default());
    } else {
        argv.extend(args.iter().cloned());
    }
    if argv.is_empty() {
        return Err(Failure::Input(
            "no command specified: the image sets no ENTRYPOINT or CMD; give one after the image name".to_owned(),
        ));
    }
    Ok(argv)
}

/// A JSON array of strings; `None` for null or anything else.
fn string_list(value: &serde_json::Value) -> Option<Vec<String>> {
    value.as_array().map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

/// The name part of a `K=V` entry (all of it when there is no `=`).
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// The container's environment as Docker makes it: `-e` entries first, then the image's entries
/// they do not name, all over the defaults `PATH` and `HOSTNAME`. `-e K` takes K's value from
/// `lookup` (graphbuild's environment); when unset, K is removed, also from the image's entries.
fn container_env(
    image_env: &[String],
    user_env: &[String],
    hostname: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let user: Vec<String> = user_env
        .iter()
        .map(|entry| match (entry.contains('='), lookup(entry)) {
            (false, Some(value)) => format!("{entry}={value}"),
            _ => entry.clone(),
        })
        .collect();
    let user_keys: BTreeSet<&str> = user.iter().map(|e| env_key(e)).collect();
    let merged = user.iter().chain(image_env.iter().filter(|e| !user_keys.contains(env_key(e))));
    let mut env = vec![format!("PATH={DEFAULT_PATH}"), format!("HOSTNAME={hostname}")];
    for entry in merged {
        let key = env_key(entry);
        let existing = env.iter().position(|e| env_key(e) == key);
        match (entry.contains('='), existing) {
            (true, Some(index)) => env[index] = entry.clone(),
            (true, None) => env.push(entry.clone()),
            (false, Some(index)) => {
                env.remove(index);
            }
            (false, None) => {}
        }
    }
    env
}

/// Docker's rule for container names.
fn check_name(name: &str) -> Result<(), Failure> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(Failure::Input(format!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")))
    }
}

/// Writes the container's output to graphbuild's own stdout and stderr as it arrives.
fn print_output(stream: OutputStream, bytes: &[u8]) {
    // A closed stdout (`| head`) must not stop the container from running to its end.
    let _ = match stream {
        OutputStream::Stdout => {
            let session = crate::session::current();
            let mut out = session.stdout();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        OutputStream::Stderr => crate::session::current().stderr().write_all(bytes),
    };
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM; the returned future fires `cancel` on the first,
/// so the container is killed and everything cleaned up, and returns the signal's number.
fn cancel_on_signal(cancel: CancellationToken) -> Result<impl Future<Output = i32>, Failure> {
    let interrupted = crate::session::current().interrupted().map_err(Failure::os("listening for signals"))?;
    Ok(async move {
        let number = interrupted.await;
        cancel.cancel();
        number
    })
}

/// A running container as `ROOT/containers/<id>.json` records it.
struct Running {
    id: String,
    name: String,
}

fn containers_dir(state: &StateRoot) -> PathBuf {
    state.containers_dir()
}

fn runs_dir(state: &StateRoot) -> PathBuf {
    state.runs_dir()
}

/// Reads a container record: its id, name and whether its graphbuild process is alive.
fn read_record(path: &Path) -> Option<(Running, bool)> {
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let id = path.file_stem()?.to_string_lossy().into_owned();
    let name = value["name"].as_str().unwrap_or_default().to_owned();
    let alive = value["pid"].as_u64().is_some_and(gb_engine::process_runs);
    Some((Running { id, name }, alive))
}

/// The containers whose graphbuild process is still running.
fn running(state: &StateRoot) -> Vec<Running> {
    let Ok(entries) = std::fs::read_dir(containers_dir(state)) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| read_record(&p))
        .filter_map(|(record, alive)| alive.then_some(record))
        .collect()
}

/// Removes what `run`s that were killed left behind: their runc containers (which may still be
/// running), mounts, directories and records. Called under the state root's lock, while every
/// live `run` has its record written, so only dead ones are touched. Best effort: whatever fails
/// stays for the next time.
fn remove_stale(state: &StateRoot) {
    let live: BTreeSet<String> = running(state).into_iter().map(|r| r.id).collect();
    if let Ok(entries) = std::fs::read_dir(runs_dir(state)) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if live.contains(&id) {
                continue;
            }
            let dir = entry.path();
            // Opening the root reaped the container already, unless that failed or its owner
            // lives on (the record's pid was reused); the reaper removes `exec/` once the
            // container is dead, and until then nothing below may be unmounted or removed.
            let exec = dir.join("exec");
            if gb_exec::reap_if_orphaned(&exec).is_err() || exec.exists() {
                continue;
            }
            // Opening the private store unmounts and empties its tmp/.
            if SnapshotStore::open(&dir).is_ok() {
                let _ = remove_run_dir(&dir);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(containers_dir(state)) {
        for path in entries.flatten().map(|e| e.path()) {
            let id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let dead = read_record(&path).is_none_or(|(_, alive)| !alive);
            if dead && !live.contains(&id) && !runs_dir(state).join(&id).exists() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Removes a container directory whose mounts are gone: the `layers` link first, so the
/// recursive removal can never reach the root's layers.
fn remove_run_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join("layers")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::remove_dir_all(dir)
}

/// A container's record, directory and mounted root file system; [`Container::tear_down`] (or
/// drop, on an error path) unmounts and removes them, the record last.
struct Container {
    id: String,
    record: PathBuf,
    dir: PathBuf,
    mounted: Option<Mounted>,
    work: Option<WorkDir>,
    /// False once an unmount failed: a recursive removal would reach through the mount.
    removable: bool,
}

impl Container {
    /// Writes the record, then makes `ROOT/run/<id>/` and mounts the image writable in it.
    fn create(state: &StateRoot, id: &str, name: &str, image: &ImageRecord) -> Result<Self, Failure> {
        let io = |what: &str, path: &Path, e: std::io::Error| Failure::os(format!("{what} {}", path.display()))(e);
        let containers = containers_dir(state);
        std::fs::create_dir_all(&containers).map_err(|e| io("creating", &containers, e))?;
        let record = containers.join(format!("{id}.json"));
        let json = serde_json::json!({
            "id": id,
            "image": image.config_digest.to_string(),
            "pid": std::process::id(),
            "name": name,
            // The layers the container's root file system is mounted from, which must stay.
            "layers": image.layers,
        });
        // Written beside and renamed, so a reader never sees half a record.
        let partial = containers.join(format!(".{id}.partial"));
        std::fs::write(&partial, json.to_string()).map_err(|e| io("writing", &partial, e))?;
        std::fs::rename(&partial, &record).map_err(|e| io("writing", &record, e))?;
        let mut container = Container {
            id: id.to_owned(),
            record,
            dir: runs_dir(state).join(id),
            mounted: None,
            work: None,
            removable: true,
        };

        let layers = state.layers_dir();
        let layers = std::fs::canonicalize(&layers).map_err(|e| io("resolving", &layers, e))?;
        std::fs::create_dir_all(&container.dir).map_err(|e| io("creating", &container.dir, e))?;
        let link = container.dir.join("layers");
        std::os::unix::fs::symlink(&layers, &link).map_err(|e| io("linking", &link, e))?;
        let store =
            SnapshotStore::open(&container.dir).map_err(Failure::os("opening the container's snapshot store"))?;
        let work = store.work_dir().map_err(Failure::os("making a work directory"))?;
        let snapshot = Snapshot { layers: image.layers.clone() };
        let mounted = store.mount_writable(&snapshot, &work).map_err(Failure::os("mounting the root file system"))?;
        container.work = Some(work);
        container.mounted = Some(mounted);
        Ok(container)
    }

    /// The mounted root file system.
    fn rootfs(&self) -> &Path {
        self.mounted.as_ref().map_or(Path::new("/nonexistent"), Mounted::path)
    }

    /// Unmounts the root file system and removes the directory, then the record.
    fn tear_down(mut self) -> Result<(), Failure> {
        self.release()
    }

    fn release(&mut self) -> Result<(), Failure> {
        if let Some(mounted) = self.mounted.take()
            && let Err(e) = mounted.unmount()
        {
            // The directory stays for the next `run` to remove, once nothing is mounted there.
            self.removable = false;
            drop(self.work.take());
            return Err(Failure::os("unmounting the container's root file system")(e));
        }
        drop(self.work.take());
        if !self.removable {
            return Ok(());
        }
        if self.dir.exists()
            && let Err(e) = remove_run_dir(&self.dir)
        {
            self.removable = false;
            return Err(Failure::os(format!("removing {}", self.dir.display()))(e));
        }
        let _ = std::fs::remove_file(&self.record);
        Ok(())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn argv(config: serde_json::Value, entrypoint: Option<&str>, args: &[&str]) -> Option<Vec<String>> {
        command_line(&config, entrypoint, &strings(args)).ok()
    }

    #[test]
    fn commands_follow_dockers_entrypoint_and_cmd_rules() {
        let cmd = serde_json::json!({ "Cmd": ["echo", "a"] });
        assert_eq!(argv(cmd.clone(), None, &[]), Some(strings(&["echo", "a"])));
        assert_eq!(argv(cmd.clone(), None, &["ls"]), Some(strings(&["ls"])));
        let both = serde_json::json!({ "Entrypoint": ["echo", "e"], "Cmd": ["c"] });
        assert_eq!(argv(both.clone(), None, &[]), Some(strings(&["echo", "e", "c"])));
        assert_eq!(argv(both.clone(), None, &["x"]), Some(strings(&["echo", "e", "x"])));
        assert_eq!(argv(both.clone(), Some("ls"), &[]), Some(strings(&["ls"])));
        assert_eq!(argv(both.clone(), Some("ls"), &["-l"]), Some(strings(&["ls", "-l"])));
        assert_eq!(argv(both, Some(""), &[]), Some(strings(&["c"])));
        assert_eq!(argv(serde_json::json!({ "Cmd": null }), None, &[]), None);
        assert_eq!(argv(serde_json::Value::Null, None, &[]), None);
    }

    #[test]
    fn env_overrides_by_name_and_unset_names_drop() {
        let image = strings(&["PATH=/bin", "A=1", "B=2", "C=3"]);
        let user = strings(&["A=x", "NEW=y", "B", "C"]);
        let lookup = |key: &str| (key == "C").then(|| "host".to_owned());
        let env = container_env(&image, &user, "abc", lookup);
        assert_eq!(env, strings(&["PATH=/bin", "HOSTNAME=abc", "A=x", "NEW=y", "C=host"]));
        let env = container_env(&[], &[], "abc", |_| None);
        assert_eq!(env, [format!("PATH={DEFAULT_PATH}"), "HOSTNAME=abc".to_owned()]);
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(check_name("web-1.a_b").is_ok());
        for bad in ["", "a", "-x", "a b", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}

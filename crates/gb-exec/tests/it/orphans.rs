//! Containers outliving their graphbuild: a runtime's watchdog kills its containers once the
//! runtime is gone, and `reap_if_orphaned` kills those of a work dir whose owner is dead and
//! leaves a live owner's alone. The containers are started detached with runc itself, as a
//! killed graphbuild leaves them: running, with nobody left to delete them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gb_exec::{ContainerSpec, Runtime};

/// A temp dir with a busybox rootfs, and a runtime that only makes OCI configs.
struct Scene {
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    configs: Runtime,
}

impl Scene {
    fn new() -> Self {
        gb_test_support::require_root();
        let dir = tempfile::tempdir().expect("temp dir");
        let rootfs = dir.path().join("rootfs");
        gb_test_support::busybox_rootfs(&rootfs, &["sh", "sleep"]);
        let configs = Runtime::detect(&dir.path().join("configs")).expect("runc is installed and works");
        Self { dir, rootfs, configs }
    }

    /// Starts `sleep 3600` detached under runc's state dir `state`; returns the init's pid.
    fn start(&self, state: &Path, id: &str) -> i32 {
        let bundle = self.dir.path().join(format!("bundle-{id}"));
        std::fs::create_dir_all(&bundle).expect("bundle");
        let spec = ContainerSpec::new(&self.rootfs, vec!["sleep".to_owned(), "3600".to_owned()]);
        let config = self.configs.oci_config(&spec).expect("config");
        std::fs::write(bundle.join("config.json"), serde_json::to_vec(&config).expect("json")).expect("write");
        let status = Command::new(self.configs.runc_path())
            .arg("--root")
            .arg(state)
            .args(["run", "--detach", "--bundle"])
            .arg(&bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("runc run");
        assert!(status.success(), "runc run --detach {id}");
        let state_json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state.join(id).join("state.json")).expect("state.json"))
                .expect("state json");
        let pid = state_json["init_process_pid"].as_i64().expect("init pid");
        i32::try_from(pid).expect("pid")
    }

    /// Force-deletes a container the test left running, so a failed assertion leaks nothing.
    fn delete(&self, state: &Path, id: &str) {
        let _ = Command::new(self.configs.runc_path())
            .arg("--root")
            .arg(state)
            .args(["delete", "--force", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether `pid` runs (exists and is not a zombie).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rfind(')').and_then(|end| stat[end + 1..].split_whitespace().next().map(str::to_owned));
        !matches!(state.as_deref(), Some("Z" | "X") | None)
    })
}

/// `PID START` of a process, as a runtime's owner file holds it.
fn identity(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat[stat.rfind(')').expect("name") + 1..].split_whitespace().collect();
    format!("{pid} {}\n", fields[19])
}

#[test]
fn a_dead_owners_container_is_killed_and_its_work_dir_removed() {
    let scene = Scene::new();
    let work = scene.dir.path().join("exec-of-a-dead-build");
    let state = work.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    // The owner: a process that has exited since, as a graphbuild killed with SIGKILL.
    let mut owner = Command::new("sleep").arg("1000").spawn().expect("sleep");
    std::fs::write(work.join("owner"), identity(owner.id())).expect("owner");
    owner.kill().expect("kill the owner");
    owner.wait().expect("wait");
    let init = scene.start(&state, "orphan");
    assert!(running(init));

    let reaped = gb_exec::reap_if_orphaned(&work);
    let still_running = running(init);
    if still_running {
        scene.delete(&state, "orphan");
    }
    assert_eq!(reaped.expect("reap"), ["orphan"]);
    assert!(!still_running, "the orphaned container's init (pid {init}) still runs");
    assert!(!work.exists(), "the dead runtime's work dir is removed");
}

#[test]
fn a_live_owners_containers_are_left_alone() {
    let scene = Scene::new();
    let work = scene.dir.path().join("exec-of-a-live-build");
    let runtime = Runtime::detect(&work).expect("runtime");
    let init = scene.start(runtime.state_root(), "in-use");

    let reaped = gb_exec::reap_if_orphaned(&work);
    let still_running = running(init);
    scene.delete(runtime.state_root(), "in-use");
    assert_eq!(reaped.expect("reap"), Vec::<String>::new());
    assert!(still_running, "a container of a live owner was killed");
    assert!(work.join("owner").is_file());
}

#[test]
fn a_work_dir_without_an_owner_is_reaped() {
    // The layout before owners were recorded: only the state dir, no `owner` file.
    let scene = Scene::new();
    let work = scene.dir.path().join("exec-legacy");
    let state = work.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let init = scene.start(&state, "legacy");

    let reaped = gb_exec::reap_if_orphaned(&work);
    let still_running = running(init);
    if still_running {
        scene.delete(&state, "legacy");
    }
    assert_eq!(reaped.expect("reap"), ["legacy"]);
    assert!(!still_running, "the container (pid {init}) still runs");
}

#[test]
fn the_watchdog_kills_the_containers_once_the_runtime_is_gone() {
    // The watchdog sees its pipe close; a graphbuild killed with SIGKILL closes it the same way.
    let scene = Scene::new();
    let work = scene.dir.path().join("exec-dropped");
    let runtime = Runtime::detect(&work).expect("runtime");
    let state = runtime.state_root().to_path_buf();
    let init = scene.start(&state, "left-running");
    assert!(running(init));
    drop(runtime);

    let started = Instant::now();
    while running(init) && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let still_running = running(init);
    if still_running {
        scene.delete(&state, "left-running");
    }
    assert!(!still_running, "the watchdog did not kill the container (pid {init})");
}

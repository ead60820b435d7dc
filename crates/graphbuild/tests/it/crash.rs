//! Crash safety of a state root: a graphbuild client, or the root's server, killed with SIGKILL
//! mid-RUN (or mid-`run`) leaves no process behind and no root that later commands refuse; the
//! server's clients fail at once with exit 3; a full disk makes every command that writes fail
//! with exit 3 and "no space left on device" (not a RocksDB assertion's SIGABRT), and everything
//! works again once space is freed.
//!
//! These tests need root (mounts, runc), as graphbuild itself does; CI runs as root.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::engine::{Env, assert_ok, write};

/// How long a container may take to start (a cold busybox build on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The processes whose command line contains `needle`: `(pid, command line)`.
pub fn processes_with(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        // A zombie's command line reads empty, so only processes that still run match.
        let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&bytes).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline.trim_end().to_owned()));
        }
    }
    found
}

/// The parent pid of `pid`, from `/proc/PID/stat` (field 4, counted after the command name).
fn parent_of(pid: i32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

fn kill_9(pid: impl std::fmt::Display) {
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -9 {pid}");
}

/// The processes a test started in containers, found by a command line nobody else uses
/// (`sleep N` with N unique to the test process); whatever is left of them is killed on drop, so
/// a failing test leaves nothing running.
struct Marker {
    needle: String,
}

impl Marker {
    fn new() -> Self {
        Self { needle: format!("sleep {}", 4_000_000 + std::process::id()) }
    }

    /// Waits until the container's `sleep N` runs; fails the test with `log` if it never does.
    fn wait_until_running(&self, child: &mut Child, log: &Path) {
        let started = Instant::now();
        while !processes_with(&self.needle).iter().any(|(_, cmdline)| cmdline.starts_with(&self.needle)) {
            let exited = child.try_wait().expect("try_wait");
            if exited.is_some() || started.elapsed() > START_TIMEOUT {
                panic!(
                    "the container never ran (graphbuild: {exited:?}):\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn survivors(&self) -> Vec<(i32, String)> {
        processes_with(&self.needle)
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        for (pid, _) in self.survivors() {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Kills the container watchdogs of the process running the engine (its children, one a
/// container), as when a whole process tree is killed; then only opening the root can reap
/// the containers.
fn kill_watchdogs_of(engine: u32) {
    let watchdogs: Vec<i32> = processes_with("graphbuild-watchdog")
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| parent_of(*pid) == Some(engine))
        .collect();
    assert!(!watchdogs.is_empty(), "graphbuild {engine} has container watchdogs");
    for watchdog in watchdogs {
        kill_9(watchdog);
    }
}

/// The pid of the root's server.
pub fn server_pid(env: &Env) -> u32 {
    let output = env.cmd(&["server", "status", "--format", "json"]).output().expect("server status");
    assert_ok(&output);
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("status JSON");
    status["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).expect("a pid")
}

/// Kills the root's server with SIGKILL; the client whose command it ran (`client`) fails at
/// once with exit 3 and says what happened.
fn kill_server(env: &Env, client: &mut Child, log: &Path) {
    let pid = server_pid(env);
    kill_9(pid);
    wait_until_dead(pid);
    let status = client.wait().expect("wait for the client");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(status.code(), Some(3), "the client of a killed server:\n{text}");
    assert!(text.contains("stopped before the command finished"), "the client says why:\n{text}");
}

/// Waits until `pid` has exited (gone, or a zombie whose descriptors are closed): until then its
/// listening socket may still take a connection that the dying process never answers.
pub fn wait_until_dead(pid: u32) {
    let started = std::time::Instant::now();
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        // The state is the field after the parenthesised command name.
        let running =
            state.as_deref().and_then(|stat| stat.rsplit_once(") ")).is_some_and(|(_, rest)| !rest.starts_with('Z'));
        if !running {
            return;
        }
        assert!(started.elapsed().as_secs() < 30, "process {pid} outlived SIGKILL");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A build whose RUN writes into its layer without end and starts `sleep N`, unless the build
/// argument SPIN is 0; then it finishes at once.
fn spinning_context(marker: &Marker) -> tempfile::TempDir {
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        &format!(
            "FROM busybox\nARG SPIN=1\nRUN if [ \"$SPIN\" = 1 ]; then {} & i=0; while :; do i=$((i+1)); \
             echo $i > /spin-$((i % 64)); done; fi; echo finished > /finished\n",
            marker.needle
        ),
    );
    context
}

/// A build of [`spinning_context`] started in the background, its container running.
struct SpinningBuild {
    marker: Marker,
    context: tempfile::TempDir,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl SpinningBuild {
    fn start(env: &Env) -> Self {
        let marker = Marker::new();
        let context = spinning_context(&marker);
        // graphbuild keeps writing to the log through its descriptor after the name is gone.
        let log = tempfile::NamedTempFile::new().expect("log");
        let mut child = spawn(env, &["build", "--progress", "plain", &path_str(context.path())], log.path());
        marker.wait_until_running(&mut child, log.path());
        Self { marker, context, child, log }
    }

    /// Sends graphbuild SIGKILL and waits for it.
    fn kill_9(&mut self) {
        self.child.kill().expect("kill -9 graphbuild");
        self.child.wait().expect("wait");
    }
}

/// `graphbuild images` on the root succeeds, at once after a kill.
fn assert_images_works(env: &Env) {
    let images = env.cmd(&["images"]).output().expect("images");
    let log = std::fs::read_to_string(env.root.path().join("server.log")).unwrap_or_default();
    assert_eq!(images.status.code(), Some(0), "images after the kill:\n{}\nserver.log:\n{log}", stderr(&images));
}

/// Starts `graphbuild ARGS` on the root, its output going to `log`.
fn spawn(env: &Env, args: &[&str], log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log");
    std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("spawn graphbuild")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

/// Builds with SPIN=0 and checks the result: the root works as before the crash.
fn rebuild_finishes(env: &Env, context: &Path) {
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context, &["--build-arg", "SPIN=0", "-o", &dest]);
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(out.path().join("finished")).expect("finished"), "finished\n");
}

#[test]
fn a_build_killed_mid_run_leaves_no_process_and_the_root_opens_at_once() {
    let env = Env::new();
    let mut build = SpinningBuild::start(&env);

    build.kill_9();
    // At once: the container was still writing into ROOT/tmp a moment ago.
    assert_images_works(&env);
    // The server noticed its client gone and cancels the build: its container goes.
    let started = Instant::now();
    while !build.marker.survivors().is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(build.marker.survivors(), Vec::new(), "processes of the killed build still run");
    rebuild_finishes(&env, build.context.path());
}

#[test]
fn opening_the_root_reaps_a_killed_servers_container_when_its_watchdog_died_too() {
    let env = Env::new();
    let mut build = SpinningBuild::start(&env);

    kill_watchdogs_of(server_pid(&env));
    kill_server(&env, &mut build.child, build.log.path());
    assert!(!build.marker.survivors().is_empty(), "nothing else killed the container before the next open");
    assert_images_works(&env);
    assert_eq!(build.marker.survivors(), Vec::new(), "processes of the killed build still run");
    assert_eq!(entries(&env.root.path().join("tmp")), Vec::<PathBuf>::new(), "tmp/ is wiped");
    rebuild_finishes(&env, build.context.path());
}

#[test]
fn a_killed_servers_container_dies_with_it_and_its_client_fails_at_once() {
    let env = Env::new();
    let mut build = SpinningBuild::start(&env);

    kill_server(&env, &mut build.child, build.log.path());
    // No graphbuild runs from here on: only the watchdog can end the container.
    let started = Instant::now();
    while !build.marker.survivors().is_empty() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(build.marker.survivors(), Vec::new(), "the killed build's container outlived it");
    rebuild_finishes(&env, build.context.path());
}

#[test]
fn a_killed_run_leaves_no_container_and_the_next_run_cleans_up() {
    let env = Env::new();
    let marker = Marker::new();
    let log = tempfile::NamedTempFile::new().expect("log");
    let script = format!("{} & while :; do sleep 1; done", marker.needle);
    let mut run = spawn(&env, &["run", "busybox", "sh", "-c", &script], log.path());
    marker.wait_until_running(&mut run, log.path());
    // A detached `--rm` container of the same server: it goes once its end is noticed.
    let detached = env.cmd(&["run", "-d", "--rm", "busybox", "sleep", "60"]).output().expect("run -d");
    assert_eq!(detached.status.code(), Some(0), "{}", stderr(&detached));

    kill_watchdogs_of(server_pid(&env));
    kill_server(&env, &mut run, log.path());
    assert_images_works(&env);
    assert_eq!(marker.survivors(), Vec::new(), "the killed run's container still runs");
    let next = env.cmd(&["run", "--rm", "busybox", "true"]).output().expect("run");
    assert_eq!(next.status.code(), Some(0), "the next run:\n{}", stderr(&next));
    // The killed run's container is exited (killed, 137), as docker shows a container whose
    // daemon died; listing it unmounted what was left, and removing it removes its directory.
    let ps = env.cmd(&["ps", "-a", "-q", "--filter", "exited=137"]).output().expect("ps");
    let id = String::from_utf8_lossy(&ps.stdout).trim().to_owned();
    assert_eq!(id.len(), 12, "one killed container, the --rm one removed: {ps:?}");
    let left: Vec<PathBuf> = entries(&env.root.path().join("containers"));
    assert_eq!(left.len(), 1, "{left:?}");
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    for dir in &left {
        assert!(!mounted.contains(&dir.display().to_string()), "the killed run's mount is gone: {}", dir.display());
    }
    let removed = env.cmd(&["rm", &id]).output().expect("rm");
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    assert_eq!(entries(&env.root.path().join("containers")), Vec::<PathBuf>::new(), "its directory is gone");
}

/// A server that goes away with the command unread (killed just as the client connected, its
/// socket still listening for a moment) never ran it: the client gives it to a new server,
/// rather than failing as it must when a server dies while running a command.
#[test]
fn a_command_a_dying_server_never_read_goes_to_the_next_server() {
    let env = Env::new();
    let pid = server_pid(&env);
    let stopped = env.cmd(&["server", "stop"]).output().expect("server stop");
    assert_eq!(stopped.status.code(), Some(0), "{}", stderr(&stopped));
    wait_until_dead(pid);
    let socket = env.root.path().join("server.sock");
    let _ = std::fs::remove_file(&socket);
    // Stands in for the dying server: it listens, never accepts, and closes with the client's
    // command still queued.
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let closer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        drop(listener);
    });
    let output = env.cmd(&["images"]).output().expect("images");
    closer.join().expect("closer");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("busybox"));
}

/// A tmpfs mounted on a temp dir, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        gb_test_support::require_root();
        let dir = tempfile::tempdir().expect("mount point");
        gb_test_support::run("mount", &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &path_str(dir.path())]);
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `filler` until the file system has not one byte left: big writes first, then
    /// smaller ones down to single bytes.
    /// A server holding a root on the disk may free a block meanwhile (RocksDB removes a log
    /// file it no longer needs), so this fills again until the disk stays full.
    fn fill(&self, filler: &Path) {
        let mut file = std::fs::File::create(filler).expect("filler");
        let available = || gb_test_support::run("stat", &["-f", "-c", "%a", &path_str(self.path())]);
        for _ in 0..20 {
            for size in [1 << 20, 4096, 1] {
                let chunk = vec![0xa5u8; size];
                while file.write_all(&chunk).is_ok() {}
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            if available().trim() == "0" {
                break;
            }
        }
        assert_eq!(available().trim(), "0", "the file system is full");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily, so a process still holding a file there cannot keep the mount (and a failed
        // test's root) around.
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn a_full_disk_fails_every_command_with_exit_3_and_they_work_once_space_is_freed() {
    full_disk(Engine::InProcess);
}

#[test]
fn on_a_full_disk_the_server_fails_every_command_that_writes_with_exit_3_and_lists_images() {
    full_disk(Engine::Server);
}

/// Where the commands of a test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// `--no-server`: every command opens the root, which needs free space.
    InProcess,
    /// The root's server: it holds the root open; a command that only reads needs no space.
    Server,
}

fn full_disk(engine: Engine) {
    let disk = SmallDisk::mount("64m");
    let env = Env { root: tempfile::tempdir_in(disk.path()).expect("root on the small disk") };
    let mode: &[&str] = if engine == Engine::InProcess { &["--no-server"] } else { &[] };
    let import =
        env.cmd(mode).arg("import").arg(gb_test_support::busybox_tar()).arg("busybox:latest").output().expect("import");
    assert_ok(&import);
    let first = tempfile::tempdir().expect("context");
    write(first.path(), "Dockerfile", "FROM busybox\nRUN echo one > /one\n");
    assert_ok(
        &env.cmd(mode)
            .args(["build", "--progress", "plain", "-t", "full:1"])
            .arg(first.path())
            .output()
            .expect("build"),
    );
    let second = tempfile::tempdir().expect("context");
    write(second.path(), "Dockerfile", "FROM busybox\nRUN echo two > /two\n");
    let commands: [(&str, Vec<String>); 5] = [
        ("images", vec!["images".into()]),
        (
            "build",
            vec![
                "build".into(),
                "--progress".into(),
                "plain".into(),
                "-t".into(),
                "full:3".into(),
                path_str(second.path()),
            ],
        ),
        ("tag", vec!["tag".into(), "full:1".into(), "full:2".into()]),
        ("rmi", vec!["rmi".into(), "full:1".into()]),
        ("prune", vec!["prune".into()]),
    ];
    let run = |args: &[String]| env.cmd(mode).args(args).output().expect("graphbuild runs");

    let filler = disk.path().join("filler");
    disk.fill(&filler);
    for (name, args) in &commands {
        let output = run(args);
        let text = stderr(&output);
        if engine == Engine::Server && *name == "images" {
            assert_eq!(output.status.code(), Some(0), "images reads only:\n{text}");
            continue;
        }
        assert_eq!(output.status.code(), Some(3), "{name} on a full disk (a signal gives no code):\n{text}");
        assert!(text.to_lowercase().contains("no space left"), "{name} says why:\n{text}");
    }

    std::fs::remove_file(&filler).expect("free the space");
    for (name, args) in &commands {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{name} once space is free:\n{}", stderr(&output));
    }
    let listed = String::from_utf8_lossy(&run(&["images".into()]).stdout).into_owned();
    let tags: Vec<(String, String)> = listed
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut columns = line.split_whitespace();
            Some((columns.next()?.to_owned(), columns.next()?.to_owned()))
        })
        .filter(|(repository, _)| repository == "full")
        .collect();
    assert_eq!(tags.len(), 2, "full:2 and full:3 are left: {listed}");
    assert!(tags.iter().any(|(_, tag)| tag == "2") && tags.iter().any(|(_, tag)| tag == "3"), "{listed}");
}

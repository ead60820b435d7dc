//! `graphbuild run` end to end with runc on a busybox base: Docker's ENTRYPOINT/CMD rules,
//! environment, user, working directory, exit status (125/126/127 as docker's), output streams,
//! and the container that keeps `rmi` from removing an image it uses.
//!
//! These tests need root (mounts, runc), as graphbuild itself does; CI runs as root.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::engine::{Env, write};

/// Builds `dockerfile` on busybox and names the result `name`.
fn build_image(env: &Env, name: &str, dockerfile: &str) {
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", dockerfile);
    let output = env.cmd(&["build", "--progress", "plain", "-t", name]).arg(context.path()).output().expect("runs");
    assert!(output.status.success(), "build -t {name} failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn run(env: &Env, args: &[&str]) -> Output {
    env.cmd(&["run"]).args(args).output().expect("runs")
}

/// Runs and returns stdout, asserting success.
fn run_ok(env: &Env, args: &[&str]) -> String {
    let output = run(env, args);
    assert!(
        output.status.success(),
        "run {args:?} failed ({:?}):\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts `graphbuild run ARGS` in the background and waits for its first line of output, so
/// the container is known to be running.
fn start(env: &Env, args: &[&str]) -> Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .arg("run")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("reads");
    assert_eq!(line, "started\n", "the container started");
    child
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status();
    assert!(status.expect("kill runs").success());
}

fn wait(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "graphbuild run did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mount points under the root, as this process sees them.
fn mounts_under(root: &Path) -> Vec<String> {
    let root = std::fs::canonicalize(root).expect("root");
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(&root))
        .map(str::to_owned)
        .collect()
}

/// No container runs and nothing is mounted; exited containers stay (as docker's do) unless
/// they ran with `--rm`.
fn assert_clean(env: &Env) {
    let root = env.root.path();
    assert!(mounts_under(root).is_empty(), "mounts left: {:?}", mounts_under(root));
    let running = env.cmd(&["ps", "-q"]).output().expect("ps");
    assert_eq!(String::from_utf8_lossy(&running.stdout), "", "containers still run");
}

#[test]
fn cmd_runs_by_default_and_arguments_replace_it() {
    let env = Env::new();
    build_image(&env, "cmd", "FROM busybox\nCMD [\"echo\", \"from cmd\"]\n");
    assert_eq!(run_ok(&env, &["cmd"]), "from cmd\n");
    assert_eq!(run_ok(&env, &["cmd", "echo", "-n", "replaced"]), "replaced");
    assert_clean(&env);
}

#[test]
fn entrypoint_takes_cmd_or_the_arguments_and_can_be_replaced() {
    let env = Env::new();
    build_image(&env, "ep", "FROM busybox\nENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"default\"]\n");
    assert_eq!(run_ok(&env, &["ep"]), "ep default\n");
    assert_eq!(run_ok(&env, &["ep", "a", "-b"]), "ep a -b\n");
    // --entrypoint drops the image's CMD; arguments still follow it.
    assert_eq!(run_ok(&env, &["--entrypoint", "echo", "ep"]), "\n");
    assert_eq!(run_ok(&env, &["--entrypoint", "echo", "ep", "x"]), "x\n");
    // --entrypoint "" clears ENTRYPOINT and keeps CMD.
    let output = run(&env, &["--entrypoint", "", "ep"]);
    assert!(!output.status.success(), "runs the CMD `default`, which does not exist");
    assert!(stderr(&output).contains("default"), "{}", stderr(&output));
}

#[test]
fn shell_form_entrypoint_gets_cmd_and_arguments_as_dollar_zero_on() {
    let env = Env::new();
    // Docker runs ["/bin/sh", "-c", "echo hi $0 $1", CMD or ARGS...]: sh takes them as $0 $1.
    build_image(&env, "shell", "FROM busybox\nENTRYPOINT echo hi $0 $1\nCMD [\"c\"]\n");
    assert_eq!(run_ok(&env, &["shell"]), "hi c\n");
    assert_eq!(run_ok(&env, &["shell", "a", "b", "ignored"]), "hi a b\n");
    build_image(&env, "plain", "FROM busybox\nENTRYPOINT echo hi\n");
    assert_eq!(run_ok(&env, &["plain", "ignored"]), "hi\n");
}

#[test]
fn no_command_is_an_error() {
    let env = Env::new();
    let output = run(&env, &["busybox"]);
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("no command specified"), "{}", stderr(&output));
    assert_clean(&env);
}

#[test]
fn env_overrides_the_images_and_adds_new_names() {
    let env = Env::new();
    build_image(&env, "envs", "FROM busybox\nENV A=image B=kept GONE=image\n");
    let mut cmd = env.cmd(&["run", "-e", "A=override", "-e", "NEW=1", "-e", "FROM_HOST", "-e", "GONE"]);
    let output = cmd
        .args(["-e", "UNSET_ON_HOST", "envs", "env"])
        .env("FROM_HOST", "host value")
        .env_remove("GONE")
        .env_remove("UNSET_ON_HOST")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_unstable();
    let hostname = lines.iter().find_map(|l| l.strip_prefix("HOSTNAME=")).expect("HOSTNAME is set");
    assert!(hostname.len() == 12 && hostname.chars().all(|c| c.is_ascii_hexdigit()), "{hostname}");
    let expected = [
        "A=override",
        "B=kept",
        "FROM_HOST=host value",
        "HOME=/root",
        "NEW=1",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ];
    lines.retain(|l| !l.starts_with("HOSTNAME=") && !l.starts_with("PWD=") && !l.starts_with("SHLVL="));
    assert_eq!(lines, expected);
    assert_eq!(run_ok(&env, &["busybox", "hostname"]).trim().len(), 12);
}

#[test]
fn workdir_and_user_come_from_the_image_or_the_flags() {
    let env = Env::new();
    build_image(&env, "app", "FROM busybox\nUSER app\nWORKDIR /srv\n");
    assert_eq!(run_ok(&env, &["app", "sh", "-c", "id -u; pwd; echo $HOME"]), "1000\n/srv\n/home/app\n");
    assert_eq!(run_ok(&env, &["-u", "0", "-w", "/made/here", "app", "sh", "-c", "id -u; pwd"]), "0\n/made/here\n");
    assert_eq!(run_ok(&env, &["-u", "1234:55", "busybox", "sh", "-c", "id -u; id -g"]), "1234\n55\n");
    assert_eq!(run_ok(&env, &["-u", "nobody", "busybox", "id", "-u"]), "65534\n");
    let output = run(&env, &["-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("nosuchuser"), "{}", stderr(&output));
    let output = run(&env, &["-w", "relative", "busybox", "true"]);
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("absolute"), "{}", stderr(&output));
    assert_clean(&env);
}

#[test]
fn exit_status_and_output_streams_are_the_containers() {
    let env = Env::new();
    let output = run(&env, &["busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "out\n");
    assert_eq!(stderr(&output), "err\n");
    // Changes stay with their container: a new container starts from the image.
    assert_eq!(run_ok(&env, &["busybox", "touch", "/created"]), "");
    assert_eq!(run(&env, &["busybox", "ls", "/created"]).status.code(), Some(1));
    // A command that does not exist, or cannot be executed: docker's 127 and 126.
    let output = run(&env, &["busybox", "no-such-command"]);
    assert_eq!(output.status.code(), Some(127), "{}", stderr(&output));
    assert!(stderr(&output).contains("executable file not found"), "{}", stderr(&output));
    let output = run(&env, &["busybox", "/etc/passwd"]);
    assert_eq!(output.status.code(), Some(126), "{}", stderr(&output));
    assert_clean(&env);
}

#[test]
fn a_missing_image_is_an_error() {
    let env = Env::new();
    let output = run(&env, &["no-such-image", "true"]);
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("no such image: no-such-image"), "{}", stderr(&output));
}

#[test]
fn an_env_entry_without_a_name_is_a_usage_error() {
    // The review's input: `-e =x` reached runc, whose refusal was reported as a failure of the
    // environment (exit 3). It is the command line that is wrong: exit 2, before anything runs.
    for entry in ["=x", "="] {
        let output =
            crate::Scratch::new().graphbuild().args(["run", "-e", entry, "busybox", "true"]).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{entry}: {stderr}");
        assert!(stderr.contains("invalid environment variable"), "{entry}: {stderr}");
    }
}

#[test]
fn a_running_container_keeps_its_image_and_name() {
    let env = Env::new();
    build_image(&env, "sleeper", "FROM busybox\nCMD [\"sh\", \"-c\", \"echo started; exec sleep 60\"]\n");
    let mut child = start(&env, &["--name", "one", "sleeper"]);

    // The state root is not locked while the container runs.
    let output = env.cmd(&["rmi", "sleeper"]).output().expect("runs");
    assert!(!output.status.success(), "rmi of an image in use is refused");
    assert!(stderr(&output).contains("is using its referenced image"), "{}", stderr(&output));
    let output = run(&env, &["--name", "one", "busybox", "true"]);
    assert!(!output.status.success(), "the name is taken");
    assert!(stderr(&output).contains("already in use"), "{}", stderr(&output));
    assert_eq!(run_ok(&env, &["--name", "two", "busybox", "echo", "ok"]), "ok\n");
    let output = env.cmd(&["rmi", "-f", "sleeper"]).output().expect("runs");
    assert!(output.status.success(), "rmi -f works: {}", stderr(&output));

    // SIGTERM goes to the container (docker's sig-proxy); `sleep` as PID 1 has no handler, so
    // it ignores it and runs on, as under docker. `kill` ends it; the run exits with 137.
    signal(&child, "TERM");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().expect("try_wait").is_none(), "the container ignored SIGTERM");
    assert!(env.cmd(&["kill", "one"]).output().expect("kill").status.success());
    assert_eq!(wait(&mut child), Some(137));
    assert_clean(&env);
}

#[test]
fn a_killed_run_client_leaves_nothing_behind() {
    let env = Env::new();
    let mut child = start(&env, &["busybox", "sh", "-c", "echo started; exec sleep 60"]);
    signal(&child, "KILL");
    wait(&mut child);
    // The server runs the container on the client's own streams (its terminal, its pipes);
    // the client gone, it ends the container rather than leave it holding them.
    let started = std::time::Instant::now();
    while !mounts_under(env.root.path()).is_empty() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_clean(&env);
    let status = env.cmd(&["ps", "-a", "--format", "{{.State}} {{.Status}}"]).output().expect("ps");
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("exited Exited (137)"), "{status:?}");
}

#[test]
fn what_a_killed_in_process_run_left_is_removed_by_the_next() {
    let env = Env::new();
    assert!(env.cmd(&["server", "stop"]).output().expect("server stop").status.success());
    let mut child = start(&env, &["--no-server", "busybox", "sh", "-c", "echo started; exec sleep 60"]);
    signal(&child, "KILL");
    wait(&mut child);
    assert_eq!(mounts_under(env.root.path()).len(), 1, "the killed run's mount is left");
    assert_eq!(run_ok(&env, &["--rm", "busybox", "echo", "next"]), "next\n");
    // The next command that lists containers finds the dead run exited and unmounts it.
    let status = env.cmd(&["ps", "-a", "--format", "{{.Status}}"]).output().expect("ps");
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("Exited (137)"), "{status:?}");
    assert_clean(&env);
}

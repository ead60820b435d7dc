//! Containers end to end, through the workflow docker users live: run a container, change it,
//! commit it, run the new image; `run -d --name --env`, `ps`, `logs`, `stop`, `start`,
//! `restart`, `exec`, `rm`; `rmi -f` with a stopped container; a real terminal with
//! `run -it` under `script`; `diff`, `export` and `inspect`.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::engine::{Env, write};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command and returns its stdout, asserting success.
fn ok(env: &Env, args: &[&str]) -> String {
    let output = env.cmd(args).output().expect("runs");
    assert!(output.status.success(), "{args:?} failed ({:?}):\n{}", output.status.code(), stderr(&output));
    stdout(&output)
}

/// Waits until `check` holds, for at most 20 seconds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_committed_container_is_an_image_that_runs_with_its_change() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo original > /message\nCMD [\"cat\", \"/message\"]\n");
    let build = env.cmd(&["build", "-q", "-t", "web:1"]).arg(context.path()).output().expect("build");
    assert!(build.status.success(), "{}", stderr(&build));
    assert_eq!(ok(&env, &["run", "--rm", "web:1"]), "original\n");

    // The seed workflow: change a file in a container, commit it, run the result.
    let change = "echo changed > /message && rm /bin/vi";
    ok(&env, &["run", "--name", "changer", "-e", "FROM_RUN=1", "-w", "/tmp", "web:1", "sh", "-c", change]);
    let size = ok(&env, &["ps", "-a", "-s", "--format", "{{.Size}}"]);
    assert!(size.starts_with("8B (virtual "), "its changes are the 8-byte file: {size}");
    let diff = ok(&env, &["diff", "changer"]);
    assert_eq!(diff, "C /bin\nD /bin/vi\nC /message\n", "only the process's changes");
    let id = ok(&env, &["commit", "-m", "new message", "-a", "Ann <ann@example.com>", "changer", "web:2"]);
    assert!(id.trim().starts_with("sha256:") && id.trim().len() == 71, "{id}");
    assert_eq!(ok(&env, &["run", "--rm", "web:2", "cat", "/message"]), "changed\n");
    assert_eq!(ok(&env, &["run", "--rm", "web:1"]), "original\n", "the image it came from is unchanged");
    // As docker's, the image runs what the container ran, in its environment and directory.
    let config = ok(&env, &["image", "inspect", "-f", "{{json .Config.Cmd}} {{.Config.WorkingDir}}", "web:2"]);
    assert_eq!(config, format!("[\"sh\",\"-c\",\"{change}\"] /tmp\n"));
    assert_eq!(
        ok(&env, &["run", "--rm", "web:2", "sh", "-c", "echo $FROM_RUN $HOSTNAME"]).split(' ').next(),
        Some("1")
    );

    // One new layer with a history entry, as docker commit makes.
    let history = ok(&env, &["history", "--no-trunc", "web:2"]);
    let top = history.lines().nth(1).unwrap_or_default();
    assert!(top.contains("sh -c echo changed > /message && rm /bin/vi") && top.contains("new message"), "{history}");
    let inspect = |name: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&env, &["image", "inspect", name])).expect("json")
    };
    let (one, two) = (inspect("web:1"), inspect("web:2"));
    let layers = |image: &serde_json::Value| image[0]["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    assert_eq!(layers(&two), layers(&one) + 1, "{two}");
    assert_eq!(two[0]["Author"], "Ann <ann@example.com>");
    assert_eq!(two[0]["Comment"], "new message", "commit -m is the image's comment, as docker's");
    assert_eq!(two[0]["Id"], id.trim());

    // --change edits the config; the result builds FROM, saves and loads like any image.
    ok(&env, &["commit", "-c", "CMD [\"ls\", \"/bin/vi\"]", "-c", "ENV MODE=committed", "changer", "web:3"]);
    assert_eq!(ok(&env, &["run", "--rm", "web:3", "pwd"]), "/tmp\n");
    let output = env.cmd(&["run", "--rm", "web:3"]).output().expect("run");
    assert_eq!(output.status.code(), Some(1), "vi was removed: {}", stderr(&output));
    assert_eq!(ok(&env, &["run", "--rm", "web:3", "sh", "-c", "echo $MODE"]), "committed\n");
    write(context.path(), "Dockerfile", "FROM web:2\nRUN cat /message > /copy\n");
    let build = env.cmd(&["build", "-q", "-t", "web:4"]).arg(context.path()).output().expect("build");
    assert!(build.status.success(), "{}", stderr(&build));
    assert_eq!(ok(&env, &["run", "--rm", "web:4", "cat", "/copy"]), "changed\n");

    // Without a name the image is dangling, known by the id commit prints, as docker's.
    let nameless = ok(&env, &["commit", "changer"]);
    let dangling = ok(&env, &["images", "--filter", "dangling=true", "--no-trunc", "--format", "{{.ID}}"]);
    assert_eq!(dangling, nameless);
    assert_eq!(ok(&env, &["run", "--rm", nameless.trim(), "cat", "/message"]), "changed\n");
}

#[test]
fn diff_compares_with_the_image_as_its_layers_make_it() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    // The image deletes /bin/vi (a whiteout in its top layer) and replaces /usr, which had x,
    // with an empty directory (an opaque one).
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN mkdir -p /usr/x\nRUN rm /bin/vi && rm -rf /usr && mkdir /usr\n",
    );
    let build = env.cmd(&["build", "-q", "-t", "pruned"]).arg(context.path()).output().expect("build");
    assert!(build.status.success(), "{}", stderr(&build));
    ok(&env, &["run", "--name", "d", "pruned", "sh", "-c", "touch /bin/vi /etc/group && mkdir -p /usr/x"]);
    // vi was not in the image: added; group was: changed; /usr/x was only below the opaque /usr.
    assert_eq!(ok(&env, &["diff", "d"]), "C /bin\nA /bin/vi\nC /etc\nC /etc/group\nC /usr\nA /usr/x\n");
}

#[test]
fn a_detached_container_lives_on_and_is_stopped_logged_and_removed() {
    let env = Env::new();
    let script =
        "echo target=$TARGET; echo to-stderr >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done";
    let id = ok(&env, &["run", "-d", "--name", "web", "--env", "TARGET=x", "busybox", "sh", "-c", script]);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "run -d prints the container's id: {id}");

    // The client has exited; the server supervises the container.
    let ps = ok(&env, &["ps"]);
    let header = ps.lines().next().unwrap_or_default();
    for column in ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] {
        assert!(header.contains(column), "{ps}");
    }
    let row = ps.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with(&id[..12]) && row.contains(" Up ") && row.ends_with("web"), "{ps}");
    assert_eq!(ok(&env, &["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(ok(&env, &["ps", "--no-trunc", "-q"]).trim(), id);
    assert_eq!(ok(&env, &["ps", "--format", "{{.Names}}: {{.State}}"]), "web: running\n");

    eventually("three ticks", || ok(&env, &["logs", "web"]).contains("tick 2"));
    let logs = env.cmd(&["logs", "web"]).output().expect("logs");
    assert!(stdout(&logs).starts_with("target=x\ntick 0\n"), "{}", stdout(&logs));
    assert_eq!(stderr(&logs), "to-stderr\n", "the streams stay apart");
    assert_eq!(ok(&env, &["logs", "--tail", "1", "web"]).lines().count(), 1);

    // exec runs beside it, in its file system and environment.
    assert_eq!(ok(&env, &["exec", "web", "sh", "-c", "echo $TARGET; touch /from-exec"]), "x\n");
    let code = env.cmd(&["exec", "web", "sh", "-c", "exit 4"]).output().expect("exec").status.code();
    assert_eq!(code, Some(4));
    let code = env.cmd(&["exec", "web", "no-such-command"]).output().expect("exec").status.code();
    assert_eq!(code, Some(127), "as docker exec");

    // One of the running image's names can go; the image itself cannot, as docker's.
    ok(&env, &["tag", "busybox", "alias:1"]);
    assert_eq!(ok(&env, &["rmi", "alias:1"]), "Untagged: alias:1\n");
    let refused = env.cmd(&["rmi", "busybox"]).output().expect("rmi");
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));

    // sh as PID 1 ignores SIGTERM: stop kills it after -t seconds, as docker's does.
    assert_eq!(ok(&env, &["stop", "-t", "1", "web"]), "web\n");
    assert_eq!(ok(&env, &["ps", "-q"]), "");
    let all = ok(&env, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(all.starts_with("web Exited (137) "), "{all}");
    let inspect: serde_json::Value = serde_json::from_str(&ok(&env, &["inspect", "web"])).expect("json");
    assert_eq!(inspect[0]["State"]["Status"], "exited");
    assert_eq!(inspect[0]["State"]["ExitCode"], 137);
    assert_eq!(inspect[0]["Name"], "/web");
    assert_eq!(ok(&env, &["inspect", "-f", "{{.State.Status}} {{.Config.Image}}", "web"]), "exited busybox\n");

    // A stopped container keeps its changes and its log, and starts again.
    assert!(ok(&env, &["diff", "web"]).contains("A /from-exec"));
    ok(&env, &["start", "web"]);
    assert!(ok(&env, &["ps", "--format", "{{.Names}}"]).contains("web"));
    ok(&env, &["restart", "-t", "0", "web"]);
    assert!(ok(&env, &["ps", "--format", "{{.Status}}"]).starts_with("Up "));
    eventually("the restarted run's output", || ok(&env, &["logs", "web"]).matches("target=x").count() == 3);

    let refused = env.cmd(&["rm", "web"]).output().expect("rm");
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("container is running"), "{}", stderr(&refused));
    assert_eq!(ok(&env, &["rm", "-f", "web"]), "web\n");
    assert_eq!(ok(&env, &["ps", "-a", "-q"]), "");
    let gone = env.cmd(&["logs", "web"]).output().expect("logs");
    assert!(stderr(&gone).contains("No such container: web"), "{}", stderr(&gone));

    // A detached process that cannot start fails the run as an attached one does.
    let missing = env.cmd(&["run", "-d", "busybox", "no-such-command"]).output().expect("run -d");
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("no-such-command"), "{}", stderr(&missing));
    // Its process never started: the container stays created, with the reason, as docker's.
    assert_eq!(ok(&env, &["ps", "-a", "--format", "{{.Status}}"]), "Created\n");
    let created = ok(&env, &["ps", "-aq"]);
    let state = ok(&env, &["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", created.trim()]);
    assert!(state.starts_with("created 127 ") && state.contains("no-such-command"), "{state}");
}

#[test]
fn rmi_refuses_an_image_a_stopped_container_uses_and_force_removes_both() {
    let env = Env::new();
    ok(&env, &["tag", "busybox", "mine:1"]);
    ok(&env, &["run", "--name", "user", "mine:1", "true"]);
    // Another name of the same image can go: the image stays.
    let refused = env.cmd(&["rmi", "busybox"]).output().expect("rmi");
    assert!(refused.status.success(), "{}", stderr(&refused));
    let refused = env.cmd(&["rmi", "mine:1"]).output().expect("rmi");
    assert_eq!(refused.status.code(), Some(1));
    let short = ok(&env, &["ps", "-a", "-q"]);
    assert!(
        stderr(&refused).contains(&format!("container {} is using its referenced image", short.trim())),
        "{}",
        stderr(&refused)
    );
    let removed = ok(&env, &["rmi", "-f", "mine:1"]);
    assert!(removed.contains("Untagged: mine:1") && removed.contains("Deleted: sha256:"), "{removed}");
    assert_eq!(ok(&env, &["ps", "-a", "-q"]), "", "the stopped container went with its image");
}

#[test]
fn run_it_gives_the_container_a_real_terminal() {
    let env = Env::new();
    // `script` gives graphbuild a terminal; the keys are typed after the shell's prompt.
    let command =
        format!("{} --root {} run -it --rm busybox sh", env!("CARGO_BIN_EXE_graphbuild"), env.root.path().display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut input = child.stdin.take().expect("stdin");
    std::thread::sleep(Duration::from_secs(2));
    use std::io::Write as _;
    input.write_all(b"tty; echo inside-$((6*7)); exit 3\n").expect("types");
    let output = child.wait_with_output().expect("waits");
    let text = stdout(&output);
    assert!(text.contains("/dev/pts/0"), "the shell's stdin is a terminal: {text}");
    assert!(text.contains("inside-42"), "{text}");
    assert_eq!(output.status.code(), Some(3), "the container's status: {text}");

    // Without a terminal, -it is refused as docker's client refuses it (exit 1); -t alone gets
    // a terminal of its own, as under docker.
    let output = env.cmd(&["run", "-it", "busybox", "sh"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("the input device is not a TTY"), "{}", stderr(&output));
    assert_eq!(ok(&env, &["run", "-t", "--rm", "busybox", "tty"]).trim_end(), "/dev/pts/0");
}

#[test]
fn export_writes_the_containers_whole_file_system() {
    let env = Env::new();
    ok(&env, &["run", "--name", "exported", "busybox", "sh", "-c", "echo hi > /new-file"]);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("fs.tar");
    ok(&env, &["export", "-o", file.to_str().expect("utf-8"), "exported"]);
    let piped = env.cmd(&["export", "exported"]).output().expect("export");
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(std::fs::read(&file).expect("read"), piped.stdout, "the pipe form is the file form");
    let names = tar_names(&piped.stdout);
    assert!(names.iter().any(|n| n == "new-file"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "the image's files are there too: {names:?}");
}

/// The paths in a tar archive.
fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("entries")
        .flatten()
        .filter_map(|e| e.path().ok().map(|p| p.display().to_string()))
        .collect()
}

#[test]
fn a_running_container_is_read_frozen_so_swapping_a_dir_for_a_symlink_reaches_nothing() {
    let env = Env::new();
    // The container swaps /x/d between a directory and a symlink to / as fast as it can: a
    // walk that read it while it ran would follow the link into the host, or fail when a file
    // it had listed went. Frozen for the read, it is one state or the other.
    let swap = "mkdir /x; while true; do mkdir -p /x/d; echo inside > /x/d/f; rm -rf /x/d; ln -s / /x/d; rm /x/d; done";
    ok(&env, &["run", "-d", "--name", "swapper", "busybox", "sh", "-c", swap]);
    eventually("the swapping to start", || ok(&env, &["diff", "swapper"]).contains("A /x"));
    for _ in 0..10 {
        let export = env.cmd(&["export", "swapper"]).output().expect("export");
        assert!(export.status.success(), "{}", stderr(&export));
        let under: Vec<String> = tar_names(&export.stdout).into_iter().filter(|n| n.starts_with("x/d/")).collect();
        assert!(under.iter().all(|n| n == "x/d/" || n == "x/d/f"), "only the container's own file: {under:?}");
    }
    // An export whose reader waits does not keep the container frozen: it runs commands.
    let mut slow = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(["export", "swapper"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("export");
    std::thread::sleep(Duration::from_millis(500));
    let mut exec = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(["exec", "swapper", "true"])
        .spawn()
        .expect("exec");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = exec.try_wait().expect("exec") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = exec.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.is_some_and(|s| s.success()), "exec ran while the export's reader waited: {status:?}");
    let mut archive = Vec::new();
    std::io::Read::read_to_end(&mut slow.stdout.take().expect("stdout"), &mut archive).expect("read");
    assert!(slow.wait().expect("export").success() && tar_names(&archive).iter().any(|n| n == "bin/busybox"));

    ok(&env, &["commit", "swapper", "swapped:1"]);
    assert_eq!(ok(&env, &["ps", "--format", "{{.Names}} {{.State}}"]), "swapper running\n", "thawed after");
    ok(&env, &["rm", "-f", "swapper"]);
    // The committed layer is one state of /x/d too: the image runs with it.
    let listed = ok(&env, &["run", "--rm", "swapped:1", "sh", "-c", "ls /x/d 2>/dev/null | head -3; true"]);
    assert!(listed.is_empty() || listed == "f\n" || listed.contains("bin"), "{listed}");
}

/// Starts `graphbuild --root ROOT ARGS` (with `--no-server` when `in_process`), its stdout
/// piped.
fn spawn(env: &Env, in_process: bool, args: &[&str]) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"));
    command.arg("--root").arg(env.root.path());
    if in_process {
        command.arg("--no-server");
    }
    command.args(args).stdout(std::process::Stdio::piped()).spawn().expect("spawns")
}

/// Sends SIGINT to a client process, as Ctrl-C in its terminal.
fn interrupt(child: &std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
}

#[test]
fn ctrl_c_reaches_an_attached_container_and_ends_a_follow_and_detached_shells_wait() {
    let env = Env::new();
    // As docker's sig-proxy: the signal goes to the container's process, which decides; the
    // run exits with its status. Both through the server and in one process.
    let trap = "trap 'echo got-int; exit 7' INT; echo ready; while true; do sleep 0.1; done";
    for (in_process, name) in [(false, "served"), (true, "alone")] {
        use std::io::BufRead as _;
        if in_process {
            // One process owns a root: the server goes first.
            ok(&env, &["server", "stop"]);
        }
        let mut run = spawn(&env, in_process, &["run", "--name", name, "busybox", "sh", "-c", trap]);
        let mut lines = std::io::BufReader::new(run.stdout.take().expect("stdout")).lines();
        assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"), "{name}: the trap is set");
        interrupt(&run);
        let status = run.wait().expect("run ends");
        assert_eq!(status.code(), Some(7), "{name}: the container's own status");
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert_eq!(rest, ["got-int"], "{name}");
    }

    // -dit: the shell has a terminal of its own and waits on it; -di: an open input.
    ok(&env, &["run", "-dit", "--name", "shell", "busybox", "sh"]);
    ok(&env, &["run", "-di", "--name", "reader", "busybox", "cat"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ok(&env, &["ps", "--format", "{{.Names}}"]), "reader\nshell\n");
    assert_eq!(ok(&env, &["exec", "shell", "readlink", "/proc/1/fd/0"]), "/dev/pts/0\n");

    // Ctrl-C ends logs -f of a container that goes on.
    let mut follow = spawn(&env, false, &["logs", "-f", "shell"]);
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&follow);
    assert_eq!(follow.wait().expect("logs -f ends").code(), Some(130));
    assert_eq!(ok(&env, &["rm", "-f", "shell", "reader"]), "shell\nreader\n");
}

#[test]
fn volumes_env_files_and_networks_reach_the_container() {
    let env = Env::new();
    let host = tempfile::tempdir().expect("host dir");
    write(host.path(), "shared.txt", "from the host\n");
    write(host.path(), "env", "# a comment\nFROM_FILE=yes\n\nOTHER=2\n");
    let bind = format!("{}:/data:ro", host.path().display());
    let env_file = host.path().join("env");
    let out = ok(
        &env,
        &[
            "run",
            "--rm",
            "-v",
            &bind,
            "--env-file",
            env_file.to_str().expect("utf-8"),
            "--hostname",
            "box",
            "busybox",
            "sh",
            "-c",
            "cat /data/shared.txt; echo $FROM_FILE$OTHER; hostname; touch /data/x 2>/dev/null || echo read-only",
        ],
    );
    assert_eq!(out, "from the host\nyes2\nbox\nread-only\n");
    // A path relative to the working directory (docker 23's ./ form) is a bind too.
    let relative = env
        .cmd(&["run", "--rm", "-v", "./:/here:ro", "busybox", "cat", "/here/shared.txt"])
        .current_dir(host.path())
        .output()
        .expect("run");
    assert_eq!(stdout(&relative), "from the host\n", "{}", stderr(&relative));
    ok(&env, &["create", "--name", "mounts", "-v", &bind, "-v", "cache:/cache", "busybox", "true"]);
    let mounts = ok(&env, &["inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}};{{end}}", "mounts"]);
    assert_eq!(mounts, "bind /data false;volume /cache true;\n");
    ok(&env, &["rm", "mounts"]);
    // A named volume outlives the container that wrote it.
    ok(&env, &["run", "--rm", "-v", "cache:/cache", "busybox", "sh", "-c", "echo kept > /cache/file"]);
    assert_eq!(ok(&env, &["run", "--rm", "-v", "cache:/cache", "busybox", "cat", "/cache/file"]), "kept\n");
    // --network none has only loopback.
    let interfaces = ok(&env, &["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(interfaces, "lo\n");
    // --network host: the host's name too, as docker's.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(ok(&env, &["run", "--rm", "--network", "host", "busybox", "hostname"]), host);
}

#[test]
fn a_published_port_reaches_the_container_through_its_own_network() {
    let env = Env::new();
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = free.local_addr().expect("address").port();
    drop(free);
    let publish = format!("127.0.0.1:{port}:80");
    let serve = "mkdir -p /www && hostname -i > /www/index.html && exec httpd -f -p 80 -h /www";
    ok(&env, &["run", "-d", "--name", "site", "-p", &publish, "busybox", "sh", "-c", serve]);
    let ports = ok(&env, &["ps", "--format", "{{.Ports}}"]);
    let all = ok(&env, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    let logs = env.cmd(&["logs", "site"]).output().expect("logs");
    let inspect = ok(&env, &["inspect", "-f", "{{json .State}}", "site"]);
    let why = format!("{all}\n{}{}\n{inspect}", stdout(&logs), stderr(&logs));
    assert_eq!(ports, format!("127.0.0.1:{port}->80/tcp\n"), "{why}");
    assert_eq!(ok(&env, &["port", "site"]), format!("80/tcp -> 127.0.0.1:{port}\n"));
    assert_eq!(ok(&env, &["container", "port", "site", "80"]), format!("127.0.0.1:{port}\n"));
    assert_eq!(env.cmd(&["port", "site", "81"]).output().expect("port").status.code(), Some(1));
    let settings =
        ok(&env, &["inspect", "-f", "{{.NetworkSettings.IPAddress}} {{json .NetworkSettings.Ports}}", "site"]);
    assert_eq!(settings, format!("10.0.2.100 {{\"80/tcp\":[{{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"{port}\"}}]}}\n"));
    let networks = ok(&env, &["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "site"]);
    assert_eq!(networks, "10.0.2.100\n", "docker's usual way to read a container's address");

    let mut body = String::new();
    eventually("the container's web server", || {
        use std::io::{Read as _, Write as _};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
        body.clear();
        stream.read_to_string(&mut body).is_ok() && body.contains("200 OK")
    });
    // The page is the container's own address on its network, not the host's.
    assert!(body.trim_end().ends_with("10.0.2.100"), "{body}");
    ok(&env, &["stop", "-t", "0", "site"]);
    assert_eq!(ok(&env, &["ps", "-a", "--format", "[{{.Ports}}]"]), "[]\n", "a stopped container publishes nothing");
    ok(&env, &["rm", "site"]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the port is closed with its container");

    // -p CONTAINER alone publishes on a free host port, which `port` tells.
    ok(&env, &["run", "-d", "--name", "anyport", "-p", "80", "busybox", "sleep", "30"]);
    let any = ok(&env, &["port", "anyport", "80/tcp"]);
    let any_port: u16 = any.trim().rsplit_once(':').and_then(|(_, p)| p.parse().ok()).expect("a port");
    assert!(any.starts_with("0.0.0.0:") && any_port > 0, "{any}");
    // Chosen at each start, as docker's: the container asks for none of its own.
    let asked = ok(&env, &["inspect", "-f", "{{json .HostConfig.PortBindings}}", "anyport"]);
    assert_eq!(asked, "{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"\"}]}\n");
    ok(&env, &["restart", "-t", "0", "anyport"]);
    assert!(ok(&env, &["port", "anyport", "80"]).starts_with("0.0.0.0:"));
    ok(&env, &["rm", "-f", "anyport"]);
    let refused = env.cmd(&["run", "--network", "none", "-p", "8080:80", "busybox", "true"]).output().expect("runs");
    assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
}

#[test]
fn the_container_group_create_start_attach_kill_follow_and_prune() {
    let env = Env::new();
    let id = ok(&env, &["container", "create", "--name", "later", "busybox", "sh", "-c", "echo hello; exit 5"]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(ok(&env, &["container", "ls", "-a", "--format", "{{.Names}} {{.Status}}"]), "later Created\n");
    let attached = env.cmd(&["start", "-a", "later"]).output().expect("start -a");
    assert_eq!(attached.status.code(), Some(5), "start -a exits with the container's status");
    assert_eq!(stdout(&attached), "hello\n");
    assert_eq!(ok(&env, &["ps", "-a", "--filter", "exited=5", "--format", "{{.Names}}"]), "later\n");

    // logs -f follows until the container ends; kill sends the signal asked for.
    let script = "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
    ok(&env, &["run", "-d", "--name", "trapper", "busybox", "sh", "-c", script]);
    eventually("the trap is set", || ok(&env, &["logs", "trapper"]).contains("ready"));
    let follower = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(["logs", "-f", "trapper"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logs -f");
    assert_eq!(ok(&env, &["kill", "-s", "TERM", "trapper"]), "trapper\n");
    let followed = follower.wait_with_output().expect("logs -f ends with the container");
    assert_eq!(stdout(&followed), "ready\ngot-term\n");
    assert!(ok(&env, &["ps", "-a", "--filter", "name=trapper", "--format", "{{.Status}}"]).starts_with("Exited (0)"));
    // Filters of one key are alternatives, as docker's; without -a only running ones match.
    let either = ok(&env, &["ps", "--filter", "exited=5", "--filter", "exited=0", "--format", "{{.Names}}"]);
    assert_eq!(either, "trapper\nlater\n");
    assert_eq!(ok(&env, &["ps", "--filter", "name=later", "--format", "{{.Names}}"]), "");
    // A container whose image lost the name it was made from shows the image's id.
    ok(&env, &["tag", "busybox", "renamed:1"]);
    ok(&env, &["create", "--name", "orphan", "renamed:1", "true"]);
    ok(&env, &["rmi", "renamed:1"]);
    let image = ok(&env, &["ps", "-a", "--filter", "name=orphan", "--format", "{{.Image}}"]);
    assert!(image.trim().len() == 12 && image.trim().chars().all(|c| c.is_ascii_hexdigit()), "{image}");
    ok(&env, &["rm", "orphan"]);
    // -l labels the container; ps -n shows the last N whatever their state.
    ok(&env, &["create", "--name", "labelled", "-l", "tier=web", "--label", "flag", "busybox", "true"]);
    assert_eq!(
        ok(&env, &["ps", "-a", "--filter", "label=tier=web", "--filter", "label=flag", "--format", "{{.Names}}"]),
        "labelled\n"
    );
    assert_eq!(ok(&env, &["ps", "-n", "2", "--format", "{{.Names}}"]), "labelled\ntrapper\n");
    ok(&env, &["rm", "labelled"]);
    let refused = env.cmd(&["kill", "trapper"]).output().expect("kill");
    assert_eq!(refused.status.code(), Some(1), "a stopped container cannot be killed");

    // prune removes every stopped container and nothing else.
    let graceful = "trap 'echo bye; exit 3' TERM; while true; do sleep 0.1; done";
    ok(&env, &["run", "-d", "--name", "alive", "busybox", "sh", "-c", graceful]);
    let pruned = ok(&env, &["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n") && pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(ok(&env, &["ps", "-a", "--format", "{{.Names}}"]), "alive\n");

    let status = ok(&env, &["server", "status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["containers"], 1, "the server supervises the detached container: {status}");
    // The server, stopping, stops what it supervises as docker's daemon does, SIGTERM first;
    // the next server shows it exited as its process chose to.
    assert!(env.cmd(&["server", "stop"]).output().expect("server stop").status.success());
    assert!(ok(&env, &["ps", "-a", "--format", "{{.Names}} {{.State}}"]).starts_with("alive exited"));
    assert_eq!(ok(&env, &["inspect", "-f", "{{.State.ExitCode}}", "alive"]), "3\n");
    assert_eq!(ok(&env, &["logs", "alive"]), "bye\n");
}

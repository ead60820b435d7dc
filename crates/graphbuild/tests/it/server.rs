//! The state root's server: concurrent builds on one root share one engine (a step asked for by
//! two builds runs once) and give the images they give alone; image commands answer while a
//! build runs; only the root's user can use the server; `--no-server` runs in-process; `server
//! start|stop|status`, the idle timeout, and a rebuilt binary replacing an older server.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{Env, assert_ok, write};

/// Builds `context` in the background on `env`'s root with JSON progress into `log`.
fn spawn_build(env: &Env, context: &Path, tag: &str, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log");
    Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        // Layers clamped to the epoch, as BuildKit's `rewrite-timestamp=true`: the same image
        // whenever it is built.
        .args(["build", "--progress", "json", "-o", &format!("type=image,name={tag},rewrite-timestamp=true")])
        .arg(context)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("spawn graphbuild")
}

/// Whether process `pid` runs (not a zombie that its parent has yet to reap).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let close = stat.rfind(')').unwrap_or_default();
        !stat[close + 1..].trim_start().starts_with('Z')
    })
}

/// The progress events in a build's log.
fn events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The image id (config digest) of `name`.
fn image_id(env: &Env, name: &str) -> String {
    let output = env.cmd(&["image", "inspect", name]).output().expect("inspect");
    assert_ok(&output);
    let inspect: Value = serde_json::from_slice(&output.stdout).expect("inspect JSON");
    inspect[0]["Id"].as_str().unwrap_or_default().to_owned()
}

/// Eight Dockerfiles on one base: each shares the first RUN with all others and the second with
/// its pair, and has one step of its own.
fn eight_contexts() -> Vec<tempfile::TempDir> {
    (0..8)
        .map(|i| {
            let context = tempfile::tempdir().expect("context");
            write(
                context.path(),
                "Dockerfile",
                &format!(
                    "FROM busybox\nRUN sleep 1 && echo shared > /shared\nRUN echo pair {} > /pair\n\
                     RUN echo own {i} > /own\n",
                    i / 2
                ),
            );
            context
        })
        .collect()
}

#[test]
fn eight_concurrent_builds_on_one_root_run_each_shared_step_once_and_give_the_images_built_alone() {
    let together = Env::new();
    let contexts = eight_contexts();
    let logs: Vec<tempfile::NamedTempFile> = (0..8).map(|_| tempfile::NamedTempFile::new().expect("log")).collect();
    let mut builds: Vec<Child> = contexts
        .iter()
        .zip(&logs)
        .enumerate()
        .map(|(i, (context, log))| spawn_build(&together, context.path(), &format!("app:{i}"), log.path()))
        .collect();
    for (i, build) in builds.iter_mut().enumerate() {
        let status = build.wait().expect("wait");
        let text = std::fs::read_to_string(logs[i].path()).unwrap_or_default();
        assert!(status.success(), "build {i} failed:\n{text}");
    }

    // Each step ran once in all eight builds; every other build took its result.
    let mut runs: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for log in &logs {
        for event in events(log.path()) {
            if event["event"] == "op_started" {
                *runs.entry(event["description"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
        }
    }
    let shared = runs.iter().filter(|(d, _)| d.contains("echo shared")).map(|(_, n)| *n).sum::<usize>();
    assert_eq!(shared, 1, "the step all eight share ran once: {runs:#?}");
    let pairs = runs.iter().filter(|(d, _)| d.contains("echo pair")).map(|(_, n)| *n).sum::<usize>();
    assert_eq!(pairs, 4, "each pair's step ran once: {runs:#?}");

    // Built one at a time in a root of their own, they are the same images.
    let alone = Env::new();
    for (i, context) in contexts.iter().enumerate() {
        let log = tempfile::NamedTempFile::new().expect("log");
        let status = spawn_build(&alone, context.path(), &format!("app:{i}"), log.path()).wait().expect("wait");
        assert!(status.success(), "build {i} alone:\n{}", std::fs::read_to_string(log.path()).unwrap_or_default());
        let name = format!("app:{i}");
        assert_eq!(image_id(&together, &name), image_id(&alone, &name), "{name} built with seven others and alone");
    }
}

#[test]
fn image_commands_answer_while_a_build_runs_and_ctrl_c_cancels_only_that_build() {
    let env = Env::new();
    let slow = tempfile::tempdir().expect("context");
    let needle = format!("sleep {}", 5_000_000 + std::process::id());
    write(slow.path(), "Dockerfile", &format!("FROM busybox\nRUN {needle}\n"));
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut build = spawn_build(&env, slow.path(), "slow:1", log.path());
    let started = Instant::now();
    while crate::crash::processes_with(&needle).is_empty() {
        assert!(
            build.try_wait().expect("try_wait").is_none(),
            "{}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        assert!(started.elapsed() < Duration::from_secs(120), "the slow step never started");
        std::thread::sleep(Duration::from_millis(20));
    }

    for args in [&["images"][..], &["image", "inspect", "busybox"], &["history", "busybox"], &["df"]] {
        let output = env.cmd(args).output().expect("runs");
        assert_ok(&output);
    }
    let quick = tempfile::tempdir().expect("context");
    write(quick.path(), "Dockerfile", "FROM busybox\nRUN echo quick > /quick\n");
    assert_ok(&env.build(quick.path(), &["-t", "quick:1"]).0);
    assert!(build.try_wait().expect("try_wait").is_none(), "the slow build still runs");

    // Ctrl-C goes to the client; the server cancels that build and the client exits 130.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(build.id() as i32), nix::sys::signal::Signal::SIGINT)
        .expect("SIGINT");
    let status = build.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{}", std::fs::read_to_string(log.path()).unwrap_or_default());
    let started = Instant::now();
    while !crate::crash::processes_with(&needle).is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(crate::crash::processes_with(&needle).is_empty(), "the cancelled step's process is gone");
    assert_ok(&env.cmd(&["image", "inspect", "quick:1"]).output().expect("inspect"));
}

#[test]
fn only_the_roots_user_can_use_its_server() {
    gb_test_support::require_tool("setpriv", "util-linux");
    let env = Env::new();
    let as_nobody = |root: &Path| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_graphbuild"))
            .arg("--root")
            .arg(root)
            .arg("images")
            .output()
            .expect("setpriv runs")
    };
    let output = as_nobody(env.root.path());
    assert_eq!(output.status.code(), Some(3), "{output:?}");

    // Even with the root and the socket opened up, the server refuses another uid.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(env.root.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod root");
    let socket = env.root.path().join("server.sock");
    assert_eq!(std::fs::metadata(&socket).expect("socket").permissions().mode() & 0o777, 0o600, "the socket is 0600");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod socket");
    let output = as_nobody(env.root.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("uid 65534 may not use the graphbuild server"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing was listed");
}

#[test]
fn no_server_runs_in_this_process_and_refuses_a_root_a_server_serves() {
    let env = Env::new();
    assert_ok(&env.cmd(&["server", "stop"]).output().expect("server stop"));
    for (flag, var) in [(Some("--no-server"), None), (None, Some(("GRAPHBUILD_SERVER", "0")))] {
        let mut cmd = env.cmd(&[]);
        cmd.args(flag).arg("images");
        if let Some((key, value)) = var {
            cmd.env(key, value);
        }
        let output = cmd.output().expect("images");
        assert_ok(&output);
        assert!(String::from_utf8_lossy(&output.stdout).contains("busybox"));
        let status = env.cmd(&["server", "status"]).output().expect("status");
        assert_eq!(status.status.code(), Some(1), "no server was started");
    }
    assert_ok(&env.cmd(&["images"]).output().expect("images"));
    let output = env.cmd(&["--no-server", "images"]).output().expect("images");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("a graphbuild server is serving"), "{stderr}");
}

#[test]
fn server_start_status_stop_and_the_idle_timeout() {
    let env = Env::new();
    assert_ok(&env.cmd(&["server", "stop"]).output().expect("stop"));
    let status = env.cmd(&["server", "status"]).output().expect("status");
    assert_eq!(status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&status.stdout).contains("no graphbuild server is running"));

    let start = env.cmd(&["server", "start", "--max-parallelism", "3"]).output().expect("start");
    assert_ok(&start);
    assert!(String::from_utf8_lossy(&start.stdout).contains("graphbuild server started"), "{start:?}");
    let json = env.cmd(&["server", "status", "--format", "json"]).output().expect("status");
    assert_ok(&json);
    let status: Value = serde_json::from_slice(&json.stdout).expect("status JSON");
    assert_eq!(status["max_parallelism"], 3);
    assert_eq!(status["idle_timeout_s"], 600);
    assert_eq!(status["root"], env.root.path().to_string_lossy().as_ref());
    let pid = status["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).expect("pid");
    let again = env.cmd(&["server", "start"]).output().expect("start again");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already running"), "{again:?}");
    assert_ok(&env.cmd(&["server", "stop"]).output().expect("stop"));
    assert!(!alive(pid), "the server exited");

    // config.toml's idle timeout: the server ends by itself.
    std::fs::write(env.root.path().join("config.toml"), "[server]\nidle-timeout = \"1s\"\n").expect("config");
    assert_ok(&env.cmd(&["images"]).output().expect("images"));
    let pid = crate::crash::server_pid(&env);
    let started = Instant::now();
    while alive(pid) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "the idle server exited");
    assert!(!env.root.path().join("server.sock").exists(), "and removed its socket");
}

#[test]
fn a_rebuilt_binary_replaces_the_server_of_the_old_one() {
    let env = Env::new();
    let old = crate::crash::server_pid(&env);
    // A copy is another file: another build as far as the server can tell. The front door
    // finds the engine binary beside itself, so both are copied.
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("graphbuild");
    std::fs::copy(env!("CARGO_BIN_EXE_graphbuild"), &copy).expect("copy the binary");
    std::fs::copy(env!("CARGO_BIN_EXE_graphbuild-engine"), dir.path().join("graphbuild-engine"))
        .expect("copy the engine binary");
    let output = Command::new(&copy).arg("--root").arg(env.root.path()).arg("images").output().expect("images");
    assert_ok(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("busybox"));
    let new = crate::crash::server_pid(&env);
    assert_ne!(old, new, "the old server was replaced");
    assert!(!alive(old), "the old server exited");
    let _ = Command::new(&copy).arg("--root").arg(env.root.path()).args(["server", "stop"]).status();
}

#[test]
fn the_server_exits_when_its_root_is_removed() {
    let env = Env::new();
    let pid = crate::crash::server_pid(&env);
    drop(env);
    let started = Instant::now();
    while alive(pid) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "a server whose root is gone exits");
}

#[test]
fn the_root_comes_from_each_clients_own_command_line_and_environment() {
    let env = Env::new();
    assert_ok(&env.cmd(&["server", "stop"]).output().expect("stop"));
    let elsewhere = tempfile::tempdir().expect("another root");
    // Started by a client whose environment names another root than its --root.
    let started = env.cmd(&["images"]).env("GRAPHBUILD_ROOT", elsewhere.path()).output().expect("images");
    assert_ok(&started);
    // A later client names the root only through its environment.
    let output = crate::graphbuild().arg("images").env("GRAPHBUILD_ROOT", env.root.path()).output().expect("images");
    assert_ok(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("busybox"));
    assert!(!elsewhere.path().join("server.sock").exists(), "no server was started for the other root");
}

#[test]
fn files_a_command_creates_get_its_clients_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nCMD [\"true\"]\n");
    let out = tempfile::tempdir().expect("out");
    for (umask, mode) in [("077", 0o600), ("022", 0o644)] {
        let tar = out.path().join(format!("image-{umask}.tar"));
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" --root \"$1\" build -o type=oci,dest=\"$2\" \"$3\"",))
            .arg(env!("CARGO_BIN_EXE_graphbuild"))
            .arg(env.root.path())
            .arg(&tar)
            .arg(context.path())
            .status()
            .expect("sh runs");
        assert!(status.success());
        let actual = std::fs::metadata(&tar).expect("the archive").permissions().mode() & 0o777;
        assert_eq!(actual, mode, "umask {umask}");
    }
}

#[test]
fn the_image_does_not_depend_on_the_clients_umask() {
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "app/main.txt", "main\n");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS build\nRUN mkdir -p /out/deep && echo built > /out/deep/file\n\
         FROM scratch AS bare\nCOPY app/ /srv/app/\n\
         FROM busybox\nWORKDIR /work/dir\nCOPY --from=build /out /out\nCOPY --from=bare /srv /srv\n\
         COPY app/main.txt /opt/new/dir/\nADD app /opt/added\n",
    );
    let ids: Vec<String> = ["077", "022"]
        .iter()
        .map(|umask| {
            let env = Env::new();
            let status = Command::new("sh")
                .arg("-c")
                // Layers clamped to the epoch (`rewrite-timestamp=true`), so file times made
                // during the build do not differ either.
                .arg(format!(
                    "umask {umask}; exec \"$0\" --root \"$1\" build -o type=image,name=app:1,rewrite-timestamp=true \"$2\""
                ))
                .arg(env!("CARGO_BIN_EXE_graphbuild"))
                .arg(env.root.path())
                .arg(context.path())
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .status()
                .expect("sh runs");
            assert!(status.success(), "umask {umask}");
            image_id(&env, "app:1")
        })
        .collect();
    assert_eq!(ids[0], ids[1], "the same image under umask 077 and 022");
}

#[test]
fn a_server_log_past_1_mib_starts_afresh_with_the_last_one_kept() {
    let env = Env::new();
    assert_ok(&env.cmd(&["server", "stop"]).output().expect("stop"));
    let log = env.root.path().join("server.log");
    std::fs::write(&log, vec![b'x'; (1 << 20) + 1]).expect("a big log");
    assert_ok(&env.cmd(&["images"]).output().expect("images"));
    let kept = std::fs::metadata(env.root.path().join("server.log.1")).expect("the old log is kept");
    assert_eq!(kept.len(), (1 << 20) + 1);
    let fresh = std::fs::read_to_string(&log).expect("a new log");
    assert!(fresh.len() < 4096 && fresh.contains("serving"), "{fresh}");
}

/// One typed request as any program would send it (JSON text over the socket); the reply
/// lines up to and including the answer (`result` or `failed`).
fn typed_request(env: &Env, request: Value) -> Vec<Value> {
    use std::io::{BufRead as _, Write as _};
    let mut stream = std::os::unix::net::UnixStream::connect(env.root.path().join("server.sock")).expect("connect");
    let hello = serde_json::json!({ "protocol": 1, "request": request });
    writeln!(stream, "{hello}").expect("send");
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stream).lines() {
        let line: Value = serde_json::from_str(&line.expect("line")).expect("a JSON line");
        let done = line.get("result").is_some() || line.get("failed").is_some() || line.get("refused").is_some();
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}

/// The answer of a typed request that must succeed.
fn result(lines: &[Value]) -> Value {
    let last = lines.last().cloned().unwrap_or_default();
    assert!(last.get("result").is_some(), "{last}");
    last["result"].clone()
}

#[test]
fn other_programs_drive_the_engine_with_typed_requests() {
    let env = Env::new();
    assert_ok(&env.cmd(&["server", "start"]).output().expect("start"));
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nCOPY a.txt /a.txt\n");
    write(context.path(), "a.txt", "typed");
    let lowered = env.cmd(&["lower"]).arg(context.path()).output().expect("lower");
    assert_ok(&lowered);
    let definition: Value = serde_json::from_slice(&lowered.stdout).expect("definition JSON");
    let out = tempfile::tempdir().expect("out");
    let oci = out.path().join("image.tar");

    // Solve: events stream back, then the outcome; the export is written.
    let solve = serde_json::json!({ "solve": {
        "definition": definition,
        "locals": { "context": context.path() },
        "outputs": [format!("type=oci,dest={}", oci.display()), "type=image,name=typed:1".to_owned()],
    }});
    let lines = typed_request(&env, solve.clone());
    let outcome = result(&lines);
    assert_eq!(outcome["ran"], 1, "{outcome}");
    let events: Vec<&Value> = lines.iter().filter_map(|l| l.get("event")).collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["build_started", "op_started", "op_running", "op_completed", "build_completed"], "{events:?}");
    assert!(oci.is_file(), "the OCI export was written");
    assert_eq!(result(&typed_request(&env, solve))["ran"], 0, "the second solve comes from the cache");

    // The image store: list, tag, inspect, history, disk usage, remove.
    let images = result(&typed_request(&env, serde_json::json!("images")));
    let repositories: Vec<&str> =
        images.as_array().expect("a list").iter().filter_map(|i| i["repository"].as_str()).collect();
    assert!(repositories.contains(&"typed") && repositories.contains(&"busybox"), "{repositories:?}");
    let tagged =
        result(&typed_request(&env, serde_json::json!({ "tag": { "source": "typed:1", "target": "typed:2" } })));
    assert_eq!(tagged["name"], "docker.io/library/typed:2");
    let inspect = result(&typed_request(&env, serde_json::json!({ "inspect": { "name": "typed:2" } })));
    let tags: Vec<&str> = inspect["RepoTags"].as_array().expect("tags").iter().filter_map(Value::as_str).collect();
    assert_eq!(tags, ["typed:1", "typed:2"]);
    let history = result(&typed_request(&env, serde_json::json!({ "history": { "name": "typed:2" } })));
    let last = history["history"].as_array().and_then(|h| h.last()).cloned().unwrap_or_default();
    assert!(last["created_by"].as_str().is_some_and(|c| c.starts_with("COPY a.txt /a.txt")), "{last}");
    let usage = result(&typed_request(&env, serde_json::json!("disk_usage")));
    assert!(usage["images"].as_u64() >= Some(2), "{usage}");
    let removed = result(&typed_request(&env, serde_json::json!({ "remove": { "name": "typed:2" } })));
    assert_eq!(removed["untagged"], serde_json::json!(["typed:2"]));
    assert!(removed["deleted"].is_null(), "typed:1 still names the image");

    // Failures are data too, with the exit status the command would give.
    let missing = typed_request(&env, serde_json::json!({ "inspect": { "name": "nope" } }));
    assert_eq!(missing.last().expect("answer")["failed"]["exit_code"], 1, "{missing:?}");
    let relative = typed_request(
        &env,
        serde_json::json!({ "solve": { "definition": definition, "outputs": ["type=oci,dest=out.tar"] } }),
    );
    let failed = &relative.last().expect("answer")["failed"];
    assert!(failed["message"].as_str().is_some_and(|m| m.contains("not an absolute path")), "{failed}");
}

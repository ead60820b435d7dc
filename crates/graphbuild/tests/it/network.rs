//! RUN's network at the binary: a step without `--network` gets a private network (slirp4netns)
//! that cannot reach the host's loopback, while `RUN --network=host`, allowed and permitted,
//! shares the host's namespace and can.
//!
//! These tests need root, runc and slirp4netns, as the engine tests do.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::engine::{Env, assert_ok, write};

/// Accepts connections on `listener` in a thread until `stop` is set (or 120 s passed), reading
/// one line of each and closing it, which lets busybox `nc` (it never half-closes) exit; returns
/// the lines.
fn serve(listener: TcpListener, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut lines = Vec::new();
        while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(120) {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut line = String::new();
            let _ = BufReader::new(&mut stream).read_line(&mut line);
            lines.push(line);
        }
        lines
    })
}

#[test]
fn a_default_run_cannot_reach_the_hosts_loopback_but_a_host_network_run_can() {
    let env = Env::new();
    write(env.root.path(), "config.toml", "entitlements = [\"network.host\"]\n");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("local addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(listener, Arc::clone(&stop));

    // 10.0.2.2 is where slirp would forward to the host's loopback without
    // --disable-host-loopback; 127.0.0.1 is the step's own loopback.
    let dockerfile = format!(
        "FROM busybox\n\
         RUN (for addr in 127.0.0.1 10.0.2.2; do echo default | busybox nc -w 3 $addr {port} && echo reached $addr; \
         done; ls /sys/class/net; echo done) > /default\n\
         RUN --network=host (echo host | busybox nc -w 3 127.0.0.1 {port} && echo reached) > /host\n"
    );
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", &dockerfile);
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["--allow", "network.host", "-o", &dest]);
    stop.store(true, Ordering::SeqCst);
    let lines = server.join().expect("listener thread");
    assert_ok(&output);

    let read = |file: &str| std::fs::read_to_string(out.path().join(file)).expect("exported file");
    assert_eq!(read("default"), "eth0\nlo\ndone\n", "the default step reached the host's 127.0.0.1:{port}");
    assert_eq!(read("host"), "reached\n");
    assert_eq!(lines, ["host\n"], "only the host-network step connected");
}

/// The live (not zombie) processes whose parent is `parent` and whose name is one of `names`,
/// as `(pid, name)`.
fn children_named(parent: u32, names: &[&str]) -> Vec<(u32, String)> {
    let parent = parent.to_string();
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let name = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_owned();
            let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            let live = fields.first().is_some_and(|state| *state != "Z") && fields.get(1) == Some(&parent.as_str());
            (live && names.contains(&name.as_str())).then_some((pid, name))
        })
        .collect()
}

/// Whether `pid` still runs as a process named `name` (not a zombie).
fn still_running(pid: u32, name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let close = stat.rfind(')').unwrap_or_default();
        stat.contains(&format!("({name})")) && !stat[close + 1..].trim_start().starts_with('Z')
    })
}

#[test]
fn the_private_networks_processes_die_with_a_killed_build() {
    let env = Env::new();
    crate::engine::assert_ok(&env.cmd(&["server", "stop"]).output().expect("server stop"));
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN sleep 3611\n");
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut build = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        // In this process: the build's engine is the process killed (a killed server is
        // covered by crash.rs).
        .args(["--no-server", "build", "--progress", "plain"])
        .arg(context.path())
        .stdin(std::process::Stdio::null())
        .stdout(log.reopen().expect("log"))
        .stderr(log.reopen().expect("log"))
        .spawn()
        .expect("spawn graphbuild");
    // slirp4netns and the namespace holder (`cat`) are the build's own children.
    let started = Instant::now();
    let network = loop {
        let found = children_named(build.id(), &["slirp4netns", "cat"]);
        if found.len() == 2 {
            break found;
        }
        if started.elapsed() > Duration::from_secs(60) || build.try_wait().ok().flatten().is_some() {
            let _ = build.kill();
            let text = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("the step's network processes never appeared ({found:?}):\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    build.kill().expect("kill -9 graphbuild");
    build.wait().expect("wait");
    let started = Instant::now();
    while network.iter().any(|(pid, name)| still_running(*pid, name)) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<_> = network.iter().filter(|(pid, name)| still_running(*pid, name)).collect();
    assert!(survivors.is_empty(), "outlived the killed build: {survivors:?}");
    // The next open of the root removes the killed build's mounts (none may outlive the test).
    crate::engine::assert_ok(&env.cmd(&["--no-server", "images"]).output().expect("images"));
}

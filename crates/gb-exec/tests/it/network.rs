//! The default, private network: a namespace of its own whose `eth0` reaches out through
//! slirp4netns, but not to the host's loopback; and its processes end with the run.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gb_exec::{ExecError, Network};
use tokio_util::sync::CancellationToken;

use crate::isolation::interfaces;
use crate::support::Fixture;

/// A non-loopback IPv4 address of this host, from `ip -4 -o addr`; fails the test when there is
/// none, since the reachability check would then prove nothing.
fn host_address() -> Ipv4Addr {
    let output = std::process::Command::new("ip").args(["-4", "-o", "addr", "show"]).output().expect("run ip");
    assert!(output.status.success(), "ip -4 -o addr: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    // Lines look like `2: eth0    inet 192.0.2.2/24 brd ... scope global eth0`.
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip_while(|f| *f != "inet").skip(1);
            fields.next()?.split('/').next()?.parse::<Ipv4Addr>().ok()
        })
        .find(|addr| !addr.is_loopback())
        .unwrap_or_else(|| panic!("this machine has no non-loopback IPv4 address:\n{text}"))
}

/// A listener on `addr` with its port.
fn listen(addr: Ipv4Addr) -> (TcpListener, u16) {
    let listener = TcpListener::bind((addr, 0)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("local addr").port();
    (listener, port)
}

/// Accepts one connection on `listener` in a thread, until `stop` is set or 30 s passed, and
/// returns its first line; closing the connection then is what lets the sender (busybox `nc`,
/// which never half-closes) exit.
fn first_line(listener: TcpListener, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let mut line = String::new();
        BufReader::new(&mut stream).read_line(&mut line).ok()?;
        Some(line)
    })
}

#[tokio::test]
async fn private_network_has_eth0_and_loopback_up() {
    let fx = Fixture::new();
    let out = fx.sh_ok("private-links", "ip -o link; echo ---; cat /proc/net/dev; echo ---; ip route").await;
    let parts: Vec<&str> = out.stdout.split("---\n").collect();
    assert_eq!(parts.len(), 3, "{}{}", out.stdout, out.stderr);
    let tap = parts[0].lines().find(|l| l.contains(": eth0:")).unwrap_or_else(|| panic!("no eth0: {}", parts[0]));
    assert!(tap.contains("UP") && tap.contains("mtu 65520"), "{tap}");
    let lo = parts[0].lines().find(|l| l.contains(": lo:")).unwrap_or_else(|| panic!("no lo: {}", parts[0]));
    assert!(lo.contains("UP"), "{lo}");
    // Its own namespace: the host's interfaces are not there.
    assert_eq!(interfaces(parts[1]), ["eth0", "lo"]);
    assert!(parts[2].contains("default via 10.0.2.2 dev eth0"), "{}", parts[2]);
}

#[tokio::test]
async fn private_network_cannot_reach_the_hosts_loopback() {
    let fx = Fixture::new();
    let (listener, port) = listen(Ipv4Addr::LOCALHOST);
    let stop = Arc::new(AtomicBool::new(false));
    let line = first_line(listener, Arc::clone(&stop));
    // 127.0.0.1 is the container's own loopback; 10.0.2.2 is where slirp would forward to the
    // host's loopback without --disable-host-loopback.
    let script = format!(
        "for addr in 127.0.0.1 10.0.2.2; do echo hi | nc -w 3 $addr {port} && echo reached $addr; done; echo done"
    );
    let out = fx.sh_ok("private-loopback", &script).await;
    stop.store(true, Ordering::SeqCst);
    let line = line.join().expect("listener thread");
    assert_eq!(out.stdout, "done\n", "{}", out.stderr);
    assert_eq!(line, None, "a container connected to the host's 127.0.0.1:{port}");
}

#[tokio::test]
async fn private_network_reaches_the_hosts_other_addresses() {
    let fx = Fixture::new();
    let addr = host_address();
    let (listener, port) = listen(addr);
    let line = first_line(listener, Arc::new(AtomicBool::new(false)));
    let out = fx.sh_ok("private-out", &format!("echo hello | nc -w 5 {addr} {port} && echo sent")).await;
    assert_eq!(out.stdout, "sent\n", "{}", out.stderr);
    assert_eq!(line.join().expect("listener thread"), Some("hello\n".to_owned()), "nothing arrived at {addr}:{port}");
}

/// The live (not zombie) children of this test process named `slirp4netns` or `cat` (the
/// namespace holder): nextest runs each test in its own process, so they are this test's.
fn network_processes() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            let Some(open) = stat.find('(') else { return false };
            let Some(close) = stat.rfind(')') else { return false };
            let name = &stat[open + 1..close];
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            matches!(name, "slirp4netns" | "cat") && fields.get(1) == Some(&me.as_str()) && fields[0] != "Z"
        })
        .collect()
}

/// Waits up to 10 s for the network processes to be gone: a run sends them SIGKILL as it ends
/// and reaps them in the background.
async fn assert_no_network_processes(when: &str) {
    let started = Instant::now();
    while !network_processes().is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(network_processes(), Vec::<String>::new(), "left after {when}");
}

#[tokio::test]
async fn private_network_processes_end_with_the_run() {
    let fx = Fixture::new();
    assert_eq!(fx.sh_ok("net-ok", "true").await.code, 0);
    assert_no_network_processes("a run that succeeded").await;
    assert_eq!(fx.sh_ok("net-fail", "exit 3").await.code, 3);
    assert_no_network_processes("a run that failed").await;
    let missing = gb_exec::ContainerSpec::new(&fx.rootfs, vec!["no-such-program".to_owned()]);
    assert!(matches!(fx.run("net-runc-fails", &missing).await, Err(ExecError::Runtime { .. })));
    assert_no_network_processes("runc failed").await;

    let spec = fx.sh("sleep 3609");
    let cancel = CancellationToken::new();
    let fire = async {
        // While the network exists and the container runs.
        while network_processes().is_empty() || fx.listed_containers().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(fx.runtime.run("net-cancel", &spec, &|_, _| {}, cancel.clone()), fire);
    assert!(matches!(result, Err(ExecError::Cancelled)), "{result:?}");
    assert_no_network_processes("a cancelled run").await;

    let run = fx.runtime.run("net-drop", &spec, &|_, _| {}, CancellationToken::new());
    assert!(tokio::time::timeout(Duration::from_millis(500), run).await.is_err());
    assert_no_network_processes("a dropped run").await;
    // Host and none make no network processes at all.
    for network in [Network::Host, Network::Isolated] {
        let mut spec = fx.sh("true");
        spec.network = network;
        assert_eq!(fx.run("net-other", &spec).await.expect("run").code, 0);
    }
    assert_no_network_processes("runs on the host's network and on none").await;
}

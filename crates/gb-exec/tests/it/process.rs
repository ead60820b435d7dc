//! The process: its output, exit code, environment, working directory, user and limits.

use std::time::{Duration, Instant};

use gb_exec::{ExecError, OutputStream};

use crate::support::Fixture;

#[tokio::test]
async fn output_of_both_streams_is_captured_separately() {
    let fx = Fixture::new();
    let out = fx.sh_ok("streams", "echo to-out; echo to-err >&2; echo more-out").await;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "to-out\nmore-out\n");
    assert_eq!(out.stderr, "to-err\n");
}

#[tokio::test]
async fn output_is_streamed_before_exit() {
    let fx = Fixture::new();
    let started = Instant::now();
    let out = fx.sh_ok("streaming", "echo first; sleep 1; echo second >&2").await;
    let ended = Instant::now();
    let (stream, bytes, at) = out.chunks.first().expect("a chunk");
    assert_eq!((*stream, bytes.as_slice()), (OutputStream::Stdout, &b"first\n"[..]));
    assert!(
        ended.duration_since(*at) >= Duration::from_millis(700),
        "first chunk came {:?} after start",
        *at - started
    );
}

#[tokio::test]
async fn exit_codes_are_returned() {
    let fx = Fixture::new();
    assert_eq!(fx.sh_ok("exit-0", "true").await.code, 0);
    assert_eq!(fx.sh_ok("exit-3", "exit 3").await.code, 3);
    assert_eq!(fx.sh_ok("exit-false", "false").await.code, 1);
}

#[tokio::test]
async fn a_container_killed_by_a_signal_exits_with_128_plus_the_signal() {
    let fx = Fixture::new();
    let spec = fx.sh("echo ready; sleep 30");
    let killer = async {
        // Signals sent from inside do not reach pid 1 (no handler); runc kill comes from outside.
        while !fx.runtime.state_root().join("killed").exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let status = tokio::process::Command::new(fx.runtime.runc_path())
            .arg("--root")
            .arg(fx.runtime.state_root())
            .args(["kill", "killed", "KILL"])
            .status()
            .await
            .expect("runc kill");
        assert!(status.success());
    };
    let (out, ()) = tokio::join!(fx.run("killed", &spec), killer);
    assert_eq!(out.expect("run").code, 128 + 9);
}

#[tokio::test]
async fn env_and_cwd_are_applied() {
    let fx = Fixture::new();
    let mut spec = fx.sh("echo \"$GREETING|$PATH\"; pwd");
    spec.env = vec!["GREETING=hello world".to_owned()];
    spec.cwd = "/work/dir".to_owned();
    let out = fx.run("env-cwd", &spec).await.expect("run");
    let default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    assert_eq!(out.stdout, format!("hello world|{default_path}\n/work/dir\n"), "{}", out.stderr);
    // runc creates a missing cwd in the rootfs (as BuildKit expects for WORKDIR).
    assert!(fx.rootfs.join("work/dir").is_dir());
}

#[tokio::test]
async fn uid_and_gids_are_applied() {
    let fx = Fixture::new();
    let mut spec = fx.sh("id -u; id -g; id -G; grep CapEff /proc/self/status");
    (spec.uid, spec.gid, spec.additional_gids) = (1000, 1001, vec![2000, 2001]);
    let out = fx.run("user", &spec).await.expect("run");
    // A non-root process keeps no capability across exec, as under Docker.
    assert_eq!(out.stdout, "1000\n1001\n1001 2000 2001\nCapEff:\t0000000000000000\n", "{}", out.stderr);
}

#[tokio::test]
async fn hostname_is_set() {
    let fx = Fixture::new();
    let mut spec = fx.sh("hostname");
    spec.hostname = "buildbox".to_owned();
    assert_eq!(fx.run("hostname", &spec).await.expect("run").stdout, "buildbox\n");
}

#[tokio::test]
async fn proc_is_the_containers_own() {
    let fx = Fixture::new();
    let script = "echo $$; wc -c < /proc/1/cmdline; ls /proc | grep -c '^[0-9]'";
    let out = fx.sh_ok("proc", script).await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1", "the shell is pid 1");
    let argv_len = "/bin/sh\0-c\0".len() + script.len() + 1;
    assert_eq!(lines[1], argv_len.to_string(), "/proc/1/cmdline is the shell's argv");
    // The shell, and at most the pipeline's processes: nothing from the host.
    let pids: usize = lines[2].parse().expect("count");
    assert!(pids <= 4, "{pids} processes visible");
}

#[tokio::test]
async fn file_limit_is_dockers_or_the_hosts_hard_limit() {
    let fx = Fixture::new();
    let out = fx.sh_ok("nofile", "ulimit -n").await;
    let limits = std::fs::read_to_string("/proc/self/limits").expect("limits");
    let hard: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|h| h.parse().ok())
        .unwrap_or(1_048_576);
    assert_eq!(out.stdout.trim(), hard.min(1_048_576).to_string());
}

#[tokio::test]
async fn a_missing_executable_is_a_runtime_error_and_is_cleaned_up() {
    let fx = Fixture::new();
    let spec = gb_exec::ContainerSpec::new(&fx.rootfs, vec!["no-such-program".to_owned()]);
    match fx.run("missing", &spec).await {
        Err(ExecError::Runtime { id, message }) => {
            assert_eq!(id, "missing");
            assert!(message.contains("no-such-program"), "{message}");
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
    assert!(fx.listed_containers().is_empty());
    assert!(fx.leftover_bundles().is_empty());
}

#[tokio::test]
async fn ids_in_use_and_bad_ids_are_refused() {
    let fx = Fixture::new();
    let spec = fx.sh("true");
    let bad = fx.runtime.run("../x", &spec, &|_, _| {}, Default::default()).await;
    assert!(matches!(bad, Err(ExecError::InvalidId { .. })), "{bad:?}");
    let long = fx.sh("sleep 1");
    let (first, second) = tokio::join!(fx.run("twice", &long), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        fx.run("twice", &spec).await
    });
    assert_eq!(first.expect("first run").code, 0);
    assert!(matches!(second, Err(ExecError::IdInUse { .. })), "{second:?}");
}

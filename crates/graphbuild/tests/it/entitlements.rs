//! Entitlements: `RUN --network=host` and `RUN --security=insecure` run only when the build
//! says `--allow` and the state root's `config.toml` permits it, for `build` and for `solve`
//! of a Definition from any front end.
//!
//! These tests need root and runc, as the engine tests do.

use std::path::Path;
use std::process::Output;

use crate::engine::{Env, assert_ok, write};

const HOST_NETWORK: &str = "FROM busybox\nRUN echo plain\nRUN --network=host ip -o link > /links\n";
const INSECURE: &str = "FROM busybox\nRUN --security=insecure grep CapEff /proc/self/status > /caps\n";

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The line starting with `error:`.
fn error_line(output: &Output) -> String {
    stderr(output).lines().find(|l| l.starts_with("error:")).unwrap_or_default().to_owned()
}

fn permit(env: &Env, entitlements: &[&str]) {
    let list: Vec<String> = entitlements.iter().map(|e| format!("\"{e}\"")).collect();
    write(env.root.path(), "config.toml", &format!("entitlements = [{}]\n", list.join(", ")));
}

fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("context");
    write(dir.path(), "Dockerfile", dockerfile);
    dir
}

/// This process's bounding set, from `/proc/self/status`: all a privileged container can get.
fn own_capability_bounding_set() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).expect("CapBnd");
    u64::from_str_radix(hex.trim(), 16).expect("hex")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).expect("exported file")
}

#[test]
fn privileged_steps_are_refused_without_allow() {
    let env = Env::new();
    for (dockerfile, entitlement, line) in
        [(HOST_NETWORK, "network.host", "Dockerfile:3"), (INSECURE, "security.insecure", "Dockerfile:2")]
    {
        let context = context(dockerfile);
        let (output, events) = env.build(context.path(), &[]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let error = error_line(&output);
        assert!(error.contains(&format!("{entitlement} is not allowed")), "{}", stderr(&output));
        assert!(error.contains(line), "the Dockerfile line is named: {}", stderr(&output));
        assert!(stderr(&output).contains(&format!("--allow {entitlement}")), "a hint: {}", stderr(&output));
        assert!(
            !events.iter().any(|e| e["event"] == "op_started"),
            "nothing runs, not even the unprivileged steps before it"
        );
    }
}

#[test]
fn allow_needs_the_state_roots_permission() {
    let env = Env::new();
    let context = context(HOST_NETWORK);
    // No config.toml at all.
    let (output, _) = env.build(context.path(), &["--allow", "network.host"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = error_line(&output);
    assert!(
        error.contains("network.host is not permitted") && error.contains("config.toml"),
        "the message says where to permit it: {error}"
    );
    assert!(error.contains("entitlements = [\"network.host\"]"), "{error}");
    // A config.toml that permits something else.
    permit(&env, &["security.insecure"]);
    let (output, _) = env.build(context.path(), &["--allow=network.host"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        error_line(&output).contains("entitlements = [\"network.host\", \"security.insecure\"]"),
        "the suggestion keeps what is permitted: {}",
        stderr(&output)
    );
    // A name that is no entitlement is a usage error.
    let (output, _) = env.build(context.path(), &["--allow", "network.bridge"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn host_network_runs_when_allowed_and_permitted_and_is_refused_again_once_cached() {
    let env = Env::new();
    permit(&env, &["network.host"]);
    let context = context(HOST_NETWORK);
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["--allow", "network.host", "-o", &dest]);
    assert_ok(&output);
    let links = read(out.path(), "links");
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(':').nth(1)).map(str::trim).collect();
    assert!(names.contains(&"lo") && names.len() > 1, "the host's interfaces, not just loopback: {links}");
    // The result is cached now; without --allow it is still refused.
    let (output, _) = env.build(context.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(error_line(&output).contains("network.host is not allowed"), "{}", stderr(&output));
}

#[test]
fn insecure_runs_with_every_capability_when_allowed_and_permitted() {
    let env = Env::new();
    permit(&env, &["network.host", "security.insecure"]);
    let context = context(INSECURE);
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    // The comma-separated form grants both.
    let (output, _) = env.build(context.path(), &["--allow=network.host,security.insecure", "-o", &dest]);
    assert_ok(&output);
    let caps = read(out.path(), "caps");
    let effective = u64::from_str_radix(caps.trim().trim_start_matches("CapEff:").trim(), 16).expect("CapEff");
    // Every capability this machine can hand out: all ones, bar what graphbuild itself lacks
    // (a VM's root may not hold CAP_SYS_RESOURCE, and asking runc for more fails).
    assert_eq!(effective, own_capability_bounding_set(), "{caps}");
    assert_ne!(effective & (1 << 21), 0, "CAP_SYS_ADMIN, which Docker's default set leaves out: {caps}");
    assert_ne!(effective, 0xa804_25fb, "not Docker's default set: {caps}");
}

#[test]
fn solve_refuses_a_definition_asking_for_the_host_network() {
    let env = Env::new();
    let context = context(HOST_NETWORK);
    let lowered = env.cmd(&["lower"]).arg(context.path()).output().expect("lower");
    assert_ok(&lowered);
    let definition = context.path().join("definition.json");
    std::fs::write(&definition, &lowered.stdout).expect("write definition");
    let output = env.cmd(&["solve", "--progress", "plain"]).arg(&definition).output().expect("solve");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = error_line(&output);
    assert!(error.contains("network.host is not allowed"), "{}", stderr(&output));
    assert!(error.contains("Dockerfile:3"), "the op's source location from the metadata: {}", stderr(&output));
    // Granted and permitted, the same Definition runs.
    permit(&env, &["network.host"]);
    let output = env.cmd(&["solve", "--allow", "network.host"]).arg(&definition).output().expect("solve");
    assert_ok(&output);
}

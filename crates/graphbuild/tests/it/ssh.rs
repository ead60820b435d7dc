//! `--ssh` and `RUN --mount=type=ssh`: a real OpenSSH agent reached from a step through the
//! engine's relay, with OpenSSH's own `ssh-add` (and the libraries it links) copied into the
//! image to ask it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::engine::{Env, assert_ok, write};

/// An `ssh-agent` of the test's own, killed (by PID) when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("agent dir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent runs (install openssh-client)");
        let started = std::time::Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(started.elapsed().as_secs() < 10, "ssh-agent did not listen");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Self { child, socket, _dir: dir }
    }

    fn add(&self, key: &Path) {
        let status = Command::new("ssh-add").arg(key).env("SSH_AUTH_SOCK", &self.socket).status().expect("ssh-add");
        assert!(status.success());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new ed25519 key pair named `comment`, in `dir`.
fn key(dir: &Path, comment: &str) -> PathBuf {
    let path = dir.join(comment);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen (install openssh-client)");
    assert!(status.success());
    path
}

/// `ssh-add` and the shared libraries it loads, at their own paths below `sysroot`.
fn copy_ssh_add(sysroot: &Path) {
    let binary = Path::new("/usr/bin/ssh-add");
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
    let libraries = String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().find(|word| word.starts_with('/')).map(PathBuf::from))
        .collect::<Vec<_>>();
    for file in std::iter::once(binary.to_path_buf()).chain(libraries) {
        let target = sysroot.join(file.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

#[test]
fn ssh_mounts_reach_the_agents_given_with_ssh() {
    let env = Env::new();
    let keys = tempfile::tempdir().expect("keys");
    let (agent_key, file_key) = (key(keys.path(), "agent-key"), key(keys.path(), "file-key"));
    let agent = Agent::start();
    agent.add(&agent_key);

    let context = tempfile::tempdir().expect("context");
    copy_ssh_add(&context.path().join("sysroot"));
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nCOPY sysroot/ /\n\
         RUN --mount=type=ssh ssh-add -l > /default.txt && echo \"$SSH_AUTH_SOCK\" > /default-sock.txt\n\
         RUN --mount=type=ssh,id=keys,target=/keys.sock,uid=1234,mode=0640 stat -c '%u %a' /keys.sock > /stat.txt && SSH_AUTH_SOCK=/keys.sock ssh-add -l > /keys.txt\n\
         RUN --mount=type=ssh,id=absent test ! -e /run/buildkit/ssh_agent.0 && echo skipped > /absent.txt\n",
    );
    let out = tempfile::tempdir().expect("out");
    let output = env
        .cmd(&["build", "--progress", "plain", "--ssh", "default", "--ssh"])
        .arg(format!("keys={}", file_key.display()))
        .arg("-o")
        .arg(format!("type=local,dest={}", out.path().display()))
        .arg(context.path())
        .env("SSH_AUTH_SOCK", &agent.socket)
        .output()
        .expect("build");
    assert_ok(&output);
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(read("default.txt").contains("agent-key (ED25519)"), "{}", read("default.txt"));
    assert_eq!(read("default-sock.txt").trim(), "/run/buildkit/ssh_agent.0", "the first agent is SSH_AUTH_SOCK");
    assert_eq!(read("stat.txt").trim(), "1234 640", "the socket has the mount's owner and mode");
    assert!(read("keys.txt").contains("file-key (ED25519)"), "{}", read("keys.txt"));
    assert_eq!(read("absent.txt").trim(), "skipped", "an optional agent not given mounts nothing");

    // A required agent the build was not given fails the step with BuildKit's message.
    let required = tempfile::tempdir().expect("context");
    write(required.path(), "Dockerfile", "FROM busybox\nRUN --mount=type=ssh,id=nope,required=true true\n");
    let failed = env.cmd(&["build", "--progress", "plain"]).arg(required.path()).output().expect("build");
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no SSH key \"nope\" forwarded from the client"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    // `default` without an agent in the environment is refused, as buildx refuses it.
    let no_agent = env
        .cmd(&["build", "--ssh", "default"])
        .arg(required.path())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("build");
    assert_eq!(no_agent.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_agent.stderr).contains("make sure SSH_AUTH_SOCK is set"));
}

/// The agent a build starts for `--ssh ID=KEY` ends with the build, and with the server when the
/// server is killed mid-build: nothing is left running.
#[test]
fn the_agent_for_key_files_never_outlives_its_build() {
    let env = Env::new();
    let keys = tempfile::tempdir().expect("keys");
    let key = key(keys.path(), "file-key");
    let root = env.root.path().display().to_string();
    let agents = || crate::crash::processes_with(&format!("ssh-agent -D -a {root}"));
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN --mount=type=ssh,id=k test -S /run/buildkit/ssh_agent.0\n");
    let output = env
        .cmd(&["build", "--progress", "plain", "--ssh"])
        .arg(format!("k={}", key.display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    assert_eq!(agents(), Vec::new(), "the agent ended with the build");

    // Killed mid-build (its RUN waits), the server takes its agent with it.
    write(context.path(), "Dockerfile", "FROM busybox\nRUN --mount=type=ssh,id=k sleep 600\n");
    let mut build = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(["build", "--progress", "plain", "--ssh"])
        .arg(format!("k={}", key.display()))
        .arg(context.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("build");
    let started = std::time::Instant::now();
    while agents().is_empty() {
        assert!(started.elapsed().as_secs() < 30, "no agent started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let server = crate::crash::server_pid(&env);
    let _ = std::process::Command::new("kill").args(["-9", &server.to_string()]).status();
    crate::crash::wait_until_dead(server);
    let _ = build.wait();
    let started = std::time::Instant::now();
    while !agents().is_empty() {
        assert!(started.elapsed().as_secs() < 30, "the agent outlived its killed server: {:?}", agents());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The next command's server unmounts what the killed one left (the step's root file system).
    assert_ok(&env.cmd(&["images"]).output().expect("images"));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(&root), "a mount below the root is left: {mounts}");
}

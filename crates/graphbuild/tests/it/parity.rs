//! Where graphbuild must build what BuildKit builds (issue 11): each case names the BuildKit
//! behaviour it checks (v0.32.2, `frontend/dockerfile/dockerfile2llb` and its integration tests).

use serde_json::Value;

use crate::engine::{Env, assert_ok, write};

/// `FROM scratch` starts from BuildKit's empty image (`emptyImage` in dockerfile2llb): the
/// root as working directory and the default PATH.
#[test]
fn a_scratch_image_has_the_root_as_workdir_and_the_default_path() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n");
    write(context.path(), "a.txt", "scratch");
    let output =
        env.cmd(&["build", "--progress", "plain", "-t", "parity:scratch"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let inspect = env.cmd(&["image", "inspect", "parity:scratch"]).output().expect("inspect");
    assert_ok(&inspect);
    let image: Value = serde_json::from_slice(&inspect.stdout).expect("inspect JSON");
    let config = &image[0]["Config"];
    assert_eq!(config["WorkingDir"], "/", "{config}");
    assert_eq!(config["Env"], serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]));
}

/// Image history reads as BuildKit writes it (`dockerfile2llb` `dispatchCopy`,
/// `dispatchWorkdir`): a COPY's entry keeps `--chown`/`--chmod` but not `--from`, and
/// `WORKDIR /` makes no layer.
#[test]
fn history_reads_as_buildkit_writes_it() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS base\nCOPY a.txt /foo2\nFROM busybox\nCOPY --from=base --chmod=600 foo2 foo3\nWORKDIR /\nEXPOSE 2375 5000 1234/udp\n",
    );
    write(context.path(), "a.txt", "history");
    let output =
        env.cmd(&["build", "--progress", "plain", "-t", "parity:history"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let inspect = env.cmd(&["image", "inspect", "parity:history"]).output().expect("inspect");
    assert_ok(&inspect);
    let image: Value = serde_json::from_slice(&inspect.stdout).expect("inspect JSON");
    let history = image[0]["History"].as_array().expect("history").clone();
    let last: Vec<(String, bool)> = history[history.len() - 3..]
        .iter()
        .map(|h| (h["created_by"].as_str().unwrap_or_default().to_owned(), h["empty_layer"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(
        last,
        [
            ("COPY --chmod=600 foo2 foo3 # buildkit".to_owned(), false),
            ("WORKDIR /".to_owned(), true),
            ("EXPOSE [1234/udp 2375/tcp 5000/tcp]".to_owned(), true),
        ]
    );
    let layers = image[0]["RootFS"]["Layers"].as_array().expect("layers").len();
    let with_layer = history.iter().filter(|h| !h["empty_layer"].as_bool().unwrap_or(false)).count();
    assert_eq!(layers, with_layer, "one layer per entry that is not empty");
}

/// `ADD --unpack=false` copies a local archive as it is; without the flag (or with `=true`) it is
/// unpacked (BuildKit's `ADD --unpack`, dockerfile_addunpack_test.go).
#[test]
fn add_unpack_false_keeps_a_local_archive_whole() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "inner/file.txt", "inside");
    let tar = std::process::Command::new("tar")
        .args(["-C", "inner", "-cf", "a.tar", "file.txt"])
        .current_dir(context.path())
        .status()
        .expect("tar");
    assert!(tar.success());
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nADD --unpack=false a.tar /kept/\nADD a.tar /unpacked/\nADD --unpack=true a.tar /also/\n",
    );
    let out = tempfile::tempdir().expect("out");
    let output = env
        .cmd(&["build", "--progress", "plain", "-o"])
        .arg(format!("type=local,dest={}", out.path().display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    assert!(out.path().join("kept/a.tar").is_file(), "the archive was kept whole");
    assert!(!out.path().join("kept/file.txt").exists());
    assert_eq!(std::fs::read_to_string(out.path().join("unpacked/file.txt")).expect("unpacked"), "inside");
    assert_eq!(std::fs::read_to_string(out.path().join("also/file.txt")).expect("unpacked"), "inside");
    let bad = tempfile::tempdir().expect("context");
    write(bad.path(), "Dockerfile", "FROM busybox\nADD --unpack=maybe a.tar /x/\n");
    let refused = env.cmd(&["build"]).arg(bad.path()).output().expect("build");
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
}

/// A RUN's supplementary groups are those BuildKit gives, the primary group first (checked side
/// by side with BuildKit v0.32.2 on this busybox Dockerfile: `groups=0(root)`,
/// `groups=1001(u1),2002(g2)`, `groups=2002(g2)`).
#[test]
fn a_user_gets_buildkits_supplementary_groups() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN id > /root-id\nRUN echo 'u1:x:1001:1001::/home/u1:/bin/sh' >> /etc/passwd && printf 'u1:x:1001:\\ng2:x:2002:u1\\n' >> /etc/group\nUSER u1\nRUN id > /tmp/u1-id\nUSER u1:g2\nRUN id > /tmp/u1g2-id\n",
    );
    let out = tempfile::tempdir().expect("out");
    let output = env
        .cmd(&["build", "--progress", "plain", "-o"])
        .arg(format!("type=local,dest={}", out.path().display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    let read = |path: &str| std::fs::read_to_string(out.path().join(path)).expect(path).trim().to_owned();
    assert_eq!(read("root-id"), "uid=0(root) gid=0(root) groups=0(root)");
    assert_eq!(read("tmp/u1-id"), "uid=1001(u1) gid=1001(u1) groups=1001(u1),2002(g2)");
    assert_eq!(read("tmp/u1g2-id"), "uid=1001(u1) gid=2002(g2) groups=2002(g2)");
}

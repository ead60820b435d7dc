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
    let out = env.build_local(context.path(), &[]);
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
    let out = env.build_local(context.path(), &[]);
    let read = |path: &str| std::fs::read_to_string(out.path().join(path)).expect(path).trim().to_owned();
    assert_eq!(read("root-id"), "uid=0(root) gid=0(root) groups=0(root)");
    assert_eq!(read("tmp/u1-id"), "uid=1001(u1) gid=1001(u1) groups=1001(u1),2002(g2)");
    assert_eq!(read("tmp/u1g2-id"), "uid=1001(u1) gid=2002(g2) groups=2002(g2)");
}

/// A wildcard that matches nothing copies nothing, beside other sources or alone (checked side
/// by side with BuildKit v0.32.2: `COPY a.txt nomatch* /w/` copies a.txt; `COPY nomatch* /v/`
/// succeeds and makes no /v).
#[test]
fn an_empty_wildcard_copies_nothing() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nCOPY a.txt nomatch* /w/\nCOPY nomatch* /v/\n");
    write(context.path(), "a.txt", "matched");
    let out = env.build_local(context.path(), &[]);
    assert_eq!(std::fs::read_to_string(out.path().join("w/a.txt")).expect("a.txt"), "matched");
    assert!(!out.path().join("v").exists(), "an empty wildcard alone makes no destination");
}

/// Directories a COPY with an octal `--chmod` creates get that mode, as BuildKit gives them;
/// a symbolic `--chmod` leaves them 755 (checked side by side with BuildKit v0.32.2).
#[test]
fn directories_a_chmod_copy_creates_get_its_mode() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nCOPY --chmod=0777 a.txt /p/q/a.txt\nCOPY --chmod=0644 a.txt /r/s/\nCOPY --chmod=u+x a.txt /t/u/\nRUN stat -c '%a %n' /p /p/q /r /r/s /t /t/u > /modes\n",
    );
    write(context.path(), "a.txt", "mode");
    let out = env.build_local(context.path(), &[]);
    assert_eq!(
        std::fs::read_to_string(out.path().join("modes")).expect("modes"),
        "777 /p\n777 /p/q\n644 /r\n644 /r/s\n755 /t\n755 /t/u\n"
    );
}

/// A RUN's host name is BuildKit's `buildkitsandbox`, or the `BUILDKIT_SANDBOX_HOSTNAME`
/// build arg; a proxy build arg given in either case reaches the process in both, as BuildKit
/// passes them.
#[test]
fn sandbox_hostname_and_proxy_build_args_reach_a_run() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN hostname > /h && echo \"$HTTP_PROXY|$http_proxy\" > /proxy\n",
    );
    let build = |args: &[&str]| {
        let out = env.build_local(context.path(), args);
        let read = |path: &str| std::fs::read_to_string(out.path().join(path)).expect(path).trim().to_owned();
        (read("h"), read("proxy"))
    };
    assert_eq!(build(&[]), ("buildkitsandbox".to_owned(), "|".to_owned()));
    assert_eq!(
        build(&["--build-arg", "BUILDKIT_SANDBOX_HOSTNAME=myhost", "--build-arg", "http_proxy=http://proxy.test:3128"]),
        ("myhost".to_owned(), "http://proxy.test:3128|http://proxy.test:3128".to_owned())
    );
}

/// Several wildcard matches copied to a destination without a trailing slash: archives unpack
/// into it and directories merge into it, as BuildKit's file op copies each match in turn
/// (`ADD *.tar /dest`, `ADD --exclude=... dir* /dest`); an archive entry that climbs out with
/// `../` lands inside the destination, as BuildKit extracts in a chroot.
#[test]
fn several_matches_unpack_and_merge_into_a_destination_without_a_slash() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    let tar = |name: &str, entry: &str, body: &str| {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(body.len() as u64);
        let bytes = header.as_gnu_mut().expect("gnu header");
        bytes.name[..entry.len()].copy_from_slice(entry.as_bytes());
        header.set_cksum();
        builder.append(&header, body.as_bytes()).expect("append");
        std::fs::write(context.path().join(name), builder.into_inner().expect("tar")).expect("write tar");
    };
    tar("one.tar", "one.txt", "1");
    tar("two.tar", "../../two.txt", "2");
    write(context.path(), "dir1/a.txt", "a");
    write(context.path(), "dir1/skip.tmp", "tmp");
    write(context.path(), "dir2/b.txt", "b");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nADD *.tar /dest\nADD --exclude=*.tmp dir* /merged\nCOPY --parents dir*/*.txt nomatch*/x /parents/\n",
    );
    let out = env.build_local(context.path(), &[]);
    let read = |path: &str| std::fs::read_to_string(out.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!((read("dest/one.txt"), read("dest/two.txt")), ("1".to_owned(), "2".to_owned()));
    assert!(!out.path().join("two.txt").exists(), "nothing lands outside the destination");
    assert_eq!((read("merged/a.txt"), read("merged/b.txt")), ("a".to_owned(), "b".to_owned()));
    assert!(!out.path().join("merged/skip.tmp").exists(), "--exclude applies to every match");
    assert_eq!((read("parents/dir1/a.txt"), read("parents/dir2/b.txt")), ("a".to_owned(), "b".to_owned()));
}

/// MAINTAINER sets the image's Author as written (BuildKit's `dispatchMaintainer` expands no
/// variable and sets no label), and a child image keeps its base's Author.
#[test]
fn maintainer_sets_the_author_as_written() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox AS base\nENV X=y\nMAINTAINER someone $X\nFROM base\nRUN true\n");
    let output =
        env.cmd(&["build", "--progress", "plain", "-t", "parity:author"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let inspect = env.cmd(&["image", "inspect", "parity:author"]).output().expect("inspect");
    assert_ok(&inspect);
    let image: Value = serde_json::from_slice(&inspect.stdout).expect("inspect JSON");
    assert_eq!(image[0]["Author"], "someone $X");
    assert!(image[0]["Config"]["Labels"].get("maintainer").is_none(), "{}", image[0]["Config"]);
}

/// An ARG with a value replaces an ENV of its name for the steps after it, but not in the
/// image: BuildKit's `dispatchArg` adds the value to the build state's env, where the later of
/// ENV and ARG wins, while the image config keeps the ENV. A RUN's history lists every ARG of
/// the stage with the value the step sees (`runCommandString`), `K=` for one without.
#[test]
fn an_arg_after_an_env_of_its_name_wins_for_the_steps_as_in_buildkit() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nENV K=env\nARG K=arg\nARG EMPTY\nRUN echo \"$K\" > /after-arg\nENV L=$K\n\
         ENV K=env-again\nRUN echo \"$K\" > /after-env\n",
    );
    let out = env.build_local(context.path(), &["-t", "parity:argenv", "--build-arg", "K=cli"]);
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).expect(name);
    assert_eq!(read("after-arg"), "cli\n", "the ARG (its --build-arg value) came after the ENV");
    assert_eq!(read("after-env"), "env-again\n", "the ENV came after the ARG");
    let inspect = env.cmd(&["image", "inspect", "parity:argenv"]).output().expect("inspect");
    assert_ok(&inspect);
    let image: Value = serde_json::from_slice(&inspect.stdout).expect("inspect JSON");
    let config_env = image[0]["Config"]["Env"].as_array().expect("env").clone();
    assert!(config_env.contains(&Value::from("K=env-again")), "{config_env:?}");
    assert!(config_env.contains(&Value::from("L=cli")), "ENV expands with the ARG's value: {config_env:?}");
    let history = image[0]["History"].as_array().expect("history");
    let runs: Vec<&str> = history
        .iter()
        .filter_map(|entry| entry["created_by"].as_str())
        .filter(|created_by| created_by.starts_with("RUN"))
        .collect();
    assert_eq!(
        runs,
        [
            "RUN |2 K=cli EMPTY= /bin/sh -c echo \"$K\" > /after-arg # buildkit",
            "RUN |2 K=env-again EMPTY= /bin/sh -c echo \"$K\" > /after-env # buildkit",
        ]
    );
}

/// BuildKit's content-based cache: a step that copies part of a stage (`COPY --from`) or
/// mounts it (`RUN --mount=from=`) is keyed by the content of that part, so when the stage
/// changes elsewhere the step, and what follows it, stays cached.
#[test]
fn a_changed_stage_whose_copied_files_are_the_same_leaves_later_steps_cached() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS build\nCOPY bust /bust\nRUN mkdir -p /out && echo stable > /out/app && cat /bust > /log\n\
         FROM busybox\nCOPY --from=build /out/app /app\nRUN head -c 16 /dev/urandom | od -x > /unique\n\
         RUN --mount=from=build,src=/out,target=/mnt cat /mnt/app > /mounted && head -c 16 /dev/urandom | od -x > /unique2\n",
    );
    let build = |bust: &str| {
        write(context.path(), "bust", bust);
        let out = tempfile::tempdir().expect("out");
        let output = env
            .cmd(&["build", "--progress", "plain", "-o"])
            .arg(format!("type=local,dest={}", out.path().display()))
            .arg(context.path())
            .output()
            .expect("build");
        assert_ok(&output);
        let read = |name: &str| std::fs::read_to_string(out.path().join(name)).expect(name);
        (read("unique"), read("unique2"), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (unique, unique2, _) = build("one");
    let (again, again2, log) = build("two");
    assert!(log.contains("RUN mkdir -p /out"), "the build stage ran again: {log}");
    assert_eq!(again, unique, "the RUN after the COPY --from stayed cached: {log}");
    assert_eq!(again2, unique2, "the RUN that mounts the stage stayed cached: {log}");
    // A change to the copied file runs them again.
    write(
        context.path(),
        "Dockerfile",
        &std::fs::read_to_string(context.path().join("Dockerfile")).expect("Dockerfile").replace("stable", "changed"),
    );
    let (changed, changed2, _) = build("two");
    assert_ne!(changed, unique);
    assert_ne!(changed2, unique2);
}

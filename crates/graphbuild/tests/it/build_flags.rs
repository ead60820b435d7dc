//! `docker buildx build` flags scripts rely on: `-q` (only the image id), `--iidfile`,
//! `--metadata-file` (buildx's JSON) and `--label`, each checked against what `image inspect`
//! says of the image built.

use std::path::Path;

use serde_json::Value;

use crate::engine::{Env, assert_ok, write};

/// A context whose image has a label of its own and a file.
fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("context");
    write(dir.path(), "Dockerfile", "FROM busybox\nLABEL from=dockerfile keep=yes\nCOPY a.txt /a.txt\n");
    write(dir.path(), "a.txt", "flags");
    dir
}

fn inspect(env: &Env, name: &str) -> Value {
    let output = env.cmd(&["image", "inspect", name]).output().expect("inspect");
    assert_ok(&output);
    let all: Value = serde_json::from_slice(&output.stdout).expect("inspect JSON");
    all[0].clone()
}

#[test]
fn quiet_prints_only_the_image_id() {
    let env = Env::new();
    let context = context();
    let output = env.cmd(&["build", "-q", "-t", "flags:q"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim_end(), inspect(&env, "flags:q")["Id"].as_str().expect("id"), "{stdout:?}");
    assert!(stdout.starts_with("sha256:") && stdout.lines().count() == 1, "{stdout:?}");
    assert!(output.stderr.is_empty(), "no progress: {}", String::from_utf8_lossy(&output.stderr));
    // Without a name, the image is still made and named by its id.
    let unnamed = env.cmd(&["build", "--quiet"]).arg(context.path()).output().expect("build");
    assert_ok(&unnamed);
    assert_eq!(unnamed.stdout, output.stdout, "the same image, with or without a name");
}

#[test]
fn iidfile_and_metadata_file_name_the_image_built() {
    let env = Env::new();
    let context = context();
    let out = tempfile::tempdir().expect("out");
    let (iid, metadata) = (out.path().join("iid"), out.path().join("metadata.json"));
    let output = env
        .cmd(&["build", "--progress", "plain", "-t", "flags:1", "-t", "registry.lan:5000/flags:2"])
        .arg("--iidfile")
        .arg(&iid)
        .arg("--metadata-file")
        .arg(&metadata)
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    let image = inspect(&env, "flags:1");
    let id = image["Id"].as_str().expect("id");
    assert_eq!(std::fs::read_to_string(&iid).expect("iidfile"), id);
    let metadata: Value = serde_json::from_str(&std::fs::read_to_string(&metadata).expect("metadata")).expect("JSON");
    assert_eq!(metadata["containerimage.config.digest"], id);
    assert_eq!(metadata["containerimage.digest"], image["ManifestDigest"]);
    assert_eq!(metadata["containerimage.descriptor"]["digest"], image["ManifestDigest"]);
    assert_eq!(metadata["containerimage.descriptor"]["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert!(metadata["containerimage.descriptor"]["size"].as_u64().is_some_and(|size| size > 0), "{metadata}");
    assert_eq!(metadata["image.name"], "docker.io/library/flags:1,registry.lan:5000/flags:2");
}

#[test]
fn labels_from_the_command_line_come_after_the_dockerfiles() {
    let env = Env::new();
    let context = context();
    let output = env
        .cmd(&["build", "--progress", "plain", "-t", "flags:labels", "--label", "from=cli", "--label", "bare"])
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    let labels = &inspect(&env, "flags:labels")["Config"]["Labels"];
    assert_eq!(labels["from"], "cli", "{labels}");
    assert_eq!(labels["keep"], "yes", "{labels}");
    assert_eq!(labels["bare"], "", "{labels}");
    let bad = env.cmd(&["build", "--label", "=x"]).arg(context.path()).output().expect("build");
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn source_date_epoch_as_a_build_arg_dates_the_image_as_buildkit_does() {
    let env = Env::new();
    let context = context();
    let output = env
        .cmd(&["build", "--progress", "plain", "-t", "flags:sde", "--build-arg", "SOURCE_DATE_EPOCH=1700000000"])
        .arg(context.path())
        .env("SOURCE_DATE_EPOCH", "1600000000")
        .output()
        .expect("build");
    assert_ok(&output);
    let image = inspect(&env, "flags:sde");
    assert_eq!(image["Created"], "2023-11-14T22:13:20Z", "the build arg wins over the environment");
    let history = image["History"].as_array().expect("history");
    let last = history.last().expect("an entry");
    assert_eq!(last["created"], "2023-11-14T22:13:20Z", "{last}");
}

/// SOURCE_DATE_EPOCH as BuildKit's front end resolves it: the Dockerfile's global ARG default
/// (which RUN steps then see, and which dates every file of a local export), the time of a
/// `FROM scratch` stage's one remote ADD (the newest file of the archive an http server gives
/// without Last-Modified), and `context` (a git context's commit time); a value that is none of
/// these fails the build.
#[test]
fn source_date_epoch_comes_from_the_dockerfile_a_source_stage_or_the_context() {
    use std::os::unix::fs::MetadataExt as _;
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "ARG SOURCE_DATE_EPOCH=1700000000\nFROM busybox\nARG SOURCE_DATE_EPOCH\nRUN echo $SOURCE_DATE_EPOCH > /sde\n",
    );
    let out = env.build_local(context.path(), &["-t", "sde:default"]);
    assert_eq!(std::fs::read_to_string(out.path().join("sde")).expect("sde"), "1700000000\n");
    for file in ["sde", "bin/busybox", "etc"] {
        let mtime = std::fs::symlink_metadata(out.path().join(file)).expect(file).mtime();
        assert_eq!(mtime, 1_700_000_000, "{file}: a local export dates every file with the epoch");
    }
    assert_eq!(inspect(&env, "sde:default")["Created"], "2023-11-14T22:13:20Z");

    // A source stage: the archive's newest file (2017-07-14T02:40:00Z).
    let served = tempfile::tempdir().expect("served");
    let files = tempfile::tempdir().expect("files");
    write(files.path(), "old.txt", "old");
    write(files.path(), "new.txt", "new");
    let status = std::process::Command::new("sh")
        .arg("-ec")
        .arg(format!(
            "touch -d @1400000000 old.txt && touch -d @1500000000 new.txt && tar -cf {}/src.tar old.txt new.txt",
            served.path().display()
        ))
        .current_dir(files.path())
        .status()
        .expect("tar");
    assert!(status.success());
    let server = crate::engine::FileServer::serve(served.path().to_path_buf());
    write(
        context.path(),
        "Dockerfile",
        &format!(
            "ARG SOURCE_DATE_EPOCH=src\nFROM scratch AS src\nADD http://127.0.0.1:{}/src.tar /\nFROM busybox\nRUN echo built > /built\n",
            server.port
        ),
    );
    let output =
        env.cmd(&["build", "--progress", "plain", "-t", "sde:stage"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    assert_eq!(inspect(&env, "sde:stage")["Created"], "2017-07-14T02:40:00Z");

    // `context`: a git context's commit time (2020-09-13T12:26:40Z).
    let work = tempfile::tempdir().expect("work");
    write(work.path(), "Dockerfile", "FROM busybox\nCOPY hello.txt /\n");
    write(work.path(), "hello.txt", "hello");
    let status = std::process::Command::new("sh")
        .arg("-ec")
        .arg(format!(
            "git init -q -b main && git add . && git -c user.name=t -c user.email=t@example.com commit -q -m one && \
             git clone -q --bare . {0}/project.git && git -C {0}/project.git update-server-info",
            served.path().display()
        ))
        .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
        .current_dir(work.path())
        .status()
        .expect("git");
    assert!(status.success());
    let output = env
        .cmd(&["build", "--progress", "plain", "-t", "sde:git", "--build-arg", "SOURCE_DATE_EPOCH=context"])
        .arg(format!("http://127.0.0.1:{}/project.git#main", server.port))
        .output()
        .expect("build");
    assert_ok(&output);
    assert_eq!(inspect(&env, "sde:git")["Created"], "2020-09-13T12:26:40Z");

    // Neither a number, nor `context`, a named context or a stage.
    write(context.path(), "Dockerfile", "ARG SOURCE_DATE_EPOCH=not-a-timestamp\nFROM busybox\n");
    let output = env.cmd(&["build"]).arg(context.path()).output().expect("build");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid SOURCE_DATE_EPOCH: not-a-timestamp"));
}

/// `--secret id=ID,env=VAR` and a bare `--secret id=VAR` take the value from the user's
/// environment (through the server, from the client's), as buildx does; the value reaches the
/// step and no layer.
#[test]
fn secrets_come_from_environment_variables_too() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /tok\nRUN --mount=type=secret,id=GB_BARE,env=BARE [ \"$BARE\" = bare-value ] && echo ok > /bare\n",
    );
    let out = tempfile::tempdir().expect("out");
    let output = env
        .cmd(&["build", "--progress", "plain", "--secret", "id=tok,env=GB_TOKEN", "--secret", "type=env,id=GB_BARE"])
        .arg("-o")
        .arg(format!("type=local,dest={}", out.path().display()))
        .arg(context.path())
        .env("GB_TOKEN", "twelve-bytes")
        .env("GB_BARE", "bare-value")
        .output()
        .expect("build");
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(out.path().join("tok")).expect("tok").trim(), "12");
    assert_eq!(std::fs::read_to_string(out.path().join("bare")).expect("bare").trim(), "ok");
    let missing =
        env.cmd(&["build", "--secret", "id=tok,env=GB_UNSET_VARIABLE"]).arg(context.path()).output().expect("build");
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("the environment variable GB_UNSET_VARIABLE is not set"), "{stderr}");
}

/// `--add-host` puts entries into every RUN's `/etc/hosts`, and is part of the RUN's op (a
/// build without it does not take the result of one with it), as in BuildKit.
#[test]
fn add_host_entries_reach_every_run() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN grep myhost /etc/hosts > /hosts || true\n");
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let with = env
        .cmd(&[
            "build",
            "--progress",
            "plain",
            "--add-host",
            "myhost:10.1.2.3",
            "--add-host",
            "v6host=::1",
            "-o",
            &dest,
        ])
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&with);
    let hosts = std::fs::read_to_string(out.path().join("hosts")).expect("hosts");
    assert_eq!(hosts, "10.1.2.3\tmyhost\n");
    let without = env.cmd(&["build", "--progress", "plain", "-o", &dest]).arg(context.path()).output().expect("build");
    assert_ok(&without);
    assert_eq!(std::fs::read_to_string(out.path().join("hosts")).expect("hosts"), "", "not the other build's result");
    let bad = env.cmd(&["build", "--add-host", "myhost:not-an-ip"]).arg(context.path()).output().expect("build");
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// `--network` sets the network of every RUN that names none (`RUN --network=default` included),
/// as buildx's; `host` still needs its entitlement.
#[test]
fn network_sets_the_default_network_of_runs() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /plain\nRUN --network=default tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /named\n",
    );
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let none = env
        .cmd(&["build", "--progress", "plain", "--network", "none", "-o", &dest])
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&none);
    assert_eq!(std::fs::read_to_string(out.path().join("plain")).expect("plain"), "lo\n");
    assert_eq!(std::fs::read_to_string(out.path().join("named")).expect("named"), "lo\n");
    let default = env.cmd(&["build", "--progress", "plain", "-o", &dest]).arg(context.path()).output().expect("build");
    assert_ok(&default);
    let interfaces = std::fs::read_to_string(out.path().join("plain")).expect("plain");
    assert!(interfaces.lines().count() > 1, "the default network has an interface out: {interfaces:?}");
    let host = env.cmd(&["build", "--network", "host"]).arg(context.path()).output().expect("build");
    assert_eq!(host.status.code(), Some(1), "host needs --allow network.host");
    assert!(
        String::from_utf8_lossy(&host.stderr).contains("network.host"),
        "{}",
        String::from_utf8_lossy(&host.stderr)
    );
}

/// `--shm-size` and `--ulimit` reach every RUN, as `docker build`'s do; without them a RUN has
/// Docker's 64 MiB `/dev/shm`.
#[test]
fn shm_size_and_ulimit_reach_every_run() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN df -k /dev/shm | tail -n 1 | awk '{print $2}' > /shm && ulimit -n > /nofile && ulimit -s > /stack\n",
    );
    let build = |args: &[&str]| {
        let out = env.build_local(context.path(), args);
        let read = |path: &str| std::fs::read_to_string(out.path().join(path)).expect(path).trim().to_owned();
        (read("shm"), read("nofile"), read("stack"))
    };
    let (shm, _, _) = build(&[]);
    assert_eq!(shm, "65536", "Docker's default /dev/shm");
    let (shm, nofile, stack) =
        build(&["--shm-size", "128m", "--ulimit", "nofile=512:1024", "--ulimit", "stack=16777216"]);
    assert_eq!((shm.as_str(), nofile.as_str(), stack.as_str()), ("131072", "512", "16384"));
    let bad = env.cmd(&["build", "--ulimit", "nosuch=1"]).arg(context.path()).output().expect("build");
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid ulimit type: nosuch"));
}

/// `--no-cache-filter STAGE` runs that stage's RUN steps again, and what is built on them, as
/// `docker buildx build --no-cache-filter` (BuildKit's solver never lets a result made without
/// the cache vouch for a cached result built on the old one); the rest comes from the cache.
#[test]
fn no_cache_filter_runs_the_named_stages_again() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS first\nRUN echo one > /one\nFROM busybox AS second\nRUN echo two > /two\nCOPY --from=first /one /one\nRUN echo three > /three\n",
    );
    // Which of the three RUN steps ran (a step the build did not need, or CACHED, did not).
    let build = |args: &[&str]| {
        let output = env.cmd(&["build", "--progress", "plain"]).args(args).arg(context.path()).output().expect("build");
        assert_ok(&output);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let ran = |step: &str| {
            stderr
                .lines()
                .find(|line| line.ends_with(step))
                .and_then(|line| line.split_whitespace().next())
                .is_some_and(|number| !stderr.lines().any(|line| line == format!("{number} CACHED")))
        };
        [ran("RUN echo one > /one"), ran("RUN echo two > /two"), ran("RUN echo three > /three")]
    };
    assert_eq!(build(&[]), [true, true, true]);
    assert_eq!(build(&[]), [false, false, false]);
    assert_eq!(build(&["--no-cache-filter", "FIRST"]), [true, false, true], "stage names match in any case");
    assert_eq!(build(&["--no-cache-filter", "second"]), [false, true, true]);
    assert_eq!(build(&["--no-cache-filter", "other,first"]), [true, false, true]);
}

/// `--annotation` puts OCI annotations on the image manifest (the default type) and on its
/// descriptor in an OCI layout's index (`manifest-descriptor:`), as `docker buildx build
/// --annotation`; one for another platform is left out, and index annotations are refused for
/// a single-platform image with BuildKit's error.
#[test]
fn annotations_go_on_the_manifest_and_its_descriptor() {
    let env = Env::new();
    let context = context();
    let out = tempfile::tempdir().expect("out");
    let layout = out.path().join("layout");
    let output = env
        .cmd(&[
            "build",
            "--progress",
            "plain",
            "--annotation",
            "org.opencontainers.image.title=hello",
            "--annotation",
            "manifest,manifest-descriptor:com.example.both=yes",
            "--annotation",
            "manifest-descriptor:com.example.descriptor=only",
            "--annotation",
            "manifest[linux/s390x]:com.example.elsewhere=no",
            "-o",
        ])
        .arg(format!("type=oci,dest={},tar=false", layout.display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    let read = |path: std::path::PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .expect("json")
    };
    let index = read(layout.join("index.json"));
    let descriptor = &index["manifests"][0];
    assert_eq!(
        descriptor["annotations"],
        serde_json::json!({"com.example.both": "yes", "com.example.descriptor": "only"}),
        "{index}"
    );
    let digest = descriptor["digest"].as_str().expect("digest").trim_start_matches("sha256:");
    let manifest = read(layout.join("blobs/sha256").join(digest));
    assert_eq!(
        manifest["annotations"],
        serde_json::json!({"com.example.both": "yes", "org.opencontainers.image.title": "hello"}),
        "{manifest}"
    );

    let refused = env
        .cmd(&["build", "--annotation", "index:com.example.index=no", "-o"])
        .arg(format!("type=oci,dest={}", out.path().join("x.tar").display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("index annotations not supported for single platform export"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `--build-context` replaces a stage of that name, an image `FROM` names, and what `--from`
/// names, with an image or a local directory (read with its own `.dockerignore`), as `docker
/// buildx build --build-context`.
#[test]
fn build_contexts_replace_stages_images_and_from_names() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    let extra = tempfile::tempdir().expect("extra context");
    write(extra.path(), "extra.txt", "from the extra context");
    write(extra.path(), "secret.txt", "ignored");
    write(extra.path(), ".dockerignore", "secret.txt\n");
    write(
        context.path(),
        "Dockerfile",
        "FROM scratch AS base\nCOPY does-not-exist /\n\
         FROM alpine AS tools\nRUN echo tools > /tools.txt\n\
         FROM base\nCOPY --from=tools /tools.txt /tools.txt\nCOPY --from=extra / /extra/\nRUN echo ran > /ran.txt\n",
    );
    let out = env.build_local(
        context.path(),
        &[
            "--build-context",
            "base=docker-image://busybox",
            "--build-context",
            "alpine:latest=docker-image://busybox:latest",
            "--build-context",
            &format!("extra={}", extra.path().display()),
        ],
    );
    let read = |path: &str| std::fs::read_to_string(out.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(read("ran.txt"), "ran\n", "the stage named base became busybox, whose shell ran");
    assert_eq!(read("tools.txt"), "tools\n", "FROM alpine became busybox");
    assert_eq!(read("extra/extra.txt"), "from the extra context");
    assert!(!out.path().join("extra/secret.txt").exists(), "the context's own .dockerignore applies");

    let refused =
        env.cmd(&["build", "--build-context", "x=oci-layout:///nowhere"]).arg(context.path()).output().expect("build");
    assert_eq!(refused.status.code(), Some(1));
}

/// `--build-context NAME=oci-layout://PATH[:TAG][@DIGEST]` takes the image from an OCI layout,
/// as BuildKit's testNamedOCILayoutContext (dockerfile_namedcontext_test.go): a stage and a
/// `FROM` name both become the layout's image (its files and its `ENV`), found by digest, by
/// `org.opencontainers.image.ref.name` tag, or as the layout's only image; an index gives each
/// platform its own manifest.
#[test]
fn build_contexts_come_from_oci_layouts() {
    let env = Env::new();
    let layout_source = context();
    write(
        layout_source.path(),
        "Dockerfile",
        "FROM busybox:latest\nWORKDIR /test\nRUN sh -c \"echo -n first > out\"\nRUN sh -c \"echo -n second > out2\"\nENV foo=bar\n",
    );
    let layouts = tempfile::tempdir().expect("layouts");
    let layout = layouts.path().join("layout");
    let output = env
        .cmd(&["build", "-q", "-t", "made:v1", "-o"])
        .arg(format!("type=oci,dest={},tar=false", layout.display()))
        .arg(layout_source.path())
        .output()
        .expect("build");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json")).expect("json");
    let digest = index["manifests"][0]["digest"].as_str().expect("a digest").to_owned();

    let context = context();
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS base\nRUN cat /etc/alpine-release > out\n\
         FROM foo AS imported\nRUN echo -n $foo > outfoo\n\
         FROM scratch\nCOPY --from=base /test/o* /\nCOPY --from=imported /test/outfoo /\n",
    );
    let by_digest = format!("oci-layout://{}@{digest}", layout.display());
    let out = env.build_local(
        context.path(),
        &["--build-context", &format!("base={by_digest}"), "--build-context", &format!("foo={by_digest}")],
    );
    let read =
        |dir: &Path, path: &str| std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(read(out.path(), "out"), "first", "the stage named base is the layout's image");
    assert_eq!(read(out.path(), "out2"), "second");
    assert_eq!(read(out.path(), "outfoo"), "bar", "FROM foo has the layout image's ENV");

    // By tag, relative to the working directory, and refused for a platform it lacks.
    write(context.path(), "Dockerfile", "FROM foo\nRUN cp /test/out /copied\n");
    let out = tempfile::tempdir().expect("out");
    let by_tag = env
        .cmd(&["build", "--progress", "plain", "--build-context", "foo=oci-layout://layout:v1", "-o"])
        .arg(format!("type=local,dest={}", out.path().display()))
        .arg(context.path())
        .current_dir(layouts.path())
        .output()
        .expect("build");
    assert!(by_tag.status.success(), "{}", String::from_utf8_lossy(&by_tag.stderr));
    assert_eq!(read(out.path(), "copied"), "first");
    let other_platform = env
        .cmd(&["build", "--platform", "linux/s390x", "--build-context"])
        .arg(format!("foo=oci-layout://{}:v1", layout.display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_eq!(other_platform.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other_platform.stderr).contains("is for linux/amd64, not linux/s390x"));
    let missing = env
        .cmd(&["build", "--build-context", "foo=oci-layout:///nowhere/layout"])
        .arg(context.path())
        .output()
        .expect("build");
    assert_eq!(missing.status.code(), Some(1), "{}", String::from_utf8_lossy(&missing.stderr));

    // A layout holding an index: each platform of a multi-platform build takes its own image.
    let multi_source = tempfile::tempdir().expect("context");
    write(multi_source.path(), "Dockerfile", "FROM scratch\nARG TARGETARCH\nCOPY $TARGETARCH.txt /arch.txt\n");
    write(multi_source.path(), "amd64.txt", "made for amd64");
    write(multi_source.path(), "arm64.txt", "made for arm64");
    let multi = layouts.path().join("multi");
    let output = env
        .cmd(&["build", "-q", "--platform", "linux/amd64,linux/arm64", "-o"])
        .arg(format!("type=oci,dest={},tar=false", multi.display()))
        .arg(multi_source.path())
        .output()
        .expect("build");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    write(context.path(), "Dockerfile", "FROM scratch\nCOPY --from=foo /arch.txt /from-layout.txt\n");
    let out = tempfile::tempdir().expect("out");
    let output = env
        .cmd(&["build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--build-context"])
        .arg(format!("foo=oci-layout://{}", multi.display()))
        .arg("-o")
        .arg(format!("type=local,dest={}", out.path().display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(read(out.path(), "linux_amd64/from-layout.txt"), "made for amd64");
    assert_eq!(read(out.path(), "linux_arm64/from-layout.txt"), "made for arm64");
}

/// `build -` reads the context from standard input, as `docker build -`: a (compressed) tar
/// archive is the context, `-f` naming a file in it; anything else is the Dockerfile, with an
/// empty context.
#[test]
fn a_context_or_a_dockerfile_comes_from_standard_input() {
    let env = Env::new();
    let build_from_stdin = |input: Vec<u8>, extra: &[&str]| {
        let out = tempfile::tempdir().expect("out");
        let output = env
            .cmd(&["build", "--progress", "plain"])
            .args(extra)
            .arg("-o")
            .arg(format!("type=local,dest={}", out.path().display()))
            .arg("-")
            .write_stdin(input)
            .output()
            .expect("build");
        assert_ok(&output);
        out
    };

    let out = build_from_stdin(b"FROM busybox\nRUN echo hi > /hi.txt\nCOPY . /ctx/\n".to_vec(), &[]);
    assert_eq!(std::fs::read_to_string(out.path().join("hi.txt")).expect("hi"), "hi\n");
    let copied: Vec<_> = std::fs::read_dir(out.path().join("ctx")).expect("ctx").collect();
    assert!(copied.is_empty(), "the context of a Dockerfile on standard input is empty: {copied:?}");

    let context = tempfile::tempdir().expect("context");
    write(context.path(), "sub/Build.dockerfile", "FROM busybox\nCOPY data.txt /data.txt\n");
    write(context.path(), "data.txt", "packed");
    let archive =
        std::process::Command::new("tar").args(["-cz", "-C"]).arg(context.path()).arg(".").output().expect("tar");
    assert!(archive.status.success());
    let out = build_from_stdin(archive.stdout, &["-f", "sub/Build.dockerfile"]);
    assert_eq!(std::fs::read_to_string(out.path().join("data.txt")).expect("data"), "packed");
}

/// `build URL`: an http(s) tarball or a git repository (`URL.git#ref:subdir`) is the context,
/// as `docker build URL` takes them.
#[test]
fn a_context_comes_from_an_http_tarball_or_a_git_repository() {
    let env = Env::new();
    let served = tempfile::tempdir().expect("served");
    // A tarball context.
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nCOPY data.txt /data.txt\n");
    write(context.path(), "data.txt", "from the tarball");
    let archive =
        std::process::Command::new("tar").args(["-cz", "-C"]).arg(context.path()).arg(".").output().expect("tar");
    assert!(archive.status.success());
    std::fs::write(served.path().join("context.tar.gz"), archive.stdout).expect("write tarball");
    // A git repository, served over git's dumb http protocol, with the context in a subdirectory.
    let work = tempfile::tempdir().expect("work tree");
    let git = |dir: &std::path::Path, args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(work.path(), &["init", "-q", "-b", "main"]);
    write(work.path(), "app/Dockerfile", "FROM busybox\nCOPY note.txt /note.txt\n");
    write(work.path(), "app/note.txt", "from git");
    git(work.path(), &["add", "."]);
    git(work.path(), &["commit", "-q", "-m", "context"]);
    let bare = served.path().join("repo.git");
    git(served.path(), &["clone", "-q", "--bare", &work.path().display().to_string(), "repo.git"]);
    git(&bare, &["update-server-info"]);
    let server = crate::engine::FileServer::serve(served.path().to_path_buf());

    let out = env.build_local(std::path::Path::new(&format!("http://127.0.0.1:{}/context.tar.gz", server.port)), &[]);
    assert_eq!(std::fs::read_to_string(out.path().join("data.txt")).expect("data"), "from the tarball");
    let out =
        env.build_local(std::path::Path::new(&format!("http://127.0.0.1:{}/repo.git#main:app", server.port)), &[]);
    assert_eq!(std::fs::read_to_string(out.path().join("note.txt")).expect("note"), "from git");

    // As named contexts, a git repository is its checkout and an http file is itself, named
    // `context` (BuildKit's `NamedContext` does not unpack it).
    let named = tempfile::tempdir().expect("named");
    write(
        named.path(),
        "Dockerfile",
        "FROM busybox\nCOPY --from=src note.txt /named.txt\nCOPY --from=file context /file.tgz\n",
    );
    let out = env.build_local(
        named.path(),
        &[
            "--build-context",
            &format!("src=http://127.0.0.1:{}/repo.git#main:app", server.port),
            "--build-context",
            &format!("file=http://127.0.0.1:{}/context.tar.gz", server.port),
        ],
    );
    assert_eq!(std::fs::read_to_string(out.path().join("named.txt")).expect("named"), "from git");
    assert_eq!(
        std::fs::read(out.path().join("file.tgz")).expect("file"),
        std::fs::read(served.path().join("context.tar.gz")).expect("served")
    );

    let missing =
        env.cmd(&["build", &format!("http://127.0.0.1:{}/nothing.tar.gz", server.port)]).output().expect("build");
    assert_eq!(missing.status.code(), Some(3), "{}", String::from_utf8_lossy(&missing.stderr));
}

/// `--provenance` attaches SLSA v1 provenance as BuildKit does: the image goes out as an index
/// holding the image and an attestation manifest (platform unknown/unknown, naming the image in
/// its annotations) whose layer is the in-toto statement; `-o type=local` writes it as
/// `provenance.json`; a push carries the whole index.
#[test]
fn provenance_is_attached_to_the_image_in_its_index() {
    gb_test_support::require_tool("skopeo", "skopeo");
    let env = Env::new();
    let registry = gb_test_support::TestRegistry::start();
    let context = context();
    let out = tempfile::tempdir().expect("out");
    let layout = out.path().join("layout");
    let files = out.path().join("files");
    let name = format!("{}/attested/app:1", registry.addr);
    let output = env
        .cmd(&["build", "--progress", "plain", "--provenance=mode=max", "--build-arg", "FLAVOR=plain", "-t", &name])
        .arg("--push")
        .arg("-o")
        .arg(format!("type=oci,dest={},tar=false", layout.display()))
        .arg("-o")
        .arg(format!("type=local,dest={}", files.display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    let read_json = |path: std::path::PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .expect("json")
    };
    let blob = |digest: &Value| {
        layout.join("blobs/sha256").join(digest.as_str().expect("digest").trim_start_matches("sha256:"))
    };
    let top = read_json(layout.join("index.json"));
    let index = read_json(blob(&top["manifests"][0]["digest"]));
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 2, "{index}");
    let (image, attestation) = (&manifests[0], &manifests[1]);
    assert_eq!(attestation["platform"], serde_json::json!({"architecture": "unknown", "os": "unknown"}));
    assert_eq!(attestation["annotations"]["vnd.docker.reference.type"], "attestation-manifest");
    assert_eq!(attestation["annotations"]["vnd.docker.reference.digest"], image["digest"]);
    let attestation_manifest = read_json(blob(&attestation["digest"]));
    let layer = &attestation_manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.in-toto+json");
    let statement = read_json(blob(&layer["digest"]));
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"].as_str().map(|d| format!("sha256:{d}")),
        image["digest"].as_str().map(str::to_owned)
    );
    let definition = &statement["predicate"]["buildDefinition"];
    assert_eq!(definition["externalParameters"]["request"]["args"]["build-arg:FLAVOR"], "plain");
    assert_eq!(definition["externalParameters"]["configSource"]["path"], "Dockerfile");
    let base = &definition["resolvedDependencies"][0];
    assert!(
        base["uri"].as_str().is_some_and(|uri| uri.starts_with("pkg:docker/busybox@latest?platform=linux%2F")),
        "{base}"
    );
    assert!(base["digest"]["sha256"].is_string(), "the base is pinned: {base}");
    assert!(definition["internalParameters"]["buildConfig"]["graphbuildDefinition"]["ops"].is_array(), "mode=max");
    assert_eq!(read_json(files.join("provenance.json"))["predicateType"], "https://slsa.dev/provenance/v1");
    assert!(files.join("a.txt").is_file(), "a single platform's files are the directory itself");

    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{name}"))
        .output()
        .expect("skopeo");
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let pushed: Value = serde_json::from_slice(&raw.stdout).expect("index");
    assert_eq!(pushed["manifests"].as_array().map(Vec::len), Some(2), "{pushed}");
}

//! Registries end to end through the CLI, against Debian's `docker-registry` on loopback:
//! push, build FROM a registry image (pulled on demand), `build --push`, `pull` by digest.

use gb_test_support::TestRegistry as Registry;

use crate::engine::{Env, assert_ok, write};

fn run_ok(env: &Env, args: &[&str]) -> String {
    let output = env.cmd(args).output().expect("runs");
    assert_ok(&output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn push_build_from_a_registry_and_pull_by_digest() {
    let registry = Registry::start();
    let base = format!("{}/base/busybox:latest", registry.addr);

    // Push the imported busybox into the registry.
    let first = Env::new();
    run_ok(&first, &["tag", "busybox", &base]);
    let pushed = run_ok(&first, &["push", &base]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    // As docker's: a pushed image's RepoDigests name the registry's manifest.
    let pushed_digest =
        pushed.split("digest: ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap_or_default();
    let digests = run_ok(&first, &["image", "inspect", "-f", "{{json .RepoDigests}}", &base]);
    assert_eq!(digests, format!("[\"{}/base/busybox@{pushed_digest}\"]\n", registry.addr));

    // A fresh root builds FROM the registry image (pulled on demand) and pushes the result.
    let second = tempfile::tempdir().expect("root");
    let second = Env { root: second };
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        &format!("FROM {base}\nRUN echo from-registry > /marker\nCMD [\"cat\", \"/marker\"]\n"),
    );
    let app = format!("{}/team/app:1", registry.addr);
    let (output, _) = second.build(context.path(), &["-t", &app, "--push"]);
    assert_ok(&output);
    // The base the FROM pulled (by digest) shows once, under its tag, with that digest.
    let base_repository = format!("{}/base/busybox", registry.addr);
    let listed = run_ok(&second, &["images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"]);
    let rows: Vec<&str> = listed.lines().filter(|line| line.starts_with(&base_repository)).collect();
    assert_eq!(rows.len(), 1, "{listed}");
    assert!(rows[0].starts_with(&format!("{base_repository}:latest sha256:")), "{listed}");
    let inspect: serde_json::Value =
        serde_json::from_str(&run_ok(&second, &["image", "inspect", &base])).expect("inspect json");
    let repo_digest = format!("{base_repository}@{}", rows[0].split(' ').nth(1).unwrap_or_default());
    assert_eq!(inspect[0]["RepoDigests"], serde_json::json!([repo_digest]), "{inspect}");
    gb_test_support::require_tool("skopeo", "skopeo");
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{app}"))
        .output()
        .expect("skopeo");
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    let remote: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(remote["Layers"].as_array().map_or(0, Vec::len), 2, "busybox + RUN: {remote}");

    // Pushing again uploads nothing.
    let again = run_ok(&second, &["push", &app]);
    assert!(!again.contains(": Pushed"), "{again}");

    // A third root pulls by digest and runs it.
    let digest = remote["Digest"].as_str().expect("digest").to_owned();
    let third = tempfile::tempdir().expect("root");
    let third = Env { root: third };
    let by_digest = format!("{}/team/app@{digest}", registry.addr);
    run_ok(&third, &["pull", &by_digest]);
    let output = third.cmd(&["run", &by_digest]).output().expect("run");
    assert_ok(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "from-registry\n");
}

#[test]
fn an_unreachable_registry_fails_fast_with_a_clear_error() {
    let env = Env::new();
    let output = env.cmd(&["pull", "127.0.0.1:1/nothing:here"]).output().expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unreachable"), "{stderr}");
}

fn image_digest(env: &Env, name: &str) -> String {
    let text = run_ok(env, &["image", "inspect", name]);
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value[0]["ManifestDigest"].as_str().unwrap_or_default().to_owned()
}

/// Builds the cache-sharing Dockerfile in `env`, returning the RUN steps that ran.
fn build_shared(env: &Env, context: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["-t", "shared:1"];
    args.extend_from_slice(extra);
    let (output, events) = env.build(context, &args);
    assert_ok(&output);
    crate::engine::started(&events).into_iter().filter(|d| d.contains("RUN")).collect()
}

fn cache_context() -> tempfile::TempDir {
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS build\nRUN seq 1 1000 > /numbers && sleep 0.2\nFROM busybox\nCOPY --from=build /numbers /numbers\nRUN wc -l /numbers > /count\n",
    );
    context
}

#[test]
fn a_fresh_root_with_cache_from_a_registry_runs_no_step_and_gives_the_same_image() {
    let registry = Registry::start();
    let cache = format!("type=registry,ref={}/cache/app:buildcache,mode=max", registry.addr);
    let context = cache_context();
    let first = Env::new();
    let ran = build_shared(&first, context.path(), &["--cache-to", &cache]);
    assert_eq!(ran.len(), 2, "{ran:?}");
    let digest = image_digest(&first, "shared:1");

    // A new state root (a fresh machine) with only the base image.
    let second = Env::new();
    let ran = build_shared(&second, context.path(), &["--cache-from", &cache.replace(",mode=max", "")]);
    assert!(ran.is_empty(), "no RUN step runs with the shared cache: {ran:?}");
    assert_eq!(image_digest(&second, "shared:1"), digest, "the same image comes out");

    // Lazily: only the record the solve asked for (the last step's) came in with its layers;
    // the builder stage's RUN, which the image does not need, was never imported here.
    let (output, events) = second.build(context.path(), &["--target", "build"]);
    assert_ok(&output);
    let ran: Vec<String> = crate::engine::started(&events).into_iter().filter(|d| d.contains("RUN")).collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
}

#[test]
fn a_local_cache_directory_works_the_same_way() {
    let dir = tempfile::tempdir().expect("cache dir");
    let context = cache_context();
    let first = Env::new();
    let to = format!("type=local,dest={},mode=max", dir.path().display());
    build_shared(&first, context.path(), &["--cache-to", &to]);
    let second = Env::new();
    let from = format!("type=local,src={}", dir.path().display());
    let ran = build_shared(&second, context.path(), &["--cache-from", &from]);
    assert!(ran.is_empty(), "{ran:?}");
    assert_eq!(image_digest(&second, "shared:1"), image_digest(&first, "shared:1"));
}

#[test]
fn a_cached_build_pulls_no_layer_of_a_base_it_does_not_need() {
    let registry = Registry::start();
    let builder = format!("{}/tools/builder:1", registry.addr);
    let first = Env::new();
    run_ok(&first, &["tag", "busybox", &builder]);
    run_ok(&first, &["push", &builder]);
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        &format!(
            "FROM {builder} AS build\nRUN echo artifact > /artifact\nFROM scratch\nCOPY --from=build /artifact /artifact\n"
        ),
    );
    // mode=min: the final result only, which holds none of the builder's layers.
    let cache = format!("type=registry,ref={}/cache/lazy:1,mode=min", registry.addr);
    let (output, _) = first.build(context.path(), &["--cache-to", &cache]);
    assert_ok(&output);

    // An empty root: the builder image is resolved (manifest and config) but never pulled.
    let second = Env { root: tempfile::tempdir().expect("root") };
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, events) = second.build(context.path(), &["--cache-from", &cache, "-o", &dest]);
    assert_ok(&output);
    assert!(crate::engine::started(&events).is_empty(), "{:?}", crate::engine::started(&events));
    assert_eq!(std::fs::read_to_string(out.path().join("artifact")).expect("artifact"), "artifact\n");
    let images = run_ok(&second, &["images"]);
    assert!(!images.contains("builder"), "the base image was pulled: {images}");
    let blobs = std::fs::read_dir(second.root.path().join("content/sha256")).map_or(0, |d| d.count());
    assert!(blobs <= 3, "only the cache's small blobs are in the store, found {blobs}");
}

#[test]
fn a_registry_base_without_the_requested_platform_is_an_error() {
    let registry = Registry::start();
    let base = format!("{}/base/busybox:latest", registry.addr);
    let first = Env::new();
    run_ok(&first, &["tag", "busybox", &base]);
    run_ok(&first, &["push", &base]);

    // A fresh root resolves the base against the registry, which has it only for the host.
    let second = Env { root: tempfile::tempdir().expect("root") };
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", &format!("FROM {base}\nRUN true\n"));
    let (output, _) = second.build(context.path(), &["--platform", "linux/s390x"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(
        error.contains("base/busybox:latest has no image for platform linux/s390x; it has linux/"),
        "names the base and the platforms it has: {stderr}"
    );
    // With --pull, a stored image of the same name is no fall-back either.
    let (output, _) = first.build(context.path(), &["--pull", "--platform", "linux/s390x"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_registry_that_fails_a_lazy_base_pull_is_an_environment_failure() {
    let registry = Registry::start();
    let base = format!("{}/base/busybox:latest", registry.addr);
    let first = Env::new();
    run_ok(&first, &["tag", "busybox", &base]);
    run_ok(&first, &["push", &base]);
    gb_test_support::require_tool("skopeo", "skopeo");
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{base}"))
        .output()
        .expect("skopeo");
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    let remote: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    // The registry now serves a layer whose bytes are not its digest's.
    for layer in remote["Layers"].as_array().expect("layers") {
        registry.tamper(&layer.as_str().expect("digest").parse().expect("a digest"));
    }

    // Lowering resolves the manifest and config; the layer is pulled when the RUN needs it.
    let second = Env { root: tempfile::tempdir().expect("root") };
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", &format!("FROM {base}\nRUN true\n"));
    let (output, _) = second.build(context.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "the registry's failure, not the Dockerfile's:\n{stderr}");
    assert!(stderr.contains("pulling"), "{stderr}");
}

#[test]
fn an_unreachable_registry_fails_the_build_at_its_from_line_with_exit_3() {
    let env = Env::new();
    // Nothing listens on port 9 of the loopback.
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN true\nFROM 127.0.0.1:9/base/nowhere:1\nRUN true\n");
    let (output, _) = env.build(context.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "the registry is unreachable, the Dockerfile is fine:\n{stderr}");
    assert!(stderr.contains(":3:") && stderr.contains("resolving 127.0.0.1:9/base/nowhere:1"), "{stderr}");
    assert!(!stderr.contains("not in the local store"), "the error is the registry's: {stderr}");
}

/// A base image no graphbuild made: a busybox root file system packed by umoci into an OCI
/// layout (its own tar serialization and history) and pushed by skopeo as `REGISTRY/base/umoci:1`.
fn push_umoci_base(registry: &Registry) -> String {
    gb_test_support::require_tool("umoci", "umoci");
    gb_test_support::require_tool("skopeo", "skopeo");
    let work = tempfile::tempdir().expect("work");
    let layout = work.path().join("layout");
    let bundle = work.path().join("bundle");
    let (layout_arg, image) = (layout.display().to_string(), format!("{}:base", layout.display()));
    gb_test_support::run("umoci", &["init", "--layout", &layout_arg]);
    gb_test_support::run("umoci", &["new", "--image", &image]);
    gb_test_support::run("umoci", &["unpack", "--rootless", "--image", &image, &bundle.display().to_string()]);
    gb_test_support::busybox_rootfs(&bundle.join("rootfs"), &["sh", "cat", "echo"]);
    gb_test_support::run("umoci", &["repack", "--image", &image, &bundle.display().to_string()]);
    gb_test_support::run(
        "umoci",
        &["config", "--image", &image, "--config.cmd", "sh", "--history.created_by", "umoci config"],
    );
    let reference = format!("{}/base/umoci:1", registry.addr);
    gb_test_support::run(
        "skopeo",
        &["copy", "--dest-tls-verify=false", &format!("oci:{image}"), &format!("docker://{reference}")],
    );
    reference
}

/// The manifest digest of `reference` in the registry, as skopeo reads it.
fn remote_manifest(reference: &str) -> (String, serde_json::Value) {
    let raw =
        gb_test_support::run("skopeo", &["inspect", "--tls-verify=false", "--raw", &format!("docker://{reference}")]);
    let config = gb_test_support::run(
        "skopeo",
        &["inspect", "--tls-verify=false", "--config", &format!("docker://{reference}")],
    );
    (gb_ir::Sha256Digest::of(raw.as_bytes()).to_string(), serde_json::from_str(&config).expect("config json"))
}

/// Issue 13's registry defects: an image built from a shared cache, in a fresh root that never
/// pulled the base, is the very image the first root built (the base's own blobs and history),
/// and so is a fully cached rebuild in that root after the base was pulled.
#[test]
fn a_cache_imported_build_on_a_foreign_base_gives_the_very_same_image() {
    let registry = Registry::start();
    let base = push_umoci_base(&registry);
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", &format!("FROM {base}\nRUN echo hi > /hi\nCOPY f /f\n"));
    write(context.path(), "f", "f\n");
    let cache = format!("type=registry,ref={}/cache/foreign:1", registry.addr);
    let build = |env: &Env, tag: &str, cache_flag: &str, cache: &str| {
        let (output, events) = env.build(context.path(), &["-t", tag, "--push", cache_flag, cache]);
        assert_ok(&output);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("warning"), "{stderr}");
        crate::engine::started(&events)
    };

    let first = Env { root: tempfile::tempdir().expect("root") };
    let app1 = format!("{}/app/foreign:1", registry.addr);
    assert_eq!(build(&first, &app1, "--cache-to", &format!("{cache},mode=max")).len(), 2);
    let (digest, config) = remote_manifest(&app1);
    let history: Vec<&str> =
        config["history"].as_array().expect("history").iter().filter_map(|h| h["created_by"].as_str()).collect();
    assert_eq!(history[..2], ["umoci repack", "umoci config"], "{config}");

    // A fresh root with nothing but the shared cache: no step runs, the same image comes out.
    let second = Env { root: tempfile::tempdir().expect("root") };
    let app2 = format!("{}/app/foreign:2", registry.addr);
    assert_eq!(build(&second, &app2, "--cache-from", &cache), Vec::<String>::new());
    assert_eq!(remote_manifest(&app2).0, digest, "the same manifest as the first root's");

    // That root reused: the base pulled again after its image is gone, a fully cached rebuild.
    run_ok(&second, &["rmi", &app2, &base]);
    run_ok(&second, &["pull", &base]);
    // Pulled by tag, its RepoDigests name the manifest the registry gave, as docker's.
    let digests = run_ok(&second, &["image", "inspect", "-f", "{{len .RepoDigests}} {{index .RepoDigests 0}}", &base]);
    assert!(
        digests.starts_with(&format!("1 {}@sha256:", base.split(':').take(2).collect::<Vec<_>>().join(":"))),
        "{digests}"
    );
    let app3 = format!("{}/app/foreign:3", registry.addr);
    assert_eq!(build(&second, &app3, "--cache-from", &cache), Vec::<String>::new());
    assert_eq!(remote_manifest(&app3).0, digest, "the same manifest again");
}

/// A `--cache-from` record whose layer the registry serves with other bytes fails the step that
/// would use it, as the build's input (exit 1), naming the cache; nothing of it is kept.
#[test]
fn a_tampered_registry_cache_fails_the_step_that_reads_it() {
    let registry = Registry::start();
    let cache = format!("type=registry,ref={}/cache/tampered:1", registry.addr);
    let context = cache_context();
    let first = Env::new();
    build_shared(&first, context.path(), &["--cache-to", &format!("{cache},mode=max")]);
    let raw = gb_test_support::run(
        "skopeo",
        &["inspect", "--tls-verify=false", "--raw", &format!("docker://{}/cache/tampered:1", registry.addr)],
    );
    let manifest: serde_json::Value = serde_json::from_str(&raw).expect("manifest");
    for layer in manifest["layers"].as_array().expect("layers") {
        registry.tamper(&layer["digest"].as_str().expect("digest").parse().expect("a digest"));
    }

    let second = Env::new();
    let (output, _) = second.build(context.path(), &["-t", "shared:1", "--cache-from", &cache]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("--cache-from {}/cache/tampered:1", registry.addr)), "{stderr}");
    assert!(stderr.contains("digest"), "{stderr}");
}

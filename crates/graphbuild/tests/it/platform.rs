//! Target platforms: a base image for another platform is an error, never a stand-in, and two
//! platforms' builds share no cache entry (except stages pinned to one platform).
//!
//! These tests need root and runc, as the engine tests do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::engine::{Env, assert_ok, started, write};

/// The platform the imported busybox was stored with (the host's).
fn stored_platform(env: &Env) -> String {
    let output = env.cmd(&["image", "inspect", "busybox"]).output().expect("inspect");
    assert_ok(&output);
    let inspect: Value = serde_json::from_slice(&output.stdout).expect("json");
    let image = if inspect.is_array() { &inspect[0] } else { &inspect };
    format!("{}/{}", image["Os"].as_str().expect("Os"), image["Architecture"].as_str().expect("Architecture"))
}

/// A platform that is not the host's.
fn other_platform(host: &str) -> &'static str {
    if host == "linux/s390x" { "linux/ppc64le" } else { "linux/s390x" }
}

#[test]
fn a_stored_base_for_another_platform_is_an_error() {
    let env = Env::new();
    let host = stored_platform(&env);
    let wanted = other_platform(&host);
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN uname -m > /arch\n");
    let (output, events) = env.build(context.path(), &["--platform", wanted, "-t", "wrong:latest"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    let expected = format!(
        "image with reference busybox:latest was found but does not match the specified platform: wanted {wanted}, actual: {host}"
    );
    assert!(error.contains(&expected), "{stderr}");
    assert!(error.contains("Dockerfile:1"), "the FROM line: {stderr}");
    assert!(started(&events).is_empty(), "nothing ran: {:?}", started(&events));
    let image = env.cmd(&["image", "inspect", "wrong:latest"]).output().expect("inspect");
    assert!(!image.status.success(), "no image was stored under the wrong platform's name");
    // The host's platform, named explicitly, still builds.
    assert_ok(&env.build(context.path(), &["--platform", &host]).0);
}

/// The exec and file ops of the Definition lowered for `platform`: digest → description.
fn exec_and_file_ops(env: &Env, context: &Path, platform: &str) -> BTreeMap<String, String> {
    let output = env.cmd(&["lower", "--platform", platform]).arg(context).output().expect("lower");
    assert_ok(&output);
    let definition: Value = serde_json::from_slice(&output.stdout).expect("json");
    definition["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .filter(|op| op["op"].get("exec").is_some() || op["op"].get("file").is_some())
        .map(|op| {
            let digest = op["digest"].as_str().expect("digest").to_owned();
            let description = definition["metadata"][&digest]["description"].as_str().unwrap_or_default().to_owned();
            (digest, description)
        })
        .collect()
}

#[test]
fn two_platforms_share_no_exec_or_file_op() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "data.txt", "data");
    write(
        context.path(),
        "Dockerfile",
        "FROM --platform=$BUILDPLATFORM busybox AS tools\nRUN echo tools > /t\n\
         FROM busybox\nWORKDIR /app\nCOPY data.txt .\nCOPY --link data.txt /linked\nCOPY --from=tools /t /t\n\
         RUN cat /t data.txt\n",
    );
    let split = |platform: &str| -> (BTreeSet<String>, BTreeSet<String>) {
        let (tools, target): (Vec<_>, Vec<_>) =
            exec_and_file_ops(&env, context.path(), platform).into_iter().partition(|(_, d)| d.starts_with("[tools "));
        (tools.into_iter().map(|(d, _)| d).collect(), target.into_iter().map(|(d, _)| d).collect())
    };
    let (tools_amd64, amd64) = split("linux/amd64");
    let (tools_arm64, arm64) = split("linux/arm64");
    assert_eq!(amd64.len(), 5, "WORKDIR, three COPYs and a RUN: {amd64:?}");
    assert!(amd64.is_disjoint(&arm64), "shared: {:?}", amd64.intersection(&arm64).collect::<Vec<_>>());
    // The tools stage builds on the build platform for both targets: shared, as in BuildKit.
    assert_eq!(tools_amd64.len(), 1);
    assert_eq!(tools_amd64, tools_arm64, "the build-platform stage's RUN is shared");
}

#[test]
fn a_copy_built_for_one_platform_is_not_reused_for_another() {
    // No base image: the build works for any platform, and only the platform differs.
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "data.txt", "data");
    write(context.path(), "Dockerfile", "FROM scratch\nCOPY data.txt /data.txt\n");
    let (output, events) = env.build(context.path(), &["--platform", "linux/amd64"]);
    assert_ok(&output);
    assert_eq!(started(&events).len(), 1, "{:?}", started(&events));
    let (output, events) = env.build(context.path(), &["--platform", "linux/arm64"]);
    assert_ok(&output);
    assert_eq!(started(&events).len(), 1, "the arm64 COPY ran rather than reusing amd64's: {:?}", started(&events));
    let (output, events) = env.build(context.path(), &["--platform", "linux/arm64"]);
    assert_ok(&output);
    assert!(started(&events).is_empty(), "and is cached for arm64: {:?}", started(&events));
}

/// `--platform linux/amd64,linux/arm64` builds each platform (arm64's RUN steps through QEMU's
/// binfmt_misc emulation) into one OCI image index: pushed (checked with `skopeo inspect --raw`),
/// written as an OCI layout, and split into one directory per platform, as `docker buildx
/// build` exports a multi-platform result. The multi-platform base is itself built here, from
/// each platform's busybox with `ADD busybox-$TARGETARCH.tar /`.
#[test]
fn several_platforms_build_into_one_image_index() {
    gb_test_support::require_arm64_emulation();
    gb_test_support::require_tool("skopeo", "skopeo");
    let registry = gb_test_support::TestRegistry::start();
    let env = Env::new();
    let platforms = "linux/amd64,linux/arm64";

    let base_context = tempfile::tempdir().expect("base context");
    std::fs::copy(gb_test_support::busybox_tar(), base_context.path().join("busybox-amd64.tar")).expect("amd64");
    std::fs::copy(gb_test_support::busybox_arm64_tar(), base_context.path().join("busybox-arm64.tar")).expect("arm64");
    write(base_context.path(), "Dockerfile", "FROM scratch\nARG TARGETARCH\nADD busybox-$TARGETARCH.tar /\n");
    let base = format!("{}/multi/busybox:latest", registry.addr);
    let output = env
        .cmd(&["build", "--progress", "plain", "--platform", platforms, "-t", &base, "--push"])
        .arg(base_context.path())
        .output()
        .expect("build the base");
    assert_ok(&output);

    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        &format!("FROM {base}\nARG TARGETPLATFORM\nRUN uname -m > /arch && echo $TARGETPLATFORM > /platform\n"),
    );
    let app = format!("{}/multi/app:1", registry.addr);
    let out = tempfile::tempdir().expect("out");
    let layout = out.path().join("layout");
    let files = out.path().join("files");
    let output = env
        .cmd(&["build", "--progress", "plain", "--platform", platforms, "-t", &app, "--push", "-o"])
        .arg(format!("type=oci,dest={},tar=false", layout.display()))
        .arg("-o")
        .arg(format!("type=local,dest={}", files.display()))
        .arg(context.path())
        .output()
        .expect("build the app");
    assert_ok(&output);

    let read = |path: &str| std::fs::read_to_string(files.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        (read("linux_amd64/arch"), read("linux_amd64/platform")),
        ("x86_64\n".to_owned(), "linux/amd64\n".to_owned())
    );
    assert_eq!(
        (read("linux_arm64/arch"), read("linux_arm64/platform")),
        ("aarch64\n".to_owned(), "linux/arm64\n".to_owned())
    );

    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{app}"))
        .output()
        .expect("skopeo");
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).expect("index JSON");
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json", "{index}");
    let pushed: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or(""),
                m["platform"]["architecture"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(pushed, ["linux/amd64", "linux/arm64"]);
    // Each platform's image is there too, with the config of its own architecture.
    let arm64 = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--override-arch", "arm64"])
        .arg(format!("docker://{app}"))
        .output()
        .expect("skopeo");
    assert!(arm64.status.success(), "{}", String::from_utf8_lossy(&arm64.stderr));
    let arm64: serde_json::Value = serde_json::from_slice(&arm64.stdout).expect("inspect JSON");
    assert_eq!(arm64["Architecture"], "arm64");

    let top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json")).expect("json");
    let nested = top["manifests"][0]["digest"].as_str().expect("digest").trim_start_matches("sha256:").to_owned();
    assert_eq!(top["manifests"][0]["mediaType"], "application/vnd.oci.image.index.v1+json");
    let nested: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(nested)).expect("index blob"))
            .expect("json");
    assert_eq!(nested["manifests"].as_array().map(Vec::len), Some(2), "{nested}");

    // The local image store holds one platform per name: -t alone is refused, as Docker's
    // classic store refuses a manifest list.
    let refused =
        env.cmd(&["build", "--platform", platforms, "-t", "local:multi"]).arg(context.path()).output().expect("build");
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
}

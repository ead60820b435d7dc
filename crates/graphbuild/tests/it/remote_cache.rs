//! The REAPI remote cache (issue 13) against a real REAPI server, BuildGrid, on loopback:
//! `--cache-to type=reapi` in one root, `--cache-from` in a fresh one, failures as warnings.

use gb_test_support::ReapiServer;
use serde_json::Value;

use crate::engine::{Env, assert_ok, write};

/// A two-stage build with two RUN steps, as the registry cache tests use; the second writes
/// 2.5 MB that does not compress, so its layer blob goes over ByteStream both ways.
fn context() -> tempfile::TempDir {
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS build\nRUN seq 1 1000 > /numbers\nFROM busybox\nCOPY --from=build /numbers /numbers\nRUN wc -l /numbers > /count && head -c 2500000 /dev/urandom > /noise\nCOPY note /note\n",
    );
    write(context.path(), "note", "v1\n");
    context
}

/// Builds `context` in `env` as `shared:1` with `extra` flags; returns the RUN steps that ran
/// and the build's standard error.
fn build(env: &Env, context: &std::path::Path, extra: &[&str]) -> (Vec<String>, String) {
    let (output, events) = env.build(context, &[&["-t", "shared:1"], extra].concat());
    assert_ok(&output);
    let ran = crate::engine::started(&events).into_iter().filter(|d| d.contains("RUN")).collect();
    (ran, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn image_id(env: &Env, name: &str) -> String {
    let output = env.cmd(&["image", "inspect", name]).output().expect("inspect");
    assert_ok(&output);
    let value: Value = serde_json::from_slice(&output.stdout).expect("json");
    value[0]["ManifestDigest"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_fresh_root_with_a_reapi_cache_runs_no_step_and_gives_the_same_image() {
    let server = ReapiServer::start();
    let cache = format!("type=reapi,endpoint={}", server.endpoint());
    let context = context();
    let first = Env::new();
    let (ran, stderr) = build(&first, context.path(), &["--cache-to", &format!("{cache},mode=max")]);
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains(&format!("remote cache {}: 0 found, ", server.endpoint())), "{stderr}");
    let digest = image_id(&first, "shared:1");

    // A new machine with only the base image: nothing runs, the very same image comes out (as
    // old as the first: a second later, so an image dated by its import would differ).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = Env::new();
    let (ran, stderr) = build(&second, context.path(), &["--cache-from", &cache]);
    assert!(ran.is_empty(), "no RUN step runs with the shared cache: {ran:?}\n{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains(": 1 found, 0 not found"), "only the last step is asked for: {stderr}");
    assert_eq!(image_id(&second, "shared:1"), digest, "the same image comes out");

    // A changed file: the steps above it come from the cache, the COPY runs.
    write(context.path(), "note", "v2\n");
    let third = Env::new();
    let (ran, stderr) = build(&third, context.path(), &["--cache-from", &cache]);
    assert!(ran.is_empty(), "{ran:?}\n{stderr}");
    // The COPY is asked for twice: by the plan, and again as it starts (another machine may
    // have made it meanwhile).
    assert!(stderr.contains(": 1 found, 2 not found"), "{stderr}");
}

/// A blob of the cache that does not match its digest is never used: the record is left, with
/// one warning, and the step runs locally.
#[test]
fn a_tampered_cache_blob_fails_verification_and_the_step_runs_locally() {
    let server = ReapiServer::start_on_disk();
    let cache = format!("type=reapi,endpoint={}", server.endpoint());
    let context = context();
    let first = Env::new();
    build(&first, context.path(), &["--cache-to", &format!("{cache},mode=max")]);
    let digest = image_id(&first, "shared:1");
    assert!(server.tamper_layer_blobs() > 0, "the cache holds layer blobs");

    let second = Env::new();
    let (ran, stderr) = build(&second, context.path(), &["--cache-from", &cache]);
    assert!(!ran.is_empty(), "a step whose cached layers are corrupt runs here: {stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|line| line.starts_with("warning: remote cache")).collect();
    assert!(!warnings.is_empty() && warnings[0].contains("does not match its digest"), "{stderr}");
    assert!(warnings[0].ends_with("; building locally"), "{stderr}");
    let output = second.cmd(&["run", "--rm", "shared:1", "cat", "/count"]).output().expect("run");
    assert_ok(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1000 /numbers\n");
    assert_ne!(image_id(&second, "shared:1"), "", "{digest}");
}

/// An unreachable cache, or one that goes away during the build, is one warning: the build
/// goes on locally and succeeds; with `ignore-error=false` it fails instead.
#[test]
fn a_cache_server_gone_mid_build_is_one_warning_and_the_build_goes_on() {
    let mut server = ReapiServer::start();
    let endpoint = server.endpoint();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN sleep 2 && echo slow > /slow\nRUN echo after > /after\n");
    let env = Env::new();
    let cache = format!("type=reapi,endpoint={endpoint}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(["build", "--progress", "plain", "-t", "gone:1", "--cache-from", &cache, "--cache-to", &cache])
        .arg(context.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("build");
    // The lookups are done before the first step runs; the store at the end finds no server.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    server.stop();
    let output = child.wait_with_output().expect("build");
    assert_ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|line| line.starts_with("warning: remote cache")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains(&endpoint) && warnings[0].ends_with("; building locally"), "{stderr}");

    // Nothing listens there now: one warning, the build runs locally.
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo again > /again\nRUN echo more > /more\n");
    let output =
        env.cmd(&["build", "--progress", "plain", "--cache-from", &cache]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("warning: remote cache").count(), 1, "{stderr}");

    // Unless failures are to be fatal.
    let fatal = format!("{cache},ignore-error=false");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo fatal > /fatal\n");
    let output =
        env.cmd(&["build", "--progress", "plain", "--cache-from", &fatal]).arg(context.path()).output().expect("build");
    assert!(!output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&endpoint));
}

/// `[remote-cache]` in a root's config.toml: every build reads and writes the cache with no
/// flag, and the token for it is never printed.
#[test]
fn a_standing_remote_cache_in_the_config_serves_every_build() {
    let server = ReapiServer::start();
    let config =
        format!("[remote-cache]\nendpoint = \"{}\"\nmode = \"max\"\ntoken = \"s3cr3t-t0ken\"\n", server.endpoint());
    let context = context();
    let first = Env::new();
    write(first.root.path(), "config.toml", &config);
    let (ran, stderr) = build(&first, context.path(), &[]);
    assert_eq!(ran.len(), 2, "{stderr}");
    assert!(stderr.contains(", 4 stored,"), "every step's result (mode = max): {stderr}");

    let second = Env::new();
    write(second.root.path(), "config.toml", &config);
    let (ran, stderr) = build(&second, context.path(), &[]);
    assert!(ran.is_empty(), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert_eq!(image_id(&second, "shared:1"), image_id(&first, "shared:1"));

    // Gone: the warning names the endpoint, never the token.
    drop(server);
    write(context.path(), "note", "v3\n");
    let (_, stderr) = build(&second, context.path(), &[]);
    assert!(stderr.contains("warning: remote cache grpc://") && !stderr.contains("s3cr3t"), "{stderr}");
}

/// A `grpcs://` cache that requires a client certificate: the root's config names the CA and
/// the client's certificate and key; a root without the certificate cannot use it (one
/// warning) and builds locally.
#[test]
fn a_tls_cache_with_a_client_certificate_is_used_and_refuses_clients_without_one() {
    let (server, tls) = ReapiServer::start_with_mtls();
    let endpoint = server.endpoint();
    assert!(endpoint.starts_with("grpcs://"), "{endpoint}");
    let config = |with_client: bool| {
        let mut text = format!(
            "[remote-cache]\nendpoint = \"{endpoint}\"\nmode = \"max\"\nca-cert = \"{}\"\n",
            tls.ca_cert.display()
        );
        if with_client {
            text.push_str(&format!(
                "client-cert = \"{}\"\nclient-key = \"{}\"\n",
                tls.client_cert.display(),
                tls.client_key.display()
            ));
        }
        text
    };
    let context = context();
    let first = Env::new();
    write(first.root.path(), "config.toml", &config(true));
    let (ran, stderr) = build(&first, context.path(), &[]);
    assert_eq!(ran.len(), 2, "{stderr}");
    assert!(!stderr.contains("warning") && stderr.contains(", 4 stored,"), "{stderr}");

    let second = Env::new();
    write(second.root.path(), "config.toml", &config(true));
    let (ran, stderr) = build(&second, context.path(), &[]);
    assert!(ran.is_empty() && stderr.contains(": 1 found,"), "{stderr}");

    let stranger = Env::new();
    write(stranger.root.path(), "config.toml", &config(false));
    let (ran, stderr) = build(&stranger, context.path(), &[]);
    assert_eq!(ran.len(), 2, "{stderr}");
    assert_eq!(stderr.matches("warning: remote cache grpcs://").count(), 1, "{stderr}");
}

/// A cache that wants a bearer token (BuildGrid's JWT authorization): the root's config gives
/// it and the cache serves; a wrong token is one warning (never printing the token) and the
/// build goes on locally.
#[test]
fn a_cache_that_wants_a_token_gets_the_configured_one() {
    let (server, token) = ReapiServer::start_with_token();
    let config = |token: &str| format!("[remote-cache]\nendpoint = \"{}\"\ntoken = \"{token}\"\n", server.endpoint());
    let context = context();
    let first = Env::new();
    write(first.root.path(), "config.toml", &config(&token));
    let (ran, stderr) = build(&first, context.path(), &[]);
    assert_eq!(ran.len(), 2, "{stderr}");
    assert!(!stderr.contains("warning") && stderr.contains(", 1 stored,"), "{stderr}");

    let second = Env::new();
    write(second.root.path(), "config.toml", &config("not-the-token"));
    let (ran, stderr) = build(&second, context.path(), &[]);
    assert_eq!(ran.len(), 2, "{stderr}");
    assert_eq!(stderr.matches("warning: remote cache grpc://").count(), 1, "{stderr}");
    assert!(!stderr.contains("not-the-token") && !stderr.contains(&token), "{stderr}");

    let third = Env::new();
    write(third.root.path(), "config.toml", &config(&token));
    let (ran, stderr) = build(&third, context.path(), &[]);
    assert!(ran.is_empty() && stderr.contains(": 1 found,"), "{stderr}");
}

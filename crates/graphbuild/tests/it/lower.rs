//! `graphbuild lower` on real Dockerfiles: valid, deterministic JSON; DOT; targets, build args
//! and `.dockerignore`; and one clear error with a caret for a bad Dockerfile.

use crate::repo_root;

fn context_with(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    dir
}

fn lower_json(args: &[&str], context: &std::path::Path) -> serde_json::Value {
    let output = crate::Scratch::new().graphbuild().arg("lower").args(args).arg(context).output().expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    gb_ir::Definition::from_json(&text).expect("a valid definition");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn lowers_the_multistage_benchmark_deterministically() {
    let context = repo_root().join("examples/multistage");
    let first = crate::Scratch::new().graphbuild().arg("lower").arg(&context).output().expect("runs");
    let second = crate::Scratch::new().graphbuild().arg("lower").arg(&context).output().expect("runs");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(first.stdout, second.stdout, "same input, same bytes");
    let definition = gb_ir::Definition::from_json(&String::from_utf8_lossy(&first.stdout)).expect("valid");
    let runs = definition.ops.iter().filter(|e| matches!(e.node.op, gb_ir::Op::Exec(_))).count();
    assert_eq!(runs, 5, "the example has five RUN steps");
}

#[test]
fn dot_output_names_every_op() {
    let context = repo_root().join("examples/multistage");
    let json = lower_json(&[], &context);
    let output =
        crate::Scratch::new().graphbuild().args(["lower", "--format", "dot"]).arg(&context).output().expect("runs");
    assert!(output.status.success());
    let dot = String::from_utf8_lossy(&output.stdout);
    assert!(dot.starts_with("digraph definition {"));
    for op in json["ops"].as_array().expect("ops") {
        let digest = op["digest"].as_str().expect("digest");
        assert!(dot.contains(&format!("\"{digest}\" [label=")), "{digest} missing from DOT");
    }
}

#[test]
fn target_and_build_args_select_what_is_lowered() {
    let dir =
        context_with("ARG TAG=1.36\nFROM busybox:${TAG} AS one\nRUN echo one\nFROM busybox AS two\nRUN echo two\n");
    let json = lower_json(&["--target", "ONE", "--build-arg", "TAG=1.37"], dir.path());
    let text = json.to_string();
    assert!(text.contains("docker.io/library/busybox:1.37"), "{text}");
    assert!(text.contains("echo one") && !text.contains("echo two"), "{text}");
}

#[test]
fn dockerignore_becomes_context_excludes_and_specific_file_wins() {
    let dir = context_with("FROM scratch\nCOPY . /\n");
    std::fs::write(dir.path().join(".dockerignore"), "# comment\nnode_modules\n!keep\n").expect("write");
    let text = lower_json(&[], dir.path()).to_string();
    assert!(text.contains(r#""exclude":["node_modules","!keep"]"#), "{text}");
    std::fs::write(dir.path().join("Dockerfile.dockerignore"), "only-this\n").expect("write");
    let text = lower_json(&[], dir.path()).to_string();
    assert!(text.contains(r#""exclude":["only-this"]"#), "{text}");
}

#[test]
fn a_bad_dockerfile_gets_one_error_with_position_and_caret() {
    let dir = context_with("FROM busybox\nRUN echo ok\nCOPY --form=build /a /b\n");
    let output = crate::Scratch::new().graphbuild().arg("lower").arg(dir.path()).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first_line = stderr.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with("error: ")
            && first_line.ends_with("Dockerfile:3:6: unknown flag: --form (did you mean from?)"),
        "{stderr}"
    );
    assert!(stderr.contains("COPY --form=build /a /b"), "the source line is shown: {stderr}");
    assert!(stderr.contains("▲") || stderr.contains("^") || stderr.contains("┬"), "a caret marks the place: {stderr}");
    assert_eq!(stderr.matches("error").count(), 1, "one error: {stderr}");
}

#[test]
fn garbage_bytes_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("Dockerfile"), [0xff, 0xfe, 0x00, b'\n', b'F', b'R', 0x80]).expect("write");
    let output = crate::Scratch::new().graphbuild().arg("lower").arg(dir.path()).output().expect("runs");
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn missing_context_is_a_usage_error() {
    let output = crate::Scratch::new().graphbuild().args(["lower", "/nonexistent/context"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a directory"));
}

#[test]
fn an_arg_only_dockerfile_fails_at_a_line_as_the_users_input() {
    let dir = context_with("# only arguments\nARG VERSION=1.0\nARG FLAVOR=slim\n");
    let output = crate::Scratch::new().graphbuild().arg("lower").arg(dir.path()).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let first_line = stderr.lines().next().unwrap_or_default();
    assert!(first_line.ends_with("Dockerfile:2:1: dockerfile contains no stages to build"), "{stderr}");
    assert!(stderr.contains("ARG VERSION=1.0"), "the line is shown: {stderr}");
}

#[test]
fn a_reader_that_goes_away_ends_lower_quietly_as_sigpipe_ends_docker() {
    let context = repo_root().join("examples/multistage");
    // A root of its own: no test starts a server on the machine's default root.
    let root = tempfile::tempdir().expect("root");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(root.path())
        .arg("lower")
        .arg(&context)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Closing the only read end before graphbuild writes makes its write fail with EPIPE, as
    // `graphbuild lower | head -c0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

//! Inputs a security review found mishandled: what the user gave is what is wrong, so the
//! command exits 1 and, for a Dockerfile, names the line; outputs never replace a device node
//! or leave temporary files; new image names follow Docker's grammar and never pin a digest.
//!
//! These tests need root (mounts, runc, mknod), as graphbuild itself does; CI runs as root.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Output;

use crate::engine::{Env, assert_ok, write};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a user-input failure (exit 1) whose message names `Dockerfile:LINE`.
fn assert_fails_at_line(output: &Output, line: usize) -> String {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "exit 1 (the Dockerfile is wrong):\n{text}");
    assert!(text.contains(&format!("Dockerfile:{line}")), "the message names Dockerfile:{line}:\n{text}");
    text
}

#[test]
fn a_bind_source_missing_from_the_context_fails_at_its_line_as_one_missing_from_an_image_does() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "present.txt", "here\n");

    write(context.path(), "Dockerfile", "FROM busybox\nRUN --mount=type=bind,source=missing,target=/m ls /m\n");
    let text = assert_fails_at_line(&env.build(context.path(), &[]).0, 2);
    assert!(text.contains("\"/missing\": not found"), "{text}");

    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=bind,from=busybox,source=missing,target=/m ls /m\n",
    );
    assert_fails_at_line(&env.build(context.path(), &[]).0, 2);

    // A path the .dockerignore excludes is as absent as a missing one.
    write(context.path(), ".dockerignore", "present.txt\n");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN --mount=type=bind,source=present.txt,target=/m cat /m\n");
    assert_fails_at_line(&env.build(context.path(), &[]).0, 2);
}

#[test]
fn a_bind_source_linking_out_of_the_context_fails_at_its_line_and_reads_nothing_outside() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    std::os::unix::fs::symlink("/etc", context.path().join("absolute")).expect("symlink");
    std::os::unix::fs::symlink("../../../../../etc", context.path().join("relative")).expect("symlink");
    for link in ["absolute", "relative"] {
        write(
            context.path(),
            "Dockerfile",
            &format!("FROM busybox\n\nRUN --mount=type=bind,source={link},target=/m cat /m/passwd\n"),
        );
        let (output, _) = env.build(context.path(), &[]);
        let text = assert_fails_at_line(&output, 3);
        assert!(text.contains(&format!("\"/{link}\": not found")), "{link}: {text}");
        assert!(!text.contains("root:x:0:0"), "{link}: the host's /etc/passwd was read:\n{text}");
    }
}

#[test]
fn a_stack_deeper_than_overlayfs_allows_fails_at_the_step_that_hit_it_naming_the_limit() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    // Each RUN adds a layer; about 220 is what fits in the kernel's one-page mount options.
    let steps: String = (1..=260).map(|i| format!("RUN echo {i} > /step\n")).collect();
    write(context.path(), "Dockerfile", &format!("FROM busybox\n{steps}"));

    let (output, _) = env.build(context.path(), &[]);

    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "exit 1 (the Dockerfile has too many steps):\n{text}");
    let error = text.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    // `error: DIR/Dockerfile:LINE: [stage-0 LINE/261] RUN ...: ... N layers are more than
    // overlayfs can stack here: at most M fit ...`
    let line: usize = error
        .split("Dockerfile:")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Dockerfile line in {error}"));
    let layers: usize = error
        .split(" layers are more than overlayfs can stack")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no layer count in {error}"));
    let limit: usize = error
        .split("at most ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no limit in {error}"));
    // The RUN on line L stacks busybox's layer and the L - 2 RUNs before it.
    assert_eq!(layers, line - 1, "the named line is the step that stacked too many: {error}");
    // The limit counts the characters of this mount's `/proc/self/fd/N` names, and descriptor
    // numbers vary from mount to mount (a server holds more open): one more may have fit before.
    assert!((layers - 2..=layers - 1).contains(&limit), "every step below the limit ran: {error}");
    assert!(text.contains(&format!("{line} | RUN echo {} > /step", line - 1)), "the line is shown:\n{text}");
}

/// A character device of our own (a copy of /dev/null), so a regression replaces it rather
/// than the machine's /dev/null.
fn null_device(dir: &Path) -> std::path::PathBuf {
    let node = dir.join("null");
    let status = std::process::Command::new("mknod").arg(&node).args(["c", "1", "3"]).status().expect("mknod");
    assert!(status.success(), "mknod");
    node
}

fn assert_char_device(path: &Path, after: &str) {
    let meta = std::fs::symlink_metadata(path).expect("metadata");
    assert!(meta.file_type().is_char_device(), "after {after}, {} is no longer a device", path.display());
}

#[test]
fn outputs_to_a_device_are_written_in_place_and_leave_it_a_device() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("dir");
    let null = null_device(dir.path());
    let null_text = null.to_str().expect("utf-8 path");
    for format in ["docker", "oci"] {
        assert_ok(&env.cmd(&["save", "--format", format, "-o", null_text, "busybox"]).output().expect("runs"));
        assert_char_device(&null, &format!("save --format {format}"));
    }
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo built > /built\n");
    for kind in ["tar", "oci", "docker"] {
        let output = format!("type={kind},dest={null_text}");
        assert_ok(&env.build(context.path(), &["-o", &output]).0);
        assert_char_device(&null, &format!("-o {output}"));
    }
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, ["null"], "nothing was left beside the device");
}

#[test]
fn a_save_to_a_fifo_streams_the_archive_through_it() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("dir");
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::read(fifo).expect("read the fifo")
    });
    assert_ok(&env.cmd(&["save", "-o"]).arg(&fifo).arg("busybox").output().expect("runs"));
    let archive = reader.join().expect("reader");
    let copy = dir.path().join("copy.tar");
    std::fs::write(&copy, &archive).expect("write");
    let listing = std::process::Command::new("tar").arg("-tf").arg(&copy).output().expect("tar");
    assert!(listing.status.success(), "a whole tar came through");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(listing.lines().any(|p| p == "manifest.json"), "a docker-archive came through:\n{listing}");
    assert!(std::fs::symlink_metadata(&fifo).expect("metadata").file_type().is_fifo(), "still a fifo");
}

#[test]
fn archives_are_not_written_over_a_directory() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("dir");
    let output = env.cmd(&["save", "-o"]).arg(dir.path()).arg("busybox").output().expect("runs");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "exit 1 (the path is wrong):\n{text}");
    assert!(text.contains("it is a directory"), "{text}");
}

#[test]
fn a_save_removes_what_a_killed_save_left_and_leaves_nothing_of_its_own() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("dir");
    // What a save killed by SIGKILL left before: `.NAME.tmp-PID`, its pid no longer running.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    let stale = dir.path().join(format!(".s.tar.tmp-{dead}"));
    std::fs::write(&stale, "half an archive").expect("write");

    assert_ok(&env.cmd(&["save", "-o"]).arg(dir.path().join("s.tar")).arg("busybox").output().expect("runs"));

    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, ["s.tar"], "the stale temporary is gone and no new one is left");
}

#[test]
fn tag_refuses_digests_and_names_longer_than_the_reference_grammar_allows() {
    let env = Env::new();
    let hex = "a".repeat(64);
    let refused = [
        (format!("app@sha256:{hex}"), "refusing to create a tag with a digest reference"),
        (format!("sha256:{hex}"), "refusing to create a tag with a digest reference"),
        // docker.io/library/ plus 238 characters is 256.
        ("a".repeat(238), "must not be more than 255 characters"),
        (format!("app:{}", "t".repeat(129)), "must not be more than 128 characters"),
    ];
    for (name, message) in &refused {
        let output = env.cmd(&["tag", "busybox", name]).output().expect("runs");
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "tag busybox {name}: exit 1:\n{text}");
        assert!(text.contains(message), "tag busybox {name}: {text}");
    }
    // The longest names the grammar allows are still taken.
    let longest_tag = format!("app:{}", "t".repeat(128));
    assert_ok(&env.cmd(&["tag", "busybox", &longest_tag]).output().expect("runs"));
    assert_ok(&env.cmd(&["tag", "busybox", &"a".repeat(237)]).output().expect("runs"));
    let images = String::from_utf8_lossy(&env.cmd(&["images"]).output().expect("runs").stdout).into_owned();
    assert!(!images.lines().any(|l| l.starts_with("sha256 ")), "no image is named like an id:\n{images}");
    assert_eq!(images.lines().count(), 4, "header, busybox and the two valid names:\n{images}");

    // `build -t` gives names too.
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\n");
    let output = env.build(context.path(), &["-t", &format!("app@sha256:{hex}")]).0;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("refusing to create a tag with a digest reference"), "{}", stderr(&output));
}

#[test]
fn add_of_a_git_url_without_git_installed_is_an_environment_failure() {
    let env = Env::new();
    assert_ok(&env.cmd(&["server", "stop"]).output().expect("server stop"));
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nADD https://git.example.invalid/project.git /src\n");
    // In-process, with a PATH that has runc but no git.
    let output = env
        .cmd(&["--no-server", "build", "--progress", "plain"])
        .arg(context.path())
        .env("PATH", "/usr/sbin:/sbin")
        .output()
        .expect("build");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "the machine lacks git, the Dockerfile is fine:\n{text}");
    assert!(text.contains("git"), "{text}");
}

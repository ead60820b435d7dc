//! Archives through pipes, as docker's: `save` and `build -o ...,dest=-` write to standard
//! output exactly the bytes their file forms write, `load` reads standard input, compressed
//! archives load, and a reader that goes away ends the writer quietly.

use std::process::Stdio;

use crate::engine::{Env, assert_ok, write};

/// Runs graphbuild and returns its standard output; it must succeed.
fn bytes(env: &Env, args: &[&str]) -> Vec<u8> {
    let output = env.cmd(args).output().expect("runs");
    assert_ok(&output);
    output.stdout
}

fn built(env: &Env) -> tempfile::TempDir {
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo piped > /piped\n");
    let output = env.cmd(&["build", "-q", "-t", "piped:1"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    context
}

#[test]
fn save_and_build_archives_on_standard_output_match_their_files() {
    let env = Env::new();
    let context = built(&env);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("saved.tar");
    bytes(&env, &["save", "-o", &file.display().to_string(), "piped:1"]);
    let saved = std::fs::read(&file).expect("saved");
    assert_eq!(bytes(&env, &["save", "piped:1"]), saved, "save with no -o");
    assert_eq!(bytes(&env, &["save", "-o", "-", "piped:1"]), saved, "save -o -");
    assert_eq!(bytes(&env, &["image", "save", "piped:1"]), saved, "image save");

    let ctx = context.path().display().to_string();
    for kind in ["oci", "docker", "tar"] {
        let dest = dir.path().join(format!("out.{kind}"));
        bytes(&env, &["build", "--progress", "quiet", "-o", &format!("type={kind},dest={}", dest.display()), &ctx]);
        let piped = bytes(&env, &["build", "--progress", "quiet", "-o", &format!("type={kind},dest=-"), &ctx]);
        assert!(piped == std::fs::read(&dest).expect("export"), "type={kind},dest=- differs from its file");
        if kind == "tar" {
            assert!(piped == bytes(&env, &["build", "--progress", "quiet", "-o", "-", &ctx]), "-o -");
            assert!(!context.path().join("-").exists(), "no directory named -");
        }
    }
}

#[test]
fn load_reads_standard_input_and_compressed_archives() {
    let env = Env::new();
    built(&env);
    let dir = tempfile::tempdir().expect("dir");
    let archive = dir.path().join("piped.tar");
    bytes(&env, &["save", "-o", &archive.display().to_string(), "piped:1"]);
    let loads = |args: &[&str], stdin: Option<&std::path::Path>| {
        bytes(&env, &["rmi", "piped:1"]);
        let mut command = env.cmd(args);
        if let Some(path) = stdin {
            command.pipe_stdin(path).expect("stdin");
        }
        let output = command.output().expect("load");
        assert_ok(&output);
        assert_eq!(String::from_utf8_lossy(&output.stdout), "Loaded image: piped:1\n", "{args:?}");
        assert_eq!(bytes(&env, &["run", "--rm", "piped:1", "cat", "/piped"]), b"piped\n");
    };
    loads(&["load"], Some(&archive));
    loads(&["load", "-i", "-"], Some(&archive));
    for (tool, package, suffix) in
        [("gzip", "gzip", "gz"), ("bzip2", "bzip2", "bz2"), ("xz", "xz-utils", "xz"), ("zstd", "zstd", "zst")]
    {
        gb_test_support::require_tool(tool, package);
        let status = std::process::Command::new(tool).args(["-k", "-q"]).arg(&archive).status().expect(tool);
        assert!(status.success(), "{tool}");
        let compressed = dir.path().join(format!("piped.tar.{suffix}"));
        loads(&["load", "-i", &compressed.display().to_string()], None);
        loads(&["image", "load"], Some(&compressed));
    }
}

/// An image loaded again (under another name) keeps when it was stored: `images` shows one
/// time for it, as docker shows the image's own.
#[test]
fn a_loaded_image_already_stored_keeps_its_time() {
    let env = Env::new();
    bytes(&env, &["tag", "busybox", "kept:1"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let archive = bytes(&env, &["save", "busybox"]);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("busybox.tar");
    std::fs::write(&path, archive).expect("write");
    bytes(&env, &["load", "-i", &path.display().to_string()]);
    let times = bytes(&env, &["images", "--format", "{{.CreatedAt}}"]);
    let times = String::from_utf8_lossy(&times).into_owned();
    assert_eq!(times.lines().collect::<std::collections::BTreeSet<_>>().len(), 1, "{times}");
}

#[test]
fn a_reader_that_goes_away_ends_save_export_and_build_quietly() {
    let env = Env::new();
    let context = built(&env);
    // Big enough that the writer is still writing when the reader goes.
    write(context.path(), "Dockerfile", "FROM busybox\nRUN head -c 4000000 /dev/urandom > /big\n");
    let context = context.path().display().to_string();
    assert_ok(
        &env.cmd(&["run", "--name", "exported", "busybox", "sh", "-c", "head -c 4000000 /dev/urandom > /big"])
            .output()
            .expect("run"),
    );
    let commands: [&[&str]; 4] = [
        &["save", "piped:1"],
        &["export", "exported"],
        &["build", "-q", "-o", "-", &context],
        &["build", "-q", "-o", "type=oci,dest=-", &context],
    ];
    for args in commands {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
            .arg("--root")
            .arg(env.root.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        // Read a little, then close the pipe, as `| head -c 10` does.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 10];
        std::io::Read::read_exact(&mut stdout, &mut first).expect("the archive starts");
        drop(stdout);
        let output = child.wait_with_output().expect("ends");
        assert_eq!(output.status.code(), Some(141), "{args:?}: as a shell reports SIGPIPE");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked") && !stderr.to_lowercase().contains("error"), "{args:?}: {stderr}");
    }
}

/// Serves `body` over http on loopback to every request, from a thread of its own; returns the
/// URL.
fn serve(body: Vec<u8>) -> String {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = (&stream).write_all(head.as_bytes()).and_then(|()| (&stream).write_all(&body));
        }
    });
    format!("http://{addr}/rootfs.tar.zst")
}

/// `import` from standard input and from a URL, compressed, nameless or named, with
/// `--change`: the id it prints is what `run`, `tag` and `rmi` take.
#[test]
fn import_reads_standard_input_and_urls_and_prints_a_usable_id() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("dir");
    let tarball = gb_test_support::busybox_tar();
    gb_test_support::require_tool("xz", "xz-utils");
    gb_test_support::require_tool("zstd", "zstd");
    let (xz, zst) = (dir.path().join("rootfs.tar.xz"), dir.path().join("rootfs.tar.zst"));
    for (tool, out) in [("xz", &xz), ("zstd", &zst)] {
        let compressed = std::process::Command::new(tool).arg("-c").arg(&tarball).output().expect(tool);
        assert!(compressed.status.success(), "{tool}");
        std::fs::write(out, compressed.stdout).expect("write");
    }
    let output = env
        .cmd(&["import", "-c", "CMD [\"cat\", \"/etc/motd-ish\"]", "-c", "ENV GREETING=hi", "-c", "WORKDIR /tmp", "-"])
        .pipe_stdin(&xz)
        .expect("stdin")
        .output()
        .expect("import");
    assert_ok(&output);
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let dangling = bytes(&env, &["images", "-q", "--no-trunc", "-f", "dangling=true"]);
    assert_eq!(String::from_utf8_lossy(&dangling).trim(), id, "a nameless import is known by its id");
    let ran = bytes(&env, &["run", "--rm", &id, "sh", "-c", "echo $GREETING from $(pwd)"]);
    assert_eq!(String::from_utf8_lossy(&ran), "hi from /tmp\n");
    let config = bytes(&env, &["image", "inspect", "-f", "{{json .Config.Cmd}}", &id]);
    assert_eq!(String::from_utf8_lossy(&config).trim(), r#"["cat","/etc/motd-ish"]"#);
    bytes(&env, &["tag", &id, "imported:1"]);
    assert_eq!(bytes(&env, &["rmi", "imported:1"]), format!("Untagged: imported:1\nDeleted: {id}\n").into_bytes());

    let url = serve(std::fs::read(&zst).expect("zst"));
    let from_url = bytes(&env, &["image", "import", &url, "fromurl:1"]);
    let from_url = String::from_utf8_lossy(&from_url).trim().to_owned();
    assert_eq!(bytes(&env, &["images", "-q", "--no-trunc", "fromurl:1"]), format!("{from_url}\n").into_bytes());
    assert_eq!(bytes(&env, &["run", "--rm", "fromurl:1", "echo", "ok"]), b"ok\n");
    let history = bytes(&env, &["history", "--no-trunc", "--format", "{{.CreatedBy}}", "fromurl:1"]);
    assert_eq!(String::from_utf8_lossy(&history).trim(), format!("graphbuild import {url}"));

    let refused = env.cmd(&["import", "-c", "RUN true", "-"]).pipe_stdin(&xz).expect("stdin").output().expect("import");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("RUN is not a valid change command"));
}

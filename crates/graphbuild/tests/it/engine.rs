//! End-to-end builds with real RUN steps on a busybox base (Debian's busybox-static): the
//! cache rules, parallel stages, failures, secrets, crash safety, and `solve`.
//!
//! These tests need root (mounts, runc), as graphbuild itself does; CI runs as root.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::{graphbuild, repo_root};

pub use gb_test_support::busybox_tar;

/// A fresh state root with busybox imported.
pub struct Env {
    pub root: tempfile::TempDir,
}

impl Drop for Env {
    /// Stops the root's server before the root goes: it writes build records after answering,
    /// and writes the last ones before it exits, so removing the root then races with nothing.
    fn drop(&mut self) {
        let _ = crate::graphbuild().arg("--root").arg(self.root.path()).args(["server", "stop"]).output();
    }
}

impl Env {
    pub fn new() -> Self {
        gb_test_support::require_root();
        let root = tempfile::tempdir().expect("temp root");
        let env = Self { root };
        let output = env.cmd(&["import"]).arg(busybox_tar()).arg("busybox:latest").output().expect("runs");
        assert!(output.status.success(), "import failed: {}", String::from_utf8_lossy(&output.stderr));
        env
    }

    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = graphbuild();
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd
    }

    /// Builds `context` with `extra` flags into a new directory (`-o type=local`), which it
    /// returns; the build must succeed.
    pub fn build_local(&self, context: &Path, extra: &[&str]) -> tempfile::TempDir {
        let out = tempfile::tempdir().expect("output directory");
        let output = self
            .cmd(&["build", "--progress", "plain"])
            .args(extra)
            .arg("-o")
            .arg(format!("type=local,dest={}", out.path().display()))
            .arg(context)
            .output()
            .expect("runs");
        assert_ok(&output);
        out
    }

    /// Builds with JSON progress; returns the output and the parsed events.
    pub fn build(&self, context: &Path, extra: &[&str]) -> (Output, Vec<Value>) {
        let output = self.cmd(&["build", "--progress", "json"]).args(extra).arg(context).output().expect("runs");
        let events = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (output, events)
    }
}

pub fn started(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "op_started")
        .map(|e| e["description"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub fn assert_ok(output: &Output) {
    assert!(output.status.success(), "build failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

pub fn write(dir: &Path, path: &str, content: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn multistage_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("context");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(repo_root().join("examples/multistage/."))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(status.success());
    dir
}

#[test]
fn multistage_builds_exports_and_rebuilds_from_cache() {
    let env = Env::new();
    let context = multistage_context();
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, events) = env.build(context.path(), &["-o", &dest]);
    assert_ok(&output);
    let runs = started(&events).iter().filter(|d| d.contains("RUN")).count();
    assert_eq!(runs, 5, "all five RUN steps ran: {:?}", started(&events));
    for file in ["opt/liba.tar", "opt/libb.tar", "opt/tool.out", "opt/test.log", "bin/busybox"] {
        assert!(out.path().join(file).exists(), "{file} is in the exported root file system");
    }
    let tool = std::fs::read_to_string(out.path().join("opt/tool.out")).expect("tool output");
    assert!(tool.contains("line 2000"), "the tool stage's RUN really ran");

    // A no-op rebuild runs nothing.
    let (output, events) = env.build(context.path(), &[]);
    assert_ok(&output);
    assert!(started(&events).is_empty(), "no-op rebuild ran {:?}", started(&events));
    assert!(events.iter().any(|e| e["event"] == "op_cached"));
}

#[test]
fn cache_follows_exactly_the_files_each_copy_reads() {
    let env = Env::new();
    let context = multistage_context();
    assert_ok(&env.build(context.path(), &[]).0);

    // A file no instruction reads: nothing runs.
    write(context.path(), "unread/notes.txt", "nobody copies this");
    let (output, events) = env.build(context.path(), &[]);
    assert_ok(&output);
    assert!(started(&events).is_empty(), "an unread file re-ran {:?}", started(&events));

    // Only an mtime change: nothing runs.
    let final_file = std::fs::read_dir(context.path().join("final"))
        .expect("final dir")
        .next()
        .expect("a file")
        .expect("entry")
        .path();
    let content = std::fs::read(&final_file).expect("read");
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&final_file, &content).expect("rewrite same content");
    let (output, events) = env.build(context.path(), &[]);
    assert_ok(&output);
    assert!(started(&events).is_empty(), "an mtime-only change re-ran {:?}", started(&events));

    // A file only the last stage's COPY reads: that COPY alone re-runs.
    std::fs::write(&final_file, [content.as_slice(), b"one more line\n"].concat()).expect("change");
    let (output, events) = env.build(context.path(), &[]);
    assert_ok(&output);
    let ran = started(&events);
    assert_eq!(ran.len(), 1, "only the COPY of final/ re-runs: {ran:?}");
    assert!(ran[0].contains("COPY final/"), "{ran:?}");
}

#[test]
fn every_instruction_takes_effect() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "app/hello.txt", "hello\n");
    write(context.path(), "app/skip.log", "ignored\n");
    write(context.path(), ".dockerignore", "app/*.log\n");
    let status = std::process::Command::new("tar")
        .args(["-czf", "bundle.tar.gz", "app/hello.txt"])
        .current_dir(context.path())
        .status()
        .expect("tar");
    assert!(status.success());
    write(
        context.path(),
        "Dockerfile",
        r#"FROM busybox AS base
ARG GREETING=hi
ENV APP_HOME=/srv/app PATH=/srv/app/bin:$PATH
WORKDIR $APP_HOME
COPY --chown=app:app app/ ./
ADD bundle.tar.gz /unpacked/
RUN echo "$GREETING from $(pwd) as $(id -u)" > greeting.txt && echo $PATH > path.txt
USER app
RUN id -u > /tmp/uid.txt && touch /srv/app/owned-by-app 2>/dev/null || echo "not writable" > /tmp/write.txt
USER root
RUN --mount=type=cache,target=/cache echo cached >> /cache/count && cat /cache/count | wc -l > /cache-runs.txt
RUN --mount=type=tmpfs,target=/scratch touch /scratch/gone && ls /scratch > /tmpfs.txt
RUN --network=none cat /proc/net/dev | grep -c : > /netdevs.txt
RUN <<EOF
echo heredoc script > /heredoc.txt
EOF
COPY <<EOF /etc/motd
motd for $GREETING
EOF
FROM busybox
COPY --from=base / /
CMD ["cat", "/srv/app/greeting.txt"]
"#,
    );
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["-o", &dest, "--build-arg", "GREETING=hey"]);
    assert_ok(&output);
    let read = |p: &str| std::fs::read_to_string(out.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("srv/app/greeting.txt"), "hey from /srv/app as 0\n");
    assert!(read("srv/app/path.txt").starts_with("/srv/app/bin:/usr/local/sbin"), "{}", read("srv/app/path.txt"));
    assert_eq!(read("srv/app/hello.txt"), "hello\n");
    assert!(!out.path().join("srv/app/skip.log").exists(), ".dockerignore'd file was copied");
    assert_eq!(read("unpacked/app/hello.txt"), "hello\n", "ADD extracts a local tar.gz");
    assert_eq!(read("tmp/uid.txt"), "1000\n");
    assert_eq!(read("cache-runs.txt").trim(), "1");
    assert_eq!(read("tmpfs.txt"), "gone\n");
    assert_eq!(read("netdevs.txt").trim(), "1", "only lo in a --network=none namespace");
    assert_eq!(read("heredoc.txt"), "heredoc script\n");
    assert_eq!(read("etc/motd"), "motd for hey\n");
    use std::os::unix::fs::MetadataExt as _;
    let owner = std::fs::metadata(out.path().join("srv/app/hello.txt")).expect("meta");
    assert_eq!((owner.uid(), owner.gid()), (1000, 1000), "COPY --chown=app:app");
    assert!(!out.path().join("scratch").exists(), "the tmpfs mount point leaked into the layer");
    assert!(!out.path().join("cache").exists(), "the cache mount point leaked into the layer");
}

#[test]
fn a_failing_run_stops_the_build_with_its_line_exit_code_and_output() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN echo step one\nRUN echo about to fail && echo detail >&2 && exit 7\nRUN echo never\n",
    );
    let (output, events) = env.build(context.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(
        error.contains("Dockerfile:3") && error.contains("did not complete successfully: exit code: 7"),
        "{stderr}"
    );
    assert!(stderr.contains("detail"), "the last output lines are shown: {stderr}");
    assert!(!started(&events).iter().any(|d| d.contains("never")), "steps after the failure do not run");
}

#[test]
fn independent_stages_run_at_the_same_time() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS a\nRUN sleep 1 && echo a > /a\nFROM busybox AS b\nRUN sleep 1 && echo b > /b\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    );
    let (output, events) = env.build(context.path(), &["--max-parallelism", "2"]);
    assert_ok(&output);
    let spans: Vec<(u64, u64)> = events
        .iter()
        .filter(|e| e["event"] == "op_completed" && e["description"].as_str().is_some_and(|d| d.contains("sleep 1")))
        .map(|e| {
            let start = e["started_ms"].as_u64().unwrap_or_default();
            (start, start + e["duration_ms"].as_u64().unwrap_or_default())
        })
        .collect();
    assert_eq!(spans.len(), 2, "{events:?}");
    let (a, b) = (spans[0], spans[1]);
    assert!(a.0 < b.1 && b.0 < a.1, "the two RUN steps overlap in time: {spans:?}");
}

#[test]
fn a_secret_is_usable_but_never_stored() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    let secret = context.path().join("token.txt");
    std::fs::write(&secret, "s3cr3t-v4lue-graphbuild").expect("secret");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /length\nRUN --mount=type=secret,id=token,env=TOKEN [ ${#TOKEN} -eq 23 ] && case \"$TOKEN\" in s3cr3t*) true;; *) false;; esac\n",
    );
    std::fs::write(context.path().join(".dockerignore"), "token.txt\n").expect("ignore");
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let arg = format!("id=token,src={}", secret.display());
    let (output, _) = env.build(context.path(), &["--secret", &arg, "-o", &dest]);
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(out.path().join("length")).expect("length").trim(), "23");
    assert!(!out.path().join("run/secrets/token").exists(), "the secret mount point leaked");
    let grep = std::process::Command::new("grep")
        .args(["-r", "-l", "s3cr3t-v4lue"])
        .arg(env.root.path())
        .output()
        .expect("grep");
    assert!(grep.stdout.is_empty(), "the secret is in the store: {}", String::from_utf8_lossy(&grep.stdout));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cr3t-v4lue"), "the secret is in the log");
}

#[test]
fn killed_mid_build_then_rebuild_succeeds_with_the_same_result() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox\nRUN echo first > /first\nRUN sleep 3 && echo second > /second\n",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(["build", "--progress", "plain"])
        .arg(context.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill").args(["-9", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let _ = child.wait();
    // Whatever the killed build left (mounts, a running container, a half-written layer), the
    // next build must succeed and give the right result.
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["-o", &dest]);
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(out.path().join("second")).expect("second"), "second\n");
    assert_eq!(std::fs::read_to_string(out.path().join("first")).expect("first"), "first\n");
}

#[test]
fn solve_rejects_a_definition_listing_an_op_before_its_input() {
    // The review's input: a lowered Definition with its ops reversed made `graphbuild solve`
    // panic (exit 101, "no entry found for key"). It is rejected while reading, before the
    // state root is opened, as the user's input.
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo one\nRUN echo two\n");
    let lowered = crate::Scratch::new().graphbuild().arg("lower").arg(context.path()).output().expect("lower");
    assert_ok(&lowered);
    let mut definition: Value = serde_json::from_slice(&lowered.stdout).expect("json");
    definition["ops"].as_array_mut().expect("ops").reverse();
    let file = context.path().join("definition.json");
    std::fs::write(&file, definition.to_string()).expect("write definition");
    let root = tempfile::tempdir().expect("root");
    let output = graphbuild().arg("--root").arg(root.path()).arg("solve").arg(&file).output().expect("solve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("every op must come after its inputs"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn solve_runs_a_definition_from_another_front_end() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nCOPY data.txt /data.txt\nRUN wc -c < /data.txt > /size\n");
    write(context.path(), "data.txt", "twelve bytes");
    let lowered = env.cmd(&["lower"]).arg(context.path()).output().expect("lower");
    assert_ok(&lowered);
    let definition = context.path().join("definition.json");
    std::fs::write(&definition, &lowered.stdout).expect("write definition");
    let out = tempfile::tempdir().expect("out");
    let output = env
        .cmd(&["solve", "--progress", "plain", "--local"])
        .arg(format!("context={}", context.path().display()))
        .arg("-o")
        .arg(format!("type=local,dest={}", out.path().display()))
        .arg(&definition)
        .output()
        .expect("solve");
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(out.path().join("size")).expect("size").trim(), "12");
}

#[test]
fn tar_output_holds_the_root_file_system() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo in-tar > /marker\n");
    let tar = context.path().join("out.tar");
    let dest = format!("type=tar,dest={}", tar.display());
    assert_ok(&env.build(context.path(), &["-o", &dest]).0);
    let listing = std::process::Command::new("tar").arg("-tf").arg(&tar).output().expect("tar");
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(names.lines().any(|l| l.trim_start_matches("./") == "marker"), "{names}");
    assert!(names.lines().any(|l| l.trim_start_matches("./") == "bin/busybox"), "{names}");

    // A no-op rebuild leaves the unchanged tar alone; a tar someone changed is written again.
    let modified = || std::fs::metadata(&tar).and_then(|m| m.modified()).expect("mtime");
    let before = modified();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_ok(&env.build(context.path(), &["-o", &dest]).0);
    assert_eq!(modified(), before, "an unchanged output was rewritten");
    std::fs::write(&tar, b"clobbered").expect("clobber");
    assert_ok(&env.build(context.path(), &["-o", &dest]).0);
    assert!(std::fs::metadata(&tar).expect("tar").len() > 1024, "a changed output file was not rewritten");
}

#[test]
fn a_missing_base_image_is_a_clear_error() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM nosuchimage:1\nRUN true\n");
    let (output, _) = env.build(context.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The registry's own answer, at the FROM line: unreachable (no internet here: exit 3, the
    // environment's) or no such image (exit 1), plus how to make one locally.
    let expected = if stderr.contains("unreachable") { 3 } else { 1 };
    assert_eq!(output.status.code(), Some(expected), "{stderr}");
    assert!(stderr.contains("Dockerfile:1:"), "{stderr}");
    assert!(stderr.contains("nosuchimage") && stderr.contains("graphbuild import"), "{stderr}");
}

/// An HTTP server on 127.0.0.1 serving the files below a directory (query strings ignored, 404
/// for anything else), enough for a tarball and for git's dumb http protocol; stopped on drop.
pub struct FileServer {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FileServer {
    pub fn serve(root: std::path::PathBuf) -> Self {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let mut reader = std::io::BufReader::new(stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                // The rest of the request head, up to the blank line.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/").trim_start_matches('/');
                let file = root.join(path);
                let mut stream = reader.into_inner();
                let found = !path.contains("..") && file.is_file();
                let body = if found { std::fs::read(&file).unwrap_or_default() } else { Vec::new() };
                let status = if found { "200 OK" } else { "404 Not Found" };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Self { port, stop }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn add_fetches_urls_with_checksums_and_git_repositories() {
    let env = Env::new();
    let served = tempfile::tempdir().expect("served");
    write(served.path(), "files/data.txt", "downloaded content\n");
    let server = FileServer::serve(served.path().to_path_buf());
    let repo_parent = tempfile::tempdir().expect("repo");
    let repo = RepoDir(repo_parent.path().join("project.git"));
    std::fs::create_dir_all(repo.path()).expect("repo dir");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(repo.path())
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    write(repo.path(), "docs/readme.md", "from git\n");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "one"]);
    git(&["tag", "v1"]);

    let context = tempfile::tempdir().expect("context");
    let url = format!("http://127.0.0.1:{}/files/data.txt", server.port);
    write(
        context.path(),
        "Dockerfile",
        &format!(
            "FROM busybox\nADD {url} /downloads/\nADD file://{}#v1:docs /from-git/\nRUN cat /downloads/data.txt /from-git/readme.md > /both\n",
            repo.path().display()
        ),
    );
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["-o", &dest]);
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(out.path().join("both")).expect("both"), "downloaded content\nfrom git\n");

    // A wrong --checksum fails the build and names both digests.
    let wrong = format!("sha256:{}", "0".repeat(64));
    write(context.path(), "Dockerfile", &format!("FROM busybox\nADD --checksum={wrong} {url} /x\n"));
    let (output, _) = env.build(context.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&wrong), "{}", String::from_utf8_lossy(&output.stderr));
}

struct RepoDir(PathBuf);

impl RepoDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

#[test]
fn a_locked_cache_mount_has_one_user_at_a_time() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    // Each step fails if it finds the other inside the cache directory.
    let step = |name: &str| {
        format!(
            "FROM busybox AS {name}\nRUN --mount=type=cache,id=shared-tool,target=/c,sharing=locked \
             mkdir /c/busy && sleep 0.5 && rmdir /c/busy && echo {name} > /{name}\n"
        )
    };
    write(
        context.path(),
        "Dockerfile",
        &format!("{}{}FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n", step("a"), step("b")),
    );
    let (output, _) = env.build(context.path(), &["--max-parallelism", "2"]);
    assert_ok(&output);
}

#[test]
fn ctrl_c_cancels_the_build_and_leaves_the_cache_usable() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    // A duration no other process uses, so the RUN's process can be told apart.
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo quick > /quick\nRUN sleep 3011\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graphbuild"))
        .arg("--root")
        .arg(env.root.path())
        .args(["build", "--progress", "plain"])
        .arg(context.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Ctrl-C once the long step runs (so the first one has finished and been cached).
    while !gb_test_support::process_alive(&["sleep", "3011"]) {
        assert!(child.try_wait().expect("try_wait").is_none(), "the build ended before its long step ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(!gb_test_support::process_alive(&["sleep", "3011"]), "the cancelled step's process outlived the build");
    assert_eq!(exit.code(), Some(130), "a cancelled build exits 130");
    // The step that finished before Ctrl-C is cached; nothing half-written is.
    write(context.path(), "Dockerfile", "FROM busybox\nRUN echo quick > /quick\n");
    let (output, events) = env.build(context.path(), &[]);
    assert_ok(&output);
    assert!(
        crate::engine::started(&events).is_empty(),
        "the finished step was cached: {:?}",
        crate::engine::started(&events)
    );
}

#[test]
fn bind_sources_resolve_symlinks_inside_the_snapshot_and_caches_seed_from_a_stage() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS tree\nRUN mkdir -p /opt/app-1 /seed && echo inside > /opt/app-1/marker && ln -s /opt/app-1 /current \
         && ln -s / /hostroot && echo seeded > /seed/file\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=tree,source=/current,target=/mnt cat /mnt/marker > /via-link\n\
         RUN --mount=type=bind,from=tree,source=/hostroot,target=/h ls /h > /hostroot-listing\n\
         RUN --mount=type=cache,id=seeded,from=tree,source=/seed,target=/c cat /c/file > /from-cache\n",
    );
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["-o", &dest]);
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(out.path().join("via-link")).expect("via-link"), "inside\n");
    let listing = std::fs::read_to_string(out.path().join("hostroot-listing")).expect("listing");
    assert!(listing.contains("hostroot") && listing.contains("seed"), "a link to / is the snapshot's root: {listing}");
    assert!(!listing.lines().any(|l| l == "work"), "the host's root leaked into the container: {listing}");
    assert_eq!(std::fs::read_to_string(out.path().join("from-cache")).expect("from-cache"), "seeded\n");
}

#[test]
fn a_copy_through_a_symlink_sees_changes_to_its_target() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "conf/prod.conf", "version 1\n");
    std::os::unix::fs::symlink("conf/prod.conf", context.path().join("app.conf")).expect("symlink");
    write(context.path(), "Dockerfile", "FROM busybox\nCOPY app.conf /etc/app.conf\n");
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    assert_ok(&env.build(context.path(), &["-o", &dest]).0);
    assert_eq!(std::fs::read_to_string(out.path().join("etc/app.conf")).expect("conf"), "version 1\n");
    write(context.path(), "conf/prod.conf", "version 2\n");
    let (output, events) = env.build(context.path(), &["-o", &dest]);
    assert_ok(&output);
    assert_eq!(started(&events).len(), 1, "the COPY re-ran: {:?}", started(&events));
    assert_eq!(std::fs::read_to_string(out.path().join("etc/app.conf")).expect("conf"), "version 2\n");
}

#[test]
fn lower_uses_an_image_in_the_local_store_as_it_is() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS first\nENV PATH=/extra:$PATH\nRUN true\nFROM nosuch/image:1\nRUN true\n",
    );
    let output = env.cmd(&["lower", "--target", "first"]).arg(context.path()).output().expect("lower");
    assert_ok(&output);
    let definition: Value = serde_json::from_slice(&output.stdout).expect("json");
    let image = &definition["image"];
    assert_eq!(image["base_config_applied"], true, "busybox's config comes from the store: {image}");
    let env_value = image["config"]["env"][0]["value"].as_str().unwrap_or_default();
    assert!(env_value.starts_with("/extra:/usr/local/sbin"), "PATH expanded with the stored image's PATH: {image}");
    let source = definition["ops"][0]["op"]["source"]["image"].clone();
    assert!(source["manifest"].as_str().is_some_and(|m| m.starts_with("sha256:")), "pinned: {source}");
    // An image that is not in the store is deferred, as without a store.
    let output = env.cmd(&["lower"]).arg(context.path()).output().expect("lower");
    assert_ok(&output);
    let definition: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(definition["image"].get("base_config_applied").is_none(), "{}", definition["image"]);
}

/// An HTTP server that answers no request until `expected` requests are in flight at once (or
/// 10 s went by: then 500), so a build succeeds against it only if it downloads concurrently.
struct BarrierServer {
    port: u16,
}

impl BarrierServer {
    fn serve(expected: usize) -> Self {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let arrived = std::sync::Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        std::thread::spawn(move || {
            for stream in listener.incoming().take(expected) {
                let Ok(mut stream) = stream else { continue };
                let arrived = arrived.clone();
                std::thread::spawn(move || {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request);
                    let (count, all_here) = &*arrived;
                    let mut count = count.lock().expect("count");
                    *count += 1;
                    all_here.notify_all();
                    let (count, _) = all_here
                        .wait_timeout_while(count, std::time::Duration::from_secs(10), |n| *n < expected)
                        .expect("wait");
                    let (status, body) = if *count >= expected { ("200 OK", "together\n") } else { ("500 Alone", "") };
                    drop(count);
                    let header =
                        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    let _ = stream.write_all(header.as_bytes());
                    let _ = stream.write_all(body.as_bytes());
                });
            }
        });
        Self { port }
    }
}

#[test]
fn a_builds_downloads_run_at_once() {
    let env = Env::new();
    let server = BarrierServer::serve(2);
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        &format!(
            "FROM busybox\nADD http://127.0.0.1:{0}/one.txt /one.txt\nADD http://127.0.0.1:{0}/two.txt /two.txt\n",
            server.port
        ),
    );
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["-o", &dest]);
    assert_ok(&output);
    for file in ["one.txt", "two.txt"] {
        assert_eq!(std::fs::read_to_string(out.path().join(file)).expect(file), "together\n");
    }
}

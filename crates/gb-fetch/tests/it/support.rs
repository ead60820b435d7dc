//! Test fixtures: a tiny HTTP/1.1 server on loopback and a small git repository.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;

use tempfile::TempDir;

/// One canned response, served for requests whose target (path and query) equals `target`.
pub struct Route {
    pub target: &'static str,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Route {
    pub fn ok(target: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self { target, status: 200, headers: Vec::new(), body: body.into() }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn redirect(target: &'static str, location: &str) -> Self {
        Self { target, status: 302, headers: vec![("Location", location.to_owned())], body: Vec::new() }
    }
}

/// Serves `routes` (404 for anything else) on an ephemeral loopback port for the rest of the
/// test process; returns the base URL, `http://127.0.0.1:<port>`.
pub fn serve(routes: Vec<Route>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("the bound address"));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // A client that hangs up early is not the server's problem.
            let _ = respond(stream, &routes);
        }
    });
    base
}

fn respond(stream: TcpStream, routes: &[Route]) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let target = request_line.split(' ').nth(1).unwrap_or("");
    let not_found = Route { target: "", status: 404, headers: Vec::new(), body: b"not found".to_vec() };
    let route = routes.iter().find(|route| route.target == target).unwrap_or(&not_found);
    let mut head =
        format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n", route.status, route.body.len());
    for (name, value) in &route.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    stream.write_all(head.as_bytes())?;
    stream.write_all(&route.body)?;
    stream.flush()
}

/// Runs git in `dir` with no user configuration and fixed identities and dates; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=trunk"])
        .args(["-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A repository whose default branch is `trunk` (not `main` or `master`, so nothing assumes
/// a name), with two commits and an annotated tag `v1` on the first.
pub struct Repo {
    pub dir: TempDir,
    /// Its `file://` URL.
    pub url: String,
    /// The first commit: `README`, `sub/inner.txt` = "inner v1", `sub/deeper/leaf.txt`.
    pub first: String,
    /// The second commit, the tip of `trunk`: `sub/inner.txt` = "inner v2", `two.txt` added.
    pub second: String,
    /// The object id of the annotated tag `v1` (not the commit's).
    pub tag_object: String,
}

impl Repo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path();
        git(root, &["init", "--quiet"]);
        std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
        std::fs::write(root.join("README"), "hello\n").expect("write");
        std::fs::write(root.join("sub/inner.txt"), "inner v1\n").expect("write");
        std::fs::write(root.join("sub/deeper/leaf.txt"), "leaf\n").expect("write");
        git(root, &["add", "."]);
        git(root, &["commit", "--quiet", "-m", "one"]);
        let first = git(root, &["rev-parse", "HEAD"]);
        git(root, &["tag", "-a", "v1", "-m", "release one"]);
        let tag_object = git(root, &["rev-parse", "v1"]);
        std::fs::write(root.join("sub/inner.txt"), "inner v2\n").expect("write");
        std::fs::write(root.join("two.txt"), "two\n").expect("write");
        git(root, &["add", "."]);
        git(root, &["commit", "--quiet", "-m", "two"]);
        let second = git(root, &["rev-parse", "HEAD"]);
        let url = format!("file://{}", root.display());
        Self { dir, url, first, second, tag_object }
    }

    /// Adds a commit on `trunk` and returns it.
    pub fn commit_more(&self) -> String {
        std::fs::write(self.dir.path().join("three.txt"), "three\n").expect("write");
        git(self.dir.path(), &["add", "."]);
        git(self.dir.path(), &["commit", "--quiet", "-m", "three"]);
        git(self.dir.path(), &["rev-parse", "HEAD"])
    }
}

/// The names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref()).unwrap_or_else(|error| panic!("read {}: {error}", path.as_ref().display()))
}

//! A real registry for tests: Debian's `docker-registry` (the CNCF distribution) on a free
//! loopback port, storage in a temporary directory, killed (by its PID) when dropped.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::tools::{require_tool, run};

/// The user and password a registry started with [`TestRegistry::start_with_auth`] accepts.
pub const USER: &str = "tester";
pub const PASSWORD: &str = "pw-Secret-8c1f";

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A running registry.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The registry's storage directory.
    pub storage: PathBuf,
    dir: TempDir,
}

impl TestRegistry {
    /// A registry anyone may pull from and push to.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A registry that needs [`USER`] and [`PASSWORD`] (htpasswd, bcrypt).
    pub fn start_with_auth() -> Self {
        Self::launch(true)
    }

    fn launch(auth: bool) -> Self {
        require_tool(REGISTRY_BINARY, "docker-registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("create storage");
        let addr = format!("127.0.0.1:{}", free_port());
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        if auth {
            require_tool("htpasswd", "apache2-utils");
            let htpasswd = dir.path().join("htpasswd");
            let line = run("htpasswd", &["-Bbn", USER, PASSWORD]);
            fs::write(&htpasswd, line.trim_end()).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: graphbuild-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write config");
        let log = fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = TestRegistry { child, addr, storage, dir };
        registry.wait_ready();
        registry
    }

    /// Waits until `/v2/` answers (200, or 401 with authentication).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let log = fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
                panic!("docker-registry exited with {status}: {log}");
            }
            if let Some(status) = http_status(&self.addr, "/v2/")
                && (status == 200 || status == 401)
            {
                return;
            }
            assert!(Instant::now() < deadline, "docker-registry did not answer on {}", self.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The file the registry keeps blob `digest` in.
    pub fn blob_file(&self, digest: &gb_ir::Sha256Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(&hex).join("data")
    }

    /// Flips the last byte of blob `digest` in the registry's storage, keeping its size, so the
    /// registry serves it under its name with other content.
    pub fn tamper(&self, digest: &gb_ir::Sha256Digest) {
        let path = self.blob_file(digest);
        let mut bytes = fs::read(&path).expect("read blob file");
        *bytes.last_mut().expect("non-empty blob") ^= 0xff;
        fs::write(&path, bytes).expect("write blob file");
    }

    /// `127.0.0.1:PORT/<rest>`.
    pub fn reference(&self, rest: &str) -> gb_ir::ImageReference {
        gb_ir::ImageReference::parse(&format!("{}/{rest}", self.addr)).expect("reference")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP status of a GET of `path`, or `None` when nothing answers.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

//! Helpers: state roots in temporary directories with a hand-made cache (two layers, two
//! results), a real registry (Debian's `docker-registry`, copied from gb-registry's tests) on a
//! free loopback port, and trees of snapshots as comparable maps.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gb_cache::{CacheDb, CacheKey, ContentStore, LayerId, LayerRecord, ResultRecord, Snapshot};
use gb_export::{Compression, ExportContext, assemble_image_at, layer_blobs};
use gb_ir::{EnvVar, HistoryEntry, ImageConfig, ImageSpec, Platform, Sha256Digest};
use gb_registry::{Registry, RegistryConfig};
use gb_snapshot::SnapshotStore;
use tempfile::TempDir;

/// The key of the result with both layers (a made-up key: the crate never interprets keys).
pub fn top_key() -> CacheKey {
    CacheKey(Sha256Digest::of(b"made-up key: RUN make"))
}

/// The key of the result with the bottom layer only.
pub fn base_key() -> CacheKey {
    CacheKey(Sha256Digest::of(b"made-up key: ADD rootfs"))
}

/// A state root: database, content store and snapshot store.
pub struct Root {
    pub dir: TempDir,
    pub db: CacheDb,
    pub content: ContentStore,
    pub snapshots: SnapshotStore,
}

impl Root {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = CacheDb::open(dir.path()).expect("open db");
        let content = ContentStore::open(dir.path()).expect("open content");
        let snapshots = SnapshotStore::open(dir.path()).expect("open snapshots");
        Root { dir, db, content, snapshots }
    }

    pub fn ctx(&self) -> ExportContext<'_> {
        ExportContext { db: &self.db, content: &self.content, snapshots: &self.snapshots }
    }

    /// How many entries a directory of the root has (`content/sha256`, `layers`).
    pub fn count(&self, dir: &str) -> usize {
        fs::read_dir(self.dir.path().join(dir)).map_or(0, |entries| entries.count())
    }

    /// A committed, recorded layer whose upper dir `fill` writes.
    pub fn layer(&self, fill: impl FnOnce(&Path)) -> LayerId {
        let work = self.snapshots.work_dir().expect("work dir");
        fill(work.upper());
        let (id, size) = self.snapshots.commit(work).expect("commit");
        self.db.put_layer(&id, &LayerRecord { size, created_unix: 0 }).expect("put layer");
        id
    }

    /// The state a build would leave: a base layer (files, a symlink, an executable, a file
    /// owned by another user) and a layer over it (a new file, a deleted one as an overlay
    /// whiteout), with a result naming both under [`top_key`] and one naming the base under
    /// [`base_key`]. Returns the two snapshots.
    pub fn build(&self) -> (Snapshot, Snapshot) {
        let base = self.layer(|dir| {
            write(dir.join("etc/os-release"), b"NAME=test\n");
            write(dir.join("bin/tool"), b"#!/bin/sh\necho tool\n");
            fs::set_permissions(dir.join("bin/tool"), fs::Permissions::from_mode(0o755)).expect("chmod");
            std::os::unix::fs::symlink("tool", dir.join("bin/alias")).expect("symlink");
            write(dir.join("home/user/notes"), b"owned by 1000\n");
            run("chown", &["-R", "1000:1000", &dir.join("home/user").to_string_lossy()]);
        });
        let top = self.layer(|dir| {
            write(dir.join("etc/message"), b"built by make\n");
            fs::create_dir_all(dir.join("bin")).expect("mkdir");
            run("mknod", &[&dir.join("bin/tool").to_string_lossy(), "c", "0", "0"]);
        });
        let base_output = Snapshot { layers: vec![base.clone()] };
        let top_output = Snapshot { layers: vec![base, top] };
        let put = |key: &CacheKey, output: &Snapshot, created_unix, description: &str| {
            let record =
                ResultRecord { outputs: vec![output.clone()], created_unix, description: description.to_owned() };
            self.db.put_result(key, &record).expect("put result");
        };
        put(&base_key(), &base_output, 1_700_000_001, "ADD rootfs /");
        put(&top_key(), &top_output, 1_700_000_123, "RUN make");
        (base_output, top_output)
    }

    /// The merged tree of `snapshot`.
    pub fn tree(&self, snapshot: &Snapshot) -> BTreeMap<String, String> {
        let dest = tempfile::tempdir().expect("tempdir");
        self.snapshots.export_dir(snapshot, dest.path()).expect("export dir");
        tree(dest.path())
    }

    /// The gzip blobs of `snapshot`'s layers, as an image export would get them.
    pub fn blob_digests(&self, snapshot: &Snapshot) -> Vec<Sha256Digest> {
        layer_blobs(&self.ctx(), &snapshot.layers, Compression::Gzip, None)
            .expect("layer blobs")
            .into_iter()
            .map(|record| record.digest)
            .collect()
    }

    /// The manifest digest of an image of `snapshot` built when the result was (`created_unix`).
    pub fn image_digest(&self, snapshot: &Snapshot, created_unix: u64) -> Sha256Digest {
        let spec = ImageSpec {
            base: None,
            base_config_applied: true,
            platform: Platform::parse("linux/amd64").expect("platform"),
            config: ImageConfig { env: vec![EnvVar::new("PATH", "/bin")], ..ImageConfig::default() },
            history: vec![
                HistoryEntry { created_by: "ADD rootfs /".into(), empty_layer: false, comment: None },
                HistoryEntry { created_by: "RUN make".into(), empty_layer: false, comment: None },
            ],
        };
        let built_at = i64::try_from(created_unix).expect("time");
        let (image, _) = assemble_image_at(&self.ctx(), &spec, snapshot, None, Compression::Gzip, None, Some(built_at))
            .expect("assemble");
        image.manifest_digest
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // A failed test may leave a mount; detach it before the directory is removed.
        let _ = Command::new("umount").args(["-R", "-l"]).arg(self.dir.path().join("tmp")).output();
    }
}

/// A running registry, killed on drop.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    storage: PathBuf,
    dir: TempDir,
}

impl TestRegistry {
    /// A registry anyone may pull from and push to.
    pub fn start() -> Self {
        ensure_installed("/usr/bin/docker-registry", "docker-registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("create storage");
        let addr = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write config");
        let log = fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new("/usr/bin/docker-registry")
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

    /// Waits until `/v2/` answers.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let log = fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
                panic!("docker-registry exited with {status}: {log}");
            }
            if http_status(&self.addr, "/v2/") == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "docker-registry did not answer on {}", self.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Flips the last byte of blob `digest` in the registry's storage, keeping its size, so the
    /// registry serves it under its name with other content.
    pub fn tamper(&self, digest: &Sha256Digest) {
        let hex = digest.hex();
        let path = self.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(&hex).join("data");
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

/// A registry client whose Docker config directory is `docker_config` (never the user's).
pub fn registry(docker_config: &Path) -> Registry {
    Registry::new(RegistryConfig { insecure: Vec::new(), docker_config_dir: Some(docker_config.to_path_buf()) })
        .expect("registry client")
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

/// Installs `package` with apt-get when `binary` is missing.
fn ensure_installed(binary: &str, package: &str) {
    if !Path::new(binary).exists() {
        let status = Command::new("apt-get").args(["install", "-y", package]).status().expect("run apt-get");
        assert!(status.success(), "apt-get install -y {package} failed");
    }
}

pub fn write(path: impl AsRef<Path>, content: &[u8]) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create dirs");
    }
    fs::write(path, content).expect("write");
}

/// A line per entry below `root`: type, mode, owner, mtime, and the content or link target.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let rel = path.strip_prefix(root).expect("below root").to_string_lossy().into_owned();
            let head = format!("{:o} {}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid());
            let line = if meta.is_dir() {
                dirs.push(path.clone());
                format!("dir {head}")
            } else if meta.is_symlink() {
                format!("link -> {}", fs::read_link(&path).expect("read link").display())
            } else if meta.is_file() {
                let content = fs::read(&path).expect("read");
                format!("file {head} mtime {} {:?}", meta.mtime(), String::from_utf8_lossy(&content))
            } else {
                format!("other {head}")
            };
            out.insert(rel, line);
        }
    }
    out
}

/// Runs a command, failing the test with its output when it fails; returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

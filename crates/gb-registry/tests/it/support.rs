//! Helpers: a real registry (Debian's `docker-registry`, the CNCF distribution) on a free
//! loopback port, state roots in temporary directories, test images built with gb-export and
//! put into the registry with skopeo, and trees of layer directories as printable lines.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gb_cache::{CacheDb, ContentStore, ImageRecord, LayerId, LayerRecord, Snapshot};
use gb_export::{Compression, ExportContext, ImageRef, assemble_image, write_oci_layout};
use gb_ir::{EnvVar, HistoryEntry, ImageConfig, ImageSpec, Platform};
use gb_registry::{Registry, RegistryConfig};
use gb_snapshot::SnapshotStore;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

/// A user and password the authenticated registry accepts.
pub const USER: &str = "tester";
pub const PASSWORD: &str = "pw-Secret-8c1f";

/// A running registry, killed on drop.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The registry's storage directory.
    pub storage: PathBuf,
    _dir: TempDir,
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
        ensure_installed("/usr/bin/docker-registry", "docker-registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("create storage");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        if auth {
            ensure_installed("/usr/bin/htpasswd", "apache2-utils");
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
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = TestRegistry { child, addr, storage, _dir: dir };
        registry.wait_ready();
        registry
    }

    /// Waits until `/v2/` answers (200, or 401 with authentication).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let log = fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default();
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
        let last = bytes.last_mut().expect("non-empty blob");
        *last ^= 0xff;
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

/// Installs `package` with apt-get when `binary` is missing.
fn ensure_installed(binary: &str, package: &str) {
    if !Path::new(binary).exists() {
        let status = Command::new("apt-get").args(["install", "-y", package]).status().expect("run apt-get");
        assert!(status.success(), "apt-get install -y {package} failed");
    }
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

    /// How many entries a directory of the root has (`content/sha256`, `layers`, `tmp`).
    pub fn count(&self, dir: &str) -> usize {
        fs::read_dir(self.dir.path().join(dir)).map_or(0, |entries| entries.count())
    }

    /// A layer whose upper dir `fill` writes.
    pub fn layer(&self, fill: impl FnOnce(&Path)) -> LayerId {
        let work = self.snapshots.work_dir().expect("work dir");
        fill(work.upper());
        let (id, _) = self.snapshots.commit(work).expect("commit");
        self.db.put_layer(&id, &LayerRecord { size: 0, created_unix: 0 }).expect("put layer");
        id
    }

    /// A two-layer image for `platform`: busybox and a few files, then `etc/message` saying
    /// `message`. The same base gives the same base layer blob (fixed epoch).
    pub fn image(&self, platform: &str, message: &str) -> ImageRecord {
        let base = self.layer(|dir| {
            write(dir.join("bin/busybox"), &fs::read("/bin/busybox").unwrap_or_else(|_| b"busybox".to_vec()));
            fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).expect("chmod");
            std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).expect("symlink");
            write(dir.join("etc/os-release"), b"NAME=test\n");
        });
        let top = self.layer(|dir| write(dir.join("etc/message"), message.as_bytes()));
        let platform = Platform::parse(platform).expect("platform");
        let spec = ImageSpec {
            base: None,
            base_config_applied: true,
            platform,
            config: ImageConfig {
                env: vec![EnvVar::new("PATH", "/bin")],
                cmd: Some(vec!["/bin/sh".into()]),
                ..ImageConfig::default()
            },
            history: vec![
                HistoryEntry { created_by: "ADD busybox /".into(), empty_layer: false, comment: None },
                HistoryEntry { created_by: "RUN echo message".into(), empty_layer: false, comment: None },
            ],
        };
        let output = Snapshot { layers: vec![base, top] };
        let (image, warnings) =
            assemble_image(&self.ctx(), &spec, &output, None, Compression::Gzip, Some(1_700_000_000))
                .expect("assemble");
        assert!(warnings.is_empty(), "{warnings:?}");
        let record = image.record("docker.io/library/source:1", 0);
        self.db.put_image("docker.io/library/source:1", &record).expect("put image");
        record
    }

    /// Copies a stored image into the registry with skopeo, as `reference`.
    pub fn skopeo_push(&self, record: &ImageRecord, reference: &str, creds: Option<&str>) {
        let archive = self.dir.path().join("push.tar");
        write_oci_layout(
            &self.ctx(),
            &[ImageRef { manifest_digest: record.manifest_digest, names: &[] }],
            &archive,
            true,
        )
        .expect("write OCI archive");
        let source = format!("oci-archive:{}", archive.display());
        let dest = format!("docker://{reference}");
        let mut args = vec!["copy", "--insecure-policy", "--dest-tls-verify=false"];
        if let Some(creds) = creds {
            args.extend(["--dest-creds", creds]);
        }
        args.extend([source.as_str(), dest.as_str()]);
        run("skopeo", &args);
    }

    /// The tree of each layer of `record`, bottom first.
    pub fn layer_trees(&self, record: &ImageRecord) -> Vec<BTreeMap<String, String>> {
        record.layers.iter().map(|layer| tree(&self.snapshots.layer_path(layer))).collect()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // A failed test may leave a mount; detach it before the directory is removed.
        let _ = Command::new("umount").args(["-R", "-l"]).arg(self.dir.path().join("tmp")).output();
    }
}

/// A registry client whose Docker config directory is `docker_config` (never the user's).
pub fn registry(docker_config: &Path) -> Registry {
    Registry::new(RegistryConfig { insecure: Vec::new(), docker_config_dir: Some(docker_config.to_path_buf()) })
        .expect("registry client")
}

pub fn host_platform() -> Platform {
    Platform::parse("linux/amd64").expect("platform")
}

pub fn write(path: impl AsRef<Path>, content: &[u8]) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create dirs");
    }
    fs::write(path, content).expect("write");
}

/// A line per entry below `root`: type, mode, owner, and the content's sha256 or link target.
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
                format!("file {head} {}", hex::encode(Sha256::digest(fs::read(&path).expect("read"))))
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

/// The blobs an image's manifest names: layers, then the config.
pub fn blobs_of(root: &Root, record: &ImageRecord) -> Vec<gb_ir::Sha256Digest> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&root.content.read(&record.manifest_digest).expect("manifest")).expect("json");
    let mut blobs: Vec<gb_ir::Sha256Digest> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|layer| layer["digest"].as_str().expect("digest").parse().expect("sha256"))
        .collect();
    blobs.push(record.config_digest);
    blobs
}

//! Helpers: the layers every test exports (with a deletion, an opaque directory, a hard link
//! and a symlink) on gb-test-support's state root, and trees as printable lines.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use gb_cache::{ImageRecord, LayerId, Snapshot};
use gb_export::{BuiltImage, Compression, assemble_image};
use gb_ir::{EnvVar, HistoryEntry, ImageConfig, ImageSpec, Platform};
use gb_test_support::TreeDetail;

pub use gb_test_support::{require_tool, run, write};

/// The shared state root, with the layers every test exports.
pub struct Root(gb_test_support::Root);

impl std::ops::Deref for Root {
    type Target = gb_test_support::Root;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Root {
    pub fn new() -> Self {
        Self(gb_test_support::Root::new())
    }

    /// How many blobs the content store holds.
    pub fn blob_count(&self) -> usize {
        self.count("content/sha256")
    }

    /// A layer made by changing `below` through a writable overlay mount, as RUN does; with
    /// `mtime`, the new layer's files and directories get that modification time.
    pub fn change(&self, below: &[LayerId], mtime: Option<i64>, change: impl FnOnce(&Path)) -> LayerId {
        let work = self.snapshots.work_dir().expect("work dir");
        let mounted =
            self.snapshots.mount_writable(&Snapshot { layers: below.to_vec() }, &work).expect("mount writable");
        change(mounted.path());
        mounted.unmount().expect("unmount");
        // Set on the upper dir: through the mount it would copy lower files up.
        if let Some(mtime) = mtime {
            set_mtimes(work.upper(), mtime);
        }
        let (id, size) = self.snapshots.commit(work).expect("commit");
        self.record_layer(&id, size);
        id
    }

    /// The fixture: a base layer, and a change on it that edits a file, deletes one (a
    /// whiteout), replaces a directory (opaque), and adds a hard link and a symlink. With
    /// `mtime`, every file and directory gets that modification time.
    pub fn fixture(&self, mtime: Option<i64>) -> Vec<LayerId> {
        let base = self.layer(|dir| {
            write(dir.join("etc/conf"), "v1");
            write(dir.join("etc/remove-me"), "x");
            write(dir.join("var/cache/a"), "a");
            write(dir.join("var/cache/b"), "b");
            write(dir.join("usr/share/doc/README"), "doc");
            fs::set_permissions(dir.join("usr/share/doc/README"), fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some(mtime) = mtime {
                set_mtimes(dir, mtime);
            }
        });
        let change = self.change(std::slice::from_ref(&base), mtime, |m| {
            write(m.join("etc/conf"), "v2");
            fs::remove_file(m.join("etc/remove-me")).expect("remove file");
            fs::remove_dir_all(m.join("var/cache")).expect("remove dir");
            write(m.join("var/cache/fresh"), "fresh");
            write(m.join("bin/tool"), "#!/bin/sh\necho tool\n");
            fs::set_permissions(m.join("bin/tool"), fs::Permissions::from_mode(0o755)).expect("chmod");
            fs::hard_link(m.join("bin/tool"), m.join("bin/tool-link")).expect("hard link");
            std::os::unix::fs::symlink("tool", m.join("bin/alias")).expect("symlink");
        });
        vec![base, change]
    }
}

/// Sets the mtime of every file and directory below `root` (not symlinks: std cannot).
fn set_mtimes(root: &Path, mtime: i64) {
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(mtime).expect("positive"));
    let mut dirs = vec![root.to_path_buf()];
    let mut all = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            if meta.is_dir() {
                dirs.push(path.clone());
            }
            if meta.is_dir() || meta.is_file() {
                all.push(path);
            }
        }
    }
    // Deepest first, so that setting a child's time does not matter to its parent afterwards.
    all.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    for path in all {
        fs::File::open(&path).and_then(|file| file.set_modified(time)).expect("set mtime");
    }
}

/// A line per entry below `root`: type, mode, owner, and content or link target.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    gb_test_support::tree(root, TreeDetail::ContentAndLinks)
}

/// The image config every test builds: settings over a base, deferred words included.
pub fn spec(history: usize) -> ImageSpec {
    ImageSpec {
        base: Some("docker.io/library/base:1".into()),
        base_config_applied: false,
        platform: Platform { os: "linux".into(), architecture: "amd64".into(), variant: None },
        config: ImageConfig {
            env: vec![
                EnvVar { name: "PATH".into(), value: gb_ir::EnvValue::Deferred("/opt/app/bin:${PATH}".into()) },
                EnvVar::new("APP", "1"),
            ],
            entrypoint: Some(vec!["/bin/tool".into()]),
            cmd_reset: true,
            working_dir: Some("/srv".into()),
            labels: [("org.example.stage".to_owned(), "child".to_owned())].into(),
            exposed_ports: ["8080/tcp".to_owned()].into(),
            healthcheck: Some(gb_ir::Healthcheck {
                test: vec!["CMD".into(), "/bin/tool".into()],
                interval: Some(5_000_000_000),
                ..Default::default()
            }),
            shell: Some(vec!["/bin/sh".into(), "-c".into()]),
            stop_signal: Some("SIGINT".into()),
            on_build: vec!["RUN echo child".into()],
            ..ImageConfig::default()
        },
        history: (0..history)
            .map(|i| HistoryEntry {
                created_by: format!("RUN step {i} # buildkit"),
                empty_layer: false,
                comment: Some("buildkit.dockerfile.v0".into()),
            })
            .chain([HistoryEntry { created_by: "ENV APP=1".into(), empty_layer: true, comment: None }])
            .collect(),
    }
}

/// A one-layer base image (config applied by the "front end") and the record it is stored as.
pub fn base_image(root: &Root, base_layer: &LayerId, compression: Compression) -> ImageRecord {
    let spec = ImageSpec {
        base: None,
        base_config_applied: true,
        platform: Platform { os: "linux".into(), architecture: "amd64".into(), variant: None },
        config: ImageConfig {
            env: vec![EnvVar::new("PATH", "/usr/bin:/bin"), EnvVar::new("HOME", "/root")],
            cmd: Some(vec!["sh".into()]),
            labels: [("org.example.stage".to_owned(), "base".to_owned()), ("base".to_owned(), "yes".to_owned())].into(),
            exposed_ports: ["80/tcp".to_owned()].into(),
            ..ImageConfig::default()
        },
        history: vec![HistoryEntry { created_by: "ADD rootfs /".into(), empty_layer: false, comment: None }],
    };
    let output = Snapshot { layers: vec![base_layer.clone()] };
    let (image, warnings) =
        assemble_image(&root.ctx(), &spec, &output, None, compression, Some(1_600_000_000)).expect("assemble base");
    assert!(warnings.is_empty(), "{warnings:?}");
    let record = image.record("docker.io/library/base:1", 1);
    root.db.put_image(&gb_cache::ImageName::parse("base:1").expect("name"), &record).expect("put image");
    record
}

/// The fixture built into an image on its base.
pub fn app_image(root: &Root, compression: Compression, epoch: Option<i64>) -> (BuiltImage, Vec<LayerId>) {
    let layers = root.fixture(None);
    let base = base_image(root, &layers[0], compression);
    let output = Snapshot { layers: layers.clone() };
    let (image, warnings) =
        assemble_image(&root.ctx(), &spec(1), &output, Some(&base), compression, epoch).expect("assemble");
    assert!(warnings.is_empty(), "{warnings:?}");
    (image, layers)
}

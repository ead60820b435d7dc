//! Helpers: state roots with a hand-made cache (two layers, two results) and trees of snapshots
//! as comparable maps; the registry and the state root come from gb-test-support.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gb_cache::{CacheKey, ResultRecord, Snapshot};
use gb_export::{AssembleOptions, Compression, assemble_image_with, layer_blobs};
use gb_ir::{EnvVar, HistoryEntry, ImageConfig, ImageSpec, Platform, Sha256Digest};
use gb_registry::{Registry, RegistryConfig};
use gb_test_support::TreeDetail;

pub use gb_test_support::{TestRegistry, run, write};

/// The key of the result with both layers (a made-up key: the crate never interprets keys).
pub fn top_key() -> CacheKey {
    CacheKey(Sha256Digest::of(b"made-up key: RUN make"))
}

/// The key of the result with the bottom layer only.
pub fn base_key() -> CacheKey {
    CacheKey(Sha256Digest::of(b"made-up key: ADD rootfs"))
}

/// The shared state root, with the cache these tests export and import.
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
            let record = ResultRecord {
                outputs: vec![output.clone()],
                created_unix,
                description: description.to_owned(),
                effective_key: None,
            };
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
        gb_test_support::tree(dest.path(), TreeDetail::MtimeAndContent)
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
        let options = AssembleOptions { built_at: Some(built_at), ..AssembleOptions::default() };
        let (image, _) = assemble_image_with(&self.ctx(), &spec, snapshot, None, &options).expect("assemble");
        image.manifest_digest
    }
}

/// A registry client whose Docker config directory is `docker_config` (never the user's).
pub fn registry(docker_config: &Path) -> Registry {
    Registry::new(RegistryConfig { insecure: Vec::new(), docker_config_dir: Some(docker_config.to_path_buf()) })
        .expect("registry client")
}

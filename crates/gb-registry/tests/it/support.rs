//! Helpers: test images built with gb-export and put into the registry with skopeo, registry
//! clients, and trees of layer directories; the registry and the state root come from
//! gb-test-support.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gb_cache::{ImageRecord, Snapshot};
use gb_export::{Compression, ImageRef, assemble_image, write_oci_layout};
use gb_ir::{EnvVar, HistoryEntry, ImageConfig, ImageSpec, Platform};
use gb_registry::{Registry, RegistryConfig};
use gb_test_support::{TreeDetail, tree};

pub use gb_test_support::{PASSWORD, TestRegistry, USER, run, write};

/// The shared state root, with the images these tests push and pull.
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

    /// A two-layer image for `platform`: busybox and a few files, then `etc/message` saying
    /// `message`. The same base gives the same base layer blob (fixed epoch).
    pub fn image(&self, platform: &str, message: &str) -> ImageRecord {
        let base = self.layer(|dir| {
            write(
                dir.join("bin/busybox"),
                fs::read("/bin/busybox").expect("read /bin/busybox (install busybox-static)"),
            );
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
        self.db.put_image(&gb_cache::ImageName::parse("source:1").expect("name"), &record).expect("put image");
        record
    }

    /// Copies a stored image into the registry with skopeo, as `reference`.
    pub fn skopeo_push(&self, record: &ImageRecord, reference: &str, creds: Option<&str>) {
        let archive = self.dir.path().join("push.tar");
        write_oci_layout(
            &self.ctx(),
            &[ImageRef {
                manifest_digest: record.manifest_digest,
                names: &[],
                descriptor_annotations: Default::default(),
            }],
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
        record.layers.iter().map(|layer| tree(&self.snapshots.layer_path(layer), TreeDetail::ContentDigest)).collect()
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

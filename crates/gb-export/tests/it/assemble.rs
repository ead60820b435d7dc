//! Assembling images: the base's config with the build's settings over it, history, diff ids,
//! the base's layer blobs reused, and the same bytes from the same inputs.

use gb_cache::Snapshot;
use gb_export::{AssembleOptions, Compression, assemble_image, assemble_image_with, layer_blobs};
use gb_ir::Sha256Digest;
use serde_json::json;

use crate::support::{Root, app_image, base_image, spec};

#[test]
fn the_config_applies_the_build_over_the_base() {
    let root = Root::new();
    let layers = root.fixture(None);
    let base = base_image(&root, &layers[0], Compression::Gzip);
    let output = Snapshot { layers: layers.clone() };
    let (image, warnings) =
        assemble_image(&root.ctx(), &spec(1), &output, Some(&base), Compression::Gzip, Some(1_700_000_000))
            .expect("assemble");
    assert!(warnings.is_empty(), "{warnings:?}");
    let config = &image.config;
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!((config["architecture"].as_str(), config["os"].as_str()), (Some("amd64"), Some("linux")));
    assert_eq!(
        config["config"],
        json!({
            "Env": ["PATH=/opt/app/bin:/usr/bin:/bin", "HOME=/root", "APP=1"],
            "Entrypoint": ["/bin/tool"],
            "ExposedPorts": { "80/tcp": {}, "8080/tcp": {} },
            "Labels": { "base": "yes", "org.example.stage": "child" },
            "WorkingDir": "/srv",
            "StopSignal": "SIGINT",
            "Healthcheck": { "Test": ["CMD", "/bin/tool"], "Interval": 5_000_000_000u64 },
            "Shell": ["/bin/sh", "-c"],
            "OnBuild": ["RUN echo child"],
        }),
        "Cmd was reset by the ENTRYPOINT"
    );
    assert_eq!(
        config["history"],
        json!([
            { "created": "2020-09-13T12:26:40Z", "created_by": "ADD rootfs /" },
            { "created": "2023-11-14T22:13:20Z", "created_by": "RUN step 0 # buildkit", "comment": "buildkit.dockerfile.v0" },
            { "created": "2023-11-14T22:13:20Z", "created_by": "ENV APP=1", "empty_layer": true },
        ])
    );
    let diff_ids: Vec<String> = image.diff_ids.iter().map(ToString::to_string).collect();
    assert_eq!(config["rootfs"], json!({ "type": "layers", "diff_ids": diff_ids }));
    assert_eq!(image.diff_ids[0], base.diff_ids[0]);
    assert_eq!(image.layers, layers);

    // The stored blobs are what the image says, and the manifest points at them.
    let config_blob = root.content.read(&image.config_digest).expect("config blob");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&config_blob).expect("json"), image.config);
    let manifest_blob = root.content.read(&image.manifest_digest).expect("manifest blob");
    assert_eq!(Sha256Digest::of(&manifest_blob), image.manifest_digest);
    assert_eq!(manifest_blob.len() as u64, image.manifest_size);
    let manifest = &image.manifest;
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    assert_eq!(manifest["config"]["digest"], image.config_digest.to_string());
    assert_eq!(manifest["config"]["size"], config_blob.len());
    let record = image.record("docker.io/library/app:1", 7);
    assert_eq!((record.manifest_digest, record.config, record.created_unix), (image.manifest_digest, image.config, 7));
}

#[test]
fn base_layers_are_reused_and_never_exported_again() {
    let root = Root::new();
    let layers = root.fixture(None);
    let base = base_image(&root, &layers[0], Compression::Gzip);
    let base_manifest: serde_json::Value =
        serde_json::from_slice(&root.content.read(&base.manifest_digest).expect("read")).expect("json");
    // zstd for the child: a re-export of the base layer would be a zstd blob.
    let output = Snapshot { layers: layers.clone() };
    let (image, _) =
        assemble_image(&root.ctx(), &spec(1), &output, Some(&base), Compression::Zstd, None).expect("assemble");
    let manifest_layers = image.manifest["layers"].as_array().expect("layers");
    assert_eq!(manifest_layers[0], base_manifest["layers"][0], "the base's descriptor as it is");
    assert_eq!(manifest_layers[1]["mediaType"], Compression::Zstd.media_type());
    assert_eq!(root.db.layer_blob(&layers[0], "zstd:-").expect("read"), None, "the base layer was not exported");
    assert!(root.db.layer_blob(&layers[1], "zstd:-").expect("read").is_some());
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let (a, b) = (Root::new(), Root::new());
    let epoch = Some(1_700_000_000);
    let layers_a = a.fixture(None);
    let layers_b = b.fixture(Some(1_800_000_000));
    let image = |root: &Root, layers: &[gb_cache::LayerId], rewrite_timestamp: Option<i64>| {
        let base = base_image(root, &layers[0], Compression::Gzip);
        let output = Snapshot { layers: layers.to_vec() };
        let options = AssembleOptions {
            compression: Compression::Gzip,
            source_date_epoch: epoch,
            rewrite_timestamp,
            ..AssembleOptions::default()
        };
        assemble_image_with(&root.ctx(), &spec(1), &output, Some(&base), &options).expect("assemble").0
    };
    let first = image(&a, &layers_a, epoch);
    let again = image(&a, &layers_a, epoch);
    assert_eq!(first.manifest_digest, again.manifest_digest);
    assert_eq!(first.manifest_digest, image(&b, &layers_b, epoch).manifest_digest, "another root, other file times");
    // The rewritten layer says so; the base's descriptor is the base's own, untouched.
    assert_eq!(first.manifest["layers"][1]["annotations"]["buildkit/rewritten-timestamp"], "1700000000");
    assert_eq!(first.manifest["layers"][0]["annotations"]["buildkit/rewritten-timestamp"], "1600000000");
    // Without `rewrite-timestamp`, as BuildKit, the layer keeps its files' times.
    assert_ne!(image(&a, &layers_a, None).manifest_digest, image(&b, &layers_b, None).manifest_digest);
}

#[test]
fn history_is_made_to_match_the_layers() {
    let root = Root::new();
    let layers = root.fixture(None);
    let base = base_image(&root, &layers[0], Compression::Gzip);
    let output = Snapshot { layers: layers.clone() };
    // No entry for the change layer.
    let (image, warnings) =
        assemble_image(&root.ctx(), &spec(0), &output, Some(&base), Compression::Gzip, None).expect("assemble");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("describes 1 layers but the image has 2"), "{warnings:?}");
    let non_empty = |config: &serde_json::Value| {
        config["history"].as_array().expect("history").iter().filter(|h| h["empty_layer"] != true).count()
    };
    assert_eq!(non_empty(&image.config), 2);

    // Three entries for one new layer.
    let (image, warnings) =
        assemble_image(&root.ctx(), &spec(3), &output, Some(&base), Compression::Gzip, None).expect("assemble");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(non_empty(&image.config), 2);
}

#[test]
fn without_a_base_config_only_the_build_settings_remain() {
    let root = Root::new();
    let layers = root.fixture(None);
    let output = Snapshot { layers: layers.clone() };
    let mut spec = spec(2);
    spec.history.remove(0);
    spec.history.insert(0, gb_ir::HistoryEntry { created_by: "FROM".into(), empty_layer: false, comment: None });
    let (image, warnings) =
        assemble_image(&root.ctx(), &spec, &output, None, Compression::Uncompressed, None).expect("assemble");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("base image docker.io/library/base:1 is not available"), "{warnings:?}");
    assert_eq!(image.config["config"]["Env"], json!(["PATH=/opt/app/bin:", "APP=1"]));
    let blobs = layer_blobs(&root.ctx(), &layers, Compression::Uncompressed, None).expect("blobs");
    assert_eq!(image.diff_ids, blobs.iter().map(|b| b.diff_id).collect::<Vec<_>>());
}

#[test]
fn app_image_helper_builds_without_warnings() {
    let root = Root::new();
    let (image, layers) = app_image(&root, Compression::Gzip, None);
    assert_eq!(image.layers, layers);
}

//! Loading OCI layouts and docker-archives: round trips into another state root, layer reuse,
//! and archives that lie about their content.

use std::fs;

use gb_cache::Snapshot;
use gb_export::{Compression, ExportError, ImageRef, load_archive, write_docker_archive, write_oci_layout};

use crate::support::{Root, app_image, require_tool, run, tree};

/// The merged tree of `layers` in `root`.
fn files(root: &Root, layers: &[gb_cache::LayerId]) -> std::collections::BTreeMap<String, String> {
    let dest = tempfile::tempdir().expect("tempdir");
    root.snapshots.export_dir(&Snapshot { layers: layers.to_vec() }, dest.path()).expect("export dir");
    tree(dest.path())
}

#[test]
fn oci_layouts_round_trip() {
    let source = Root::new();
    let (image, layers) = app_image(&source, Compression::Gzip, Some(1_700_000_000));
    let names = vec!["docker.io/library/app:1".to_owned(), "docker.io/library/app:2".to_owned()];
    let images = [ImageRef {
        manifest_digest: image.manifest_digest,
        names: &names,
        descriptor_annotations: Default::default(),
    }];
    let out = tempfile::tempdir().expect("tempdir");
    let (archive, dir) = (out.path().join("app.tar"), out.path().join("app"));
    write_oci_layout(&source.ctx(), &images, &archive, true).expect("write");
    write_oci_layout(&source.ctx(), &images, &dir, false).expect("write");

    for path in [&archive, &dir] {
        let target = Root::new();
        let loaded = load_archive(&target.ctx(), path).expect("load");
        assert_eq!(loaded.len(), 1, "one image under two names");
        let (found, record) = &loaded[0];
        assert_eq!(found, &names);
        assert_eq!(record.reference, names[0]);
        assert_eq!((record.manifest_digest, record.config_digest), (image.manifest_digest, image.config_digest));
        assert_eq!(record.diff_ids, image.diff_ids);
        assert_eq!(files(&target, &record.layers), files(&source, &layers));

        // Loading again reuses the layers once an image names them.
        target.db.put_image(&gb_cache::ImageName::parse(&names[0]).expect("name"), record).expect("put image");
        let layer_dirs = fs::read_dir(target.dir.path().join("layers")).expect("list").count();
        let again = load_archive(&target.ctx(), path).expect("load again");
        assert_eq!(again[0].1.layers, record.layers);
        assert_eq!(fs::read_dir(target.dir.path().join("layers")).expect("list").count(), layer_dirs);
        // The loaded blobs are the layers' gzip exports: nothing is compressed again.
        let blobs = target.blob_count();
        let records = gb_export::layer_blobs(&target.ctx(), &record.layers, Compression::Gzip, None).expect("blobs");
        assert_eq!(target.blob_count(), blobs);
        assert_eq!(records.iter().map(|r| r.diff_id).collect::<Vec<_>>(), image.diff_ids);
    }
}

#[test]
fn docker_archives_round_trip() {
    for compression in [Compression::Uncompressed, Compression::Gzip] {
        let source = Root::new();
        let (image, layers) = app_image(&source, compression, None);
        let names = vec!["docker.io/library/app:1".to_owned()];
        let images = [ImageRef {
            manifest_digest: image.manifest_digest,
            names: &names,
            descriptor_annotations: Default::default(),
        }];
        let out = tempfile::tempdir().expect("tempdir");
        let archive = out.path().join("app.tar");
        write_docker_archive(&source.ctx(), &images, &archive).expect("write");

        let target = Root::new();
        let loaded = load_archive(&target.ctx(), &archive).expect("load");
        let (found, record) = &loaded[0];
        assert_eq!(found, &names);
        assert_eq!(record.config_digest, image.config_digest);
        assert_eq!(record.diff_ids, image.diff_ids);
        let manifest: serde_json::Value =
            serde_json::from_slice(&target.content.read(&record.manifest_digest).expect("manifest")).expect("json");
        if compression == Compression::Uncompressed {
            // The layers were plain tars already, so the manifest made on load names the same
            // blobs (without the layer annotations a docker-archive cannot carry).
            let digests = |manifest: &serde_json::Value| {
                manifest["layers"].as_array().expect("layers").iter().map(|l| l["digest"].clone()).collect::<Vec<_>>()
            };
            assert_eq!(digests(&manifest), digests(&image.manifest));
        }
        assert_eq!(manifest["layers"][0]["mediaType"], Compression::Uncompressed.media_type());
        assert_eq!(files(&target, &record.layers), files(&source, &layers));
    }
}

#[test]
fn archives_written_by_skopeo_load() {
    require_tool("skopeo", "skopeo");
    let source = Root::new();
    let (image, layers) = app_image(&source, Compression::Gzip, None);
    let names = vec!["docker.io/library/app:1".to_owned()];
    let images = [ImageRef {
        manifest_digest: image.manifest_digest,
        names: &names,
        descriptor_annotations: Default::default(),
    }];
    let out = tempfile::tempdir().expect("tempdir");
    let layout = out.path().join("oci");
    write_oci_layout(&source.ctx(), &images, &layout, false).expect("write");
    let copy = out.path().join("skopeo.tar");
    run(
        "skopeo",
        &["copy", &format!("oci:{}:1", layout.display()), &format!("docker-archive:{}:app:1", copy.display())],
    );
    let target = Root::new();
    let loaded = load_archive(&target.ctx(), &copy).expect("load");
    let (found, record) = &loaded[0];
    assert_eq!(found, &names);
    assert_eq!(record.config_digest, image.config_digest);
    assert_eq!(files(&target, &record.layers), files(&source, &layers));
}

#[test]
fn tampered_and_foreign_archives_are_refused() {
    let source = Root::new();
    let (image, _) = app_image(&source, Compression::Gzip, None);
    let images =
        [ImageRef { manifest_digest: image.manifest_digest, names: &[], descriptor_annotations: Default::default() }];
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("oci");
    write_oci_layout(&source.ctx(), &images, &dir, false).expect("write");
    let layer =
        image.manifest["layers"][1]["digest"].as_str().expect("digest").trim_start_matches("sha256:").to_owned();
    let blob = dir.join("blobs/sha256").join(&layer);
    let mut bytes = fs::read(&blob).expect("read");
    bytes.push(0);
    fs::write(&blob, bytes).expect("write");
    let target = Root::new();
    let error = load_archive(&target.ctx(), &dir).expect_err("tampered");
    assert!(matches!(&error, ExportError::DigestMismatch { what, .. } if what.contains(&layer)), "{error}");
    assert_eq!(error.kind(), gb_export::ErrorKind::Input);

    let error = load_archive(&target.ctx(), out.path()).expect_err("not an archive");
    assert!(matches!(error, ExportError::InvalidArchive { .. }), "{error}");

    let escaping = out.path().join("escaping");
    fs::create_dir(&escaping).expect("mkdir");
    fs::write(escaping.join("manifest.json"), r#"[{"Config":"../../etc/passwd","RepoTags":[],"Layers":[]}]"#)
        .expect("write");
    let error = load_archive(&target.ctx(), &escaping).expect_err("escaping");
    assert!(error.to_string().contains("is not a path inside the archive"), "{error}");
}

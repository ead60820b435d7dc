//! The OCI layout and docker-archive writers: contents, determinism, and what skopeo and umoci
//! make of them.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use gb_cache::Snapshot;
use gb_export::{BuiltImage, Compression, ImageRef, write_docker_archive, write_oci_layout};
use gb_ir::Sha256Digest;
use serde_json::{Value, json};

use crate::support::{Root, app_image, require_tool, run, tree};

const EPOCH: Option<i64> = Some(1_700_000_000);

/// Every regular file of a tar by name, with the entries' names in order and their mtimes.
fn tar_files(path: &Path) -> (Vec<String>, BTreeMap<String, Vec<u8>>) {
    let bytes = std::fs::read(path).expect("read tar");
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut names = Vec::new();
    let mut files = BTreeMap::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let header = entry.header();
        assert_eq!((header.mtime().expect("mtime"), header.uid().expect("uid")), (0, 0));
        let name = entry.path().expect("path").display().to_string();
        names.push(name.clone());
        if entry.header().entry_type().is_file() {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("read entry");
            files.insert(name, content);
        }
    }
    (names, files)
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}

fn names() -> Vec<String> {
    vec!["docker.io/library/app:1".to_owned(), "localhost:5000/team/app:latest".to_owned()]
}

fn manifest_layers(image: &BuiltImage) -> Vec<String> {
    image.manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|layer| layer["digest"].as_str().expect("digest").to_owned())
        .collect()
}

#[test]
fn oci_layouts_hold_every_blob_and_a_named_index() {
    let root = Root::new();
    let (image, _) = app_image(&root, Compression::Gzip, EPOCH);
    let names = names();
    let images = [ImageRef {
        manifest_digest: image.manifest_digest,
        names: &names,
        descriptor_annotations: Default::default(),
    }];
    let out = tempfile::tempdir().expect("tempdir");
    let (a, b) = (out.path().join("a.tar"), out.path().join("b.tar"));
    write_oci_layout(&root.ctx(), &images, &a, true).expect("write");
    write_oci_layout(&root.ctx(), &images, &b, true).expect("write");
    assert_eq!(std::fs::read(&a).expect("read"), std::fs::read(&b).expect("read"), "the same bytes twice");

    let (entries, files) = tar_files(&a);
    let mut sorted = entries.clone();
    sorted.sort();
    assert_eq!(entries, sorted);
    let mut blobs: Vec<String> = manifest_layers(&image);
    blobs.extend([image.manifest_digest.to_string(), image.config_digest.to_string()]);
    blobs.sort();
    let expected: Vec<String> = ["blobs/", "blobs/sha256/"]
        .into_iter()
        .map(str::to_owned)
        .chain(blobs.iter().map(|digest| format!("blobs/sha256/{}", &digest["sha256:".len()..])))
        .chain(["index.json".to_owned(), "oci-layout".to_owned()])
        .collect();
    assert_eq!(entries, expected);
    for (name, content) in &files {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            assert_eq!(Sha256Digest::of(content).hex(), hex, "{name}");
        }
    }
    assert_eq!(json_of(&files["oci-layout"]), json!({ "imageLayoutVersion": "1.0.0" }));
    let index = json_of(&files["index.json"]);
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 2);
    assert_eq!(manifests[0]["digest"], image.manifest_digest.to_string());
    assert_eq!(manifests[0]["size"], image.manifest_size);
    assert_eq!(manifests[0]["platform"], json!({ "architecture": "amd64", "os": "linux" }));
    assert_eq!(
        manifests[1]["annotations"],
        json!({ "io.containerd.image.name": "localhost:5000/team/app:latest", "org.opencontainers.image.ref.name": "latest" })
    );

    let dir = out.path().join("layout");
    write_oci_layout(&root.ctx(), &images, &dir, false).expect("write dir");
    assert_eq!(std::fs::read(dir.join("index.json")).expect("read"), files["index.json"]);
    for digest in &blobs {
        let content = std::fs::read(dir.join("blobs/sha256").join(&digest["sha256:".len()..])).expect("blob");
        assert_eq!(Sha256Digest::of(&content).to_string(), *digest);
    }
}

#[test]
fn oci_layout_dirs_rewrite_planted_blobs_of_the_right_size() {
    // An earlier export into the same directory (`-o type=local` of a hostile image) can leave
    // a file of the right size and the wrong bytes under a blob's name; the size alone used to
    // keep it, so the layout named content it did not hold.
    use std::os::unix::fs::MetadataExt as _;

    let root = Root::new();
    let (image, _) = app_image(&root, Compression::Gzip, EPOCH);
    let names = names();
    let images = [ImageRef {
        manifest_digest: image.manifest_digest,
        names: &names,
        descriptor_annotations: Default::default(),
    }];
    let dir = tempfile::tempdir().expect("tempdir");
    let blob_dir = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).expect("mkdir");
    let mut blobs = manifest_layers(&image);
    blobs.extend([image.manifest_digest.to_string(), image.config_digest.to_string()]);
    let mut planted = Vec::new();
    for digest in &blobs {
        let hex = &digest["sha256:".len()..];
        let size = root.ctx().content.size(&digest.parse().expect("digest")).expect("size");
        let path = blob_dir.join(hex);
        std::fs::write(&path, vec![b'!'; usize::try_from(size).expect("fits")]).expect("plant");
        planted.push(path);
    }

    write_oci_layout(&root.ctx(), &images, dir.path(), false).expect("write dir");
    for (digest, path) in blobs.iter().zip(&planted) {
        let content = std::fs::read(path).expect("blob");
        assert_eq!(Sha256Digest::of(&content).to_string(), *digest, "{}", path.display());
    }

    // Blobs that hold their content are kept as they are, not written again.
    let inodes: Vec<u64> = planted.iter().map(|path| std::fs::metadata(path).expect("blob").ino()).collect();
    write_oci_layout(&root.ctx(), &images, dir.path(), false).expect("write again");
    let again: Vec<u64> = planted.iter().map(|path| std::fs::metadata(path).expect("blob").ino()).collect();
    assert_eq!(inodes, again);
}

#[test]
fn docker_archives_hold_configs_and_uncompressed_layers() {
    let root = Root::new();
    let (image, _) = app_image(&root, Compression::Zstd, EPOCH);
    let names = names();
    let images = [ImageRef {
        manifest_digest: image.manifest_digest,
        names: &names,
        descriptor_annotations: Default::default(),
    }];
    let out = tempfile::tempdir().expect("tempdir");
    let (a, b) = (out.path().join("a.tar"), out.path().join("b.tar"));
    write_docker_archive(&root.ctx(), &images, &a).expect("write");
    write_docker_archive(&root.ctx(), &images, &b).expect("write");
    assert_eq!(std::fs::read(&a).expect("read"), std::fs::read(&b).expect("read"), "the same bytes twice");

    let (_, files) = tar_files(&a);
    let layers: Vec<String> = image.diff_ids.iter().map(|id| format!("{}/layer.tar", id.hex())).collect();
    let config = format!("{}.json", image.config_digest.hex());
    assert_eq!(
        json_of(&files["manifest.json"]),
        json!([{ "Config": config, "RepoTags": ["app:1", "localhost:5000/team/app:latest"], "Layers": layers }])
    );
    assert_eq!(json_of(&files[&config]), image.config);
    for (layer, diff_id) in layers.iter().zip(&image.diff_ids) {
        assert_eq!(Sha256Digest::of(&files[layer]), *diff_id, "{layer} is the uncompressed tar");
    }
    let top = image.diff_ids[1].hex();
    assert_eq!(
        json_of(&files["repositories"]),
        json!({ "app": { "1": top }, "localhost:5000/team/app": { "latest": top } })
    );
}

#[test]
fn skopeo_reads_and_copies_what_is_written() {
    require_tool("skopeo", "skopeo");
    let root = Root::new();
    let (image, _) = app_image(&root, Compression::Gzip, EPOCH);
    let names = vec!["docker.io/library/app:1".to_owned()];
    let images = [ImageRef {
        manifest_digest: image.manifest_digest,
        names: &names,
        descriptor_annotations: Default::default(),
    }];
    let out = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| out.path().join(name).display().to_string();
    write_oci_layout(&root.ctx(), &images, out.path().join("oci.tar").as_path(), true).expect("write");
    write_oci_layout(&root.ctx(), &images, out.path().join("oci").as_path(), false).expect("write");
    write_docker_archive(&root.ctx(), &images, out.path().join("docker.tar").as_path()).expect("write");

    let inspect = |reference: String| json_of(run("skopeo", &["inspect", &reference]).as_bytes());
    let env = json!(["PATH=/opt/app/bin:/usr/bin:/bin", "HOME=/root", "APP=1"]);
    for reference in [format!("oci-archive:{}:1", path("oci.tar")), format!("oci:{}:1", path("oci"))] {
        let seen = inspect(reference);
        assert_eq!(seen["Digest"], image.manifest_digest.to_string());
        assert_eq!(seen["Layers"], json!(manifest_layers(&image)));
        assert_eq!(seen["Env"], env);
        assert_eq!(seen["Architecture"], "amd64");
    }
    let seen = inspect(format!("docker-archive:{}", path("docker.tar")));
    assert_eq!(seen["RepoTags"], json!([]), "docker-archive has no registry to list tags from");
    assert_eq!(seen["Env"], env);
    assert_eq!(seen["Layers"], json!(image.diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>()));

    // Copies between the formats keep the config and the content.
    run(
        "skopeo",
        &["copy", &format!("oci:{}:1", path("oci")), &format!("docker-archive:{}:app:copy", path("copy.tar"))],
    );
    run(
        "skopeo",
        &["copy", &format!("docker-archive:{}", path("docker.tar")), &format!("oci:{}:copied", path("oci2"))],
    );
    run("skopeo", &["copy", &format!("oci-archive:{}:1", path("oci.tar")), &format!("oci:{}:again", path("oci3"))]);
    for reference in [format!("docker-archive:{}", path("copy.tar")), format!("oci:{}:copied", path("oci2"))] {
        let seen = inspect(reference);
        assert_eq!(seen["Env"], env);
    }
    let copied = inspect(format!("oci:{}:again", path("oci3")));
    assert_eq!(copied["Digest"], image.manifest_digest.to_string(), "an OCI-to-OCI copy keeps the manifest");
}

#[test]
fn umoci_unpacks_exactly_the_files_of_the_snapshot() {
    require_tool("umoci", "umoci");
    let root = Root::new();
    let (image, layers) = app_image(&root, Compression::Gzip, None);
    let names = vec!["docker.io/library/app:1".to_owned()];
    let images = [ImageRef {
        manifest_digest: image.manifest_digest,
        names: &names,
        descriptor_annotations: Default::default(),
    }];
    let out = tempfile::tempdir().expect("tempdir");
    let layout = out.path().join("oci");
    write_oci_layout(&root.ctx(), &images, &layout, false).expect("write");
    let bundle = out.path().join("bundle");
    run("umoci", &["unpack", "--image", &format!("{}:1", layout.display()), &bundle.display().to_string()]);
    let expected = out.path().join("expected");
    root.snapshots.export_dir(&Snapshot { layers }, &expected).expect("export dir");
    let unpacked = tree(&bundle.join("rootfs"));
    assert_eq!(unpacked, tree(&expected));
    assert!(!unpacked.contains_key("etc/remove-me") && !unpacked.contains_key("var/cache/a"), "{unpacked:#?}");
    assert!(unpacked["bin/tool-link"].ends_with("links=2"), "{unpacked:#?}");
}

//! Resolving and pulling: the pulled layers hold what was pushed, digests pin images, blobs
//! already in the store are not downloaded again, and a tampered blob fails the pull and leaves
//! nothing behind.

use gb_registry::RegistryError;

use crate::support::{Root, TestRegistry, blobs_of, host_platform, registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_and_pulls_an_image_by_tag_and_by_digest() {
    let server = TestRegistry::start();
    let source = Root::new();
    let image = source.image("linux/amd64", "hello from amd64");
    source.skopeo_push(&image, &format!("{}/busybox:latest", server.addr), None);
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let reference = server.reference("busybox");

    let resolved = client.resolve(&reference, &host_platform()).await.expect("resolve");
    assert_eq!(resolved.config_digest, image.config_digest);
    assert_eq!(resolved.config["architecture"], "amd64");
    assert_eq!(resolved.index_digest, None);
    assert_eq!(gb_ir::Sha256Digest::of(&resolved.manifest_bytes), resolved.manifest_digest);
    assert_eq!(resolved.manifest["layers"].as_array().map(Vec::len), Some(2));

    let root = Root::new();
    let pulled = client.pull(&root.ctx(), &reference, &host_platform()).await.expect("pull");
    let name = format!("{}/busybox:latest", server.addr);
    assert_eq!(pulled.reference, format!("{name}@{}", resolved.manifest_digest), "pinned to what it pulled");
    let stored = root.db.image(&gb_cache::ImageName::parse(&name).expect("name")).expect("read");
    assert_eq!(stored.as_ref(), Some(&pulled));
    assert_eq!(pulled.manifest_digest, resolved.manifest_digest);
    assert_eq!(pulled.diff_ids, image.diff_ids);
    assert_eq!(root.layer_trees(&pulled), source.layer_trees(&image), "pulled layers hold what was pushed");
    for blob in blobs_of(&root, &pulled) {
        assert!(root.content.contains(&blob), "{blob} is stored");
    }
    let blobs = root.count("content/sha256");
    assert_eq!(blobs, 4, "two layers, config, manifest");

    // By digest: the same manifest, the same layers, nothing new stored.
    let pinned = server.reference(&format!("busybox@{}", pulled.manifest_digest));
    let by_digest = client.pull(&root.ctx(), &pinned, &host_platform()).await.expect("pull by digest");
    assert_eq!(by_digest.reference, format!("{}/busybox@{}", server.addr, pulled.manifest_digest));
    assert_eq!(by_digest.manifest_digest, pulled.manifest_digest);
    assert_eq!(by_digest.layers, pulled.layers, "layers with known diff ids are reused");
    assert_eq!(root.count("content/sha256"), blobs);
    assert_eq!(root.count("layers"), 2);

    // Blobs in the store are not downloaded again: a tampered copy in the registry goes unread.
    for blob in &blobs_of(&root, &pulled)[..2] {
        server.tamper(blob);
    }
    let again = client.pull(&root.ctx(), &reference, &host_platform()).await.expect("pull again");
    assert_eq!(again.layers, pulled.layers);

    // A digest the registry does not have fails.
    let wrong = server.reference(&format!("busybox@{}", gb_ir::Sha256Digest::of(b"no such manifest")));
    let error = client.resolve(&wrong, &host_platform()).await.expect_err("unknown digest");
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
    let missing = server.reference("missing:1");
    let error = client.resolve(&missing, &host_platform()).await.expect_err("unknown image");
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("image {}/missing:1 not found in registry {}", server.addr, server.addr));
}

#[tokio::test(flavor = "current_thread")]
async fn a_tampered_layer_fails_the_pull_and_leaves_nothing() {
    let server = TestRegistry::start();
    let source = Root::new();
    let image = source.image("linux/amd64", "tampered");
    source.skopeo_push(&image, &format!("{}/busybox:latest", server.addr), None);
    let layer_blobs = blobs_of(&source, &image);
    server.tamper(&layer_blobs[1]);

    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let root = Root::new();
    let error = client.pull(&root.ctx(), &server.reference("busybox"), &host_platform()).await.expect_err("tampered");
    match &error {
        RegistryError::DigestMismatch { expected, actual, .. } => {
            assert_eq!(*expected, layer_blobs[1]);
            assert_ne!(actual, expected);
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "layer blob {} of {}/busybox:latest does not match its digest",
            layer_blobs[1], server.addr
        )),
        "{message}"
    );
    assert_eq!(root.db.images().expect("images"), Vec::new(), "no image record");
    assert_eq!(root.count("content/sha256"), 0, "no blob: not the tampered one, not the good one");
    assert_eq!(root.count("layers"), 0, "no layer");
    assert_eq!(root.count("tmp"), 0, "no partial download");
}

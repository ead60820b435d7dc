//! Through a real registry: export, import into a fresh root, a second export that uploads
//! only the manifest, a second import that does nothing, a tampered blob, a missing tag.

use gb_remote_cache::{CONFIG_MEDIA_TYPE, CacheLocation, CacheShareError, export_cache, import_cache};

use crate::local::assert_same_cache;
use crate::support::{Root, TestRegistry, base_key, registry, run, top_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_root_gets_the_cache_through_a_registry() {
    let server = TestRegistry::start();
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let a = Root::new();
    let outputs = a.build();
    let location = CacheLocation::Registry(server.reference("app/cache:main"));

    let report = export_cache(&a.ctx(), Some(&client), &[top_key(), base_key()], &location).await.expect("export");
    assert_eq!((report.records, report.blobs, report.written), (2, 2, 4), "{report:?}");
    let raw =
        run("skopeo", &["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/app/cache:main", server.addr)]);
    let manifest: serde_json::Value = serde_json::from_str(&raw).expect("manifest json");
    assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(gb_ir::Sha256Digest::of(raw.as_bytes()), report.manifest_digest);

    // Once there, only the manifest is sent again.
    let again = export_cache(&a.ctx(), Some(&client), &[top_key(), base_key()], &location).await.expect("export");
    assert_eq!((again.written, again.manifest_digest), (1, report.manifest_digest), "{again:?}");

    let b = Root::new();
    let imported = import_cache(&b.ctx(), Some(&client), &location).await.expect("import");
    assert_eq!((imported.records, imported.layers_downloaded, imported.layers_imported), (2, 2, 2), "{imported:?}");
    assert!(imported.warnings.is_empty(), "{imported:?}");
    assert_same_cache(&a, &b, &outputs);

    let (layers, blobs) = (b.count("layers"), b.count("content/sha256"));
    let second = import_cache(&b.ctx(), Some(&client), &location).await.expect("import again");
    assert_eq!((second.records, second.layers_downloaded, second.layers_imported), (0, 0, 0), "{second:?}");
    assert_eq!((b.count("layers"), b.count("content/sha256")), (layers, blobs));

    // A tag or repository the registry does not have is a miss.
    for missing in ["app/cache:other", "nothing/here:latest"] {
        let missing = CacheLocation::Registry(server.reference(missing));
        let report = import_cache(&b.ctx(), Some(&client), &missing).await.expect("a miss");
        assert_eq!((report.records, report.warnings.len()), (0, 1), "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_registry_blob_fails_the_import_and_records_nothing() {
    let server = TestRegistry::start();
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let a = Root::new();
    let (_, top) = a.build();
    let location = CacheLocation::Registry(server.reference("app/cache:1"));
    export_cache(&a.ctx(), Some(&client), &[top_key(), base_key()], &location).await.expect("export");
    let blob = a.blob_digests(&top)[0];
    server.tamper(&blob);

    let b = Root::new();
    let error = import_cache(&b.ctx(), Some(&client), &location).await.expect_err("tampered");
    match &error {
        CacheShareError::DigestMismatch { expected, .. } => assert_eq!(*expected, blob),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(b.db.results().expect("results").is_empty(), "no result is recorded");
    assert_eq!(b.count("layers"), 0, "no layer is left");
    assert!(!b.content.contains(&blob));

    // Without a registry client a registry location is refused, not ignored.
    let error = import_cache(&b.ctx(), None, &location).await.expect_err("no client");
    assert!(matches!(error, CacheShareError::NoRegistryClient { .. }), "{error:?}");
}

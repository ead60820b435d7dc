//! Through a layout directory: export, import into a fresh root (same trees, same blobs, same
//! image), a second import that does nothing, partial imports reusing layers, a tampered blob,
//! a missing directory, and caches that are not ours.

use std::fs;

use gb_cache::Snapshot;
use gb_remote_cache::{CacheLocation, CacheShareError, ErrorKind, export_cache, import_cache};

use crate::support::{Root, base_key, top_key};

/// Checks that `b` got what `a` has under both keys: records, trees, blobs (without compressing
/// anything), and the same image.
pub fn assert_same_cache(a: &Root, b: &Root, (base, top): &(Snapshot, Snapshot)) {
    for key in [base_key(), top_key()] {
        let (ra, rb) = (a.db.result(&key).expect("read"), b.db.result(&key).expect("read"));
        let (ra, rb) = (ra.expect("result in A"), rb.expect("result imported into B"));
        assert_eq!((rb.created_unix, &rb.description), (ra.created_unix, &ra.description));
        assert_eq!(rb.outputs.len(), 1);
        assert_eq!(rb.outputs[0].layers.len(), ra.outputs[0].layers.len());
        assert_eq!(b.tree(&rb.outputs[0]), a.tree(&ra.outputs[0]), "tree of {key}");
    }
    let imported_top = b.db.result(&top_key()).expect("read").expect("result").outputs[0].clone();
    let imported_base = b.db.result(&base_key()).expect("read").expect("result").outputs[0].clone();
    assert_eq!(imported_base.layers[0], imported_top.layers[0], "the shared layer is imported once");
    assert!(!a.tree(top).contains_key("bin/tool") && a.tree(base).contains_key("bin/tool"), "whiteout works");

    let blobs_before = b.count("content/sha256");
    assert_eq!(b.blob_digests(&imported_top), a.blob_digests(top));
    assert_eq!(b.count("content/sha256"), blobs_before, "no layer was compressed again");
    let created = a.db.result(&top_key()).expect("read").expect("result").created_unix;
    assert_eq!(b.image_digest(&imported_top, created), a.image_digest(top, created));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_root_gets_the_results_layers_and_blobs() {
    let a = Root::new();
    let outputs = a.build();
    let dir = tempfile::tempdir().expect("tempdir");
    let location = CacheLocation::Local(dir.path().join("cache"));

    let report = export_cache(&a.ctx(), None, &[top_key(), base_key(), top_key()], &location).await.expect("export");
    assert_eq!((report.records, report.blobs, report.written), (2, 2, 4), "{report:?}");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("cache/index.json")).expect("index")).expect("json");
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest");
    assert_eq!(index["manifests"][0]["digest"], report.manifest_digest.to_string());
    assert!(dir.path().join("cache/oci-layout").is_file());

    let b = Root::new();
    let imported = import_cache(&b.ctx(), None, &location).await.expect("import");
    assert_eq!((imported.records, imported.layers_downloaded, imported.layers_imported), (2, 2, 2), "{imported:?}");
    assert!(imported.warnings.is_empty(), "{imported:?}");
    assert_same_cache(&a, &b, &outputs);

    // Everything is there now: a second import adds nothing.
    let (layers, blobs) = (b.count("layers"), b.count("content/sha256"));
    let again = import_cache(&b.ctx(), None, &location).await.expect("import again");
    assert_eq!((again.records, again.layers_downloaded, again.layers_imported), (0, 0, 0), "{again:?}");
    assert_eq!((b.count("layers"), b.count("content/sha256")), (layers, blobs));

    // Exporting the same results again writes no blob, and gives the same manifest.
    let same = export_cache(&a.ctx(), None, &[base_key(), top_key()], &location).await.expect("export again");
    assert_eq!((same.written, same.manifest_digest), (0, report.manifest_digest), "{same:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_import_reuses_the_layers_already_imported() {
    let a = Root::new();
    a.build();
    let dir = tempfile::tempdir().expect("tempdir");
    let (min, max) = (CacheLocation::Local(dir.path().join("min")), CacheLocation::Local(dir.path().join("max")));
    let report = export_cache(&a.ctx(), None, &[base_key()], &min).await.expect("export min");
    assert_eq!((report.records, report.blobs), (1, 1));
    export_cache(&a.ctx(), None, &[base_key(), top_key()], &max).await.expect("export max");

    let b = Root::new();
    let first = import_cache(&b.ctx(), None, &min).await.expect("import min");
    assert_eq!((first.records, first.layers_imported), (1, 1), "{first:?}");
    assert!(b.db.result(&top_key()).expect("read").is_none());
    let second = import_cache(&b.ctx(), None, &max).await.expect("import max");
    assert_eq!((second.records, second.layers_downloaded, second.layers_imported), (1, 1, 1), "{second:?}");
    let base = b.db.result(&base_key()).expect("read").expect("base");
    let top = b.db.result(&top_key()).expect("read").expect("top");
    assert_eq!(top.outputs[0].layers[0], base.outputs[0].layers[0], "the base layer is reused");
    assert_eq!(b.count("layers"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_blob_fails_the_import_and_records_nothing() {
    let a = Root::new();
    let (_, top) = a.build();
    let dir = tempfile::tempdir().expect("tempdir");
    let location = CacheLocation::Local(dir.path().to_path_buf());
    export_cache(&a.ctx(), None, &[top_key(), base_key()], &location).await.expect("export");
    let blob = a.blob_digests(&top)[1];
    let path = dir.path().join("blobs/sha256").join(blob.hex());
    let mut bytes = fs::read(&path).expect("read blob");
    *bytes.last_mut().expect("non-empty") ^= 0xff;
    fs::write(&path, bytes).expect("tamper");

    let b = Root::new();
    let error = import_cache(&b.ctx(), None, &location).await.expect_err("tampered");
    match &error {
        CacheShareError::DigestMismatch { expected, .. } => assert_eq!(*expected, blob),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert_eq!(error.kind(), ErrorKind::Input);
    assert!(b.db.results().expect("results").is_empty(), "no result is recorded");
    assert_eq!((b.count("layers"), b.count("content/sha256")), (0, 0), "what was added is taken back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_cache_is_a_miss_and_a_foreign_one_an_error() {
    let b = Root::new();
    let dir = tempfile::tempdir().expect("tempdir");
    for missing in [dir.path().join("nothing-here"), dir.path().to_path_buf()] {
        let report = import_cache(&b.ctx(), None, &CacheLocation::Local(missing.clone())).await.expect("a miss");
        assert_eq!(report.records, 0);
        assert_eq!(report.warnings.len(), 1, "{report:?}");
        assert!(report.warnings[0].contains(&missing.display().to_string()), "{report:?}");
    }

    // BuildKit's cache (an index of blobs) is recognized and refused.
    fs::write(
        dir.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:4b2a1e4b5ca0bd7e5e2b8d0c3a4c0ab1b6d77c8fb4c4d2d3e4f5a6b7c8d9e0f1","size":2,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}"#,
    )
    .expect("write index");
    let digest = "4b2a1e4b5ca0bd7e5e2b8d0c3a4c0ab1b6d77c8fb4c4d2d3e4f5a6b7c8d9e0f1";
    fs::create_dir_all(dir.path().join("blobs/sha256")).expect("mkdir");
    fs::write(dir.path().join("blobs/sha256").join(digest), "{}").expect("write blob");
    let error =
        import_cache(&b.ctx(), None, &CacheLocation::Local(dir.path().to_path_buf())).await.expect_err("foreign");
    // The blob's content does not match the made-up digest: caught before anything is parsed.
    assert!(matches!(error, CacheShareError::DigestMismatch { .. }), "{error:?}");
    let real = gb_ir::Sha256Digest::of(b"{}");
    fs::write(dir.path().join("blobs/sha256").join(real.hex()), "{}").expect("write blob");
    let index = fs::read_to_string(dir.path().join("index.json")).expect("read").replace(digest, &real.hex());
    fs::write(dir.path().join("index.json"), index).expect("write index");
    let error =
        import_cache(&b.ctx(), None, &CacheLocation::Local(dir.path().to_path_buf())).await.expect_err("foreign");
    assert!(matches!(&error, CacheShareError::Unsupported { reason, .. } if reason.contains("index")), "{error:?}");
    assert!(b.db.results().expect("results").is_empty());
}

//! Generic transfers: a blob pushed from the store (once), pulled into another store
//! (verified), a manifest of any config type pushed and pulled back as bytes, a missing tag.

use gb_ir::Sha256Digest;
use gb_registry::RegistryError;

use crate::support::{Root, TestRegistry, registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_and_manifests_round_trip_as_bytes() {
    let server = TestRegistry::start();
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let source = Root::new();
    let blob = source.content.put_bytes(b"a generic blob").expect("put");
    let config = source.content.put_bytes(br#"{"records":[]}"#).expect("put");
    let target = server.reference("things/one:v1");
    assert!(client.push_blob_from_store(&source.ctx(), &target, &blob).await.expect("push"));
    assert!(client.push_blob_from_store(&source.ctx(), &target, &config).await.expect("push"));
    assert!(!client.push_blob_from_store(&source.ctx(), &target, &blob).await.expect("push again"), "skipped");

    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/x.test.config+json","digest":"{config}","size":14}},"layers":[{{"mediaType":"application/octet-stream","digest":"{blob}","size":14}}]}}"#
    );
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let digest = client.push_manifest_bytes(&target, manifest.clone().into_bytes(), media_type).await.expect("push");
    assert_eq!(digest, Sha256Digest::of(manifest.as_bytes()));
    let (bytes, pulled_type, pulled_digest) = client.pull_manifest_bytes(&target).await.expect("pull manifest");
    assert_eq!((bytes, pulled_type.as_str(), pulled_digest), (manifest.into_bytes(), media_type, digest));

    let dest = Root::new();
    client.pull_blob_to_store(&dest.ctx(), &target, &blob, 14).await.expect("pull blob");
    assert_eq!(dest.content.read(&blob).expect("read"), b"a generic blob");

    server.tamper(&config);
    let error = client.pull_blob_to_store(&dest.ctx(), &target, &config, 14).await.expect_err("tampered");
    assert!(matches!(error, RegistryError::DigestMismatch { expected, .. } if expected == config), "{error:?}");
    assert!(!dest.content.contains(&config));

    let error = client.pull_manifest_bytes(&server.reference("things/one:v2")).await.expect_err("no such tag");
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
}

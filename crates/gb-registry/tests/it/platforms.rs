//! Multi-platform images: an index (pushed by hand with oci-client over two manifests pushed by
//! digest) resolves to the platform's manifest; a platform it lacks is an error listing those it
//! has; a single manifest is checked against its config's platform.

use gb_ir::Platform;
use gb_registry::RegistryError;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::{Client, Reference};
use serde_json::json;

use crate::support::{Root, TestRegistry, blobs_of, registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_resolves_to_the_platform_manifest() {
    let server = TestRegistry::start();
    let source = Root::new();
    let amd64 = source.image("linux/amd64", "amd64 inside");
    let arm64 = source.image("linux/arm64", "arm64 inside");
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());

    // Each manifest by digest: the second shares the first's base layer, which is not sent again.
    let first = server.reference(&format!("multi@{}", amd64.manifest_digest));
    let report = client.push(&source.ctx(), &amd64, &first).await.expect("push amd64");
    assert_eq!(report.manifest_digest, amd64.manifest_digest);
    assert_eq!(report.uploaded, blobs_of(&source, &amd64));
    let second = server.reference(&format!("multi@{}", arm64.manifest_digest));
    let report = client.push(&source.ctx(), &arm64, &second).await.expect("push arm64");
    let arm64_blobs = blobs_of(&source, &arm64);
    assert_eq!(report.skipped, vec![arm64_blobs[0]], "the shared base layer is there already");
    assert_eq!(report.uploaded, arm64_blobs[1..].to_vec());

    let descriptor = |record: &gb_cache::ImageRecord, architecture: &str| {
        let size = source.content.size(&record.manifest_digest).expect("size");
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": record.manifest_digest.to_string(),
            "size": size,
            "platform": { "os": "linux", "architecture": architecture },
        })
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor(&amd64, "amd64"), descriptor(&arm64, "arm64")],
    });
    let index_bytes = serde_json::to_vec(&index).expect("json");
    let oci = Client::try_from(ClientConfig { protocol: ClientProtocol::Http, ..ClientConfig::default() })
        .expect("oci client");
    oci.push_manifest_raw(
        &Reference::with_tag(server.addr.clone(), "multi".into(), "latest".into()),
        index_bytes.clone(),
        "application/vnd.oci.image.index.v1+json".parse().expect("header"),
    )
    .await
    .expect("push index");

    let reference = server.reference("multi:latest");
    let arm = Platform::parse("linux/arm64").expect("platform");
    let resolved = client.resolve(&reference, &arm).await.expect("resolve arm64");
    assert_eq!(resolved.manifest_digest, arm64.manifest_digest);
    assert_eq!(resolved.index_digest, Some(gb_ir::Sha256Digest::of(&index_bytes)));
    assert_eq!(resolved.config["architecture"], "arm64");
    let amd = Platform::parse("linux/amd64").expect("platform");
    assert_eq!(client.resolve(&reference, &amd).await.expect("resolve amd64").manifest_digest, amd64.manifest_digest);

    let root = Root::new();
    let pulled = client.pull(&root.ctx(), &reference, &arm).await.expect("pull arm64");
    assert_eq!(pulled.manifest_digest, arm64.manifest_digest);
    let message = root.snapshots.layer_path(&pulled.layers[1]).join("etc/message");
    assert_eq!(std::fs::read_to_string(message).expect("read"), "arm64 inside");

    let s390x = Platform::parse("linux/s390x").expect("platform");
    let error = client.resolve(&reference, &s390x).await.expect_err("no s390x");
    match &error {
        RegistryError::NoMatchingPlatform { available, .. } => assert_eq!(available, &["linux/amd64", "linux/arm64"]),
        other => panic!("expected no matching platform, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        format!("{}/multi:latest has no image for platform linux/s390x; it has linux/amd64, linux/arm64", server.addr)
    );

    // A single manifest is checked against the platform of its config.
    let error = client.resolve(&first, &arm).await.expect_err("amd64 only");
    match &error {
        RegistryError::NoMatchingPlatform { available, platform, .. } => {
            assert_eq!(available, &["linux/amd64"]);
            assert_eq!(platform, "linux/arm64");
        }
        other => panic!("expected no matching platform, got {other:?}"),
    }
}

//! Pushing: a pulled image pushed to another repository of the same registry mounts or skips
//! every blob and uploads none; skopeo sees the pushed image.

use crate::support::{Root, TestRegistry, blobs_of, host_platform, registry, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_image_pushed_to_another_repository_is_mounted_not_uploaded() {
    let server = TestRegistry::start();
    let source = Root::new();
    let image = source.image("linux/amd64", "to be copied");
    source.skopeo_push(&image, &format!("{}/busybox:latest", server.addr), None);
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let root = Root::new();
    let pulled = client.pull(&root.ctx(), &server.reference("busybox"), &host_platform()).await.expect("pull");
    let blobs = blobs_of(&root, &pulled);

    let target = server.reference("copy:1");
    let report = client.push(&root.ctx(), &pulled, &target).await.expect("push");
    assert_eq!(report.manifest_digest, pulled.manifest_digest);
    assert_eq!(report.uploaded, Vec::new(), "nothing is uploaded: {report:?}");
    let mut seen = [report.mounted.clone(), report.skipped.clone()].concat();
    seen.sort();
    let mut expected = blobs.clone();
    expected.sort();
    assert_eq!(seen, expected, "every blob is mounted or skipped: {report:?}");
    assert_eq!(report.mounted.len(), blobs.len(), "a new repository has none of them: {report:?}");

    let inspect = run("skopeo", &["inspect", "--tls-verify=false", &format!("docker://{}/copy:1", server.addr)]);
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo json");
    assert_eq!(inspect["Digest"], pulled.manifest_digest.to_string());
    let layers: Vec<String> = blobs[..2].iter().map(ToString::to_string).collect();
    assert_eq!(inspect["Layers"], serde_json::json!(layers));
    assert_eq!(inspect["Architecture"], "amd64");

    // Once there, everything is skipped, under another tag too.
    let report = client.push(&root.ctx(), &pulled, &server.reference("copy:2")).await.expect("push again");
    assert_eq!((report.uploaded.len(), report.mounted.len(), report.skipped.len()), (0, 0, blobs.len()));
    let inspect = run("skopeo", &["inspect", "--tls-verify=false", &format!("docker://{}/copy:2", server.addr)]);
    assert!(inspect.contains(&pulled.manifest_digest.to_string()), "{inspect}");
}

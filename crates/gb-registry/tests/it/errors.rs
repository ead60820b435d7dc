//! Failures that must be quick and clear: a registry nobody listens on.

use gb_registry::{ErrorKind, RegistryError};

use crate::support::{Root, host_platform, registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry_fails_fast_with_a_clear_message() {
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let reference = gb_ir::ImageReference::parse("127.0.0.1:1/app:1").expect("reference");
    let root = Root::new();

    // A refused connection is reported as such, not retried: the kind and the message say so
    // (a hang would be caught by nextest's timeout, not by a clock here).
    let error = client.resolve(&reference, &host_platform()).await.expect_err("nobody listens on port 1");
    assert!(matches!(error, RegistryError::Unreachable { .. }), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Registry);
    let message = error.to_string();
    assert!(message.starts_with("registry 127.0.0.1:1 is unreachable: "), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");

    let error = client.pull(&root.ctx(), &reference, &host_platform()).await.expect_err("pull");
    assert!(error.to_string().starts_with("registry 127.0.0.1:1 is unreachable: "), "{error}");
    assert_eq!(root.db.images().expect("images"), Vec::new());
    assert_eq!(root.count("content/sha256"), 0);
}

#[tokio::test]
async fn docker_hub_without_a_network_is_unreachable() {
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let reference = gb_ir::ImageReference::parse("busybox").expect("reference");
    // With a network this resolves, which is as good.
    if let Err(error) = client.resolve(&reference, &host_platform()).await {
        assert!(error.to_string().starts_with("registry docker.io is unreachable: "), "{error}");
    }
}

//! A registry with htpasswd authentication: without credentials pulls and pushes are refused,
//! wrong ones too, with errors that never show a credential; after `login` (which
//! `verify_login` checks first) both work, and after `logout` they are refused again.

use gb_registry::{ErrorKind, RegistryError, credentials, login, logout};

use crate::support::{PASSWORD, Root, TestRegistry, USER, host_platform, registry};

const WRONG_PASSWORD: &str = "wrong-Secret-93d2";

/// Fails when `error`'s message or `Debug` shows any form of a credential.
fn assert_no_secret(error: &RegistryError) {
    let shown = format!("{error} {error:?}");
    for secret in [PASSWORD, WRONG_PASSWORD, "dGVzdGVy" /* base64 of the user, a prefix of every auth */] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

fn assert_unauthorized(error: &RegistryError, sent_credentials: bool) {
    assert_no_secret(error);
    match error {
        RegistryError::Unauthorized { with_credentials, .. } => assert_eq!(*with_credentials, sent_credentials),
        other => panic!("expected unauthorized, got {other:?}"),
    }
    assert_eq!(error.kind(), ErrorKind::Input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_needed_checked_and_never_shown() {
    let server = TestRegistry::start_with_auth();
    let source = Root::new();
    let image = source.image("linux/amd64", "private");
    source.skopeo_push(&image, &format!("{}/private:1", server.addr), Some(&format!("{USER}:{PASSWORD}")));
    let config_dir = tempfile::tempdir().expect("tempdir");
    let client = registry(config_dir.path());
    let reference = server.reference("private:1");
    let root = Root::new();

    // No credentials.
    let error = client.pull(&root.ctx(), &reference, &host_platform()).await.expect_err("anonymous pull");
    assert_unauthorized(&error, false);
    assert_eq!(
        error.to_string(),
        format!(
            "not authorized to pull {}/private:1: no credentials for registry {} (log in first)",
            server.addr, server.addr
        )
    );
    let error = client.push(&source.ctx(), &image, &server.reference("pushed:1")).await.expect_err("anonymous push");
    assert_unauthorized(&error, false);
    assert_eq!(root.db.images().expect("images"), Vec::new());

    // Wrong credentials: refused by verify_login, and by the registry once stored anyway.
    let error = client.verify_login(&server.addr, USER, WRONG_PASSWORD).await.expect_err("wrong password");
    assert_unauthorized(&error, true);
    login(Some(config_dir.path()), &server.addr, USER, WRONG_PASSWORD).expect("store wrong credentials");
    let error = client.pull(&root.ctx(), &reference, &host_platform()).await.expect_err("wrong password");
    assert_unauthorized(&error, true);
    assert!(error.to_string().contains("rejected the stored credentials"), "{error}");
    let error = client.push(&source.ctx(), &image, &server.reference("pushed:1")).await.expect_err("wrong password");
    assert_unauthorized(&error, true);

    // The right ones.
    client.verify_login(&server.addr, USER, PASSWORD).await.expect("verify login");
    login(Some(config_dir.path()), &server.addr, USER, PASSWORD).expect("login");
    assert_eq!(
        credentials(Some(config_dir.path()), &server.addr).expect("read"),
        Some((USER.to_owned(), PASSWORD.to_owned()))
    );
    let pulled = client.pull(&root.ctx(), &reference, &host_platform()).await.expect("pull with credentials");
    assert_eq!(pulled.diff_ids, image.diff_ids);
    let report =
        client.push(&source.ctx(), &image, &server.reference("pushed:1")).await.expect("push with credentials");
    assert_eq!(report.manifest_digest, image.manifest_digest);

    // Logged out: refused again, even by the client that had a session.
    assert!(logout(Some(config_dir.path()), &server.addr).expect("logout"));
    let error = client.resolve(&reference, &host_platform()).await.expect_err("logged out");
    assert_unauthorized(&error, false);
}

//! `fetch_git` and `resolve_git_ref` against a repository made in the test, over `file://`.

use gb_fetch::{ErrorKind, FetchError, fetch_git, resolve_git_ref};

use crate::support::{Repo, entries, git, read};

#[test]
fn default_branch_is_checked_out_without_git_dir() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("checkout");

    let commit = fetch_git(&repo.url, None, None, false, None, &dest).expect("fetch");

    assert_eq!(commit, repo.second);
    assert_eq!(entries(&dest), ["README", "sub", "two.txt"]);
    assert_eq!(read(dest.join("sub/inner.txt")), "inner v2\n");
}

#[test]
fn a_tag_checks_out_its_commit() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");

    let commit = fetch_git(&repo.url, Some("v1"), None, false, None, out.path()).expect("fetch");

    assert_eq!(commit, repo.first);
    assert_eq!(entries(out.path()), ["README", "sub"]);
    assert_eq!(read(out.path().join("sub/inner.txt")), "inner v1\n");
}

#[test]
fn a_commit_hash_checks_out_that_commit() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");

    let commit = fetch_git(&repo.url, Some(&repo.first), None, false, None, out.path()).expect("fetch");

    assert_eq!(commit, repo.first);
    assert_eq!(read(out.path().join("sub/inner.txt")), "inner v1\n");
}

#[test]
fn subdir_keeps_only_that_directory_content() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");

    // keep_git_dir has no effect with a subdir, as in BuildKit.
    let commit = fetch_git(&repo.url, Some("trunk"), Some("/sub/"), true, None, out.path()).expect("fetch");

    assert_eq!(commit, repo.second);
    assert_eq!(entries(out.path()), ["deeper", "inner.txt"]);
    assert_eq!(read(out.path().join("inner.txt")), "inner v2\n");
    assert_eq!(read(out.path().join("deeper/leaf.txt")), "leaf\n");
}

#[test]
fn keep_git_dir_leaves_a_clean_repository_at_the_commit() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");

    let commit = fetch_git(&repo.url, None, None, true, None, out.path()).expect("fetch");

    assert_eq!(commit, repo.second);
    assert_eq!(entries(out.path()), [".git", "README", "sub", "two.txt"]);
    assert_eq!(git(out.path(), &["rev-parse", "HEAD"]), repo.second);
    assert_eq!(
        git(out.path(), &["rev-parse", "refs/heads/trunk"]),
        repo.second,
        "the default branch is fetched by name"
    );
    assert_eq!(git(out.path(), &["status", "--porcelain"]), "");
    assert_eq!(git(out.path(), &["remote", "get-url", "origin"]), repo.url);
    assert!(!out.path().join(".git/FETCH_HEAD").exists());
}

#[test]
fn checksum_accepts_the_commit_a_prefix_or_the_tag_object() {
    let repo = Repo::new();
    for checksum in [repo.first.clone(), repo.first[..12].to_owned(), repo.tag_object.clone()] {
        let out = tempfile::tempdir().expect("tempdir");
        let commit = fetch_git(&repo.url, Some("v1"), None, false, Some(&checksum), out.path()).expect("fetch");
        assert_eq!(commit, repo.first, "checksum {checksum}");
    }
}

#[test]
fn checksum_mismatch_fails_and_leaves_the_destination_as_found() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");
    let missing = out.path().join("new");

    let error = fetch_git(&repo.url, Some("trunk"), None, false, Some(&repo.first), &missing).expect_err("mismatch");

    assert!(
        matches!(&error, FetchError::CommitMismatch { expected, actual, .. } if *expected == repo.first && *actual == repo.second),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&repo.first) && message.contains(&repo.second) && message.contains(&repo.url),
        "{message}"
    );
    assert_eq!(error.kind(), ErrorKind::Input);
    assert!(!missing.exists(), "a destination we created is removed");

    let error = fetch_git(&repo.url, None, Some("sub"), false, Some("0000"), out.path()).expect_err("mismatch");
    assert!(matches!(error, FetchError::CommitMismatch { .. }), "{error:?}");
    assert!(entries(out.path()).is_empty(), "an existing destination is emptied: {:?}", entries(out.path()));
}

#[test]
fn unknown_refs_and_subdirs_are_input_errors() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");

    let error = fetch_git(&repo.url, Some("no-such-branch"), None, false, None, out.path()).expect_err("no ref");
    assert!(matches!(&error, FetchError::RefNotFound { reference, .. } if reference == "no-such-branch"), "{error:?}");
    assert!(error.to_string().contains(&repo.url), "{error}");

    // Not advertised, so the shallow fetch fails and the full fetch does not find it either.
    let absent = "0123456789abcdef0123456789abcdef01234567";
    let error = fetch_git(&repo.url, Some(absent), None, false, None, out.path()).expect_err("no commit");
    assert!(matches!(&error, FetchError::RefNotFound { reference, .. } if reference == absent), "{error:?}");
    assert!(entries(out.path()).is_empty(), "left behind: {:?}", entries(out.path()));

    let error = fetch_git(&repo.url, None, Some("sub/inner.txt"), false, None, out.path()).expect_err("a file");
    assert!(matches!(&error, FetchError::SubdirNotFound { subdir, .. } if subdir == "sub/inner.txt"), "{error:?}");
    assert!(entries(out.path()).is_empty(), "left behind: {:?}", entries(out.path()));

    let error = fetch_git(&repo.url, None, Some("../etc"), false, None, out.path()).expect_err("escapes");
    assert!(matches!(error, FetchError::InvalidGitSource { what: "subdir", .. }), "{error:?}");

    let error =
        fetch_git(&repo.url, Some("--upload-pack=touch /tmp/x"), None, false, None, out.path()).expect_err("option");
    assert!(matches!(error, FetchError::InvalidGitSource { what: "ref", .. }), "{error:?}");
}

#[test]
fn a_non_empty_destination_is_refused_and_untouched() {
    let repo = Repo::new();
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::write(out.path().join("mine.txt"), "keep me").expect("write");

    let error = fetch_git(&repo.url, None, None, false, None, out.path()).expect_err("not empty");

    assert!(matches!(error, FetchError::DestinationNotEmpty { .. }), "{error:?}");
    assert_eq!(entries(out.path()), ["mine.txt"]);
}

#[test]
fn resolve_git_ref_follows_branches_and_peels_tags() {
    let repo = Repo::new();

    assert_eq!(resolve_git_ref(&repo.url, None).expect("default branch"), repo.second);
    assert_eq!(resolve_git_ref(&repo.url, Some("trunk")).expect("branch"), repo.second);
    assert_eq!(resolve_git_ref(&repo.url, Some("refs/heads/trunk")).expect("full name"), repo.second);
    assert_eq!(resolve_git_ref(&repo.url, Some("v1")).expect("tag"), repo.first);
    assert_eq!(resolve_git_ref(&repo.url, Some(&repo.first)).expect("commit"), repo.first);
    let error = resolve_git_ref(&repo.url, Some("nope")).expect_err("no ref");
    assert!(matches!(error, FetchError::RefNotFound { .. }), "{error:?}");

    // A branch that moves resolves to its new commit, so its cache key changes.
    let third = repo.commit_more();
    assert_eq!(resolve_git_ref(&repo.url, Some("trunk")).expect("branch"), third);
    assert_eq!(resolve_git_ref(&repo.url, Some("v1")).expect("tag"), repo.first);
}

#[test]
fn credentials_in_remotes_never_appear_in_errors() {
    // Nothing listens on port 1 of the loopback interface: git fails at once.
    let remote = "https://builder:s3cret@127.0.0.1:1/org/repo.git";
    let out = tempfile::tempdir().expect("tempdir");

    for error in [
        fetch_git(remote, Some("main"), None, false, None, out.path()).expect_err("unreachable"),
        resolve_git_ref(remote, None).expect_err("unreachable"),
    ] {
        let message = error.to_string();
        assert!(!message.contains("s3cret") && !message.contains("builder:"), "{message}");
        assert!(message.contains("https://***@127.0.0.1:1/org/repo.git"), "{message}");
        assert_eq!(error.kind(), ErrorKind::Remote, "{error:?}");
    }
}

//! `fetch_http`: names, mode and mtime as BuildKit, checksums, statuses, redirects, redaction.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use gb_fetch::{ErrorKind, FetchError, fetch_http};
use gb_ir::Sha256Digest;

use crate::support::{Route, entries, read, serve};

const BODY: &str = "hello from the server\n";

fn mtime(path: &std::path::Path) -> SystemTime {
    std::fs::metadata(path).and_then(|metadata| metadata.modified()).expect("the file's mtime")
}

#[test]
fn download_is_named_after_the_url_with_mode_0600_and_epoch_mtime() {
    let base = serve(vec![Route::ok("/files/hello.txt?version=2", BODY)]);
    let dest = tempfile::tempdir().expect("tempdir");

    let fetched = fetch_http(&format!("{base}/files/hello.txt?version=2"), None, None, dest.path()).expect("fetch");

    assert_eq!(fetched.path, dest.path().join("hello.txt"));
    assert_eq!(read(&fetched.path), BODY);
    assert_eq!(fetched.size, BODY.len() as u64);
    assert_eq!(fetched.sha256, Sha256Digest::of(BODY.as_bytes()));
    let mode = std::fs::metadata(&fetched.path).expect("metadata").permissions().mode();
    assert_eq!(mode & 0o7777, 0o600);
    // Without Last-Modified, BuildKit stamps the epoch: the result does not depend on the clock.
    assert_eq!(mtime(&fetched.path), SystemTime::UNIX_EPOCH);
    assert_eq!(entries(dest.path()), ["hello.txt"], "no partial file is left behind");
}

#[test]
fn given_filename_wins_and_last_modified_becomes_the_mtime() {
    let base = serve(vec![
        Route::ok("/archive.tgz", BODY)
            .header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            .header("Content-Disposition", "attachment; filename=\"server-name.tgz\""),
    ]);
    let dest = tempfile::tempdir().expect("tempdir");

    let fetched = fetch_http(&format!("{base}/archive.tgz"), None, Some("mine.tgz"), dest.path()).expect("fetch");

    assert_eq!(fetched.path, dest.path().join("mine.tgz"));
    assert_eq!(read(&fetched.path), BODY);
    assert_eq!(mtime(&fetched.path), SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480));
}

#[test]
fn content_disposition_names_the_file() {
    let base =
        serve(vec![Route::ok("/get?id=7", BODY).header("Content-Disposition", "attachment; filename=\"report.csv\"")]);
    let dest = tempfile::tempdir().expect("tempdir");

    let fetched = fetch_http(&format!("{base}/get?id=7"), None, None, dest.path()).expect("fetch");

    assert_eq!(fetched.path, dest.path().join("report.csv"));
}

#[test]
fn a_url_without_a_name_downloads_to_download() {
    let base = serve(vec![Route::ok("/", BODY)]);
    let dest = tempfile::tempdir().expect("tempdir");

    let fetched = fetch_http(&format!("{base}/"), None, None, dest.path()).expect("fetch");

    assert_eq!(fetched.path, dest.path().join("download"));
}

#[test]
fn matching_checksum_is_accepted() {
    let base = serve(vec![Route::ok("/f.bin", BODY)]);
    let dest = tempfile::tempdir().expect("tempdir");
    let expected = Sha256Digest::of(BODY.as_bytes());

    let fetched = fetch_http(&format!("{base}/f.bin"), Some(&expected), None, dest.path()).expect("fetch");

    assert_eq!(fetched.sha256, expected);
}

#[test]
fn checksum_mismatch_names_both_digests_and_leaves_no_file() {
    let base = serve(vec![Route::ok("/f.bin", BODY)]);
    let dest = tempfile::tempdir().expect("tempdir");
    let expected = Sha256Digest::of(b"something else");

    let error = fetch_http(&format!("{base}/f.bin"), Some(&expected), None, dest.path()).expect_err("a mismatch");

    let actual = Sha256Digest::of(BODY.as_bytes());
    assert!(
        matches!(&error, FetchError::ChecksumMismatch { expected: e, actual: a, .. } if *e == expected && *a == actual)
    );
    let message = error.to_string();
    assert!(message.contains(&expected.to_string()) && message.contains(&actual.to_string()), "{message}");
    assert!(message.contains(&format!("{base}/f.bin")), "{message}");
    assert_eq!(error.kind(), ErrorKind::Input);
    assert!(entries(dest.path()).is_empty(), "left behind: {:?}", entries(dest.path()));
}

#[test]
fn not_found_is_an_error_naming_status_and_url() {
    let base = serve(Vec::new());
    let dest = tempfile::tempdir().expect("tempdir");
    let url = format!("{base}/missing.txt");

    let error = fetch_http(&url, None, None, dest.path()).expect_err("a 404");

    assert!(matches!(&error, FetchError::HttpStatus { status: 404, .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("cannot fetch {url}: http status 404"));
    assert_eq!(error.kind(), ErrorKind::Remote);
    assert!(entries(dest.path()).is_empty());
}

#[test]
fn redirects_are_followed_and_the_name_comes_from_the_url_as_written() {
    let base =
        serve(vec![Route::redirect("/latest", "/releases/v2/tool.bin"), Route::ok("/releases/v2/tool.bin", BODY)]);
    let dest = tempfile::tempdir().expect("tempdir");

    let fetched = fetch_http(&format!("{base}/latest"), None, None, dest.path()).expect("fetch");

    // BuildKit names the file after the URL it was given, so the name does not move with the
    // redirect's target.
    assert_eq!(fetched.path, dest.path().join("latest"));
    assert_eq!(read(&fetched.path), BODY);
}

#[test]
fn redirects_to_file_urls_are_refused_at_every_hop() {
    // `/etc/passwd` is also served, to catch the redirect being read as a path on this server.
    let base = serve(vec![
        Route::redirect("/direct", "file:///etc/passwd"),
        Route::redirect("/first", "/second"),
        Route::redirect("/second", "FILE:///etc/passwd"),
        Route::ok("/etc/passwd", "root:x:0:0:served by the test server\n"),
        Route::ok("/file:///etc/passwd", "served by the test server\n"),
    ]);
    for start in ["/direct", "/first"] {
        let dest = tempfile::tempdir().expect("tempdir");
        let url = format!("{base}{start}");

        let error = fetch_http(&url, None, None, dest.path()).expect_err("a refused redirect");

        assert!(matches!(&error, FetchError::Redirect { .. }), "{start}: {error:?}");
        let message = error.to_string();
        assert!(message.to_lowercase().contains("file:///etc/passwd"), "{message}");
        assert!(message.contains("only http and https redirects are followed"), "{message}");
        assert_eq!(error.kind(), ErrorKind::Remote);
        assert!(entries(dest.path()).is_empty(), "left behind: {:?}", entries(dest.path()));
    }
}

#[test]
fn redirects_to_absolute_http_urls_are_followed() {
    let target = serve(vec![Route::ok("/tool.bin", BODY)]);
    let location = format!("{target}/tool.bin");
    let base = serve(vec![Route::redirect("/latest", &location)]);
    let dest = tempfile::tempdir().expect("tempdir");

    let fetched = fetch_http(&format!("{base}/latest"), None, None, dest.path()).expect("fetch");

    assert_eq!(read(&fetched.path), BODY);
}

#[test]
fn redirect_loops_stop_after_ten() {
    let base = serve(vec![Route::redirect("/loop", "/loop")]);
    let dest = tempfile::tempdir().expect("tempdir");

    let error = fetch_http(&format!("{base}/loop"), None, None, dest.path()).expect_err("a loop");

    assert!(error.to_string().contains("more than 10 redirects"), "{error}");
}

#[test]
fn large_bodies_stream_through() {
    let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expected = Sha256Digest::of(&body);
    let base = serve(vec![Route::ok("/big.bin", body.clone())]);
    let dest = tempfile::tempdir().expect("tempdir");

    let fetched = fetch_http(&format!("{base}/big.bin"), Some(&expected), None, dest.path()).expect("fetch");

    assert_eq!(fetched.size, body.len() as u64);
    assert_eq!(std::fs::read(&fetched.path).expect("read"), body);
}

#[test]
fn credentials_never_appear_in_errors() {
    let base = serve(Vec::new());
    let dest = tempfile::tempdir().expect("tempdir");
    let url = base.replacen("http://", "http://user:s3cret@", 1) + "/private.txt";

    let message = fetch_http(&url, None, None, dest.path()).expect_err("a 404").to_string();

    assert!(!message.contains("s3cret") && !message.contains("user:"), "{message}");
    assert!(message.contains("http://***@127.0.0.1:"), "{message}");
}

#[test]
fn connection_failures_are_request_errors() {
    // Bind then drop a listener, so nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let dest = tempfile::tempdir().expect("tempdir");

    let error = fetch_http(&format!("http://127.0.0.1:{port}/x"), None, None, dest.path()).expect_err("refused");

    assert!(matches!(error, FetchError::Request { .. }), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Remote);
}

//! Importing layer tars: metadata, whiteouts, and refusing entries that reach outside the layer.

use std::fs;

use gb_ir::Sha256Digest;
use gb_snapshot::{Snapshot, SnapshotError};
use tar::EntryType;

use crate::support::{TarBuilder, TestStore, expect, layer_dir, snapshot, tree, tree_with, write};

#[test]
fn entries_keep_their_types_and_metadata() {
    let t = TestStore::new();
    let long = format!("deep/{}/file", "n".repeat(120));
    let bytes = TarBuilder::new()
        .dir("bin/", 0o750)
        .file_with("bin/tool", "#!", 0o4755, 1000, 1001)
        .link(EntryType::Symlink, "bin/alias", "tool")
        .link(EntryType::Link, "bin/same", "bin/tool")
        .device(EntryType::Char, "dev/null", 1, 3)
        .device(EntryType::Block, "dev/loop0", 7, 0)
        .device(EntryType::Fifo, "dev/pipe", 0, 0)
        .pax_file("attrs", "a", &[("SCHILY.xattr.user.note", b"hi"), ("uid", b"4000000"), ("mtime", b"1234.5")])
        .pax_file("long", "deep", &[("path", long.as_bytes())])
        .finish();
    let imported = t.store.import_tar(bytes.as_slice()).expect("import tar");
    assert_eq!(imported.diff_id, Sha256Digest::of(&bytes));
    assert_eq!(imported.tar_size, bytes.len() as u64);
    assert_eq!(imported.size, 2 + 1 + 4, "the hard link counts once");
    let dir = layer_dir(&t, &imported.layer);
    let mut want = expect(&[
        ("attrs", r#"file 644 4000000:0 "a" [user.note=hi] @1234"#),
        ("bin", "dir 750 0:0 @1600000000"),
        ("bin/alias", "link 777 0:0 -> tool @1600000000"),
        ("bin/same", r##"file 4755 1000:1001 "#!" @1600000000"##),
        ("bin/tool", r##"file 4755 1000:1001 "#!" @1600000000"##),
        ("deep", "dir 755 0:0"),
        ("dev", "dir 755 0:0"),
        ("dev/loop0", "block 660 0:0 7:0 @1600000000"),
        ("dev/null", "char 660 0:0 1:3 @1600000000"),
        ("dev/pipe", "fifo 660 0:0 @1600000000"),
    ]);
    let deep = format!("deep/{}", "n".repeat(120));
    want.insert(deep.clone(), "dir 755 0:0".into());
    want.insert(format!("{deep}/file"), r#"file 644 0:0 "deep" @1600000000"#.into());
    let mut got = tree_with(&dir, true);
    // Parents the tar does not list are made now, so their mtime is not the tar's.
    for name in ["deep", "dev", deep.as_str()] {
        let line = got.get_mut(name).expect("listed");
        *line = line.split(" @").next().expect("split").to_owned();
    }
    assert_eq!(got, want);
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| fs::symlink_metadata(dir.join(p)).expect("symlink metadata").ino();
    assert_eq!(ino("bin/tool"), ino("bin/same"));
}

#[test]
fn oci_whiteouts_become_overlay_whiteouts() {
    let t = TestStore::new();
    let base = t.layer(|dir| {
        write(dir.join("gone"), "x");
        write(dir.join("d/old"), "x");
        write(dir.join("keep"), "x");
    });
    let bytes = TarBuilder::new()
        .file(".wh.gone", "")
        .dir("d/", 0o755)
        .file("d/.wh..wh..opq", "")
        .file("d/new", "n")
        .file("e/.wh..wh..opq", "")
        .file(".wh..wh.plnk", "")
        .finish();
    let imported = t.store.import_tar(bytes.as_slice()).expect("import tar");
    let layer = layer_dir(&t, &imported.layer);
    assert_eq!(
        tree(&layer),
        expect(&[
            ("d", "dir 755 0:0 [trusted.overlay.opaque=y]"),
            ("d/new", r#"file 644 0:0 "n""#),
            ("e", "dir 755 0:0 [trusted.overlay.opaque=y]"),
            ("gone", "whiteout 0:0"),
        ])
    );
    let mounted = t.store.mount_readonly(&snapshot(&[&base, &imported.layer])).expect("mount readonly");
    assert_eq!(
        tree(mounted.path()),
        expect(&[
            ("d", "dir 755 0:0"),
            ("d/new", r#"file 644 0:0 "n""#),
            ("e", "dir 755 0:0"),
            ("keep", r#"file 644 0:0 "x""#),
        ])
    );
}

#[test]
fn absolute_and_dotted_paths_stay_inside() {
    let t = TestStore::new();
    let bytes = TarBuilder::new().file("/etc/passwd", "p").file("./a/../b", "b").file("c/./d", "d").finish();
    let imported = t.store.import_tar(bytes.as_slice()).expect("import tar");
    let got = tree(&layer_dir(&t, &imported.layer));
    assert_eq!(got.keys().map(String::as_str).collect::<Vec<_>>(), ["b", "c", "c/d", "etc", "etc/passwd"]);
}

/// Imports `bytes`, expecting a refusal; checks that nothing was written outside and no layer
/// or work dir is left.
fn refused(t: &TestStore, bytes: &[u8]) -> String {
    let err = t.store.import_tar(bytes).expect_err("refused");
    assert!(matches!(err, SnapshotError::UnsafeEntry { .. }), "{err}");
    assert_eq!(fs::read_dir(t.root().join("layers")).expect("read dir").count(), 0, "no layer is committed");
    assert_eq!(fs::read_dir(t.root().join("tmp")).expect("read dir").count(), 0, "the work dir is removed");
    err.to_string()
}

#[test]
fn tar_slip_attempts_are_refused() {
    let t = TestStore::new();
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().to_str().expect("to str");

    let msg = refused(&t, &TarBuilder::new().file("../x", "x").finish());
    assert!(msg.contains("`../x`"), "{msg}");
    refused(&t, &TarBuilder::new().file("a/../../x", "x").finish());
    // Symlink, then a file through it.
    refused(&t, &TarBuilder::new().link(EntryType::Symlink, "link", target).file("link/pwned", "x").finish());
    // A relative symlink up and out, then a directory through it.
    refused(&t, &TarBuilder::new().link(EntryType::Symlink, "up", "../../..").dir("up/tmp/", 0o755).finish());
    // Hard links to things outside, or not in the archive.
    refused(&t, &TarBuilder::new().link(EntryType::Link, "h", "../outside").finish());
    refused(&t, &TarBuilder::new().link(EntryType::Link, "h", "/etc/passwd").finish());
    // A hard link through a symlink to a file that is in the archive.
    refused(
        &t,
        &TarBuilder::new()
            .file("d/f", "x")
            .link(EntryType::Symlink, "s", target)
            .link(EntryType::Link, "h", "s/f")
            .finish(),
    );
    // A directory replaced by a symlink, then a hard link to a file that was in it.
    refused(
        &t,
        &TarBuilder::new()
            .file("d/f", "x")
            .link(EntryType::Symlink, "d", target)
            .link(EntryType::Link, "h", "d/f")
            .finish(),
    );
    // A whiteout naming the parent.
    refused(&t, &TarBuilder::new().file("a/.wh...", "").finish());
    assert_eq!(fs::read_dir(outside.path()).expect("read dir").count(), 0, "nothing was written outside");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let t = TestStore::new();
    let bytes = TarBuilder::new()
        .file("x", "first")
        .file("x", "second")
        .file("d/f", "f")
        .file("d", "now a file")
        .link(EntryType::Symlink, "s", "x")
        .dir("s/", 0o700)
        .finish();
    let imported = t.store.import_tar(bytes.as_slice()).expect("import tar");
    assert_eq!(
        tree(&layer_dir(&t, &imported.layer)),
        expect(&[("d", r#"file 644 0:0 "now a file""#), ("s", "dir 700 0:0"), ("x", r#"file 644 0:0 "second""#),])
    );
}

#[test]
fn a_malformed_tar_is_an_input_error() {
    let t = TestStore::new();
    let mut bytes = TarBuilder::new().file("a", "a").finish();
    bytes[148] ^= 0x5; // the header checksum
    let err = t.store.import_tar(bytes.as_slice()).expect_err("malformed");
    assert_eq!(err.kind(), gb_snapshot::ErrorKind::Input, "{err}");
    assert_eq!(fs::read_dir(t.root().join("tmp")).expect("read dir").count(), 0);
}

#[test]
fn an_empty_tar_is_an_empty_layer() {
    let t = TestStore::new();
    let bytes = TarBuilder::new().finish();
    let imported = t.store.import_tar(bytes.as_slice()).expect("import tar");
    assert!(tree(&layer_dir(&t, &imported.layer)).is_empty());
    let mounted = t.store.mount_readonly(&Snapshot { layers: vec![imported.layer] }).expect("mount readonly");
    assert!(tree(mounted.path()).is_empty());
}

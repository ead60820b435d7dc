//! Exporting: layer diff tars (round trip, determinism), and a snapshot's merged tree as a
//! directory and as a tar.

use std::fs;
use std::os::unix::fs::MetadataExt;

use gb_snapshot::LayerId;
use tar::EntryType;

use crate::support::{TestStore, expect, layer_dir, read, set_mode, snapshot, tree, tree_with, write};

/// A base layer and a change made through a writable mount: edits, a deletion (whiteout), a
/// directory removed and recreated (opaque), hard links, symlinks, a fifo, attributes, owners.
fn two_layers(t: &TestStore) -> (LayerId, LayerId) {
    let base = t.layer(|dir| {
        write(dir.join("etc/conf"), "v1");
        write(dir.join("etc/remove-me"), "x");
        write(dir.join("var/cache/a"), "a");
        write(dir.join("var/cache/b"), "b");
        write(dir.join("usr/share/doc"), "doc");
    });
    let work = t.store.work_dir().expect("work dir");
    let mounted = t.store.mount_writable(&snapshot(&[&base]), &work).expect("mount writable");
    let m = mounted.path();
    write(m.join("etc/conf"), "v2");
    fs::remove_file(m.join("etc/remove-me")).expect("remove file");
    fs::remove_dir_all(m.join("var/cache")).expect("remove dir all");
    write(m.join("var/cache/fresh"), "fresh");
    write(m.join("bin/tool"), "#!/bin/sh");
    set_mode(m.join("bin/tool"), 0o4755);
    std::os::unix::fs::lchown(m.join("bin/tool"), Some(1000), Some(100)).expect("lchown");
    fs::hard_link(m.join("bin/tool"), m.join("bin/tool-link")).expect("hard link");
    std::os::unix::fs::symlink("tool", m.join("bin/alias")).expect("symlink");
    nix::unistd::mkfifo(&m.join("bin/pipe"), nix::sys::stat::Mode::from_bits_truncate(0o640)).expect("mkfifo");
    xattr::set(m.join("bin/tool"), "user.origin", b"test").expect("set xattr");
    write(m.join(format!("long/{}/{}", "x".repeat(90), "y".repeat(90))), "long");
    drop(mounted);
    let (change, _) = t.store.commit(work).expect("commit");
    (base, change)
}

fn diff_tar(t: &TestStore, id: &LayerId) -> Vec<u8> {
    let mut out = Vec::new();
    t.store.layer_diff_tar(id, &mut out).expect("layer diff tar");
    out
}

fn entry_names(bytes: &[u8]) -> Vec<(String, EntryType)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("tar entries")
        .map(|entry| {
            let entry = entry.expect("tar entry");
            (entry.path().expect("path").to_string_lossy().into_owned(), entry.header().entry_type())
        })
        .collect()
}

#[test]
fn layer_diff_tars_use_oci_whiteouts_and_are_sorted() {
    let t = TestStore::new();
    let (_, change) = two_layers(&t);
    let bytes = diff_tar(&t, &change);
    let names = entry_names(&bytes);
    let paths: Vec<&str> = names.iter().map(|(name, _)| name.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries are sorted by name");
    assert!(paths.contains(&"etc/.wh.remove-me"), "{paths:?}");
    assert!(paths.contains(&"var/cache/.wh..wh..opq"), "{paths:?}");
    assert!(!paths.contains(&"etc/remove-me"));
    assert!(
        names.contains(&("bin/tool-link".into(), EntryType::Link))
            || names.contains(&("bin/tool".into(), EntryType::Link))
    );
    // Nothing of overlay's own bookkeeping leaks into the tar.
    let mut archive = tar::Archive::new(bytes.as_slice());
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("tar entry");
        let header = entry.header();
        assert_eq!(header.username_bytes(), Some(&b""[..]));
        if let Some(extensions) = entry.pax_extensions().expect("pax extensions") {
            for extension in extensions {
                assert!(!extension.expect("pax record").key().expect("key").contains("trusted.overlay"));
            }
        }
    }
}

#[test]
fn layer_diff_tars_are_deterministic_and_round_trip() {
    let t = TestStore::new();
    let (base, change) = two_layers(&t);
    let first = diff_tar(&t, &change);
    assert_eq!(first, diff_tar(&t, &change), "the same bytes twice");

    let imported = t.store.import_tar(first.as_slice()).expect("import tar");
    let original = layer_dir(&t, &change);
    let copy = layer_dir(&t, &imported.layer);
    // Tars hold whole seconds and no root entry; everything else comes back.
    let without_root = |dir| tree_with(dir, true);
    assert_eq!(without_root(&copy), without_root(&original));
    assert_eq!(diff_tar(&t, &imported.layer), first, "and the re-import exports the same bytes");

    let a = t.store.mount_readonly(&snapshot(&[&base, &change])).expect("mount readonly");
    let b = t.store.mount_readonly(&snapshot(&[&base, &imported.layer])).expect("mount readonly");
    assert_eq!(tree(a.path()), tree(b.path()));
}

#[test]
fn export_dir_copies_the_merged_tree() {
    let t = TestStore::new();
    let (base, change) = two_layers(&t);
    let stack = snapshot(&[&base, &change]);
    let dest = tempfile::tempdir().expect("tempdir");
    // Something in the way, which must be replaced rather than followed.
    let outside = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(outside.path(), dest.path().join("etc")).expect("symlink");
    t.store.export_dir(&stack, dest.path()).expect("export dir");
    assert_eq!(fs::read_dir(outside.path()).expect("read dir").count(), 0);

    let mounted = t.store.mount_readonly(&stack).expect("mount readonly");
    assert_eq!(tree_with(dest.path(), true), tree_with(mounted.path(), true));
    assert_eq!(read(dest.path().join("etc/conf")), "v2");
    assert!(!dest.path().join("etc/remove-me").exists());
    assert!(!dest.path().join("var/cache/a").exists());
    let ino = |p: &str| fs::symlink_metadata(dest.path().join(p)).expect("symlink metadata").ino();
    assert_eq!(ino("bin/tool"), ino("bin/tool-link"), "hard links stay hard links");
}

#[test]
fn export_tar_writes_the_merged_tree() {
    let t = TestStore::new();
    let (base, change) = two_layers(&t);
    let stack = snapshot(&[&base, &change]);
    let mut first = Vec::new();
    t.store.export_tar(&stack, &mut first).expect("export tar");
    let mut second = Vec::new();
    t.store.export_tar(&stack, &mut second).expect("export tar");
    assert_eq!(first, second);

    let names = entry_names(&first);
    assert!(names.iter().all(|(name, _)| !name.contains(".wh.")), "{names:?}");
    assert_eq!(names.first().map(|(name, _)| name.as_str()), Some("bin/"));

    // The tar, imported as a single layer, is the merged tree.
    let flat = t.store.import_tar(first.as_slice()).expect("import tar");
    let mounted = t.store.mount_readonly(&stack).expect("mount readonly");
    assert_eq!(tree_with(&layer_dir(&t, &flat.layer), true), tree_with(mounted.path(), true));
}

#[test]
fn single_layer_exports_skip_whiteouts() {
    // A layer on its own is a bind mount, which shows its whiteouts; they hide nothing there.
    let t = TestStore::new();
    let layer = t.layer(|dir| {
        write(dir.join("a"), "a");
        crate::support::whiteout(dir.join("gone"));
        crate::support::opaque(dir);
    });
    let mut bytes = Vec::new();
    t.store.export_tar(&snapshot(&[&layer]), &mut bytes).expect("export tar");
    assert_eq!(entry_names(&bytes), [("a".to_owned(), EntryType::Regular)]);
    let dest = tempfile::tempdir().expect("tempdir");
    t.store.export_dir(&snapshot(&[&layer]), dest.path()).expect("export dir");
    assert_eq!(tree(dest.path()), expect(&[("a", r#"file 644 0:0 "a""#)]));
}

#[test]
fn scratch_exports_are_empty() {
    let t = TestStore::new();
    let mut bytes = Vec::new();
    t.store.export_tar(&gb_snapshot::Snapshot::default(), &mut bytes).expect("export tar");
    assert_eq!(bytes, vec![0; 1024]);
}

#[test]
fn an_opaque_layer_root_round_trips() {
    let t = TestStore::new();
    let bytes = crate::support::TarBuilder::new().file("./.wh..wh..opq", "").file("a", "a").finish();
    let imported = t.store.import_tar(bytes.as_slice()).expect("import tar");
    let dir = layer_dir(&t, &imported.layer);
    assert_eq!(xattr::get(&dir, "trusted.overlay.opaque").expect("get xattr").as_deref(), Some(&b"y"[..]));
    let names = entry_names(&diff_tar(&t, &imported.layer));
    assert_eq!(names, [(".wh..wh..opq".to_owned(), EntryType::Regular), ("a".to_owned(), EntryType::Regular)]);
}

#[test]
fn layer_diff_tars_can_clamp_mtimes() {
    let t = TestStore::new();
    let (_, change) = two_layers(&t);
    let clamped = |clamp_mtime| {
        let mut out = Vec::new();
        let options = gb_snapshot::DiffTarOptions { clamp_mtime };
        t.store.layer_diff_tar_with(&change, &mut out, &options).expect("layer diff tar");
        out
    };
    // Every file here is newer than 2001, so every entry (markers and pax headers included)
    // carries the clamp.
    let old = clamped(Some(1_000_000_000));
    let mut archive = tar::Archive::new(old.as_slice());
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("tar entry");
        assert_eq!(entry.header().mtime().expect("mtime"), 1_000_000_000);
    }
    assert_eq!(entry_names(&old), entry_names(&diff_tar(&t, &change)));
    // A clamp after every file changes nothing; no clamp is the default.
    assert_eq!(clamped(Some(i64::MAX)), diff_tar(&t, &change));
    assert_eq!(clamped(None), diff_tar(&t, &change));
}

//! Mounting snapshots read-only and writable, committing changes, and cleaning up mounts.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use gb_snapshot::{Snapshot, SnapshotError, SnapshotStore};

use crate::support::{
    TestStore, assert_no_mounts_under, expect, mounts_under, opaque, read, snapshot, tree, whiteout, write,
};

fn is_read_only(dir: &std::path::Path) -> bool {
    fs::write(dir.join("probe"), "x").is_err_and(|err| err.raw_os_error() == Some(libc::EROFS))
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SnapshotStore>();
    send_sync::<gb_snapshot::Mounted>();
    send_sync::<gb_snapshot::WorkDir>();
}

#[test]
fn no_layers_mount_as_an_empty_read_only_dir() {
    let t = TestStore::new();
    let mounted = t.store.mount_readonly(&Snapshot::default()).expect("mount readonly");
    assert!(fs::read_dir(mounted.path()).expect("read dir").next().is_none());
    assert!(is_read_only(mounted.path()));
    let path = mounted.path().to_path_buf();
    drop(mounted);
    assert!(!path.exists(), "the mount point is removed");
}

#[test]
fn one_layer_mounts_read_only() {
    let t = TestStore::new();
    let layer = t.layer(|dir| write(dir.join("a/b"), "hello"));
    let mounted = t.store.mount_readonly(&snapshot(&[&layer])).expect("mount readonly");
    assert_eq!(read(mounted.path().join("a/b")), "hello");
    assert!(is_read_only(mounted.path()));
    assert_eq!(mounts_under(t.root()).len(), 1);
}

#[test]
fn three_layers_merge_top_down() {
    let t = TestStore::new();
    let bottom = t.layer(|dir| {
        write(dir.join("a"), "1");
        write(dir.join("gone"), "1");
        write(dir.join("dir/old"), "1");
        write(dir.join("keep/x"), "1");
    });
    let middle = t.layer(|dir| {
        write(dir.join("a"), "2");
        whiteout(dir.join("gone"));
        write(dir.join("dir/new"), "2");
        opaque(dir.join("dir"));
    });
    let top = t.layer(|dir| write(dir.join("b"), "3"));
    let mounted = t.store.mount_readonly(&snapshot(&[&bottom, &middle, &top])).expect("mount readonly");
    assert_eq!(
        tree(mounted.path()),
        expect(&[
            ("a", r#"file 644 0:0 "2""#),
            ("b", r#"file 644 0:0 "3""#),
            ("dir", "dir 755 0:0"),
            ("dir/new", r#"file 644 0:0 "2""#),
            ("keep", "dir 755 0:0"),
            ("keep/x", r#"file 644 0:0 "1""#),
        ])
    );
    assert!(is_read_only(mounted.path()));
}

#[test]
fn writable_mount_records_changes_in_the_upper_dir() {
    let t = TestStore::new();
    let base = t.layer(|dir| {
        write(dir.join("edit"), "old");
        write(dir.join("remove"), "x");
        write(dir.join("dir/a"), "a");
        write(dir.join("dir/b"), "b");
    });
    let work = t.store.work_dir().expect("work dir");
    let mounted = t.store.mount_writable(&snapshot(&[&base]), &work).expect("mount writable");
    let m = mounted.path();
    write(m.join("edit"), "new");
    write(m.join("added"), "+");
    fs::remove_file(m.join("remove")).expect("remove file");
    fs::remove_dir_all(m.join("dir")).expect("remove dir all");
    write(m.join("dir/c"), "c");
    assert_eq!(read(m.join("edit")), "new");
    assert!(!m.join("remove").exists());
    drop(mounted);

    let upper = work.upper();
    assert_eq!(read(upper.join("edit")), "new");
    assert_eq!(read(upper.join("added")), "+");
    let gone = fs::symlink_metadata(upper.join("remove")).expect("symlink metadata");
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0, "a deletion is a 0:0 whiteout");
    assert_eq!(xattr::get(upper.join("dir"), "trusted.overlay.opaque").expect("get xattr").as_deref(), Some(&b"y"[..]));
    assert_eq!(fs::read_dir(upper.join("dir")).expect("read dir").count(), 1, "only the new file");

    let (change, size) = t.store.commit(work).expect("commit");
    assert_eq!(size, 5, "new + + + c");
    let merged = t.store.mount_readonly(&snapshot(&[&base, &change])).expect("mount readonly");
    assert_eq!(
        tree(merged.path()),
        expect(&[
            ("added", r#"file 644 0:0 "+""#),
            ("dir", "dir 755 0:0"),
            ("dir/c", r#"file 644 0:0 "c""#),
            ("edit", r#"file 644 0:0 "new""#),
        ])
    );
}

#[test]
fn writable_mount_over_no_layers() {
    let t = TestStore::new();
    let work = t.store.work_dir().expect("work dir");
    let mounted = t.store.mount_writable(&Snapshot::default(), &work).expect("mount writable");
    write(mounted.path().join("x/y"), "z");
    drop(mounted);
    let (layer, _) = t.store.commit(work).expect("commit");
    let view = t.store.mount_readonly(&snapshot(&[&layer])).expect("mount readonly");
    assert_eq!(tree(view.path()), expect(&[("x", "dir 755 0:0"), ("x/y", r#"file 644 0:0 "z""#)]));
}

#[test]
fn the_upper_root_takes_the_snapshot_roots_metadata() {
    let t = TestStore::new();
    let base = t.layer(|dir| {
        crate::support::set_mode(dir, 0o711);
        std::os::unix::fs::lchown(dir, Some(7), Some(8)).expect("lchown");
    });
    let work = t.store.work_dir().expect("work dir");
    let mounted = t.store.mount_writable(&snapshot(&[&base]), &work).expect("mount writable");
    let meta = fs::metadata(mounted.path()).expect("metadata");
    assert_eq!((meta.mode() & 0o7777, meta.uid(), meta.gid()), (0o711, 7, 8));
}

#[test]
fn a_mounted_work_dir_cannot_be_committed_or_mounted_twice() {
    let t = TestStore::new();
    let work = t.store.work_dir().expect("work dir");
    let mounted = t.store.mount_writable(&Snapshot::default(), &work).expect("mount writable");
    assert!(matches!(t.store.mount_writable(&Snapshot::default(), &work), Err(SnapshotError::StillMounted { .. })));
    assert!(matches!(t.store.commit(work), Err(SnapshotError::StillMounted { .. })));
    drop(mounted);
}

#[test]
fn missing_and_malformed_layers_are_errors() {
    let t = TestStore::new();
    let missing = gb_snapshot::LayerId::random();
    let err = t.store.mount_readonly(&snapshot(&[&missing])).expect_err("missing layer");
    assert!(matches!(err, SnapshotError::LayerNotFound { .. }), "{err}");
    let evil = gb_snapshot::LayerId("../../etc".into());
    let err = t.store.mount_readonly(&snapshot(&[&evil])).expect_err("malformed id");
    assert!(matches!(err, SnapshotError::InvalidLayerId { .. }), "{err}");
    assert_eq!(fs::read_dir(t.root().join("tmp")).expect("read dir").count(), 0, "failed mounts leave nothing");
}

#[test]
fn long_stacks_mount() {
    // Enough layers that absolute paths overflow the one-page option limit.
    let t = TestStore::new();
    let layers: Vec<_> = (0..90).map(|i| t.layer(|dir| write(dir.join(format!("f{i:02}")), &i.to_string()))).collect();
    let stack = gb_snapshot::Snapshot { layers: layers.clone() };
    let mounted = t.store.mount_readonly(&stack).expect("mount readonly");
    assert_eq!(fs::read_dir(mounted.path()).expect("read dir").count(), 90);
    assert_eq!(read(mounted.path().join("f89")), "89");
    drop(mounted);
    let work = t.store.work_dir().expect("work dir");
    let mounted = t.store.mount_writable(&stack, &work).expect("mount writable");
    write(mounted.path().join("f00"), "changed");
    drop(mounted);
    assert_eq!(read(work.upper().join("f00")), "changed");
}

#[test]
fn mounts_are_undone_when_a_test_panics() {
    let t = TestStore::new();
    let layer = t.layer(|dir| write(dir.join("a"), "a"));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ro = t.store.mount_readonly(&snapshot(&[&layer, &layer])).expect("mount readonly");
        let work = t.store.work_dir().expect("work dir");
        let _rw = t.store.mount_writable(&snapshot(&[&layer]), &work).expect("mount writable");
        assert_eq!(mounts_under(t.root()).len(), 2);
        panic!("boom");
    }));
    assert!(result.is_err());
    assert_no_mounts_under(t.root());
    assert_eq!(fs::read_dir(t.root().join("tmp")).expect("read dir").count(), 0);
}

#[test]
fn open_cleans_up_after_a_crash() {
    let t = TestStore::new();
    let layer = t.layer(|dir| write(dir.join("a"), "a"));
    // A crash: mounts and work dirs that nothing will drop.
    std::mem::forget(t.store.mount_readonly(&snapshot(&[&layer])).expect("mount readonly"));
    let work = t.store.work_dir().expect("work dir");
    std::mem::forget(t.store.mount_writable(&snapshot(&[&layer]), &work).expect("mount writable"));
    std::mem::forget(work);
    std::mem::forget(t.store.mount_readonly(&snapshot(&[&layer, &layer])).expect("mount readonly"));
    assert_eq!(mounts_under(t.root()).len(), 3);

    let _reopened = SnapshotStore::open(t.root()).expect("open");
    assert_no_mounts_under(t.root());
    assert_eq!(fs::read_dir(t.root().join("tmp")).expect("read dir").count(), 0);
    assert_eq!(read(t.store.layer_path(&layer).join("a")), "a", "layers survive");
}

#[test]
fn random_mount_sequences_leave_no_mounts() {
    // A small deterministic generator keeps the sequence reproducible.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let t = TestStore::new();
    let mut layers = Vec::new();
    let mut alive = Vec::new();
    for step in 0..40 {
        let picked: Vec<_> =
            (0..next(4)).filter_map(|_| layers.get(next(layers.len().max(1) as u64) as usize)).collect();
        let stack = snapshot(&picked);
        match next(3) {
            0 => alive.push(t.store.mount_readonly(&stack).expect("mount readonly")),
            1 => {
                let work = t.store.work_dir().expect("work dir");
                let mounted = t.store.mount_writable(&stack, &work).expect("mount writable");
                write(mounted.path().join(format!("s{step}")), "x");
                if next(2) == 0 {
                    drop(mounted);
                    layers.push(t.store.commit(work).expect("commit").0);
                }
            }
            _ => {
                if !alive.is_empty() {
                    alive.swap_remove(next(alive.len() as u64) as usize);
                }
            }
        }
    }
    drop(alive);
    assert_no_mounts_under(t.root());
    assert_eq!(fs::read_dir(t.root().join("tmp")).expect("read dir").count(), 0);
}

#[test]
fn the_fixture_detaches_mounts_a_failed_test_leaks() {
    let mut root = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let t = TestStore::new();
        root = Some(t.root().to_path_buf());
        let layer = t.layer(|dir| write(dir.join("a"), "a"));
        std::mem::forget(t.store.mount_readonly(&snapshot(&[&layer])).expect("mount readonly"));
        panic!("a failing test");
    }));
    assert!(result.is_err());
    let root = root.expect("set before the panic");
    assert_no_mounts_under(&root);
    assert!(!root.exists(), "the temporary root is gone");
}

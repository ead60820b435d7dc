//! Content checksums of trees: what changes the digest, what does not, and what the index saves.

use std::path::Path;
use std::time::Duration;

use gb_snapshot::{ChecksumResult, checksum_tree, select_paths};
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

use crate::support::{MemIndex, set_mode, write};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn sum(root: &Path, include: &[&str], exclude: &[&str], index: &MemIndex) -> ChecksumResult {
    checksum_tree(root, &strings(include), &strings(exclude), index, "ctx:").expect("checksum tree")
}

fn digest(root: &Path, include: &[&str], exclude: &[&str]) -> gb_ir::Sha256Digest {
    sum(root, include, exclude, &MemIndex::default()).digest
}

/// A small context: two text files, a source tree, a symlink, a build dir to exclude.
fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root.join("a.txt"), "alpha");
    write(root.join("b.txt"), "beta");
    write(root.join("src/one/x"), "1x");
    write(root.join("src/one/y"), "1y");
    write(root.join("src/two/x"), "2x");
    write(root.join("build/out.o"), "object");
    write(root.join("build/keep.me"), "kept");
    std::os::unix::fs::symlink("a.txt", root.join("link")).expect("symlink");
    dir
}

/// Waits until files just written are old enough for their records to be stored (see
/// `RACY_MARGIN` in the crate).
fn settle() {
    std::thread::sleep(Duration::from_millis(120));
}

fn touch_mtime(path: &Path, sec: i64) {
    let time = TimeSpec::new(sec, 0);
    utimensat(nix::fcntl::AT_FDCWD, path, &time, &time, UtimensatFlags::NoFollowSymlink).expect("utimensat");
}

#[test]
fn the_same_content_gives_the_same_digest() {
    let (a, b) = (context(), context());
    assert_eq!(digest(a.path(), &[], &[]), digest(b.path(), &[], &[]));
    write(b.path().join("new"), "");
    assert_ne!(digest(a.path(), &[], &[]), digest(b.path(), &[], &[]), "an added file counts");
}

#[test]
fn mtimes_do_not_count_and_unchanged_files_are_not_read() {
    let ctx = context();
    settle();
    let index = MemIndex::default();
    let first = sum(ctx.path(), &[], &[], &index);
    assert_eq!((first.files, first.hashed), (7, 7));
    assert_eq!(first.bytes_hashed, 5 + 4 + 2 * 3 + 6 + 4);
    assert_eq!(index.records.lock().expect("lock").len(), 7);
    assert!(index.records.lock().expect("lock").contains_key("ctx:src/one/x"));

    let second = sum(ctx.path(), &[], &[], &index);
    assert_eq!(second.digest, first.digest);
    assert_eq!((second.hashed, second.bytes_hashed), (0, 0), "nothing is read again");

    // Touching a file changes its mtime and ctime: it is read again, the digest stays.
    touch_mtime(&ctx.path().join("a.txt"), 1_000_000);
    touch_mtime(&ctx.path().join("src"), 1_000_000);
    settle();
    let touched = sum(ctx.path(), &[], &[], &index);
    assert_eq!(touched.digest, first.digest);
    assert_eq!(touched.hashed, 1);
    let again = sum(ctx.path(), &[], &[], &index);
    assert_eq!((again.digest, again.hashed), (first.digest, 0));
}

/// A record says whether its file had extended attributes, so a no-op need not list them; an
/// attribute set or removed later changes the ctime, so the record stops matching and the
/// digest follows. Records from before they said so are listed once and rewritten.
#[test]
fn extended_attributes_count_and_a_record_says_when_there_are_none() {
    let ctx = context();
    let a = ctx.path().join("a.txt");
    settle();
    let index = MemIndex::default();
    let first = sum(ctx.path(), &[], &[], &index);
    let no_xattrs = |key: &str| index.records.lock().expect("lock")[key].no_xattrs;
    assert!(no_xattrs("ctx:a.txt") && no_xattrs("ctx:src/one/x"));

    xattr::set(&a, "user.note", b"hi").expect("set xattr");
    settle();
    let noted = sum(ctx.path(), &[], &[], &index);
    assert_ne!(noted.digest, first.digest, "an attribute set after the record counts");
    assert_eq!(noted.hashed, 1);
    assert!(!no_xattrs("ctx:a.txt"));
    let again = sum(ctx.path(), &[], &[], &index);
    assert_eq!((again.digest, again.hashed), (noted.digest, 0));
    assert_eq!(digest(ctx.path(), &[], &[]), noted.digest, "the index changes no digest");

    xattr::remove(&a, "user.note").expect("remove xattr");
    settle();
    assert_eq!(sum(ctx.path(), &[], &[], &index).digest, first.digest);

    // Records written before they said anything of attributes read as "not known".
    for record in index.records.lock().expect("lock").values_mut() {
        record.no_xattrs = false;
    }
    let old = sum(ctx.path(), &[], &[], &index);
    assert_eq!((old.digest, old.hashed), (first.digest, 0));
    assert!(index.records.lock().expect("lock").values().all(|record| record.no_xattrs), "rewritten");
}

#[test]
fn files_changed_just_now_are_not_trusted_from_the_index() {
    let ctx = context();
    let index = MemIndex::default();
    // No settling: every file is younger than the racy margin, so no record is kept and a
    // same-size rewrite within the same timestamp tick cannot be missed.
    let first = sum(ctx.path(), &[], &[], &index);
    assert_eq!(first.hashed, 7);
    assert!(index.records.lock().expect("lock").is_empty());
}

#[test]
fn content_mode_and_targets_count() {
    let ctx = context();
    let root = ctx.path();
    let index = MemIndex::default();
    settle();
    let before = sum(root, &[], &[], &index).digest;
    write(root.join("b.txt"), "bets");
    let changed = sum(root, &[], &[], &index);
    assert_ne!(changed.digest, before, "one byte, same size");
    assert_eq!(changed.hashed, 1);
    write(root.join("b.txt"), "beta");
    assert_eq!(sum(root, &[], &[], &index).digest, before);

    set_mode(root.join("a.txt"), 0o600);
    assert_ne!(digest(root, &[], &[]), before, "the mode counts");
    set_mode(root.join("a.txt"), 0o644);
    assert_eq!(digest(root, &[], &[]), before);

    std::fs::remove_file(root.join("link")).expect("remove file");
    std::os::unix::fs::symlink("b.txt", root.join("link")).expect("symlink");
    assert_ne!(digest(root, &[], &[]), before, "a symlink's target counts");
}

#[test]
fn an_included_symlink_covers_its_target() {
    // COPY follows a source that is a symlink, so what it points to is part of the key; a link
    // inside an included directory stays a link (its target text only).
    let ctx = context();
    let root = ctx.path();
    let before = digest(root, &["link"], &[]);
    write(root.join("a.txt"), "ALPHA");
    assert_ne!(digest(root, &["link"], &[]), before, "the pointee of an included link is part of its key");
}

#[test]
fn excluded_files_do_not_count() {
    let ctx = context();
    let root = ctx.path();
    let before = digest(root, &[], &["build"]);
    write(root.join("build/out.o"), "changed object");
    write(root.join("build/new.o"), "new");
    assert_eq!(digest(root, &[], &["build"]), before);
    assert_eq!(digest(root, &[], &["build", "!build/keep.me"]), digest(root, &[], &["build/*.o"]));
    let with_exception = digest(root, &[], &["build", "!build/keep.me"]);
    write(root.join("build/keep.me"), "changed");
    assert_ne!(digest(root, &[], &["build", "!build/keep.me"]), with_exception, "an exception re-includes");
    let paths =
        select_paths(root, &[], &strings(&["build", "!build/keep.me", "src/**/y", "*.txt"])).expect("select paths");
    let paths: Vec<_> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(paths, ["build/keep.me", "link", "src", "src/one", "src/one/x", "src/two", "src/two/x"]);
}

#[test]
fn includes_select_paths_and_everything_below() {
    let ctx = context();
    let root = ctx.path();
    let one = digest(root, &["a.txt"], &[]);
    write(root.join("b.txt"), "other");
    write(root.join("src/one/x"), "other");
    write(root.join("new"), "new");
    assert_eq!(digest(root, &["a.txt"], &[]), one, "only a.txt is read");
    write(root.join("a.txt"), "ALPHA");
    assert_ne!(digest(root, &["a.txt"], &[]), one);

    let select = |include: &[&str]| -> Vec<String> {
        select_paths(root, &strings(include), &[])
            .expect("select paths")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(select(&["*.txt"]), ["a.txt", "b.txt"]);
    assert_eq!(select(&["src/*/x"]), ["src/one/x", "src/two/x"]);
    assert_eq!(select(&["src/one"]), ["src/one", "src/one/x", "src/one/y"]);
    assert_eq!(select(&["./src/two/", "/a.txt"]), ["a.txt", "src/two", "src/two/x"]);
    assert!(select(&["missing"]).is_empty());

    let x = digest(root, &["src/*/x"], &[]);
    write(root.join("src/one/y"), "changed y");
    assert_eq!(digest(root, &["src/*/x"], &[]), x);
    write(root.join("src/two/x"), "changed x");
    assert_ne!(digest(root, &["src/*/x"], &[]), x);
}

#[test]
fn the_real_cache_db_is_a_file_index() {
    let ctx = context();
    settle();
    let state = tempfile::tempdir().expect("tempdir");
    let db = gb_cache::CacheDb::open(state.path()).expect("open");
    let first = checksum_tree(ctx.path(), &[], &[], &db, "local:ctx/").expect("checksum tree");
    assert_eq!(first.hashed, 7);
    let second = checksum_tree(ctx.path(), &[], &[], &db, "local:ctx/").expect("checksum tree");
    assert_eq!((second.digest, second.hashed), (first.digest, 0));
}

/// Includes without wildcards are found by starting the walk at each path instead of walking
/// the whole context; whatever the tree, the selection and digest must be those of the whole
/// walk. A bracketed first letter (`[s]rc/one`) matches the same paths but forces the whole
/// walk, so each case is compared with its bracketed twin.
#[test]
fn literal_includes_select_what_the_whole_walk_selects() {
    let ctx = context();
    let root = ctx.path();
    std::os::unix::fs::symlink("src", root.join("srclink")).expect("symlink");
    write(root.join("deep/a/b/c.txt"), "c");
    write(root.join("deep/a/d.txt"), "d");
    let cases: &[(&[&str], &[&str])] = &[
        (&["a.txt"], &[]),
        (&["src/one/x"], &[]),
        (&["src/one", "src/one/x", "b.txt"], &[]),
        (&["srclink/one/x"], &[]),
        (&["srclink"], &[]),
        (&["link"], &[]),
        (&["missing", "a.txt/below"], &[]),
        (&["build/keep.me"], &["build", "!build/keep.me"]),
        (&["build/out.o"], &["build"]),
        (&["deep/a/b/c.txt", "deep/a"], &["**/d.txt"]),
        (&["deep/a/b"], &["deep/a"]),
        (&["src"], &["src/two"]),
    ];
    let bracketed = |path: &&str| -> String {
        let mut chars = path.chars();
        let first = chars.next().unwrap_or('x');
        format!("[{first}]{}", chars.as_str())
    };
    for (include, exclude) in cases {
        let whole: Vec<String> = include.iter().map(bracketed).collect();
        let fast = select_paths(root, &strings(include), &strings(exclude)).expect("select paths");
        let slow = select_paths(root, &whole, &strings(exclude)).expect("select paths");
        assert_eq!(fast, slow, "include {include:?} exclude {exclude:?}");
        // An include naming a link also covers its target, which only a literal path can name;
        // those cases compare selections alone.
        if include.iter().any(|path| root.join(path).is_symlink()) {
            continue;
        }
        let whole: Vec<&str> = whole.iter().map(String::as_str).collect();
        assert_eq!(
            digest(root, include, exclude),
            digest(root, &whole, exclude),
            "include {include:?} exclude {exclude:?}"
        );
    }
}

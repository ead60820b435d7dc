//! `ADD`'s archive extraction: every compression, detection by content, ownership, and tar-slip.

use std::fs;
use std::io::Write;

use gb_ir::{Chown, CopyAction, IdOrName};
use gb_ops::{ErrorKind, FileOpError};

use crate::support::{Roots, mode, owner, tree, write};

/// A tar with a directory, a file (mode 0640, owner 1234:2345) and a link.
fn sample_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o750);
    dir.set_size(0);
    dir.set_mtime(1_000_000);
    builder.append_data(&mut dir, "top/", &[][..]).expect("dir");
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o640);
    file.set_uid(1234);
    file.set_gid(2345);
    file.set_size(5);
    file.set_mtime(1_000_000);
    builder.append_data(&mut file, "top/f.txt", &b"hello"[..]).expect("file");
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder.append_link(&mut link, "top/l", "f.txt").expect("link");
    // An entry whose parent the archive never lists.
    let mut implied = tar::Header::new_gnu();
    implied.set_mode(0o644);
    implied.set_size(1);
    builder.append_data(&mut implied, "implied/dir/g", &b"g"[..]).expect("implied");
    builder.into_inner().expect("finish tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    encoder.write_all(data).expect("bzip2");
    encoder.finish().expect("bzip2")
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 6);
    encoder.write_all(data).expect("xz");
    encoder.finish().expect("xz")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd")
}

fn add(src: &str, dest: &str) -> CopyAction {
    let mut action = CopyAction::docker(0, src, dest);
    action.attempt_unpack = true;
    action.allow_empty_wildcard = false;
    action
}

#[test]
fn archives_are_detected_by_content_and_extracted() {
    let tar = sample_tar();
    // Names say nothing: detection is by magic bytes.
    let cases: [(&str, Vec<u8>); 5] = [
        ("plain.bin", tar.clone()),
        ("gzip.bin", gzip(&tar)),
        ("bzip2.bin", bzip2(&tar)),
        ("xz.bin", xz(&tar)),
        ("zstd.bin", zstd(&tar)),
    ];
    for (name, bytes) in cases {
        let roots = Roots::new();
        fs::write(roots.src.join(name), bytes).expect("write archive");
        roots.copy(add(name, "/x")).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            tree(&roots.dest),
            [
                "x/",
                "x/implied/",
                "x/implied/dir/",
                "x/implied/dir/g=g",
                "x/top/",
                "x/top/f.txt=hello",
                "x/top/l->f.txt"
            ],
            "{name}"
        );
        assert_eq!(mode(&roots.dest, "x/top/f.txt"), 0o640, "{name}");
        assert_eq!(owner(&roots.dest, "x/top/f.txt"), (1234, 2345), "{name}");
        assert_eq!(mode(&roots.dest, "x/top"), 0o750, "{name}");
        assert_eq!(mode(&roots.dest, "x/implied"), 0o755, "{name}");
        let mtime = std::os::unix::fs::MetadataExt::mtime(&fs::metadata(roots.dest.join("x/top")).expect("stat"));
        assert_eq!(mtime, 1_000_000, "{name}: directory mtimes are set last");
    }
}

#[test]
fn things_that_are_not_archives_are_copied() {
    let roots = Roots::new();
    write(&roots.src, "notes.tar.gz", "just text");
    fs::write(roots.src.join("fake.gz"), gzip(b"not a tar at all")).expect("write");
    roots.copy(add("notes.tar.gz", "/d/")).expect("copy text");
    roots.copy(add("fake.gz", "/d/")).expect("copy gzip of text");
    let mut plain = add("plain.tar", "/p/");
    plain.attempt_unpack = false;
    fs::write(roots.src.join("plain.tar"), sample_tar()).expect("write");
    roots.copy(plain).expect("copy without unpack");
    assert!(roots.dest.join("d/notes.tar.gz").is_file());
    assert!(roots.dest.join("d/fake.gz").is_file());
    assert!(roots.dest.join("p/plain.tar").is_file());
}

#[test]
fn chown_applies_to_extracted_entries() {
    let roots = Roots::new();
    fs::write(roots.src.join("a.tgz"), gzip(&sample_tar())).expect("write");
    let mut action = add("a.tgz", "/x/");
    action.owner = Some(Chown { user: IdOrName::Id(42), group: Some(IdOrName::Id(43)) });
    roots.copy(action).expect("add");
    for path in ["x", "x/top", "x/top/f.txt", "x/top/l"] {
        assert_eq!(owner(&roots.dest, path), (42, 43), "{path}");
    }
}

/// Appends an entry with a raw name, which `tar::Builder` would refuse.
fn raw_entry(builder: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, link: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    let gnu = header.as_gnu_mut().expect("gnu header");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_cksum();
    builder.append(&header, data).expect("append");
}

/// Entries that climb out with `..`, or through a link, land inside the extraction directory,
/// as BuildKit extracts them (in a chroot of the destination); a hard link to a file outside is
/// refused. Nothing is ever written outside.
#[test]
fn archives_cannot_write_outside_the_destination() {
    type Build = fn(&mut tar::Builder<Vec<u8>>);
    let kept_inside: [(&str, Build, &[&str]); 4] = [
        ("dot-dot name", |b| raw_entry(b, tar::EntryType::Regular, "../../evil.txt", "", b"x"), &["evil.txt=x"]),
        (
            "link out, then through it",
            |b| {
                raw_entry(b, tar::EntryType::Symlink, "out", "../../..", b"");
                raw_entry(b, tar::EntryType::Regular, "out/evil.txt", "", b"x");
            },
            &["evil.txt=x", "out->../../.."],
        ),
        ("nested dot-dot", |b| raw_entry(b, tar::EntryType::Regular, "a/../../evil.txt", "", b"x"), &["evil.txt=x"]),
        (
            "absolute name",
            |b| raw_entry(b, tar::EntryType::Regular, "/etc/evil.txt", "", b"x"),
            &["etc/", "etc/evil.txt=x"],
        ),
    ];
    for (name, build, want) in kept_inside {
        let roots = Roots::new();
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        fs::write(roots.src.join("slip.tar"), builder.into_inner().expect("finish")).expect("write");
        roots.copy(add("slip.tar", "/deep/x/")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let extracted: Vec<String> = tree(&roots.dest.join("deep/x"));
        assert_eq!(extracted, *want, "{name}");
        assert!(!roots.dir.path().join("evil.txt").exists(), "{name}: wrote outside the destination root");
        assert!(!roots.dest.join("evil.txt").exists() && !roots.dest.join("deep/evil.txt").exists(), "{name}");
    }

    let refused: [(&str, Build); 1] = [("hard link to a file outside", |b| {
        raw_entry(b, tar::EntryType::Link, "evil.txt", "../../../src/secret", b"");
    })];
    for (name, build) in refused {
        let roots = Roots::new();
        write(&roots.src, "secret", "s");
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        fs::write(roots.src.join("slip.tar"), builder.into_inner().expect("finish")).expect("write");
        let err = roots.copy(add("slip.tar", "/deep/x/")).expect_err(name);
        assert!(matches!(err, FileOpError::UnsafeArchive { .. }), "{name}: {err:?}");
        assert_eq!(err.kind(), ErrorKind::Input);
        for outside in
            [roots.dir.path().join("evil.txt"), roots.dest.join("evil.txt"), roots.dest.join("deep/evil.txt")]
        {
            assert!(!outside.exists(), "{name}: wrote {}", outside.display());
        }
    }
}

#[test]
fn absolute_links_in_archives_point_into_the_destination() {
    let roots = Roots::new();
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, tar::EntryType::Symlink, "abs", "/", b"");
    raw_entry(&mut builder, tar::EntryType::Regular, "abs/inside.txt", "", b"x");
    fs::write(roots.src.join("a.tar"), builder.into_inner().expect("finish")).expect("write");
    roots.copy(add("a.tar", "/x/")).expect("add");
    assert_eq!(tree(&roots.dest), ["x/", "x/abs->/", "x/inside.txt=x"]);
}

//! What copies keep and change: modes, times, owners, xattrs, hard links, `--chown` and `--chmod`.

use std::fs;
use std::os::unix::fs::MetadataExt;

use gb_ir::{Chown, IdOrName};

use crate::support::{Roots, chmod, mkdir, mode, owner, plain_copy, symlink, write};

#[test]
fn modes_times_owners_and_xattrs_are_preserved() {
    let roots = Roots::new();
    write(&roots.src, "d/f", "x");
    chmod(&roots.src, "d/f", 0o4750);
    chmod(&roots.src, "d", 0o710);
    symlink(&roots.src, "d/l", "f");
    std::os::unix::fs::lchown(roots.src.join("d/f"), Some(1234), Some(2345)).expect("chown");
    std::os::unix::fs::lchown(roots.src.join("d/l"), Some(77), Some(88)).expect("chown link");
    let old = filetime(1_500_000_000);
    set_mtime(&roots.src.join("d/f"), old);
    set_mtime(&roots.src.join("d"), old);
    let xattrs = xattr::set(roots.src.join("d/f"), "user.gb", b"v").is_ok();
    // chown clears set-id bits; the copy must restore them after.
    chmod(&roots.src, "d/f", 0o4750);

    roots.copy(plain_copy("d", "/d")).expect("copy");
    assert_eq!(mode(&roots.dest, "d/f"), 0o4750);
    assert_eq!(mode(&roots.dest, "d"), 0o710);
    assert_eq!(owner(&roots.dest, "d/f"), (1234, 2345));
    assert_eq!(owner(&roots.dest, "d/l"), (77, 88), "a link's own owner");
    assert_eq!(mtime(&roots.dest.join("d/f")), old);
    assert_eq!(mtime(&roots.dest.join("d")), old, "a directory's mtime is set after its children");
    if xattrs {
        assert_eq!(xattr::get(roots.dest.join("d/f"), "user.gb").expect("getxattr"), Some(b"v".to_vec()));
    }
}

#[test]
fn hard_links_between_copied_files_are_kept() {
    let roots = Roots::new();
    write(&roots.src, "d/one", "same");
    fs::hard_link(roots.src.join("d/one"), roots.src.join("d/two")).expect("link");
    write(&roots.src, "d/three", "other");
    let mut action = plain_copy("d", "/d");
    action.dir_copy_contents = true;
    let stats = roots.copy(action).expect("copy");
    let ino = |name: &str| fs::metadata(roots.dest.join(name)).expect("stat").ino();
    assert_eq!(ino("d/one"), ino("d/two"));
    assert_ne!(ino("d/one"), ino("d/three"));
    assert_eq!(stats.bytes, 9, "a linked file's bytes are written once");
}

/// An owner and the uid:gid it gives, or the error it raises.
type ChownCase = (Chown, Result<(u32, u32), &'static str>);

#[test]
fn chown_by_id_and_by_name() {
    let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n";
    let group = "root:x:0:\nstaff:x:50:app\n";
    let id = |n| IdOrName::Id(n);
    let name = |s: &str| IdOrName::Name(s.to_owned());
    let cases: [ChownCase; 7] = [
        (Chown { user: id(1000), group: None }, Ok((1000, 1000))),
        (Chown { user: id(1000), group: Some(id(5)) }, Ok((1000, 5))),
        (Chown { user: name("app"), group: None }, Ok((1001, 1002))),
        (Chown { user: name("app"), group: Some(name("staff")) }, Ok((1001, 50))),
        (Chown { user: id(7), group: Some(name("staff")) }, Ok((7, 50))),
        (Chown { user: name("nobody"), group: None }, Err("unable to find user \"nobody\"")),
        (Chown { user: id(7), group: Some(name("nogroup")) }, Err("unable to find group \"nogroup\"")),
    ];
    for (chown, want) in cases {
        let roots = Roots::new();
        write(&roots.src, "d/f", "x");
        write(&roots.dest, "etc/passwd", passwd);
        write(&roots.dest, "etc/group", group);
        let mut action = plain_copy("d", "/new/parent/d");
        action.create_dest_path = true;
        action.owner = Some(chown.clone());
        match (roots.copy(action), want) {
            (Ok(_), Ok(ids)) => {
                for path in ["new", "new/parent", "new/parent/d", "new/parent/d/f"] {
                    assert_eq!(owner(&roots.dest, path), ids, "{chown:?}: {path}");
                }
                assert_eq!(owner(&roots.dest, "etc"), (0, 0), "{chown:?}: existing directories keep their owner");
            }
            (Err(err), Err(text)) => assert!(err.to_string().contains(text), "{chown:?}: {err}"),
            (got, want) => panic!("{chown:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn chmod_octal_and_symbolic_apply_to_each_entry() {
    // (chmod, file mode, directory mode, link left alone)
    let cases = [
        ("0750", 0o750, 0o750),
        ("640", 0o640, 0o640),
        ("u+x,go-w", 0o744, 0o755),
        ("a=rX", 0o444, 0o555),
        ("g+s", 0o2666, 0o2777),
    ];
    for (text, file_mode, dir_mode) in cases {
        let roots = Roots::new();
        write(&roots.src, "d/sub/f", "x");
        chmod(&roots.src, "d/sub/f", 0o666);
        chmod(&roots.src, "d/sub", 0o777);
        symlink(&roots.src, "d/l", "sub/f");
        let mut action = plain_copy("d", "/d");
        action.chmod = Some(text.to_owned());
        roots.copy(action).expect("copy");
        assert_eq!(mode(&roots.dest, "d/sub/f"), file_mode, "{text} on a file");
        assert_eq!(mode(&roots.dest, "d/sub"), dir_mode, "{text} on a directory");
        assert_eq!(mode(&roots.dest, "d/l"), 0o777, "{text} leaves links alone");
    }
    let roots = Roots::new();
    write(&roots.src, "f", "x");
    let mut action = plain_copy("f", "/f");
    action.chmod = Some("u+q".to_owned());
    let err = roots.copy(action).expect_err("bad chmod");
    assert!(err.to_string().contains("invalid chmod \"u+q\""), "{err}");
}

#[test]
fn an_existing_destination_directory_keeps_its_metadata() {
    let roots = Roots::new();
    write(&roots.src, "d/f", "x");
    chmod(&roots.src, "d", 0o700);
    mkdir(&roots.dest, "x");
    chmod(&roots.dest, "x", 0o751);
    let mut action = plain_copy("d", "/x");
    action.dir_copy_contents = true;
    roots.copy(action).expect("copy");
    assert_eq!(mode(&roots.dest, "x"), 0o751);
    // A destination directory the copy creates for the contents is a plain 0755 one, as in BuildKit.
    let mut action = plain_copy("d", "/y");
    action.dir_copy_contents = true;
    roots.copy(action).expect("copy");
    assert_eq!(mode(&roots.dest, "y"), 0o755);
}

fn filetime(secs: i64) -> (i64, i64) {
    (secs, 0)
}

fn set_mtime(path: &std::path::Path, (secs, nanos): (i64, i64)) {
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(secs).expect("positive"))
        + std::time::Duration::from_nanos(u64::try_from(nanos).expect("positive"));
    let file = fs::File::open(path).expect("open");
    file.set_times(fs::FileTimes::new().set_modified(time).set_accessed(time)).expect("set times");
}

fn mtime(path: &std::path::Path) -> (i64, i64) {
    let meta = fs::symlink_metadata(path).expect("lstat");
    (meta.mtime(), meta.mtime_nsec())
}

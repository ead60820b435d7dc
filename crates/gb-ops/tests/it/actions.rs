//! mkdir, mkfile and rm: modes, owners, wildcards, links and missing paths.

use gb_ir::{Chown, FileAction, IdOrName, MkdirAction, MkfileAction, RmAction};

use crate::support::{Roots, mkdir, mode, owner, run, symlink, tree, write};

fn rm(path: &str, allow_not_found: bool, allow_wildcard: bool) -> FileAction {
    FileAction::Rm(RmAction { path: path.to_owned(), allow_not_found, allow_wildcard })
}

#[test]
fn rm_removes_paths_and_wildcard_matches() {
    // (action, expected tree or error text)
    let cases: [(FileAction, Result<&[&str], &str>); 8] = [
        (rm("/*.tmp", false, true), Ok(&["d/", "d/x.tmp=x", "keep.txt=k", "link->d"])),
        (rm("/d/*", false, true), Ok(&["a.tmp=a", "b.tmp=b", "d/", "keep.txt=k", "link->d"])),
        (rm("/d", false, false), Ok(&["a.tmp=a", "b.tmp=b", "keep.txt=k", "link->d"])),
        (rm("/link", false, false), Ok(&["a.tmp=a", "b.tmp=b", "d/", "d/x.tmp=x", "keep.txt=k"])),
        (rm("/missing", false, false), Err("\"/missing\": not found")),
        (rm("/missing", true, false), Ok(&["a.tmp=a", "b.tmp=b", "d/", "d/x.tmp=x", "keep.txt=k", "link->d"])),
        (rm("/*.none", false, true), Err("not found")),
        (rm("/", true, false), Err("invalid path \"/\" for rm")),
    ];
    for (action, want) in cases {
        let roots = Roots::new();
        write(&roots.dest, "a.tmp", "a");
        write(&roots.dest, "b.tmp", "b");
        write(&roots.dest, "keep.txt", "k");
        write(&roots.dest, "d/x.tmp", "x");
        symlink(&roots.dest, "link", "d");
        let label = format!("{action:?}");
        match (run(&roots.dest, action, None), want) {
            (Ok(_), Ok(want)) => assert_eq!(tree(&roots.dest), want, "{label}"),
            (Err(err), Err(text)) => assert!(err.to_string().contains(text), "{label}: {err}"),
            (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn rm_never_leaves_the_root() {
    let roots = Roots::new();
    write(roots.dir.path(), "precious", "p");
    symlink(&roots.dest, "up", "../..");
    run(&roots.dest, rm("/up/precious", true, false), None).expect("rm");
    run(&roots.dest, rm("/../precious", true, false), None).expect("rm");
    assert!(roots.dir.path().join("precious").exists());
}

#[test]
fn mkdir_with_parents_gives_every_new_directory_the_mode_and_owner() {
    let roots = Roots::new();
    mkdir(&roots.dest, "a");
    let action = FileAction::Mkdir(MkdirAction {
        path: "/a/b/c".to_owned(),
        mode: 0o750,
        make_parents: true,
        owner: Some(Chown { user: IdOrName::Id(1000), group: None }),
        timestamp: None,
    });
    run(&roots.dest, action, None).expect("mkdir -p");
    assert_eq!((mode(&roots.dest, "a/b"), owner(&roots.dest, "a/b")), (0o750, (1000, 1000)));
    assert_eq!((mode(&roots.dest, "a/b/c"), owner(&roots.dest, "a/b/c")), (0o750, (1000, 1000)));
    assert_eq!(owner(&roots.dest, "a"), (0, 0), "existing directories are left alone");

    let action = |path: &str| {
        FileAction::Mkdir(MkdirAction {
            path: path.to_owned(),
            mode: 0o700,
            make_parents: false,
            owner: None,
            timestamp: None,
        })
    };
    run(&roots.dest, action("/a/b/c/d"), None).expect("mkdir");
    assert_eq!(mode(&roots.dest, "a/b/c/d"), 0o700);
    run(&roots.dest, action("/a/b/c/d"), None).expect("an existing directory is fine");
    let err = run(&roots.dest, action("/no/such/dir"), None).expect_err("missing parent");
    assert!(err.to_string().contains("\"/no/such\": not found"), "{err}");
}

#[test]
fn mkfile_writes_replaces_and_never_writes_through_a_link() {
    let roots = Roots::new();
    write(&roots.dest, "target", "untouched");
    symlink(&roots.dest, "link", "target");
    write(&roots.dest, "etc/passwd", "app:x:1001:1002::/home/app:/bin/sh\n");
    let mkfile = |path: &str, data: &str| {
        FileAction::Mkfile(MkfileAction {
            path: path.to_owned(),
            mode: 0o600,
            data: data.to_owned(),
            owner: Some(Chown { user: IdOrName::Name("app".to_owned()), group: None }),
        })
    };
    let stats = run(&roots.dest, mkfile("/new", "hi"), None).expect("mkfile");
    assert_eq!((stats.files, stats.bytes), (1, 2));
    run(&roots.dest, mkfile("/link", "replaced"), None).expect("mkfile over a link");
    run(&roots.dest, mkfile("/new", "again"), None).expect("mkfile over a file");
    assert_eq!(
        tree(&roots.dest),
        ["etc/", "etc/passwd=app:x:1001:1002::/home/app:/bin/sh\n", "link=replaced", "new=again", "target=untouched"]
    );
    assert_eq!((mode(&roots.dest, "new"), owner(&roots.dest, "new")), (0o600, (1001, 1002)));
    assert!(run(&roots.dest, mkfile("/etc", "x"), None).is_err(), "a directory is not replaced");
}

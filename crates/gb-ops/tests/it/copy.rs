//! Where copied sources land: files, directories, wildcards, destinations, links and safety.

use gb_ir::CopyAction;
use gb_ops::{ErrorKind, FileOpError};

use crate::support::{Roots, mkdir, plain_copy, symlink, tree, write};

/// The source tree every placement case copies from.
fn source_tree(roots: &Roots) {
    let src = &roots.src;
    write(src, "file.txt", "hello");
    write(src, "one.md", "1");
    write(src, "two.md", "2");
    write(src, "dir/a.txt", "a");
    write(src, "dir/sub/b.txt", "b");
    write(src, "dir2/c.txt", "c");
    symlink(src, "dir/link", "a.txt");
    symlink(src, "up", "../../../../etc/passwd");
    symlink(src, "abs", "/dir/a.txt");
}

struct Case {
    name: &'static str,
    action: CopyAction,
    /// Entries made in the destination before the copy.
    before: &'static [&'static str],
    want: Result<&'static [&'static str], &'static str>,
}

fn with(mut action: CopyAction, change: impl FnOnce(&mut CopyAction)) -> CopyAction {
    change(&mut action);
    action
}

#[test]
fn sources_land_where_docker_puts_them() {
    let contents = |a: &mut CopyAction| a.dir_copy_contents = true;
    let wild = |a: &mut CopyAction| a.allow_wildcard = true;
    let cases = [
        Case {
            name: "file to a new name",
            action: plain_copy("file.txt", "/new.txt"),
            before: &[],
            want: Ok(&["new.txt=hello"]),
        },
        Case {
            name: "file into dest/",
            action: plain_copy("/file.txt", "/out/"),
            before: &[],
            want: Ok(&["out/", "out/file.txt=hello"]),
        },
        Case {
            name: "file into an existing directory without a slash",
            action: plain_copy("file.txt", "/out"),
            before: &["out/"],
            want: Ok(&["out/", "out/file.txt=hello"]),
        },
        Case {
            name: "file replaces a file",
            action: plain_copy("file.txt", "/new.txt"),
            before: &["new.txt=old"],
            want: Ok(&["new.txt=hello"]),
        },
        Case {
            name: "directory contents",
            action: with(plain_copy("dir", "/x"), contents),
            before: &[],
            want: Ok(&["x/", "x/a.txt=a", "x/link->a.txt", "x/sub/", "x/sub/b.txt=b"]),
        },
        Case {
            name: "directory contents merge into an existing directory",
            action: with(plain_copy("dir/", "/x/"), contents),
            before: &["x/", "x/keep=k", "x/a.txt=old"],
            want: Ok(&["x/", "x/a.txt=a", "x/keep=k", "x/link->a.txt", "x/sub/", "x/sub/b.txt=b"]),
        },
        Case {
            name: "directory itself into an existing directory",
            action: plain_copy("dir", "/x"),
            before: &["x/"],
            want: Ok(&["x/", "x/dir/", "x/dir/a.txt=a", "x/dir/link->a.txt", "x/dir/sub/", "x/dir/sub/b.txt=b"]),
        },
        Case {
            name: "directory itself to a new name",
            action: plain_copy("dir/sub", "/y"),
            before: &[],
            want: Ok(&["y/", "y/b.txt=b"]),
        },
        Case {
            name: "wildcard with several matches into dest/",
            action: with(plain_copy("*.md", "/docs/"), wild),
            before: &[],
            want: Ok(&["docs/", "docs/one.md=1", "docs/two.md=2"]),
        },
        Case {
            name: "wildcard in a middle component",
            action: with(plain_copy("d?r/*/b.txt", "/z/"), wild),
            before: &[],
            want: Ok(&["z/", "z/b.txt=b"]),
        },
        Case {
            name: "several file matches to a name without a slash replace one another, as in BuildKit",
            action: with(plain_copy("*.md", "/docs"), wild),
            before: &[],
            want: Ok(&["docs=2"]),
        },
        Case {
            name: "several directory matches to a name without a slash merge into it",
            action: with(with(plain_copy("d*", "/merged"), wild), contents),
            before: &[],
            want: Ok(&[
                "merged/",
                "merged/a.txt=a",
                "merged/c.txt=c",
                "merged/link->a.txt",
                "merged/sub/",
                "merged/sub/b.txt=b",
            ]),
        },
        Case {
            name: "empty wildcard is an error",
            action: with(plain_copy("*.nope", "/out/"), wild),
            before: &[],
            want: Err("no source files match \"*.nope\""),
        },
        Case {
            name: "empty wildcard allowed",
            action: with(plain_copy("*.nope", "/out/"), |a| {
                a.allow_wildcard = true;
                a.allow_empty_wildcard = true;
            }),
            before: &[],
            want: Ok(&[]),
        },
        Case {
            name: "missing source",
            action: plain_copy("/missing.txt", "/out/"),
            before: &[],
            want: Err("\"/missing.txt\": not found"),
        },
        Case {
            name: "missing destination parent without create_dest_path",
            action: plain_copy("file.txt", "/a/b/file.txt"),
            before: &[],
            want: Err("does not exist"),
        },
        Case {
            name: "create_dest_path makes the parents",
            action: with(plain_copy("file.txt", "/a/b/c.txt"), |a| a.create_dest_path = true),
            before: &[],
            want: Ok(&["a/", "a/b/", "a/b/c.txt=hello"]),
        },
        Case {
            name: "links below the source are copied as links",
            action: with(plain_copy("dir/link", "/l"), |a| a.follow_symlinks = false),
            before: &[],
            want: Ok(&["l->a.txt"]),
        },
        Case {
            name: "follow_symlinks follows the source itself",
            action: with(plain_copy("dir/link", "/l"), |a| a.follow_symlinks = true),
            before: &[],
            want: Ok(&["l=a"]),
        },
        Case {
            name: "an absolute link in the source resolves inside the source",
            action: with(plain_copy("abs", "/l"), |a| a.follow_symlinks = true),
            before: &[],
            want: Ok(&["l=a"]),
        },
        Case {
            name: "a link pointing outside is never followed out",
            action: with(plain_copy("up", "/l"), |a| a.follow_symlinks = true),
            before: &[],
            want: Err("\"/up\": not found"),
        },
        Case {
            name: "a link pointing outside is copied as a link",
            action: plain_copy("up", "/l"),
            before: &[],
            want: Ok(&["l->../../../../etc/passwd"]),
        },
        Case {
            name: "dot-dot in the source stays in the source root",
            action: plain_copy("../../../file.txt", "/f"),
            before: &[],
            want: Ok(&["f=hello"]),
        },
        Case {
            name: "a directory cannot replace a file",
            action: with(plain_copy("dir", "/x"), contents),
            before: &["x=file"],
            want: Err("non-directory \"/x\""),
        },
        Case {
            name: "a file cannot replace a directory inside the copy",
            action: with(plain_copy("dir", "/x"), contents),
            before: &["x/", "x/a.txt/"],
            want: Err("cannot replace directory \"/x/a.txt\""),
        },
    ];
    for case in cases {
        let roots = Roots::new();
        source_tree(&roots);
        for entry in case.before {
            match entry.split_once('=') {
                Some((path, content)) => write(&roots.dest, path, content),
                None => mkdir(&roots.dest, entry),
            }
        }
        let result = roots.copy(case.action);
        match (result, case.want) {
            (Ok(_), Ok(want)) => assert_eq!(tree(&roots.dest), want, "{}", case.name),
            (Err(err), Err(want)) => {
                assert!(err.to_string().contains(want), "{}: error {err:?} does not say {want:?}", case.name)
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
        }
    }
}

#[test]
fn missing_sources_are_input_errors_with_buildkits_message() {
    let roots = Roots::new();
    let err = roots.copy(plain_copy("nope/x.txt", "/")).expect_err("missing source");
    assert!(matches!(&err, FileOpError::SourceNotFound { path } if path == "/nope/x.txt"));
    assert_eq!(err.to_string(), "\"/nope/x.txt\": not found");
    assert_eq!(err.kind(), ErrorKind::Input);
}

#[test]
fn destination_links_resolve_inside_the_root() {
    let roots = Roots::new();
    write(&roots.src, "file.txt", "hello");
    // Both links would leave the destination root if followed on the host.
    symlink(&roots.dest, "rel", "../../outside");
    symlink(&roots.dest, "abs", "/outside");
    let mut action = plain_copy("file.txt", "/rel/f.txt");
    action.create_dest_path = true;
    roots.copy(action).expect("copy through a relative link");
    let mut action = plain_copy("file.txt", "/abs/g.txt");
    action.create_dest_path = true;
    roots.copy(action).expect("copy through an absolute link");
    assert_eq!(
        tree(&roots.dest),
        ["abs->/outside", "outside/", "outside/f.txt=hello", "outside/g.txt=hello", "rel->../../outside"]
    );
    assert!(!roots.dir.path().join("outside").exists(), "nothing is written beside the root");
}

#[test]
fn copying_onto_the_root_merges_into_it() {
    let roots = Roots::new();
    write(&roots.src, "a/b.txt", "b");
    let mut action = plain_copy("/", "/");
    action.dir_copy_contents = true;
    roots.copy(action).expect("copy the whole source");
    assert_eq!(tree(&roots.dest), ["a/", "a/b.txt=b"]);
}

#[test]
fn stats_count_entries_and_bytes() {
    let roots = Roots::new();
    write(&roots.src, "d/a", "12345");
    write(&roots.src, "d/b", "678");
    symlink(&roots.src, "d/l", "a");
    let mut action = plain_copy("d", "/d");
    action.dir_copy_contents = true;
    let stats = roots.copy(action).expect("copy");
    assert_eq!((stats.files, stats.bytes), (3, 8));
}

//! Which entries a copy takes: include and exclude patterns, the context's `.dockerignore`, and `--parents`.

use gb_ops::CopySource;
use gb_patterns::PatternMatcher;

use crate::support::{Roots, chmod, mode, plain_copy, run, symlink, tree, write};

fn filter_tree(roots: &Roots) {
    for (path, content) in
        [("d/a.txt", "a"), ("d/b.log", "b"), ("d/sub/c.txt", "c"), ("d/sub/d.log", "d"), ("d/deep/x/e.txt", "e")]
    {
        write(&roots.src, path, content);
    }
}

#[test]
fn include_and_exclude_filter_below_the_source() {
    // (include, exclude, expected destination)
    let cases: [(&[&str], &[&str], &[&str]); 6] = [
        (
            &[],
            &["*.log"],
            &[
                "x/",
                "x/a.txt=a",
                "x/deep/",
                "x/deep/x/",
                "x/deep/x/e.txt=e",
                "x/sub/",
                "x/sub/c.txt=c",
                "x/sub/d.log=d",
            ],
        ),
        (&[], &["**/*.log", "deep"], &["x/", "x/a.txt=a", "x/sub/", "x/sub/c.txt=c"]),
        (&[], &["sub", "!sub/c.txt", "deep", "*.log"], &["x/", "x/a.txt=a", "x/sub/", "x/sub/c.txt=c"]),
        (
            &["**/*.txt"],
            &[],
            &["x/", "x/a.txt=a", "x/deep/", "x/deep/x/", "x/deep/x/e.txt=e", "x/sub/", "x/sub/c.txt=c"],
        ),
        (&["sub"], &["sub/d.log"], &["x/", "x/sub/", "x/sub/c.txt=c"]),
        // Directories on the way to nothing are not created.
        (&["nothing"], &[], &["x/"]),
    ];
    for (include, exclude, want) in cases {
        let roots = Roots::new();
        filter_tree(&roots);
        let mut action = plain_copy("d", "/x");
        action.dir_copy_contents = true;
        action.include = include.iter().map(|s| s.to_string()).collect();
        action.exclude = exclude.iter().map(|s| s.to_string()).collect();
        roots.copy(action).expect("copy");
        assert_eq!(tree(&roots.dest), want, "include {include:?} exclude {exclude:?}");
    }
}

#[test]
fn context_excludes_hide_paths_with_exceptions() {
    let roots = Roots::new();
    for path in ["app.txt", "key.secret", "private/x.txt", "private/public.txt", "logs/a.log", "src/main.rs"] {
        write(&roots.src, path, "x");
    }
    let ignore = PatternMatcher::new(&["*.secret", "private", "!private/public.txt", "logs"]).expect("patterns");
    let source = || Some(CopySource::with_exclude(&roots.src, &ignore));
    let copy = |src: &str, dest: &str| {
        let mut action = gb_ir::CopyAction::docker(0, src, dest);
        action.allow_empty_wildcard = false;
        run(&roots.dest, gb_ir::FileAction::Copy(action), source())
    };

    copy("/", "/ctx/").expect("copy the context");
    assert_eq!(
        tree(&roots.dest.join("ctx")),
        ["app.txt=x", "private/", "private/public.txt=x", "src/", "src/main.rs=x"]
    );
    let err = copy("/key.secret", "/k").expect_err("an excluded file is not there");
    assert_eq!(err.to_string(), "\"/key.secret\": not found");
    assert!(copy("/logs", "/l").is_err(), "an excluded directory without exceptions is not there");
    copy("/private", "/p/").expect("an excluded directory with a re-included file is there");
    assert_eq!(tree(&roots.dest.join("p")), ["public.txt=x"]);
    copy("/*.secret", "/s/").expect_err("wildcards do not match excluded files");
    copy("/*", "/w/").expect("wildcard copy");
    assert!(!roots.dest.join("w/key.secret").exists() && roots.dest.join("w/app.txt").exists());
}

#[test]
fn parents_keep_the_path_below_the_pivot() {
    // (source, expected destination)
    let cases: [(&str, &[&str]); 6] = [
        ("a/b/c.txt", &["out/", "out/a/", "out/a/b/", "out/a/b/c.txt=c"]),
        ("a/./b/c.txt", &["out/", "out/b/", "out/b/c.txt=c"]),
        ("a/*/c.txt", &["out/", "out/a/", "out/a/b/", "out/a/b/c.txt=c"]),
        ("a/./b", &["out/", "out/b/", "out/b/c.txt=c", "out/b/d.txt=d"]),
        ("*/./b/d.txt", &["out/", "out/b/", "out/b/d.txt=d"]),
        ("a/./", &["out/", "out/b/", "out/b/c.txt=c", "out/b/d.txt=d", "out/e.txt=e"]),
    ];
    for (src, want) in cases {
        let roots = Roots::new();
        write(&roots.src, "a/b/c.txt", "c");
        write(&roots.src, "a/b/d.txt", "d");
        write(&roots.src, "a/e.txt", "e");
        let mut action = gb_ir::CopyAction::docker(0, src, "/out/");
        action.parents = true;
        roots.copy(action).unwrap_or_else(|err| panic!("{src}: {err}"));
        assert_eq!(tree(&roots.dest), want, "{src}");
    }
}

#[test]
fn parents_take_the_source_directories_metadata() {
    let roots = Roots::new();
    write(&roots.src, "a/b/c.txt", "c");
    chmod(&roots.src, "a", 0o700);
    chmod(&roots.src, "a/b", 0o750);
    let mut action = gb_ir::CopyAction::docker(0, "a/b/c.txt", "/out/");
    action.parents = true;
    action.exclude = vec!["**/*.log".to_owned()];
    roots.copy(action).expect("copy");
    assert_eq!(
        (mode(&roots.dest, "out"), mode(&roots.dest, "out/a"), mode(&roots.dest, "out/a/b")),
        (0o755, 0o700, 0o750)
    );

    let roots = Roots::new();
    write(&roots.src, "a/b/c.log", "c");
    let mut action = gb_ir::CopyAction::docker(0, "a/b/c.log", "/out/");
    action.parents = true;
    action.exclude = vec!["**/*.log".to_owned()];
    roots.copy(action).expect("copy of an excluded file");
    assert_eq!(tree(&roots.dest), ["out/"], "no parents are made for nothing");
}

#[test]
fn parents_through_a_link_take_the_metadata_inside_the_source_root() {
    // The same absolute path exists on the host, with another mode: a link in the source that
    // names it must lead to the source's own directory, never to the host's.
    let host = tempfile::Builder::new().prefix("gb-ops-host-").tempdir_in("/var/tmp").expect("host dir");
    std::fs::set_permissions(host.path(), std::os::unix::fs::PermissionsExt::from_mode(0o701)).expect("chmod");
    let roots = Roots::new();
    let inside = host.path().strip_prefix("/").expect("absolute").to_string_lossy().into_owned();
    write(&roots.src, &format!("{inside}/b/c.txt"), "c");
    chmod(&roots.src, &inside, 0o750);
    symlink(&roots.src, "a", &host.path().to_string_lossy());
    let mut action = gb_ir::CopyAction::docker(0, "a/b/c.txt", "/out/");
    action.parents = true;
    roots.copy(action).expect("copy");
    assert_eq!(tree(&roots.dest.join("out")), ["a/", "a/b/", "a/b/c.txt=c"]);
    assert_eq!(mode(&roots.dest, "out/a"), 0o750, "the directory's mode came from the host");
}

#[test]
fn parents_double_star_after_the_pivot_spans_directories() {
    // BuildKit's testCopyRelativeParents: after the pivot the source is an include pattern,
    // whose `**` matches any number of directories (none too); before it, `*` is one.
    for (src, want) in [
        ("a/b*/./c/**/bar", &["out/", "out/c/", "out/c/d/", "out/c/d/e/", "out/c/d/e/bar=r"][..]),
        ("a/b*/./c/d/**/bar", &["out/", "out/c/", "out/c/d/", "out/c/d/e/", "out/c/d/e/bar=r"][..]),
        ("a/./**/c/d/bar", &["out/"][..]),
    ] {
        let roots = Roots::new();
        write(&roots.src, "a/b2/c/d/e/bar", "r");
        write(&roots.src, "a/b/c/d/foo", "f");
        let mut action = gb_ir::CopyAction::docker(0, src, "/out/");
        action.parents = true;
        action.allow_empty_wildcard = true;
        roots.copy(action).unwrap_or_else(|err| panic!("{src}: {err}"));
        assert_eq!(tree(&roots.dest), want, "{src}");
    }
}

#[test]
fn parents_with_no_match_still_make_the_destination_when_the_pivot_exists() {
    // BuildKit's testCopyParentsMissingDirectory: `wildcard-nonexistent` and
    // `wildcard-afterpivot` leave an empty `/out`; a pivot that matches nothing leaves none.
    for (src, want) in [("a/b2*/c", &["out/"][..]), ("a/b/./c2*", &["out/"][..]), ("a/x*/./c", &[][..])] {
        let roots = Roots::new();
        write(&roots.src, "a/b/c/d/foo", "f");
        let mut action = gb_ir::CopyAction::docker(0, src, "/out/");
        action.parents = true;
        action.allow_empty_wildcard = true;
        roots.copy(action).unwrap_or_else(|err| panic!("{src}: {err}"));
        assert_eq!(tree(&roots.dest), want, "{src}");
    }
}

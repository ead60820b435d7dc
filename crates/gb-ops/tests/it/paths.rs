//! `resolve_in_root`: symlinks resolved inside the root, never out of it.

use gb_ops::resolve_in_root;

use crate::support::{mkdir, symlink};

#[test]
fn links_resolve_inside_the_root() {
    let root = tempfile::tempdir().expect("temp dir");
    let root = root.path();
    mkdir(root, "dir");
    symlink(root, "abs", "/target");
    symlink(root, "rel", "../../../target");
    symlink(root, "dir/inner", "../other");
    symlink(root, "chain", "abs");
    symlink(root, "loop", "loop");
    // (path, follow the last component, expected path below the root)
    let cases = [
        ("/abs", true, "target"),
        ("/abs", false, "abs"),
        ("/abs/x", false, "target/x"),
        ("/rel/x", true, "target/x"),
        ("/../../etc/passwd", true, "etc/passwd"),
        ("dir/inner/f", true, "other/f"),
        ("/dir/../chain", true, "target"),
        ("/missing/../dir", true, "dir"),
        ("/", true, ""),
    ];
    for (path, follow, want) in cases {
        let got = resolve_in_root(root, path, follow).unwrap_or_else(|err| panic!("{path}: {err}"));
        assert_eq!(got, root.join(want), "{path} (follow last: {follow})");
    }
    let err = resolve_in_root(root, "/loop", true).expect_err("a loop");
    assert!(err.to_string().contains("too many levels of symbolic links"), "{err}");
}

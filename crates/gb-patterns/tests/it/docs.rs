//! The examples of the `.dockerignore` section of Docker's documentation (Dockerfile reference
//! and docs.docker.com/build/concepts/context/#dockerignore-files).

use gb_patterns::parse_dockerignore;

use crate::support::check_cases;

#[test]
fn temp_examples() {
    let file = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
    let patterns = parse_dockerignore(file).expect("valid");
    assert_eq!(patterns, ["*/temp*", "*/*/temp*", "temp?"]);
    let p: Vec<&str> = patterns.iter().map(String::as_str).collect();
    check_cases(&[
        // `*/temp*`: names starting with temp in any immediate subdirectory of the root.
        (&p, "somedir/temporary.txt", true),
        (&p, "somedir/temp", true),
        // `*/*/temp*`: two levels below the root.
        (&p, "somedir/subdir/temporary.txt", true),
        // `temp?`: one-character extensions of temp in the root.
        (&p, "tempa", true),
        (&p, "tempb", true),
        // Neither excludes anything else.
        (&p, "temp", false),
        (&p, "temporary.txt", false),
        (&p, "a/b/c/temp.txt", false),
        (&p, "somedir/tempab/x", true),
    ]);
}

#[test]
fn root_is_working_and_root_directory() {
    // "/foo/bar and foo/bar both exclude a file or directory named bar in the foo subdirectory".
    for pattern in ["/foo/bar", "foo/bar"] {
        check_cases(&[
            (&[pattern], "foo/bar", true),
            (&[pattern], "foo/bar/baz", true),
            (&[pattern], "foo", false),
            (&[pattern], "x/foo/bar", false),
        ]);
    }
}

#[test]
fn double_star_and_exceptions() {
    check_cases(&[
        // `**/*.go` excludes all .go files, including in the root.
        (&["**/*.go"], "main.go", true),
        (&["**/*.go"], "a/b/c.go", true),
        (&["**/*.go"], "a/b/c.gox", false),
        // `*.md` + `!README.md`: all markdown except README.md.
        (&["*.md", "!README.md"], "CHANGES.md", true),
        (&["*.md", "!README.md"], "README.md", false),
        // The placement of exceptions: the last matching line decides.
        (&["*.md", "!README*.md", "README-secret.md"], "README-secret.md", true),
        (&["*.md", "!README*.md", "README-secret.md"], "README-public.md", false),
        (&["*.md", "!README*.md", "README-secret.md"], "notes.md", true),
        (&["*.md", "README-secret.md", "!README*.md"], "README-secret.md", false),
        // `*` then exceptions: only what is listed goes in.
        (&["*", "!src", "!go.mod"], "src/main.go", false),
        (&["*", "!src", "!go.mod"], "go.mod", false),
        (&["*", "!src", "!go.mod"], "docs/index.md", true),
    ]);
}

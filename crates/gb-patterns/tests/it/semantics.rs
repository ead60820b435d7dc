//! The matching rules, one table per rule. Expected results follow Docker's implementation
//! (moby/patternmatcher's regexp translation); rows marked "decision" are where this crate
//! follows `filepath.Match` instead (see the crate docs).

use crate::support::check_cases;

#[test]
fn star_and_question_mark_stay_within_a_name() {
    check_cases(&[
        (&["*.go"], "main.go", true),
        (&["*.go"], "cmd/main.go", false),
        (&["*"], "a/b", true), // `*` matches the parent `a`
        (&["a/*"], "a/b/c", true),
        (&["a/*/c"], "a/b/x/c", false),
        (&["a?c"], "abc", true),
        (&["a?c"], "a/c", false),
        (&["a?c"], "ac", false),
        (&["a?c"], "a☺c", true),
        (&["*/b"], "x/y/b", false),
    ]);
}

#[test]
fn character_classes() {
    check_cases(&[
        (&["[a-c]x"], "bx", true),
        (&["[a-c]x"], "dx", false),
        (&["[abc]"], "c", true),
        (&["[^a]x"], "bx", true),
        (&["[^a]x"], "ax", false),
        (&["x[!a]"], "x!", true), // `!` does not negate a class, `^` does
        (&["x[!a]"], "xb", false),
        // Docker's `[^b]` is a regexp class, which matches `/` (so does filepath.Match's).
        (&["a[^b]c"], "a/c", true),
        (&["[\\]]"], "]", true),
        (&["x]"], "x]", true),
        // decision: `*` and `?` inside a class are literal members, as in filepath.Match.
        (&["[*?]"], "*", true),
        (&["[*?]"], "a", false),
    ]);
}

#[test]
fn double_star() {
    check_cases(&[
        // At the start.
        (&["**/*.go"], "a.go", true),
        (&["**/*.go"], "x/y/a.go", true),
        (&["**/*.go"], "x/a.gox", false),
        (&["**/vendor"], "vendor", true),
        (&["**/vendor"], "a/b/vendor/c/d", true),
        // In the middle: zero or more directories.
        (&["a/**/b"], "a/b", true),
        (&["a/**/b"], "a/x/y/b", true),
        (&["a/**/b"], "a/xb", false),
        (&["a/**/b"], "a/b/c", true),
        (&["a/**/*.txt"], "a/x/y.txt", true),
        // At the end: everything below, not the directory itself.
        (&["a/**"], "a/x", true),
        (&["a/**"], "a/x/y", true),
        (&["a/**"], "a", false),
        (&["a/**"], "ab", false),
        (&["a/*/**"], "a/x/y", true),
        (&["a/*/**"], "a/x", false),
        // Docker's literal-suffix shortcut: a leading `**` and literal text is a plain suffix.
        (&["**foo"], "barfoo", true),
        (&["**foo"], "x/foo", true),
        // With any other wildcard it is the regexp `(.*/)?foo...`, which needs a `/` boundary.
        (&["**foo*"], "barfoo", false),
        (&["**foo*"], "x/foox", true),
        (&["a**b"], "a/x/b", true),
        (&["a**b"], "axb", false),
        (&["a**"], "abc/d", true),
    ]);
}

#[test]
fn directories_exclude_their_contents() {
    check_cases(&[
        (&["dir"], "dir", true),
        (&["dir"], "dir/file", true),
        (&["dir"], "dir/sub/file", true),
        (&["dir"], "dirx/file", false),
        (&["dir"], "other/dir", false),
        (&["dir/"], "dir/file", true),
        (&["dir/sub"], "dir/sub/x/y", true),
        (&["dir/sub"], "dir/other", false),
    ]);
}

#[test]
fn exceptions_in_order() {
    check_cases(&[
        (&["*.txt", "!a.txt"], "a.txt", false),
        (&["*.txt", "!a.txt"], "b.txt", true),
        (&["!a.txt", "*.txt"], "a.txt", true),
        (&["*.txt", "!a.txt", "a.txt"], "a.txt", true),
        (&["*.txt", "!*.txt", "a*"], "a.txt", true),
        (&["*.txt", "!*.txt", "a*"], "b.txt", false),
        // Re-including a file under an excluded directory.
        (&["dir", "!dir/keep"], "dir", true),
        (&["dir", "!dir/keep"], "dir/keep", false),
        (&["dir", "!dir/keep"], "dir/keep/inner", false),
        (&["dir", "!dir/keep"], "dir/other", true),
        (&["dir/*", "!dir/*.md"], "dir/a.md", false),
        (&["dir/*", "!dir/*.md"], "dir/a.txt", true),
        // An exception for a directory re-includes its contents.
        (&["**", "!src"], "src/a/b.rs", false),
        (&["**", "!src"], "target/a", true),
    ]);
}

#[test]
fn escapes() {
    check_cases(&[
        (&["a\\*b"], "a*b", true),
        (&["a\\*b"], "axb", false),
        (&["a\\?"], "a?", true),
        (&["a\\?"], "ab", false),
        (&["\\[x]"], "[x]", true),
        (&["\\[x]"], "x", false),
        (&["a\\\\b"], "a\\b", true),
        (&["\\!keep"], "!keep", true),
        // decision: `\` before a letter is that letter (Docker's regexp would read `\d` as a digit).
        (&["\\d"], "d", true),
        (&["\\d"], "1", false),
        // decision: `^` outside a class is literal (Docker's regexp would read an anchor).
        (&["^a*"], "^abc", true),
        (&["^a*"], "abc", false),
        // Regexp metacharacters are literal.
        (&["a.b+(c)|{d}$"], "a.b+(c)|{d}$", true),
        (&["a.*"], "axb", false),
    ]);
}

#[test]
fn patterns_and_paths_are_cleaned() {
    check_cases(&[
        (&["/a"], "a", true),
        (&["./a"], "a", true),
        (&["a/./b"], "a/b", true),
        (&["a/../b"], "b", true),
        (&["a//b/"], "a/b", true),
        (&["  a  "], "a", true),
        (&["!/a", "*"], "a", true),
        (&["*", "! /a"], "a", false),
        // Paths are cleaned too.
        (&["a/b"], "./a/b", true),
        (&["a/b"], "/a/b/", true),
        (&["a/b"], "a//b", true),
        (&["b"], "x/../b", true),
        // The context root is never excluded.
        (&["**"], "", false),
        (&["**"], ".", false),
        (&["**"], "/", false),
        // A pattern that cleans to `.` or climbs out of the context matches nothing.
        (&["."], "a", false),
        (&["../a"], "a", false),
    ]);
}

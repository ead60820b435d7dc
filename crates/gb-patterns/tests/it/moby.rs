//! Cases ported from moby/patternmatcher's patternmatcher_test.go (the expected results are Docker's).

use gb_patterns::PatternMatcher;

use crate::support::{Case, check_cases};

/// `TestMatches`: one pattern each; `exact` and `inexact` both mean excluded by
/// `MatchesOrParentMatches`. Rows whose path is `/` are left out: here `/` is the context root,
/// which is never excluded.
#[test]
fn test_matches_table() {
    let rows: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        // The non-Windows extras.
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
    ];
    let cases: Vec<Case<'_>> =
        rows.iter().map(|(pattern, path, want)| (std::slice::from_ref(pattern), *path, *want)).collect();
    check_cases(&cases);
}

/// `TestMatches`' `multiPatternTests`.
#[test]
fn test_matches_multi_pattern() {
    check_cases(&[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
        (
            &["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
    ]);
}

/// The small named tests at the top of patternmatcher_test.go.
#[test]
fn named_tests() {
    check_cases(&[
        // TestWildcardMatches, TestPatternMatches
        (&["*"], "fileutils.go", true),
        (&["*.go"], "fileutils.go", true),
        // TestExclusionPatternMatchesPatternBefore
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        // TestPatternMatchesFolderExclusions, ...WithSlashExclusions, ...WildcardExclusions
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        // TestExclusionPatternMatchesPatternAfter
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        // TestExclusionPatternMatchesWholeDirectory: "." is never excluded
        (&["*.go"], ".", false),
        // TestMatchesWithNoPatterns
        (&[], "any/path/there", false),
    ]);
}

/// `TestCleanPatterns*`: blank patterns are dropped, exceptions are found after trimming.
#[test]
fn clean_patterns() {
    let m = PatternMatcher::new(&["docs", "config", ""]).expect("valid");
    assert_eq!(m.patterns().collect::<Vec<_>>(), ["docs", "config"]);
    assert!(!m.has_exclusions());
    for patterns in [["docs", "!docs/README.md"], ["docs", "  !docs/README.md"], ["docs", "!docs/README.md  "]] {
        let m = PatternMatcher::new(&patterns).expect("valid");
        assert!(m.has_exclusions(), "{patterns:?}");
        assert_eq!(m.patterns().collect::<Vec<_>>(), ["docs", "!docs/README.md"]);
    }
}

/// `TestSingleExclamationError`, `TestCleanPatternsErrorSingleException`,
/// `TestMatchesWithMalformedPatterns`, the `ErrBadPattern` rows of `matchTests`, and the
/// regression test for moby/moby#52203 (`[Local-Only]` has the reversed range `l-O`; Docker
/// fails when it first matches, we fail when compiling).
#[test]
fn malformed_patterns_are_rejected() {
    let bad = ["!", "[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[^", "[^bc", "a[", "[Local-Only]/"];
    for pattern in bad {
        assert!(PatternMatcher::new(&[pattern]).is_err(), "{pattern:?} should be rejected");
    }
}

/// The valid rows of `matchTests` (taken from Go's `filepath.Match` tests), run through
/// `Matches(s, []string{pattern})`; none of them depends on that deprecated function's
/// single-parent check, so `MatchesOrParentMatches` gives the same answers.
#[test]
fn filepath_match_tests() {
    let rows: &[(&str, &str, bool)] = &[
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "abc", true),
        ("a*", "ab/c", true),
        ("a*/b", "abc/b", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[c]", "abc", true),
        ("ab[b-d]", "abc", true),
        ("ab[e-g]", "abc", false),
        ("ab[^c]", "abc", false),
        ("ab[^b-d]", "abc", false),
        ("ab[^e-g]", "abc", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        ("a?b", "a☺b", true),
        ("a[^a]b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("a[^a][^a][^a]b", "a☺b", false),
        ("[a-ζ]*", "α", true),
        ("*[a-ζ]", "A", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        ("[\\]a]", "]", true),
        ("[\\-]", "-", true),
        ("[x\\-]", "x", true),
        ("[x\\-]", "-", true),
        ("[x\\-]", "z", false),
        ("[\\-x]", "x", true),
        ("[\\-x]", "-", true),
        ("[\\-x]", "a", false),
        ("*x", "xxx", true),
    ];
    let cases: Vec<Case<'_>> =
        rows.iter().map(|(pattern, path, want)| (std::slice::from_ref(pattern), *path, *want)).collect();
    check_cases(&cases);
}

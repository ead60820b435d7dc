//! The directory-walker helpers: `has_exclusions`, `may_contain_included`, `matches_with_parent`.

use gb_patterns::{MatchInfo, PatternMatcher};
use proptest::prelude::*;

fn matcher(patterns: &[&str]) -> PatternMatcher {
    PatternMatcher::new(patterns).expect("valid patterns")
}

#[test]
fn has_exclusions() {
    assert!(!matcher(&[]).has_exclusions());
    assert!(!matcher(&["a", "b/**"]).has_exclusions());
    assert!(matcher(&["a", "!a/b"]).has_exclusions());
}

/// Cases follow fsutil's filter.go: an excluded directory is skipped only when every exception
/// is a plain path (after dropping one trailing `/**` or `/*`) outside it.
#[test]
fn may_contain_included() {
    let cases: &[(&[&str], &str, bool)] = &[
        // Not excluded: always descend.
        (&["dir"], "src", true),
        (&["dir"], "", true),
        // Excluded, no exceptions: skip.
        (&["dir"], "dir", false),
        (&["dir"], "dir/sub", false),
        // An exception inside the directory.
        (&["dir", "!dir/keep"], "dir", true),
        (&["dir", "!dir/keep/**"], "dir", true),
        (&["dir", "!dir/keep/*"], "dir", true),
        (&["dir", "!dir/a/b/c"], "dir/a", true),
        (&["dir", "!dir/keep"], "dir/other", false),
        // Exceptions elsewhere only.
        (&["dir", "!other/keep"], "dir", false),
        (&["dir", "!dirx"], "dir", false),
        // Any exception with a wildcard might match anywhere, so fsutil always descends.
        (&["dir", "!*.go"], "dir", true),
        (&["dir", "!other/*/x"], "dir", true),
        (&["dir", "!other/x\\*"], "dir", true),
        // fsutil strips `/**` and then `/*`, reads this exception as the plain path `a` and
        // skips `a/b`, losing `a/b/c`; only one glob is stripped here.
        (&["*", "!a/*/**"], "a/b", true),
        (&["*", "!a/*/**"], "a", true),
    ];
    let mut failures = Vec::new();
    for &(patterns, dir, want) in cases {
        let got = matcher(patterns).may_contain_included(dir);
        if got != want {
            failures.push(format!("{patterns:?} on {dir:?}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where BuildKit's walker (`MatchesUsingParentResults`) and `MatchesOrParentMatches` disagree:
/// for `dir`, the second `dir` is skipped (it could not change the answer), so its match is not
/// recorded and `dir/sub` then only tries it against itself.
#[test]
fn walker_form_can_differ_from_matches() {
    let m = matcher(&["dir", "!dir/sub", "dir"]);
    assert!(m.matches("dir/sub/f"));
    let (dir, dir_info) = m.matches_with_parent("dir", &MatchInfo::default());
    assert!(dir);
    let (sub, sub_info) = m.matches_with_parent("dir/sub", &dir_info);
    assert!(!sub);
    assert!(!m.matches_with_parent("dir/sub/f", &sub_info).0);
    // Without parent results it is `matches`.
    assert!(m.matches_with_parent("dir/sub/f", &MatchInfo::default()).0);
}

/// The names a random tree is made of, and pieces random patterns are made of.
const NAMES: &[&str] = &["a", "b", "c.go", "d.md"];
const PIECES: &[&str] = &["a", "b", "c.go", "d.md", "*", "**", "?", "*.go", "[ab]", "x"];

fn tree() -> Vec<String> {
    let mut paths: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    for _ in 0..2 {
        let deeper: Vec<String> = paths
            .iter()
            .filter(|p| p.matches('/').count() == paths[paths.len() - 1].matches('/').count())
            .flat_map(|p| NAMES.iter().map(move |n| format!("{p}/{n}")))
            .collect();
        paths.extend(deeper);
    }
    paths
}

fn pattern() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(prop::sample::select(PIECES), 1..4))
        .prop_map(|(exception, pieces)| format!("{}{}", if exception { "!" } else { "" }, pieces.join("/")))
}

/// Walks the tree depth first, skipping excluded directories that cannot contain included
/// paths, and collects the paths that are not excluded.
fn pruned_walk(m: &PatternMatcher, all: &[String]) -> Vec<String> {
    fn visit(m: &PatternMatcher, all: &[String], dir: &str, out: &mut Vec<String>) {
        let depth = if dir.is_empty() { 0 } else { dir.matches('/').count() + 1 };
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        for child in all.iter().filter(|p| p.starts_with(&prefix) && p.matches('/').count() == depth) {
            if !m.matches(child) {
                out.push(child.clone());
            }
            if m.may_contain_included(child) {
                visit(m, all, child, out);
            }
        }
    }
    let mut out = Vec::new();
    visit(m, all, "", &mut out);
    out.sort();
    out
}

proptest! {
    /// Skipping the directories `may_contain_included` rules out never loses an included path.
    #[test]
    fn pruning_never_loses_included_paths(patterns in prop::collection::vec(pattern(), 0..5)) {
        let m = PatternMatcher::new(&patterns).expect("generated patterns are valid");
        let all = tree();
        let mut brute: Vec<String> = all.iter().filter(|p| !m.matches(p)).cloned().collect();
        brute.sort();
        prop_assert_eq!(pruned_walk(&m, &all), brute);
    }

    /// Without parent results, `matches_with_parent` is `matches`.
    #[test]
    fn matches_with_parent_without_info_is_matches(
        patterns in prop::collection::vec(pattern(), 0..5),
        path in prop::sample::select(tree()),
    ) {
        let m = PatternMatcher::new(&patterns).expect("generated patterns are valid");
        prop_assert_eq!(m.matches_with_parent(&path, &MatchInfo::default()).0, m.matches(&path));
    }
}

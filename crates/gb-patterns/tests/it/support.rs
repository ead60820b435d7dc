//! Helpers that run tables of (patterns, path, excluded?) cases and report every failure at once.

use gb_patterns::{MatchInfo, PatternMatcher};

/// One case: the patterns in order, a path, and whether Docker excludes it.
pub type Case<'a> = (&'a [&'a str], &'a str, bool);

/// Checks `matches` for every case, and that walking down to the path with
/// `matches_with_parent` agrees (as moby's tests check `MatchesUsingParentResults` on the same tables).
pub fn check_cases(cases: &[Case<'_>]) {
    let mut failures = Vec::new();
    for &(patterns, path, want) in cases {
        let matcher =
            PatternMatcher::new(patterns).unwrap_or_else(|err| panic!("patterns {patterns:?} should compile: {err}"));
        let got = matcher.matches(path);
        if got != want {
            failures.push(format!("{patterns:?} on {path:?}: matches = {got}, want {want}"));
        }
        let walked = walk_with_parents(&matcher, path);
        if walked != want {
            failures.push(format!("{patterns:?} on {path:?}: matches_with_parent = {walked}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

/// Matches `path` as a walker would: each parent directory first, passing its `MatchInfo` down.
pub fn walk_with_parents(matcher: &PatternMatcher, path: &str) -> bool {
    let path = path.trim_matches('/');
    let mut info = MatchInfo::default();
    for (at, _) in path.match_indices('/') {
        info = matcher.matches_with_parent(&path[..at], &info).1;
    }
    matcher.matches_with_parent(path, &info).0
}

//! [`PatternMatcher`]: an ordered list of patterns and exceptions, applied as Docker applies them.

use crate::clean::{normalize_path, normalize_pattern};
use crate::error::PatternError;
use crate::glob::{Glob, compile};

/// Characters that make fsutil treat an exception as a wildcard when it decides whether an
/// excluded directory can be skipped (its `patternChars`, with `\` as on Unix).
const WILDCARD_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

/// An ordered list of exclude patterns and `!` exceptions, Docker's `patternmatcher.PatternMatcher`.
///
/// Paths are relative to the context root and `/`-separated (see the crate docs). A path is
/// excluded when the last pattern that matches it, or one of its parent directories, is not an
/// exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternMatcher {
    rules: Vec<Rule>,
    has_exclusions: bool,
    /// No exception has a wildcard once one trailing `/**` or `/*` is dropped (fsutil's
    /// `onlyPrefixExcludeExceptions`), so the exceptions below a directory can be found by prefix.
    prefix_only_exceptions: bool,
    /// Each exception without one trailing `/**` or `/*`, plus `/`.
    exception_prefixes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// The normalised pattern, with its `!` if it is an exception.
    source: String,
    exception: bool,
    glob: Glob,
}

/// What a directory's patterns matched, handed to [`PatternMatcher::matches_with_parent`] for its
/// children (Docker's `patternmatcher.MatchInfo`). The default value means "nothing known".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    matched: Vec<bool>,
}

impl PatternMatcher {
    /// Compiles patterns in order; one starting with `!` is an exception. Each is normalised as
    /// `.dockerignore` lines are (trimmed, cleaned, a leading `/` dropped) and blank ones are
    /// skipped, so the output of [`crate::parse_dockerignore`] passes through unchanged.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut rules = Vec::with_capacity(patterns.len());
        for raw in patterns {
            let raw = raw.as_ref();
            let Some(pattern) = normalize_pattern(raw) else {
                continue;
            };
            if pattern.exception && pattern.text.is_empty() {
                return Err(PatternError::EmptyException { line: None });
            }
            let glob = compile(&pattern.text).map_err(|problem| PatternError::Syntax {
                pattern: raw.trim().to_owned(),
                problem,
                line: None,
            })?;
            rules.push(Rule { source: pattern.source(), exception: pattern.exception, glob });
        }
        let exceptions: Vec<&str> = rules.iter().filter(|r| r.exception).map(|r| &r.source[1..]).collect();
        let trimmed: Vec<&str> = exceptions
            .iter()
            // fsutil strips `/**` and then `/*`, so it reads `!a/*/**` as a plain `a` and skips
            // an excluded `a/b` whose `a/b/c` the exception re-includes; strip only one.
            .map(|text| text.strip_suffix("/**").or_else(|| text.strip_suffix("/*")).unwrap_or(text))
            .collect();
        Ok(Self {
            has_exclusions: !exceptions.is_empty(),
            prefix_only_exceptions: !trimmed.iter().any(|t| t.contains(WILDCARD_CHARS)),
            exception_prefixes: trimmed.iter().map(|t| format!("{t}/")).collect(),
            rules,
        })
    }

    /// Docker's `MatchesOrParentMatches`: whether `path`, or one of its parent directories, is
    /// excluded. Patterns apply in order and the last one that matches the path or a parent
    /// wins; a matching exception re-includes. The context root is never excluded.
    pub fn matches(&self, path: &str) -> bool {
        let path = normalize_path(path);
        !path.is_empty() && self.matches_clean(&path)
    }

    fn matches_clean(&self, path: &str) -> bool {
        let mut matched = false;
        for rule in &self.rules {
            // Docker skips patterns that could not change the answer; the result is the same.
            if rule.exception != matched {
                continue;
            }
            if rule.glob.is_match(path) || parents(path).any(|dir| rule.glob.is_match(dir)) {
                matched = !rule.exception;
            }
        }
        matched
    }

    /// Docker's `MatchesUsingParentResults`, the form BuildKit's context walker (fsutil) uses:
    /// like [`matches`](Self::matches), but a pattern that matched the parent directory, as
    /// recorded in `parent` (the [`MatchInfo`] this returned for the parent), counts as matching
    /// without being tried again, and parents are not otherwise tried. Pass
    /// `MatchInfo::default()` for a path whose parent was not matched (e.g. at the top of the
    /// walk), or an info from another matcher; then every parent directory is tried.
    ///
    /// This differs from `matches` only in rare orders of patterns (a pattern that Docker skips
    /// for the parent because it could not change the parent's answer is not recorded for it).
    pub fn matches_with_parent(&self, path: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let path = normalize_path(path);
        let mut info = MatchInfo { matched: vec![false; self.rules.len()] };
        if path.is_empty() {
            return (false, info);
        }
        let known = (!parent.matched.is_empty() && parent.matched.len() == self.rules.len())
            .then_some(parent.matched.as_slice());
        let mut matched = false;
        for (i, rule) in self.rules.iter().enumerate() {
            let mut hit = known.is_some_and(|known| known[i]);
            if !hit {
                if rule.exception != matched {
                    continue;
                }
                hit =
                    rule.glob.is_match(&path) || (known.is_none() && parents(&path).any(|dir| rule.glob.is_match(dir)));
            }
            info.matched[i] = hit;
            if hit {
                matched = !rule.exception;
            }
        }
        (matched, info)
    }

    /// Whether any pattern is an exception (`!`), which forces the walker to descend into
    /// excluded directories (Docker's `Exclusions`).
    pub fn has_exclusions(&self) -> bool {
        self.has_exclusions
    }

    /// For a directory walker: whether `dir` may contain paths that are not excluded, so the
    /// walker must descend into it. True for a directory that is not excluded. For an excluded
    /// one it follows fsutil's walker: false without exceptions; true when some exception has a
    /// wildcard (besides one trailing `/**` or `/*`), since it might match anywhere; otherwise
    /// true only when an exception lies inside `dir` (e.g. `dir` + `!dir/keep`). Unlike fsutil,
    /// which strips both `/**` and `/*`, `!a/*/**` counts as a wildcard, so `a/b` is not
    /// skipped when `a/b/c` is re-included.
    ///
    /// Descending more than needed is always safe: [`matches`](Self::matches) still decides
    /// each path. A `false` is sound: nothing below `dir` is re-included.
    pub fn may_contain_included(&self, dir: &str) -> bool {
        let dir = normalize_path(dir);
        if dir.is_empty() || !self.matches_clean(&dir) {
            return true;
        }
        if !self.has_exclusions {
            return false;
        }
        if !self.prefix_only_exceptions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        self.exception_prefixes.iter().any(|prefix| prefix.starts_with(&dir_slash))
    }

    /// The normalised patterns in order, exceptions with their leading `!`. Passing them to
    /// [`new`](Self::new) gives an equal matcher.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.source.as_str())
    }
}

/// The parent directories of a cleaned relative path, shortest first (`a`, `a/b` for `a/b/c`).
fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(|(at, _)| &path[..at])
}

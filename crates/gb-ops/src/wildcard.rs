//! Source wildcards as fsutil resolves them: Go's `filepath.Match` per path component, against the tree.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{FileOpError, Result};
use crate::paths::{os, relative_str, resolve_in_root};
use crate::source::CopySource;

/// Whether a path component holds `*`, `?` or `[` not escaped by `\` (fsutil's
/// `containsWildcards`).
pub(crate) fn has_wildcard(component: &str) -> bool {
    let mut bytes = component.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => {
                bytes.next();
            }
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
    }
    false
}

/// The paths (relative to the source root, `/`-separated) that a cleaned relative `pattern`
/// matches, in walk order. The components before the first wildcard are resolved (following
/// links inside the root); the rest are matched against directory entries, descending only
/// into real directories, and an excluded entry never matches.
pub(crate) fn resolve_wildcards(source: &CopySource<'_>, pattern: &str) -> Result<Vec<String>> {
    resolve(source, pattern, None)
}

/// [`resolve_wildcards`] for a `COPY --parents` source whose pivot has `pivot_depth`
/// components: what follows the pivot is an include pattern (BuildKit's `IncludePatterns`),
/// where a `**` component also matches any number of directories, none included.
pub(crate) fn resolve_parents_wildcards(
    source: &CopySource<'_>,
    pattern: &str,
    pivot_depth: usize,
) -> Result<Vec<String>> {
    resolve(source, pattern, Some(pivot_depth))
}

/// `spans_from`: the component index from which `**` spans directories, if it ever does.
fn resolve(source: &CopySource<'_>, pattern: &str, spans_from: Option<usize>) -> Result<Vec<String>> {
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let Some(first) = parts.iter().position(|p| has_wildcard(p)) else {
        return Ok(vec![pattern.to_owned()]);
    };
    let base = resolve_in_root(source.root, &parts[..first].join("/"), true)?;
    let mut out = Vec::new();
    let walk = Walk { source, spans_from };
    walk.walk(&base, &parts[first..], first, &mut out)?;
    Ok(out)
}

struct Walk<'a, 'b> {
    source: &'a CopySource<'b>,
    spans_from: Option<usize>,
}

impl Walk<'_, '_> {
    /// Matches `parts`, the pattern from its component `depth` on, below `dir`.
    fn walk(&self, dir: &Path, parts: &[&str], depth: usize, out: &mut Vec<String>) -> Result<()> {
        let source = self.source;
        let Some((pattern, rest)) = parts.split_first() else {
            return Ok(());
        };
        // `**` before more components: none of the directories (the rest matched here), or
        // one more (the whole `**` pattern again below each subdirectory).
        let spans = self.spans_from.is_some_and(|from| depth >= from) && *pattern == "**" && !rest.is_empty();
        if spans {
            self.walk(dir, rest, depth + 1, out)?;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            // The literal prefix is missing or not a directory: nothing matches.
            Err(_) if !dir.is_dir() => return Ok(()),
            Err(err) => return Err(FileOpError::io("read directory", dir, err)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| FileOpError::io("read directory", dir, err))?;
            names.push(entry.file_name());
        }
        // Go's Walk visits names in sorted (byte) order; keep that so copies happen in that order.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let Some(name) = name.to_str() else { continue };
            if !matches_component(pattern, name) {
                continue;
            }
            let host = dir.join(os(name));
            if !source.visible(&host)? {
                continue;
            }
            let is_dir = || std::fs::symlink_metadata(&host).is_ok_and(|meta| meta.is_dir());
            if spans {
                if is_dir() {
                    self.walk(&host, parts, depth, out)?;
                }
            } else if rest.is_empty() {
                out.push(relative_str(source.root, &host));
            } else if is_dir() {
                self.walk(&host, rest, depth + 1, out)?;
            }
        }
        Ok(())
    }
}

/// Go's `filepath.Match` for one component: `*` any run, `?` any one character, `[...]` a class
/// (`^` negates, `a-z` ranges), `\` escapes. A malformed pattern matches nothing, as fsutil
/// ignores the error.
pub(crate) fn matches_component(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    match_here(&pattern, &name).unwrap_or(false)
}

/// `None` for a malformed pattern.
fn match_here(pattern: &[char], name: &[char]) -> Option<bool> {
    let Some((&first, rest)) = pattern.split_first() else {
        return Some(name.is_empty());
    };
    match first {
        '*' => {
            for skip in 0..=name.len() {
                if match_here(rest, &name[skip..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        '?' => Some(!name.is_empty() && match_here(rest, &name[1..])?),
        '[' => {
            let (matched, after) = match_class(rest, name.first().copied())?;
            Some(matched && match_here(after, &name[1..])?)
        }
        '\\' => {
            let (&literal, after) = rest.split_first()?;
            Some(name.first() == Some(&literal) && match_here(after, &name[1..])?)
        }
        literal => Some(name.first() == Some(&literal) && match_here(rest, &name[1..])?),
    }
}

/// Matches `c` against the class whose `[` was just consumed; returns whether it matched and
/// the pattern after the closing `]`. A missing character (end of name) never matches, but the
/// class must still be well formed.
fn match_class(mut pattern: &[char], c: Option<char>) -> Option<(bool, &[char])> {
    let negated = pattern.first() == Some(&'^');
    if negated {
        pattern = &pattern[1..];
    }
    let mut matched = false;
    let mut first = true;
    loop {
        if pattern.first() == Some(&']') && !first {
            let hit = c.is_some() && matched != negated;
            return Some((hit, &pattern[1..]));
        }
        first = false;
        let (lo, rest) = class_char(pattern)?;
        pattern = rest;
        let mut hi = lo;
        if pattern.first() == Some(&'-') {
            let (end, rest) = class_char(&pattern[1..])?;
            hi = end;
            pattern = rest;
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            matched = true;
        }
    }
}

/// One possibly escaped class character; a bare `-` or `]` here is malformed, as in Go.
fn class_char(pattern: &[char]) -> Option<(char, &[char])> {
    let (&c, rest) = pattern.split_first()?;
    match c {
        '-' | ']' => None,
        '\\' => rest.split_first().map(|(&c, rest)| (c, rest)),
        c => Some((c, rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::{has_wildcard, matches_component};

    /// Cases from Go's `path/filepath` match tests that apply within one component.
    #[test]
    fn components_match_like_go() {
        let cases = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*/b", "abc/b", true),
            ("a*b*c*d*e*", "axbxcxdxe", true),
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
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("[\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[", "a", false),
            ("[^", "a", false),
            ("[]a]", "]", false),
            ("[-]", "-", false),
            ("a[", "a", false),
            ("*x", "xxx", true),
            ("?", "", false),
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(matches_component(pattern, name), want, "{pattern:?} vs {name:?}");
        }
    }

    #[test]
    fn wildcards_are_detected_unless_escaped() {
        assert!(has_wildcard("*.txt"));
        assert!(has_wildcard("a?"));
        assert!(has_wildcard("[ab]"));
        assert!(!has_wildcard("a\\*b"));
        assert!(!has_wildcard("plain"));
    }
}

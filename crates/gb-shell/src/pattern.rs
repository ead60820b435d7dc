//! The shell patterns of `${V#p}`, `${V%p}` and `${V/p/r}`: `*` and `?` wildcards, with prefix/suffix trimming and replacement.
//!
//! BuildKit turns these patterns into Go regular expressions in which every
//! other character, `[` and `]` included, is literal; so bracket expressions
//! are not supported here either. Matching works on `char`s, so results
//! always fall on character boundaries.

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// Exactly this character.
    Literal(char),
    /// `?`: any one character.
    AnyChar,
    /// `*`: any run of characters, possibly empty.
    AnyRun,
}

/// The steps pattern matching may still take in one word's expansion.
///
/// One step is one state of the pattern (a token) tried against one character of the text. Matching is
/// linear in the text from one start, but `${V/p/r}` tries every start, so a 1 MiB value and a
/// pattern that runs to its end from each of them (`${V//a*b/x}` on `aaa…`) would take about
/// 10^12 steps; the budget turns that into an error instead of a hang.
#[derive(Debug)]
pub(crate) struct Steps {
    left: u64,
}

/// Why a pattern operation gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The result would be longer than the limit.
    TooLong,
    /// Matching used up its [`Steps`].
    TooComplex,
}

impl Steps {
    pub(crate) fn new(limit: u64) -> Self {
        Self { left: limit }
    }

    /// Takes `count` steps, or fails when fewer are left.
    fn take(&mut self, count: usize) -> Result<(), Refused> {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        match self.left.checked_sub(count) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.left = 0;
                Err(Refused::TooComplex)
            }
        }
    }
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Parses a pattern word whose escapes were kept (the lexer expands
    /// pattern words with raw escapes): `escape` followed by any character
    /// makes that character literal; a lone `escape` at the end is literal.
    ///
    /// BuildKit differs in two ways that look accidental: it always treats
    /// `\` as the pattern escape, even when the word's escape is `` ` ``
    /// (so `` `* `` there is a literal backquote and a wildcard), and it
    /// rejects `\x` unless `x` is one of `* ? \ } /` (so `${V#\$}` fails).
    /// Here `` ` `` words escape with `` ` `` and `\` is plain, which makes
    /// Windows paths such as `${P#C:\}` work, and any escaped character is
    /// simply literal.
    pub(crate) fn parse(raw: &str, escape: char) -> Self {
        let mut tokens = Vec::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(ch) = chars.next() {
            tokens.push(match ch {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                c if c == escape => Token::Literal(chars.next().unwrap_or(escape)),
                c => Token::Literal(c),
            });
        }
        Self { tokens }
    }

    fn reversed(&self) -> Self {
        Self { tokens: self.tokens.iter().rev().copied().collect() }
    }

    /// The end (exclusive index into `text`) of the shortest or longest match
    /// of the whole pattern starting at `start`, if any.
    ///
    /// Runs the pattern as an NFA whose states are token indices, so it costs
    /// O(text × pattern) whatever the pattern, with no backtracking; each character read
    /// takes from `steps` one step per state it is tried against (at least one).
    fn match_end(
        &self,
        text: &[char],
        start: usize,
        longest: bool,
        steps: &mut Steps,
    ) -> Result<Option<usize>, Refused> {
        let m = self.tokens.len();
        let mut active = vec![false; m + 1];
        let mut next = vec![false; m + 1];
        active[0] = true;
        self.close(&mut active);
        let mut best = None;
        let mut pos = start;
        loop {
            if active[m] {
                best = Some(pos);
                if !longest {
                    return Ok(best);
                }
            }
            let Some(&ch) = text.get(pos) else {
                return Ok(best);
            };
            next.fill(false);
            let mut alive = false;
            let mut tried = 0;
            for (i, token) in self.tokens.iter().enumerate() {
                if !active[i] {
                    continue;
                }
                tried += 1;
                let target = match token {
                    Token::AnyRun => i,
                    Token::AnyChar => i + 1,
                    Token::Literal(lit) if *lit == ch => i + 1,
                    Token::Literal(_) => continue,
                };
                next[target] = true;
                alive = true;
            }
            steps.take(tried.max(1))?;
            if !alive {
                return Ok(best);
            }
            self.close(&mut next);
            std::mem::swap(&mut active, &mut next);
            pos += 1;
        }
    }

    /// Adds the states reachable without reading: past any `*`.
    fn close(&self, active: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if active[i] && *token == Token::AnyRun {
                active[i + 1] = true;
            }
        }
    }
}

/// `${V#p}` (shortest) and `${V##p}` (longest): removes the matching prefix.
pub(crate) fn trim_prefix(value: &str, pattern: &Pattern, longest: bool, steps: &mut Steps) -> Result<String, Refused> {
    let text: Vec<char> = value.chars().collect();
    Ok(match pattern.match_end(&text, 0, longest, steps)? {
        Some(end) => text[end..].iter().collect(),
        None => value.to_owned(),
    })
}

/// `${V%p}` (shortest) and `${V%%p}` (longest): removes the matching suffix.
pub(crate) fn trim_suffix(value: &str, pattern: &Pattern, longest: bool, steps: &mut Steps) -> Result<String, Refused> {
    // A suffix match is a prefix match of the reversed pattern on the
    // reversed text, which is how BuildKit does it too.
    let reversed: Vec<char> = value.chars().rev().collect();
    Ok(match pattern.reversed().match_end(&reversed, 0, longest, steps)? {
        Some(len) => reversed[len..].iter().rev().collect(),
        None => value.to_owned(),
    })
}

/// `${V/p/r}` (first match) and `${V//p/r}` (every match).
///
/// Matches are leftmost-longest. As in Go's `ReplaceAllString`, which
/// BuildKit uses, an empty match right after the previous match is skipped,
/// and an empty pattern matches between every pair of characters. The
/// replacement is inserted literally: BuildKit's replace-all would expand
/// Go template references such as `$1` in it, which can only arise from an
/// escaped or quoted `$` and is not worth imitating.
///
/// Refused as too long when the result would be longer than `limit` bytes; the check comes
/// before each append, so a refused replacement never allocates past the limit.
pub(crate) fn replace(
    value: &str,
    pattern: &Pattern,
    replacement: &str,
    all: bool,
    limit: usize,
    steps: &mut Steps,
) -> Result<String, Refused> {
    let text: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    let mut search = 0;
    let mut previous_end = None;
    while search <= text.len() {
        let mut found = None;
        for start in search..=text.len() {
            if let Some(end) = pattern.match_end(&text, start, true, steps)? {
                let abuts_previous = end == start && previous_end == Some(start);
                if !abuts_previous {
                    found = Some((start, end));
                    break;
                }
            }
        }
        let Some((start, end)) = found else {
            break;
        };
        let kept: usize = text[copied..start].iter().map(|ch| ch.len_utf8()).sum();
        if out.len() + kept + replacement.len() > limit {
            return Err(Refused::TooLong);
        }
        out.extend(&text[copied..start]);
        out.push_str(replacement);
        copied = end;
        previous_end = Some(end);
        search = if end == start { end + 1 } else { end };
        if !all {
            break;
        }
    }
    out.extend(&text[copied.min(text.len())..]);
    if out.len() > limit {
        return Err(Refused::TooLong);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Pattern, Refused, Steps};

    fn pat(raw: &str) -> Pattern {
        Pattern::parse(raw, '\\')
    }

    fn unlimited() -> Steps {
        Steps::new(u64::MAX)
    }

    fn trim_prefix(value: &str, pattern: &Pattern, longest: bool) -> String {
        super::trim_prefix(value, pattern, longest, &mut unlimited()).expect("no step limit")
    }

    fn trim_suffix(value: &str, pattern: &Pattern, longest: bool) -> String {
        super::trim_suffix(value, pattern, longest, &mut unlimited()).expect("no step limit")
    }

    /// `None` when the result is too long.
    fn replace(value: &str, pattern: &Pattern, replacement: &str, all: bool, limit: usize) -> Option<String> {
        match super::replace(value, pattern, replacement, all, limit, &mut unlimited()) {
            Ok(out) => Some(out),
            Err(Refused::TooLong) => None,
            Err(Refused::TooComplex) => panic!("no step limit"),
        }
    }

    #[test]
    fn prefix_shortest_and_longest() {
        assert_eq!(trim_prefix("xxyy", &pat("*x*y"), false), "y");
        assert_eq!(trim_prefix("xxyy", &pat("*"), false), "xxyy");
        assert_eq!(trim_prefix("xxyy", &pat("*x"), true), "yy");
        assert_eq!(trim_prefix("???y", &pat("?\\?"), false), "?y");
        assert_eq!(trim_prefix("abc", &pat("z"), true), "abc");
    }

    #[test]
    fn suffix_shortest_and_longest() {
        assert_eq!(trim_suffix("xx**", &pat("\\**"), true), "xx");
        assert_eq!(trim_suffix("a***yy*", &pat("\\**\\*"), true), "a");
        assert_eq!(trim_suffix("a.b.c", &pat(".*"), false), "a.b");
        assert_eq!(trim_suffix("a.b.c", &pat(".*"), true), "a");
    }

    #[test]
    fn wildcards_cross_newlines() {
        // Go's `.` stops at `\n`, so BuildKit would leave this unchanged.
        assert_eq!(trim_prefix("a\nb\nc", &pat("*?b"), false), "\nc");
    }

    #[test]
    fn brackets_are_literal() {
        assert_eq!(trim_prefix("[ab]c", &pat("[ab]"), false), "c");
        assert_eq!(trim_prefix("ac", &pat("[ab]"), false), "ac");
    }

    #[test]
    fn replace_first_and_all() {
        assert_eq!(replace("/foo*/*/*.txt", &pat("\\*/"), ".", false, usize::MAX).as_deref(), Some("/foo.*/*.txt"));
        assert_eq!(replace("/foo*/*/*.txt", &pat("\\*/"), ".", true, usize::MAX).as_deref(), Some("/foo..*.txt"));
        assert_eq!(replace("/a/foo/b/c.txt", &pat("/?/"), "/", true, usize::MAX).as_deref(), Some("/foo/c.txt"));
        assert_eq!(replace("abc", &pat("*"), "R", true, usize::MAX).as_deref(), Some("R"));
        assert_eq!(replace("ab", &pat(""), "-", true, usize::MAX).as_deref(), Some("-a-b-"));
        assert_eq!(replace("xxyy", &pat(""), "ww", false, usize::MAX).as_deref(), Some("wwxxyy"));
        assert_eq!(replace("", &pat(""), "w", true, usize::MAX).as_deref(), Some("w"));
        assert_eq!(replace("aXbXc", &pat("X*"), "", false, usize::MAX).as_deref(), Some("a"));
    }

    #[test]
    fn replacement_stops_at_the_limit() {
        // Every character replaced by the whole value would be 1000 * 1000 bytes.
        let value = "x".repeat(1000);
        assert_eq!(replace(&value, &pat("?"), &value, true, 1 << 20).map(|s| s.len()), Some(1_000_000));
        assert_eq!(replace(&value, &pat("?"), &value, true, 999_999), None);
        assert_eq!(replace("aé", &pat("x"), "", true, 2), None, "the kept text counts in bytes");
        assert_eq!(replace("aé", &pat("x"), "", true, 3).as_deref(), Some("aé"));
    }

    /// The steps a call took from a budget of `budget`.
    fn used(budget: u64, call: impl FnOnce(&mut Steps) -> Result<String, Refused>) -> (Result<String, Refused>, u64) {
        let mut steps = Steps::new(budget);
        let result = call(&mut steps);
        (result, budget - steps.left)
    }

    #[test]
    fn unanchored_search_of_a_long_value_stops_at_the_step_budget() {
        // From each of the 2^20 starts, `a*b` reads to the end of the value looking for a `b`:
        // about 2^40 steps in all without a budget.
        let value = "a".repeat(1 << 20);
        let budget = 1_000_000;
        for all in [true, false] {
            let (result, spent) =
                used(budget, |steps| super::replace(&value, &pat("a*b"), "x", all, usize::MAX, steps));
            assert_eq!(result, Err(Refused::TooComplex));
            assert_eq!(spent, budget, "the budget is used up, not exceeded");
        }
    }

    #[test]
    fn anchored_trims_of_a_long_value_are_linear() {
        // A trim matches from one end only, so it reads the value at most once per token.
        let value = "a".repeat(1 << 20);
        let len = u64::try_from(value.len()).expect("fits");
        let (result, spent) = used(u64::MAX, |steps| super::trim_suffix(&value, &pat("*x"), true, steps));
        assert_eq!(result.as_deref(), Ok(value.as_str()));
        assert!(spent <= 3, "{spent}: `x` does not match the last character");
        let (result, spent) = used(u64::MAX, |steps| super::trim_prefix(&value, &pat("a*"), true, steps));
        assert_eq!(result.as_deref(), Ok(""));
        assert!(spent <= 3 * len, "{spent}");
        let (result, spent) = used(u64::MAX, |steps| super::trim_suffix(&value, &pat("*a"), false, steps));
        assert_eq!(result.as_deref(), Ok(&value[1..]));
        assert!(spent <= 3, "{spent}");
    }

    #[test]
    fn ordinary_replacements_take_few_steps() {
        let value = "/usr/local/bin:".repeat(1000);
        let len = u64::try_from(value.len()).expect("fits");
        let (result, spent) = used(u64::MAX, |steps| super::replace(&value, &pat(":"), ";", true, usize::MAX, steps));
        assert_eq!(result.map(|out| out.matches(';').count()), Ok(1000));
        assert!(spent <= 2 * len, "{spent}");
        let (result, spent) = used(u64::MAX, |steps| super::replace(&value, &pat("/*/"), "", false, usize::MAX, steps));
        assert_eq!(result.map(|out| out.len()), Ok(4), "`/` to the last `/`, leaving `bin:`");
        assert!(spent <= 4 * len, "{spent}");
    }
}

//! One pattern compiled as moby/patternmatcher compiles it, and matched against a cleaned path.
//!
//! Docker sorts each pattern into one of four kinds, and the kind is observable: a pattern whose
//! only wildcard is a leading `**` is compared as a plain suffix (so `**foo` matches `barfoo`),
//! while `**foo*` goes through the regexp, where a leading `**` means "any directories" and does
//! not match `bar` in front of `foo`. We keep the same four kinds. The regexp kind is matched by
//! a small NFA over [`Token`]s instead of a regexp engine: patterns never need more, and the
//! simulation is linear in the path length whatever the pattern.

use crate::error::SyntaxProblem;

/// A compiled pattern (without its `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    /// No wildcard at all: the path must equal the text.
    Exact(String),
    /// Literal text and a final `**`: the path must start with the text.
    Prefix(String),
    /// A leading `**` and otherwise literal text (Docker's `suffixMatch`): the path must end with
    /// the text, or, when it starts with `/`, equal the text after that `/`.
    Suffix(String),
    /// Anything else, as a sequence of tokens.
    Tokens(Vec<Token>),
}

/// One element of a [`Glob::Tokens`] pattern, with the regexp Docker generates for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A literal character (`\x` escapes included).
    Literal(char),
    /// `?`, Docker's `[^/]`.
    AnyChar,
    /// `[...]`; like Docker's regexp (and `filepath.Match`) it may match `/`.
    Class(Class),
    /// `*`, Docker's `[^/]*`.
    AnyRun,
    /// `**` at the end of the pattern, Docker's `.*`.
    AnyTail,
    /// `**` (and a `/` right after it) elsewhere, Docker's `(.*/)?`: nothing, or anything ending in `/`.
    AnyDirs,
}

/// A bracket expression: ranges of characters, possibly negated with `^`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

impl Token {
    /// Whether the token can match nothing, i.e. its NFA state has an ε-edge to the next one.
    fn may_be_empty(&self) -> bool {
        matches!(self, Self::AnyRun | Self::AnyTail | Self::AnyDirs)
    }
}

/// The kind Docker's `compile` detects while scanning the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Tokens,
}

/// Compiles a cleaned pattern (without `!`). Rejects what Go's `filepath.Match` rejects, and
/// reversed class ranges, which Docker's regexp compiler rejects when the pattern is first used.
pub(crate) fn compile(pattern: &str) -> Result<Glob, SyntaxProblem> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut kind = Kind::Exact;
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let at_start = pos == 0;
        let c = chars[pos];
        pos += 1;
        match c {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                // `**/` is treated as `**`.
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                if pos == chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        tokens.push(Token::AnyTail);
                        kind = Kind::Tokens;
                    }
                } else {
                    tokens.push(Token::AnyDirs);
                    kind = Kind::Tokens;
                }
                if at_start {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::AnyRun);
                kind = Kind::Tokens;
            }
            '?' => {
                tokens.push(Token::AnyChar);
                kind = Kind::Tokens;
            }
            '\\' => {
                let escaped = *chars.get(pos).ok_or(SyntaxProblem::TrailingBackslash)?;
                pos += 1;
                tokens.push(Token::Literal(escaped));
                kind = Kind::Tokens;
            }
            '[' => {
                let (class, next) = parse_class(&chars, pos)?;
                pos = next;
                tokens.push(Token::Class(class));
                kind = Kind::Tokens;
            }
            ']' => {
                tokens.push(Token::Literal(']'));
                kind = Kind::Tokens;
            }
            _ => tokens.push(Token::Literal(c)),
        }
    }
    Ok(match kind {
        Kind::Exact => Glob::Exact(pattern.to_owned()),
        // Both shortcuts strip an ASCII `**`, so the byte slicing is on a char boundary.
        Kind::Prefix => Glob::Prefix(pattern[..pattern.len() - 2].to_owned()),
        Kind::Suffix => Glob::Suffix(pattern[2..].to_owned()),
        Kind::Tokens => Glob::Tokens(tokens),
    })
}

/// Parses a class whose `[` ends just before `pos`, with `filepath.Match`'s rules: an optional
/// `^`, then one or more characters or `lo-hi` ranges (`\` escapes), then `]`. Returns the
/// class and the position after its `]`.
fn parse_class(chars: &[char], mut pos: usize) -> Result<(Class, usize), SyntaxProblem> {
    let negated = chars.get(pos) == Some(&'^');
    if negated {
        pos += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(pos) == Some(&']') && !ranges.is_empty() {
            return Ok((Class { negated, ranges }, pos + 1));
        }
        let (lo, next) = class_char(chars, pos)?;
        pos = next;
        let mut hi = lo;
        if chars.get(pos) == Some(&'-') {
            (hi, pos) = class_char(chars, pos + 1)?;
        }
        if hi < lo {
            return Err(SyntaxProblem::ReversedRange { start: lo, end: hi });
        }
        ranges.push((lo, hi));
    }
}

/// Reads one (possibly escaped) class character at `pos`, like Go's `getEsc`: it may not be a
/// bare `-` or `]`, and the class must go on after it.
fn class_char(chars: &[char], mut pos: usize) -> Result<(char, usize), SyntaxProblem> {
    let mut c = *chars.get(pos).ok_or(SyntaxProblem::UnclosedClass)?;
    if c == '-' || c == ']' {
        return Err(SyntaxProblem::MisplacedClassChar);
    }
    if c == '\\' {
        pos += 1;
        c = *chars.get(pos).ok_or(SyntaxProblem::UnclosedClass)?;
    }
    pos += 1;
    if pos >= chars.len() {
        return Err(SyntaxProblem::UnclosedClass);
    }
    Ok((c, pos))
}

impl Glob {
    /// Whether the whole of `path` matches (no parent-directory logic here).
    pub(crate) fn is_match(&self, path: &str) -> bool {
        match self {
            Self::Exact(text) => path == text,
            Self::Prefix(text) => path.starts_with(text.as_str()),
            Self::Suffix(text) => {
                path.ends_with(text.as_str()) || text.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Self::Tokens(tokens) => run_nfa(tokens, path),
        }
    }
}

/// Simulates the NFA whose state `i` is "about to match `tokens[i]`" and whose last state
/// accepts. `AnyDirs` has a second, inner state (inside its `.*`, which may only be left
/// through a `/`), kept in `inner`.
fn run_nfa(tokens: &[Token], path: &str) -> bool {
    let n = tokens.len();
    let mut active = vec![false; n + 1];
    let mut inner = vec![false; n];
    let mut next_active = vec![false; n + 1];
    let mut next_inner = vec![false; n];
    active[0] = true;
    close(tokens, &mut active);
    for c in path.chars() {
        next_active.fill(false);
        next_inner.fill(false);
        for (i, token) in tokens.iter().enumerate() {
            let (here, in_dirs) = (active[i], inner[i]);
            if !here && !in_dirs {
                continue;
            }
            match token {
                Token::Literal(l) => next_active[i + 1] |= here && c == *l,
                Token::AnyChar => next_active[i + 1] |= here && c != '/',
                Token::Class(class) => next_active[i + 1] |= here && class.contains(c),
                Token::AnyRun => next_active[i] |= here && c != '/',
                Token::AnyTail => next_active[i] = true,
                Token::AnyDirs => {
                    next_inner[i] = true;
                    next_active[i + 1] |= c == '/';
                }
            }
        }
        close(tokens, &mut next_active);
        std::mem::swap(&mut active, &mut next_active);
        std::mem::swap(&mut inner, &mut next_inner);
        if !active.iter().chain(inner.iter()).any(|&on| on) {
            return false;
        }
    }
    active[n]
}

/// Follows ε-edges; they only go from a token that may be empty to the next, so one forward
/// sweep reaches the closure.
fn close(tokens: &[Token], states: &mut [bool]) {
    for (i, token) in tokens.iter().enumerate() {
        if states[i] && token.may_be_empty() {
            states[i + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Glob, Token, compile, run_nfa};
    use proptest::prelude::*;

    /// A direct backtracking reading of Docker's regexps, exponential but obviously right.
    fn reference(tokens: &[Token], path: &[char]) -> bool {
        let Some((token, rest)) = tokens.split_first() else {
            return path.is_empty();
        };
        let one = |ok: bool| ok && reference(rest, &path[1..]);
        match token {
            Token::Literal(l) => path.first().is_some_and(|c| one(c == l)),
            Token::AnyChar => path.first().is_some_and(|&c| one(c != '/')),
            Token::Class(class) => path.first().is_some_and(|&c| one(class.contains(c))),
            // `[^/]*`: any run without `/`.
            Token::AnyRun => {
                (0..=path.len()).take_while(|&n| !path[..n].contains(&'/')).any(|n| reference(rest, &path[n..]))
            }
            // `.*`
            Token::AnyTail => (0..=path.len()).any(|n| reference(rest, &path[n..])),
            // `(.*/)?`: nothing, or any run ending in `/`.
            Token::AnyDirs => {
                reference(rest, path) || (1..=path.len()).any(|n| path[n - 1] == '/' && reference(rest, &path[n..]))
            }
        }
    }

    proptest! {
        #[test]
        fn nfa_agrees_with_backtracking(
            pattern in "[ab/*?]{0,8}",
            path in "[ab/]{0,8}",
        ) {
            if let Ok(Glob::Tokens(tokens)) = compile(&pattern) {
                let chars: Vec<char> = path.chars().collect();
                prop_assert_eq!(run_nfa(&tokens, &path), reference(&tokens, &chars));
            }
        }
    }

    /// Match kinds Docker assigns, from moby/patternmatcher's `TestCompile` (`compileTests`).
    #[test]
    fn kinds_match_docker() {
        let cases = [
            ("*", "tokens"),
            ("file*", "tokens"),
            ("**", "suffix"),
            ("**/**", "tokens"),
            ("dir/**", "prefix"),
            ("**/dir", "suffix"),
            ("**/dir2/*", "tokens"),
            ("**/dir2/**", "tokens"),
            ("**file", "suffix"),
            ("**/file*txt", "tokens"),
            ("a[b-d]e", "tokens"),
            (".*", "tokens"),
            ("abc.def", "exact"),
            ("abc?def", "tokens"),
            ("**/foo/bar", "suffix"),
            ("a(b)c/def", "exact"),
            ("a.|)$(}+{bc", "exact"),
        ];
        for (pattern, want) in cases {
            let kind = match compile(pattern) {
                Ok(Glob::Exact(_)) => "exact",
                Ok(Glob::Prefix(_)) => "prefix",
                Ok(Glob::Suffix(_)) => "suffix",
                Ok(Glob::Tokens(_)) => "tokens",
                Err(_) => "error",
            };
            assert_eq!(kind, want, "pattern {pattern:?}");
        }
    }
}

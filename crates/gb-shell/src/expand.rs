//! The expander: one left-to-right pass over a word that removes quotes, applies escapes and substitutes variables.
//!
//! The structure follows BuildKit's `shellWord`: a word is read until the end
//! of input or a stop character (`}` closing a substitution, `/` ending a
//! replacement pattern), and quotes and substitutions recurse. Positions are
//! byte offsets that only ever move by whole characters, so slicing never
//! splits a character.

use std::collections::BTreeSet;

use crate::env::Env;
use crate::error::ExpandError;
use crate::pattern::{self, Pattern, Refused, Steps};
use crate::split::Splitter;

/// How deeply `${…}` may nest inside one another before expansion gives up
/// with [`ExpandError::NestedTooDeep`].
pub const MAX_NESTING: usize = 64;

/// The most bytes one word may expand to (1 MiB), unless the word itself is longer: then it
/// may expand to its own length, so literal text is never refused.
///
/// Without a bound, a chain of variables that each double the last (`A1=${A0}${A0}`, …)
/// grows exponentially in the number of lines: 40 lines ask for terabytes. Every append to a
/// word, and every replacement of `${V//p/r}`, is checked before it allocates, so expansion
/// never holds more than about this much per open word.
pub const MAX_WORD_BYTES: usize = 1 << 20;

/// How many steps the patterns of one word (`${V#p}`, `${V%p}`, `${V/p/r}`) may take to match,
/// a step being one pattern token tried against one character.
///
/// Trimming reads the value at most once per token, but `${V//p/r}` tries the pattern from
/// every position, so a 1 MiB value and `${V//a*b/x}` would take about 10^12 steps, hours of
/// CPU. Real Dockerfiles take thousands, and a trim or a literal replacement on a 1 MiB value
/// a few million; 10^7 steps take well under a second.
pub const MAX_MATCH_STEPS: u64 = 10_000_000;

/// The state of one expansion.
pub(crate) struct Expander<'a> {
    src: &'a str,
    pos: usize,
    escape: char,
    env: &'a dyn Env,
    /// How many `${` are open around the current position.
    depth: usize,
    /// The most bytes any word being built may hold (see [`MAX_WORD_BYTES`]).
    limit: usize,
    /// What pattern matching may still spend (see [`MAX_MATCH_STEPS`]), shared by all the
    /// patterns of the word so that repeating one does not multiply the bound.
    steps: Steps,
    /// Names looked up and found set.
    pub(crate) matched: BTreeSet<String>,
    /// Names looked up and found unset.
    pub(crate) unmatched: BTreeSet<String>,
}

/// How a word treats the escape character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escapes {
    /// The escape character is removed and quotes the next one.
    Apply,
    /// The escape character is kept along with the next one, so that a
    /// pattern (`${V#p}`, `${V/p/r}`) can still tell `\*` from `*` after
    /// expansion. BuildKit keeps them in the replacement `r` too.
    Keep,
}

impl<'a> Expander<'a> {
    pub(crate) fn new(src: &'a str, escape: char, env: &'a dyn Env) -> Self {
        let limit = MAX_WORD_BYTES.max(src.len());
        Self {
            src,
            pos: 0,
            escape,
            env,
            depth: 0,
            limit,
            steps: Steps::new(MAX_MATCH_STEPS),
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        }
    }

    /// Appends `text` to `out` unless that takes `out` past the limit; `offset` is where the
    /// construct that produced `text` starts, for the error.
    fn append(&self, out: &mut String, text: &str, offset: usize) -> Result<(), ExpandError> {
        if out.len().saturating_add(text.len()) > self.limit {
            return Err(ExpandError::TooLong { offset });
        }
        out.push_str(text);
        Ok(())
    }

    /// Appends one character of the word's own text, which only a word already filled by
    /// substitutions can take past the limit.
    fn append_char(&self, out: &mut String, ch: char, offset: usize) -> Result<(), ExpandError> {
        if out.len() + ch.len_utf8() > self.limit {
            return Err(ExpandError::TooLong { offset });
        }
        out.push(ch);
        Ok(())
    }

    /// Expands the whole word; feeds `splitter` when one is given.
    pub(crate) fn run(&mut self, splitter: Option<&mut Splitter>) -> Result<String, ExpandError> {
        let (word, _) = self.word(None, Escapes::Apply, splitter)?;
        Ok(word)
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    /// Consumes `ch` if it comes next.
    fn eat(&mut self, ch: char) -> bool {
        let found = self.peek() == Some(ch);
        if found {
            self.pos += ch.len_utf8();
        }
        found
    }

    /// Reads a word that must end with `stop`; `missing` is the error when
    /// the input ends first.
    fn word_until(&mut self, stop: char, escapes: Escapes, missing: ExpandError) -> Result<String, ExpandError> {
        match self.word(Some(stop), escapes, None)? {
            (word, true) => Ok(word),
            (_, false) => Err(missing),
        }
    }

    /// Reads up to `stop` (consumed) or the end of input, and says which one
    /// ended the word.
    fn word(
        &mut self,
        stop: Option<char>,
        escapes: Escapes,
        mut splitter: Option<&mut Splitter>,
    ) -> Result<(String, bool), ExpandError> {
        let mut out = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.bump();
                return Ok((out, true));
            }
            let start = self.pos;
            // Each piece is checked against the limit before the splitter copies it too, so
            // the splitter never holds more than the word.
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    self.append(&mut out, &value, start)?;
                    if let Some(split) = splitter.as_deref_mut() {
                        split.splittable_str(&value);
                    }
                }
                '\'' | '"' => {
                    let quoted = if ch == '\'' { self.single_quoted()? } else { self.double_quoted(escapes)? };
                    self.append(&mut out, &quoted, start)?;
                    if let Some(split) = splitter.as_deref_mut() {
                        split.raw_str(&quoted);
                    }
                }
                _ if ch == self.escape => {
                    self.bump();
                    if escapes == Escapes::Keep {
                        self.append_char(&mut out, ch, start)?;
                    }
                    // An escape at the very end escapes nothing and vanishes.
                    let Some(next) = self.bump() else { break };
                    self.append_char(&mut out, next, start)?;
                    if let Some(split) = splitter.as_deref_mut() {
                        split.raw_char(next);
                    }
                }
                _ => {
                    self.bump();
                    self.append_char(&mut out, ch, start)?;
                    if let Some(split) = splitter.as_deref_mut() {
                        split.splittable_char(ch);
                    }
                }
            }
        }
        Ok((out, false))
    }

    /// `'…'`: everything up to the next `'` is literal; nothing escapes `'`.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let start = self.pos;
        self.bump();
        let rest = &self.src[self.pos..];
        let len = rest.find('\'').ok_or(ExpandError::UnterminatedSingleQuote { offset: start })?;
        let text = rest[..len].to_owned();
        self.pos += len + 1;
        Ok(text)
    }

    /// `"…"`: substitutions happen; the escape character quotes only `"`,
    /// `$` and itself, and is literal before anything else.
    fn double_quoted(&mut self, escapes: Escapes) -> Result<String, ExpandError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedDoubleQuote { offset: start }),
                Some('"') => {
                    self.bump();
                    return Ok(out);
                }
                Some('$') => {
                    let at = self.pos;
                    let value = self.dollar()?;
                    self.append(&mut out, &value, at)?;
                }
                Some(ch) => {
                    let at = self.pos;
                    self.bump();
                    if ch != self.escape {
                        self.append_char(&mut out, ch, at)?;
                        continue;
                    }
                    if escapes == Escapes::Keep {
                        self.append_char(&mut out, ch, at)?;
                    }
                    match self.peek() {
                        // Input ends inside the quotes: the next turn reports it.
                        None => {}
                        Some(next) if next == '"' || next == '$' || next == self.escape => {
                            self.bump();
                            self.append_char(&mut out, next, at)?;
                        }
                        // A literal escape character. When escapes are kept it
                        // is doubled, so that a pattern sees a literal one.
                        Some(_) => self.append_char(&mut out, ch, at)?,
                    }
                }
            }
        }
    }

    /// A `$` and what follows it.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        let start = self.pos;
        self.bump();
        if !self.eat('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        if self.depth == MAX_NESTING {
            return Err(ExpandError::NestedTooDeep { offset: start });
        }
        self.depth += 1;
        let value = self.braced(start);
        self.depth -= 1;
        value
    }

    /// `${…}` after the `{`; `start` is the offset of the `$`.
    fn braced(&mut self, start: usize) -> Result<String, ExpandError> {
        let missing = ExpandError::MissingClosingBrace { offset: start };
        match self.peek() {
            None => return Err(missing),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution { offset: start }),
            Some(_) => {}
        }
        let name = self.name();
        let unsupported = |modifier: String| ExpandError::UnsupportedModifier { modifier, offset: start };
        match self.bump() {
            None => Err(missing),
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(':') => match self.bump() {
                None => Err(missing),
                // BuildKit accepts `:#` and `:%` as plain `#` and `%`.
                Some(op @ ('-' | '+' | '?' | '#' | '%')) => self.modifier(&name, op, true, start),
                Some('}') => Err(unsupported(":".to_owned())),
                Some(other) => Err(unsupported(format!(":{other}"))),
            },
            Some(op @ ('-' | '+' | '?' | '#' | '%')) => self.modifier(&name, op, false, start),
            Some('/') => self.replace(&name, start),
            Some(other) => Err(unsupported(other.to_string())),
        }
    }

    /// `${name<op>word}` after the operator; `colon` when it was written
    /// `:<op>`, which makes an empty value count as unset.
    fn modifier(&mut self, name: &str, op: char, colon: bool, start: usize) -> Result<String, ExpandError> {
        let is_trim = op == '#' || op == '%';
        // `##` and `%%` are recognised where they are written. BuildKit
        // instead checks the first character of the expanded pattern, so
        // there `${V#'#'}` and `${V#$X}` with X=`#…` are read as `##`.
        let longest = is_trim && self.eat(op);
        let escapes = if is_trim { Escapes::Keep } else { Escapes::Apply };
        // The word is expanded even when its value is not used, so that the
        // variables it names are reported, as BuildKit does.
        let word = self.word_until('}', escapes, ExpandError::MissingClosingBrace { offset: start })?;
        let value = self.lookup(name);
        let missing = match &value {
            None => true,
            Some(value) => colon && value.is_empty(),
        };
        match op {
            '-' if missing => Ok(word),
            '+' if missing => Ok(String::new()),
            '+' => Ok(word),
            '?' if missing => {
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".to_owned()
                } else {
                    "is not allowed to be empty".to_owned()
                };
                Err(ExpandError::RequiredVariable { name: name.to_owned(), message, offset: start })
            }
            '#' => {
                let pattern = Pattern::parse(&word, self.escape);
                pattern::trim_prefix(&value.unwrap_or_default(), &pattern, longest, &mut self.steps)
                    .map_err(|refused| refused_error(refused, start))
            }
            '%' => {
                let pattern = Pattern::parse(&word, self.escape);
                pattern::trim_suffix(&value.unwrap_or_default(), &pattern, longest, &mut self.steps)
                    .map_err(|refused| refused_error(refused, start))
            }
            _ => Ok(value.unwrap_or_default()),
        }
    }

    /// `${name/pattern/replacement}` or `${name//pattern/replacement}` after
    /// the first `/`.
    fn replace(&mut self, name: &str, start: usize) -> Result<String, ExpandError> {
        let all = self.eat('/');
        let pattern = self.word_until('/', Escapes::Keep, ExpandError::MissingPatternSlash { offset: start })?;
        let replacement = self.word_until('}', Escapes::Keep, ExpandError::MissingClosingBrace { offset: start })?;
        let value = self.lookup(name).unwrap_or_default();
        let pattern = Pattern::parse(&pattern, self.escape);
        // Replacing every character of a long value with a long replacement multiplies their
        // lengths, so the replacement stops at the limit rather than after it.
        pattern::replace(&value, &pattern, &replacement, all, self.limit, &mut self.steps)
            .map_err(|refused| refused_error(refused, start))
    }

    /// A parameter name: a run of digits (positional), one special
    /// character (`@ * # ? - $ !`), or letters, digits and `_`. Empty when
    /// none of these comes next.
    fn name(&mut self) -> String {
        let start = self.pos;
        match self.peek() {
            Some(ch) if ch.is_numeric() => {
                while self.peek().is_some_and(char::is_numeric) {
                    self.bump();
                }
            }
            Some('@' | '*' | '#' | '?' | '-' | '$' | '!') => {
                self.bump();
            }
            _ => {
                while self.peek().is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
                    self.bump();
                }
            }
        }
        self.src[start..self.pos].to_owned()
    }

    /// Looks `name` up and records whether it was set. An empty name (as in
    /// `${+w}`, which BuildKit accepts) is always unset and not recorded.
    fn lookup(&mut self, name: &str) -> Option<String> {
        if name.is_empty() {
            return None;
        }
        let value = self.env.lookup(name);
        let seen = if value.is_some() { &mut self.matched } else { &mut self.unmatched };
        seen.insert(name.to_owned());
        value
    }
}

/// The error for a pattern operation of the substitution at `offset` that gave up.
fn refused_error(refused: Refused, offset: usize) -> ExpandError {
    match refused {
        Refused::TooLong => ExpandError::TooLong { offset },
        Refused::TooComplex => ExpandError::TooComplex { offset },
    }
}

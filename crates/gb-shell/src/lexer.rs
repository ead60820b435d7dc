//! The public face of expansion: [`Lexer`], its results, and [`escape_literal`].

use std::collections::BTreeSet;

use crate::env::Env;
use crate::error::ExpandError;
use crate::expand::Expander;
use crate::split::Splitter;

/// Expands Dockerfile words the way BuildKit's `shell.Lex` does.
///
/// A lexer only holds the escape character, which a Dockerfile chooses with
/// its `# escape=` directive: `\` by default, `` ` `` on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
}

/// The result of [`Lexer::expand_word`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes removed, escapes applied and variables substituted.
    pub value: String,
    /// Variables the word referred to that were set (possibly to "").
    pub matched: BTreeSet<String>,
    /// Variables the word referred to that were unset.
    pub unmatched: BTreeSet<String>,
}

/// The result of [`Lexer::expand_words`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordsExpansion {
    /// The expanded words, split on unquoted, unescaped whitespace.
    pub words: Vec<String>,
    /// Variables the input referred to that were set (possibly to "").
    pub matched: BTreeSet<String>,
    /// Variables the input referred to that were unset.
    pub unmatched: BTreeSet<String>,
}

impl Default for Lexer {
    /// A lexer with the default escape character, `\`.
    fn default() -> Self {
        Self::new('\\')
    }
}

impl Lexer {
    /// A lexer whose escape character is `escape`: `\` or `` ` ``.
    ///
    /// Other characters work too, except that `$`, `'` and `"` keep their own
    /// meaning and so can never act as the escape.
    pub fn new(escape: char) -> Self {
        Self { escape }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands one word as BuildKit's `ProcessWord`: quotes removed, escapes
    /// applied, variables expanded, no field splitting.
    ///
    /// Every variable referred to is reported in `matched` or `unmatched`,
    /// including those in modifier words whose value ends up unused (the `w`
    /// of `${V:-w}` when `V` is set).
    pub fn expand_word(&self, word: &str, env: &dyn Env) -> Result<Expansion, ExpandError> {
        let mut expander = Expander::new(word, self.escape, env);
        let value = expander.run(None)?;
        Ok(Expansion { value, matched: expander.matched, unmatched: expander.unmatched })
    }

    /// Expands and splits into words as BuildKit's `ProcessWords` (used for
    /// `EXPOSE`, `FROM` and similar lists).
    ///
    /// Whitespace in plain text and in the values of substitutions (even
    /// those written inside a modifier's quotes, as in `${V:-"a b"}`)
    /// separates words; whitespace inside quotes or after the escape
    /// character does not. Empty words are dropped, so `""` yields none.
    pub fn expand_words(&self, word: &str, env: &dyn Env) -> Result<WordsExpansion, ExpandError> {
        let mut expander = Expander::new(word, self.escape, env);
        let mut splitter = Splitter::default();
        expander.run(Some(&mut splitter))?;
        Ok(WordsExpansion { words: splitter.finish(), matched: expander.matched, unmatched: expander.unmatched })
    }
}

/// Escapes `value` so that [`Lexer::expand_word`] with the same escape
/// character gives it back unchanged, whatever the environment.
///
/// Escapes `$`, `'`, `"`, `}` and the escape character itself. `}` is escaped
/// so that the result can also stand as the word of `${V:-…}`, `${V:+…}` or
/// `${V?…}`. Whitespace is left alone, so [`Lexer::expand_words`] still
/// splits the result. Needs an escape character other than `$`, `'` or `"`.
pub fn escape_literal(value: &str, escape: char) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if matches!(ch, '$' | '\'' | '"' | '}') || ch == escape {
            out.push(escape);
        }
        out.push(ch);
    }
    out
}

//! Just enough of BuildKit's shell lexer (`shell.Lex`, escape `\`, empty environment,
//! unset variables kept verbatim) to find heredoc markers the way BuildKit does: where
//! words begin and end, what a word reads as with or without its quotes, and which lines
//! fail to lex (BuildKit then finds no heredocs on them at all).
//!
//! Variable expansion is never performed: with no environment and `SkipUnsetEnv`, BuildKit
//! writes every reference back as it was written, so we only need its syntax checks.

use super::quote::is_space;

/// `${...}` nesting the lexer follows before giving up; BuildKit's goroutine stacks grow
/// without bound, ours do not, and real Dockerfiles never come close.
const MAX_NESTING: usize = 64;

const ESCAPE: char = '\\';

/// A word and the byte offset, in the lexed input, of the character that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexWord {
    pub text: String,
    pub start: usize,
}

/// Splits `input` into shell words. `raw_quotes` keeps quote characters in the words,
/// `raw_escapes` keeps escape characters.
pub(crate) fn split_words(input: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<LexWord>, String> {
    let mut lexer =
        Lexer { chars: input.char_indices().collect(), end: input.len(), i: 0, raw_quotes, raw_escapes, depth: 0 };
    lexer.stop_on(None, raw_escapes).map(|(_, words)| words)
}

/// Accumulates words the way BuildKit's `wordsStruct` does, including its quirk that an
/// empty quoted string marks a word as started without giving it any text.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<LexWord>,
    in_word: bool,
    start: usize,
}

impl Words {
    fn add_char(&mut self, ch: char, pos: usize) {
        if is_space(ch) {
            if self.in_word && !self.word.is_empty() {
                self.words.push(LexWord { text: std::mem::take(&mut self.word), start: self.start });
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch, pos);
        }
    }

    fn add_raw_char(&mut self, ch: char, pos: usize) {
        if !self.in_word {
            self.start = pos;
        }
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str, pos: usize) {
        for ch in s.chars() {
            self.add_char(ch, pos);
        }
    }

    fn add_raw_string(&mut self, s: &str, pos: usize) {
        if !self.in_word {
            self.start = pos;
        }
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<LexWord> {
        if !self.word.is_empty() {
            self.words.push(LexWord { text: self.word, start: self.start });
        }
        self.words
    }
}

struct Lexer {
    chars: Vec<(usize, char)>,
    end: usize,
    i: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    depth: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|&(_, c)| c)
    }

    fn pos(&self) -> usize {
        self.chars.get(self.i).map_or(self.end, |&(p, _)| p)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.i += 1;
        }
        c
    }

    /// BuildKit's `processStopOn`: reads up to `stop` (or the end when `None`), returning
    /// the processed text and the words found in it.
    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<LexWord>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let result = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<LexWord>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            let pos = self.pos();
            if Some(ch) == stop {
                self.bump();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    words.add_string(&text, pos);
                }
                '\'' => {
                    let text = self.single_quote()?;
                    result.push_str(&text);
                    words.add_raw_string(&text, pos);
                }
                '"' => {
                    let text = self.double_quote()?;
                    result.push_str(&text);
                    words.add_raw_string(&text, pos);
                }
                '<' => {
                    let text = self.possible_heredoc();
                    result.push_str(&text);
                    words.add_raw_string(&text, pos);
                }
                _ => {
                    self.bump();
                    if ch == ESCAPE {
                        if self.raw_escapes {
                            words.add_raw_char(ch, pos);
                            result.push(ch);
                        }
                        let next_pos = self.pos();
                        let Some(next) = self.bump() else { break };
                        words.add_raw_char(next, next_pos);
                        result.push(next);
                    } else {
                        words.add_char(ch, pos);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!("unexpected end of statement while looking for matching {stop}"));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        if let Some(q) = self.bump().filter(|_| self.raw_quotes) {
            out.push(q);
        }
        loop {
            match self.bump() {
                None => {
                    return Err("unexpected end of statement while looking for matching single-quote".to_string());
                }
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        if let Some(q) = self.bump().filter(|_| self.raw_quotes) {
            out.push(q);
        }
        loop {
            match self.peek() {
                None => {
                    return Err("unexpected end of statement while looking for matching double-quote".to_string());
                }
                Some('"') => {
                    self.bump();
                    if self.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let Some(mut c) = self.bump() else { continue };
                    if c == ESCAPE {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | ESCAPE) => {
                                if let Some(next) = self.bump() {
                                    c = next;
                                }
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `<<` swallows the blanks after it so `<< EOF` stays one word, as in BuildKit.
    fn possible_heredoc(&mut self) -> String {
        self.bump();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.bump();
        let mut out = "<<".to_string();
        while let Some(c @ (' ' | '\t')) = self.peek() {
            out.push(c);
            self.bump();
        }
        out
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.bump();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.bump();
                name.push(c);
                return name;
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            self.bump();
            name.push(c);
        }
        name
    }

    /// A `$` reference, written back unexpanded; only its syntax errors matter.
    fn dollar(&mut self) -> Result<String, String> {
        self.bump();
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(format!("${name}"));
        }
        self.bump();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let modifier = self.bump();
        let mut modifier_text: String = modifier.map_or('\u{fffd}', |c| c).to_string();
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err("syntax error: substitutions nested too deeply".to_string());
        }
        let result = match modifier {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut op = modifier;
                if modifier == Some(':') {
                    op = self.bump();
                    modifier_text.push(op.map_or('\u{fffd}', |c| c));
                }
                let raw = matches!(op, Some('#' | '%'));
                match self.stop_on(Some('}'), raw) {
                    Ok((word, _)) => Ok(format!("${{{name}{modifier_text}{word}}}")),
                    Err(_) if self.peek().is_none() => Err("syntax error: missing '}'".to_string()),
                    Err(e) => Err(e),
                }
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.bump();
                }
                match self.stop_on(Some('/'), true) {
                    Ok((pattern, _)) => match self.stop_on(Some('}'), true) {
                        Ok((replacement, _)) => Ok(format!("${{{name}/{pattern}/{replacement}}}")),
                        Err(_) if self.peek().is_none() => Err("syntax error: missing '}'".to_string()),
                        Err(e) => Err(e),
                    },
                    Err(_) if self.peek().is_none() => Err("syntax error: missing '/' in ${}".to_string()),
                    Err(e) => Err(e),
                }
            }
            _ => Err(format!("unsupported modifier ({modifier_text}) in substitution")),
        };
        self.depth -= 1;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Vec<String> {
        split_words(s, true, true).unwrap_or_default().into_iter().map(|w| w.text).collect()
    }

    fn cooked(s: &str) -> Vec<String> {
        split_words(s, false, false).unwrap_or_default().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn raw_words_keep_text() {
        assert_eq!(raw("RUN <<EOF bash"), ["RUN", "<<EOF", "bash"]);
        assert_eq!(raw("RUN <<  EOF  > foo"), ["RUN", "<<  EOF", ">", "foo"]);
        assert_eq!(raw("RUN \"<<EOF\" '<<X'"), ["RUN", "\"<<EOF\"", "'<<X'"]);
        assert_eq!(raw("a\\ b ${X:-y z}"), ["a\\ b", "${X:-y", "z}"]);
        assert!(split_words("RUN 'x", true, true).is_err());
        assert!(split_words("RUN ${X", true, true).is_err());
        assert!(split_words("RUN ${}", true, true).is_err());
    }

    #[test]
    fn cooked_words_drop_quotes() {
        assert_eq!(cooked("'one two'"), ["one two"]);
        assert_eq!(cooked("eo\\'f"), ["eo'f"]);
        assert_eq!(cooked("'e'o\\'f"), ["eo'f"]);
        assert_eq!(cooked("\"a\\\"b\""), ["a\"b"]);
        assert_eq!(cooked("$EOF"), ["$EOF"]);
        assert!(cooked("''").is_empty());
    }

    #[test]
    fn word_starts() {
        let w = split_words("RUN  <<EOF x", true, true).unwrap_or_default();
        let starts: Vec<usize> = w.iter().map(|w| w.start).collect();
        assert_eq!(starts, vec![0, 5, 11]);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "${a:-".repeat(10_000), "}".repeat(10_000));
        assert!(split_words(&deep, true, true).is_err());
    }
}

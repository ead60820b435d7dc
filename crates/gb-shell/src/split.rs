//! Field splitting for `expand_words`: whitespace from plain text and unquoted expansions separates words; quoted and escaped text never does.

/// Accumulates the words of one expansion as its pieces are produced.
///
/// Mirrors BuildKit's rules: an empty quoted string (`""`) marks a word as
/// started but never yields an empty word on its own.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    words: Vec<String>,
    current: String,
    in_word: bool,
}

impl Splitter {
    /// Adds a character that whitespace splitting applies to.
    pub(crate) fn splittable_char(&mut self, ch: char) {
        if !ch.is_whitespace() {
            self.raw_char(ch);
        } else if self.in_word && !self.current.is_empty() {
            self.words.push(std::mem::take(&mut self.current));
            self.in_word = false;
        }
    }

    /// Adds text that whitespace splitting applies to (an unquoted expansion).
    pub(crate) fn splittable_str(&mut self, text: &str) {
        for ch in text.chars() {
            self.splittable_char(ch);
        }
    }

    /// Adds a character that is part of the current word whatever it is.
    pub(crate) fn raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    /// Adds quoted text: part of the current word whatever it holds.
    pub(crate) fn raw_str(&mut self, text: &str) {
        self.current.push_str(text);
        self.in_word = true;
    }

    /// The words, the last one included.
    pub(crate) fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.words.push(self.current);
        }
        self.words
    }
}

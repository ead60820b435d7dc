//! Physical lines as BuildKit's scanner sees them, and joined logical lines that remember
//! where each of their pieces came from in the source.

use std::ops::Range;

use super::error::ParseError;

/// BuildKit reads with a `bufio.Scanner` whose token limit is 64 KiB, so a line of 65536
/// bytes or more (newline excluded) fails the whole parse; we keep that limit.
pub(crate) const MAX_LINE_LEN: usize = 65535;

const BOM: char = '\u{feff}';

/// One line of the source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PhysLine<'a> {
    /// 1-based line number.
    pub number: usize,
    /// Byte offset of `raw` in the source.
    pub start: usize,
    /// The line including its `\n`, if it has one; heredoc bodies keep these bytes.
    pub raw: &'a str,
}

impl<'a> PhysLine<'a> {
    /// The line without trailing `\r`/`\n` characters, as BuildKit's `trimNewline`.
    pub(crate) fn text(&self) -> &'a str {
        self.raw.trim_end_matches(['\r', '\n'])
    }

    /// Byte offset just past `text()`.
    pub(crate) fn end(&self) -> usize {
        self.start + self.text().len()
    }
}

/// Hands out the source's lines one at a time, so the driver can consume continuation
/// and heredoc lines from the same cursor the way BuildKit shares one scanner.
pub(crate) struct Lines<'a> {
    source: &'a str,
    pos: usize,
    number: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        // BuildKit strips the byte-order mark from the first line only; skipping it here
        // keeps every offset pointing into the caller's original string.
        let pos = if source.starts_with(BOM) { BOM.len_utf8() } else { 0 };
        Lines { source, pos, number: 0 }
    }

    pub(crate) fn next_line(&mut self) -> Result<Option<PhysLine<'a>>, ParseError> {
        let Some(rest) = self.source.get(self.pos..).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let raw = &rest[..len];
        self.number += 1;
        let mut content = raw.strip_suffix('\n').unwrap_or(raw).len();
        if self.number == 1 && self.source.starts_with(BOM) {
            content += BOM.len_utf8();
        }
        if content > MAX_LINE_LEN {
            return Err(ParseError::at(
                self.source,
                self.pos..self.pos,
                format!("dockerfile line greater than max allowed size of {MAX_LINE_LEN}"),
            ));
        }
        let line = PhysLine { number: self.number, start: self.pos, raw };
        self.pos += len;
        Ok(Some(line))
    }
}

/// A logical line: the pieces of one or more physical lines joined after continuation
/// characters and comment lines were removed, as BuildKit hands it to its line parsers.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    pub text: String,
    /// `(offset in text, offset in source)` for the start of each piece.
    pieces: Vec<(usize, usize)>,
    /// Where to point when the text is empty.
    origin: usize,
}

impl Joined {
    pub(crate) fn new(origin: usize) -> Self {
        Joined { text: String::new(), pieces: Vec::new(), origin }
    }

    pub(crate) fn push(&mut self, piece: &str, source_offset: usize) {
        if piece.is_empty() {
            return;
        }
        self.pieces.push((self.text.len(), source_offset));
        self.text.push_str(piece);
    }

    /// Maps a byte offset in `text` to the source.
    pub(crate) fn to_source(&self, offset: usize) -> usize {
        let idx = self.pieces.partition_point(|&(t, _)| t <= offset);
        match idx.checked_sub(1).and_then(|i| self.pieces.get(i)) {
            Some(&(t, s)) => s + (offset - t),
            None => self.origin,
        }
    }

    /// Maps a byte range in `text` to the source; a range spanning a join covers the
    /// removed continuation characters too, which is what a reader expects to see marked.
    pub(crate) fn span_to_source(&self, span: Range<usize>) -> Range<usize> {
        let start = self.to_source(span.start);
        let end = if span.end > span.start {
            // Map the last byte rather than the end so the span does not jump to the
            // start of the next piece when it ends exactly at a join.
            self.to_source(span.end - 1) + 1
        } else {
            start
        };
        start..end.max(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_offsets_and_endings() {
        let src = "\u{feff}FROM a\r\nRUN b\nX";
        let mut lines = Lines::new(src);
        let mut got = Vec::new();
        while let Ok(Some(l)) = lines.next_line() {
            got.push((l.number, l.start, l.raw, l.text()));
        }
        assert_eq!(got, vec![(1, 3, "FROM a\r\n", "FROM a"), (2, 11, "RUN b\n", "RUN b"), (3, 17, "X", "X")]);
    }

    #[test]
    fn overlong_line_is_an_error() {
        let src = format!("FROM a\nLABEL x={}\n", "a".repeat(MAX_LINE_LEN));
        let mut lines = Lines::new(&src);
        assert!(lines.next_line().is_ok());
        let err = lines.next_line().err();
        assert_eq!(err.map(|e| e.line), Some(2));
    }

    #[test]
    fn joined_maps_back_to_source() {
        let mut j = Joined::new(0);
        j.push("RUN a ", 0);
        j.push("  b", 9);
        assert_eq!(j.text, "RUN a   b");
        assert_eq!(j.to_source(4), 4);
        assert_eq!(j.to_source(8), 11);
        assert_eq!(j.span_to_source(4..9), 4..12);
    }
}

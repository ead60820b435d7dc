//! The error `parse` returns, and the span-relative error the inner parsers pass upwards.

use std::ops::Range;

/// A Dockerfile the parser rejects, with the place it is about.
///
/// `offset`/`len` are a byte span into the source exactly as passed to `parse` (a UTF-8
/// BOM, if any, included), always on character boundaries and at least one character long
/// unless the source is empty. `line` and `column` are 1-based; the column counts chars,
/// and a BOM on the first line is not counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub len: usize,
}

impl ParseError {
    /// Builds an error for the byte `span` of `source`, snapping it to character
    /// boundaries and widening an empty span to the character under it so a renderer
    /// always has something to underline.
    pub(crate) fn at(source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let mut start = span.start.min(source.len());
        while !source.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = span.end.clamp(start, source.len());
        while !source.is_char_boundary(end) {
            end += 1;
        }
        if end == start
            && let Some(c) = source[start..].chars().next()
        {
            end = start + c.len_utf8();
        }
        let before = &source[..start];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column_from = if line_start == 0 && source.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8().min(start)
        } else {
            line_start
        };
        ParseError {
            message: message.into(),
            line: before.matches('\n').count() + 1,
            column: source[column_from..start].chars().count() + 1,
            offset: start,
            len: end - start,
        }
    }

    /// The span as miette wants it, so a caller can attach the source and render a snippet.
    pub fn span(&self) -> miette::SourceSpan {
        (self.offset, self.len).into()
    }
}

/// An error whose span is relative to the string an inner parser was handed; callers
/// shift it into their own coordinates until the driver maps it onto the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpanError {
    pub message: String,
    pub span: Range<usize>,
}

impl SpanError {
    pub(crate) fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        SpanError { message: message.into(), span }
    }

    /// Moves the span right by `by` bytes, for when the inner string starts at `by`.
    pub(crate) fn shift(self, by: usize) -> Self {
        SpanError { message: self.message, span: self.span.start + by..self.span.end + by }
    }
}

//! The parse loop: reads physical lines, handles directives, comments and continuation
//! lines, builds each instruction's node and reads heredoc bodies after it, mirroring
//! BuildKit's `parser.Parse` so line numbers and edge cases come out the same.

use super::ast::{Ast, Heredoc, Location, Node, Warning};
use super::directives::DirectiveScanner;
use super::error::ParseError;
use super::heredoc;
use super::instruction::node_from_line;
use super::lines::{Joined, Lines};

/// Parses a Dockerfile.
///
/// Never panics; every rejection is a [`ParseError`] pointing into `source`. Location and
/// error offsets index `source` as given (a leading BOM included).
pub fn parse(source: &str) -> Result<Ast, ParseError> {
    let mut lines = Lines::new(source);
    let mut directives = DirectiveScanner::default();
    let mut comments: Vec<String> = Vec::new();
    let mut children = Vec::new();
    let mut warnings = Vec::new();

    while let Some(first) = lines.next_line()? {
        let text = first.text();
        if is_comment(text) {
            // BuildKit drops one byte (not the whitespace before `#`) and trims the rest.
            let after = text.chars().next().map_or("", |c| &text[c.len_utf8()..]);
            let comment = after.trim();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_string());
            }
        }
        let token = text.trim_start();
        let token_at = first.start + (text.len() - token.len());
        let is_directive =
            directives.scan(token).map_err(|e| ParseError::at(source, shift(e.span, token_at), e.message))?;
        if is_directive {
            comments.pop();
        }
        let escape = directives.directives.escape;
        let body = if is_comment(token) { "" } else { token };
        let (piece, mut ended) = trim_continuation(body, escape);
        if ended && piece.is_empty() {
            continue;
        }

        let mut joined = Joined::new(token_at);
        joined.push(piece, token_at);
        let mut location =
            Location { start_line: first.number, end_line: first.number, start: token_at, end: first.end() };
        let mut has_empty_continuation = false;
        while !ended {
            let Some(next) = lines.next_line()? else {
                break;
            };
            location.end_line = next.number;
            location.end = next.end();
            let text = next.text();
            if is_comment(text) {
                continue;
            }
            if text.trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (piece, end_of_line) = trim_continuation(text, escape);
            joined.push(piece, next.start);
            ended = end_of_line;
        }
        let line = joined.text.as_str();
        if has_empty_continuation {
            warnings.push(Warning { message: format!("Empty continuation line found in: {line}"), location });
        }

        let span_error = |e: super::error::SpanError| ParseError::at(source, joined.span_to_source(e.span), e.message);
        let mut node = node_from_line(line, escape, 0).map_err(span_error)?;
        if node.can_contain_heredoc() && line.contains("<<") {
            for marker in heredoc::markers(line).map_err(span_error)? {
                let mut content = String::new();
                let mut terminated = false;
                while let Some(body_line) = lines.next_line()? {
                    location.end_line = body_line.number;
                    location.end = body_line.end();
                    let mut candidate = body_line.text();
                    if marker.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == marker.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(body_line.raw);
                }
                if !terminated {
                    return Err(ParseError::at(
                        source,
                        joined.span_to_source(marker.span),
                        format!("unterminated heredoc {}", marker.name),
                    ));
                }
                node.heredocs.push(Heredoc { name: marker.name, content, expand: marker.expand, chomp: marker.chomp });
            }
        }
        set_location(&mut node, location);
        node.prev_comment = std::mem::take(&mut comments);
        children.push(node);
    }

    if children.is_empty() {
        let first_line = source.split('\n').next().unwrap_or("");
        return Err(ParseError::at(source, 0..first_line.len(), "file with no instructions"));
    }
    Ok(Ast { directives: directives.directives, children, warnings })
}

fn shift(span: std::ops::Range<usize>, by: usize) -> std::ops::Range<usize> {
    span.start + by..span.end + by
}

/// Gives an ONBUILD's wrapped instructions the location of the line they were written on.
fn set_location(node: &mut Node, location: Location) {
    let mut current = Some(node);
    while let Some(n) = current {
        n.location = location;
        current = n.child.as_deref_mut();
    }
}

/// A comment line: `#` after optional whitespace.
fn is_comment(text: &str) -> bool {
    text.trim_start().starts_with('#')
}

/// Strips a trailing continuation character: the escape character followed only by
/// spaces or tabs, and not itself escaped. Returns the remaining text and whether the
/// logical line ends here.
///
/// BuildKit's regular expression `([^E])E[ \t]*$|^E[ \t]*$` treats `\\` at the end of a
/// line as an escaped backslash, not a continuation.
fn trim_continuation(text: &str, escape: char) -> (&str, bool) {
    let trimmed = text.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (text, true);
    };
    match before.chars().last() {
        Some(c) if c == escape => (text, true),
        _ => (before, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", false));
        assert_eq!(trim_continuation("a\\  \t", '\\'), ("a", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
        assert_eq!(trim_continuation("a", '\\'), ("a", true));
    }
}

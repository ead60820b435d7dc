//! Parser directives (`# syntax=`, `# escape=`, `# check=`): recognised only in the leading
//! comment lines of a Dockerfile, before any instruction, blank line or other comment.

use std::ops::Range;

use super::ast::Directives;
use super::error::SpanError;

/// Regex `\s` in Go (RE2) is ASCII `[\t\n\f\r ]`; the directive grammar uses it around
/// `=` and at the end of the value.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{0c}' | '\r' | ' ')
}

/// One directive as written, with spans relative to the line handed to [`parse_line`].
#[derive(Debug, PartialEq, Eq)]
struct Directive<'a> {
    name: String,
    value: &'a str,
    name_span: Range<usize>,
    value_span: Range<usize>,
}

/// Matches BuildKit's `^#` + `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on a line whose
/// leading whitespace is already gone.
fn parse_line(token: &str) -> Option<Directive<'_>> {
    let after_hash = token.strip_prefix('#')?;
    let body = after_hash.trim_start();
    let base = token.len() - body.len();
    let name_len = body
        .char_indices()
        .take_while(|&(i, c)| if i == 0 { c.is_ascii_alphabetic() } else { c.is_ascii_alphanumeric() })
        .count();
    if name_len == 0 {
        return None;
    }
    let after_name = &body[name_len..];
    let after_eq = after_name.trim_start_matches(is_re_space).strip_prefix('=')?;
    let trimmed = after_eq.trim_start_matches(is_re_space);
    let (value, offset_in_after_eq) = if trimmed.is_empty() {
        // The lazy `(.+?)` must take one character, so an all-space value keeps its last
        // space (and is then rejected if it was an escape directive).
        let last = after_eq.chars().last()?;
        let at = after_eq.len() - last.len_utf8();
        (&after_eq[at..], at)
    } else {
        (trimmed.trim_end_matches(is_re_space), after_eq.len() - trimmed.len())
    };
    let value_start = token.len() - after_eq.len() + offset_in_after_eq;
    Some(Directive {
        name: body[..name_len].to_ascii_lowercase(),
        value,
        name_span: base..base + name_len,
        value_span: value_start..value_start + value.len(),
    })
}

/// The `(name, value)` of a directive written in a comment whose `#` is already gone, as
/// BuildKit's `DirectiveParser` with an empty comment prefix reads the comments above an
/// instruction (for `# check=` there). The name is lower-cased; any name is returned.
pub(crate) fn comment_directive(comment: &str) -> Option<(String, String)> {
    let token = format!("#{comment}");
    parse_line(&token).map(|directive| (directive.name, directive.value.to_owned()))
}

/// Tracks whether directives may still appear and which were seen, as BuildKit's
/// `DirectiveParser` does.
#[derive(Debug, Default)]
pub(crate) struct DirectiveScanner {
    done: bool,
    seen: Vec<String>,
    pub(crate) directives: Directives,
}

impl DirectiveScanner {
    /// Looks at one line (newline and leading whitespace removed). Returns whether it was a
    /// directive; the first line that is not ends the directive section for good.
    pub(crate) fn scan(&mut self, token: &str) -> Result<bool, SpanError> {
        if self.done {
            return Ok(false);
        }
        let Some(directive) = parse_line(token) else {
            self.done = true;
            return Ok(false);
        };
        let name = directive.name.as_str();
        if !matches!(name, "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.iter().any(|s| s == name) {
            return Err(SpanError::new(format!("only one {name} parser directive can be used"), directive.name_span));
        }
        self.seen.push(name.to_string());
        match name {
            "escape" => {
                self.directives.escape = match directive.value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(SpanError::new(
                            format!("invalid escape token '{other}' does not match ` or \\"),
                            directive.value_span,
                        ));
                    }
                };
            }
            "syntax" => self.directives.syntax = Some(directive.value.to_string()),
            _ => self.directives.check = Some(directive.value.to_string()),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(token: &str) -> Option<(String, String)> {
        parse_line(token).map(|d| (d.name, d.value.to_string()))
    }

    #[test]
    fn grammar_matches_buildkit() {
        assert_eq!(value("#escape=`"), Some(("escape".into(), "`".into())));
        assert_eq!(value("# ESCAPE = \\  "), Some(("escape".into(), "\\".into())));
        assert_eq!(value("# syntax = docker/dockerfile:1 "), Some(("syntax".into(), "docker/dockerfile:1".into())));
        assert_eq!(value("# escape= "), Some(("escape".into(), " ".into())));
        assert_eq!(value("# escape="), None);
        assert_eq!(value("# 1x=y"), None);
        assert_eq!(value("FROM x"), None);
    }

    #[test]
    fn spans_point_at_the_value() {
        let token = "# escape = x ";
        let d = parse_line(token);
        assert_eq!(d.map(|d| &token[d.value_span]), Some("x"));
        let token = "# escape=  ";
        let d = parse_line(token);
        assert_eq!(d.map(|d| &token[d.value_span]), Some(" "));
    }

    #[test]
    fn scanner_rules() {
        let mut s = DirectiveScanner::default();
        assert_eq!(s.scan("# syntax=a"), Ok(true));
        assert!(s.scan("# syntax=b").is_err());
        let mut s = DirectiveScanner::default();
        assert_eq!(s.scan("# hello"), Ok(false));
        assert_eq!(s.scan("# escape=`"), Ok(false));
        assert_eq!(s.directives.escape, '\\');
        let mut s = DirectiveScanner::default();
        assert!(s.scan("# escape=x").is_err());
    }
}

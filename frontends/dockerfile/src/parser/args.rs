//! Per-instruction argument shapes: BuildKit's line parsers (`parseMaybeJSON`,
//! `parseNameVal`, `parseWords`, ...), each turning the text after the keyword and flags
//! into the list of values that BuildKit keeps in its `Next` chain.
//!
//! Errors carry spans relative to the argument string they were given.

use std::ops::Range;

use super::error::SpanError;
use super::json::{JsonArray, parse_string_array};
use super::quote::{go_quote, is_space, is_token_space};

/// What a line parser produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Args {
    pub values: Vec<String>,
    pub json: bool,
}

impl Args {
    fn shell(values: Vec<String>) -> Self {
        Args { values, json: false }
    }
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// Splits on runs of `[\t\v\f\r ]` like Go's `regexp.Split(s, -1)` on trimmed input.
pub(crate) fn whitespace_delimited(rest: &str) -> Args {
    Args::shell(rest.split(is_token_space).filter(|w| !w.is_empty()).map(str::to_string).collect())
}

/// MAINTAINER, USER, WORKDIR, STOPSIGNAL: the whole rest as one value.
pub(crate) fn single(rest: &str) -> Args {
    if rest.is_empty() {
        return Args::default();
    }
    Args::shell(vec![rest.to_string()])
}

/// RUN, CMD, ENTRYPOINT, SHELL: exec form if the rest is a JSON string array, otherwise
/// the rest as one shell-form string.
pub(crate) fn maybe_json(rest: &str) -> Result<Args, SpanError> {
    if rest.is_empty() {
        return Ok(Args::default());
    }
    match parse_string_array(rest) {
        JsonArray::Strings(values) => Ok(Args { values, json: true }),
        JsonArray::NotStrings => Err(SpanError::new(NOT_STRINGS, 0..rest.len())),
        JsonArray::Invalid => Ok(Args::shell(vec![rest.to_string()])),
    }
}

/// ADD, COPY, VOLUME: exec form if the rest is a JSON string array, otherwise
/// whitespace-separated words.
pub(crate) fn maybe_json_to_list(rest: &str) -> Result<Args, SpanError> {
    match parse_string_array(rest) {
        JsonArray::Strings(values) => Ok(Args { values, json: true }),
        JsonArray::NotStrings => Err(SpanError::new(NOT_STRINGS, 0..rest.len())),
        JsonArray::Invalid => Ok(whitespace_delimited(rest)),
    }
}

/// HEALTHCHECK: the first word (`CMD`, `NONE`, anything) then the rest as for RUN.
pub(crate) fn health_config(rest: &str) -> Result<Args, SpanError> {
    let sep = rest.find(is_space).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(Args::default());
    }
    let after = &rest[sep..];
    let cmd_text = after.trim_start_matches(is_space);
    let cmd_at = rest.len() - cmd_text.len();
    let cmd = maybe_json(cmd_text).map_err(|e| e.shift(cmd_at))?;
    let mut values = vec![rest[..sep].to_string()];
    values.extend(cmd.values);
    Ok(Args { values, json: cmd.json })
}

/// A word from [`words`] with where it starts in the input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub span: Range<usize>,
}

/// Splits into words on whitespace, keeping quotes and escapes in the text (they are
/// processed later, by the dispatcher), like BuildKit's `parseWords`.
pub(crate) fn words(rest: &str, escape: char) -> Vec<Word> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut out = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut start = 0;
    let mut chars = rest.char_indices().peekable();
    loop {
        let Some((pos, ch)) = chars.next() else {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                out.push(Word { text: word, span: start..rest.len() });
            }
            break;
        };
        let at_last = chars.peek().is_none();
        if phase == Phase::Spaces {
            if is_space(ch) {
                continue;
            }
            phase = Phase::Word;
            start = pos;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    out.push(Word { text: std::mem::take(&mut word), span: start..pos });
                }
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            } else if ch == escape {
                if at_last {
                    // An escape character at the very end is dropped.
                    continue;
                }
                // Outside quotes the escape and the next char are kept together, so an
                // escaped quote or space does not start a quote or end the word.
                word.push(ch);
                if let Some((_, next)) = chars.next() {
                    word.push(next);
                }
                continue;
            }
            word.push(ch);
            continue;
        }
        // Inside quotes.
        if ch == quote {
            phase = Phase::Word;
        } else if ch == escape && quote != '\'' {
            if at_last {
                phase = Phase::Word;
                continue;
            }
            word.push(ch);
            if let Some((_, next)) = chars.next() {
                word.push(next);
            }
            continue;
        }
        word.push(ch);
    }
    out
}

/// ARG: one value per declared name, verbatim.
pub(crate) fn name_or_name_val(rest: &str, escape: char) -> Args {
    Args::shell(words(rest, escape).into_iter().map(|w| w.text).collect())
}

/// ENV and LABEL: `key value` (legacy, one pair, separator `""`) or `k=v ...` (separator
/// `"="`), as key/value/separator triples with quotes left in.
pub(crate) fn name_val(rest: &str, instruction: &str, escape: char) -> Result<Args, SpanError> {
    let words = words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Args::default());
    };
    if !first.text.contains('=') {
        // The legacy form splits the raw text once; quotes in the value stay verbatim.
        let Some(sep) = rest.find(is_token_space) else {
            return Err(SpanError::new(format!("{instruction} must have two arguments"), 0..rest.len()));
        };
        let value = rest[sep..].trim_start_matches(is_token_space);
        return Ok(Args::shell(vec![rest[..sep].to_string(), value.to_string(), String::new()]));
    }
    let mut values = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((key, value)) = word.text.split_once('=') else {
            return Err(SpanError::new(
                format!("Syntax error - can't find = in {}. Must be of the form: name=value", go_quote(&word.text)),
                word.span,
            ));
        };
        values.push(key.to_string());
        values.push(value.to_string());
        values.push("=".to_string());
    }
    Ok(Args::shell(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rest: &str) -> Vec<String> {
        words(rest, '\\').into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn words_like_buildkit() {
        assert_eq!(texts("foo"), ["foo"]);
        assert_eq!(texts("foo bar"), ["foo", "bar"]);
        assert_eq!(texts("foo\\ bar"), ["foo\\ bar"]);
        assert_eq!(texts("foo bar 'abc xyz'"), ["foo", "bar", "'abc xyz'"]);
        assert_eq!(texts("föo bàr \"âbc xÿz\""), ["föo", "bàr", "\"âbc xÿz\""]);
        assert_eq!(texts("a=\"\" b"), ["a=\"\"", "b"]);
        assert_eq!(texts("x \\"), ["x"]);
        assert_eq!(texts("'a\\'b'"), ["'a\\'b'"]);
    }

    #[test]
    fn word_spans() {
        let w = words("  ab  'c d' ", '\\');
        let spans: Vec<_> = w.iter().map(|w| w.span.clone()).collect();
        assert_eq!(spans, vec![2..4, 6..11]);
    }

    #[test]
    fn env_shapes() {
        let a = name_val("name value more", "ENV", '\\');
        assert_eq!(a.map(|a| a.values), Ok(vec!["name".into(), "value more".into(), "".into()]));
        let e = name_val("PATH", "ENV", '\\');
        assert_eq!(e.map_err(|e| e.message), Err("ENV must have two arguments".into()));
        let e = name_val("a=b c", "LABEL", '\\');
        assert_eq!(e.map_err(|e| e.span), Err(4..5));
    }

    #[test]
    fn health_shapes() {
        let a = health_config("CMD [\"a\"]");
        assert_eq!(a, Ok(Args { values: vec!["CMD".into(), "a".into()], json: true }));
        let a = health_config("NONE");
        assert_eq!(a.map(|a| a.values), Ok(vec!["NONE".into()]));
    }
}

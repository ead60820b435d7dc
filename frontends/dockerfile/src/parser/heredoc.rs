//! Finding heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) on an instruction line,
//! the way BuildKit's `heredocsFromLine` and `ParseHeredoc` do.

use std::ops::Range;

use super::error::SpanError;
use super::shlex::split_words;

/// A heredoc announced on the instruction line; its body is read by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    /// Where the marker word is in the line, for errors about it.
    pub span: Range<usize>,
}

/// All heredoc markers on `line`, in order. A line the shell lexer cannot split (an
/// unterminated quote, a broken `${`) has none, as in BuildKit.
pub(crate) fn markers(line: &str) -> Result<Vec<Marker>, SpanError> {
    let Ok(words) = split_words(line, true, true) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for word in words {
        let span = word.start..(word.start + word.text.len()).min(line.len());
        let Some((chomp, rest)) = match_marker(&word.text) else {
            continue;
        };
        let delimiter = delimiter(rest).map_err(|m| SpanError::new(m, span.clone()))?;
        if let Some((name, expand)) = delimiter {
            out.push(Marker { name, expand, chomp, span });
        }
    }
    Ok(out)
}

/// BuildKit's `^(\d*)<<(-?)\s*([^<]*)$`: returns whether `-` was given and the delimiter
/// text.
fn match_marker(word: &str) -> Option<(bool, &str)> {
    let after_fd = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let after = after_fd.strip_prefix("<<")?;
    let (chomp, after) = match after.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let rest = after.trim_start_matches(['\t', '\n', '\u{0c}', '\r', ' ']);
    if rest.contains('<') {
        return None;
    }
    Some((chomp, rest))
}

/// Reads the delimiter word: its unquoted text is the name, and it expands unless some
/// part of it was quoted. Lexing it with and without quotes kept and comparing the quote
/// counts tells quoting apart from escaped quote characters, as BuildKit does.
fn delimiter(rest: &str) -> Result<Option<(String, bool)>, String> {
    if rest.is_empty() {
        return Ok(None);
    }
    let cooked = split_words(rest, false, false)?;
    let [word] = cooked.as_slice() else {
        return Ok(None);
    };
    let raw = split_words(rest, true, false)?;
    let [raw_word] = raw.as_slice() else {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    };
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Ok(Some((word.text.clone(), quotes(&word.text) == quotes(&raw_word.text))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, bool, bool)> {
        markers(line).unwrap_or_default().into_iter().map(|m| (m.name, m.expand, m.chomp)).collect()
    }

    fn one(name: &str, expand: bool, chomp: bool) -> Vec<(String, bool, bool)> {
        vec![(name.to_string(), expand, chomp)]
    }

    #[test]
    fn marker_forms() {
        assert_eq!(names("RUN <<EOF"), one("EOF", true, false));
        assert_eq!(names("RUN <<-EOF"), one("EOF", true, true));
        // BuildKit's lexer only joins blanks directly after `<<` to the word, so `<<- EOF`
        // is two words and no heredoc (its own test passes vacuously on this line).
        assert!(names("RUN <<- EOF").is_empty());
        assert_eq!(names("RUN << -EOF"), one("-EOF", true, false));
        assert_eq!(names("RUN <<'EOF'"), one("EOF", false, false));
        assert_eq!(names("RUN <<\"EOF\""), one("EOF", false, false));
        assert_eq!(names("RUN <<EO\"F\""), one("EOF", false, false));
        assert_eq!(names("RUN 4<<EOF"), one("EOF", true, false));
        assert_eq!(names("RUN <<eo'f'"), one("eof", false, false));
        assert_eq!(names("RUN <<eo\\'f"), one("eo'f", true, false));
        assert_eq!(names("RUN <<'e'o\\'f"), one("eo'f", false, false));
        assert_eq!(names("RUN <<'one two'"), one("one two", false, false));
        assert_eq!(names("RUN <<$EOF"), one("$EOF", true, false));
        assert_eq!(names("RUN <<  EOF  > foo"), one("EOF", true, false));
        assert_eq!(names("COPY <<file.txt /dest"), one("file.txt", true, false));
        let two = names("RUN <<EOF <<EOF2");
        assert_eq!(two.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), ["EOF", "EOF2"]);
    }

    #[test]
    fn not_markers() {
        for line in [
            "RUN '<<EOF'",
            "RUN \"<<EOF\"",
            "RUN <<",
            "RUN <<-",
            "RUN <EOF",
            "RUN <<<EOF",
            "RUN cat<<EOF",
            "RUN <<EOF 'unterminated",
        ] {
            assert!(names(line).is_empty(), "{line}");
        }
    }

    #[test]
    fn marker_span() {
        let m = markers("RUN  <<-EOF x").unwrap_or_default();
        assert_eq!(m.first().map(|m| m.span.clone()), Some(5..11));
    }
}

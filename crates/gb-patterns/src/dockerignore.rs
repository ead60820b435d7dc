//! Reading a `.dockerignore` file into patterns, as `ignorefile.ReadAll` does.

use crate::clean::normalize_pattern;
use crate::error::PatternError;
use crate::glob::compile;

/// Reads a .dockerignore file's text into cleaned patterns, as Docker's `ignorefile.ReadAll` does.
///
/// A UTF-8 byte order mark before the first line is dropped. A line whose first character is
/// `#` is a comment (one indented by whitespace is a pattern). Each other line is trimmed;
/// blank lines are skipped; a leading `!` marks an exception and is kept; the rest is cleaned
/// like Go's `filepath.Clean` (`.` and `..` elements resolved, `//` and a trailing `/` removed)
/// and loses one leading `/`, since the context root is the root.
///
/// Unlike `ReadAll`, which leaves that to the matcher, this rejects a lone `!` and invalid
/// glob syntax here, naming the 1-based line.
pub fn parse_dockerignore(text: &str) -> Result<Vec<String>, PatternError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut patterns = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') {
            continue;
        }
        let Some(pattern) = normalize_pattern(line) else {
            continue;
        };
        if pattern.exception && pattern.text.is_empty() {
            return Err(PatternError::EmptyException { line: Some(number) });
        }
        if let Err(problem) = compile(&pattern.text) {
            return Err(PatternError::Syntax { pattern: line.trim().to_owned(), problem, line: Some(number) });
        }
        patterns.push(pattern.source());
    }
    Ok(patterns)
}

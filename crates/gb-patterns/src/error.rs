//! The crate's error type: a pattern that Docker would reject.

use std::fmt;

/// A pattern that Docker would reject. Every variant is a mistake in the user's input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// An exception marker `!` with no pattern after it (Docker: `illegal exclusion pattern: "!"`).
    #[error("{}illegal exception pattern \"!\": a `!` must be followed by a pattern", line_prefix(.line))]
    EmptyException {
        /// The 1-based line of the `.dockerignore` file it came from, if it came from one.
        line: Option<usize>,
    },
    /// A pattern that is not valid glob syntax.
    #[error("{}invalid pattern {pattern:?}: {problem}", line_prefix(.line))]
    Syntax {
        /// The pattern as the user wrote it, without surrounding whitespace.
        pattern: String,
        /// What is wrong with it.
        problem: SyntaxProblem,
        /// The 1-based line of the `.dockerignore` file it came from, if it came from one.
        line: Option<usize>,
    },
}

/// What makes a pattern's glob syntax invalid (the cases where Docker reports `syntax error in pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxProblem {
    /// The pattern ends with a `\` that escapes nothing.
    TrailingBackslash,
    /// A `[` opens a character class that is never closed.
    UnclosedClass,
    /// A character class has `-` or `]` where a character is needed, as in `[]a]`, `[-x]`,
    /// `[x-]` or `[a-b-c]` (escape them as `\-` and `\]`).
    MisplacedClassChar,
    /// A character class range whose end comes before its start, as in `[z-a]`.
    ReversedRange {
        /// The first character of the range.
        start: char,
        /// The last character of the range, which sorts before `start`.
        end: char,
    },
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrailingBackslash => f.write_str("it ends with a `\\` that escapes nothing"),
            Self::UnclosedClass => f.write_str("a `[` character class is not closed"),
            Self::MisplacedClassChar => {
                f.write_str("a character class has a misplaced `-` or `]` (escape it with `\\`)")
            }
            Self::ReversedRange { start, end } => {
                write!(f, "the character range `{start}-{end}` is out of order")
            }
        }
    }
}

fn line_prefix(line: &Option<usize>) -> String {
    match line {
        Some(line) => format!("line {line}: "),
        None => String::new(),
    }
}

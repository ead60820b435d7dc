//! The one error type of this crate: why a word could not be expanded, and where.

/// Why a word could not be expanded.
///
/// Every variant carries `offset`, the byte offset in the word being expanded
/// of the construct that failed: the `$` of a substitution or the opening
/// quote of a quoted string. For a nested substitution such as
/// `${A:-${B?}}` it is the innermost one that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A `'` has no matching `'` before the end of the word.
    #[error("unterminated single quote starting at byte {offset}")]
    UnterminatedSingleQuote {
        /// Offset of the opening quote.
        offset: usize,
    },

    /// A `"` has no matching `"` before the end of the word.
    #[error("unterminated double quote starting at byte {offset}")]
    UnterminatedDoubleQuote {
        /// Offset of the opening quote.
        offset: usize,
    },

    /// A `${` has no matching `}` before the end of the word.
    #[error("missing '}}' for the substitution starting at byte {offset}")]
    MissingClosingBrace {
        /// Offset of the `$`.
        offset: usize,
    },

    /// `${V/pattern` or `${V//pattern` has no `/` ending the pattern.
    #[error("missing '/' after the pattern of the substitution starting at byte {offset}")]
    MissingPatternSlash {
        /// Offset of the `$`.
        offset: usize,
    },

    /// `${}`, `${{…`, `${:…`: the braces hold no parameter name.
    #[error("bad substitution at byte {offset}")]
    BadSubstitution {
        /// Offset of the `$`.
        offset: usize,
    },

    /// The parameter name is followed by something that is not a supported
    /// modifier, e.g. `${V:=w}`, `${V.}`, `${#V}`.
    #[error("unsupported modifier '{modifier}' in the substitution starting at byte {offset}")]
    UnsupportedModifier {
        /// The modifier as written, e.g. `:=` or `.`.
        modifier: String,
        /// Offset of the `$`.
        offset: usize,
    },

    /// Substitutions are nested more deeply than any real word needs
    /// (`${A:-${B:-${C:-…}}}` [`MAX_NESTING`](crate::MAX_NESTING) levels deep);
    /// refusing them keeps the recursive expander's stack bounded.
    #[error("substitutions nested more than {max} deep at byte {offset}", max = crate::MAX_NESTING)]
    NestedTooDeep {
        /// Offset of the `$` one level too deep.
        offset: usize,
    },

    /// The word would expand to more than [`MAX_WORD_BYTES`](crate::MAX_WORD_BYTES) (or its
    /// own length, when that is more); refusing it keeps variables that double one another
    /// from growing without bound.
    #[error(
        "the word expands to more than {mib} MiB, the limit for one word (substitution starting at byte {offset})",
        mib = crate::MAX_WORD_BYTES >> 20
    )]
    TooLong {
        /// Offset of the construct whose text went past the limit.
        offset: usize,
    },

    /// Matching the patterns of the word (`${V//p/r}` tries its pattern from every position)
    /// would take more than [`MAX_MATCH_STEPS`](crate::MAX_MATCH_STEPS) steps; refusing it
    /// keeps a long value and a pattern such as `a*b` from running for hours.
    #[error(
        "matching the pattern takes more than {max} steps, the limit for one word (substitution starting at byte {offset})",
        max = crate::MAX_MATCH_STEPS
    )]
    TooComplex {
        /// Offset of the `$` of the substitution that ran out of steps.
        offset: usize,
    },

    /// `${V?msg}` with `V` unset, or `${V:?msg}` with `V` unset or empty.
    ///
    /// `message` is the expanded `msg`, or a default saying what was wrong
    /// when `msg` is empty.
    #[error("{name}: {message} (substitution starting at byte {offset})")]
    RequiredVariable {
        /// The variable's name.
        name: String,
        /// The user's message, or `is not allowed to be unset` /
        /// `is not allowed to be empty`.
        message: String,
        /// Offset of the `$`.
        offset: usize,
    },
}

impl ExpandError {
    /// Byte offset in the word of the construct that failed.
    pub fn offset(&self) -> usize {
        match self {
            Self::UnterminatedSingleQuote { offset }
            | Self::UnterminatedDoubleQuote { offset }
            | Self::MissingClosingBrace { offset }
            | Self::MissingPatternSlash { offset }
            | Self::BadSubstitution { offset }
            | Self::UnsupportedModifier { offset, .. }
            | Self::NestedTooDeep { offset }
            | Self::TooLong { offset }
            | Self::TooComplex { offset }
            | Self::RequiredVariable { offset, .. } => *offset,
        }
    }
}

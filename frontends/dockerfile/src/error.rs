//! The front end's error: what is wrong with the Dockerfile, and where.

use miette::{Diagnostic, SourceSpan};

/// What kind of mistake an error is, so callers can tell bad input from a bad environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The Dockerfile's syntax is wrong.
    Syntax,
    /// An instruction is used wrongly (bad flag, missing argument, unknown stage).
    Instruction,
    /// A variable expansion failed (`${V:?msg}`, bad substitution).
    Expansion,
    /// A file the front end reads (`.dockerignore`) could not be read.
    Io,
}

/// One error in a Dockerfile, with the byte range it points at.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct DockerfileError {
    /// What went wrong, lower-case, naming the thing.
    pub message: String,
    /// The kind of mistake.
    pub kind: ErrorKind,
    /// Where in the Dockerfile (byte offset and length), when it is about a place.
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    /// The short text under the caret.
    pub label: String,
    /// A hint, when one helps.
    #[help]
    pub help: Option<String>,
    /// 1-based line of the span's start.
    pub line: usize,
    /// 1-based column (in characters) of the span's start.
    pub column: usize,
}

impl DockerfileError {
    /// An error about the byte range `offset..offset+len` of `source`.
    pub fn at(kind: ErrorKind, source: &str, offset: usize, len: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(source.len());
        let (line, column) = line_column(source, offset);
        Self {
            message: message.into(),
            kind,
            span: Some(SourceSpan::new(offset.into(), len.max(1).min(source.len().saturating_sub(offset).max(1)))),
            label: "here".to_owned(),
            help: None,
            line,
            column,
        }
    }

    /// An error about the whole file rather than a place in it.
    pub fn whole_file(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { message: message.into(), kind, span: None, label: String::new(), help: None, line: 0, column: 0 }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Replaces the caret's label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// The 1-based line and character column of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

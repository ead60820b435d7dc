//! The parse tree `parse` returns: one `Node` per instruction, shaped like BuildKit's
//! `parser.Node` so later stages can follow BuildKit's dispatcher rule for rule.

use std::borrow::Cow;

/// Parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape and line-continuation character: `\` (default) or `` ` ``.
    pub escape: char,
    /// The `# syntax=` value, verbatim (image reference plus any trailing words).
    pub syntax: Option<String>,
    /// The `# check=` value, verbatim (e.g. `skip=all;error=true`).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { escape: '\\', syntax: None, check: None }
    }
}

/// A heredoc attached to a RUN, COPY or ADD instruction (or to an ONBUILD wrapping one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word with quotes removed: `EOF` for `<<"EOF"`.
    pub name: String,
    /// The body exactly as written, every line with its own line ending (`\n`, or `\r\n`
    /// in a CRLF file), terminator line excluded. Like BuildKit's parser we do not strip
    /// tabs here even for `<<-`; use [`Heredoc::body`] for the text a build should use.
    pub content: String,
    /// False when any part of the delimiter was quoted (`<<'EOF'`, `<<"EOF"`, `<<E"O"F`):
    /// the body must then not have variables expanded.
    pub expand: bool,
    /// True for `<<-`: leading tabs of body lines (and of the terminator) are ignored.
    pub chomp: bool,
}

impl Heredoc {
    /// The body with leading tabs removed from every line when `chomp` is set, the way
    /// BuildKit's instruction layer applies `ChompHeredocContent`.
    pub fn body(&self) -> Cow<'_, str> {
        if !self.chomp {
            return Cow::Borrowed(&self.content);
        }
        Cow::Owned(self.content.split_inclusive('\n').map(|line| line.trim_start_matches('\t')).collect())
    }
}

/// Where a node sits in the source.
///
/// Lines are 1-based, inclusive, and count exactly as BuildKit's `StartLine`/`EndLine`
/// (continuation, comment and heredoc lines included). Byte offsets index the source string
/// exactly as passed to `parse`, a UTF-8 BOM included: `start` is the first character of
/// the instruction keyword, `end` is the end of the last line consumed (line ending
/// excluded), so `&source[start..end]` is the instruction as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Location {
    pub start_line: usize,
    pub end_line: usize,
    pub start: usize,
    pub end: usize,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction word, lower-cased (`"from"`, `"run"`, ...). The parser accepts any
    /// word here, as BuildKit's does; rejecting unknown ones is the dispatcher's job.
    pub keyword: String,
    /// Leading `--name[=value]` words with quotes and backslash escapes processed, as
    /// BuildKit's `Node.Flags`; a bare `--` end marker is dropped.
    pub flags: Vec<String>,
    /// The argument values, shaped per instruction exactly as BuildKit's `Next` chain
    /// (see the corpus README): one string per JSON element, one shell-form string,
    /// key/value/separator triples for ENV and LABEL, and `[""]` for an unknown keyword.
    pub args: Vec<String>,
    /// The exec (JSON array) form was used.
    pub json: bool,
    /// The wrapped instruction of an ONBUILD.
    pub child: Option<Box<Node>>,
    /// Heredoc bodies, in the order their markers appear on the line. For ONBUILD they
    /// are attached here, on the outer node, as in BuildKit.
    pub heredocs: Vec<Heredoc>,
    /// The instruction text with continuations joined and comment lines dropped
    /// (BuildKit's `Original`); heredoc bodies are not part of it.
    pub original: String,
    /// For an ONBUILD child this is the parent's location.
    pub location: Location,
    /// The comment lines directly above the instruction, `#` and surrounding space removed;
    /// an empty `#` line starts a new block, as in BuildKit.
    pub prev_comment: Vec<String>,
}

impl Node {
    /// Whether BuildKit looks for heredocs on this instruction: shell-form RUN, COPY and
    /// ADD, directly or wrapped in ONBUILD.
    pub(crate) fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.child, self.keyword.as_str()) {
            (Some(child), "onbuild") => child,
            _ => self,
        };
        matches!(node.keyword.as_str(), "run" | "copy" | "add") && !node.json
    }
}

/// A problem that does not stop the parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub message: String,
    /// The instruction the warning is about.
    pub location: Location,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    pub directives: Directives,
    pub children: Vec<Node>,
    pub warnings: Vec<Warning>,
}

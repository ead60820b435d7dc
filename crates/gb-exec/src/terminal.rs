//! A container process's standard input and terminal: `docker run -i` hands the caller's
//! standard input to the process; `-t` gives it a pseudo-terminal. runc in the foreground
//! (`run`, `exec` without `-d`) makes the terminal itself, puts its own standard input (the
//! user's terminal) in raw mode and copies between the two: the terminal's output is runc's
//! standard output. (A console socket is only for a detached runc.)

use std::fs::File;

/// What the container's process reads and whether it has a terminal.
#[derive(Debug, Default)]
pub struct ProcessIo {
    /// Its standard input; `None` is `/dev/null`. With a terminal, it must be the user's
    /// terminal: runc reads the keys from it and takes its size.
    pub stdin: Option<File>,
    /// A pseudo-terminal of this size for its standard streams; its output arrives as
    /// [`crate::OutputStream::Stdout`].
    pub terminal: Option<TerminalSize>,
}

/// A terminal's size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

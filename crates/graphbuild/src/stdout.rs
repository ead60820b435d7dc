//! Standard output for commands' results: a reader that went away (`graphbuild lower | head`)
//! ends the process the way it ends docker's, instead of the panic `println!` gives.

use std::io::Write as _;

use crate::exit;

/// Writes `text` to standard output. When the reader has closed the pipe, the process exits at
/// once with 141, the status a shell reports for a process ended by SIGPIPE (as docker is);
/// any other write failure is an environment failure (exit 3) with its reason.
pub fn write(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(text) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(exit::BROKEN_PIPE);
        }
        eprintln!("error: writing to standard output: {error}");
        std::process::exit(exit::ENVIRONMENT);
    }
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::write(format_args!($($arg)*)) };
}

/// `println!` through [`write`].
macro_rules! outln {
    () => { $crate::stdout::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {out, outln};

//! Standard output for commands' results: a reader that went away (`graphbuild lower | head`)
//! ends the process the way it ends docker's, instead of the panic `println!` gives.

use std::io::Write as _;

use crate::{exit, session};

/// Writes `text` to standard output. When the reader has closed the pipe, the command ends
/// with 141, the status a shell reports for a process ended by SIGPIPE (as docker is); any other
/// write failure is an environment failure (exit 3) with its reason. In-process that is at once;
/// in the server the command runs to its end without output (it may be holding a lock or a
/// mount) and its client exits with that status.
pub fn write(text: std::fmt::Arguments<'_>) {
    let session = session::current();
    if session.stdout_failure().is_some() {
        return;
    }
    let mut out = session.stdout();
    let Err(error) = out.write_fmt(text).and_then(|()| out.flush()) else { return };
    let code = if error.kind() == std::io::ErrorKind::BrokenPipe { exit::BROKEN_PIPE } else { exit::ENVIRONMENT };
    if code != exit::BROKEN_PIPE {
        crate::session::errln!("error: writing to standard output: {error}");
    }
    if !session.is_remote() {
        std::process::exit(code);
    }
    session.fail_stdout(code);
}

/// Copies `reader` (an archive) to standard output, ending as [`write`] does when the reader
/// of the pipe went away.
pub fn copy(reader: &mut dyn std::io::Read) -> Result<(), crate::exit::Failure> {
    let session = session::current();
    let mut out = session.stdout_stream();
    let Err(error) = std::io::copy(reader, &mut out).and_then(|_| out.flush()) else { return Ok(()) };
    if error.kind() != std::io::ErrorKind::BrokenPipe {
        return Err(crate::exit::Failure::os("writing to standard output")(error));
    }
    if !session.is_remote() {
        std::process::exit(exit::BROKEN_PIPE);
    }
    session.fail_stdout(exit::BROKEN_PIPE);
    Ok(())
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

//! The user's terminal for `run -t` and `exec -t`: its size, and the input runc takes the keys
//! from (runc puts it in raw mode while the container's terminal has it, and restores it).

use std::os::fd::AsFd as _;

use crate::session::Session;

/// The size of the user's terminal (standard output's, else standard input's), 24×80 when
/// neither is one.
pub fn size(session: &Session) -> gb_exec::TerminalSize {
    let from = |file: Option<std::fs::File>| {
        let file = file?;
        let size = rustix::termios::tcgetwinsize(file.as_fd()).ok()?;
        (size.ws_row > 0 && size.ws_col > 0).then_some(gb_exec::TerminalSize { rows: size.ws_row, cols: size.ws_col })
    };
    from(session.stdout_file())
        .or_else(|| from(session.stdin_file()))
        .unwrap_or(gb_exec::TerminalSize { rows: 24, cols: 80 })
}

/// The standard input a container with a terminal gets: the user's terminal, which runc reads
/// the keys from; docker's error when there is none.
pub fn input(session: &Session, interactive: bool) -> Result<Option<std::fs::File>, crate::exit::Failure> {
    let stdin = session.stdin_file();
    let is_terminal = stdin.as_ref().is_some_and(|f| rustix::termios::isatty(f.as_fd()));
    let any_terminal = is_terminal
        || session.stdout_file().is_some_and(|f| rustix::termios::isatty(f.as_fd()))
        || session.stderr_file().is_some_and(|f| rustix::termios::isatty(f.as_fd()));
    if (interactive && !is_terminal) || !any_terminal {
        return Err(crate::exit::Failure::Input("the input device is not a TTY".to_owned()));
    }
    Ok(stdin)
}

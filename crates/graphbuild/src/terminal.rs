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

/// The standard input of a container's process (or an exec's) and what this process holds
/// open for it, as docker's flags ask:
/// - `-it`: the user's terminal, which runc reads the keys from (docker's error without one);
/// - `-t` alone: a terminal of its own, its output the container's; the user's input is not
///   attached (docker's `-t` without `-i`); Ctrl-C reaches the container as a signal (the
///   sig-proxy, which docker's client turns off with `-t`: here it stays on, so Ctrl-C works);
/// - `-i` alone: the user's standard input; neither: none.
pub fn process_input(
    session: &Session,
    interactive: bool,
    tty: bool,
) -> Result<(Option<std::fs::File>, Option<std::os::fd::OwnedFd>), crate::exit::Failure> {
    match (tty, interactive) {
        (true, true) => {
            let stdin = session.stdin_file();
            if !stdin.as_ref().is_some_and(|f| rustix::termios::isatty(f.as_fd())) {
                return Err(crate::exit::Failure::Input("the input device is not a TTY".to_owned()));
            }
            Ok((stdin, None))
        }
        (true, false) => {
            let (slave, master) = own_terminal(size(session))?;
            Ok((Some(slave), Some(master)))
        }
        (false, true) => Ok((session.stdin_file(), None)),
        (false, false) => Ok((None, None)),
    }
}

/// A new pseudo-terminal of `size`: the side a container's process gets as its input (runc
/// makes the process's own terminal, of this one's size, and reads from this one) and the side
/// this process holds open. Neither side is inherited by the processes this one starts.
pub fn own_terminal(
    size: gb_exec::TerminalSize,
) -> Result<(std::fs::File, std::os::fd::OwnedFd), crate::exit::Failure> {
    let failed = |e: nix::Error| crate::exit::Failure::os("opening a terminal")(std::io::Error::from(e));
    let window = nix::pty::Winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = nix::pty::openpty(Some(&window), None).map_err(failed)?;
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC)).map_err(failed)?;
    }
    Ok((std::fs::File::from(pty.slave), pty.master))
}

//! `graphbuild run` and `create`: a container from a stored image, following `docker run`'s
//! rules. Attached, it runs on this command's thread with the user's streams (a real terminal
//! with `-t`); detached (`-d`), the root's server supervises it after the command returns.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gb_containers::{
    ContainerRecord, CreateOptions, LogStream, NetworkMode, PortMapping, RunIo, VolumeMount, VolumeSource,
};
use gb_store::StateRoot;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::exit::Failure;
use crate::stdout::outln;

/// docker's status when graphbuild itself fails before the container's process runs.
const RUN_FAILED: i32 = 125;

/// `graphbuild run`: exits with the container's status, as `docker run`; 125 when graphbuild
/// fails, 126/127 when the command cannot be executed or is not found.
pub fn run(args: RunArgs, root: Option<&Path>) -> Result<(), Failure> {
    let state = super::engine::open_root(root).map_err(run_failure)?;
    let options = create_options(&args).map_err(run_failure)?;
    if args.detach && !crate::session::current().is_remote() {
        return Err(run_failure(Failure::Input(
            "run -d needs the root's server, which supervises the container (drop --no-server)".to_owned(),
        )));
    }
    // Checked before the container is made, as docker's client does (its error exits 1).
    if args.tty && args.interactive && !args.detach {
        crate::terminal::process_input(&crate::session::current(), true, true)?;
    }
    let record = gb_containers::create(&state, &options).map_err(|e| run_failure(e.into()))?;
    if args.detach {
        start_detached(&state, &record).map_err(run_failure)?;
        outln!("{}", record.id);
        return Ok(());
    }
    let code = run_attached(&state, &record, args.interactive, args.tty)?;
    match code {
        0 => Ok(()),
        code => Err(Failure::Exited(code)),
    }
}

/// `graphbuild create`: prints the new container's id.
pub fn create(args: RunArgs, root: &StateRoot) -> Result<(), Failure> {
    let options = create_options(&args)?;
    let record = gb_containers::create(root, &options)?;
    outln!("{}", record.id);
    Ok(())
}

/// A failure of graphbuild's own before the container ran: docker's 125.
fn run_failure(failure: Failure) -> Failure {
    match failure {
        Failure::Container(gb_containers::ContainerError::CannotStart { .. }) | Failure::Exited(_) => failure,
        other => Failure::WithStatus { status: RUN_FAILED, failure: Box::new(other) },
    }
}

/// The options `create` takes, from the command line and the user's environment.
pub(crate) fn create_options(args: &RunArgs) -> Result<CreateOptions, Failure> {
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(env_file(file)?);
    }
    for entry in &args.env {
        env.push(match (entry.contains('='), crate::session::var(entry)) {
            (false, Some(value)) => format!("{entry}={value}"),
            _ => entry.clone(),
        });
    }
    let network = match args.network.as_str() {
        "default" | "bridge" => NetworkMode::Default,
        "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        other => return Err(Failure::Input(format!("network {other} not found (use default, bridge, host or none)"))),
    };
    let volumes = args.volumes.iter().map(|v| volume(v)).collect::<Result<Vec<_>, _>>()?;
    let ports = args.publish.iter().map(|p| port(p)).collect::<Result<Vec<_>, _>>()?;
    Ok(CreateOptions {
        image: args.image.clone(),
        name: args.name.clone(),
        args: args.args.clone(),
        entrypoint: args.entrypoint.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
        open_stdin: args.interactive,
        network,
        volumes,
        auto_remove: args.rm,
        ports,
        labels: crate::commands::build::parse_labels(&args.labels)?,
    })
}

/// docker's `--env-file`: `K=V` lines, `K` alone takes the user's value, `#` comments and
/// blank lines are skipped.
fn env_file(path: &Path) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
    let mut env = Vec::new();
    // As docker's: lines end in LF or CRLF; leading blanks, empty lines and comments go.
    for line in text.lines().map(str::trim_start).filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (line, None),
        };
        if name.is_empty() {
            return Err(Failure::Input(format!("{}: no variable name on line '{line}'", path.display())));
        }
        if name.contains(char::is_whitespace) {
            return Err(Failure::Input(format!("{}: variable '{name}' contains whitespaces", path.display())));
        }
        // A name alone takes the user's value; unset there, it is left out.
        if let Some(value) = value.map(str::to_owned).or_else(|| crate::session::var(name)) {
            env.push(format!("{name}={value}"));
        }
    }
    Ok(env)
}

/// `-p [IP:][HOST]:CONTAINER[/PROTO]` or `-p CONTAINER[/PROTO]`, as docker reads it.
fn port(text: &str) -> Result<PortMapping, Failure> {
    let invalid = || {
        Failure::Input(format!("invalid port specification: \"{text}\" (use [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp])"))
    };
    let (ports, protocol) = match text.rsplit_once('/') {
        Some((ports, protocol @ ("tcp" | "udp"))) => (ports, protocol),
        Some(_) => return Err(invalid()),
        None => (text, "tcp"),
    };
    let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
    let (host_ip, host_port, container_port) = match parts.as_slice() {
        [container] => ("0.0.0.0", "", *container),
        [container, host] => ("0.0.0.0", *host, *container),
        [container, host, ip] => (*ip, *host, *container),
        _ => return Err(invalid()),
    };
    let host_ip = host_ip.trim_start_matches('[').trim_end_matches(']');
    if host_ip.parse::<std::net::IpAddr>().is_err() {
        return Err(invalid());
    }
    let number = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(invalid);
    // No host port (`-p 80`, `-p 127.0.0.1::80`): 0, a free one chosen at each start, as docker's.
    let host_port = match host_port {
        "" => 0,
        port => number(port)?,
    };
    Ok(PortMapping {
        host_ip: host_ip.to_owned(),
        host_port,
        container_port: number(container_port)?,
        protocol: protocol.to_owned(),
    })
}

/// `-v SOURCE:TARGET[:ro|:rw]`: an absolute source is a host path, else a volume's name.
fn volume(text: &str) -> Result<VolumeMount, Failure> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, readonly) = match parts.as_slice() {
        [source, target] => (*source, *target, false),
        [source, target, "ro"] => (*source, *target, true),
        [source, target, "rw"] => (*source, *target, false),
        _ => return Err(Failure::Input(format!("invalid volume specification: '{text}'"))),
    };
    let source = if source.starts_with('/') {
        VolumeSource::Bind(PathBuf::from(source))
    } else if source == "." || source == ".." || source.starts_with("./") || source.starts_with("../") {
        // As docker 23's: a path relative to the working directory (the client's).
        let path = std::path::absolute(source).map_err(|e| Failure::Input(format!("{text}: {e}")))?;
        VolumeSource::Bind(path)
    } else if source.contains('/') {
        return Err(Failure::Input(format!(
            "invalid volume specification: '{text}': a host path is absolute or starts with ./ or ../, a volume name has no '/'"
        )));
    } else {
        VolumeSource::Volume(source.to_owned())
    };
    Ok(VolumeMount { source, target: target.to_owned(), readonly })
}

/// Starts the container on a thread of the server's own, which supervises it to its end
/// (its output goes to its log only).
pub(crate) fn start_detached(state: &Arc<StateRoot>, record: &ContainerRecord) -> Result<(), Failure> {
    let supervisor_state = state.clone();
    let id = record.id.clone();
    let (io, held_open) = detached_io(record)?;
    // What a last run left in the record must not pass for this one's start.
    gb_containers::prepare_start(state, &record.id)?;
    let (started, wait) = std::sync::mpsc::channel();
    let (ended, end) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("container-{}", id.short()))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = started.send(Err(Failure::os("starting the container's supervisor")(error)));
                    return;
                }
            };
            let _ = started.send(Ok(()));
            let ignore = |_: LogStream, _: &[u8]| {};
            // How it ended is in its record, and, for a start that waits on it, here.
            let outcome =
                runtime.block_on(gb_containers::run(&supervisor_state, &id, io, &ignore, CancellationToken::new()));
            drop(held_open);
            let _ = ended.send(outcome);
        })
        .map_err(Failure::os("starting the container's supervisor"))?;
    wait.recv()
        .map_err(|_| Failure::Environment("the container's supervisor ended before it started".to_owned()))??;
    // A `ps` or `stop` right after `run -d` finds it running and made.
    let tokio = crate::session::local_runtime().map_err(Failure::os("starting the async runtime"))?;
    match tokio.block_on(gb_containers::wait_until_made(state, &record.id)) {
        // A `--rm` container that already ended is gone: how it ended is the supervisor's.
        Err(gb_containers::ContainerError::NoSuchContainer(_)) => {
            match end.recv_timeout(std::time::Duration::from_secs(10)) {
                Ok(Err(error @ gb_containers::ContainerError::CannotStart { .. })) => Err(error.into()),
                _ => Ok(()),
            }
        }
        made => made.map(|_| ()).map_err(Failure::from),
    }
}

/// A detached container's input, as docker's: with `-t` a terminal of its own (its output
/// goes to the log), with `-i` an open pipe; either stays open while it runs, so a shell waits
/// for input rather than ending at once. The second value is the end this process holds.
fn detached_io(record: &ContainerRecord) -> Result<(RunIo, Option<std::os::fd::OwnedFd>), Failure> {
    if record.config.tty {
        let size = gb_exec::TerminalSize { rows: 24, cols: 80 };
        let (slave, master) = crate::terminal::own_terminal(size)?;
        return Ok((RunIo { stdin: Some(slave), terminal: Some(size) }, Some(master)));
    }
    if record.config.open_stdin {
        // Not inherited by the other processes the server starts meanwhile.
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Failure::os("opening a pipe")(std::io::Error::from(e)))?;
        return Ok((RunIo { stdin: Some(std::fs::File::from(read)), terminal: None }, Some(write)));
    }
    Ok((RunIo::default(), None))
}

/// Runs the container on this thread with the user's streams; returns its exit status.
pub(crate) fn run_attached(
    state: &Arc<StateRoot>,
    record: &ContainerRecord,
    interactive: bool,
    tty: bool,
) -> Result<i32, Failure> {
    let session = crate::session::current();
    let tokio = crate::session::local_runtime().map_err(Failure::os("starting the async runtime"))?;
    let mut signals = {
        let _context = tokio.enter();
        session.signals().map_err(Failure::os("listening for signals"))?
    };
    let (stdin, held_open) = crate::terminal::process_input(&session, interactive, tty)?;
    let terminal = if tty { Some(crate::terminal::size(&session)) } else { None };
    let io = RunIo { stdin, terminal };
    // The container's streams are the client's: a client that went away takes them with it,
    // so its container is ended (docker's would live on, its streams being the daemon's).
    let cancel = session.gone();
    let outcome = tokio.block_on(async {
        let run = gb_containers::run(state, &record.id, io, &print_output, cancel);
        tokio::pin!(run);
        loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                // On a task of its own: the run's output goes on meanwhile.
                Some(signal) = signals.recv() => {
                    tokio::spawn(proxy_signal(state.clone(), record.clone(), signal));
                }
            }
        }
    });
    drop(held_open);
    let _ = session.stdout().flush();
    attached_status(outcome)
}

/// Passes a signal the user sent to the attached container's process, as docker's sig-proxy
/// does: the container decides what it means (a shell as PID 1 ignores SIGINT it does not
/// trap). A container that has just ended needs none.
async fn proxy_signal(state: Arc<StateRoot>, record: ContainerRecord, signal: i32) {
    if let Ok(current) = gb_containers::find(&state, record.id.as_str()) {
        let _ = gb_containers::kill(&state, &current, &signal.to_string()).await;
    }
}

/// The exit status of an attached run that ended by itself.
fn attached_status(outcome: Result<i32, gb_containers::ContainerError>) -> Result<i32, Failure> {
    match outcome {
        Ok(code) => Ok(code),
        // runc has said why on the container's standard error (the user's): once is enough.
        Err(gb_containers::ContainerError::CannotStart { code, .. }) => Ok(code),
        Err(error) => Err(run_failure(error.into())),
    }
}

/// Writes the container's output to the user's stdout and stderr as it arrives.
pub(crate) fn print_output(stream: LogStream, bytes: &[u8]) {
    // A closed stdout (`| head`) must not stop the container from running to its end.
    let session = crate::session::current();
    let _ = match stream {
        LogStream::Stdout => {
            let mut out = session.stdout();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        LogStream::Stderr => {
            let mut err = session.stderr();
            err.write_all(bytes).and_then(|()| err.flush())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::env_file;

    fn read(text: &str) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("env");
        std::fs::write(&path, text).expect("write");
        env_file(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn env_files_read_as_dockers() {
        let text = "# comment\r\n\r\n  A=1\r\nB=two words\nC=\nGRAPHBUILD_SURELY_UNSET_VARIABLE\nPATH\n";
        let env = read(text).expect("reads");
        assert_eq!(&env[..3], ["A=1", "B=two words", "C="]);
        assert_eq!(env.len(), 4, "an unset name is left out, a set one takes its value: {env:?}");
        assert!(env[3].starts_with("PATH=/"), "{env:?}");
        assert!(read("=value\n").expect_err("no name").contains("no variable name on line '=value'"));
        assert!(read("A B=1\n").expect_err("a blank").contains("variable 'A B' contains whitespaces"));
    }
}

//! The graphbuild command line: parses arguments, then runs the command through the state
//! root's server (starting it when needed) or, with `--no-server`, in this process; maps errors
//! to exit codes.

mod cli;
mod client;
mod commands;
mod container_cli;
mod exit;
mod progress;
mod report;
mod server;
mod session;
mod stdout;
mod template;
mod terminal;

use std::path::Path;
use std::time::Duration;

use clap::Parser;

/// mimalloc rather than glibc's malloc: the server runs many commands on threads of their own,
/// and glibc trimmed each thread's arena with `madvise` as it freed, whose TLB shootdowns across
/// cores were a fifth of a no-op build's time (perf, 20 no-op rebuilds of the wide workload).
/// Built without transparent huge pages (`no_thp`): a thin client's first allocation would
/// otherwise fault in and zero a whole 2 MiB page, which doubled `server status` (perf stat).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Opens the state root and runs a store command with it.
fn with_root(
    root: Option<&std::path::Path>,
    command: impl FnOnce(&std::sync::Arc<gb_store::StateRoot>) -> Result<(), exit::Failure>,
) -> Result<(), exit::Failure> {
    let state = commands::engine::open_root(root)?;
    command(&state)
}

fn main() {
    // Parsed here first: usage errors and --help never need the server.
    let cli = cli::Cli::parse();
    let code = match remote_argv(&cli) {
        Some(argv) => match remotely(cli.root.as_deref(), argv) {
            Ok(code) => code,
            Err(failure) => reported(&failure),
        },
        None => execute(cli),
    };
    // Build records are written in the background: none is lost to the exit.
    gb_engine::records::flush();
    std::process::exit(code);
}

/// Runs `argv` through the root's server (started from this binary when none runs).
fn remotely(root: Option<&Path>, argv: Vec<String>) -> Result<i32, exit::Failure> {
    let root = gb_client::root_path(root)?;
    Ok(gb_client::run_remotely(&root, &client::program()?, argv)?)
}

/// The command line to hand to the server, or `None` to run in this process: with
/// `--no-server` or `GRAPHBUILD_SERVER=0`, for commands that need no state root, and for
/// arguments that are not UTF-8 (the protocol carries text).
fn remote_argv(cli: &cli::Cli) -> Option<Vec<String>> {
    if cli.no_server || std::env::var_os("GRAPHBUILD_SERVER").is_some_and(|v| v == "0") {
        return None;
    }
    if matches!(cli.command, cli::Command::Server(_) | cli::Command::Logout(_) | cli::Command::Debug(_)) {
        return None;
    }
    std::env::args_os().skip(1).map(|a| a.into_string().ok()).collect()
}

/// Runs a command line the server received for `root`, on the calling thread, and returns its
/// exit status.
pub fn execute_argv(root: &Path, argv: Vec<String>) -> i32 {
    let mut cli = match cli::Cli::try_parse_from(std::iter::once("graphbuild".to_owned()).chain(argv)) {
        Ok(cli) => cli,
        Err(error) => {
            use std::io::Write as _;
            let _ = write!(session::current().stderr(), "{}", error.render());
            return error.exit_code();
        }
    };
    // The client found this server by the root it named; the server's environment has no say.
    if let Some(named) = &cli.root
        && std::path::absolute(named).ok().as_deref() != Some(root)
    {
        return reported(&exit::Failure::Input(format!(
            "the server for {} was asked to use another state root, {}",
            root.display(),
            named.display()
        )));
    }
    cli.root = Some(root.to_owned());
    if matches!(cli.command, cli::Command::Server(_)) {
        return reported(&exit::Failure::Input("`graphbuild server` is not run by the server".to_owned()));
    }
    execute(cli)
}

/// Runs a parsed command in this process and returns its exit status.
fn execute(cli: cli::Cli) -> i32 {
    let root = cli.root.clone();
    let root = root.as_deref();
    let insecure = cli.insecure_registries.clone();
    // The `container` group's commands are the top level's.
    let command = match cli.command {
        cli::Command::Container(cli::ContainerGroup::Common(command)) => cli::Command::Containers(*command),
        cli::Command::Container(cli::ContainerGroup::Ls(args)) => cli::Command::Ps(args),
        command => command,
    };
    let result = match command {
        cli::Command::Build(args) => commands::build::run(*args, root, &insecure),
        cli::Command::Solve(args) => commands::solve::run(args, root, &insecure),
        cli::Command::Import(args) | cli::Command::Image(cli::ImageCommand::Import(args)) => {
            commands::import::run(args, root)
        }
        cli::Command::Containers(cli::ContainerCommand::Run(args)) => commands::run::run(args, root),
        cli::Command::Lower(args) => commands::lower::run(args, root),
        cli::Command::Logout(args) => commands::registry::logout(args),
        cli::Command::Debug(cli::DebugCommand::Parse(args)) => commands::debug::parse(args),
        cli::Command::Server(command) => server_command(command, root),
        other => with_root(root, |state| match other {
            cli::Command::Images(args) | cli::Command::Image(cli::ImageCommand::Ls(args)) => {
                commands::images::images(args, state)
            }
            cli::Command::Image(cli::ImageCommand::Inspect(args)) => commands::images::inspect(args, state),
            cli::Command::History(args) | cli::Command::Image(cli::ImageCommand::History(args)) => {
                commands::images::history(args, state)
            }
            cli::Command::Tag(args) | cli::Command::Image(cli::ImageCommand::Tag(args)) => {
                commands::images::tag(args, state)
            }
            cli::Command::Image(cli::ImageCommand::Prune(args)) => commands::images::image_prune(args, state),
            cli::Command::Rmi(args) | cli::Command::Image(cli::ImageCommand::Rm(args)) => {
                commands::images::rmi(args, state)
            }
            cli::Command::Df(args) => commands::images::df(args, state),
            cli::Command::System(cli::SystemCommand::Df(args)) => commands::images::system_df(args, state),
            cli::Command::Prune(args) => commands::images::prune(args, state),
            cli::Command::Builds(cli::BuildsCommand::Ls(args)) => commands::builds::ls(args, state),
            cli::Command::Builds(cli::BuildsCommand::Show(args)) => commands::builds::show(args, state),
            cli::Command::Builds(cli::BuildsCommand::Explain(args)) => commands::builds::explain(args, state),
            cli::Command::Containers(cli::ContainerCommand::Create(args)) => commands::run::create(args, state),
            cli::Command::Ps(args) => commands::containers::ps(args, state),
            cli::Command::Containers(cli::ContainerCommand::Logs(args)) => commands::containers::logs(args, state),
            cli::Command::Containers(cli::ContainerCommand::Stop(args)) => commands::containers::stop(args, state),
            cli::Command::Containers(cli::ContainerCommand::Kill(args)) => commands::containers::kill(args, state),
            cli::Command::Containers(cli::ContainerCommand::Start(args)) => commands::containers::start(args, state),
            cli::Command::Containers(cli::ContainerCommand::Restart(args)) => {
                commands::containers::restart(args, state)
            }
            cli::Command::Containers(cli::ContainerCommand::Rm(args)) => commands::containers::rm(args, state),
            cli::Command::Containers(cli::ContainerCommand::Exec(args)) => commands::containers::exec(args, state),
            cli::Command::Containers(cli::ContainerCommand::Inspect(args)) => {
                commands::containers::inspect(args, state)
            }
            cli::Command::Containers(cli::ContainerCommand::Port(args)) => commands::containers::port(args, state),
            cli::Command::Containers(cli::ContainerCommand::Diff(args)) => commands::containers::diff(args, state),
            cli::Command::Containers(cli::ContainerCommand::Export(args)) => commands::containers::export(args, state),
            cli::Command::Containers(cli::ContainerCommand::Commit(args)) => commands::containers::commit(args, state),
            cli::Command::Container(cli::ContainerGroup::Prune(args)) => commands::containers::prune(args, state),
            cli::Command::Save(args) | cli::Command::Image(cli::ImageCommand::Save(args)) => {
                commands::archive::save(args, state)
            }
            cli::Command::Load(args) | cli::Command::Image(cli::ImageCommand::Load(args)) => {
                commands::archive::load(args, state)
            }
            cli::Command::Pull(args) | cli::Command::Image(cli::ImageCommand::Pull(args)) => {
                commands::registry::pull(args, state, &insecure)
            }
            cli::Command::Push(args) | cli::Command::Image(cli::ImageCommand::Push(args)) => {
                commands::registry::push(args, state, &insecure)
            }
            cli::Command::Login(args) => commands::registry::login(args, state, &insecure),
            _ => Err(exit::Failure::Input("unexpected command".to_owned())),
        }),
    };
    match result {
        Ok(()) => exit::SUCCESS,
        Err(failure) => reported(&failure),
    }
}

/// Prints a failure for the user and returns its exit code.
fn reported(failure: &exit::Failure) -> i32 {
    report::print_failure(failure);
    failure.exit_code()
}

/// `graphbuild server start|stop|status`.
fn server_command(command: cli::ServerCommand, root: Option<&Path>) -> Result<(), exit::Failure> {
    let root = gb_client::root_path(root)?;
    match command {
        cli::ServerCommand::Start(args) if args.foreground => {
            let config = commands::registry::config_file(&root)?;
            let idle = match (&args.idle_timeout, &config.server.idle_timeout) {
                (Some(text), _) => {
                    parse_duration(text).map_err(|e| exit::Failure::Input(format!("--idle-timeout {text}: {e}")))?
                }
                (None, Some(value)) => duration_value(value).map_err(|e| {
                    exit::Failure::Input(format!("{}: [server] idle-timeout: {e}", root.join("config.toml").display()))
                })?,
                (None, None) => Duration::from_secs(600),
            };
            let max_parallelism = args.max_parallelism.unwrap_or_else(gb_solver::default_parallelism).max(1);
            server::serve(
                &root,
                server::ServerOptions { idle_timeout: idle, max_parallelism, background: args.background },
            )
        }
        cli::ServerCommand::Start(args) => client::start(
            &root,
            &gb_client::ServerFlags { idle_timeout: args.idle_timeout, max_parallelism: args.max_parallelism },
        ),
        cli::ServerCommand::Stop => client::stop(&root),
        cli::ServerCommand::Status(args) => client::status(&root, args.format == cli::StatusFormat::Json),
    }
}

/// A duration as `config.toml` gives it: seconds, or a string `parse_duration` reads.
fn duration_value(value: &toml::Value) -> Result<Duration, String> {
    match value {
        toml::Value::Integer(seconds) => u64::try_from(*seconds)
            .map(Duration::from_secs)
            .map_err(|_| "a number of seconds must not be negative".to_owned()),
        toml::Value::String(text) => parse_duration(text),
        _ => Err("expected seconds or a string such as \"10m\"".to_owned()),
    }
}

/// `30`, `30s`, `10m`, `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration (30s, 10m, 1h)"))?;
    let seconds = match unit {
        "s" => number,
        "m" => number.saturating_mul(60),
        "h" => number.saturating_mul(3600),
        _ => return Err(format!("{text:?} is not a duration (30s, 10m, 1h)")),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_timeouts_read_as_seconds_or_with_a_unit() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "m", "10d", "1.5h", "-1"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(duration_value(&toml::Value::Integer(90)), Ok(Duration::from_secs(90)));
        assert_eq!(duration_value(&toml::Value::String("2m".to_owned())), Ok(Duration::from_secs(120)));
        assert!(duration_value(&toml::Value::Integer(-5)).is_err());
        assert!(duration_value(&toml::Value::Boolean(true)).is_err());
    }
}

//! The graphbuild command line: parses arguments, runs a command, maps errors to exit codes.

mod cli;
mod commands;
mod exit;
mod progress;
mod report;
mod stdout;

use clap::Parser;

/// Opens the state root and runs a store command with it.
fn with_root(
    root: Option<&std::path::Path>,
    command: impl FnOnce(&gb_solver::StateRoot) -> Result<(), exit::Failure>,
) -> Result<(), exit::Failure> {
    let state = commands::engine::open_root(root)?;
    command(&state)
}

fn main() {
    let cli = cli::Cli::parse();
    let root = cli.root.clone();
    let root = root.as_deref();
    let insecure = cli.insecure_registries.clone();
    let result = match cli.command {
        cli::Command::Build(args) => commands::build::run(args, root, &insecure),
        cli::Command::Solve(args) => commands::solve::run(args, root, &insecure),
        cli::Command::Import(args) => commands::import::run(args, root),
        cli::Command::Run(args) => commands::run::run(args, root),
        cli::Command::Lower(args) => commands::lower::run(args, root),
        cli::Command::Logout(args) => commands::registry::logout(args),
        cli::Command::Debug(cli::DebugCommand::Parse(args)) => commands::debug::parse(args),
        other => with_root(root, |state| match other {
            cli::Command::Images(args) | cli::Command::Image(cli::ImageCommand::Ls(args)) => {
                commands::images::images(args, state)
            }
            cli::Command::Image(cli::ImageCommand::Inspect(args)) => commands::images::inspect(args, state),
            cli::Command::History(args) => commands::images::history(args, state),
            cli::Command::Tag(args) => commands::images::tag(args, state),
            cli::Command::Rmi(args) | cli::Command::Image(cli::ImageCommand::Rm(args)) => {
                commands::images::rmi(args, state)
            }
            cli::Command::Df(args) => commands::images::df(args, state),
            cli::Command::Prune(args) => commands::images::prune(args, state),
            cli::Command::Save(args) => commands::archive::save(args, state),
            cli::Command::Load(args) => commands::archive::load(args, state),
            cli::Command::Pull(args) => commands::registry::pull(args, state, &insecure),
            cli::Command::Push(args) => commands::registry::push(args, state, &insecure),
            cli::Command::Login(args) => commands::registry::login(args, state, &insecure),
            _ => Err(exit::Failure::Input("unexpected command".to_owned())),
        }),
    };
    let code = match result {
        Ok(()) => exit::SUCCESS,
        Err(failure) => {
            report::print_failure(&failure);
            failure.exit_code()
        }
    };
    std::process::exit(code);
}

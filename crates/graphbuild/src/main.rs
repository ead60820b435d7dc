//! The graphbuild command line: parses arguments, runs a command, maps errors to exit codes.

mod cli;
mod commands;
mod exit;
mod progress;
mod report;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let root = cli.root.clone();
    let root = root.as_deref();
    let result = match cli.command {
        cli::Command::Build(args) => commands::build::run(args, root),
        cli::Command::Solve(args) => commands::solve::run(args, root),
        cli::Command::Import(args) => commands::import::run(args, root),
        cli::Command::Lower(args) => commands::lower::run(args),
        cli::Command::Debug(cli::DebugCommand::Parse(args)) => commands::debug::parse(args),
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

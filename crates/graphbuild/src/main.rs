//! The graphbuild command line: parses arguments, runs a command, maps errors to exit codes.

mod cli;
mod commands;
mod exit;
mod report;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let result = match cli.command {
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

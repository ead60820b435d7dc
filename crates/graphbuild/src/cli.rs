//! The command-line grammar (clap). Names and flags here are a contract with users' scripts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A declarative build-graph engine for Dockerfiles and other front ends.
#[derive(Debug, Parser)]
#[command(name = "graphbuild", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the build graph (the IR Definition) a Dockerfile lowers to.
    Lower(LowerArgs),
    /// Tools for looking inside graphbuild.
    #[command(subcommand)]
    Debug(DebugCommand),
}

/// `graphbuild lower`.
#[derive(Debug, Args)]
pub struct LowerArgs {
    /// The Dockerfile; `CONTEXT/Dockerfile` by default, `-` for standard input.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// The stage to build; the last stage by default.
    #[arg(long)]
    pub target: Option<String>,
    /// A build argument, `KEY=VALUE` (or `KEY` to take the value from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The platform to build for, `os/arch[/variant]`.
    #[arg(long)]
    pub platform: Option<String>,
    /// The output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Json)]
    pub format: GraphFormat,
    /// The build context directory.
    pub context: PathBuf,
}

/// How `lower` prints the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// The Definition as JSON (the format `graphbuild solve` reads).
    Json,
    /// Graphviz DOT.
    Dot,
}

/// `graphbuild debug ...`.
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Parse a Dockerfile and print its instructions.
    Parse(ParseArgs),
}

/// `graphbuild debug parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The dump format.
    #[arg(long, value_enum, default_value_t = DumpFormat::Buildkit)]
    pub dump: DumpFormat,
    /// The Dockerfile, `-` for standard input.
    pub file: PathBuf,
}

/// Parse dump formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// BuildKit's AST dump (`Node.Dump()`), as in its parser golden tests.
    Buildkit,
}

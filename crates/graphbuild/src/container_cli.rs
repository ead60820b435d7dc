//! The container commands' arguments (`run`, `ps`, `logs`, `stop`, `commit`, ... and the
//! `container` group), named and spelled as docker's.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `graphbuild run` and `graphbuild create`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Run the container in the background and print its id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep standard input open: the container reads this command's.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a terminal (with -i, a real interactive session).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable, `K=V` (or `K` to take it from this environment).
    #[arg(short = 'e', long = "env", value_name = "K=V", value_parser = crate::cli::env_entry)]
    pub env: Vec<String>,
    /// Read environment variables from a file: `K=V` lines, `#` comments.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// A name for the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the image's ENTRYPOINT.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// The working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// The user, `name|uid[:group|gid]`.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// The container's host name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Mount a volume: `HOST_PATH:CONTAINER_PATH[:ro]` or `NAME:CONTAINER_PATH[:ro]`.
    #[arg(short = 'v', long = "volume", value_name = "SOURCE:TARGET[:ro]")]
    pub volumes: Vec<String>,
    /// Publish a container port on the host: `[IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]`.
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CONTAINER")]
    pub publish: Vec<String>,
    /// Set a label on the container: `KEY=VALUE` (`KEY` alone: an empty value).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// The network: `default` (its own, with outbound access through slirp4netns; also
    /// `bridge`), `host` or `none`.
    #[arg(long, default_value = "default")]
    pub network: String,
    /// The image.
    pub image: String,
    /// The command and its arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `graphbuild ps`.
#[derive(Debug, Args, Clone)]
pub struct PsArgs {
    /// Show every container (only running ones by default).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only print container ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show each container's size: its changes, and with its image's (`virtual`).
    #[arg(short = 's', long)]
    pub size: bool,
    /// Show the last created container.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show the last N created containers (all states).
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Filter: `status=`, `name=`, `id=`, `ancestor=`, `exited=`, `label=`.
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// `table`, `json`, or a Go template (`{{.ID}} {{.Names}}`).
    #[arg(long)]
    pub format: Option<String>,
}

/// `graphbuild logs`.
#[derive(Debug, Args, Clone)]
pub struct LogsArgs {
    /// Keep printing new output until the container stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines (`all` for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Prefix each line with its time.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// The container.
    pub container: String,
}

/// `graphbuild stop` and `restart`.
#[derive(Debug, Args, Clone)]
pub struct StopArgs {
    /// Seconds to wait for the container to exit before killing it.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// The containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `graphbuild kill`.
#[derive(Debug, Args, Clone)]
pub struct KillArgs {
    /// The signal to send.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// The containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `graphbuild start`.
#[derive(Debug, Args, Clone)]
pub struct StartArgs {
    /// Attach to its output and exit with its status.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach standard input.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// The containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `graphbuild rm`.
#[derive(Debug, Args, Clone)]
pub struct RmArgs {
    /// Kill and remove a running container.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes too (there are none: accepted as docker's flag).
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// The containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `graphbuild exec`.
#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    /// Keep standard input open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the command a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable.
    #[arg(short = 'e', long = "env", value_name = "K=V", value_parser = crate::cli::env_entry)]
    pub env: Vec<String>,
    /// The working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// The user.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// The container.
    pub container: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

/// `graphbuild inspect` and `container inspect`.
#[derive(Debug, Args, Clone)]
pub struct ContainerInspectArgs {
    /// Format the output with a Go template.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// What to inspect: `container` or `image` (both are tried by default).
    #[arg(long = "type", value_enum)]
    pub kind: Option<InspectKind>,
    /// Containers or images.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// What `inspect --type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectKind {
    /// A container.
    Container,
    /// An image.
    Image,
}

/// A command on one container.
#[derive(Debug, Args, Clone)]
pub struct ContainerArgs {
    /// The container.
    pub container: String,
}

/// `graphbuild port`.
#[derive(Debug, Args, Clone)]
pub struct PortArgs {
    /// The container.
    pub container: String,
    /// Only this port of the container: `PORT[/tcp|udp]`.
    pub port: Option<String>,
}

/// `graphbuild export`.
#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// The container.
    pub container: String,
}

/// `graphbuild commit`.
#[derive(Debug, Args, Clone)]
pub struct CommitArgs {
    /// The commit message (the history entry's comment).
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// The author.
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction to the image's config: `CMD`, `ENTRYPOINT`, `ENV`,
    /// `WORKDIR`, `USER`, `LABEL`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`.
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Pause the container while committing (accepted; the changes are read as they are).
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// The container.
    pub container: String,
    /// The new image's name.
    pub name: Option<String>,
}

/// `graphbuild container prune`.
#[derive(Debug, Args, Clone)]
pub struct ContainerPruneArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// The container commands docker has at the top level and in its `container` group alike.
#[derive(Debug, Subcommand, Clone)]
pub enum ContainerCommand {
    /// Run a command in a new container from an image.
    Run(RunArgs),
    /// Create a new container from an image, without starting it.
    Create(RunArgs),
    /// Print a container's logs.
    Logs(LogsArgs),
    /// Stop running containers: SIGTERM, then SIGKILL after a grace period.
    Stop(StopArgs),
    /// Kill running containers.
    Kill(KillArgs),
    /// Start stopped containers.
    Start(StartArgs),
    /// Restart containers.
    Restart(StopArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Print containers' or images' details as JSON.
    Inspect(ContainerInspectArgs),
    /// List the files a container changed: A added, C changed, D deleted.
    Diff(ContainerArgs),
    /// List a container's published ports, or the host address of one.
    Port(PortArgs),
    /// Write a container's file system as a tar archive.
    Export(ExportArgs),
    /// Make a new image from a container's changes.
    Commit(CommitArgs),
}

/// `graphbuild container ...`, as docker's group: the container commands, `ls` for `ps`, and
/// `prune`.
#[derive(Debug, Subcommand, Clone)]
pub enum ContainerGroup {
    /// The commands the top level has too.
    #[command(flatten)]
    Common(Box<ContainerCommand>),
    /// List containers.
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Remove every stopped container.
    Prune(ContainerPruneArgs),
}

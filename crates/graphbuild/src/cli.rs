//! The command-line grammar (clap). Names and flags here are a contract with users' scripts.

use std::path::PathBuf;

pub use crate::container_cli::*;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// What `graphbuild --help` says first: a sentence for users, not the crate's description.
const ABOUT: &str = "Build container images from Dockerfiles, as `docker build` does, with a \
                     content-addressed cache, parallel steps and the docker image commands";

/// A declarative build-graph engine for Dockerfiles and other front ends.
#[derive(Debug, Parser)]
#[command(name = "graphbuild", version, about = ABOUT)]
pub struct Cli {
    /// The state directory (cache, images, layers); /var/lib/graphbuild as root, else
    /// $XDG_DATA_HOME/graphbuild.
    #[arg(long, global = true, env = "GRAPHBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// A registry (`host[:port]`) to reach over plain HTTP; 127.0.0.0/8 and localhost always
    /// are. Also read from `insecure-registries` in `$GRAPHBUILD_ROOT/config.toml`.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Run the engine in this process, taking the state root for itself, instead of through
    /// the root's server (also `GRAPHBUILD_SERVER=0`).
    #[arg(long, global = true)]
    pub no_server: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a Dockerfile: run its steps with the cache and export the result.
    Build(Box<BuildArgs>),
    /// Run a Definition (the JSON IR) that any front end printed.
    Solve(SolveArgs),
    /// Make a one-layer image in the local store from a root file system tarball.
    Import(ImportArgs),
    /// List images in the local store.
    Images(ImagesArgs),
    /// Image commands.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Show an image's history: one row per instruction.
    History(HistoryArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Remove images.
    Rmi(RmiArgs),
    /// Show disk usage: images and build cache, shared layers counted once.
    Df(DfArgs),
    /// Free build cache and dangling images.
    Prune(PruneArgs),
    /// Docker's `system` commands: `system df`.
    #[command(subcommand)]
    System(SystemCommand),
    /// Write images to a docker-archive (or OCI) tar file.
    Save(SaveArgs),
    /// Read images from a docker-archive or OCI archive.
    Load(LoadArgs),
    /// List containers.
    Ps(PsArgs),
    /// The container commands (`run`, `create`, `logs`, `stop`, `kill`, `start`, `restart`,
    /// `rm`, `exec`, `inspect`, `diff`, `port`, `export`, `commit`), here and in the group.
    #[command(flatten)]
    Containers(ContainerCommand),
    /// Container commands.
    #[command(subcommand)]
    Container(ContainerGroup),
    /// Pull an image from a registry into the local store.
    Pull(PullArgs),
    /// Push an image from the local store to a registry.
    Push(PushArgs),
    /// Store credentials for a registry in the Docker config file.
    Login(LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(LogoutArgs),
    /// Print the build graph (the IR Definition) a Dockerfile lowers to.
    Lower(LowerArgs),
    /// Tools for looking inside graphbuild.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// The state root's server, which every command goes through (started on first use).
    #[command(subcommand)]
    Server(ServerCommand),
    /// The builds recorded in the state root (`docker buildx history`).
    #[command(subcommand)]
    Builds(BuildsCommand),
}

/// `graphbuild builds ...`.
#[derive(Debug, Subcommand)]
pub enum BuildsCommand {
    /// List the recorded builds, newest first.
    Ls(BuildsLsArgs),
    /// Show one recorded build: its options, result and steps.
    Show(BuildsShowArgs),
    /// Say why each step of a recorded build that ran did not come from the cache of an
    /// earlier one.
    Explain(BuildsExplainArgs),
}

/// `graphbuild builds explain`.
#[derive(Debug, Args)]
pub struct BuildsExplainArgs {
    /// The build: its id, an unambiguous prefix of it, or `latest`.
    #[arg(default_value = "latest")]
    pub build: String,
    /// The build to compare with (default: the one before it of the same Dockerfile and
    /// target).
    #[arg(long)]
    pub against: Option<String>,
}

/// `graphbuild builds ls`.
#[derive(Debug, Args)]
pub struct BuildsLsArgs {
    /// Print only the build ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `graphbuild builds show`.
#[derive(Debug, Args)]
pub struct BuildsShowArgs {
    /// The build: its id, an unambiguous prefix of it, or `latest`.
    #[arg(default_value = "latest")]
    pub build: String,
    /// `text` (default), `json` (the whole record), `dot` (the step graph for Graphviz, the
    /// critical path drawn bold) or `html` (one self-contained page: the step graph with the
    /// critical path, a timeline, totals).
    #[arg(long, default_value = "text", value_parser = ["text", "json", "dot", "html"])]
    pub format: String,
}

/// `graphbuild server ...`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Start the state root's server in the background (if none runs).
    Start(ServerStartArgs),
    /// Stop the state root's server, cancelling the commands it runs.
    Stop,
    /// Show the state root's server; exits 1 when none runs.
    Status(ServerStatusArgs),
}

/// `graphbuild server start`.
#[derive(Debug, Args)]
pub struct ServerStartArgs {
    /// Exit after this long without a client: seconds, or `30s`, `10m`, `1h` (default: the
    /// root's `config.toml` `[server] idle-timeout`, else 10m).
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// How many steps do their work at once (an exec's command, a file op's copying), all
    /// builds together (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub max_parallelism: Option<usize>,
    /// Run in the foreground (its log to standard error) instead of in the background.
    #[arg(long)]
    pub foreground: bool,
    /// Started by a client: leave the client's session.
    #[arg(long, hide = true)]
    pub background: bool,
}

/// `graphbuild server status`.
#[derive(Debug, Args)]
pub struct ServerStatusArgs {
    /// Print JSON (`null` when no server runs).
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,
}

/// How `server status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// For people.
    Text,
    /// One JSON object.
    Json,
}

/// `graphbuild lower`.
#[derive(Debug, Args)]
pub struct LowerArgs {
    /// The Dockerfile and how to read it.
    #[command(flatten)]
    pub dockerfile: DockerfileArgs,
    /// The output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Json)]
    pub format: GraphFormat,
    /// The build context directory.
    pub context: PathBuf,
}

/// The options `lower` and `build` share: which Dockerfile, stage, build args and platform.
#[derive(Debug, Clone, Args)]
pub struct DockerfileArgs {
    /// The URLs the main context (`context`) and named contexts were fetched from, which
    /// SOURCE_DATE_EPOCH can take its time from (set while preparing a build, not a flag).
    #[arg(skip)]
    pub remote_contexts: std::collections::BTreeMap<String, String>,
    /// The Dockerfile; `CONTEXT/Dockerfile` by default, `-` for standard input.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// The stage to build; the last stage by default.
    #[arg(long)]
    pub target: Option<String>,
    /// A build argument, `KEY=VALUE` (or `KEY` to take the value from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The network of every RUN that names none: `default` (a private network with outbound
    /// access), `none`, or `host` (needs `--allow network.host`).
    #[arg(long, value_name = "MODE", default_value = "default")]
    pub network: String,
    /// An `/etc/hosts` entry for every RUN, `HOST:IP` (or `HOST=IP`), as `docker build --add-host`.
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_hosts: Vec<String>,
    /// The platform to build for, `os/arch[/variant]`.
    #[arg(long)]
    pub platform: Option<String>,
    /// The size of every RUN's `/dev/shm`: bytes, or a number with a unit (`128m`, `1g`), as
    /// `docker build --shm-size`; 64m by default.
    #[arg(long, value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// A resource limit of every RUN, `NAME=SOFT[:HARD]` (`nofile=1024:2048`), as `docker build
    /// --ulimit`.
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimits: Vec<String>,
    /// A named build context, `NAME=DIR`, `NAME=docker-image://REF`,
    /// `NAME=oci-layout://PATH[:TAG][@DIGEST]` (an image of an OCI layout) or `NAME=URL` (a git
    /// repository, or an http(s) file), as `docker buildx build --build-context`: it replaces
    /// the stage named NAME, or the image `FROM NAME` and `--from=NAME` name (repeatable).
    #[arg(long = "build-context", value_name = "NAME=DIR|docker-image://REF|oci-layout://PATH|URL")]
    pub build_contexts: Vec<String>,
    /// Run the RUN steps of these stages without the cache (repeatable or comma-separated), as
    /// `docker buildx build --no-cache-filter`.
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
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

/// Progress display modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// `tty` on a terminal, `plain` otherwise.
    Auto,
    /// A live view of running steps.
    Tty,
    /// One line per event, like `buildctl --progress=plain`.
    Plain,
    /// One JSON event per line (see the gb-events crate).
    Json,
    /// Nothing (errors are still printed), as buildx's `--progress=quiet`.
    Quiet,
}

/// Options shared by `build` and `solve`.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Ignore the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Progress output (on standard error).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// A secret for `RUN --mount=type=secret`: `id=ID,src=PATH` (a file), `id=ID,env=VAR` (an
    /// environment variable), or `id=VAR` (the variable named like the id).
    #[arg(long = "secret", value_name = "id=ID[,src=PATH|env=VAR]")]
    pub secrets: Vec<String>,
    /// An ssh agent for `RUN --mount=type=ssh`, as `docker buildx build --ssh`: `default` (or
    /// `ID`) forwards `$SSH_AUTH_SOCK`, `ID=SOCKET` an agent's socket, `ID=KEY[,KEY...]` key
    /// files (served by an `ssh-agent` started for the build).
    #[arg(long = "ssh", value_name = "default|ID[=SOCKET|KEY[,KEY...]]")]
    pub ssh: Vec<String>,
    /// Grant a privilege that RUN steps ask for: `network.host` (`RUN --network=host`) or
    /// `security.insecure` (`RUN --security=insecure`); repeatable or comma-separated. Only what
    /// `entitlements` in `$GRAPHBUILD_ROOT/config.toml` permits can be granted.
    #[arg(long = "allow", value_name = "ENTITLEMENT", value_delimiter = ',')]
    pub allow: Vec<gb_solver::Entitlement>,
    /// Where the result goes (repeatable): `type=image,name=NAME[,push=true]` (the local image
    /// store, and a registry with push), `type=oci,dest=FILE[,tar=false]` (OCI layout),
    /// `type=docker,dest=FILE` (docker-archive), `type=local,dest=DIR` (the root file system),
    /// `type=tar,dest=FILE` (the root file system as a tarball); the image types also take
    /// `compression=gzip|zstd|uncompressed`. A bare PATH means `type=local,dest=PATH`;
    /// `dest=-` of the archive types and a bare `-` (`type=tar`) write to standard output.
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,...")]
    pub outputs: Vec<String>,
    /// How many steps may run at once (default: the number of cores).
    #[arg(long)]
    pub max_parallelism: Option<usize>,
    /// Export the build cache: `type=registry,ref=REG/NAME:TAG[,mode=min|max]` or
    /// `type=local,dest=DIR[,mode=min|max]`.
    #[arg(long = "cache-to", value_name = "type=TYPE,...")]
    pub cache_to: Vec<String>,
    /// Import a build cache: `type=registry,ref=REG/NAME:TAG` or `type=local,src=DIR`.
    #[arg(long = "cache-from", value_name = "type=TYPE,...")]
    pub cache_from: Vec<String>,
}

/// `graphbuild build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The Dockerfile and how to read it.
    #[command(flatten)]
    pub dockerfile: DockerfileArgs,
    /// Name the result `NAME[:TAG]` in the local image store (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Attach SLSA provenance to the image, as `docker buildx build --provenance`: `true` (or
    /// the bare flag, `mode=min`), `mode=max` (with the whole build graph), `false`. The image then
    /// goes out as an image index: push it, or export it with `-o type=oci` (`-o type=local`
    /// writes `provenance.json`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false|mode=min|max")]
    pub provenance: Option<String>,
    /// An attestation, as `docker buildx build --attest`: `type=provenance[,mode=min|max]`.
    #[arg(long = "attest", value_name = "type=provenance[,mode=min|max]")]
    pub attest: Vec<String>,
    /// Run the Dockerfile's build checks and build nothing, as `docker build --check`: prints
    /// what they found and exits 1 when they found anything.
    #[arg(long)]
    pub check: bool,
    /// After the build, say why each step that ran did not come from the cache, against the
    /// last recorded build of the same Dockerfile and target.
    #[arg(long)]
    pub explain: bool,
    /// Push the `-t` names to their registries after the build.
    /// Print only the image id (`sha256:...`) on standard output, no progress (`docker build
    /// -q`).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image id (`sha256:...`) to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Write buildx's build metadata (image digests and names) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Set an image label (`--label KEY=VALUE`), after the Dockerfile's own.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Add an OCI annotation, as `docker buildx build --annotation`: `KEY=VALUE` (on the image
    /// manifest) or `TYPE[,TYPE][[os/arch]]:KEY=VALUE` with TYPE `manifest` or
    /// `manifest-descriptor` (on the manifest's descriptor in an OCI layout's index).
    #[arg(long = "annotation", value_name = "[TYPE:]KEY=VALUE")]
    pub annotations: Vec<String>,
    #[arg(long)]
    pub push: bool,
    /// Resolve base image tags against their registries even when the store has them.
    #[arg(long)]
    pub pull: bool,
    /// Shared options.
    #[command(flatten)]
    pub run: RunOptions,
    /// The build context: a directory; `-` for standard input (a tar archive, plain or
    /// compressed, that is the context, or a Dockerfile with an empty context); a git URL
    /// (`https://host/repo.git#ref:subdir`, `git@host:repo.git`); or an http(s) URL of a tarball.
    pub context: PathBuf,
}

/// `graphbuild solve`.
#[derive(Debug, Args)]
pub struct SolveArgs {
    /// The Definition JSON file, `-` (the default) for standard input.
    #[arg(default_value = "-")]
    pub file: PathBuf,
    /// A local directory the definition reads, `NAME=DIR` (`context=.` for the build context).
    #[arg(long = "local", value_name = "NAME=DIR")]
    pub locals: Vec<String>,
    /// Shared options.
    #[command(flatten)]
    pub run: RunOptions,
}

/// `graphbuild import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A root file system tarball (plain, gzip, bzip2, xz or zstd): a file, an http(s) URL, or
    /// `-` for standard input.
    #[arg(value_name = "FILE|URL|-")]
    pub source: String,
    /// The image name, `NAME[:TAG]`; without one the image is known by its id only.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub name: Option<String>,
    /// A Dockerfile instruction for the image's config, as `docker import -c`: `CMD`,
    /// `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`, `STOPSIGNAL`, `USER`, `VOLUME`, `WORKDIR`
    /// (repeatable).
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// The comment of the image's history entry.
    #[arg(short, long)]
    pub message: Option<String>,
    /// The image's platform (the host's by default).
    #[arg(long)]
    pub platform: Option<String>,
}

/// `graphbuild images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images whose repository (and tag, after a `:`) match: `REPOSITORY[:TAG]`, `*` and
    /// `?` wildcards, as `docker images`.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub pattern: Option<String>,
    /// Show all images (graphbuild keeps no intermediate images, so this lists what the
    /// default does: named and dangling images).
    #[arg(short, long)]
    pub all: bool,
    /// Only print image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests (a DIGEST column).
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output: whole `sha256:` ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter the images (repeatable): `dangling=true|false`, `reference=PATTERN`,
    /// `before=IMAGE`, `since=IMAGE`, `label=KEY` or `label=KEY=VALUE`.
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// `table` (default), `table TEMPLATE`, `json` (one object per image) or a Go template
    /// (`{{.Repository}}:{{.Tag}}`), as `docker images --format`; fields: .ID .Repository .Tag
    /// .Digest .CreatedSince .CreatedAt .Size .Containers .SharedSize .UniqueSize .VirtualSize.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// `graphbuild image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Print images' details as JSON.
    Inspect(InspectArgs),
    /// List images (same as `graphbuild images`).
    Ls(ImagesArgs),
    /// Remove images (same as `graphbuild rmi`).
    Rm(RmiArgs),
    /// Remove unused images: the dangling ones (`<none>:<none>`), with `-a` every image no
    /// running container uses.
    Prune(ImagePruneArgs),
    /// Show an image's history (same as `graphbuild history`).
    History(HistoryArgs),
    /// Give an image another name (same as `graphbuild tag`).
    Tag(TagArgs),
    /// Write images to an archive (same as `graphbuild save`).
    Save(SaveArgs),
    /// Read images from an archive (same as `graphbuild load`).
    Load(LoadArgs),
    /// Make an image from a root file system tarball (same as `graphbuild import`).
    Import(ImportArgs),
    /// Pull an image (same as `graphbuild pull`).
    Pull(PullArgs),
    /// Push an image (same as `graphbuild push`).
    Push(PushArgs),
}

/// `graphbuild image prune`.
#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `graphbuild image inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image names or ids.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// A Go template executed once per image (`{{.Config.Cmd}}`, `{{json .RootFS}}`); `json`
    /// (the default) prints the JSON array.
    #[arg(short, long)]
    pub format: Option<String>,
}

/// `graphbuild history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Don't truncate output: the whole image id and CREATED BY.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only print image ids (`<missing>` for the rows below the image, as docker).
    #[arg(short, long)]
    pub quiet: bool,
    /// `table` (default), `table TEMPLATE`, `json` or a Go template, as `docker history
    /// --format`; fields: .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment.
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format (`-H=false`: sizes in bytes, dates in
    /// RFC 3339), as `docker history`.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Image name or id.
    pub name: String,
}

/// `graphbuild tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The existing image.
    pub source: String,
    /// The new name, `NAME[:TAG]`.
    pub target: String,
}

/// `graphbuild rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even when other tags or a running container use the image.
    #[arg(short, long)]
    pub force: bool,
    /// Image names or ids.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `graphbuild df`.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// One row per image and cache entry.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `graphbuild system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show docker's disk usage table: images, containers, local volumes, build cache.
    Df(SystemDfArgs),
}

/// `graphbuild system df`.
#[derive(Debug, Args)]
pub struct SystemDfArgs {
    /// List each image (with its shared and unique size) and build cache record.
    #[arg(short, long)]
    pub verbose: bool,
    /// `table` (default), `table TEMPLATE`, `json` or a Go template over the summary rows
    /// (.Type .TotalCount .Active .Size .Reclaimable).
    #[arg(long)]
    pub format: Option<String>,
}

/// `graphbuild prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Also remove images no name points at and all unused build cache.
    #[arg(short, long)]
    pub all: bool,
}

/// `graphbuild save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The output file; standard output when absent or `-` (not a terminal, as docker).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// `docker` (docker-archive, the default) or `oci` (OCI layout tar).
    #[arg(long, default_value = "docker")]
    pub format: String,
    /// Images to save.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `graphbuild load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive (docker-archive or OCI archive, plain or gzip, bzip2, xz or zstd
    /// compressed); standard input when absent or `-`.
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// No progress output, as docker's `-q` (load prints none; the loaded names are still
    /// printed, as docker's are).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `graphbuild pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image, `NAME[:TAG]` or `NAME@sha256:...`.
    pub name: String,
    /// The platform to pull (the host's by default).
    #[arg(long)]
    pub platform: Option<String>,
}

/// `graphbuild push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image, `REGISTRY/NAME[:TAG]`.
    pub name: String,
}

/// `graphbuild login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The user name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The password (prefer --password-stdin: arguments are visible to other users).
    #[arg(short, long)]
    pub password: Option<String>,
    /// The registry, `host[:port]`.
    pub registry: String,
}

/// `graphbuild logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry, `host[:port]`.
    pub registry: String,
}

/// Checks a `-e` value as `docker run` does: `K=V` or `K`, with a name. A nameless entry
/// (`=x`) would reach the container runtime, which rejects it as a failure of the environment.
pub(crate) fn env_entry(text: &str) -> Result<String, String> {
    let name = text.split_once('=').map_or(text, |(name, _)| name);
    if name.is_empty() {
        return Err("invalid environment variable: the name before '=' is empty".to_owned());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_need_a_name() {
        assert_eq!(env_entry("A=x").as_deref(), Ok("A=x"));
        assert_eq!(env_entry("A").as_deref(), Ok("A"));
        assert_eq!(env_entry("A=").as_deref(), Ok("A="));
        for bad in ["=x", "=", ""] {
            assert!(env_entry(bad).is_err(), "{bad:?}");
        }
    }
}

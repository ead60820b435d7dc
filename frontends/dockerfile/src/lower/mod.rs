//! Lowering: a parsed Dockerfile, build args and a target become a [`Definition`] and the image
//! spec of the target stage.
//!
//! Stages are lowered on demand, starting from the target, so stages the target does not need
//! produce no op at all, and an op's digest depends only on what it really reads.
//!
//! BuildKit's build checks run along the way where its converter runs them (`lints`): those on
//! the parse tree and on every stage's FROM before any stage is lowered, those on instructions
//! as each lowered stage applies them. [`check()`] lowers every stage to check them all.
//!
//! Lowering never recurses per stage, since a Dockerfile can chain thousands of stages
//! (`FROM s0 AS s1`, `COPY --from=s1`, …). Stages wait on an explicit work stack instead:
//! when an instruction needs a stage that is not lowered yet, [`Lowerer::lower_stage`] records
//! which and fails with a placeholder error; the driver keeps the waiting stage as it was before
//! that instruction, lowers the needed stage, and then runs the instruction again. Everything
//! an instruction does before it asks for a stage is either idempotent (ops are added by digest,
//! metadata first-wins) or undone (warnings), and instructions change their stage only after
//! their last request, so the ops, their order and the warnings are those a recursive lowering
//! produces.

mod check;
mod copy;
mod display;
mod epoch;
pub(crate) mod history;
mod lints;
mod paths;
mod run;
mod stage;
mod vars;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;

use gb_ir::{
    Definition, HistoryEntry, ImageConfig, ImageReference, ImageSource, ImageSpec, Input, Location, Op, OpDigest,
    OpMetadata, OpNode, Output, Platform, Sha256Digest, SourceOp,
};

use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::{Command, Instruction, error_at_node, error_at_text};
use crate::lint::config::{self as lint_config, CHECK_BUILD_ARG, CheckConfig};
use crate::lint::rule::CheckRule;
use crate::parser::{self, Node};

pub use check::{CheckReport, Checked, check, check_report};
pub use epoch::{MAIN_CONTEXT, RemoteSource, SOURCE_DATE_EPOCH};
pub(crate) use stage::StageState;

/// What to lower and how.
#[derive(Debug, Clone, Default)]
pub struct LowerOptions {
    /// The Dockerfile's name as the user gave it, for locations and messages.
    pub dockerfile_name: String,
    /// The stage to build; the last one when absent.
    pub target: Option<String>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The platform built for; the host's when absent.
    pub target_platform: Option<Platform>,
    /// The platform the build runs on; the host's when absent.
    pub build_platform: Option<Platform>,
    /// Patterns from `.dockerignore`, excluded from every read of the context.
    pub context_excludes: Vec<String>,
    /// `--add-host` entries (`name=ip`), given to every RUN's `/etc/hosts` (and so part of its
    /// op, as in BuildKit).
    pub extra_hosts: Vec<String>,
    /// `--network`: the network of a RUN that names none (or `default`).
    pub network: gb_ir::NetworkMode,
    /// `--shm-size`: the size of every RUN's `/dev/shm` in bytes (part of its op, as in
    /// BuildKit).
    pub shm_size: Option<u64>,
    /// `--ulimit`: every RUN's resource limits (part of its op, as in BuildKit).
    pub ulimits: Vec<gb_ir::Ulimit>,
    /// `--no-cache-filter`: the stages whose steps ignore the cache; `Some` of an empty list means
    /// every stage, as BuildKit's `no-cache` option without a value.
    pub no_cache_filter: Option<Vec<String>>,
    /// `--build-context NAME=...`: what replaces a stage named NAME, or an image `FROM NAME`
    /// and `--from=NAME` name, keyed by [`named_context_key`] of NAME.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// The URLs the main context ([`MAIN_CONTEXT`]) and named contexts (by
    /// [`named_context_key`]) were fetched from, when they were: SOURCE_DATE_EPOCH=`context` or
    /// `NAME` takes its time from there.
    pub remote_contexts: BTreeMap<String, String>,
}

/// What a named build context (`--build-context NAME=VALUE`) stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// An image (`docker-image://REF`), resolved like a `FROM` of it.
    Image(String),
    /// A local directory, read as the solve's local `name` (its own `.dockerignore` patterns in
    /// `exclude`); as a stage's base it is an image with no config beyond BuildKit's empty one.
    Local {
        /// The local directory's name in the solve's locals.
        name: String,
        /// Patterns of its `.dockerignore`.
        exclude: Vec<String>,
    },
}

/// The key a name is looked up by among the named contexts, as BuildKit's `NamedContext`
/// normalizes it: the familiar image name without a `:latest` tag (`docker.io/library/alpine`,
/// `alpine:latest` and `alpine` are all `alpine`). A name that is no image reference is kept
/// as written, lowercased.
pub fn named_context_key(name: &str) -> String {
    match ImageReference::parse(&name.to_lowercase()) {
        Ok(reference) => reference.familiar().trim_end_matches(":latest").to_owned(),
        Err(_) => name.to_lowercase(),
    }
}

/// A base image whose config the caller could look up (in the local store, say).
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The manifest digest, pinned into the image source op.
    pub manifest: Option<Sha256Digest>,
    /// The image's config (env values are all known).
    pub config: ImageConfig,
    /// The platform its config names, when it names one.
    pub platform: Option<Platform>,
}

/// Looks up base images while lowering. An image it does not know (`Ok(None)`) lowers to a
/// source whose config the solver resolves; one it could not look up fails the lowering at its
/// `FROM`, with the resolver's reason.
pub trait ImageResolver {
    /// The image for `reference` on `platform`, when known.
    fn resolve(&self, reference: &ImageReference, platform: &Platform) -> Result<Option<ResolvedImage>, ResolveError>;

    /// The time (seconds since the epoch) SOURCE_DATE_EPOCH takes from a remote source, `None`
    /// when it has none. A resolver that cannot fetch sources says so.
    fn source_time(&self, source: &RemoteSource) -> Result<Option<i64>, ResolveError> {
        let _ = source;
        Err(ResolveError {
            message: "SOURCE_DATE_EPOCH from a remote source needs a build that can fetch it".to_owned(),
            environment: false,
        })
    }
}

/// Why a resolver could not look an image up.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    /// What went wrong (an unreachable registry, no access, no image for the platform).
    pub message: String,
    /// The machine or a service failed (unreachable, a full disk), rather than the build's
    /// input (no such image, no access, no such platform).
    pub environment: bool,
}

/// A resolver that knows no image: every base image's config is resolved when solving.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoImages;

impl ImageResolver for NoImages {
    fn resolve(&self, _: &ImageReference, _: &Platform) -> Result<Option<ResolvedImage>, ResolveError> {
        Ok(None)
    }
}

/// A non-fatal finding, reported to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What was noticed.
    pub message: String,
    /// The Dockerfile line it is about, when it is about one.
    pub line: Option<usize>,
    /// The build check that reported it; `None` for graphbuild's own notices (unused build
    /// args, a foreign `# syntax=`, a base image config that is not available).
    pub rule: Option<CheckRule>,
}

/// The result of lowering.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The graph, its output and the image spec.
    pub definition: Definition,
    /// Findings worth telling the user.
    pub warnings: Vec<Warning>,
    /// Names of the stages that were lowered (the target and what it needs), in lowering order.
    pub stages: Vec<String>,
    /// The build's check configuration: with `error: true`, a build whose `warnings` include
    /// any rule's must fail ([`CheckConfig::violation`] gives BuildKit's error).
    pub check: CheckConfig,
    /// SOURCE_DATE_EPOCH as resolved (a number, or a source's time): the image's epoch.
    pub source_date_epoch: Option<i64>,
}

/// The variables BuildKit defines for every build (its `defaultArgs`): the build and target
/// platforms' parts and the name of the stage built. FROM and global ARGs read them; a stage
/// sees one only after an `ARG` of its name.
const BUILTIN_ARGS: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// The build arg naming the RUN steps' host name: BuildKit reads it as a front-end option
/// (dockerui's `BUILDKIT_SANDBOX_HOSTNAME`), so it needs no ARG and is never unused.
pub(crate) const HOSTNAME_BUILD_ARG: &str = "BUILDKIT_SANDBOX_HOSTNAME";

/// Proxy variables usable as build args without an ARG, kept out of cache keys.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The most bytes of data lowering may build from the Dockerfile: expanded words, ops and
/// stages derived from other stages, each counted once when made.
///
/// One word is bounded by [`gb_shell::MAX_WORD_BYTES`], but that alone still lets a short line
/// copy 1 MiB (`ENV E1=$BIG`), and every RUN copies the whole environment into its op and
/// every `FROM stage` copies the stage: without a total, a few thousand such lines hold
/// gigabytes. Real Dockerfiles lower to well under a megabyte.
pub const MAX_LOWERED_BYTES: usize = 64 << 20;

struct StageDecl {
    name: Option<String>,
    from: Instruction,
    instructions: Vec<Instruction>,
}

/// One thing a stage still has to do.
pub(crate) enum Work {
    /// An ONBUILD trigger of the base, parsed only when its turn comes, as Docker does.
    Trigger(String),
    /// An instruction with its step label (`[build 2/5]`).
    Instruction(Box<Instruction>, String),
}

/// A stage whose FROM is resolved, with the instructions it has still to apply.
pub(crate) struct StageBody {
    pub index: usize,
    pub state: StageState,
    pub work: Vec<Work>,
    /// The first item of `work` not applied yet.
    pub next: usize,
}

/// A stage on the work stack.
enum Frame {
    /// Not started: its FROM may name a stage that must be lowered first.
    Start(usize),
    /// Started, with its instructions partly applied.
    Body(Box<StageBody>),
}

/// How far a frame got.
enum Progress {
    /// The stage is lowered: its work is all done.
    Done(Box<StageBody>),
    /// The frame waits for the stage with this index.
    Waiting(Frame, usize),
}

/// What starting a stage gives.
pub(crate) enum Started {
    /// The stage's FROM is resolved.
    Body(Box<StageBody>),
    /// Its FROM names this stage, which is not lowered yet.
    Waiting(usize),
}

/// Lowers a Dockerfile.
pub fn lower(source: &str, options: &LowerOptions, images: &dyn ImageResolver) -> Result<Lowered, DockerfileError> {
    lower_counted(source, options, images).map(|(lowered, _)| lowered)
}

/// [`lower`], also returning the bytes counted against [`MAX_LOWERED_BYTES`], which tests check.
fn lower_counted(
    source: &str,
    options: &LowerOptions,
    images: &dyn ImageResolver,
) -> Result<(Lowered, usize), DockerfileError> {
    let ast = parser::parse(source).map_err(|err| crate::parse_error(source, &err))?;
    let config = lint_config::for_build(source, ast.directives.check.as_deref(), &options.build_args)?;
    let mut lowerer = Lowerer::new(source, options, images, ast.directives.escape, config);
    let target = lowerer.prepare(&ast)?;
    lowerer.lower_stages(&[target])?;
    let state = lowerer.lowered(target)?;
    let spent = lowerer.spent.get();
    Ok((lowerer.finish(state)?, spent))
}

/// Whether a `# syntax=` image is the Dockerfile front end graphbuild has built in (any tag or
/// digest of `docker/dockerfile` or `docker/dockerfile-upstream`).
fn is_builtin_frontend(name: &str) -> bool {
    let name = name.trim();
    let name = name.split_once('@').map_or(name, |(repository, _)| repository);
    let repository = match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => repository,
        _ => name,
    };
    let repository = repository.strip_prefix("docker.io/").unwrap_or(repository);
    matches!(repository, "docker/dockerfile" | "docker/dockerfile-upstream")
}

/// The line (1-based) of the parser directive `name` at the top of the file.
fn directive_line(source: &str, name: &str) -> Option<usize> {
    source
        .lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix('#')
                .is_some_and(|rest| rest.trim_start().to_ascii_lowercase().starts_with(name))
        })
        .map(|index| index + 1)
}

/// Types the instructions and groups them into stages, after the global ARGs. `inspect` sees
/// each instruction before it is typed, so the checks BuildKit runs while typing report what
/// comes before an instruction that fails.
fn split_stages(
    source: &str,
    nodes: &[Node],
    mut inspect: impl FnMut(&Node),
) -> Result<(Vec<Instruction>, Vec<StageDecl>), DockerfileError> {
    let mut meta = Vec::new();
    let mut stages: Vec<StageDecl> = Vec::new();
    for node in nodes {
        inspect(node);
        let instruction = Instruction::from_node(node, source)?;
        match (&instruction.command, stages.last_mut()) {
            (Command::From { name, .. }, _) => {
                let name = name.as_ref().map(|n| n.to_lowercase());
                stages.push(StageDecl { name, from: instruction, instructions: Vec::new() });
            }
            (_, Some(stage)) => stage.instructions.push(instruction),
            (Command::Arg(_), None) => meta.push(instruction),
            (_, None) => {
                return Err(error_at_node(
                    source,
                    node,
                    format!(
                        "{} instruction before the first FROM: no build stage in current context",
                        node.keyword.to_uppercase()
                    ),
                )
                .with_help("only ARG may come before the first FROM"));
            }
        }
    }
    if stages.is_empty() {
        // BuildKit's words, which scripts match.
        let message = "dockerfile contains no stages to build";
        let error = match nodes.first() {
            // Point at the ARGs that are all there is, so the message names a line.
            Some(node) => error_at_node(source, node, message),
            None => DockerfileError::whole_file(ErrorKind::Instruction, message),
        };
        return Err(error.with_help("a build stage starts with FROM IMAGE; only ARG may come before the first FROM"));
    }
    Ok((meta, stages))
}

pub(crate) struct Lowerer<'a> {
    source: &'a str,
    options: &'a LowerOptions,
    images: &'a dyn ImageResolver,
    lexer: gb_shell::Lexer,
    definition: Definition,
    warnings: Vec<Warning>,
    stages: Vec<StageDecl>,
    results: Vec<Option<Rc<StageState>>>,
    known_ops: HashSet<OpDigest>,
    in_progress: BTreeSet<usize>,
    /// The stage an instruction asked for that is not lowered yet (see the module docs).
    needed: Option<usize>,
    /// Bytes counted against [`MAX_LOWERED_BYTES`]; a `Cell` so `&self` expansion can count.
    spent: Cell<usize>,
    /// The part of `spent` that the words expanded by the current instruction (or FROM) added.
    /// An instruction that waits for a stage expands them all again when it runs again, so
    /// this is taken back from `spent` when it waits: each word counts once.
    attempt_expanded: Cell<usize>,
    lowered_names: Vec<String>,
    meta_args: Vec<(String, Option<String>)>,
    /// `--build-arg` values, SOURCE_DATE_EPOCH resolved.
    build_args: BTreeMap<String, String>,
    /// SOURCE_DATE_EPOCH resolved ([`epoch`]).
    source_date_epoch: Option<i64>,
    used_build_args: BTreeSet<String>,
    target_platform: Platform,
    build_platform: Platform,
    /// The build checks' configuration and what they read.
    lint: lints::LintState,
    /// Whether the stage being lowered is one `--no-cache-filter` names: its RUN steps ignore
    /// the cache.
    stage_ignores_cache: bool,
}

impl<'a> Lowerer<'a> {
    fn new(
        source: &'a str,
        options: &'a LowerOptions,
        images: &'a dyn ImageResolver,
        escape: char,
        check: CheckConfig,
    ) -> Self {
        Self {
            source,
            options,
            images,
            lexer: gb_shell::Lexer::new(escape),
            definition: Definition::new(),
            warnings: Vec::new(),
            stages: Vec::new(),
            results: Vec::new(),
            known_ops: HashSet::new(),
            in_progress: BTreeSet::new(),
            needed: None,
            spent: Cell::new(0),
            attempt_expanded: Cell::new(0),
            lowered_names: Vec::new(),
            meta_args: Vec::new(),
            build_args: options.build_args.clone(),
            source_date_epoch: None,
            used_build_args: BTreeSet::new(),
            target_platform: options.target_platform.clone().unwrap_or_else(Platform::host),
            build_platform: options.build_platform.clone().unwrap_or_else(Platform::host),
            lint: lints::LintState::new(check, &options.context_excludes),
            stage_ignores_cache: false,
        }
    }

    fn warn(&mut self, message: String, line: Option<usize>) {
        self.warnings.push(Warning { message, line, rule: None });
    }

    /// Everything before stages are lowered: the checks on the parse tree, the stages and
    /// global ARGs, the checks on every stage's FROM. Returns the target stage's index.
    fn prepare(&mut self, ast: &parser::Ast) -> Result<usize, DockerfileError> {
        self.lint_parser_warnings(&ast.warnings);
        if let Some(syntax) = ast.directives.syntax.as_deref().filter(|name| !is_builtin_frontend(name)) {
            let message = format!(
                "the front end {syntax:?} that `# syntax=` names is not available in graphbuild; the built-in Dockerfile front end builds this file"
            );
            self.warn(message, directive_line(self.source, "syntax"));
        }
        let source = self.source;
        let (meta_instructions, stages) = split_stages(source, &ast.children, |node| self.lint_instruction(node))?;
        self.stages = stages;
        self.check_stage_names()?;
        self.lint_file(&ast.children);
        self.lint_default_base_names(&meta_instructions);
        self.declare_global_args(&meta_instructions)?;
        self.resolve_source_date_epoch()?;
        self.lint_stage_bases();
        let target = self.target_index()?;
        // Once the target is known, every stage's COPY --from is checked, built or not, as in
        // BuildKit.
        for instruction in self.stages.iter().flat_map(|stage| &stage.instructions) {
            self.check_copy_from(instruction)?;
        }
        Ok(target)
    }

    /// The automatic variables ([`BUILTIN_ARGS`]) for a target platform; a build arg of the
    /// same name replaces a value, as in BuildKit's `defaultArgs`. The OS versions are empty:
    /// Linux platforms have none.
    fn builtin_args(&self, target: &Platform) -> Vec<(String, Option<String>)> {
        let b = &self.build_platform;
        let values = [
            b.to_string(),
            b.os.clone(),
            String::new(),
            b.architecture.clone(),
            b.variant.clone().unwrap_or_default(),
            target.to_string(),
            target.os.clone(),
            String::new(),
            target.architecture.clone(),
            target.variant.clone().unwrap_or_default(),
            self.target_stage_name(),
        ];
        BUILTIN_ARGS
            .iter()
            .zip(values)
            .map(|(name, value)| {
                let value = self.build_args.get(*name).cloned().unwrap_or(value);
                ((*name).to_owned(), Some(value))
            })
            .collect()
    }

    /// TARGETSTAGE: the stage `--target` names as written, else the last stage's name, else
    /// `default` when that stage has none (BuildKit's `Dockerfile2LLB` and `defaultArgs`).
    fn target_stage_name(&self) -> String {
        match &self.options.target {
            Some(target) if !target.is_empty() => target.clone(),
            _ => self.stages.last().and_then(|stage| stage.name.clone()).unwrap_or_else(|| "default".to_owned()),
        }
    }

    fn declare_global_args(&mut self, instructions: &[Instruction]) -> Result<(), DockerfileError> {
        let mut scope_args = self.builtin_args(&self.target_platform.clone());
        for instruction in instructions {
            let Command::Arg(args) = &instruction.command else { continue };
            for (name, default) in args {
                let value = match (self.build_args.get(name), default) {
                    (Some(value), _) => Some(value.clone()),
                    (None, Some(default)) => {
                        let scope = vars::Scope { arg_env: &[], env: &[], args: &scope_args, deferred_base: false };
                        Some(self.expand_with(&scope, default, &instruction.node)?)
                    }
                    // A bare global `ARG TARGETARCH` keeps the automatic value.
                    (None, None) => scope_args
                        .iter()
                        .find(|(arg, _)| arg == name && BUILTIN_ARGS.contains(&arg.as_str()))
                        .and_then(|(_, v)| v.clone()),
                };
                self.used_build_args.insert(name.clone());
                scope_args.push((name.clone(), value.clone()));
                self.meta_args.push((name.clone(), value));
            }
        }
        Ok(())
    }

    /// Stage names must be valid; a repeated name is only a check's finding (DuplicateStageName),
    /// and the name then means its last stage so far, as in BuildKit.
    fn check_stage_names(&self) -> Result<(), DockerfileError> {
        for stage in &self.stages {
            let Some(name) = &stage.name else { continue };
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(error_at_text(
                    self.source,
                    &stage.from.node,
                    name,
                    format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The stage to build: the one `--target` names (the last of that name), else the last.
    fn target_index(&self) -> Result<usize, DockerfileError> {
        match &self.options.target {
            None => Ok(self.stages.len() - 1),
            Some(target) => self
                .stages
                .iter()
                .rposition(|stage| stage.name.as_deref() == Some(target.to_lowercase().as_str()))
                .ok_or_else(|| {
                    // BuildKit suggests the closest stage name (`suggest.WrapError`).
                    let names = self.stages.iter().filter_map(|stage| stage.name.as_deref());
                    let hint = crate::lint::words::suggest(target, names)
                        .map(|name| format!(" (did you mean {name}?)"))
                        .unwrap_or_default();
                    DockerfileError::whole_file(
                        ErrorKind::Instruction,
                        format!("target stage {target:?} could not be found{hint}"),
                    )
                }),
        }
    }

    /// Finds a stage by name (case-insensitive) or index, as `--from` refers to them. A name
    /// used by several stages means the last of them, as in BuildKit.
    fn find_stage(&self, reference: &str, allow_index: bool) -> Option<usize> {
        let lower = reference.to_lowercase();
        if let Some(index) = self.stages.iter().rposition(|stage| stage.name.as_deref() == Some(lower.as_str())) {
            return Some(index);
        }
        if allow_index && let Ok(index) = reference.parse::<usize>() {
            return (index < self.stages.len()).then_some(index);
        }
        None
    }

    /// The stage a FROM names: the last stage before `index` with that name (its case aside),
    /// so a repeated name means the stage it last named, as in BuildKit. A name only later
    /// stages have means the first of them (BuildKit would read it as an image name instead).
    fn find_base_stage(&self, name: &str, index: usize) -> Option<usize> {
        let lower = name.to_lowercase();
        let named = |stage: &StageDecl| stage.name.as_deref() == Some(lower.as_str());
        let before = &self.stages[..index.min(self.stages.len())];
        before.iter().rposition(named).or_else(|| self.stages.iter().position(named).filter(|found| *found != index))
    }

    /// Lowers the given stages and every stage they need, each once, with an explicit stack
    /// of waiting stages rather than recursion.
    fn lower_stages(&mut self, roots: &[usize]) -> Result<(), DockerfileError> {
        self.results.resize_with(self.stages.len(), || None);
        for &root in roots {
            if self.results.get(root).is_some_and(Option::is_some) {
                continue;
            }
            self.in_progress.insert(root);
            self.lower_from(root)?;
        }
        Ok(())
    }

    /// Lowers one stage and what it needs.
    fn lower_from(&mut self, root: usize) -> Result<(), DockerfileError> {
        let mut stack = vec![Frame::Start(root)];
        while let Some(frame) = stack.pop() {
            match self.advance(frame)? {
                Progress::Done(body) => {
                    // Shared, not cloned: a stage many others build on or copy from is kept once.
                    let index = body.index;
                    self.in_progress.remove(&index);
                    self.lowered_names.push(self.stage_display_name(index));
                    self.results[index] = Some(Rc::new(body.state));
                }
                Progress::Waiting(frame, needed) => {
                    stack.push(frame);
                    self.in_progress.insert(needed);
                    stack.push(Frame::Start(needed));
                }
            }
        }
        Ok(())
    }

    /// The final state of a lowered stage.
    fn lowered(&self, index: usize) -> Result<Rc<StageState>, DockerfileError> {
        self.results.get(index).cloned().flatten().ok_or_else(|| {
            DockerfileError::whole_file(ErrorKind::Instruction, "internal error: the target stage was not lowered")
        })
    }

    /// Runs a stage until it is lowered or needs a stage that is not.
    fn advance(&mut self, frame: Frame) -> Result<Progress, DockerfileError> {
        let mut body = match frame {
            Frame::Start(index) => {
                self.attempt_expanded.set(0);
                match self.start_stage(index)? {
                    Started::Body(body) => body,
                    Started::Waiting(needed) => {
                        self.uncharge_attempt();
                        return Ok(Progress::Waiting(Frame::Start(index), needed));
                    }
                }
            }
            Frame::Body(body) => body,
        };
        self.stage_ignores_cache = self.ignores_cache(body.index);
        while let Some(work) = body.work.get(body.next) {
            let (instruction, step) = match work {
                Work::Instruction(instruction, step) => (instruction, step.clone()),
                Work::Trigger(trigger) => {
                    // A trigger becomes its instructions, in its place.
                    let instructions = self.parse_trigger(trigger, &self.stages[body.index].from.node)?;
                    let step =
                        format!("{} ONBUILD", step_label(&body.state.name, 1, self.stage_total(body.index, true)));
                    let items = instructions
                        .into_iter()
                        .map(|instruction| Work::Instruction(Box::new(instruction), step.clone()));
                    body.work.splice(body.next..=body.next, items);
                    continue;
                }
            };
            let warnings = self.warnings.len();
            self.attempt_expanded.set(0);
            let result =
                self.dispatch(&mut body.state, instruction, step).and_then(|()| self.check_budget(&instruction.node));
            match (result, self.needed.take()) {
                (Ok(()), _) => body.next += 1,
                (Err(_), Some(needed)) => {
                    // The instruction runs again once `needed` is lowered; what it warned about
                    // so far it will warn about again.
                    self.warnings.truncate(warnings);
                    self.uncharge_attempt();
                    return Ok(Progress::Waiting(Frame::Body(body), needed));
                }
                (Err(err), None) => return Err(err),
            }
        }
        Ok(Progress::Done(body))
    }

    /// The final state of a stage that is lowered. One that is not yet makes this fail with a
    /// placeholder error after noting the stage in `needed`, so the driver lowers it and runs
    /// the asking instruction again; every caller passes that error straight up with `?`.
    fn lower_stage(&mut self, index: usize) -> Result<Rc<StageState>, DockerfileError> {
        if let Some(done) = self.results.get(index).and_then(Option::as_ref) {
            return Ok(done.clone());
        }
        if self.in_progress.contains(&index) {
            let node = &self.stages[index].from.node;
            return Err(error_at_node(
                self.source,
                node,
                format!("circular dependency detected on stage: {}", self.stage_display_name(index)),
            ));
        }
        self.needed = Some(index);
        Err(DockerfileError::whole_file(ErrorKind::Instruction, format!("stage {index} is not lowered yet")))
    }

    /// Whether `--no-cache-filter` names the stage (case-insensitively, as BuildKit's
    /// `IsNoCache`); an empty filter names every stage.
    fn ignores_cache(&self, index: usize) -> bool {
        self.options.no_cache_filter.as_ref().is_some_and(|names| {
            names.is_empty()
                || self.stages[index]
                    .name
                    .as_deref()
                    .is_some_and(|stage| names.iter().any(|n| n.eq_ignore_ascii_case(stage)))
        })
    }

    /// How many steps a stage has, as BuildKit counts them (`cmdTotal`): its FROM unless it is
    /// `scratch`, and its RUN, COPY, ADD and WORKDIR instructions.
    fn stage_total(&self, index: usize, from_counts: bool) -> usize {
        let counted = self.stages[index].instructions.iter().filter(|i| stage::counts_as_step(&i.command)).count();
        (counted + usize::from(from_counts)).max(1)
    }

    /// Counts bytes built from the Dockerfile against [`MAX_LOWERED_BYTES`].
    fn charge(&self, bytes: usize) {
        self.spent.set(self.spent.get().saturating_add(bytes));
    }

    /// Takes back what the words of an instruction that now waits for a stage were charged;
    /// the ops it added stay charged, as they stay in the Definition.
    fn uncharge_attempt(&self) {
        self.spent.set(self.spent.get().saturating_sub(self.attempt_expanded.take()));
    }

    /// Fails, pointing at `node`, once lowering has built more than [`MAX_LOWERED_BYTES`].
    fn check_budget(&self, node: &Node) -> Result<(), DockerfileError> {
        if self.spent.get() <= MAX_LOWERED_BYTES {
            return Ok(());
        }
        let mut error = error_at_node(
            self.source,
            node,
            format!(
                "lowering the Dockerfile builds more than {} MiB of data by this instruction",
                MAX_LOWERED_BYTES >> 20
            ),
        )
        .with_help("variables holding large values are copied into every RUN and every stage built on this one");
        error.kind = ErrorKind::Expansion;
        Err(error)
    }

    fn stage_display_name(&self, index: usize) -> String {
        self.stages[index].name.clone().unwrap_or_else(|| format!("stage-{index}"))
    }

    /// Adds an op with its metadata and returns its digest.
    fn add_op(&mut self, node: OpNode, description: String, instruction: Option<&Node>) -> OpDigest {
        // The digest set makes adding an op constant time; `Definition::add` searches linearly.
        let digest = node.digest();
        // As BuildKit's `--no-cache-filter`, only a stage's RUN steps ignore the cache.
        let ignore_cache = self.stage_ignores_cache && matches!(node.op, gb_ir::Op::Exec(_));
        if self.known_ops.insert(digest) {
            // Checked at the end of the instruction: an instruction adds a handful of ops.
            self.charge(json_size(&node) + description.len());
            self.definition.ops.push(gb_ir::OpEntry { digest, node });
        }
        self.definition.metadata.entry(digest).or_insert_with(|| OpMetadata {
            description,
            instruction: instruction.map(|n| n.keyword.to_uppercase()),
            locations: instruction
                .map(|n| Location {
                    file: self.options.dockerfile_name.clone(),
                    start_line: n.location.start_line,
                    end_line: n.location.end_line,
                })
                .into_iter()
                .collect(),
            ignore_cache,
        });
        if ignore_cache {
            // The same RUN in a stage the filter does not name must not keep the cache for it.
            if let Some(metadata) = self.definition.metadata.get_mut(&digest) {
                metadata.ignore_cache = true;
            }
        }
        digest
    }

    /// The source op of an image (pinned when the resolver knows it), its config when known and
    /// the platform that config names.
    fn image_source(
        &mut self,
        reference: &ImageReference,
        written: &str,
        platform: &Platform,
        node: &Node,
        description: String,
    ) -> Result<(OpDigest, Option<ImageConfig>, Option<Platform>), DockerfileError> {
        let resolved = self.images.resolve(reference, platform).map_err(|err| {
            let mut error = error_at_text(self.source, node, written, format!("resolving {reference}: {err}"));
            // Exit 3 for an unreachable registry, 1 for a missing image: the kind says which.
            if err.environment {
                error.kind = ErrorKind::Io;
            }
            error
        })?;
        let op = OpNode {
            inputs: Vec::new(),
            op: Op::Source(SourceOp::Image(ImageSource {
                reference: reference.to_string(),
                manifest: resolved.as_ref().and_then(|r| r.manifest).or(reference.digest),
            })),
            platform: Some(platform.clone()),
        };
        let (config, actual) = resolved.map_or((None, None), |r| (Some(r.config), r.platform));
        Ok((self.add_op(op, description, Some(node)), config, actual))
    }

    /// Expands a word against a scope, mapping expansion errors to the word's position.
    fn expand_with(&self, scope: &dyn gb_shell::Env, word: &str, node: &Node) -> Result<String, DockerfileError> {
        self.expand_full(scope, word, node).map(|expansion| expansion.value)
    }

    /// [`Self::expand_with`], also saying which variables the word read were set and which
    /// were not.
    fn expand_full(
        &self,
        scope: &dyn gb_shell::Env,
        word: &str,
        node: &Node,
    ) -> Result<gb_shell::Expansion, DockerfileError> {
        let expansion = self.lexer.expand_word(word, scope).map_err(|err| {
            // Point at the failing `$` or quote inside the word, not at the whole word.
            let whole = error_at_text(self.source, node, word, "");
            self.expansion_error(whole.span.map_or(0, |span| span.offset()) + err.offset(), &err)
        })?;
        self.charge_expansion(expansion.value.len(), word, node)?;
        Ok(expansion)
    }

    /// An expansion error pointing at the byte `offset` of the Dockerfile.
    fn expansion_error(&self, offset: usize, err: &gb_shell::ExpandError) -> DockerfileError {
        let mut error =
            DockerfileError::at(ErrorKind::Expansion, self.source, offset, 1, without_byte_offset(&err.to_string()));
        error.label = "this substitution".to_owned();
        error
    }

    /// Counts expanded bytes, failing at once: one instruction can expand many words.
    fn charge_expansion(&self, bytes: usize, word: &str, node: &Node) -> Result<(), DockerfileError> {
        self.charge(bytes);
        self.attempt_expanded.set(self.attempt_expanded.get().saturating_add(bytes));
        self.check_budget(node).map_err(|err| {
            let mut error = error_at_text(self.source, node, word, err.message);
            error.kind = ErrorKind::Expansion;
            error.help = err.help;
            error
        })
    }

    fn finish(mut self, state: Rc<StageState>) -> Result<Lowered, DockerfileError> {
        let output = match &state.fs {
            Some(input) => input.clone(),
            None => {
                let scratch = OpNode { inputs: Vec::new(), op: Op::Source(SourceOp::Scratch), platform: None };
                Input::of(self.add_op(scratch, "scratch".to_owned(), None))
            }
        };
        self.definition.output = Some(Output { op: output.op, output: output.output });
        let config = state.config.clone();
        self.definition.image = Some(ImageSpec {
            base: state.base_reference.clone(),
            base_config_applied: !state.deferred,
            platform: state.platform.clone(),
            config,
            history: state.history.clone(),
        });
        let unused: Vec<&String> = self
            .options
            .build_args
            .keys()
            .filter(|name| {
                // The front end reads SOURCE_DATE_EPOCH itself, declared or not, and BuildKit
                // keeps the `BUILDKIT_` names for its front end's options
                // (`BUILDKIT_MULTI_PLATFORM`, `BUILDKIT_CONTEXT_KEEP_GIT_DIR`, ...).
                if name.as_str() == SOURCE_DATE_EPOCH || name.starts_with("BUILDKIT_") {
                    return false;
                }
                // The check configuration is the front end's to read, like the proxy variables.
                !self.used_build_args.contains(*name)
                    && !PROXY_ARGS.contains(&name.as_str())
                    && name.as_str() != CHECK_BUILD_ARG
                    && name.as_str() != HOSTNAME_BUILD_ARG
            })
            .collect();
        if !unused.is_empty() {
            let names = unused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
            self.warn(format!("one or more build-args [{names}] were not consumed"), None);
        }
        debug_assert!(self.definition.validate().is_ok());
        Ok(Lowered {
            definition: self.definition,
            warnings: self.warnings,
            stages: self.lowered_names,
            check: self.lint.config,
            source_date_epoch: self.source_date_epoch,
        })
    }
}

/// The `[name n/total]` prefix of a step's description.
pub(crate) fn step_label(name: &str, step: usize, total: usize) -> String {
    format!("[{name} {step}/{total}]")
}

/// Counts the bytes written to it, to measure JSON without building it.
#[derive(Default)]
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of an op's JSON.
fn json_size(node: &OpNode) -> usize {
    let mut count = ByteCount::default();
    // Serializing an op cannot fail; a failure would only undercount.
    let _ = serde_json::to_writer(&mut count, node);
    count.0
}

/// An expansion message without the word-relative byte offset, which the caret replaces.
fn without_byte_offset(message: &str) -> String {
    for marker in [" (substitution starting at byte", " starting at byte", " at byte"] {
        if let Some(at) = message.find(marker) {
            return message[..at].to_owned();
        }
    }
    message.to_owned()
}

/// A history entry for an instruction.
pub(crate) fn history_entry(created_by: String, layer: bool) -> HistoryEntry {
    HistoryEntry {
        created_by: if layer { format!("{created_by} # buildkit") } else { created_by },
        empty_layer: !layer,
        comment: Some("buildkit.dockerfile.v0".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_builtin_frontend, lower_counted};
    use crate::{LowerOptions, NoImages};

    #[test]
    fn a_syntax_line_naming_another_front_end_is_warned_about_with_its_line() {
        let warnings = |text: &str| {
            let lowered = crate::lower(text, &LowerOptions::default(), &NoImages).expect("lowers");
            lowered.warnings.into_iter().map(|w| (w.message, w.line)).collect::<Vec<_>>()
        };
        let foreign = warnings("# syntax=example.com/other/frontend:1\nFROM scratch\n");
        assert_eq!(foreign.len(), 1, "{foreign:?}");
        assert!(foreign[0].0.contains("\"example.com/other/frontend:1\""), "{foreign:?}");
        assert_eq!(foreign[0].1, Some(1));
        assert!(warnings("# syntax=docker/dockerfile:1.7\nFROM scratch\n").is_empty());
        for builtin in [
            "docker/dockerfile",
            "docker/dockerfile:1",
            "docker.io/docker/dockerfile:1.7-labs",
            "docker/dockerfile-upstream:master",
            "docker/dockerfile@sha256:abc",
        ] {
            assert!(is_builtin_frontend(builtin), "{builtin}");
        }
        for other in ["tonistiigi/dockerfile:x", "localhost:5000/docker/dockerfile2", "example.com/docker/dockerfile:1"]
        {
            assert!(!is_builtin_frontend(other), "{other}");
        }
    }

    /// The bytes lowering `text` counts against the bound.
    fn spent(text: &str) -> usize {
        lower_counted(text, &LowerOptions::default(), &NoImages).map(|(_, spent)| spent).expect("lowers")
    }

    #[test]
    fn an_instruction_that_waits_for_a_stage_counts_its_words_once() {
        // Both Dockerfiles expand and build the same bytes; in the first, the COPY of the long
        // path is the one that waits for stage `a` and runs again, in the second the short one.
        // Lines are at most 64 KiB, so the 200,000-byte value is built from a shorter one.
        let quarter = "x".repeat(50_000);
        let copy_big = "COPY --from=a /${BIG} /x";
        let copy_small = "COPY --from=a /y /y";
        let head = format!("FROM busybox AS a\nFROM busybox AS b\nARG Q={quarter}\nARG BIG=${{Q}}${{Q}}${{Q}}${{Q}}\n");
        let big_waits = spent(&format!("{head}{copy_big}\n{copy_small}\n"));
        let small_waits = spent(&format!("{head}{copy_small}\n{copy_big}\n"));
        assert_eq!(big_waits, small_waits);
        assert!(big_waits > 3 * 200_000, "{big_waits}: the ARG, the COPY's word and its op each count the value");
    }
}

//! One stage's state while it is lowered, and the instructions that only change metadata.

use gb_ir::{
    EnvValue, EnvVar, FileAction, FileOp, HistoryEntry, ImageConfig, ImageReference, Input, LocalSource, MkdirAction,
    Op, OpDigest, OpNode, Platform, SourceOp,
};

use super::history::{go_quote_list, parse_duration, parse_ports};
use super::lints::{Once, StageLints};
use super::paths::{clean_absolute, join_workdir};
use super::vars::{self, Scope};
use super::{Lowerer, NamedContext, StageBody, Started, Work, history_entry, named_context_key, step_label};
use crate::error::DockerfileError;
use crate::instructions::{Command, CommandLine, Instruction, error_at_node, error_at_text};
use crate::parser::Node;

/// Everything a stage has built so far.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    /// Display name: the stage's name or `stage-N`.
    pub name: String,
    /// The stage's position in the Dockerfile.
    pub index: usize,
    /// The current file system; `None` is scratch.
    pub fs: Option<Input>,
    /// The image config so far.
    pub config: ImageConfig,
    /// The base image's config is not known; the solver resolves it from `config_source`.
    pub deferred: bool,
    /// The image source whose config underlies this stage, when `deferred`.
    pub config_source: Option<OpDigest>,
    /// The reference of the image at the bottom of the stage chain.
    pub base_reference: Option<String>,
    /// History entries of this stage and the stages it is built on.
    pub history: Vec<HistoryEntry>,
    /// ARGs declared in this stage or a stage it is built on, with their values.
    pub args: Vec<(String, Option<String>)>,
    /// ARG values that replace an ENV variable of the same name for the steps (their
    /// environment and expansion) but not in the image: BuildKit adds an ARG's value to the
    /// build state's env, so the later of ENV and ARG wins there. An ENV of the name puts its
    /// own value back.
    pub arg_env: Vec<(String, String)>,
    /// The platform the stage builds for.
    pub platform: Platform,
    /// A CMD was given in this stage (so ENTRYPOINT does not reset it).
    pub cmd_set: bool,
    /// What the build checks remember about the stage.
    pub lints: StageLints,
}

impl StageState {
    /// The variables visible to the next instruction.
    pub fn scope(&self) -> Scope<'_> {
        Scope { arg_env: &self.arg_env, env: &self.config.env, args: &self.args, deferred_base: self.deferred }
    }

    /// The value the steps see for `name` (BuildKit's state env): an ARG's over an earlier ENV,
    /// else the ENV's (unknown when it comes from a base image not resolved yet).
    pub fn step_env(&self, name: &str) -> Option<Option<&str>> {
        if let Some((_, value)) = self.arg_env.iter().find(|(arg, _)| arg == name) {
            return Some(Some(value));
        }
        self.config.env.iter().find(|var| var.name == name).map(|var| match &var.value {
            EnvValue::Value(value) => Some(value.as_str()),
            EnvValue::Deferred(_) => None,
        })
    }

    /// Sets an environment variable, replacing an earlier one of the same name.
    pub fn set_env(&mut self, name: String, value: EnvValue) {
        self.arg_env.retain(|(arg, _)| *arg != name);
        // Docker replaces a variable where it stands, keeping the order of the others.
        match self.config.env.iter_mut().find(|var| var.name == name) {
            Some(var) => var.value = value,
            None => self.config.env.push(EnvVar { name, value }),
        }
    }

    /// About how many bytes a copy of the stage holds: the parts that grow with the Dockerfile
    /// (variables, labels, volumes, triggers, history), counted without serializing them.
    pub fn copied_bytes(&self) -> usize {
        let config = &self.config;
        let env: usize = config
            .env
            .iter()
            .map(|var| {
                var.name.len()
                    + match &var.value {
                        EnvValue::Value(text) | EnvValue::Deferred(text) => text.len(),
                    }
            })
            .sum();
        let labels: usize = config.labels.iter().map(|(key, value)| key.len() + value.len()).sum();
        let volumes: usize = config.volumes.iter().map(String::len).sum();
        let triggers: usize = config.on_build.iter().map(String::len).sum();
        let history: usize = self.history.iter().map(|entry| entry.created_by.len()).sum();
        let args: usize =
            self.args.iter().map(|(name, value)| name.len() + value.as_ref().map_or(0, String::len)).sum();
        env + labels + volumes + triggers + history + args
    }

    /// The shell for shell-form commands.
    pub fn shell(&self) -> Vec<String> {
        self.config.shell.clone().unwrap_or_else(|| vec!["/bin/sh".to_owned(), "-c".to_owned()])
    }

    /// A command line as argv, shell form wrapped in the stage's shell.
    pub fn argv(&self, command: &CommandLine) -> Vec<String> {
        match command {
            CommandLine::Exec(args) => args.clone(),
            CommandLine::Shell(text) => {
                let mut argv = self.shell();
                argv.push(text.clone());
                argv
            }
        }
    }
}

impl Lowerer<'_> {
    /// Expands a word in a stage; variables of an unknown base image become empty, with a
    /// warning, since only ENV values can be deferred. Variables that are neither set nor
    /// declared are reported (UndefinedVar), as BuildKit reports them for the words it expands.
    pub(crate) fn expand(
        &mut self,
        stage: &StageState,
        word: &str,
        node: &Node,
        what: &str,
    ) -> Result<String, DockerfileError> {
        let expansion = self.expand_full(&stage.scope(), word, node)?;
        self.lint_undefined_vars(stage, &expansion.unmatched, node);
        Ok(self.fill_holes(expansion.value, node, what))
    }

    /// An expanded word with the unknown base image's variables made empty, warning that they
    /// were.
    pub(crate) fn fill_holes(&mut self, value: String, node: &Node, what: &str) -> String {
        if vars::has_holes(&value) {
            let names = vars::hole_names(&value).join(", ");
            self.warn(
                format!("{what} uses ${names}, which may come from the base image whose config is not available while lowering; it was taken as empty"),
                Some(node.location.start_line),
            );
            return vars::fill_holes_empty(&value);
        }
        value
    }

    /// Expands an ENV value, deferring it when it reads the unknown base image's env.
    fn expand_env_value(&mut self, stage: &StageState, word: &str, node: &Node) -> Result<EnvValue, DockerfileError> {
        let expansion = self.expand_full(&stage.scope(), word, node)?;
        self.lint_undefined_vars(stage, &expansion.unmatched, node);
        Ok(vars::env_value(expansion.value))
    }

    /// Resolves a stage's FROM and lists what the stage then does: its base's ONBUILD triggers
    /// and its instructions. When the FROM names a stage that is not lowered yet, this has
    /// changed nothing and says which stage to lower first.
    pub(crate) fn start_stage(&mut self, index: usize) -> Result<Started, DockerfileError> {
        let from = self.stages[index].from.clone();
        let Command::From { image, platform, .. } = &from.command else {
            return Err(error_at_node(self.source, &from.node, "a stage must start with FROM"));
        };
        let name = self.stage_display_name(index);

        // FROM sees only global ARGs and the automatic platform variables.
        let mut meta_scope = self.builtin_args(&self.target_platform.clone());
        meta_scope.extend(self.meta_args.iter().cloned());
        let scope = Scope { arg_env: &[], env: &[], args: &meta_scope, deferred_base: false };
        let platform = match platform {
            Some(text) => {
                let expanded = self.expand_with(&scope, text, &from.node)?;
                Platform::parse(&expanded).ok_or_else(|| {
                    error_at_text(
                        self.source,
                        &from.node,
                        text,
                        format!("invalid platform {expanded:?}: expected os/arch[/variant]"),
                    )
                })?
            }
            None => self.target_platform.clone(),
        };
        let image_name = self.expand_with(&scope, image, &from.node)?;
        if image_name.is_empty() {
            return Err(error_at_text(
                self.source,
                &from.node,
                image,
                format!("base name ({image}) should not be blank"),
            ));
        }
        let from_counts = !image_name.eq_ignore_ascii_case("scratch");
        let total = self.stage_total(index, from_counts);

        // A named build context named after this stage replaces it, as in BuildKit: its
        // instructions never run.
        let own_context = self.stages[index]
            .name
            .as_deref()
            .and_then(|own| self.options.named_contexts.get(&named_context_key(own)))
            .cloned();
        if let Some(context) = own_context {
            let (state, _) = self.context_stage(&context, &name, index, total, &platform, &from.node)?;
            return Ok(Started::Body(Box::new(StageBody { index, state, work: Vec::new(), next: 0 })));
        }

        let (mut stage, triggers);
        if let Some(base_index) = self.find_base_stage(&image_name, index) {
            let base = match self.lower_stage(base_index) {
                Ok(base) => base,
                Err(err) => return self.needed.take().map(Started::Waiting).ok_or(err),
            };
            // The copy is counted: a chain of stages each built on the last copies it each time.
            self.charge(base.copied_bytes());
            self.check_budget(&from.node)?;
            triggers = base.config.on_build.clone();
            let lints = StageLints::inherited(&base);
            // The base's ARGs stay declared with their values: BuildKit starts a stage from its
            // base's state, whose env holds them, and its build args (`dispatchState.init`).
            stage = StageState { name: name.clone(), index, cmd_set: false, lints, ..(*base).clone() };
            stage.config.on_build.clear();
        } else if let Some(context) = self.options.named_contexts.get(&named_context_key(&image_name)).cloned() {
            (stage, triggers) = self.context_stage(&context, &name, index, total, &platform, &from.node)?;
        } else if image_name.eq_ignore_ascii_case("scratch") {
            (stage, triggers) = (empty_stage(&name, index, &platform), Vec::new());
        } else {
            let reference = ImageReference::parse(&image_name)
                .map_err(|err| error_at_text(self.source, &from.node, image, err.to_string()))?;
            let description = format!("[{name} 1/{total}] FROM {reference}");
            (stage, triggers) =
                self.image_stage(&reference, image, &name, index, &platform, &from.node, description)?;
        }

        // Steps are numbered as BuildKit numbers them (`cmdIndex`): only the FROM of an image
        // and the instructions that make an op count.
        let mut work: Vec<Work> = triggers.into_iter().map(Work::Trigger).collect();
        let mut step = usize::from(from_counts);
        for instruction in &self.stages[index].instructions {
            if counts_as_step(&instruction.command) {
                step += 1;
            }
            work.push(Work::Instruction(Box::new(instruction.clone()), step_label(&name, step.max(1), total)));
        }
        Ok(Started::Body(Box::new(StageBody { index, state: stage, work, next: 0 })))
    }

    /// A stage starting from an image: its source op (pinned when the resolver knows the
    /// image) and its config, or a config the solver resolves; also its ONBUILD triggers.
    #[allow(clippy::too_many_arguments)]
    fn image_stage(
        &mut self,
        reference: &ImageReference,
        written: &str,
        name: &str,
        index: usize,
        platform: &Platform,
        node: &Node,
        description: String,
    ) -> Result<(StageState, Vec<String>), DockerfileError> {
        let (op, config, actual) = self.image_source(reference, written, platform, node, description)?;
        // BuildKit's `validateBaseImagePlatform`: an image of another OS or architecture is
        // used, with this finding.
        if let Some(actual) = actual.filter(|actual| {
            !(actual.os.eq_ignore_ascii_case(&platform.os)
                && Platform { variant: None, ..actual.clone() }
                    .matches(&Platform { variant: None, ..platform.clone() }))
        }) {
            let message =
                crate::lint::message::invalid_base_image_platform(written, &platform.to_string(), &actual.to_string());
            self.lint(crate::lint::rule::CheckRule::InvalidBaseImagePlatform, node, message);
        }
        let deferred = config.is_none();
        let mut triggers = Vec::new();
        if let Some(config) = &config {
            triggers = config.on_build.clone();
        } else {
            let message = format!(
                "the config of base image {reference} is not in the local store; its Env, WorkingDir and User are applied when the graph is solved, and its ONBUILD triggers (if any) are not"
            );
            if !self.warnings.iter().any(|w| w.message == message) {
                self.warn(message, Some(node.location.start_line));
            }
        }
        let mut config = config.unwrap_or_default();
        config.on_build.clear();
        let stage = StageState {
            fs: Some(Input::of(op)),
            config,
            deferred,
            config_source: deferred.then_some(op),
            base_reference: Some(reference.to_string()),
            ..empty_stage(name, index, platform)
        };
        Ok((stage, triggers))
    }

    /// A stage starting from a named build context: an image's like [`Self::image_stage`], or
    /// a local directory as an image with BuildKit's empty config.
    fn context_stage(
        &mut self,
        context: &NamedContext,
        name: &str,
        index: usize,
        total: usize,
        platform: &Platform,
        node: &Node,
    ) -> Result<(StageState, Vec<String>), DockerfileError> {
        match context {
            // `docker-image://scratch` is the empty image, as BuildKit's `EmptyImageName`.
            NamedContext::Image(written) if written.eq_ignore_ascii_case("scratch") => {
                Ok((empty_stage(name, index, platform), Vec::new()))
            }
            NamedContext::Image(written) => {
                let reference = ImageReference::parse(written).map_err(|err| {
                    error_at_node(self.source, node, format!("--build-context image {written:?}: {err}"))
                })?;
                let description = format!("[{name} 1/{total}] FROM {reference} (build context)");
                self.image_stage(&reference, written, name, index, platform, node, description)
            }
            NamedContext::Local { name: local, exclude } => {
                let mut stage = empty_stage(name, index, platform);
                stage.fs = Some(self.local_context_source(local, exclude, node));
                Ok((stage, Vec::new()))
            }
        }
    }

    /// The source op of a local directory given as a named build context.
    pub(crate) fn local_context_source(&mut self, name: &str, exclude: &[String], node: &Node) -> Input {
        let op = OpNode {
            inputs: Vec::new(),
            op: Op::Source(SourceOp::Local(LocalSource {
                name: name.to_owned(),
                include: Vec::new(),
                exclude: exclude.to_vec(),
            })),
            platform: None,
        };
        Input::of(self.add_op(op, format!("load build context {name}"), Some(node)))
    }

    /// An instruction's step name as BuildKit prints it: a RUN's line with the stage's set
    /// variables expanded (quotes and unset variables as written, secrets given as environment
    /// variables as `****`), a COPY's, ADD's or WORKDIR's line expanded as a word, and the keyword
    /// upper-cased (`uppercaseCmd`). A line with heredocs, or that does not expand, is shown as
    /// written.
    fn step_name(&self, stage: &StageState, instruction: &Instruction) -> String {
        let node = &instruction.node;
        let original = node.original.trim();
        let scope = stage.scope();
        let known = |name: &str| gb_shell::Env::lookup(&scope, name).filter(|value| !vars::has_holes(value));
        let expanded = match &instruction.command {
            _ if !node.heredocs.is_empty() => None,
            Command::Run { mounts, .. } => {
                let secrets = secret_env_names(mounts);
                let lookup =
                    |name: &str| if secrets.iter().any(|s| s == name) { Some("****".to_owned()) } else { known(name) };
                super::display::raw_expand(original, self.lexer.escape(), &lookup)
            }
            Command::Copy(_) | Command::Workdir(_) => {
                let expansion = self.lexer.expand_word(original, &scope).ok();
                expansion.map(|e| e.value).filter(|value| !vars::has_holes(value))
            }
            _ => None,
        };
        let text = expanded.unwrap_or_else(|| original.to_owned());
        let (keyword, rest) = text.split_once(' ').unwrap_or((&text, ""));
        format!("{} {rest}", keyword.to_uppercase()).trim_end().to_owned()
    }

    /// Parses an ONBUILD trigger; its errors and ops point at the FROM that fired it.
    pub(crate) fn parse_trigger(&self, trigger: &str, from: &Node) -> Result<Vec<Instruction>, DockerfileError> {
        let ast = crate::parser::parse(trigger).map_err(|err| {
            error_at_node(
                self.source,
                from,
                format!("invalid ONBUILD trigger {trigger:?} of the base image: {}", err.message),
            )
        })?;
        ast.children
            .iter()
            .map(|node| {
                let mut node = node.clone();
                node.location = from.location;
                let instruction = Instruction::from_node(&node, trigger);
                instruction.and_then(|i| self.check_copy_from(&i).map(|()| i)).map_err(|err| {
                    error_at_node(self.source, from, format!("in ONBUILD trigger {trigger:?}: {}", err.message))
                })
            })
            .collect()
    }

    /// Applies one instruction to a stage.
    pub(crate) fn dispatch(
        &mut self,
        stage: &mut StageState,
        instruction: &Instruction,
        step: String,
    ) -> Result<(), DockerfileError> {
        let node = &instruction.node;
        let description = format!("{step} {}", self.step_name(stage, instruction));
        match &instruction.command {
            Command::From { .. } => return Err(error_at_node(self.source, node, "FROM is not allowed here")),
            Command::Run { .. } => return self.lower_run(stage, instruction, description),
            Command::Copy(copy) => return self.lower_copy(stage, instruction, copy, description),
            Command::Env(pairs) => {
                self.lint_key_values(node);
                let mut parts = Vec::new();
                for (key, value) in pairs {
                    let name = self.expand(stage, key, node, "ENV")?;
                    if name.is_empty() {
                        return Err(error_at_node(self.source, node, "ENV names can not be blank"));
                    }
                    self.lint_secret_name("ENV", &name, node);
                    let value = self.expand_env_value(stage, value, node)?;
                    let shown = match &value {
                        EnvValue::Value(v) | EnvValue::Deferred(v) => v.clone(),
                    };
                    parts.push(format!("{name}={shown}"));
                    stage.set_env(name, value);
                }
                stage.history.push(history_entry(format!("ENV {}", parts.join(" ")), false));
            }
            Command::Arg(args) => {
                let mut parts = Vec::new();
                for (name, default) in args {
                    self.lint_secret_name("ARG", name, node);
                    let value = match (self.build_args.get(name), default) {
                        (Some(value), _) => Some(value.clone()),
                        (None, Some(default)) => Some(self.expand(stage, default, node, "ARG")?),
                        (None, None) => self
                            .meta_args
                            .iter()
                            .rev()
                            .find(|(meta, _)| meta == name)
                            .and_then(|(_, value)| value.clone())
                            .or_else(|| {
                                self.builtin_args(&self.target_platform.clone())
                                    .into_iter()
                                    .find(|(arg, _)| arg == name)
                                    .and_then(|(_, v)| v)
                            }),
                    };
                    self.used_build_args.insert(name.clone());
                    parts.push(match &value {
                        Some(value) => format!("{name}={value}"),
                        None => name.clone(),
                    });
                    // A declared again ARG keeps its place with its new value, as BuildKit lists
                    // them in a RUN's history (`RUN |2 foo=bar2 bar=123 ...`); without a value it
                    // keeps the one it has, since BuildKit then leaves the stage's env as it was.
                    // With a value, it replaces an ENV of the name for the steps that follow.
                    if let Some(value) = &value
                        && stage.config.env.iter().any(|var| var.name == *name)
                    {
                        stage.arg_env.retain(|(arg, _)| arg != name);
                        stage.arg_env.push((name.clone(), value.clone()));
                    }
                    match stage.args.iter_mut().find(|(arg, _)| arg == name) {
                        Some(declared) if value.is_some() => declared.1 = value,
                        Some(_) => {}
                        None => stage.args.push((name.clone(), value)),
                    }
                }
                stage.history.push(history_entry(format!("ARG {}", parts.join(" ")), false));
            }
            Command::Label(pairs) => {
                self.lint_key_values(node);
                let mut parts = Vec::new();
                for (key, value) in pairs {
                    let key = self.expand(stage, key, node, "LABEL")?;
                    if key.is_empty() {
                        return Err(error_at_node(self.source, node, "LABEL names can not be blank"));
                    }
                    let value = self.expand(stage, value, node, "LABEL")?;
                    parts.push(format!("{key}={value}"));
                    stage.config.labels.insert(key, value);
                }
                stage.history.push(history_entry(format!("LABEL {}", parts.join(" ")), false));
            }
            Command::Maintainer(name) => {
                // As BuildKit's `dispatchMaintainer`: the image's Author, as written (MAINTAINER
                // expands no variable), not a label.
                stage.config.author = Some(name.clone());
                stage.history.push(history_entry(format!("MAINTAINER {name}"), false));
            }
            Command::Expose(ports) => {
                let mut expanded = Vec::new();
                for port in ports {
                    let words = self
                        .lexer
                        .expand_words(port, &stage.scope())
                        .map_err(|err| error_at_text(self.source, node, port, err.to_string()))?;
                    self.charge_expansion(words.words.iter().map(String::len).sum(), port, node)?;
                    expanded.extend(words.words.into_iter().map(|w| vars::fill_holes_empty(&w)));
                }
                self.lint_expose(&expanded, node);
                let specs = parse_ports(&expanded).map_err(|message| error_at_node(self.source, node, message))?;
                // BuildKit records the ports sorted, as a list: `EXPOSE [1234/udp 2375/tcp]`.
                let mut listed: Vec<String> = specs.iter().map(ToString::to_string).collect();
                listed.sort();
                listed.dedup();
                stage.history.push(history_entry(format!("EXPOSE [{}]", listed.join(" ")), false));
                stage.config.exposed_ports.extend(specs);
            }
            Command::Volume(paths) => {
                let mut added = Vec::new();
                for path in paths {
                    let path = self.expand(stage, path, node, "VOLUME")?;
                    if path.trim().is_empty() {
                        return Err(error_at_node(self.source, node, "VOLUME specified can not be an empty string"));
                    }
                    added.push(path.clone());
                    stage.config.volumes.insert(path);
                }
                stage.history.push(history_entry(format!("VOLUME {}", go_list(&added)), false));
            }
            Command::User(user) => {
                let user = self.expand(stage, user, node, "USER")?;
                stage.history.push(history_entry(format!("USER {user}"), false));
                stage.config.user = Some(user);
            }
            Command::Workdir(path) => self.lower_workdir(stage, instruction, path, description)?,
            Command::StopSignal(signal) => {
                let signal = self.expand(stage, signal, node, "STOPSIGNAL")?;
                let valid = signal.parse::<u32>().is_ok()
                    || (signal.starts_with("SIG")
                        && signal.len() > 3
                        && signal[3..].chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-'));
                if !valid {
                    return Err(error_at_node(self.source, node, format!("invalid signal: {signal}")));
                }
                stage.history.push(history_entry(format!("STOPSIGNAL {signal}"), false));
                stage.config.stop_signal = Some(signal);
            }
            Command::Cmd(command) => {
                self.lint_once(stage, Once::Cmd, node);
                self.lint_json_args(stage, command, node);
                let argv = stage.argv(command);
                stage.history.push(history_entry(format!("CMD {}", go_quote_list(&argv)), false));
                stage.config.cmd = Some(argv);
                stage.config.cmd_reset = false;
                stage.cmd_set = true;
            }
            Command::Entrypoint(command) => {
                self.lint_once(stage, Once::Entrypoint, node);
                self.lint_json_args(stage, command, node);
                let argv = match command {
                    CommandLine::Shell(text) if text.is_empty() => Vec::new(),
                    _ => stage.argv(command),
                };
                stage.history.push(history_entry(format!("ENTRYPOINT {}", go_quote_list(&argv)), false));
                stage.config.entrypoint = Some(argv);
                if !stage.cmd_set {
                    stage.config.cmd = None;
                    stage.config.cmd_reset = true;
                }
            }
            Command::Shell(shell) => {
                stage.history.push(history_entry(format!("SHELL {}", go_quote_list(shell)), false));
                stage.config.shell = Some(shell.clone());
            }
            Command::Onbuild { trigger } => {
                // As BuildKit's `dispatchOnbuild`: the trigger is kept, no history entry is made.
                stage.config.on_build.push(trigger.clone());
            }
            Command::Healthcheck(check) => {
                self.lint_once(stage, Once::Healthcheck, node);
                let duration = |text: &Option<String>, what: &str| -> Result<Option<u64>, DockerfileError> {
                    text.as_ref()
                        .map(|t| {
                            parse_duration(t).ok_or_else(|| {
                                error_at_text(self.source, node, t, format!("invalid duration for --{what}: {t:?}"))
                            })
                        })
                        .transpose()
                };
                let retries = match &check.retries {
                    Some(text) => Some(text.parse::<u32>().map_err(|_| {
                        error_at_text(
                            self.source,
                            node,
                            text,
                            format!("--retries must be a non-negative integer, not {text:?}"),
                        )
                    })?),
                    None => None,
                };
                let healthcheck = gb_ir::Healthcheck {
                    test: check.test.clone(),
                    interval: duration(&check.interval, "interval")?,
                    timeout: duration(&check.timeout, "timeout")?,
                    start_period: duration(&check.start_period, "start-period")?,
                    start_interval: duration(&check.start_interval, "start-interval")?,
                    retries,
                };
                stage.history.push(history_entry(format!("HEALTHCHECK {}", go_quote_list(&healthcheck.test)), false));
                stage.config.healthcheck = Some(healthcheck);
            }
        }
        Ok(())
    }

    fn lower_workdir(
        &mut self,
        stage: &mut StageState,
        instruction: &Instruction,
        path: &str,
        description: String,
    ) -> Result<(), DockerfileError> {
        let node = &instruction.node;
        let path = self.expand(stage, path, node, "WORKDIR")?;
        if path.is_empty() {
            return Err(error_at_node(self.source, node, "WORKDIR requires a non-empty path"));
        }
        self.lint_workdir(stage, &path, node);
        if stage.deferred && stage.config.working_dir.is_none() && !path.starts_with('/') {
            self.warn(
                format!("WORKDIR {path} is relative to the base image's WorkingDir, which is not known while lowering; taken relative to /"),
                Some(node.location.start_line),
            );
        }
        let dir = join_workdir(stage.config.working_dir.as_deref(), &path);
        stage.config.working_dir = Some(dir.clone());
        // The root always exists: BuildKit makes no layer for it.
        if dir == "/" {
            stage.history.push(history_entry(format!("WORKDIR {dir}"), false));
            return Ok(());
        }
        // BuildKit creates the directory, owned by the current USER, so later steps can use it.
        let owner = stage.config.user.as_deref().and_then(super::copy::parse_chown);
        let mut inputs = Vec::new();
        let base = stage.fs.clone().map(|input| {
            inputs.push(input);
            0
        });
        let op = OpNode {
            inputs,
            op: Op::File(FileOp {
                base,
                actions: vec![FileAction::Mkdir(MkdirAction {
                    path: clean_absolute(&dir),
                    mode: 0o755,
                    make_parents: true,
                    owner,
                    // BuildKit's WORKDIR gives the directory SOURCE_DATE_EPOCH's time.
                    timestamp: self.source_date_epoch,
                })],
            }),
            platform: Some(stage.platform.clone()),
        };
        let digest = self.add_op(op, description, Some(node));
        stage.fs = Some(Input::of(digest));
        // A layer, but no ` # buildkit`: BuildKit's dispatchWorkdir passes no state to
        // `commitToHistory`.
        stage.history.push(HistoryEntry { created_by: format!("WORKDIR {dir}"), ..history_entry(String::new(), true) });
        Ok(())
    }
}

fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// A stage from BuildKit's empty image (`FROM scratch`, a local build context): no file system,
/// the root as working directory and the default PATH.
fn empty_stage(name: &str, index: usize, platform: &Platform) -> StageState {
    let config = ImageConfig {
        env: vec![gb_ir::EnvVar::new("PATH", gb_ir::DEFAULT_PATH)],
        working_dir: Some("/".to_owned()),
        ..ImageConfig::default()
    };
    StageState {
        name: name.to_owned(),
        index,
        fs: None,
        config,
        deferred: false,
        config_source: None,
        base_reference: None,
        history: Vec::new(),
        args: Vec::new(),
        arg_env: Vec::new(),
        platform: platform.clone(),
        cmd_set: false,
        lints: StageLints::default(),
    }
}

/// Whether an instruction is a numbered step of its stage, as BuildKit counts them
/// (`dispatchState.cmdTotal`): RUN, COPY and ADD (both `Copy` here) and WORKDIR.
pub(crate) fn counts_as_step(command: &Command) -> bool {
    matches!(command, Command::Run { .. } | Command::Copy(_) | Command::Workdir(_))
}

/// The variables a RUN's secret mounts set (`--mount=type=secret,env=NAME`), which its step name
/// shows as `****`.
fn secret_env_names(mounts: &[String]) -> Vec<String> {
    mounts
        .iter()
        .filter_map(|mount| {
            let fields = crate::instructions::split_csv(mount);
            let field = |key: &str| {
                fields.iter().find_map(|f| f.split_once('=').filter(|(k, _)| k.trim().eq_ignore_ascii_case(key)))
            };
            let is_secret = field("type").is_some_and(|(_, v)| v.trim() == "secret");
            field("env").filter(|_| is_secret).map(|(_, name)| name.trim().to_owned())
        })
        .collect()
}

//! `RUN`: the command, its `--mount`s, network and security mode, lowered to an exec op.

use gb_ir::{
    CacheSharing, EnvValue, EnvVar, ExecMeta, ExecOp, FileAction, FileOp, ImageReference, Input, LocalSource,
    MkfileAction, Mount, MountKind, NetworkMode, Op, OpNode, SecurityMode, SourceOp,
};

use super::paths::{clean_absolute, context_relative, join_workdir};
use super::{Lowerer, PROXY_ARGS, StageState, history_entry};
use crate::error::DockerfileError;
use crate::instructions::{Command, CommandLine, Instruction, error_at_node, error_at_text, split_csv};
use crate::parser::Node;

/// The keys a `--mount` accepts, in BuildKit's order, for "did you mean" hints.
const MOUNT_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// Collects an op's inputs, giving each distinct input one index.
#[derive(Default)]
pub(crate) struct Inputs(pub Vec<Input>);

impl Inputs {
    pub fn index(&mut self, input: Input) -> u32 {
        if let Some(index) = self.0.iter().position(|existing| *existing == input) {
            return index as u32;
        }
        self.0.push(input);
        (self.0.len() - 1) as u32
    }
}

/// A heredoc script written to a file and run directly: its path in the script mount and text.
type Script = (String, String);

/// The fields of one `--mount` value.
struct MountSpec {
    kind: String,
    target: Option<String>,
    source: Option<String>,
    from: Option<String>,
    readonly: Option<bool>,
    id: Option<String>,
    sharing: Option<String>,
    mode: Option<String>,
    uid: Option<String>,
    gid: Option<String>,
    required: Option<bool>,
    size: Option<String>,
    env: Option<String>,
}

impl Lowerer<'_> {
    pub(crate) fn lower_run(
        &mut self,
        stage: &mut StageState,
        instruction: &Instruction,
        description: String,
    ) -> Result<(), DockerfileError> {
        let node = &instruction.node;
        let Command::Run { command, mounts, network, security } = &instruction.command else {
            return Err(error_at_node(self.source, node, "not a RUN instruction"));
        };
        let mut inputs = Inputs::default();
        let root_input = stage.fs.clone().map(|fs| inputs.index(fs));
        let mut exec_mounts = vec![Mount {
            target: "/".to_owned(),
            input: root_input,
            selector: None,
            readonly: false,
            output: Some(0),
            kind: MountKind::Bind,
        }];

        let (args, script) = self.run_args(stage, node, command)?;
        if let Some((path, data)) = script {
            // A heredoc script with a shebang runs as a file, as BuildKit does.
            let file = OpNode {
                inputs: Vec::new(),
                op: Op::File(FileOp {
                    base: None,
                    actions: vec![FileAction::Mkfile(MkfileAction {
                        path: path.clone(),
                        mode: 0o755,
                        data,
                        owner: None,
                    })],
                }),
                platform: Some(stage.platform.clone()),
            };
            let digest = self.add_op(file, format!("{description} (script)"), Some(node));
            let index = inputs.index(Input::of(digest));
            exec_mounts.push(Mount {
                target: "/dev/pipes/".to_owned(),
                input: Some(index),
                selector: None,
                readonly: true,
                output: None,
                kind: MountKind::Bind,
            });
        }

        for text in mounts {
            let spec = self.parse_mount(stage, node, text)?;
            let ssh_ordinal = exec_mounts.iter().filter(|m| matches!(m.kind, MountKind::Ssh { .. })).count();
            let mount = self.lower_mount(stage, node, text, spec, ssh_ordinal, &mut inputs)?;
            exec_mounts.push(mount);
        }

        // Both were checked as written when the instruction was typed: BuildKit validates them
        // while parsing and expands no variable in them.
        let network = match network.as_deref() {
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            _ => self.options.network,
        };
        let security = match security.as_deref() {
            Some("insecure") => SecurityMode::Insecure,
            _ => SecurityMode::Sandbox,
        };

        // The process sees BuildKit's state env: ENV values (an ARG's where it came after the
        // ENV of its name) and the stage's other ARGs with a value.
        let mut env: Vec<EnvVar> = stage.config.env.clone();
        for var in &mut env {
            if let Some((_, value)) = stage.arg_env.iter().find(|(arg, _)| *arg == var.name) {
                var.value = EnvValue::Value(value.clone());
            }
        }
        // The history lists every ARG of the stage, with the value the step sees (BuildKit's
        // `runCommandString`): an ENV's, else its own, else nothing (`K=`).
        let mut build_args = Vec::new();
        for (name, value) in &stage.args {
            let seen = match stage.step_env(name) {
                Some(seen) => seen.or(value.as_deref()),
                None => {
                    if let Some(value) = value {
                        env.push(EnvVar { name: name.clone(), value: EnvValue::Value(value.clone()) });
                    }
                    value.as_deref()
                }
            };
            build_args.push(format!("{name}={}", seen.unwrap_or_default()));
        }
        // A proxy given in either case reaches the process in both (`HTTP_PROXY` and
        // `http_proxy`), as BuildKit sets them.
        let proxy_env = PROXY_ARGS
            .chunks(2)
            .flat_map(|pair| {
                let value = pair.iter().find_map(|name| self.build_args.get(*name)).cloned();
                pair.iter().filter_map(move |name| value.clone().map(|value| EnvVar::new(*name, value)))
            })
            .filter(|var| !stage.args.iter().any(|(arg, _)| *arg == var.name))
            .collect();
        let config_from = if stage.deferred { stage.config_source.map(|op| inputs.index(Input::of(op))) } else { None };

        let op = OpNode {
            inputs: inputs.0,
            op: Op::Exec(ExecOp {
                meta: ExecMeta {
                    args: args.clone(),
                    env,
                    cwd: stage.config.working_dir.clone(),
                    user: stage.config.user.clone(),
                    config_from,
                    proxy_env,
                    extra_hosts: self.options.extra_hosts.clone(),
                    // BuildKit's build arg for the steps' host name (part of the op there too).
                    hostname: self.build_args.get(super::HOSTNAME_BUILD_ARG).cloned(),
                    shm_size: self.options.shm_size,
                    ulimits: self.options.ulimits.clone(),
                },
                mounts: exec_mounts,
                network,
                security,
            }),
            platform: Some(stage.platform.clone()),
        };
        let digest = self.add_op(op, description, Some(node));
        stage.fs = Some(Input::of(digest));
        let mut created_by = Vec::new();
        if !build_args.is_empty() {
            created_by.push(format!("|{}", build_args.len()));
            created_by.extend(build_args);
        }
        created_by.extend(args);
        stage.history.push(history_entry(format!("RUN {}", created_by.join(" ")), true));
        Ok(())
    }

    /// The argv of a RUN, and a script file to mount when a lone heredoc has a shebang.
    fn run_args(
        &mut self,
        stage: &StageState,
        node: &Node,
        command: &CommandLine,
    ) -> Result<(Vec<String>, Option<Script>), DockerfileError> {
        if node.heredocs.is_empty() {
            return Ok((stage.argv(command), None));
        }
        let CommandLine::Shell(text) = command else {
            return Err(error_at_node(self.source, node, "heredocs are only supported in the shell form of RUN"));
        };
        let trimmed = text.trim();
        if let [heredoc] = node.heredocs.as_slice() {
            let is_lone = trimmed.starts_with("<<")
                && trimmed.trim_start_matches("<<").trim_start_matches('-').trim_matches(['"', '\'']) == heredoc.name;
            if is_lone {
                if heredoc.body().starts_with("#!") {
                    let path = format!("/dev/pipes/{}", heredoc.name);
                    return Ok((vec![path.clone()], Some((format!("/{}", heredoc.name), heredoc.body().into_owned()))));
                }
                let mut argv = stage.shell();
                argv.push(heredoc.body().into_owned());
                return Ok((argv, None));
            }
        }
        // Heredocs inside a longer command: the shell reads them itself, so give it the whole
        // text with the bodies after the command line, as written.
        let mut script = text.clone();
        for heredoc in &node.heredocs {
            script.push('\n');
            script.push_str(&heredoc.body());
            script.push_str(&heredoc.name);
        }
        let mut argv = stage.shell();
        argv.push(script);
        Ok((argv, None))
    }

    fn parse_mount(&mut self, stage: &StageState, node: &Node, text: &str) -> Result<MountSpec, DockerfileError> {
        let mut spec = MountSpec {
            kind: "bind".to_owned(),
            target: None,
            source: None,
            from: None,
            readonly: None,
            id: None,
            sharing: None,
            mode: None,
            uid: None,
            gid: None,
            required: None,
            size: None,
            env: None,
        };
        for field in split_csv(text) {
            let (key, value) = match field.split_once('=') {
                Some((key, value)) => (key.trim().to_lowercase(), Some(value.to_owned())),
                None => (field.trim().to_lowercase(), None),
            };
            let value = match value {
                Some(value) => Some(self.expand(stage, &value, node, "RUN --mount")?),
                None => None,
            };
            let boolean = |value: &Option<String>| -> Result<bool, DockerfileError> {
                match value.as_deref() {
                    None | Some("true") | Some("1") => Ok(true),
                    Some("false") | Some("0") => Ok(false),
                    Some(other) => {
                        Err(error_at_text(self.source, node, other, format!("invalid value for {key}: {other:?}")))
                    }
                }
            };
            let need = |value: Option<String>| {
                value.ok_or_else(|| {
                    error_at_text(
                        self.source,
                        node,
                        &field,
                        format!("invalid field '{field}' must be a key=value pair"),
                    )
                })
            };
            match key.as_str() {
                "type" => spec.kind = need(value)?,
                "target" | "dst" | "destination" => spec.target = Some(need(value)?),
                "source" | "src" => spec.source = Some(need(value)?),
                "from" => spec.from = Some(need(value)?),
                "readonly" | "ro" => spec.readonly = Some(boolean(&value)?),
                "readwrite" | "rw" => spec.readonly = Some(!boolean(&value)?),
                "id" => spec.id = Some(need(value)?),
                "sharing" => spec.sharing = Some(need(value)?),
                "mode" => spec.mode = Some(need(value)?),
                "uid" => spec.uid = Some(need(value)?),
                "gid" => spec.gid = Some(need(value)?),
                "required" => spec.required = Some(boolean(&value)?),
                "size" => spec.size = Some(need(value)?),
                "env" => spec.env = Some(need(value)?),
                _ => {
                    return Err(error_at_text(
                        self.source,
                        node,
                        &field,
                        format!(
                            "unexpected key '{key}' in '{field}'{}",
                            crate::instructions::did_you_mean(crate::lint::words::suggest(&key, MOUNT_KEYS))
                        ),
                    ));
                }
            }
        }
        Ok(spec)
    }

    fn lower_mount(
        &mut self,
        stage: &mut StageState,
        node: &Node,
        text: &str,
        spec: MountSpec,
        ordinal: usize,
        inputs: &mut Inputs,
    ) -> Result<Mount, DockerfileError> {
        let err = |message: String| error_at_text(self.source, node, text, message);
        let number = |value: &Option<String>, default: u32, octal: bool| -> Result<u32, DockerfileError> {
            match value {
                None => Ok(default),
                Some(text) => {
                    let parsed = if octal { u32::from_str_radix(text, 8) } else { text.parse::<u32>() };
                    parsed.map_err(|_| err(format!("invalid number {text:?} in --mount")))
                }
            }
        };
        let target = spec.target.as_ref().map(|t| join_workdir(stage.config.working_dir.as_deref(), t));
        let kind = spec.kind.to_lowercase();
        let mount = match kind.as_str() {
            "bind" => {
                let target = target.ok_or_else(|| err("mount type bind requires a target (target=PATH)".to_owned()))?;
                let source = spec.source.clone().unwrap_or_default();
                let input = self.mount_source(stage, node, spec.from.as_deref(), &source)?;
                Mount {
                    target,
                    input: Some(inputs.index(input)),
                    selector: selector(&source, spec.from.is_none()),
                    readonly: spec.readonly.unwrap_or(true),
                    output: None,
                    kind: MountKind::Bind,
                }
            }
            "cache" => {
                let target =
                    target.ok_or_else(|| err("mount type cache requires a target (target=PATH)".to_owned()))?;
                let sharing = match spec.sharing.as_deref() {
                    None | Some("shared") => CacheSharing::Shared,
                    Some("private") => CacheSharing::Private,
                    Some("locked") => CacheSharing::Locked,
                    Some(other) => {
                        let hint = match crate::lint::words::suggest(other, ["shared", "private", "locked"]) {
                            Some(name) => format!("did you mean {name}?"),
                            None => "shared, private or locked".to_owned(),
                        };
                        return Err(err(format!("unsupported sharing value {other:?} ({hint})")));
                    }
                };
                let (input, selector) = match &spec.from {
                    Some(from) => {
                        let source = spec.source.clone().unwrap_or_default();
                        let input = self.mount_source(stage, node, Some(from), &source)?;
                        (Some(inputs.index(input)), selector(&source, false))
                    }
                    None => (None, None),
                };
                Mount {
                    target: target.clone(),
                    input,
                    selector,
                    readonly: spec.readonly.unwrap_or(false),
                    output: None,
                    kind: MountKind::Cache {
                        id: spec.id.clone().unwrap_or(target),
                        sharing,
                        uid: number(&spec.uid, 0, false)?,
                        gid: number(&spec.gid, 0, false)?,
                        mode: number(&spec.mode, 0o755, true)?,
                    },
                }
            }
            "tmpfs" => {
                let target =
                    target.ok_or_else(|| err("mount type tmpfs requires a target (target=PATH)".to_owned()))?;
                let size = spec
                    .size
                    .as_deref()
                    .map(|s| parse_size(s).ok_or_else(|| err(format!("invalid size {s:?} for tmpfs"))))
                    .transpose()?;
                Mount {
                    target,
                    input: None,
                    selector: None,
                    readonly: false,
                    output: None,
                    kind: MountKind::Tmpfs { size },
                }
            }
            "secret" => {
                let id = spec
                    .id
                    .clone()
                    .or_else(|| spec.target.as_ref().and_then(|t| t.rsplit('/').next().map(str::to_owned)))
                    .filter(|id| !id.is_empty())
                    .or_else(|| spec.env.clone())
                    .ok_or_else(|| err("secret mount requires an id or a target".to_owned()))?;
                let target = match (&target, &spec.env) {
                    (Some(target), _) => target.clone(),
                    (None, Some(_)) => String::new(),
                    (None, None) => format!("/run/secrets/{id}"),
                };
                Mount {
                    target,
                    input: None,
                    selector: None,
                    readonly: true,
                    output: None,
                    kind: MountKind::Secret {
                        id,
                        required: spec.required.unwrap_or(false),
                        uid: number(&spec.uid, 0, false)?,
                        gid: number(&spec.gid, 0, false)?,
                        mode: number(&spec.mode, 0o400, true)?,
                        env: spec.env.clone(),
                    },
                }
            }
            "ssh" => Mount {
                target: target.unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{ordinal}")),
                input: None,
                selector: None,
                readonly: true,
                output: None,
                kind: MountKind::Ssh {
                    id: spec.id.clone().unwrap_or_else(|| "default".to_owned()),
                    required: spec.required.unwrap_or(false),
                    uid: number(&spec.uid, 0, false)?,
                    gid: number(&spec.gid, 0, false)?,
                    mode: number(&spec.mode, 0o600, true)?,
                },
            },
            other => {
                let hint = match crate::lint::words::suggest(other, ["bind", "cache", "tmpfs", "secret", "ssh"]) {
                    Some(name) => format!("did you mean {name}?"),
                    None => "bind, cache, tmpfs, secret or ssh".to_owned(),
                };
                return Err(err(format!("unsupported mount type {other:?} ({hint})")));
            }
        };
        Ok(mount)
    }

    /// The file system a bind or cache mount reads: a stage, an image, or the context.
    fn mount_source(
        &mut self,
        stage: &StageState,
        node: &Node,
        from: Option<&str>,
        source: &str,
    ) -> Result<Input, DockerfileError> {
        match from {
            Some(from) => self.resolve_from(stage, node, from, FromUse::Mount),
            None => {
                let path = context_relative(source);
                let include = if path.is_empty() { Vec::new() } else { vec![path] };
                Ok(self.context_source(include, node))
            }
        }
    }

    /// The build context, reading only `include` (everything when empty) minus `.dockerignore`.
    pub(crate) fn context_source(&mut self, include: Vec<String>, node: &Node) -> Input {
        let op = OpNode {
            inputs: Vec::new(),
            op: Op::Source(SourceOp::Local(LocalSource {
                name: "context".to_owned(),
                include,
                exclude: self.options.context_excludes.clone(),
            })),
            platform: None,
        };
        Input::of(self.add_op(op, "load build context".to_owned(), Some(node)))
    }

    /// What `--from` names: a stage (by name or index) or an image. A stage must come before
    /// the one reading it, as BuildKit dispatches stages in order (`what` says how it is read,
    /// for BuildKit's message).
    pub(crate) fn resolve_from(
        &mut self,
        stage: &StageState,
        node: &Node,
        from: &str,
        what: FromUse,
    ) -> Result<Input, DockerfileError> {
        if let Some(index) = self.find_stage(from, true) {
            // A stage being lowered is a cycle, which lowering it again reports as BuildKit does.
            if index >= stage.index && !self.in_progress.contains(&index) {
                let current = self.stages[stage.index].name.clone().unwrap_or_default();
                let message = match what {
                    FromUse::Copy => format!(
                        "cannot copy from stage {from:?}, it needs to be defined before current stage {current:?}"
                    ),
                    FromUse::Mount => format!(
                        "cannot mount from stage {from:?} to {current:?}, stage needs to be defined before current command"
                    ),
                };
                return Err(error_at_text(self.source, node, from, message));
            }
            let other = self.lower_stage(index)?;
            return Ok(match other.fs.clone() {
                Some(fs) => fs,
                None => {
                    let scratch = OpNode { inputs: Vec::new(), op: Op::Source(SourceOp::Scratch), platform: None };
                    Input::of(self.add_op(scratch, "scratch".to_owned(), None))
                }
            });
        }
        // A name no stage has may be a named build context, as BuildKit looks `--from` up.
        let from = match self.options.named_contexts.get(&super::named_context_key(from)) {
            Some(super::NamedContext::Local { name, exclude }) => {
                let (name, exclude) = (name.clone(), exclude.clone());
                return Ok(self.local_context_source(&name, &exclude, node));
            }
            Some(super::NamedContext::Image(image)) => image.clone(),
            None => from.to_owned(),
        };
        let from = from.as_str();
        if from.eq_ignore_ascii_case("scratch") {
            let scratch = OpNode { inputs: Vec::new(), op: Op::Source(SourceOp::Scratch), platform: None };
            return Ok(Input::of(self.add_op(scratch, "scratch".to_owned(), None)));
        }
        let reference = ImageReference::parse(from)
            .map_err(|err| error_at_text(self.source, node, from, format!("--from names no stage, and {err}")))?;
        let platform = stage.platform.clone();
        let (op, _, _) =
            self.image_source(&reference, from, &platform, node, format!("[{}] FROM {reference}", stage.name))?;
        Ok(Input::of(op))
    }
}

fn selector(source: &str, from_context: bool) -> Option<String> {
    if from_context {
        // The context source already holds only `source`; mount that path of it.
        let path = context_relative(source);
        return (!path.is_empty()).then(|| format!("/{path}"));
    }
    let path = clean_absolute(source);
    (path != "/").then_some(path)
}

/// Parses a size like Docker's `RAMInBytes`: `64m`, `1g`, `512k`, `100`.
fn parse_size(text: &str) -> Option<u64> {
    let lower = text.trim().to_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, scale) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.len() - 1], 1 << 20),
        'g' => (&lower[..lower.len() - 1], 1 << 30),
        't' => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    let value: f64 = number.trim().parse().ok()?;
    (value >= 0.0).then_some((value * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("x"), None);
    }
}

/// How an instruction reads what `--from` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FromUse {
    /// `COPY --from`.
    Copy,
    /// `RUN --mount=from=`.
    Mount,
}

//! Typed instructions: each parsed node checked for its flags and argument count, with words
//! still unexpanded (expansion needs the stage's variables, which only lowering knows).

use crate::error::{DockerfileError, ErrorKind};
use crate::parser::{Heredoc, Node};

/// The instructions of the Dockerfile reference.
#[derive(Debug, Clone)]
pub enum Command {
    /// `FROM [--platform=P] image [AS name]`.
    From { image: String, name: Option<String>, platform: Option<String> },
    /// `RUN [--mount=...] [--network=...] [--security=...] command`.
    Run { command: CommandLine, mounts: Vec<String>, network: Option<String>, security: Option<String> },
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `LABEL k=v ...`.
    Label(Vec<(String, String)>),
    /// `ENV k=v ...` or `ENV k v`.
    Env(Vec<(String, String)>),
    /// `MAINTAINER name`.
    Maintainer(String),
    /// `EXPOSE port[/proto] ...`.
    Expose(Vec<String>),
    /// `COPY` or `ADD`.
    Copy(CopyCommand),
    /// `VOLUME path ...`.
    Volume(Vec<String>),
    /// `USER user[:group]`.
    User(String),
    /// `WORKDIR path`.
    Workdir(String),
    /// `ARG name[=default] ...`.
    Arg(Vec<(String, Option<String>)>),
    /// `ONBUILD instruction`, with the trigger's text as Docker stores it.
    Onbuild { trigger: String },
    /// `STOPSIGNAL signal`.
    StopSignal(String),
    /// `HEALTHCHECK [options] CMD command` or `HEALTHCHECK NONE`.
    Healthcheck(HealthcheckCommand),
    /// `SHELL ["exe", "arg"]`.
    Shell(Vec<String>),
}

/// A command in shell form (one string run by the shell) or exec form (an argv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Run by the stage's shell.
    Shell(String),
    /// Run as is.
    Exec(Vec<String>),
}

/// `COPY`/`ADD` with their flags.
#[derive(Debug, Clone, Default)]
pub struct CopyCommand {
    /// True for `ADD`.
    pub is_add: bool,
    /// Sources, unexpanded (heredoc markers included).
    pub sources: Vec<String>,
    /// Destination, unexpanded.
    pub dest: String,
    /// Heredoc bodies, by name.
    pub heredocs: Vec<Heredoc>,
    /// `--from`.
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `ADD --checksum`.
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`.
    pub keep_git_dir: bool,
    /// `ADD --unpack[=BOOL]`; absent, a local archive is unpacked.
    pub unpack: Option<bool>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, Default)]
pub struct HealthcheckCommand {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    /// Durations as written (`30s`).
    pub interval: Option<String>,
    /// `--timeout`.
    pub timeout: Option<String>,
    /// `--start-period`.
    pub start_period: Option<String>,
    /// `--start-interval`.
    pub start_interval: Option<String>,
    /// `--retries`.
    pub retries: Option<String>,
}

/// An instruction with its source node.
#[derive(Debug, Clone)]
pub struct Instruction {
    /// The typed command.
    pub command: Command,
    /// The parsed node (position, original text, heredocs).
    pub node: Node,
}

/// Every instruction keyword, for "did you mean" hints.
pub const KEYWORDS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// The kinds of flag value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Bool,
    Value,
    Repeated,
}

struct Flags<'a> {
    values: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Flags<'a> {
    fn parse(node: &'a Node, source: &str, allowed: &[(&str, FlagKind)]) -> Result<Self, DockerfileError> {
        let mut values = Vec::new();
        for flag in &node.flags {
            let body = flag.strip_prefix("--").unwrap_or(flag);
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some((_, kind)) = allowed.iter().find(|(allowed_name, _)| *allowed_name == name) else {
                return Err(error_at_text(
                    source,
                    node,
                    flag,
                    format!(
                        "unknown flag: {}{}",
                        flag.split('=').next().unwrap_or(flag),
                        did_you_mean(crate::lint::words::suggest(name, allowed.iter().map(|(n, _)| *n)))
                    ),
                ));
            };
            match (kind, value) {
                (FlagKind::Bool, Some(v)) if !matches!(v, "true" | "false") => {
                    return Err(error_at_text(
                        source,
                        node,
                        flag,
                        format!("expecting boolean value for flag {name}, not: {v}"),
                    ));
                }
                (FlagKind::Value | FlagKind::Repeated, None) => {
                    return Err(error_at_text(source, node, flag, format!("missing a value on flag: {name}")));
                }
                (FlagKind::Value, Some(_)) if values.iter().any(|(n, _)| *n == name) => {
                    return Err(error_at_text(source, node, flag, format!("duplicate flag specified: {name}")));
                }
                _ => {}
            }
            values.push((name, value));
        }
        Ok(Self { values })
    }

    fn value(&self, name: &str) -> Option<String> {
        self.values.iter().rev().find(|(n, _)| *n == name).and_then(|(_, v)| v.map(str::to_owned))
    }

    fn bool(&self, name: &str) -> bool {
        self.values.iter().rev().find(|(n, _)| *n == name).is_some_and(|(_, v)| v.is_none_or(|v| v == "true"))
    }

    fn given(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| *n == name)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.values.iter().filter(|(n, _)| *n == name).filter_map(|(_, v)| v.map(str::to_owned)).collect()
    }
}

/// An error pointing at `text` inside the node's source range (or at the node when not found).
pub fn error_at_text(source: &str, node: &Node, text: &str, message: impl Into<String>) -> DockerfileError {
    let start = node.location.start.min(source.len());
    let end = node.location.end.clamp(start, source.len());
    let (offset, len) = source
        .get(start..end)
        .and_then(|range| if text.is_empty() { None } else { range.find(text) })
        .map_or((start, node.keyword.len()), |found| (start + found, text.len()));
    DockerfileError::at(ErrorKind::Instruction, source, offset, len, message)
}

/// An error pointing at the instruction keyword.
pub fn error_at_node(source: &str, node: &Node, message: impl Into<String>) -> DockerfileError {
    let start = node.location.start.min(source.len());
    let keyword_len = source.get(start..).map_or(0, |rest| rest.find(char::is_whitespace).unwrap_or(rest.len()));
    DockerfileError::at(ErrorKind::Instruction, source, start, keyword_len, message)
}

fn command_line(node: &Node) -> CommandLine {
    if node.json {
        CommandLine::Exec(node.args.clone())
    } else {
        CommandLine::Shell(node.args.first().cloned().unwrap_or_default())
    }
}

fn key_values(node: &Node, source: &str, what: &str) -> Result<Vec<(String, String)>, DockerfileError> {
    if node.args.is_empty() {
        return Err(error_at_node(source, node, format!("{what} requires at least one argument")));
    }
    // The parser gives (key, value, separator) triples.
    Ok(node.args.chunks(3).map(|triple| (triple[0].clone(), triple.get(1).cloned().unwrap_or_default())).collect())
}

/// Rejects a variable in a `--mount`'s `from`, as BuildKit does while parsing: which stage a
/// RUN reads must be known before any stage is lowered. Like BuildKit, a `$` that ends the
/// value is no variable.
fn check_mount_from(source: &str, node: &Node, mount: &str) -> Result<(), DockerfileError> {
    for field in split_csv(mount) {
        let Some((key, value)) = field.split_once('=') else { continue };
        let has_variable = value.find('$').is_some_and(|at| at + 1 != value.len());
        if key.trim().eq_ignore_ascii_case("from") && has_variable {
            return Err(error_at_text(
                source,
                node,
                &field,
                format!("'{}' doesn't support variable expansion, define alias stage instead", key.trim().to_lowercase()),
            )
            .with_help("name the stage in a FROM that reads a global ARG (FROM image:${VERSION} AS alias), then use from=alias"));
        }
    }
    Ok(())
}

/// Checks RUN's `--network` and `--security` as written: BuildKit validates them while parsing
/// and never expands variables in them.
fn check_run_modes(
    source: &str,
    node: &Node,
    network: Option<&str>,
    security: Option<&str>,
) -> Result<(), DockerfileError> {
    if let Some(network) = network.filter(|n| !matches!(*n, "default" | "none" | "host")) {
        return Err(error_at_text(source, node, network, format!("invalid network mode {network:?}"))
            .with_help("--network takes default, none or host"));
    }
    if let Some(security) = security.filter(|s| !matches!(*s, "sandbox" | "insecure")) {
        return Err(error_at_text(source, node, security, format!("security {security:?} is not valid"))
            .with_help("--security takes sandbox or insecure"));
    }
    Ok(())
}

/// Splits a `--mount` value on commas outside double quotes, dropping the quotes, as Go's
/// csv reader does.
pub(crate) fn split_csv(text: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for ch in text.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields.into_iter().filter(|f| !f.trim().is_empty()).collect()
}

impl Instruction {
    /// Checks a parsed node and types it.
    pub fn from_node(node: &Node, source: &str) -> Result<Self, DockerfileError> {
        use FlagKind::*;
        let require = |count: usize, what: &str| -> Result<(), DockerfileError> {
            if node.args.len() < count {
                let plural = if count == 1 { "argument" } else { "arguments" };
                let count_word = match count {
                    1 => "one",
                    2 => "two",
                    _ => "more",
                };
                return Err(error_at_node(source, node, format!("{what} requires at least {count_word} {plural}")));
            }
            Ok(())
        };
        let exactly_one = |what: &str| -> Result<String, DockerfileError> {
            match node.args.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(error_at_node(source, node, format!("{what} requires exactly one argument"))),
                _ => Err(error_at_node(source, node, format!("{what} requires exactly one argument"))),
            }
        };
        let no_flags = || Flags::parse(node, source, &[]);
        let command = match node.keyword.as_str() {
            "from" => {
                let flags = Flags::parse(node, source, &[("platform", Value)])?;
                let (image, name) = match node.args.as_slice() {
                    [image] => (image.clone(), None),
                    [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => (image.clone(), Some(name.clone())),
                    _ => return Err(error_at_node(source, node, "FROM requires either one or three arguments")),
                };
                Command::From { image, name, platform: flags.value("platform") }
            }
            "run" => {
                let flags =
                    Flags::parse(node, source, &[("mount", Repeated), ("network", Value), ("security", Value)])?;
                if node.args.is_empty() && node.heredocs.is_empty() {
                    return Err(error_at_node(source, node, "RUN requires at least one argument"));
                }
                let mounts = flags.all("mount");
                for mount in &mounts {
                    check_mount_from(source, node, mount)?;
                }
                let network = flags.value("network");
                let security = flags.value("security");
                check_run_modes(source, node, network.as_deref(), security.as_deref())?;
                Command::Run { command: command_line(node), mounts, network, security }
            }
            "cmd" => {
                no_flags()?;
                Command::Cmd(command_line(node))
            }
            "entrypoint" => {
                no_flags()?;
                Command::Entrypoint(command_line(node))
            }
            "label" => {
                no_flags()?;
                Command::Label(key_values(node, source, "LABEL")?)
            }
            "env" => {
                no_flags()?;
                Command::Env(key_values(node, source, "ENV")?)
            }
            "maintainer" => {
                no_flags()?;
                Command::Maintainer(exactly_one("MAINTAINER")?)
            }
            "expose" => {
                no_flags()?;
                require(1, "EXPOSE")?;
                Command::Expose(node.args.clone())
            }
            "copy" | "add" => {
                let is_add = node.keyword == "add";
                let flags = if is_add {
                    Flags::parse(
                        node,
                        source,
                        &[
                            ("chown", Value),
                            ("chmod", Value),
                            ("link", Bool),
                            ("checksum", Value),
                            ("keep-git-dir", Bool),
                            ("unpack", Bool),
                            ("exclude", Repeated),
                        ],
                    )?
                } else {
                    Flags::parse(
                        node,
                        source,
                        &[
                            ("from", Value),
                            ("chown", Value),
                            ("chmod", Value),
                            ("link", Bool),
                            ("parents", Bool),
                            ("exclude", Repeated),
                        ],
                    )?
                };
                let what = if is_add { "ADD" } else { "COPY" };
                if node.args.len() < 2 && (node.args.len() != 1 || node.heredocs.is_empty()) {
                    return Err(error_at_node(
                        source,
                        node,
                        format!("{what} requires at least two arguments, but only {} provided", node.args.len()),
                    ));
                }
                let (dest, sources) = node.args.split_last().map(|(d, s)| (d.clone(), s.to_vec())).unwrap_or_default();
                Command::Copy(CopyCommand {
                    is_add,
                    sources,
                    dest,
                    heredocs: node.heredocs.clone(),
                    from: flags.value("from"),
                    chown: flags.value("chown"),
                    chmod: flags.value("chmod"),
                    link: flags.bool("link"),
                    parents: flags.bool("parents"),
                    exclude: flags.all("exclude"),
                    checksum: flags.value("checksum"),
                    keep_git_dir: flags.bool("keep-git-dir"),
                    unpack: flags.given("unpack").then(|| flags.bool("unpack")),
                })
            }
            "volume" => {
                no_flags()?;
                require(1, "VOLUME")?;
                Command::Volume(node.args.clone())
            }
            "user" => {
                no_flags()?;
                Command::User(exactly_one("USER")?)
            }
            "workdir" => {
                no_flags()?;
                Command::Workdir(exactly_one("WORKDIR")?)
            }
            "arg" => {
                no_flags()?;
                require(1, "ARG")?;
                let mut args = Vec::new();
                for word in &node.args {
                    let (name, default) = match word.split_once('=') {
                        Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
                        None => (word.clone(), None),
                    };
                    if name.is_empty() {
                        return Err(error_at_text(source, node, word, format!("ARG names can not be blank: {word}")));
                    }
                    args.push((name, default));
                }
                Command::Arg(args)
            }
            "onbuild" => {
                no_flags()?;
                let Some(child) = &node.child else {
                    return Err(error_at_node(source, node, "ONBUILD requires at least one argument"));
                };
                match child.keyword.as_str() {
                    "onbuild" => {
                        return Err(error_at_node(
                            source,
                            node,
                            "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                        ));
                    }
                    "from" | "maintainer" => {
                        return Err(error_at_node(
                            source,
                            node,
                            format!("{} isn't allowed as an ONBUILD trigger", child.keyword.to_uppercase()),
                        ));
                    }
                    _ => {}
                }
                // Docker stores the trigger as the text after ONBUILD, keyword first.
                let mut trigger = node
                    .original
                    .trim_start()
                    .get("onbuild".len()..)
                    .map(str::trim_start)
                    .unwrap_or_default()
                    .to_owned();
                // Heredoc bodies follow the line, each closed by its delimiter, so the trigger
                // parses again whole where it fires (BuildKit's `parseOnBuild`).
                for heredoc in &node.heredocs {
                    trigger.push('\n');
                    trigger.push_str(&heredoc.content);
                    trigger.push_str(&heredoc.name);
                }
                Command::Onbuild { trigger }
            }
            "stopsignal" => {
                no_flags()?;
                Command::StopSignal(exactly_one("STOPSIGNAL")?)
            }
            "healthcheck" => {
                let flags = Flags::parse(
                    node,
                    source,
                    &[
                        ("interval", Value),
                        ("timeout", Value),
                        ("start-period", Value),
                        ("start-interval", Value),
                        ("retries", Value),
                    ],
                )?;
                let Some((kind, rest)) = node.args.split_first() else {
                    return Err(error_at_node(source, node, "HEALTHCHECK requires an argument"));
                };
                let test = match kind.to_uppercase().as_str() {
                    "NONE" => {
                        if !rest.is_empty() {
                            return Err(error_at_node(source, node, "HEALTHCHECK NONE takes no arguments"));
                        }
                        if !node.flags.is_empty() {
                            return Err(error_at_node(source, node, "HEALTHCHECK NONE takes no options"));
                        }
                        vec!["NONE".to_owned()]
                    }
                    "CMD" => {
                        if rest.is_empty() {
                            return Err(error_at_node(source, node, "missing command after HEALTHCHECK CMD"));
                        }
                        if node.json {
                            std::iter::once("CMD".to_owned()).chain(rest.iter().cloned()).collect()
                        } else {
                            vec!["CMD-SHELL".to_owned(), rest.join(" ")]
                        }
                    }
                    other => {
                        return Err(error_at_text(
                            source,
                            node,
                            kind,
                            format!("unknown type {other:?} in HEALTHCHECK (try CMD)"),
                        ));
                    }
                };
                Command::Healthcheck(HealthcheckCommand {
                    test,
                    interval: flags.value("interval"),
                    timeout: flags.value("timeout"),
                    start_period: flags.value("start-period"),
                    start_interval: flags.value("start-interval"),
                    retries: flags.value("retries"),
                })
            }
            "shell" => {
                no_flags()?;
                if !node.json {
                    return Err(error_at_node(source, node, "SHELL requires the arguments to be in JSON form"));
                }
                require(1, "SHELL")?;
                Command::Shell(node.args.clone())
            }
            other => {
                let hint = suggest(other);
                let err = error_at_node(source, node, format!("unknown instruction: {}", other.to_uppercase()));
                return Err(match hint {
                    Some(hint) => err.with_help(format!("did you mean {}?", hint.to_uppercase())),
                    None => err,
                });
            }
        };
        Ok(Self { command, node: node.clone() })
    }
}

/// BuildKit's `suggest.WrapError` tail: ` (did you mean X?)`, or nothing without a suggestion.
pub(crate) fn did_you_mean(suggestion: Option<String>) -> String {
    suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
}

/// The closest instruction keyword to a misspelled one, if any is close.
fn suggest(word: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .map(|keyword| (levenshtein(word, keyword), *keyword))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, keyword)| keyword)
}

/// The Levenshtein distance between two words, counted in characters.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push((previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields() {
        assert_eq!(split_csv("type=cache,target=/x"), ["type=cache", "target=/x"]);
        assert_eq!(split_csv("\"a,b\",c"), ["a,b", "c"]);
    }

    /// The typed first instruction of `text`, or its error's message.
    fn typed(text: &str) -> Result<Command, String> {
        let ast = crate::parser::parse(text).map_err(|err| err.message)?;
        let node = ast.children.first().ok_or("no instruction")?;
        Instruction::from_node(node, text).map(|i| i.command).map_err(|err| err.message)
    }

    #[test]
    fn a_mount_from_names_no_variable_unless_the_dollar_ends_it() {
        // BuildKit's `parseMount` without an expander (instructions/commands_runmount.go).
        let refused = "'from' doesn't support variable expansion, define alias stage instead";
        assert_eq!(typed("RUN --mount=from=$STAGE,target=/m true").err().as_deref(), Some(refused));
        assert_eq!(typed("RUN --mount=target=/m,FROM=a${B} true").err().as_deref(), Some(refused));
        assert!(typed("RUN --mount=from=stage$,target=/m true").is_ok());
        assert!(typed("RUN --mount=type=cache,target=/m,id=$ID true").is_ok());
    }

    #[test]
    fn network_and_security_are_checked_as_written() {
        assert_eq!(typed("RUN --network=$NET true").err().as_deref(), Some("invalid network mode \"$NET\""));
        assert_eq!(typed("RUN --security=$SEC true").err().as_deref(), Some("security \"$SEC\" is not valid"));
        assert!(typed("RUN --network=none --security=insecure true").is_ok());
    }

    #[test]
    fn an_onbuild_trigger_keeps_its_heredocs() {
        let Ok(Command::Onbuild { trigger }) = typed("ONBUILD RUN <<EOF\necho hi\nEOF\n") else {
            panic!("ONBUILD with a heredoc types");
        };
        assert_eq!(trigger, "RUN <<EOF\necho hi\nEOF");
    }
}

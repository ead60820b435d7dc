//! The build checks that need lowering facts, run where BuildKit's converter runs them: the
//! FROM checks for every stage (as its `buildDispatchStates` does before choosing what to
//! build), and the instruction checks for each stage that is lowered (as its `dispatch`).

use std::collections::BTreeSet;

use gb_ir::{ImageReference, Platform};

use super::vars::Scope;
use super::{Lowerer, StageState, Warning};
use crate::instructions::{Command, CommandLine, Instruction};
use crate::lint::config::CheckConfig;
use crate::lint::message;
use crate::lint::rule::CheckRule;
use crate::lint::syntax::{self, Finding};
use crate::lint::words::{go_clean, is_secret_key, keyword_as_written, port_parts, suggest};
use crate::parser::{self, Node};

/// Build args BuildKit never turns into variables, so using one is not an undefined variable.
const NON_ENV_ARGS: &[&str] = &["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// What lowering keeps for the checks.
pub(crate) struct LintState {
    /// The build's check configuration (before `# check=` comments above instructions).
    pub config: CheckConfig,
    /// The `.dockerignore` patterns, when there are any and none is an exception: BuildKit
    /// checks COPY sources against them only then, since an exception can re-include a file
    /// inside an excluded directory.
    ignore: Option<gb_patterns::PatternMatcher>,
}

impl LintState {
    pub(crate) fn new(config: CheckConfig, excludes: &[String]) -> Self {
        let ignore = gb_patterns::PatternMatcher::new(excludes)
            .ok()
            .filter(|matcher| matcher.patterns().next().is_some() && !matcher.has_exclusions());
        Self { config, ignore }
    }
}

/// What a stage's instruction checks remember.
#[derive(Debug, Clone, Default)]
pub(crate) struct StageLints {
    /// A WORKDIR was given in this stage or a stage it is built on.
    pub workdir_set: bool,
    /// The lines of this stage's last CMD, ENTRYPOINT and HEALTHCHECK.
    pub cmd: Option<usize>,
    pub entrypoint: Option<usize>,
    pub healthcheck: Option<usize>,
}

impl StageLints {
    /// What a stage built on `base` starts with: the base's WORKDIR counts, its CMD,
    /// ENTRYPOINT and HEALTHCHECK do not (BuildKit's `dispatchState.init`). Its ARGs are the
    /// stage's own (`StageState::args`), inherited with their values.
    pub(crate) fn inherited(base: &StageState) -> Self {
        Self { workdir_set: base.lints.workdir_set, ..Self::default() }
    }
}

/// The instructions that may appear once per stage.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Once {
    Cmd,
    Entrypoint,
    Healthcheck,
}

impl Lowerer<'_> {
    /// Reports a finding when the build's configuration, plus what the `# check=` comments
    /// above its instruction add, lets its rule run.
    pub(crate) fn report(&mut self, finding: Finding, comments: &[String]) {
        if self.lint.config.with_comments(comments).enabled(finding.rule) {
            self.warnings.push(Warning {
                message: finding.message,
                line: Some(finding.line),
                rule: Some(finding.rule),
            });
        }
    }

    /// Reports a rule about an instruction, at its first line.
    pub(crate) fn lint(&mut self, rule: CheckRule, node: &Node, message: String) {
        self.report(Finding::new(rule, node.location.start_line, message), &node.prev_comment);
    }

    /// NoEmptyContinuation for each the parser found, at the line that ended the instruction.
    pub(crate) fn lint_parser_warnings(&mut self, warnings: &[parser::Warning]) {
        for warning in warnings {
            let finding = Finding::new(
                CheckRule::NoEmptyContinuation,
                warning.location.end_line,
                message::no_empty_continuation(),
            );
            self.report(finding, &[]);
        }
    }

    /// The checks BuildKit runs on one instruction as it types it.
    pub(crate) fn lint_instruction(&mut self, node: &Node) {
        for finding in syntax::instruction_findings(node) {
            self.report(finding, &node.prev_comment);
        }
    }

    /// The checks on the whole file's stages: names and keyword casing.
    pub(crate) fn lint_file(&mut self, nodes: &[Node]) {
        for finding in syntax::stage_name_findings(nodes).into_iter().chain(syntax::casing_findings(nodes)) {
            self.report(finding, &[]);
        }
    }

    /// InvalidDefaultArgInFrom: every stage's base name, with the global ARGs at their defaults
    /// (no build args), must be a valid image reference. Like BuildKit, the check gives up
    /// silently when a default cannot be expanded.
    pub(crate) fn lint_default_base_names(&mut self, meta: &[Instruction]) {
        let mut args = self.builtin_args(&self.target_platform.clone());
        for instruction in meta {
            let Command::Arg(declared) = &instruction.command else { continue };
            for (name, default) in declared {
                let Some(default) = default else { continue };
                let scope = Scope { arg_env: &[], env: &[], args: &args, deferred_base: false };
                let Ok(expansion) = self.lexer.expand_word(default, &scope) else { return };
                args.push((name.clone(), Some(expansion.value)));
            }
        }
        let mut findings = Vec::new();
        for stage in &self.stages {
            let Command::From { image, .. } = &stage.from.command else { continue };
            let scope = Scope { arg_env: &[], env: &[], args: &args, deferred_base: false };
            let Ok(expansion) = self.lexer.expand_word(image, &scope) else { break };
            if ImageReference::parse(&expansion.value).is_err() {
                let line = stage.from.node.location.start_line;
                findings.push(Finding::new(
                    CheckRule::InvalidDefaultArgInFrom,
                    line,
                    message::invalid_default_arg_in_from(image),
                ));
            }
        }
        for finding in findings {
            self.report(finding, &[]);
        }
    }

    /// The checks on every stage's FROM, built or not: UndefinedArgInFrom on the base name and
    /// platform, RedundantTargetPlatform and FromPlatformFlagConstDisallowed. A FROM whose words
    /// do not expand is left to lowering to report.
    pub(crate) fn lint_stage_bases(&mut self) {
        let mut args = self.builtin_args(&self.target_platform.clone());
        args.extend(self.meta_args.iter().cloned());
        let declared: Vec<&str> = args.iter().map(|(name, _)| name.as_str()).collect();
        let scope = Scope { arg_env: &[], env: &[], args: &args, deferred_base: false };
        let mut reports = Vec::new();
        for stage in &self.stages {
            let Command::From { image, platform, .. } = &stage.from.command else { continue };
            let line = stage.from.node.location.start_line;
            let mut findings = Vec::new();
            if let Ok(expansion) = self.lexer.expand_word(image, &scope) {
                findings.extend(undeclared_from_args(&expansion.unmatched, &declared, line));
            }
            if let Some(platform) = platform
                && let Ok(expansion) = self.lexer.expand_word(platform, &scope)
            {
                findings.extend(undeclared_from_args(&expansion.unmatched, &declared, line));
                // A global `ARG TARGETPLATFORM=...` overrides the automatic value.
                let target =
                    args.iter().rev().find(|(name, _)| name == "TARGETPLATFORM").and_then(|(_, value)| value.clone());
                if expansion.matched.len() == 1
                    && expansion.unmatched.is_empty()
                    && expansion.matched.contains("TARGETPLATFORM")
                    && target.as_deref() == Some(expansion.value.as_str())
                {
                    let message = message::redundant_target_platform(platform);
                    findings.push(Finding::new(CheckRule::RedundantTargetPlatform, line, message));
                }
                if expansion.matched.is_empty() && expansion.unmatched.is_empty() {
                    let name = stage.name.as_deref().unwrap_or_default();
                    findings.extend(constant_platform(&expansion.value, name, line));
                }
            }
            reports.push((findings, stage.from.node.prev_comment.clone()));
        }
        for (findings, comments) in reports {
            for finding in findings {
                self.report(finding, &comments);
            }
        }
    }

    /// UndefinedVar for the variables a word read that are neither set nor declared as ARGs
    /// in the stage (or the stages it is built on), with BuildKit's "did you mean".
    pub(crate) fn lint_undefined_vars(&mut self, stage: &StageState, unmatched: &BTreeSet<String>, node: &Node) {
        for name in unmatched {
            let declared = stage.args.iter().any(|(arg, _)| arg == name);
            // BuildKit always gives a stage a PATH, so reading it is never undefined.
            if declared || NON_ENV_ARGS.contains(&name.as_str()) || name == "PATH" {
                continue;
            }
            let options = stage
                .config
                .env
                .iter()
                .map(|var| var.name.as_str())
                .chain(stage.args.iter().filter(|(_, value)| value.is_some()).map(|(arg, _)| arg.as_str()));
            let suggestion = suggest(name, options);
            self.lint(CheckRule::UndefinedVar, node, message::undefined_var(name, suggestion.as_deref()));
        }
    }

    /// LegacyKeyValueFormat for each ENV or LABEL pair written `key value` rather than
    /// `key=value` (the parser gives such a pair an empty separator).
    pub(crate) fn lint_key_values(&mut self, node: &Node) {
        let legacy = node.args.chunks(3).filter(|triple| triple.get(2).is_some_and(String::is_empty)).count();
        for _ in 0..legacy {
            self.lint(
                CheckRule::LegacyKeyValueFormat,
                node,
                message::legacy_key_value_format(keyword_as_written(node)),
            );
        }
    }

    /// SecretsUsedInArgOrEnv for an ARG or ENV name that looks like it holds a secret.
    pub(crate) fn lint_secret_name(&mut self, instruction: &str, name: &str, node: &Node) {
        if is_secret_key(name) {
            self.lint(CheckRule::SecretsUsedInArgOrEnv, node, message::secrets_used_in_arg_or_env(instruction, name));
        }
    }

    /// MultipleInstructionsDisallowed: a stage's earlier CMD, ENTRYPOINT or HEALTHCHECK is
    /// reported, at its own line, once a later one replaces it.
    pub(crate) fn lint_once(&mut self, stage: &mut StageState, which: Once, node: &Node) {
        let seen = match which {
            Once::Cmd => &mut stage.lints.cmd,
            Once::Entrypoint => &mut stage.lints.entrypoint,
            Once::Healthcheck => &mut stage.lints.healthcheck,
        };
        let earlier = seen.replace(node.location.start_line);
        if let Some(line) = earlier {
            let message = message::multiple_instructions_disallowed(keyword_as_written(node));
            self.report(Finding::new(CheckRule::MultipleInstructionsDisallowed, line, message), &node.prev_comment);
        }
    }

    /// JSONArgsRecommended: a shell-form CMD or ENTRYPOINT in a stage that did not choose a
    /// SHELL.
    pub(crate) fn lint_json_args(&mut self, stage: &StageState, command: &CommandLine, node: &Node) {
        let no_shell = stage.config.shell.as_ref().is_none_or(Vec::is_empty);
        if matches!(command, CommandLine::Shell(_)) && no_shell {
            self.lint(CheckRule::JSONArgsRecommended, node, message::json_args_recommended(keyword_as_written(node)));
        }
    }

    /// WorkdirRelativePath: the first WORKDIR of a stage chain that is relative depends on the
    /// base image's working directory.
    pub(crate) fn lint_workdir(&mut self, stage: &mut StageState, path: &str, node: &Node) {
        if !stage.lints.workdir_set && !path.starts_with('/') {
            self.lint(CheckRule::WorkdirRelativePath, node, message::workdir_relative_path(path));
        }
        stage.lints.workdir_set = true;
    }

    /// CopyIgnoredFile: a COPY or ADD source from the context that `.dockerignore` excludes.
    /// As BuildKit, the path is only cleaned (a leading `/` stays and then matches nothing), and
    /// the context root counts as excluded only under `*`, `**` or `**/*`.
    pub(crate) fn lint_copy_source(&mut self, is_add: bool, source: &str, node: &Node) {
        let Some(matcher) = &self.lint.ignore else { return };
        let path = go_clean(source);
        let excluded = if path == "." || path == "/" {
            matcher.patterns().any(|pattern| matches!(pattern, "*" | "**" | "**/*"))
        } else {
            !path.starts_with('/') && matcher.matches(&path)
        };
        if excluded {
            let command = if is_add { "Add" } else { "Copy" };
            self.lint(CheckRule::CopyIgnoredFile, node, message::copy_ignored_file(command, &path));
        }
    }

    /// ExposeProtoCasing and ExposeInvalidFormat for each expanded EXPOSE port.
    pub(crate) fn lint_expose(&mut self, ports: &[String], node: &Node) {
        for port in ports {
            let Some(parts) = port_parts(port) else { continue };
            if parts.proto != parts.proto.to_lowercase() {
                self.lint(CheckRule::ExposeProtoCasing, node, message::expose_proto_casing(port));
            }
            if parts.mapped {
                self.lint(CheckRule::ExposeInvalidFormat, node, message::expose_invalid_format(port));
            }
        }
    }

    /// Only the rule warnings, for `check`.
    pub(crate) fn rule_warnings(&self) -> Vec<Warning> {
        self.warnings.iter().filter(|warning| warning.rule.is_some()).cloned().collect()
    }
}

/// UndefinedArgInFrom for the variables a FROM read that no global ARG declares, with a
/// suggestion among those that are declared.
fn undeclared_from_args(unmatched: &BTreeSet<String>, declared: &[&str], line: usize) -> Vec<Finding> {
    unmatched
        .iter()
        .filter(|name| !declared.contains(&name.as_str()))
        .map(|name| {
            let suggestion = suggest(name, declared.iter().copied());
            Finding::new(
                CheckRule::UndefinedArgInFrom,
                line,
                message::undefined_arg_in_from(name, suggestion.as_deref()),
            )
        })
        .collect()
}

/// FromPlatformFlagConstDisallowed: a constant `--platform` is allowed only in a stage whose
/// name mentions its OS or architecture (`AS build-amd64`); one that does not parse is left to
/// lowering to report.
fn constant_platform(value: &str, stage_name: &str, line: usize) -> Option<Finding> {
    let platform = Platform::parse(value)?;
    let architecture = normalize_architecture(&platform.architecture);
    if stage_name.contains(platform.os.as_str()) || stage_name.contains(architecture) {
        return None;
    }
    Some(Finding::new(
        CheckRule::FromPlatformFlagConstDisallowed,
        line,
        message::from_platform_flag_const_disallowed(value),
    ))
}

/// The GOARCH spelling of an architecture, as containerd's `platforms.Parse` normalizes it.
fn normalize_architecture(architecture: &str) -> &str {
    match architecture {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" | "armel" => "arm",
        "i386" => "386",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::constant_platform;

    #[test]
    fn a_constant_platform_is_allowed_in_a_stage_named_for_it() {
        assert!(constant_platform("linux/amd64", "", 2).is_some());
        assert!(constant_platform("linux/amd64", "my_amd64_stage", 2).is_none());
        assert!(constant_platform("linux/amd64", "linux", 2).is_none());
        assert!(constant_platform("linux/x86_64", "build-amd64", 2).is_none());
        assert!(constant_platform("nonsense", "", 2).is_none());
    }
}

//! Which checks run and whether they fail the build: BuildKit's check configuration, read from
//! the `# check=` directive, the `BUILDKIT_DOCKERFILE_CHECK` build arg that replaces it, and
//! `# check=` comments that add to it for one instruction.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::message::go_quote;
use super::rule::CheckRule;
use crate::error::{DockerfileError, ErrorKind};
use crate::lower::Warning;

/// The build arg that replaces the Dockerfile's `# check=` directive, as in BuildKit.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// What `skip=...;experimental=...;error=...` asks for (BuildKit's `linter.Config`).
///
/// Rule names are kept as written: an unknown name is not an error in BuildKit, it just
/// matches no rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    /// `skip=all`: no rule runs, except experimental rules asked for by name or `all`.
    pub skip_all: bool,
    /// `skip=A,B`: these rules do not run.
    pub skip: Vec<String>,
    /// `experimental=all`: every experimental rule runs.
    pub experimental_all: bool,
    /// `experimental=A,B`: these experimental rules run.
    pub experimental: Vec<String>,
    /// `error=true`: a build that reported any rule fails once lowered.
    pub error: bool,
}

/// Why a check configuration could not be read, in BuildKit's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckOptionError {
    /// BuildKit's message (`invalid check option "foo"`).
    pub message: String,
}

impl CheckConfig {
    /// Reads `skip=...;experimental=...;error=...` as BuildKit's `ParseLintOptions` does: at
    /// most three `;`-separated options (a fourth stays part of the third's value), each
    /// `key=value`, values trimmed, `skip` and `experimental` either `all` or a comma list.
    pub fn parse(text: &str) -> Result<Self, CheckOptionError> {
        let mut config = CheckConfig::default();
        let text = text.trim();
        if text.is_empty() {
            return Ok(config);
        }
        for option in text.splitn(3, ';') {
            let Some((key, value)) = option.split_once('=') else {
                return Err(CheckOptionError { message: format!("invalid check option {}", go_quote(option)) });
            };
            let value = value.trim();
            match key.trim() {
                "skip" if value == "all" => config.skip_all = true,
                "skip" => config.skip = comma_list(value),
                "experimental" if value == "all" => config.experimental_all = true,
                "experimental" => config.experimental = comma_list(value),
                "error" => {
                    config.error = go_parse_bool(value).ok_or_else(|| CheckOptionError {
                        message: format!(
                            "failed to parse check option {}: strconv.ParseBool: parsing {}: invalid syntax",
                            go_quote(option),
                            go_quote(value)
                        ),
                    })?;
                }
                other => return Err(CheckOptionError { message: format!("invalid check option {}", go_quote(other)) }),
            }
        }
        Ok(config)
    }

    /// Whether `rule` runs under this configuration.
    pub fn enabled(&self, rule: CheckRule) -> bool {
        if rule.is_experimental() {
            return self.experimental_all || self.experimental.iter().any(|name| name == rule.name());
        }
        !self.skip_all && !self.skip.iter().any(|name| name == rule.name())
    }

    /// The configuration for one instruction: this one, plus what the first `# check=` comment
    /// directly above the instruction adds (BuildKit's `WithMergedConfigFromComments`). Such a
    /// comment can only skip more rules or enable more experimental ones; one that does not
    /// parse is ignored, as in BuildKit.
    pub(crate) fn with_comments(&self, comments: &[String]) -> Cow<'_, CheckConfig> {
        let added = comments.iter().find_map(|comment| {
            let (name, value) = crate::parser::comment_directive(comment)?;
            (name == "check").then_some(value)
        });
        let Some(value) = added else { return Cow::Borrowed(self) };
        // BuildKit reads the value up to its first space, so `skip=X // why` works.
        let Ok(added) = CheckConfig::parse(value.split(' ').next().unwrap_or_default()) else {
            return Cow::Borrowed(self);
        };
        let mut merged = self.clone();
        merged.skip_all |= added.skip_all;
        merged.skip.extend(added.skip);
        merged.experimental_all |= added.experimental_all;
        merged.experimental.extend(added.experimental);
        Cow::Owned(merged)
    }

    /// BuildKit's `lint violation found for rules: ...` when `error=true` and a rule reported
    /// (each rule named once, in the order first reported), pointing at the earliest line a
    /// rule reported.
    pub fn violation(&self, source: &str, warnings: &[Warning]) -> Option<DockerfileError> {
        if !self.error {
            return None;
        }
        let mut rules: Vec<CheckRule> = Vec::new();
        let mut earliest_line = None;
        for warning in warnings {
            let Some(rule) = warning.rule else { continue };
            earliest_line = match (earliest_line, warning.line) {
                (Some(first), Some(line)) => Some(line.min(first)),
                (first, line) => first.or(line),
            };
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        if rules.is_empty() {
            return None;
        }
        let names: Vec<&str> = rules.iter().map(|rule| rule.name()).collect();
        let message = format!("lint violation found for rules: {}", names.join(", "));
        let error = match earliest_line.and_then(|line| line_span(source, line)) {
            Some((offset, len)) => DockerfileError::at(ErrorKind::Instruction, source, offset, len, message),
            None => DockerfileError::whole_file(ErrorKind::Instruction, message),
        };
        Some(error.with_help(
            "fix what the checks report, or skip the rules with `# check=skip=RULE` (`error=true` makes them fail the build)",
        ))
    }
}

/// The configuration a build uses: the `BUILDKIT_DOCKERFILE_CHECK` build arg when given
/// (it replaces the directive entirely), else the `# check=` directive read up to its first
/// space, else the default (every non-experimental rule, warnings only). A value that does not
/// parse fails the build, with BuildKit's message.
pub(crate) fn for_build(
    source: &str,
    directive: Option<&str>,
    build_args: &BTreeMap<String, String>,
) -> Result<CheckConfig, DockerfileError> {
    if let Some(value) = build_args.get(CHECK_BUILD_ARG) {
        return CheckConfig::parse(value).map_err(|err| {
            DockerfileError::whole_file(
                ErrorKind::Instruction,
                format!("failed to parse build-arg:{CHECK_BUILD_ARG}: {err}"),
            )
        });
    }
    let Some(directive) = directive else { return Ok(CheckConfig::default()) };
    CheckConfig::parse(directive.split(' ').next().unwrap_or_default()).map_err(|err| {
        let message = format!("failed to parse check options: {err}");
        match directive_span(source) {
            Some((offset, len)) => DockerfileError::at(ErrorKind::Syntax, source, offset, len, message),
            None => DockerfileError::whole_file(ErrorKind::Syntax, message),
        }
    })
}

fn comma_list(value: &str) -> Vec<String> {
    value.split(',').map(|name| name.trim().to_owned()).collect()
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The byte offset and length of 1-based line `line`, line ending excluded.
fn line_span(source: &str, line: usize) -> Option<(usize, usize)> {
    let mut offset = 0;
    for (index, text) in source.split('\n').enumerate() {
        if index + 1 == line {
            return Some((offset, text.trim_end_matches('\r').len()));
        }
        offset += text.len() + 1;
    }
    None
}

/// Where the `# check=` directive is: the first comment line naming it, before any
/// instruction.
fn directive_span(source: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for text in source.split('\n') {
        let trimmed = text.trim_start();
        let Some(comment) = trimmed.strip_prefix('#') else { break };
        if comment.trim_start().to_ascii_lowercase().starts_with("check") {
            let start = offset + (text.len() - trimmed.len());
            return Some((start, trimmed.trim_end().len()));
        }
        offset += text.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{CheckConfig, CheckRule};

    #[test]
    fn options_read_as_buildkit_reads_them() {
        let config = CheckConfig::parse(" skip = A, B ;error=TRUE").expect("parses");
        assert_eq!(config.skip, vec!["A".to_owned(), "B".to_owned()]);
        assert!(config.error);
        assert!(CheckConfig::parse("skip=all").expect("parses").skip_all);
        assert_eq!(CheckConfig::parse("").expect("parses"), CheckConfig::default());
        let err = CheckConfig::parse("skip").expect_err("no value");
        assert_eq!(err.message, "invalid check option \"skip\"");
        let err = CheckConfig::parse("warn=1").expect_err("unknown key");
        assert_eq!(err.message, "invalid check option \"warn\"");
        let err = CheckConfig::parse("error=maybe").expect_err("not a bool");
        assert_eq!(
            err.message,
            "failed to parse check option \"error=maybe\": strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        // Only three options are split off; the rest stays in the third value.
        let config = CheckConfig::parse("error=false;skip=A;experimental=B;skip=C").expect("parses");
        assert_eq!(config.experimental, vec!["B;skip=C".to_owned()]);
    }

    #[test]
    fn experimental_rules_need_asking_for_even_under_skip_all() {
        let config = CheckConfig::parse("skip=all;experimental=InvalidDefinitionDescription").expect("parses");
        assert!(config.enabled(CheckRule::InvalidDefinitionDescription));
        assert!(!config.enabled(CheckRule::FromAsCasing));
        assert!(!CheckConfig::default().enabled(CheckRule::InvalidDefinitionDescription));
        assert!(CheckConfig::default().enabled(CheckRule::UndefinedVar));
    }

    #[test]
    fn a_comment_above_an_instruction_adds_to_the_configuration() {
        let base = CheckConfig::parse("skip=A;error=true").expect("parses");
        let comments = vec!["check=skip=SecretsUsedInArgOrEnv // allow it".to_owned()];
        let merged = base.with_comments(&comments);
        assert!(!merged.enabled(CheckRule::SecretsUsedInArgOrEnv));
        assert!(merged.skip.contains(&"A".to_owned()) && merged.error);
        let ignored = vec!["check=nonsense".to_owned()];
        assert_eq!(*base.with_comments(&ignored), base);
    }
}

//! The checks that need only the parsed Dockerfile, as BuildKit runs them while it types
//! instructions and validates stages: keyword and stage-name casing, MAINTAINER, stage names
//! that repeat or are reserved, and description comments.

use super::message;
use super::rule::CheckRule;
use super::words::keyword_as_written;
use crate::parser::Node;

/// One thing a check reports, before the configuration decides whether it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub rule: CheckRule,
    /// The 1-based Dockerfile line.
    pub line: usize,
    pub message: String,
}

impl Finding {
    pub(crate) fn new(rule: CheckRule, line: usize, message: String) -> Self {
        Self { rule, line, message }
    }
}

/// What BuildKit's instruction parser reports about one top-level instruction. The comments
/// above the instruction may skip these (BuildKit's `ParseInstructionWithLinter`).
pub(crate) fn instruction_findings(node: &Node) -> Vec<Finding> {
    let line = node.location.start_line;
    let mut findings = Vec::new();
    match node.keyword.as_str() {
        "maintainer" => {
            findings.push(Finding::new(CheckRule::MaintainerDeprecated, line, message::maintainer_deprecated()));
        }
        "from" => {
            if let [_, _, name] = node.args.as_slice()
                && *name != name.to_lowercase()
            {
                findings.push(Finding::new(CheckRule::StageNameCasing, line, message::stage_name_casing(name)));
            }
            if let Some(as_word) = node.args.get(1).filter(|_| node.args.len() >= 3) {
                let from = keyword_as_written(node);
                let mismatch = if from == from.to_lowercase() {
                    *as_word != as_word.to_lowercase()
                } else if from == from.to_uppercase() {
                    *as_word != as_word.to_uppercase()
                } else {
                    // A mixed-case FROM is ConsistentInstructionCasing's to report.
                    false
                };
                if mismatch {
                    findings.push(Finding::new(CheckRule::FromAsCasing, line, message::from_as_casing(from, as_word)));
                }
            }
            if let [_, as_word, name] = node.args.as_slice()
                && as_word.eq_ignore_ascii_case("as")
            {
                findings.extend(definition_description("FROM", &[name.to_lowercase()], node));
            }
        }
        "arg" => {
            let keys: Vec<String> = node
                .args
                .iter()
                .map(|word| word.split_once('=').map_or(word.as_str(), |(key, _)| key).to_owned())
                .collect();
            findings.extend(definition_description("ARG", &keys, node));
        }
        _ => {}
    }
    findings
}

/// InvalidDefinitionDescription: the comment right above a stage or ARG, if any, must start
/// with the name it describes.
fn definition_description(instruction: &str, keys: &[String], node: &Node) -> Option<Finding> {
    let comment = node.prev_comment.last()?;
    let first_word = comment.split(' ').next().unwrap_or_default();
    if keys.is_empty() || keys.iter().any(|key| key == first_word) {
        return None;
    }
    let example = if keys.len() > 1 { "<arg_key>" } else { keys[0].as_str() };
    Some(Finding::new(
        CheckRule::InvalidDefinitionDescription,
        node.location.start_line,
        message::invalid_definition_description(instruction, example),
    ))
}

/// The instructions of the build stages: everything from the first FROM on.
fn stage_nodes(nodes: &[Node]) -> &[Node] {
    let first_from = nodes.iter().position(|node| node.keyword == "from").unwrap_or(nodes.len());
    &nodes[first_from..]
}

/// ReservedStageName and DuplicateStageName, for every stage (BuildKit's
/// `validateStageNames`).
pub(crate) fn stage_name_findings(nodes: &[Node]) -> Vec<Finding> {
    let mut seen: Vec<String> = Vec::new();
    let mut findings = Vec::new();
    for node in stage_nodes(nodes).iter().filter(|node| node.keyword == "from") {
        let [_, as_word, name] = node.args.as_slice() else { continue };
        if !as_word.eq_ignore_ascii_case("as") {
            continue;
        }
        let name = name.to_lowercase();
        let line = node.location.start_line;
        if matches!(name.as_str(), "context" | "scratch") {
            findings.push(Finding::new(CheckRule::ReservedStageName, line, message::reserved_stage_name(&name)));
        }
        if seen.contains(&name) {
            findings.push(Finding::new(CheckRule::DuplicateStageName, line, message::duplicate_stage_name(&name)));
        }
        seen.push(name);
    }
    findings
}

/// ConsistentInstructionCasing: each instruction keyword of the stages must be all lower or
/// all upper case, matching the majority (upper case on a tie), as BuildKit's
/// `validateCommandCasing` counts them. ARGs before the first FROM are not counted.
pub(crate) fn casing_findings(nodes: &[Node]) -> Vec<Finding> {
    let nodes = stage_nodes(nodes);
    let (mut lower, mut upper) = (0usize, 0usize);
    for node in nodes {
        let keyword = keyword_as_written(node);
        if keyword == keyword.to_lowercase() {
            lower += 1;
        } else if keyword == keyword.to_uppercase() {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    nodes
        .iter()
        .filter_map(|node| {
            let keyword = keyword_as_written(node);
            let casing = if majority_lower && keyword != keyword.to_lowercase() {
                "lowercase"
            } else if !majority_lower && keyword != keyword.to_uppercase() {
                "uppercase"
            } else {
                return None;
            };
            Some(Finding::new(
                CheckRule::ConsistentInstructionCasing,
                node.location.start_line,
                message::consistent_instruction_casing(keyword, casing),
            ))
        })
        .collect()
}

//! Why a build ran what an earlier build had: each step of a recorded build that ran, compared
//! with the earlier build of the same Dockerfile and target, as precisely as the records allow
//! (`graphbuild build --explain`, `graphbuild builds explain`).

use std::collections::{BTreeMap, HashMap};

use gb_ir::{Definition, EnvValue, Op, OpDigest, OpNode, SourceOp};

use crate::records::{BuildRecord, StepRecord, StepStatus};

/// Why one step ran.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// The step's number (1-based, as `builds show` numbers them).
    pub step: usize,
    /// Its op's digest.
    pub op: String,
    /// Its description without the stage label (`COPY src/ /app/`).
    pub description: String,
    /// Where it comes from (`Dockerfile:7`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Why it did not come from the cache.
    pub reason: String,
}

impl std::fmt::Display for Explanation {
    /// `#5 COPY src/ /app/ (Dockerfile:7): 2 context files changed: ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{} {}", self.step, self.description)?;
        if let Some(location) = &self.location {
            write!(f, " ({location})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// One explanation per step of `later` that ran, saying why it did not come from the cache
/// that `earlier` left.
pub fn explain(earlier: &BuildRecord, later: &BuildRecord) -> Vec<Explanation> {
    let Some(view) = Views::of(earlier, later, HashMap::new()) else { return Vec::new() };
    later
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| step.status == StepStatus::Ran)
        .map(|(index, step)| {
            let reason = view.reason(step);
            view.reasons.borrow_mut().insert(index + 1, reason.clone());
            Explanation {
                step: index + 1,
                op: step.op.clone(),
                description: bare(&step.description).to_owned(),
                location: step.location.clone(),
                reason,
            }
        })
        .collect()
}

/// Why the step at `index` of `later` (a build under way, its steps so far) runs, as
/// [`explain`] would say after the build; `reasons` holds those given for the steps before it,
/// by number, and gets this one's.
pub(crate) fn explain_step(
    earlier: &BuildRecord,
    later: &BuildRecord,
    index: usize,
    reasons: &mut HashMap<usize, String>,
) -> Option<String> {
    let view = Views::of(earlier, later, std::mem::take(reasons))?;
    let reason = later.steps.get(index).map(|step| view.reason(step));
    *reasons = view.reasons.into_inner();
    if let Some(reason) = &reason {
        reasons.insert(index + 1, reason.clone());
    }
    reason
}

/// A description without its `[stage 2/5] ` label.
fn bare(description: &str) -> &str {
    match description.strip_prefix('[').and_then(|rest| rest.split_once("] ")) {
        Some((_, rest)) => rest,
        None => description,
    }
}

/// A recorded build's graph, looked up by op.
struct Graph<'a> {
    nodes: HashMap<OpDigest, &'a OpNode>,
    definition: &'a Definition,
    /// Each step's number (1-based, as `builds show` numbers them), by op.
    numbers: HashMap<OpDigest, usize>,
}

impl<'a> Graph<'a> {
    fn of(definition: &'a Definition, record: &BuildRecord) -> Self {
        let numbers = record
            .steps
            .iter()
            .enumerate()
            .filter_map(|(index, step)| Some((step.op.parse::<gb_ir::Sha256Digest>().ok().map(OpDigest)?, index + 1)))
            .collect();
        Self { nodes: definition.ops.iter().map(|entry| (entry.digest, &entry.node)).collect(), definition, numbers }
    }

    fn description(&self, digest: &OpDigest) -> Option<&str> {
        self.definition.metadata.get(digest).map(|m| m.description.as_str())
    }
}

struct Views<'a> {
    old: Graph<'a>,
    new: Graph<'a>,
    earlier: &'a BuildRecord,
    later: &'a BuildRecord,
    /// The reasons given so far, by step number (steps come in graph order, inputs first).
    reasons: std::cell::RefCell<HashMap<usize, String>>,
}

/// Why a step whose inputs did not change ran: its own result was gone.
const PRUNED: &str = "the cache no longer had its result (pruned)";

impl<'a> Views<'a> {
    fn of(earlier: &'a BuildRecord, later: &'a BuildRecord, reasons: HashMap<usize, String>) -> Option<Self> {
        let (old, new) = (earlier.graphs.first()?, later.graphs.first()?);
        Some(Views {
            old: Graph::of(&old.definition, earlier),
            new: Graph::of(&new.definition, later),
            earlier,
            later,
            reasons: std::cell::RefCell::new(reasons),
        })
    }

    fn reason(&self, step: &StepRecord) -> String {
        let Some(digest) = step.op.parse::<gb_ir::Sha256Digest>().ok().map(OpDigest) else {
            return "its record names no op".to_owned();
        };
        let Some(node) = self.new.nodes.get(&digest) else { return "its record names no op".to_owned() };
        if self.later.info.no_cache {
            return "--no-cache".to_owned();
        }
        match self.counterpart(&digest, step) {
            None => "no earlier build had this step".to_owned(),
            Some(old) if old == digest => self.same_op(node),
            Some(old) => match self.old.nodes.get(&old) {
                Some(old_node) => self.changed_op(old_node, node),
                None => "no earlier build had this step".to_owned(),
            },
        }
    }

    /// The earlier build's op for `step`: the same op, else the step of the same description,
    /// else the one at the same Dockerfile line.
    fn counterpart(&self, digest: &OpDigest, step: &StepRecord) -> Option<OpDigest> {
        if self.old.nodes.contains_key(digest) {
            return Some(*digest);
        }
        let by = |matches: &dyn Fn(&StepRecord) -> bool| {
            self.earlier.steps.iter().find(|old| matches(old)).and_then(|old| old.op.parse().ok().map(OpDigest))
        };
        by(&|old| old.description == step.description)
            .or_else(|| by(&|old| bare(&old.description) == bare(&step.description)))
            .or_else(|| step.location.as_ref().and_then(|location| by(&|old| old.location.as_ref() == Some(location))))
    }

    /// The op is the same as before: what it reads changed, or the cache was bypassed or lost.
    fn same_op(&self, node: &OpNode) -> String {
        for input in &node.inputs {
            // An input that ran only because its own result was gone gave the same key.
            if let Some(number) = self.ran_step(&input.op)
                && self.reasons.borrow().get(&number).is_none_or(|reason| reason != PRUNED)
            {
                return format!("its input changed (#{number})");
            }
            if let Some(files) = self.context_change(&input.op) {
                return files;
            }
        }
        PRUNED.to_owned()
    }

    /// The number of the step `op` when it ran in the later build.
    fn ran_step(&self, op: &OpDigest) -> Option<usize> {
        let number = *self.new.numbers.get(op)?;
        (self.later.steps.get(number - 1)?.status == StepStatus::Ran).then_some(number)
    }

    /// How the context `op` read changed between the builds, when it did.
    fn context_change(&self, op: &OpDigest) -> Option<String> {
        let key = op.to_string();
        let (old, new) = (self.earlier.sources.get(&key)?, self.later.sources.get(&key)?);
        if old.content == new.content {
            return None;
        }
        let before: BTreeMap<&str, &gb_ir::Sha256Digest> = old.files.iter().map(|(p, d)| (p.as_str(), d)).collect();
        let after: BTreeMap<&str, &gb_ir::Sha256Digest> = new.files.iter().map(|(p, d)| (p.as_str(), d)).collect();
        let mut changes = Vec::new();
        for (path, digest) in &after {
            match before.get(path) {
                None => changes.push(format!("{path} (added)")),
                Some(old) if old != digest => changes.push(format!("{path} (content)")),
                Some(_) => {}
            }
        }
        changes.extend(before.keys().filter(|path| !after.contains_key(*path)).map(|path| format!("{path} (removed)")));
        Some(match changes.len() {
            0 => "the context's file modes, owners or links changed".to_owned(),
            1 => format!("1 context file changed: {}", changes[0]),
            n => format!("{n} context files changed: {}", changes.join(", ")),
        })
    }

    /// The op differs from the earlier one: say what in it.
    fn changed_op(&self, old: &OpNode, new: &OpNode) -> String {
        if old.platform != new.platform {
            let name =
                |node: &OpNode| node.platform.as_ref().map_or_else(|| "the host's".to_owned(), ToString::to_string);
            return format!("the platform changed: {} -> {}", name(old), name(new));
        }
        if old.op == new.op {
            return self.changed_inputs(old, new);
        }
        match (&old.op, &new.op) {
            (Op::Exec(old_exec), Op::Exec(new_exec)) => {
                let value = |env: &[gb_ir::EnvVar], name: &str| {
                    env.iter().find(|var| var.name == name).map(|var| match &var.value {
                        EnvValue::Value(value) | EnvValue::Deferred(value) => value.clone(),
                    })
                };
                let args = self.later.info.build_args.keys().chain(self.earlier.info.build_args.keys());
                for name in args {
                    let (before, after) = (value(&old_exec.meta.env, name), value(&new_exec.meta.env, name));
                    if before != after {
                        let show = |v: Option<String>| v.map_or_else(|| "unset".to_owned(), |v| format!("{v:?}"));
                        return format!("build arg {name} changed: {} -> {}", show(before), show(after));
                    }
                }
                let names: std::collections::BTreeSet<&str> =
                    old_exec.meta.env.iter().chain(&new_exec.meta.env).map(|var| var.name.as_str()).collect();
                if old_exec.meta.args == new_exec.meta.args
                    && let Some(name) =
                        names.iter().find(|name| value(&old_exec.meta.env, name) != value(&new_exec.meta.env, name))
                {
                    let show = |v: Option<String>| v.map_or_else(|| "unset".to_owned(), |v| format!("{v:?}"));
                    let (before, after) = (value(&old_exec.meta.env, name), value(&new_exec.meta.env, name));
                    return format!("the environment variable {name} changed: {} -> {}", show(before), show(after));
                }
                if old_exec.mounts != new_exec.mounts && old_exec.meta.args == new_exec.meta.args {
                    return "a secret or mount definition changed".to_owned();
                }
                "the Dockerfile line changed".to_owned()
            }
            _ => "the Dockerfile line changed".to_owned(),
        }
    }

    /// The op is the same but reads other inputs: the first that changed.
    fn changed_inputs(&self, old: &OpNode, new: &OpNode) -> String {
        for (before, after) in old.inputs.iter().zip(&new.inputs) {
            if before.op == after.op {
                continue;
            }
            if let (Some(Op::Source(SourceOp::Image(was))), Some(Op::Source(SourceOp::Image(now)))) =
                (self.old.nodes.get(&before.op).map(|n| &n.op), self.new.nodes.get(&after.op).map(|n| &n.op))
            {
                let digest =
                    |image: &gb_ir::ImageSource| image.manifest.map_or_else(|| "?".to_owned(), |d| d.to_string());
                let name = gb_ir::ImageReference::parse(&now.reference)
                    .map_or_else(|_| now.reference.clone(), |r| r.familiar());
                return format!("the base image {name} changed: {} -> {}", digest(was), digest(now));
            }
            if let Some(number) = self.ran_step(&after.op) {
                return format!("its input changed (#{number})");
            }
            if let Some(description) = self.new.description(&after.op) {
                return format!("its input changed ({description})");
            }
        }
        "its inputs changed".to_owned()
    }
}

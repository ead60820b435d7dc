//! The Definition: a whole build graph with its requested output, metadata and image spec, and
//! the checks that make it safe to run.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::digest::OpDigest;
use crate::image::ImageSpec;
use crate::op::{Input, OpNode};

/// The schema identifier every Definition carries; bump it on any incompatible change.
pub const SCHEMA_VERSION: &str = "graphbuild.definition.v1";

/// A build graph as front ends emit it and `graphbuild solve` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// Always [`SCHEMA_VERSION`].
    pub schema: String,
    /// The ops, each after all of its inputs.
    pub ops: Vec<OpEntry>,
    /// The result the build asks for; absent for an empty build (`FROM scratch` with nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    /// Descriptions and source positions, outside every digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<OpDigest, OpMetadata>,
    /// The image config and history for the exporters, when the front end makes an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSpec>,
}

/// An op with its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpEntry {
    /// sha256 of the node's canonical JSON; checked on load.
    pub digest: OpDigest,
    /// The op.
    #[serde(flatten)]
    pub node: OpNode,
}

/// The requested result: one output of one op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The op.
    pub op: OpDigest,
    /// Which of its outputs.
    #[serde(default)]
    pub output: u32,
}

/// What a person or a progress display needs to know about an op; never hashed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpMetadata {
    /// A one-line description, such as `[build 3/5] RUN make`.
    pub description: String,
    /// The instruction keyword when the op comes from a Dockerfile instruction (`RUN`, `COPY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Where in the front end's source the op comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    /// Caching is off for this op (`--no-cache-filter`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_cache: bool,
}

/// A line range in a source file, 1-based and inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The source file's name as the user gave it.
    pub file: String,
    /// First line.
    pub start_line: usize,
    /// Last line.
    pub end_line: usize,
}

/// Why a Definition cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// The JSON does not parse or does not match the schema.
    #[error("invalid definition JSON: {0}")]
    Json(String),
    /// The schema identifier is not one this engine reads.
    #[error("unsupported definition schema `{found}` (this engine reads `{SCHEMA_VERSION}`)")]
    Schema {
        /// The schema found.
        found: String,
    },
    /// An op's digest is not the digest of its content.
    #[error("op {claimed} has the wrong digest: its content hashes to {actual}")]
    DigestMismatch {
        /// The digest written.
        claimed: OpDigest,
        /// The digest of the content.
        actual: OpDigest,
    },
    /// The same op appears twice.
    #[error("op {0} appears twice")]
    DuplicateOp(OpDigest),
    /// An op reads an op that is not in the graph.
    #[error("op {op} reads {input}, which is not in the definition")]
    MissingInput {
        /// The reading op.
        op: OpDigest,
        /// The missing op.
        input: OpDigest,
    },
    /// An op reads an output its input does not have.
    #[error("op {op} reads output {output} of {input}, which has {count} output(s)")]
    MissingInputOutput {
        /// The reading op.
        op: OpDigest,
        /// The op read.
        input: OpDigest,
        /// The output asked for.
        output: u32,
        /// How many outputs it has.
        count: u32,
    },
    /// A field of an op refers to an input index it does not have.
    #[error("op {op} refers to input #{index}, but has {count} input(s)")]
    BadInputIndex {
        /// The op.
        op: OpDigest,
        /// The index.
        index: u32,
        /// How many inputs it has.
        count: usize,
    },
    /// An op reads an op listed after it (or itself). Readers compute keys in one pass over
    /// `ops`, so every op must come after its inputs; this also rules out cycles.
    #[error(
        "op #{position} ({op}) reads op #{input_position} ({input}), which is not listed before it; every op must come after its inputs"
    )]
    InputNotBefore {
        /// The reading op.
        op: OpDigest,
        /// Its index in `ops`.
        position: usize,
        /// The op read.
        input: OpDigest,
        /// The read op's index in `ops`.
        input_position: usize,
    },
    /// The requested output is not in the graph.
    #[error("the requested output {0} is not in the definition")]
    MissingOutput(OpDigest),
    /// Metadata names an op that is not in the graph.
    #[error("metadata for {0}, which is not in the definition")]
    OrphanMetadata(OpDigest),
}

impl Definition {
    /// An empty definition of the current schema.
    pub fn new() -> Self {
        Self {
            schema: SCHEMA_VERSION.to_owned(),
            ops: Vec::new(),
            output: None,
            metadata: BTreeMap::new(),
            image: None,
        }
    }

    /// Adds an op unless an identical one is already there, and returns its digest.
    ///
    /// Ops must be added after their inputs, which keeps `ops` in topological order.
    pub fn add(&mut self, node: OpNode) -> OpDigest {
        let digest = node.digest();
        if !self.ops.iter().any(|entry| entry.digest == digest) {
            self.ops.push(OpEntry { digest, node });
        }
        digest
    }

    /// The op with this digest.
    pub fn get(&self, digest: &OpDigest) -> Option<&OpNode> {
        self.ops.iter().find(|entry| &entry.digest == digest).map(|entry| &entry.node)
    }

    /// Parses and validates a Definition from JSON.
    pub fn from_json(text: &str) -> Result<Self, DefinitionError> {
        let definition: Self = serde_json::from_str(text).map_err(|err| DefinitionError::Json(err.to_string()))?;
        definition.validate()?;
        Ok(definition)
    }

    /// The Definition as pretty JSON; parsing it back gives the same value and the same bytes.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Checks that the graph can run: known schema, true digests, inputs present, listed before
    /// the ops that read them and having the outputs read, input indexes in range, and the
    /// output and metadata present.
    ///
    /// Every check is a loop over `ops` and their inputs, never a recursion, so a graph of any
    /// depth is checked in constant stack.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if self.schema != SCHEMA_VERSION {
            return Err(DefinitionError::Schema { found: self.schema.clone() });
        }
        let mut by_digest: HashMap<OpDigest, (usize, &OpNode)> = HashMap::with_capacity(self.ops.len());
        for (position, entry) in self.ops.iter().enumerate() {
            let actual = entry.node.digest();
            if actual != entry.digest {
                return Err(DefinitionError::DigestMismatch { claimed: entry.digest, actual });
            }
            if by_digest.insert(entry.digest, (position, &entry.node)).is_some() {
                return Err(DefinitionError::DuplicateOp(entry.digest));
            }
        }
        for (position, entry) in self.ops.iter().enumerate() {
            for Input { op: input, output } in &entry.node.inputs {
                let Some(&(input_position, node)) = by_digest.get(input) else {
                    return Err(DefinitionError::MissingInput { op: entry.digest, input: *input });
                };
                // The solver keys ops in this order and looks each input's key up, so an input
                // listed later would be read before it exists.
                if input_position >= position {
                    return Err(DefinitionError::InputNotBefore {
                        op: entry.digest,
                        position,
                        input: *input,
                        input_position,
                    });
                }
                let count = node.output_count();
                if *output >= count {
                    return Err(DefinitionError::MissingInputOutput {
                        op: entry.digest,
                        input: *input,
                        output: *output,
                        count,
                    });
                }
            }
            for index in entry.node.referenced_input_indexes() {
                if index as usize >= entry.node.inputs.len() {
                    return Err(DefinitionError::BadInputIndex {
                        op: entry.digest,
                        index,
                        count: entry.node.inputs.len(),
                    });
                }
            }
        }
        if let Some(output) = &self.output {
            let (_, node) = by_digest.get(&output.op).ok_or(DefinitionError::MissingOutput(output.op))?;
            if output.output >= node.output_count() {
                return Err(DefinitionError::MissingOutput(output.op));
            }
        }
        if let Some(orphan) = self.metadata.keys().find(|digest| !by_digest.contains_key(digest)) {
            return Err(DefinitionError::OrphanMetadata(*orphan));
        }
        Ok(())
    }

    /// The ops the output depends on (itself included), in topological order.
    pub fn reachable_from_output(&self) -> Vec<OpDigest> {
        let Some(output) = &self.output else { return Vec::new() };
        let index: HashMap<OpDigest, &OpNode> = self.ops.iter().map(|e| (e.digest, &e.node)).collect();
        let mut needed = std::collections::HashSet::new();
        let mut stack = vec![output.op];
        while let Some(digest) = stack.pop() {
            if needed.insert(digest)
                && let Some(node) = index.get(&digest)
            {
                stack.extend(node.inputs.iter().map(|input| input.op));
            }
        }
        self.ops.iter().map(|e| e.digest).filter(|d| needed.contains(d)).collect()
    }
}

impl Default for Definition {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{ExecMeta, ExecOp, Mount, MountKind, NetworkMode, SecurityMode};
    use crate::op::Op;
    use crate::source::{ImageSource, SourceOp};

    fn image() -> OpNode {
        OpNode {
            inputs: Vec::new(),
            op: Op::Source(SourceOp::Image(ImageSource {
                reference: "docker.io/library/busybox:latest".into(),
                manifest: None,
            })),
            platform: crate::Platform::parse("linux/amd64"),
        }
    }

    fn run_on(input: OpDigest, command: &str) -> OpNode {
        OpNode {
            inputs: vec![Input::of(input)],
            op: Op::Exec(ExecOp {
                meta: ExecMeta {
                    args: vec!["/bin/sh".into(), "-c".into(), command.into()],
                    env: Vec::new(),
                    cwd: None,
                    user: None,
                    config_from: None,
                    proxy_env: Vec::new(),
                    extra_hosts: Vec::new(),
                    hostname: None,
                    shm_size: None,
                    ulimits: Vec::new(),
                },
                mounts: vec![Mount {
                    target: "/".into(),
                    input: Some(0),
                    selector: None,
                    readonly: false,
                    output: Some(0),
                    kind: MountKind::Bind,
                }],
                network: NetworkMode::Default,
                security: SecurityMode::Sandbox,
            }),
            platform: None,
        }
    }

    fn sample() -> Definition {
        let mut definition = Definition::new();
        let base = definition.add(image());
        let run = definition.add(run_on(base, "echo hi"));
        definition.output = Some(Output { op: run, output: 0 });
        definition.metadata.insert(run, OpMetadata { description: "RUN echo hi".into(), ..OpMetadata::default() });
        definition
    }

    #[test]
    fn a_built_definition_is_valid_and_round_trips_bit_exactly() {
        let definition = sample();
        definition.validate().expect("valid");
        let json = definition.to_json();
        let parsed = Definition::from_json(&json).expect("parses");
        assert_eq!(parsed, definition);
        assert_eq!(parsed.to_json(), json);
    }

    #[test]
    fn adding_an_identical_op_twice_keeps_one() {
        let mut definition = sample();
        let before = definition.ops.len();
        definition.add(image());
        assert_eq!(definition.ops.len(), before);
    }

    #[test]
    fn proxy_env_does_not_change_the_digest() {
        let base = image().digest();
        let plain = run_on(base, "x");
        let mut proxied = plain.clone();
        if let Op::Exec(exec) = &mut proxied.op {
            exec.meta.proxy_env.push(crate::EnvVar::new("HTTP_PROXY", "http://proxy:3128"));
        }
        assert_eq!(plain.digest(), proxied.digest());
    }

    fn expect_error(mutate: impl FnOnce(&mut Definition)) -> DefinitionError {
        let mut definition = sample();
        mutate(&mut definition);
        let json = serde_json::to_string(&definition).expect("serializes");
        Definition::from_json(&json).expect_err("must be rejected")
    }

    #[test]
    fn rejects_what_cannot_run() {
        assert!(matches!(expect_error(|d| d.schema = "other".into()), DefinitionError::Schema { .. }));
        assert!(matches!(expect_error(|d| d.ops[0].node.platform = None), DefinitionError::DigestMismatch { .. }));
        assert!(matches!(
            expect_error(|d| {
                d.ops.remove(0);
            }),
            DefinitionError::MissingInput { .. }
        ));
        assert!(matches!(
            expect_error(|d| {
                let extra = d.ops[1].clone();
                d.ops.push(extra);
            }),
            DefinitionError::DuplicateOp(_)
        ));
        assert!(matches!(
            expect_error(|d| d.output = Some(Output { op: OpDigest(crate::Sha256Digest::of(b"x")), output: 0 })),
            DefinitionError::MissingOutput(_)
        ));
        assert!(matches!(
            expect_error(|d| {
                d.metadata.insert(OpDigest(crate::Sha256Digest::of(b"y")), OpMetadata::default());
            }),
            DefinitionError::OrphanMetadata(_)
        ));
        assert!(matches!(
            expect_error(|d| {
                let base = d.ops[0].digest;
                let mut node = run_on(base, "bad index");
                if let Op::Exec(exec) = &mut node.op {
                    exec.mounts[0].input = Some(5);
                }
                d.add(node);
            }),
            DefinitionError::BadInputIndex { .. }
        ));
        assert!(matches!(
            expect_error(|d| {
                let base = d.ops[0].digest;
                let mut node = run_on(base, "bad output");
                node.inputs[0].output = 3;
                d.add(node);
            }),
            DefinitionError::MissingInputOutput { .. }
        ));
        assert!(matches!(expect_error(|d| d.ops.clear()), DefinitionError::MissingOutput(_)));
    }

    #[test]
    fn rejects_an_op_listed_before_its_input() {
        // The review's input: a valid graph with its ops reversed made `graphbuild solve` panic
        // when it looked up a key it had not computed yet.
        let err = expect_error(|d| d.ops.reverse());
        let DefinitionError::InputNotBefore { position, input_position, .. } = &err else {
            panic!("expected InputNotBefore, got {err:?}");
        };
        assert_eq!((*position, *input_position), (0, 1));
        assert!(err.to_string().contains("every op must come after its inputs"), "{err}");
    }

    #[test]
    fn validates_a_deep_chain_without_recursing() {
        // 20,000 ops in one chain, checked on a 256 KiB stack: every check is a loop.
        let mut definition = Definition::new();
        let mut last = definition.add(image());
        for i in 0..20_000 {
            last = definition.add(run_on(last, &format!("step {i}")));
        }
        definition.output = Some(Output { op: last, output: 0 });
        let checked = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                definition.validate().map(|()| (definition.reachable_from_output().len(), crate::to_dot(&definition)))
            })
            .expect("spawns")
            .join()
            .expect("no stack overflow");
        let (reachable, dot) = checked.expect("valid");
        assert_eq!(reachable, 20_001);
        assert!(dot.ends_with("}\n"));
    }

    #[test]
    fn rejects_malformed_json_with_a_message() {
        let err = Definition::from_json("{\"schema\": 3}").expect_err("malformed");
        assert!(err.to_string().starts_with("invalid definition JSON"), "{err}");
    }
}

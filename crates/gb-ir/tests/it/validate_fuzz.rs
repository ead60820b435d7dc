//! Fuzzing `Definition::validate`: valid graphs are built from random plans, then mutated the
//! ways a hand-written or hostile Definition can be wrong (ops reordered, dropped or duplicated,
//! input digests, output indexes and input indexes changed, digests corrupted, JSON bytes
//! edited). Validation must accept or reject each without panicking, and whatever it accepts
//! must really be runnable: every input listed before its reader, true digests, indexes in
//! range. The seed is fixed so CI runs the same cases every time.

use std::cell::Cell;
use std::collections::HashMap;

use gb_ir::{
    CopyAction, Definition, DiffOp, ExecMeta, ExecOp, FileAction, FileOp, ImageSource, Input, LocalSource, MergeOp,
    MkdirAction, Mount, MountKind, NetworkMode, Op, OpDigest, OpMetadata, OpNode, Output, Platform, SecurityMode,
    Sha256Digest, SourceOp,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};

/// How many cases one run tries; a few thousand take about a second.
const CASES: u32 = 4000;

/// One op of a plan: its kind and numbers that pick its inputs among the ops before it.
type PlannedOp = (u8, Vec<u16>);

/// One mutation: its kind and two numbers it uses as positions or values.
type Mutation = (u8, u16, u16);

fn source(pick: u16) -> OpNode {
    let op = match pick % 3 {
        0 => SourceOp::Image(ImageSource { reference: format!("docker.io/library/img{pick}:latest"), manifest: None }),
        1 => {
            SourceOp::Local(LocalSource { name: "context".into(), include: vec![format!("f{pick}")], exclude: vec![] })
        }
        _ => SourceOp::Scratch,
    };
    OpNode { inputs: Vec::new(), op: Op::Source(op), platform: Platform::parse("linux/amd64") }
}

fn exec(inputs: Vec<Input>, tag: u16) -> OpNode {
    let mut mounts = vec![Mount {
        target: "/".into(),
        input: Some(0),
        selector: None,
        readonly: false,
        output: Some(0),
        kind: MountKind::Bind,
    }];
    for index in 1..inputs.len() {
        mounts.push(Mount {
            target: format!("/m{index}"),
            input: Some(index as u32),
            selector: None,
            readonly: index % 2 == 0,
            output: (index % 2 == 1).then_some(index as u32),
            kind: MountKind::Bind,
        });
    }
    OpNode {
        inputs,
        op: Op::Exec(ExecOp {
            meta: ExecMeta {
                args: vec!["/bin/sh".into(), "-c".into(), format!("step {tag}")],
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
            mounts,
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
        }),
        platform: Platform::parse("linux/amd64"),
    }
}

fn file(inputs: Vec<Input>, tag: u16) -> OpNode {
    let mut actions = vec![FileAction::Mkdir(MkdirAction {
        path: format!("/d{tag}"),
        mode: 0o755,
        make_parents: true,
        owner: None,
        timestamp: None,
    })];
    for index in 1..inputs.len() {
        actions.push(FileAction::Copy(CopyAction::docker(index as u32, "/", format!("/c{index}/"))));
    }
    OpNode { inputs, op: Op::File(FileOp { base: Some(0), actions }), platform: None }
}

/// A valid Definition from a plan: each op reads ops chosen among those before it.
fn build(plan: &[PlannedOp]) -> Definition {
    let mut definition = Definition::new();
    // Each op's digest and output count, so picks can name any existing output.
    let mut made: Vec<(OpDigest, u32)> = Vec::new();
    for (kind, picks) in plan {
        let node = if made.is_empty() || kind % 5 == 0 {
            source(picks.first().copied().unwrap_or(0))
        } else {
            let mut inputs: Vec<Input> = Vec::new();
            for pick in picks.iter().take(3) {
                let (op, outputs) = made[*pick as usize % made.len()];
                let input = Input { op, output: u32::from(*pick) % outputs };
                if !inputs.contains(&input) {
                    inputs.push(input);
                }
            }
            if inputs.is_empty() {
                inputs.push(Input::of(made[made.len() - 1].0));
            }
            let tag = picks.first().copied().unwrap_or(0);
            match kind % 5 {
                1 => exec(inputs, tag),
                2 => file(inputs, tag),
                3 => OpNode { inputs, op: Op::Merge(MergeOp {}), platform: None },
                _ => {
                    let lower = (inputs.len() > 1).then_some(1);
                    OpNode { inputs, op: Op::Diff(DiffOp { lower, upper: 0 }), platform: None }
                }
            }
        };
        let outputs = node.output_count().max(1);
        let digest = definition.add(node);
        if !made.iter().any(|(d, _)| *d == digest) {
            made.push((digest, outputs));
            definition
                .metadata
                .insert(digest, OpMetadata { description: format!("op {}", made.len()), ..OpMetadata::default() });
        }
    }
    if let Some((last, _)) = made.last() {
        definition.output = Some(Output { op: *last, output: 0 });
    }
    definition
}

fn other_digest(seed: u16) -> OpDigest {
    OpDigest(Sha256Digest::of(format!("not an op {seed}").as_bytes()))
}

/// A digest with one byte changed.
fn corrupt(digest: OpDigest, at: u16) -> OpDigest {
    let mut bytes = *digest.0.as_bytes();
    bytes[usize::from(at) % 32] ^= 0x5a;
    OpDigest(Sha256Digest::from_bytes(bytes))
}

fn mutate(definition: &mut Definition, (kind, a, b): Mutation) {
    let n = definition.ops.len();
    let (a, b) = (usize::from(a), usize::from(b));
    // Recomputes an op's digest after its node changed, so later checks than the digest's run.
    let reseal = |definition: &mut Definition, i: usize| {
        definition.ops[i].digest = definition.ops[i].node.digest();
    };
    match kind % 13 {
        0 if n > 1 => definition.ops.swap(a % n, b % n),
        1 => definition.ops.reverse(),
        2 if n > 0 => {
            definition.ops.remove(a % n);
        }
        3 if n > 0 => {
            let op = definition.ops[a % n].clone();
            definition.ops.insert(b % (n + 1), op);
        }
        4 if n > 0 => {
            // Point an input at another op, possibly one listed after the reader.
            let target = definition.ops[b % n].digest;
            let entry = &mut definition.ops[a % n];
            if let Some(input) = entry.node.inputs.first_mut() {
                input.op = target;
                reseal(definition, a % n);
            }
        }
        5 if n > 0 => {
            if let Some(input) = definition.ops[a % n].node.inputs.first_mut() {
                input.output = b as u32 % 4;
                reseal(definition, a % n);
            }
        }
        6 if n > 0 => {
            // Change an index a field refers to.
            match &mut definition.ops[a % n].node.op {
                Op::Exec(exec) => {
                    if let Some(mount) = exec.mounts.get_mut(b % 3) {
                        mount.input = Some(b as u32 % 5);
                    }
                    if b % 7 == 0 {
                        exec.meta.config_from = Some(b as u32 % 4);
                    }
                }
                Op::File(file) => file.base = Some(b as u32 % 4),
                Op::Diff(diff) => diff.upper = b as u32 % 4,
                _ => {}
            }
            reseal(definition, a % n);
        }
        7 if n > 0 => definition.ops[a % n].digest = corrupt(definition.ops[a % n].digest, b as u16),
        8 if n > 0 => {
            if let Some(input) = definition.ops[a % n].node.inputs.first_mut() {
                input.op = corrupt(input.op, b as u16);
            }
        }
        9 => {
            if let Some(output) = &mut definition.output {
                if b % 2 == 0 {
                    output.op = other_digest(a as u16);
                } else {
                    output.output = b as u32 % 4;
                }
            }
        }
        10 => {
            definition.metadata.insert(other_digest(b as u16), OpMetadata::default());
        }
        11 if n > 0 => {
            // Drop an input without telling the fields that index it.
            definition.ops[a % n].node.inputs.pop();
            reseal(definition, a % n);
        }
        12 => definition.schema = format!("graphbuild.definition.v{}", b % 3),
        _ => {}
    }
}

/// Independent checks of what validation promises about a Definition it accepted.
fn assert_runnable(definition: &Definition) {
    let positions: HashMap<OpDigest, usize> =
        definition.ops.iter().enumerate().map(|(i, entry)| (entry.digest, i)).collect();
    assert_eq!(positions.len(), definition.ops.len(), "no duplicate ops");
    for (i, entry) in definition.ops.iter().enumerate() {
        assert_eq!(entry.digest, entry.node.digest(), "true digest");
        for input in &entry.node.inputs {
            let at = positions.get(&input.op).copied().expect("input present");
            assert!(at < i, "input listed before its reader");
            assert!(input.output < definition.ops[at].node.output_count(), "output in range");
        }
        for index in entry.node.referenced_input_indexes() {
            assert!((index as usize) < entry.node.inputs.len(), "index in range");
        }
    }
    if let Some(output) = &definition.output {
        assert!(positions.contains_key(&output.op), "output present");
    }
    // What readers do next must not panic either.
    let _ = definition.reachable_from_output();
    let _ = gb_ir::to_dot(definition);
    let json = definition.to_json();
    assert_eq!(Definition::from_json(&json).as_ref().ok(), Some(definition), "round trip");
}

fn plan() -> impl Strategy<Value = Vec<PlannedOp>> {
    prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u16>(), 0..4)), 1..24)
}

fn config() -> Config {
    Config {
        cases: CASES,
        rng_seed: RngSeed::Fixed(0x6772_6170_6862_7569),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

#[test]
fn validate_accepts_or_rejects_mutated_definitions_without_panicking() {
    let executions = Cell::new(0usize);
    let (accepted, rejected) = (Cell::new(0usize), Cell::new(0usize));
    let strategy = (plan(), prop::collection::vec((any::<u8>(), any::<u16>(), any::<u16>()), 0..4));
    TestRunner::new(config())
        .run(&strategy, |(plan, mutations)| {
            executions.set(executions.get() + 1);
            let mut definition = build(&plan);
            if mutations.is_empty() {
                prop_assert!(definition.validate().is_ok(), "a built graph is valid");
            }
            for mutation in &mutations {
                mutate(&mut definition, *mutation);
            }
            match definition.validate() {
                Ok(()) => {
                    accepted.set(accepted.get() + 1);
                    assert_runnable(&definition);
                }
                Err(err) => {
                    rejected.set(rejected.get() + 1);
                    prop_assert!(!err.to_string().is_empty());
                }
            }
            Ok(())
        })
        .expect("no failing case");
    eprintln!(
        "validate fuzz: {} executions ({} accepted, {} rejected)",
        executions.get(),
        accepted.get(),
        rejected.get()
    );
    assert!(executions.get() >= CASES as usize);
    assert!(accepted.get() > 0 && rejected.get() > CASES as usize / 4, "both outcomes are exercised");
}

#[test]
fn validate_survives_edited_json() {
    let executions = Cell::new(0usize);
    let strategy = (plan(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4));
    TestRunner::new(Config { cases: CASES / 4, ..config() })
        .run(&strategy, |(plan, edits)| {
            executions.set(executions.get() + 1);
            let mut bytes = build(&plan).to_json().into_bytes();
            for (at, byte) in &edits {
                let i = at.index(bytes.len());
                // Digit and hex edits keep the JSON parsing, so they reach validation.
                bytes[i] = match byte % 4 {
                    0 => b"0123456789"[usize::from(*byte) % 10],
                    1 => b"abcdef"[usize::from(*byte) % 6],
                    _ => *byte,
                };
            }
            if let Ok(definition) = Definition::from_json(&String::from_utf8_lossy(&bytes)) {
                assert_runnable(&definition);
            }
            Ok(())
        })
        .expect("no failing case");
    eprintln!("validate JSON fuzz: {} executions", executions.get());
}

//! The solver's phases over any graph of ops, knowing nothing of what an op does: an op says
//! what it reads, how its cache key is made from its inputs' keys, what is known of its outputs
//! before anything runs (a source's value, a stored result), and how to run it. Phase 1 keys
//! every op in topological order; phase 2 walks down from the output and stops at what is
//! known, so a cached result needs nothing below it; phase 3 hands the rest to the scheduler.
//! `solve.rs` binds the IR's ops (sources, exec, file, merge, diff) to [`GraphOp`]; the tests
//! below solve graphs of fake ops.
//!
//! An op's *effective* key may differ from the key phase 1 gives it: an op that reads only part
//! of an input can key that input by the content it reads (`solve.rs`), as BuildKit's
//! content-based cache does, so what is downstream of a changed stage stays cached when the
//! part it reads did not change. Phase 3 hands each op its inputs' effective keys; a stored
//! result carries the effective key it was stored with.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use gb_cache::CacheKey;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;

use crate::scheduler;

/// What is known of an op's outputs before anything runs.
pub(crate) enum Known<V> {
    /// Nothing: it runs if something that must run needs it.
    Nothing,
    /// A source's outputs, resolved before the solve (not a cache hit).
    Resolved(Vec<V>),
    /// A stored result under its key (a cache hit), and the effective key it was stored with.
    Stored(Vec<V>, CacheKey),
}

/// What running an op of type `O` gives: its outputs, what the run tells and its effective key,
/// or its error.
pub(crate) type RunOutcome<O> =
    Result<(Vec<<O as GraphOp>::Value>, <O as GraphOp>::Ran, CacheKey), <O as GraphOp>::Error>;

/// One op of a graph, as the phases see it.
pub(crate) trait GraphOp {
    /// An output's value (what an input is given as). The default stands in for an output an
    /// op does not have.
    type Value: Clone + Default + Send + Sync + 'static;
    /// Why keying, looking up or running the op failed.
    type Error: Send + 'static;
    /// What a run tells besides the outputs (who ran it).
    type Ran: Send + 'static;

    /// Its inputs: the index of an op earlier in the graph, and which of its outputs.
    fn inputs(&self) -> &[(usize, u32)];

    /// Its cache key, from its inputs' keys (in the order of [`Self::inputs`]).
    fn key(&self, input_keys: &[(CacheKey, u32)]) -> CacheKey;

    /// What is known of its outputs under `key` before running it.
    fn known(&self, key: &CacheKey) -> Result<Known<Self::Value>, Self::Error>;

    /// What a cache beyond the local one holds under `key`, asked only of an op that phase 2
    /// reaches and nothing local knows (each ask may be a network round trip).
    fn known_remotely(&self, _key: &CacheKey) -> Result<Known<Self::Value>, Self::Error> {
        Ok(Known::Nothing)
    }

    /// Runs it on its inputs' values (with their effective keys); the future owns what it needs.
    fn run(
        &self,
        key: CacheKey,
        inputs: Vec<Self::Value>,
        input_keys: Vec<(CacheKey, u32)>,
    ) -> impl Future<Output = RunOutcome<Self>> + Send + 'static;
}

/// What a run of an op of type `O` gave: outputs, what the run told, its effective key.
type RunDone<O> = (Vec<<O as GraphOp>::Value>, <O as GraphOp>::Ran, CacheKey);

/// Phases 1 and 2: every op's key, what is known, and what must run.
pub(crate) struct Planned<V> {
    /// Every op's key, by index.
    pub keys: Vec<CacheKey>,
    /// The effective keys of the ops known before running, by index.
    pub effective: HashMap<usize, CacheKey>,
    /// Outputs known before running, by index.
    pub known: HashMap<usize, Vec<V>>,
    /// The ops whose stored result was found (cache hits), in graph order.
    pub hits: Vec<usize>,
    /// The ops that must run, in graph order.
    pub needed: Vec<usize>,
}

/// Keys every op of `ops` (topologically ordered: inputs first) and decides which must run for
/// op `output`'s outputs.
pub(crate) fn plan<O: GraphOp>(ops: &[O], output: usize) -> Result<Planned<O::Value>, O::Error> {
    let mut keys: Vec<CacheKey> = Vec::with_capacity(ops.len());
    let mut known = HashMap::new();
    let mut effective = HashMap::new();
    let mut hits = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let input_keys: Vec<(CacheKey, u32)> = op.inputs().iter().map(|(input, out)| (keys[*input], *out)).collect();
        let key = op.key(&input_keys);
        keys.push(key);
        match op.known(&key)? {
            Known::Nothing => {}
            Known::Resolved(values) => {
                known.insert(index, values);
                effective.insert(index, key);
            }
            Known::Stored(values, stored_with) => {
                known.insert(index, values);
                effective.insert(index, stored_with);
                hits.push(index);
            }
        }
    }
    let mut needed: HashSet<usize> = HashSet::new();
    let mut stack = vec![output];
    while let Some(index) = stack.pop() {
        if known.contains_key(&index) || needed.contains(&index) {
            continue;
        }
        if let Known::Stored(values, stored_with) = ops[index].known_remotely(&keys[index])? {
            known.insert(index, values);
            effective.insert(index, stored_with);
            hits.push(index);
            continue;
        }
        needed.insert(index);
        stack.extend(ops[index].inputs().iter().map(|(input, _)| *input));
    }
    hits.sort_unstable();
    let mut needed: Vec<usize> = needed.into_iter().collect();
    needed.sort_unstable();
    Ok(Planned { keys, effective, known, hits, needed })
}

/// What phase 3 ran: each op's outputs and what its run told.
pub(crate) struct Ran<V, R> {
    /// Outputs of every op known or run, by index.
    pub values: HashMap<usize, Vec<V>>,
    /// The ops that ran, with what their runs told, in no particular order.
    pub ran: Vec<(usize, R)>,
}

/// Phase 3: runs the needed ops, each as soon as its inputs are there; the first failure
/// cancels the rest (see `scheduler::run`).
pub(crate) async fn run<O: GraphOp>(
    ops: &[O],
    planned: Planned<O::Value>,
    cancel: &CancellationToken,
    on_panic: impl Fn(JoinError) -> O::Error,
) -> Result<Ran<O::Value, O::Ran>, O::Error> {
    let Planned { keys, effective, known, needed, .. } = planned;
    let in_plan: HashSet<usize> = needed.iter().copied().collect();
    let plan = scheduler::Plan {
        steps: needed
            .iter()
            .map(|index| {
                let waits: Vec<usize> =
                    ops[*index].inputs().iter().map(|(input, _)| *input).filter(|i| in_plan.contains(i)).collect();
                (*index, waits)
            })
            .collect(),
    };
    let start = |index: usize, done: &HashMap<usize, RunDone<O>>| {
        let inputs: Vec<O::Value> = ops[index]
            .inputs()
            .iter()
            .map(|(input, out)| {
                done.get(input)
                    .map(|(values, _, _)| values)
                    .or_else(|| known.get(input))
                    .and_then(|values| values.get(*out as usize).cloned())
                    .unwrap_or_default()
            })
            .collect();
        let input_keys: Vec<(CacheKey, u32)> = ops[index]
            .inputs()
            .iter()
            .map(|(input, out)| {
                let key = done.get(input).map(|(_, _, key)| *key).or_else(|| effective.get(input).copied());
                (key.unwrap_or(keys[*input]), *out)
            })
            .collect();
        ops[index].run(keys[index], inputs, input_keys)
    };
    let done = scheduler::run(plan, cancel, start, on_panic).await?;
    let mut values = known;
    let mut ran = Vec::with_capacity(done.len());
    for (index, (outputs, told, _)) in done {
        values.insert(index, outputs);
        ran.push((index, told));
    }
    Ok(Ran { values, ran })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use gb_ir::{OpDigest, Sha256Digest};

    use super::*;

    /// A fake op: a name, its inputs, and a value that is its name joined to its inputs'
    /// values. A shared "cache" maps keys to stored outputs; runs are logged.
    struct Fake {
        name: &'static str,
        inputs: Vec<(usize, u32)>,
        source: bool,
        fails: bool,
        world: Arc<World>,
    }

    #[derive(Default)]
    struct World {
        stored: Mutex<HashMap<CacheKey, Vec<String>>>,
        runs: Mutex<Vec<&'static str>>,
    }

    impl GraphOp for Fake {
        type Value = String;
        type Error = String;
        type Ran = ();

        fn inputs(&self) -> &[(usize, u32)] {
            &self.inputs
        }

        fn key(&self, input_keys: &[(CacheKey, u32)]) -> CacheKey {
            let digest = OpDigest(Sha256Digest::of(self.name.as_bytes()));
            crate::cache_key(&digest, input_keys, None)
        }

        fn known(&self, key: &CacheKey) -> Result<Known<String>, String> {
            if self.source {
                return Ok(Known::Resolved(vec![self.name.to_owned()]));
            }
            Ok(match self.world.stored.lock().expect("cache").get(key) {
                Some(values) => Known::Stored(values.clone(), *key),
                None => Known::Nothing,
            })
        }

        fn run(
            &self,
            key: CacheKey,
            inputs: Vec<String>,
            _: Vec<(CacheKey, u32)>,
        ) -> impl Future<Output = RunOutcome<Self>> + Send + 'static {
            let (name, fails, world) = (self.name, self.fails, self.world.clone());
            async move {
                world.runs.lock().expect("log").push(name);
                if fails {
                    return Err(format!("{name} failed"));
                }
                let value = format!("{name}({})", inputs.join(","));
                world.stored.lock().expect("cache").insert(key, vec![value.clone()]);
                Ok((vec![value], (), key))
            }
        }
    }

    /// A diamond: `src` read by `left` and `right`, both read by `top`; `other` hangs off `src`
    /// but the output does not need it.
    fn diamond(world: &Arc<World>, fail: Option<&str>) -> Vec<Fake> {
        let op = |name: &'static str, inputs: Vec<(usize, u32)>| Fake {
            name,
            inputs,
            source: name == "src",
            fails: fail == Some(name),
            world: world.clone(),
        };
        vec![
            op("src", vec![]),
            op("left", vec![(0, 0)]),
            op("right", vec![(0, 0)]),
            op("top", vec![(1, 0), (2, 0)]),
            op("other", vec![(0, 0)]),
        ]
    }

    async fn solve(ops: &[Fake]) -> Result<(String, Vec<usize>), String> {
        let planned = plan(ops, 3)?;
        let hits = planned.hits.clone();
        let ran = run(ops, planned, &CancellationToken::new(), |e| e.to_string()).await?;
        Ok((ran.values[&3][0].clone(), hits))
    }

    fn runs(world: &World) -> Vec<&'static str> {
        let mut runs = world.runs.lock().expect("log").clone();
        runs.sort_unstable();
        runs
    }

    #[tokio::test]
    async fn a_graph_runs_what_its_output_needs_with_its_inputs_values() {
        let world = Arc::default();
        let (value, hits) = solve(&diamond(&world, None)).await.expect("solve");
        assert_eq!(value, "top(left(src),right(src))");
        assert!(hits.is_empty());
        assert_eq!(runs(&world), ["left", "right", "top"], "`other` is not needed, `src` is resolved");
    }

    #[tokio::test]
    async fn a_stored_result_is_used_and_nothing_below_it_runs() {
        let world: Arc<World> = Arc::default();
        solve(&diamond(&world, None)).await.expect("first solve");
        world.runs.lock().expect("log").clear();
        let (value, hits) = solve(&diamond(&world, None)).await.expect("second solve");
        assert_eq!(value, "top(left(src),right(src))");
        assert_eq!(hits, [1, 2, 3], "every op below the output was a hit too");
        assert!(runs(&world).is_empty(), "nothing ran");
    }

    #[tokio::test]
    async fn a_changed_input_key_changes_every_key_above_it() {
        let world: Arc<World> = Arc::default();
        let ops = diamond(&world, None);
        let before = plan(&ops, 3).expect("plan").keys;
        let mut changed = diamond(&world, None);
        changed[2].name = "right2";
        let after = plan(&changed, 3).expect("plan").keys;
        assert_eq!(before[1], after[1], "left does not read right");
        assert_ne!(before[2], after[2]);
        assert_ne!(before[3], after[3], "top reads right");
    }

    #[tokio::test]
    async fn a_failure_fails_the_solve_and_what_needs_it_never_runs() {
        let world = Arc::default();
        let error = solve(&diamond(&world, Some("left"))).await.expect_err("fails");
        assert_eq!(error, "left failed");
        assert!(!runs(&world).contains(&"top"), "top needs left");
    }
}

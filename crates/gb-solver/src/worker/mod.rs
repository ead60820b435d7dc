//! Running one op: exec in a container, file actions on an overlay, merge by layer
//! concatenation. Each returns the op's outputs as snapshots and stores them in the cache.

mod exec;
mod file;
mod ssh;

pub(crate) use exec::prune_cache_mounts;

use std::path::PathBuf;

use gb_cache::{CacheKey, LayerRecord, Snapshot};
use gb_events::Event;
use gb_ir::{Op, OpDigest, OpNode};

use crate::error::SolveError;
use crate::solve::{Context, store_result};

/// An op output as the worker sees it.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A snapshot (layer stack).
    Snapshot(Snapshot),
    /// A local directory, read in place with its filters (the build context).
    Local { root: PathBuf, include: Vec<String>, exclude: Vec<String> },
    /// An image not pulled yet: pulled (for `platform`) when something needs its layers.
    Image { reference: String, manifest: gb_ir::Sha256Digest, platform: gb_ir::Platform },
}

/// What an input that names an output its op does not have is given: an empty snapshot.
impl Default for Value {
    fn default() -> Self {
        Value::Snapshot(Snapshot::default())
    }
}

/// Runs one op and reports it.
pub(crate) async fn run_op(
    context: &Context,
    digest: OpDigest,
    node: &OpNode,
    inputs: Vec<Value>,
    key: CacheKey,
) -> Result<Vec<Value>, SolveError> {
    if context.options.cancel.is_cancelled() {
        return Err(SolveError::Cancelled);
    }
    let description = context.description(&digest);
    let shows_progress = matches!(node.op, Op::Exec(_) | Op::File(_));
    let started_ms = context.now_ms();
    // What a step wrote is counted against what it read (merges and diffs report nothing).
    let input_layers: std::collections::HashSet<gb_cache::LayerId> = match shows_progress {
        true => inputs
            .iter()
            .filter_map(|input| match input {
                Value::Snapshot(snapshot) => Some(snapshot.layers.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect(),
        false => Default::default(),
    };
    if shows_progress {
        context.events.emit(Event::OpStarted {
            op: digest.to_string(),
            description: description.clone(),
            at_ms: started_ms,
            reason: None,
        });
    }
    let result = match &node.op {
        Op::Exec(exec) => exec::run(context, &digest, node, exec, inputs).await,
        Op::File(file) => file::run(context, &digest, file, inputs).await,
        Op::Merge(_) => {
            let mut layers = Vec::new();
            for input in inputs {
                layers.extend(to_snapshot(context, input).await?.layers);
            }
            Ok(vec![Snapshot { layers }])
        }
        Op::Diff(diff) => {
            let lower = match diff.lower {
                Some(i) => to_snapshot(context, inputs[i as usize].clone()).await?,
                None => Snapshot::default(),
            };
            let upper = to_snapshot(context, inputs[diff.upper as usize].clone()).await?;
            match upper.layers.strip_prefix(lower.layers.as_slice()) {
                Some(rest) => Ok(vec![Snapshot { layers: rest.to_vec() }]),
                None => Err(SolveError::OpFailed {
                    description: description.clone(),
                    location: context.location(&digest),
                    message: "diff of snapshots that do not share a base is not supported yet".to_owned(),
                }),
            }
        }
        Op::Source(_) => Err(SolveError::env("the solver", "sources are resolved before running")),
    };
    match result {
        Ok(outputs) => {
            if matches!(node.op, Op::Exec(_) | Op::File(_)) {
                store_result(context, &key, &digest, &outputs, None)?;
            }
            if shows_progress {
                let now = context.now_ms();
                context.events.emit(Event::OpCompleted {
                    op: digest.to_string(),
                    description,
                    started_ms,
                    duration_ms: now - started_ms,
                    bytes_written: bytes_written(context, &outputs, &input_layers),
                });
            }
            Ok(outputs.into_iter().map(Value::Snapshot).collect())
        }
        Err(SolveError::Cancelled) => {
            context.events.emit(Event::OpCancelled { op: digest.to_string(), description, at_ms: context.now_ms() });
            Err(SolveError::Cancelled)
        }
        Err(err) => {
            context.events.emit(Event::OpFailed {
                op: digest.to_string(),
                description,
                error: err.to_string(),
                at_ms: context.now_ms(),
            });
            Err(err)
        }
    }
}

/// The bytes of the layers an exec or file op wrote: each output's top layer, unless it is one
/// of the op's inputs (an output left as it was). Layers below it came with the inputs (a base
/// image pulled for the op included): they were not the op's writing.
fn bytes_written(
    context: &Context,
    outputs: &[Snapshot],
    input_layers: &std::collections::HashSet<gb_cache::LayerId>,
) -> u64 {
    let mut written = std::collections::HashSet::new();
    outputs
        .iter()
        .filter_map(|output| output.layers.last())
        .filter(|layer| !input_layers.contains(*layer) && written.insert((*layer).clone()))
        .filter_map(|layer| context.root.db.layer(layer).ok().flatten())
        .map(|record| record.size)
        .sum()
}

/// A value as a snapshot: a local directory is copied (with its filters) into a new layer.
pub(crate) async fn to_snapshot(context: &Context, value: Value) -> Result<Snapshot, SolveError> {
    snapshot_for(context, None, value).await
}

/// [`to_snapshot`] of an input of the op `reader`. A build context that lacks what the op reads
/// (a missing or excluded path, a link that leads out of the context) fails that op at its
/// Dockerfile line, as a missing path in a stage or image does: the input is what is wrong.
pub(crate) async fn input_snapshot(context: &Context, reader: &OpDigest, value: Value) -> Result<Snapshot, SolveError> {
    snapshot_for(context, Some(reader), value).await
}

/// A failed mount while preparing an op. A stack of more layers than overlayfs can mount is the
/// build's doing (too many steps), so it fails the op at its line (`fail`); any other mount
/// failure is the machine's.
pub(crate) fn mount_failed(
    what: &str,
    error: gb_snapshot::SnapshotError,
    fail: &(dyn Fn(String) -> SolveError + Send + Sync),
) -> SolveError {
    match error.kind() {
        gb_snapshot::ErrorKind::Input => fail(format!("{what}: {error}")),
        gb_snapshot::ErrorKind::Environment | gb_snapshot::ErrorKind::Bug => SolveError::env(what, error),
    }
}

async fn snapshot_for(context: &Context, reader: Option<&OpDigest>, value: Value) -> Result<Snapshot, SolveError> {
    match value {
        Value::Snapshot(snapshot) => Ok(snapshot),
        Value::Image { reference, manifest, platform } => {
            let puller = context
                .options
                .puller
                .clone()
                .ok_or_else(|| SolveError::env("pulling a base image", "no registry client was set up"))?;
            let failed = |message: String| SolveError::OpFailed {
                description: format!("pulling {reference}"),
                location: None,
                message,
            };
            let record = puller.pull(&reference, &manifest, &platform).await.map_err(|e| {
                if e.environment { SolveError::env(format!("pulling {reference}"), e) } else { failed(e.to_string()) }
            })?;
            if record.manifest_digest != manifest {
                return Err(failed(format!(
                    "the registry now serves {}, but the build was planned with {manifest}",
                    record.manifest_digest
                )));
            }
            Ok(Snapshot { layers: record.layers })
        }
        Value::Local { root, include, exclude } => {
            let state = context.root.clone();
            let description = reader.map_or_else(|| "copying the build context".to_owned(), |d| context.description(d));
            let location = reader.and_then(|d| context.location(d));
            tokio::task::spawn_blocking(move || {
                let work = state.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
                let matcher = gb_patterns::PatternMatcher::new(&exclude)
                    .map_err(|e| SolveError::env("the context's exclude patterns", e))?;
                let sources = [Some(gb_ops::CopySource::with_exclude(&root, &matcher))];
                let paths = if include.is_empty() { vec![String::new()] } else { include };
                let actions = paths
                    .iter()
                    .map(|path| {
                        let mut copy = gb_ir::CopyAction::docker(0, format!("/{path}"), format!("/{path}"));
                        copy.allow_empty_wildcard = true;
                        gb_ir::FileAction::Copy(copy)
                    })
                    .collect();
                let op = gb_ir::FileOp { base: None, actions };
                gb_ops::apply_file_op(work.upper(), &op, &sources).map_err(|e| match e.kind() {
                    gb_ops::ErrorKind::Input => SolveError::OpFailed {
                        description,
                        location,
                        message: format!("reading the build context: {e}"),
                    },
                    gb_ops::ErrorKind::Environment | gb_ops::ErrorKind::Bug => {
                        SolveError::env(format!("copying the context {}", root.display()), e)
                    }
                })?;
                commit(&state, work)
            })
            .await
            .map_err(|e| SolveError::env("copying the context", e))?
            .map(|layer| Snapshot { layers: vec![layer] })
        }
    }
}

/// Commits a work directory as a layer and records it.
pub(crate) fn commit(state: &gb_store::StateRoot, work: gb_snapshot::WorkDir) -> Result<gb_cache::LayerId, SolveError> {
    let (layer, size) = state.snapshots.commit(work).map_err(|e| SolveError::env("committing a layer", e))?;
    let created_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    state
        .db
        .put_layer(&layer, &LayerRecord { size, created_unix })
        .map_err(|e| SolveError::env("recording a layer", e))?;
    Ok(layer)
}

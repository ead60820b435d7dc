//! File ops: mount the base writable, mount copy sources read-only (or read the context in
//! place), apply the actions with Docker's semantics, commit the upper dir as a layer.

use std::collections::BTreeMap;

use gb_cache::Snapshot;
use gb_ir::{FileAction, FileOp, OpDigest};

use super::{Value, commit, mount_failed, to_snapshot};
use crate::error::SolveError;
use crate::solve::Context;

pub(super) async fn run(
    context: &Context,
    digest: &OpDigest,
    op: &FileOp,
    inputs: Vec<Value>,
) -> Result<Vec<Snapshot>, SolveError> {
    // Images not pulled yet are pulled now: their files are read.
    let mut inputs = inputs;
    for input in &mut inputs {
        if matches!(input, Value::Image { .. }) {
            *input = Value::Snapshot(to_snapshot(context, input.clone()).await?);
        }
    }
    let base = match op.base {
        Some(index) => to_snapshot(context, inputs[index as usize].clone()).await?,
        None => Snapshot::default(),
    };
    let state = context.root.clone();
    let op = op.clone();
    let description = context.description(digest);
    let location = context.location(digest);
    // The whole root's bound covers the copying (see exec's).
    let _slot = context.root.shared::<crate::steps::Steps>().slot().await;
    context.events.emit(gb_events::Event::OpRunning { op: digest.to_string(), at_ms: context.now_ms() });
    tokio::task::spawn_blocking(move || {
        let fail = |message: String| SolveError::OpFailed {
            description: description.clone(),
            location: location.clone(),
            message,
        };
        let work = state.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
        // Scratch needs no overlay: the upper dir is the whole file system.
        let mounted = if base.layers.is_empty() {
            None
        } else {
            Some(
                state
                    .snapshots
                    .mount_writable(&base, &work)
                    .map_err(|e| mount_failed("mounting the base", e, &fail))?,
            )
        };
        let dest_root = mounted.as_ref().map_or_else(|| work.upper().to_path_buf(), |m| m.path().to_path_buf());

        let mut source_indexes: Vec<u32> =
            op.actions.iter().filter_map(|a| if let FileAction::Copy(c) = a { Some(c.source) } else { None }).collect();
        source_indexes.sort_unstable();
        source_indexes.dedup();
        let mut mounts = BTreeMap::new();
        let mut matchers = BTreeMap::new();
        for index in &source_indexes {
            match &inputs[*index as usize] {
                Value::Snapshot(snapshot) => {
                    let mounted = state
                        .snapshots
                        .mount_readonly(snapshot)
                        .map_err(|e| mount_failed("mounting a copy source", e, &fail))?;
                    mounts.insert(*index, mounted);
                }
                Value::Image { reference, .. } => {
                    return Err(SolveError::env("a file op", format!("image {reference} was not pulled")));
                }
                Value::Local { exclude, .. } => {
                    let matcher = gb_patterns::PatternMatcher::new(exclude)
                        .map_err(|e| SolveError::env("the context's exclude patterns", e))?;
                    matchers.insert(*index, matcher);
                }
            }
        }
        let sources: Vec<Option<gb_ops::CopySource<'_>>> = (0..inputs.len() as u32)
            .map(|index| match (&inputs[index as usize], mounts.get(&index), matchers.get(&index)) {
                (Value::Snapshot(_), Some(mounted), _) => Some(gb_ops::CopySource::new(mounted.path())),
                (Value::Local { root, .. }, _, Some(matcher)) => Some(gb_ops::CopySource::with_exclude(root, matcher)),
                _ => None,
            })
            .collect();
        gb_ops::apply_file_op(&dest_root, &op, &sources).map_err(|e| {
            // Writing the layer found the disk full: the machine's failure, not the Dockerfile's.
            if gb_store::is_no_space(&e) {
                return SolveError::env(format!("{description}: writing its layer"), e);
            }
            fail(e.to_string())
        })?;
        drop(sources);
        drop(mounts);
        drop(mounted);
        let layer = commit(&state, work)?;
        let mut layers = base.layers;
        layers.push(layer);
        Ok(vec![Snapshot { layers }])
    })
    .await
    .map_err(|e| SolveError::env("a file op", e))?
}

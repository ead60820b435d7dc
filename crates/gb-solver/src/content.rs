//! Content-based keys, as BuildKit's content-based cache: an op that reads only part of an
//! input made by another op (what `COPY --from` copies, what a `RUN --mount=from=` bind mount
//! shows) keys that input by the content of that part, so a change elsewhere in the input's
//! stage does not make the op, or anything after it, run again.
//!
//! Only parts nothing writes back are keyed so: a copy's sources, and exec mounts that are
//! read-only or give no output (BuildKit's `getMountDeps` rule: a mount the step could change
//! and pass on must be keyed by the whole input). An input that is a source (the context, an
//! image, a download) is keyed by its content already and is left as it is. The keyed part is
//! never smaller than what the op reads (a wildcard keys the directory it matches in), so two
//! inputs with the same key give the op the same files.

use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;

use gb_cache::{CacheKey, Snapshot};
use gb_ir::{FileAction, MountKind, Op, OpNode, Sha256Digest};
use sha2::{Digest as _, Sha256};

use crate::error::SolveError;
use crate::solve::Context;

/// The parts of each input (by input position) an op reads and keys by content; `None` for an
/// input keyed by its own key. `is_source(position)` says whether an input comes from a source.
pub(crate) fn content_reads(node: &OpNode, is_source: impl Fn(usize) -> bool) -> Vec<Option<Vec<String>>> {
    let mut reads: Vec<Option<Vec<String>>> = vec![None; node.inputs.len()];
    let mut add = |input: usize, selector: String| {
        if input < reads.len() && !is_source(input) {
            reads[input].get_or_insert_with(Vec::new).push(selector);
        }
    };
    match &node.op {
        Op::Exec(exec) => {
            for mount in exec.mounts.iter().skip(1) {
                let Some(input) = mount.input else { continue };
                let reads_only = mount.readonly || mount.output.is_none();
                if reads_only && matches!(mount.kind, MountKind::Bind | MountKind::Cache { .. }) {
                    add(input as usize, mount.selector.clone().unwrap_or_else(|| "/".to_owned()));
                }
            }
        }
        Op::File(file) => {
            for action in &file.actions {
                if let FileAction::Copy(copy) = action
                    && file.base != Some(copy.source)
                {
                    add(copy.source as usize, literal_prefix(&copy.src));
                }
            }
        }
        Op::Source(_) | Op::Merge(_) | Op::Diff(_) => {}
    }
    // An input that is also the base of what the op writes is keyed whole.
    if let Op::File(file) = &node.op
        && let Some(base) = file.base
        && let Some(read) = reads.get_mut(base as usize)
    {
        *read = None;
    }
    if let Op::Exec(exec) = &node.op
        && let Some(root) = exec.mounts.first().and_then(|m| m.input)
        && let Some(read) = reads.get_mut(root as usize)
    {
        *read = None;
    }
    reads
}

/// The path up to its first component with a wildcard: the directory a pattern matches in.
fn literal_prefix(path: &str) -> String {
    let mut prefix = Vec::new();
    for component in path.split('/') {
        if component.contains(['*', '?', '[', '\\']) {
            break;
        }
        prefix.push(component);
    }
    let joined = prefix.join("/");
    if joined.is_empty() { "/".to_owned() } else { joined }
}

/// The key of `selectors` of `snapshot`: the names, types, modes, owners, link targets and
/// contents below each (no times), so equal keys mean the same files for the op.
pub(crate) async fn content_key(
    context: &Context,
    snapshot: Snapshot,
    selectors: Vec<String>,
) -> Result<CacheKey, SolveError> {
    let state = context.root.clone();
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        hasher.update(b"graphbuild content read v1\n");
        let mounted =
            state.snapshots.mount_readonly(&snapshot).map_err(|e| SolveError::env("mounting an input to key it", e))?;
        let mut selectors = selectors;
        selectors.sort();
        selectors.dedup();
        for selector in &selectors {
            hasher.update(format!("selector {selector}\n").as_bytes());
            let path = gb_ops::resolve_in_root(mounted.path(), selector, true)
                .map_err(|e| SolveError::env(format!("keying {selector} of an input"), e))?;
            hash_tree(&path, &mut hasher)
                .map_err(|e| SolveError::env(format!("reading {selector} of an input to key it"), e))?;
        }
        mounted.unmount().map_err(|e| SolveError::env("unmounting an input", e))?;
        Ok(CacheKey(Sha256Digest::from_bytes(hasher.finalize().into())))
    })
    .await
    .map_err(|e| SolveError::env("keying an input", e))?
}

/// Feeds `root` and everything below it (in name order) to `hasher`; a missing path is
/// recorded as missing.
fn hash_tree(root: &Path, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((path, name)) = pending.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                hasher.update(format!("missing {name:?}\n").as_bytes());
                continue;
            }
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        hasher.update(format!("{name:?} {:o} {}:{}", meta.mode(), meta.uid(), meta.gid()).as_bytes());
        if kind.is_dir() {
            hasher.update(b" dir\n");
            let mut children: Vec<_> =
                std::fs::read_dir(&path)?.map(|entry| entry.map(|e| e.file_name())).collect::<Result<_, _>>()?;
            // Popped in name order.
            children.sort();
            for child in children.into_iter().rev() {
                let child_name = format!("{name}/{}", child.to_string_lossy());
                pending.push((path.join(&child), child_name));
            }
        } else if kind.is_symlink() {
            hasher.update(format!(" link {:?}\n", std::fs::read_link(&path)?).as_bytes());
        } else if kind.is_file() {
            let mut file = std::fs::File::open(&path)?;
            let mut content = Sha256::new();
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                content.update(&buffer[..read]);
            }
            hasher.update(format!(" file {} ", meta.len()).as_bytes());
            hasher.update(content.finalize());
            hasher.update(b"\n");
        } else if kind.is_char_device() || kind.is_block_device() {
            hasher.update(format!(" device {}\n", meta.rdev()).as_bytes());
        } else {
            hasher.update(b" other\n");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::literal_prefix;

    #[test]
    fn a_wildcard_keys_the_directory_it_matches_in() {
        assert_eq!(literal_prefix("/out/app"), "/out/app");
        assert_eq!(literal_prefix("/out/*.txt"), "/out");
        assert_eq!(literal_prefix("o*"), "/");
        assert_eq!(literal_prefix("/src/[ab]/x"), "/src");
    }
}

//! What `build` and `solve` share: opening the state root, parsing `-o` and `--secret`,
//! running the solver on a tokio runtime with Ctrl-C cancelling, and exporting the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gb_ir::Definition;
use gb_solver::{SolveOptions, Solver, StateRoot};

use crate::cli::RunOptions;
use crate::exit::Failure;

/// Where a result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// The root file system into a directory.
    Local(PathBuf),
    /// The root file system as a tar file (`-` for standard output).
    Tar(PathBuf),
}

/// Parses `-o type=local,dest=DIR` and `-o type=tar,dest=FILE` (a bare path means local).
pub fn parse_outputs(outputs: &[String]) -> Result<Vec<Export>, Failure> {
    outputs
        .iter()
        .map(|spec| {
            let fields: BTreeMap<&str, &str> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
            if fields.is_empty() {
                return Ok(Export::Local(PathBuf::from(spec)));
            }
            let dest = fields
                .get("dest")
                .map(PathBuf::from)
                .ok_or_else(|| Failure::Input(format!("-o {spec}: dest=PATH is missing")))?;
            match fields.get("type").copied() {
                Some("local") => Ok(Export::Local(dest)),
                Some("tar") => Ok(Export::Tar(dest)),
                Some(other) => {
                    Err(Failure::Input(format!("-o {spec}: output type {other:?} is not supported (local or tar)")))
                }
                None => Err(Failure::Input(format!("-o {spec}: type=local or type=tar is missing"))),
            }
        })
        .collect()
}

/// Parses `--secret id=ID,src=PATH` (also `source=`, and `env=` is not supported here).
pub fn parse_secrets(secrets: &[String]) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let mut map = BTreeMap::new();
    for spec in secrets {
        let fields: BTreeMap<&str, &str> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
        let id = fields.get("id").ok_or_else(|| Failure::Input(format!("--secret {spec}: id=ID is missing")))?;
        let src = fields
            .get("src")
            .or_else(|| fields.get("source"))
            .ok_or_else(|| Failure::Input(format!("--secret {spec}: src=PATH is missing")))?;
        if !Path::new(src).is_file() {
            return Err(Failure::Input(format!("--secret {spec}: {src} is not a file")));
        }
        map.insert((*id).to_owned(), PathBuf::from(src));
    }
    Ok(map)
}

/// Opens the state root named by `--root` (or the default).
pub fn open_root(root: Option<&Path>) -> Result<Arc<StateRoot>, Failure> {
    let path = root.map_or_else(StateRoot::default_path, Path::to_path_buf);
    StateRoot::open(&path).map(Arc::new).map_err(|error| Failure::Solve { error: Box::new(error), dockerfile: None })
}

/// Solves a definition and exports its output.
pub fn solve_and_export(
    root: Arc<StateRoot>,
    definition: &Definition,
    run: &RunOptions,
    local_dirs: BTreeMap<String, PathBuf>,
    dockerfile: Option<(String, String)>,
) -> Result<gb_solver::SolveResult, Failure> {
    let exports = parse_outputs(&run.outputs)?;
    let secrets = parse_secrets(&run.secrets)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(format!("starting the async runtime: {e}")))?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut options =
        SolveOptions { no_cache: run.no_cache, local_dirs, secrets, cancel: cancel.clone(), ..SolveOptions::default() };
    if let Some(max) = run.max_parallelism {
        options.max_parallelism = max.max(1);
    }
    let sink: Arc<dyn gb_events::EventSink> = Arc::from(crate::progress::sink(run.progress));
    let solver = Solver::new(root.clone());
    let result = runtime.block_on(async {
        let on_ctrl_c = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            })
        };
        let result = solver.solve(definition, &options, sink).await;
        on_ctrl_c.abort();
        result
    });
    let result = result.map_err(|error| Failure::Solve { error: Box::new(error), dockerfile })?;
    for export in exports {
        match export {
            Export::Local(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| Failure::Io(format!("creating {}: {e}", dir.display())))?;
                root.snapshots
                    .export_dir(&result.output, &dir)
                    .map_err(|e| Failure::Io(format!("exporting to {}: {e}", dir.display())))?;
            }
            Export::Tar(file) => {
                let export = |writer: &mut dyn std::io::Write| root.snapshots.export_tar(&result.output, writer);
                if file == Path::new("-") {
                    export(&mut std::io::stdout().lock())
                        .map_err(|e| Failure::Io(format!("exporting to standard output: {e}")))?;
                } else if !tar_is_current(&file, &result.output) {
                    // Written beside the destination and renamed, so a reader never sees half a tar.
                    let partial = file.with_extension("partial");
                    let mut out = std::fs::File::create(&partial)
                        .map_err(|e| Failure::Io(format!("creating {}: {e}", partial.display())))?;
                    export(&mut out).map_err(|e| Failure::Io(format!("exporting to {}: {e}", file.display())))?;
                    drop(out);
                    std::fs::rename(&partial, &file).map_err(|e| {
                        Failure::Io(format!("renaming {} to {}: {e}", partial.display(), file.display()))
                    })?;
                    mark_tar(&file, &result.output);
                }
            }
        }
    }
    Ok(result)
}

/// The extended attribute that records which snapshot a tar output holds.
const OUTPUT_XATTR: &str = "user.graphbuild.snapshot";

/// What identifies a tar output: the snapshot's layers plus the file's size and mtime, so a
/// file changed by anyone else is rewritten.
fn tar_identity(file: &Path, snapshot: &gb_cache::Snapshot) -> Option<String> {
    use sha2::Digest as _;
    let meta = std::fs::metadata(file).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let layers: Vec<&str> = snapshot.layers.iter().map(|l| l.as_str()).collect();
    let digest = sha2::Sha256::digest(layers.join(",").as_bytes());
    Some(format!("{}:{}:{modified}", hex::encode(digest), meta.len()))
}

/// True when `file` already holds exactly this snapshot: the unchanged result of a no-op
/// rebuild is not written again (BuildKit rewrites it every time).
fn tar_is_current(file: &Path, snapshot: &gb_cache::Snapshot) -> bool {
    let Some(expected) = tar_identity(file, snapshot) else { return false };
    matches!(xattr::get(file, OUTPUT_XATTR), Ok(Some(value)) if value == expected.as_bytes())
}

/// Records which snapshot a freshly written tar holds; file systems without user xattrs just
/// get the tar rewritten every time.
fn mark_tar(file: &Path, snapshot: &gb_cache::Snapshot) {
    if let Some(identity) = tar_identity(file, snapshot) {
        let _ = xattr::set(file, OUTPUT_XATTR, identity.as_bytes());
    }
}

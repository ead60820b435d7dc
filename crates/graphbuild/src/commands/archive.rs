//! `graphbuild save` and `graphbuild load`: images to and from docker-archive and OCI archives,
//! files or (as docker) standard output and standard input.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gb_store::StateRoot;

use crate::cli::{LoadArgs, SaveArgs};
use crate::exit::Failure;
use crate::stdout::outln;

/// A file in the state root's scratch space, removed when dropped: where an archive bound for
/// standard output is written, or one read from standard input is kept, since archives are
/// written and read by path.
pub struct ScratchFile {
    path: PathBuf,
}

impl ScratchFile {
    /// A new name under `ROOT/tmp` (which the server wipes at start, should it die first).
    pub fn new(root: &StateRoot, what: &str) -> Result<Self, Failure> {
        Ok(Self { path: root.new_tmp_file(what)? })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the file to standard output.
    pub fn to_stdout(&self) -> Result<(), Failure> {
        let mut file =
            std::fs::File::open(&self.path).map_err(Failure::os(format!("reading {}", self.path.display())))?;
        crate::stdout::copy(&mut file)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A path the user gave, `None` when it means standard input or output (absent or `-`).
fn file_path(path: Option<&Path>) -> Option<&Path> {
    path.filter(|path| *path != Path::new("-"))
}

/// `graphbuild save`.
pub fn save(args: SaveArgs, root: &Arc<StateRoot>) -> Result<(), Failure> {
    let format = match args.format.as_str() {
        "docker" | "docker-archive" => gb_engine::ArchiveFormat::Docker,
        "oci" | "oci-archive" => gb_engine::ArchiveFormat::Oci,
        other => return Err(Failure::Input(format!("--format {other}: expected docker or oci"))),
    };
    let engine = gb_engine::Engine::new(root.clone());
    let save = |dest: &Path| engine.save(&args.names, dest, format).map_err(|e| super::engine::engine_failure(e, None));
    match file_path(args.output.as_deref()) {
        Some(output) => save(output),
        None => {
            if crate::session::current().stdout_is_terminal() {
                return Err(Failure::Input(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".to_owned(),
                ));
            }
            let scratch = ScratchFile::new(root, "save")?;
            save(scratch.path())?;
            scratch.to_stdout()
        }
    }
}

/// `graphbuild load`.
pub fn load(args: LoadArgs, root: &Arc<StateRoot>) -> Result<(), Failure> {
    let scratch;
    let input = match file_path(args.input.as_deref()) {
        Some(input) if !input.exists() => {
            return Err(Failure::Input(format!("{} does not exist", input.display())));
        }
        Some(input) => input.to_owned(),
        None => {
            let session = crate::session::current();
            if args.input.is_none() && session.stdin_is_terminal() {
                return Err(Failure::Input("requested load from stdin, but stdin is empty".to_owned()));
            }
            scratch = ScratchFile::new(root, "load")?;
            let mut file = std::fs::File::create(scratch.path())
                .map_err(Failure::os(format!("writing {}", scratch.path().display())))?;
            std::io::copy(&mut session.stdin(), &mut file).map_err(Failure::os("reading standard input"))?;
            scratch.path().to_owned()
        }
    };
    let engine = gb_engine::Engine::new(root.clone());
    let loaded = engine.load(&input).map_err(|e| super::engine::engine_failure(e, None))?;
    for image in loaded {
        if image.names.is_empty() {
            outln!("Loaded image ID: {}", image.id);
        }
        for name in &image.names {
            outln!("Loaded image: {}", name.familiar());
        }
    }
    Ok(())
}

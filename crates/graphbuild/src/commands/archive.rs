//! `graphbuild save` and `graphbuild load`: images to and from docker-archive and OCI archives.

use std::sync::Arc;

use gb_store::StateRoot;

use crate::cli::{LoadArgs, SaveArgs};
use crate::exit::Failure;
use crate::stdout::outln;

/// `graphbuild save`.
pub fn save(args: SaveArgs, root: &Arc<StateRoot>) -> Result<(), Failure> {
    let format = match args.format.as_str() {
        "docker" | "docker-archive" => gb_engine::ArchiveFormat::Docker,
        "oci" | "oci-archive" => gb_engine::ArchiveFormat::Oci,
        other => return Err(Failure::Input(format!("--format {other}: expected docker or oci"))),
    };
    let engine = gb_engine::Engine::new(root.clone());
    engine.save(&args.names, &args.output, format).map_err(|e| super::engine::engine_failure(e, None))
}

/// `graphbuild load`.
pub fn load(args: LoadArgs, root: &Arc<StateRoot>) -> Result<(), Failure> {
    if !args.input.exists() {
        return Err(Failure::Input(format!("{} does not exist", args.input.display())));
    }
    let engine = gb_engine::Engine::new(root.clone());
    let loaded = engine.load(&args.input).map_err(|e| super::engine::engine_failure(e, None))?;
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

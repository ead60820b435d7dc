//! `graphbuild import`: a root file system tarball becomes a one-layer image in the store.

use gb_ir::Platform;

use crate::cli::ImportArgs;
use crate::exit::Failure;
use crate::stdout::outln;

/// Imports and prints the image's manifest digest.
pub fn run(args: ImportArgs, root: Option<&std::path::Path>) -> Result<(), Failure> {
    let platform = match &args.platform {
        Some(text) => Platform::parse(text).ok_or_else(|| Failure::Input(format!("invalid --platform {text:?}")))?,
        None => Platform::host(),
    };
    if !args.tarball.is_file() {
        return Err(Failure::Input(format!("{} is not a file", args.tarball.display())));
    }
    let state = super::engine::open_root(root)?;
    let _building = state.building();
    let record = gb_store::import_rootfs(&state, &args.tarball, &args.name, &platform)?;
    outln!("{} {}", record.reference, record.manifest_digest);
    Ok(())
}

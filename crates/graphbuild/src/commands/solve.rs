//! `graphbuild solve`: run a Definition that any front end printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cli::SolveArgs;
use crate::exit::Failure;

/// Solves.
pub fn run(args: SolveArgs, root: Option<&std::path::Path>, insecure: &[String]) -> Result<(), Failure> {
    let text = super::read_dockerfile(&args.file)?;
    let definition =
        gb_ir::Definition::from_json(&text).map_err(|e| Failure::Input(format!("{}: {e}", args.file.display())))?;
    let mut locals = BTreeMap::new();
    for local in &args.locals {
        let (name, dir) =
            local.split_once('=').ok_or_else(|| Failure::Input(format!("--local {local}: expected NAME=DIR")))?;
        locals.insert(name.to_owned(), PathBuf::from(dir));
    }
    let state = super::engine::open_root(root)?;
    let image = super::engine::ImageOptions::default();
    super::engine::solve_and_export(state, &definition, &args.run, locals, None, image, insecure)?;
    Ok(())
}

//! `graphbuild build`: lower a Dockerfile with base image configs from the local store, solve
//! it, export the result, and name it in the image store.

use std::collections::BTreeMap;

use gb_dockerfile::{ImageResolver, ResolvedImage};
use gb_ir::{ImageReference, Platform};
use gb_solver::StateRoot;

use crate::cli::BuildArgs;
use crate::exit::Failure;
use crate::report;

/// Base images from the local store.
struct StoreImages<'a>(&'a StateRoot);

impl ImageResolver for StoreImages<'_> {
    fn resolve(&self, reference: &ImageReference, _: &Platform) -> Option<ResolvedImage> {
        let record = self.0.db.image(&reference.to_string()).ok().flatten()?;
        Some(ResolvedImage {
            manifest: Some(record.manifest_digest),
            config: gb_solver::image::ir_config(&record.config),
        })
    }
}

/// Builds.
pub fn run(args: BuildArgs, root: Option<&std::path::Path>) -> Result<(), Failure> {
    let prepared = super::lower::prepare(
        &args.context,
        args.file.as_deref(),
        args.target.as_deref(),
        &args.build_args,
        args.platform.as_deref(),
    )?;
    let state = super::engine::open_root(root)?;
    let lowered = gb_dockerfile::lower(&prepared.text, &prepared.options, &StoreImages(&state))
        .map_err(|e| prepared.failure(e))?;
    for warning in &lowered.warnings {
        report::print_warning(&prepared.file, warning);
    }
    let mut locals = BTreeMap::new();
    locals.insert("context".to_owned(), args.context.clone());
    super::engine::solve_and_export(
        state,
        &lowered.definition,
        &args.run,
        locals,
        Some((prepared.file, prepared.text)),
        &args.tags,
    )?;
    Ok(())
}

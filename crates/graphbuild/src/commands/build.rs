//! `graphbuild build`: lower a Dockerfile with base image configs from the local store, solve
//! it, export the result, and name it in the image store.

use std::collections::BTreeMap;

use gb_dockerfile::{ImageResolver, ResolvedImage};
use gb_ir::{ImageReference, Platform};
use gb_solver::StateRoot;

use crate::cli::BuildArgs;
use crate::exit::Failure;
use crate::report;

/// Base images from the local store, pulled from their registry when missing (or always, to
/// re-resolve tags, with `--pull`).
struct StoreImages<'a> {
    root: &'a StateRoot,
    insecure: &'a [String],
    always_pull: bool,
}

impl ImageResolver for StoreImages<'_> {
    fn resolve(&self, reference: &ImageReference, platform: &Platform) -> Option<ResolvedImage> {
        let stored = self.root.db.image(&reference.to_string()).ok().flatten();
        if let Some(record) = &stored
            && !self.always_pull
        {
            return Some(ResolvedImage {
                manifest: Some(record.manifest_digest),
                config: gb_solver::image::ir_config(&record.config),
            });
        }
        // Only the manifest and config are fetched now; layers are pulled when an op that must
        // run reads them (a cached build pulls none).
        let resolved = super::registry::registry_config(self.root.path(), self.insecure)
            .and_then(|config| super::registry::resolve_remote(config, reference, platform));
        match resolved {
            Ok((manifest, config)) => {
                Some(ResolvedImage { manifest: Some(manifest), config: gb_solver::image::ir_config(&config) })
            }
            Err(err) => {
                eprintln!("warning: resolving {}: {err}", reference.familiar());
                stored.map(|record| ResolvedImage {
                    manifest: Some(record.manifest_digest),
                    config: gb_solver::image::ir_config(&record.config),
                })
            }
        }
    }
}

/// Builds.
pub fn run(args: BuildArgs, root: Option<&std::path::Path>, insecure: &[String]) -> Result<(), Failure> {
    if args.push && args.tags.is_empty() {
        return Err(Failure::Input("--push needs at least one -t NAME".to_owned()));
    }
    let prepared = super::lower::prepare(&args.context, &args.dockerfile)?;
    let state = super::engine::open_root(root)?;
    let lowered = gb_dockerfile::lower(
        &prepared.text,
        &prepared.options,
        &StoreImages { root: &state, insecure, always_pull: args.pull },
    )
    .map_err(|e| prepared.failure(e))?;
    for warning in &lowered.warnings {
        report::print_warning(&prepared.file, warning);
    }
    let mut locals = BTreeMap::new();
    locals.insert("context".to_owned(), args.context.clone());
    super::engine::solve_and_export(
        state.clone(),
        &lowered.definition,
        &args.run,
        locals,
        Some((prepared.file, prepared.text)),
        &args.tags,
        insecure,
    )?;
    if args.push {
        for tag in &args.tags {
            super::registry::push_image(&state, insecure, tag)?;
        }
    }
    Ok(())
}

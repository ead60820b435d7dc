//! `graphbuild build`: lower a Dockerfile with base image configs from the local store, solve
//! it, export the result, and name it in the image store.

use std::collections::BTreeMap;

use gb_dockerfile::{ImageResolver, ResolveError, ResolvedImage};
use gb_ir::{ImageReference, Platform};
use gb_solver::StateRoot;

use crate::cli::BuildArgs;
use crate::exit::Failure;
use crate::report;

/// Base images from the local store, pulled from their registry when missing (or always, to
/// re-resolve tags, with `--pull`). A registry that cannot be asked fails the build at its
/// `FROM` with its reason, unless the store has the image (then a warning).
struct StoreImages<'a> {
    root: &'a StateRoot,
    insecure: &'a [String],
    always_pull: bool,
}

impl ImageResolver for StoreImages<'_> {
    fn resolve(&self, reference: &ImageReference, platform: &Platform) -> Result<Option<ResolvedImage>, ResolveError> {
        let stored = self.root.db.image(&reference.to_string()).ok().flatten();
        let from_store = |record: &gb_cache::ImageRecord| ResolvedImage {
            manifest: Some(record.manifest_digest),
            config: gb_solver::image::ir_config(&record.config),
        };
        if let Some(record) = &stored
            && !self.always_pull
        {
            return Ok(Some(from_store(record)));
        }
        // Only the manifest and config are fetched now; layers are pulled when an op that must
        // run reads them (a cached build pulls none).
        let resolved = super::registry::registry_config(self.root.path(), self.insecure)
            .and_then(|config| super::registry::resolve_remote(config, reference, platform));
        match resolved {
            Ok(super::registry::Remote::Found(manifest, config)) => {
                Ok(Some(ResolvedImage { manifest: Some(manifest), config: gb_solver::image::ir_config(&config) }))
            }
            // The registry has the reference but not for this platform: an error, and never a
            // fall-back to a stored image, which could be for any platform.
            Ok(super::registry::Remote::NoSuchPlatform(message)) => Err(ResolveError { message, environment: false }),
            Err(err) => match stored {
                Some(record) => {
                    crate::session::errln!(
                        "warning: resolving {}: {err}; using the stored image",
                        reference.familiar()
                    );
                    Ok(Some(from_store(&record)))
                }
                None => Err(ResolveError {
                    message: format!(
                        "{err}; nor is it in the local store (make one with `graphbuild import ROOTFS.tar NAME`)"
                    ),
                    environment: err.exit_code() == crate::exit::ENVIRONMENT,
                }),
            },
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
    let images = StoreImages { root: &state, insecure, always_pull: args.pull };
    let lowered = gb_dockerfile::lower(&prepared.text, &prepared.options, &images).map_err(|e| prepared.failure(e))?;
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

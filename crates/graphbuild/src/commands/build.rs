//! `graphbuild build`: lower a Dockerfile with base image configs from the local store, solve
//! it, export the result, and name it in the image store.

use std::collections::BTreeMap;

use gb_dockerfile::{ImageResolver, ResolveError, ResolvedImage};
use gb_ir::{ImageReference, Platform};

use crate::cli::BuildArgs;
use crate::exit::Failure;
use crate::report;

/// The front end's view of the engine's image resolution (`Engine::resolve_image`): the local
/// store, else the image's registry (or always the registry, with `--pull`). A registry that
/// cannot be asked fails the build at its `FROM` with its reason, unless the store has the
/// image (then a warning).
struct EngineImages<'a> {
    engine: gb_engine::Engine,
    registry: gb_registry::RegistryConfig,
    always_pull: bool,
    runtime: &'a tokio::runtime::Runtime,
}

impl ImageResolver for EngineImages<'_> {
    fn resolve(&self, reference: &ImageReference, platform: &Platform) -> Result<Option<ResolvedImage>, ResolveError> {
        let resolution =
            self.runtime.block_on(self.engine.resolve_image(reference, platform, &self.registry, self.always_pull));
        let image = match resolution {
            Ok(gb_engine::Resolution::Found(image)) => image,
            Ok(gb_engine::Resolution::Stored(image, why)) => {
                crate::session::errln!("warning: resolving {}: {why}; using the stored image", reference.familiar());
                image
            }
            Err(error) => {
                let environment = error.kind() == gb_engine::ErrorKind::Environment;
                let message = match error {
                    gb_engine::EngineError::Registry(ref inner)
                        if matches!(**inner, gb_registry::RegistryError::NoMatchingPlatform { .. }) =>
                    {
                        error.to_string()
                    }
                    error => format!(
                        "{error}; nor is it in the local store (make one with `graphbuild import ROOTFS.tar NAME`)"
                    ),
                };
                return Err(ResolveError { message, environment });
            }
        };
        Ok(Some(ResolvedImage { manifest: Some(image.manifest), config: image.config }))
    }
}

/// Builds.
pub fn run(args: BuildArgs, root: Option<&std::path::Path>, insecure: &[String]) -> Result<(), Failure> {
    if args.push && args.tags.is_empty() {
        return Err(Failure::Input("--push needs at least one -t NAME".to_owned()));
    }
    let prepared = super::lower::prepare(&args.context, &args.dockerfile)?;
    let state = super::engine::open_root(root)?;
    let runtime = crate::session::shared_runtime().map_err(Failure::os("starting the async runtime"))?;
    let images = EngineImages {
        engine: gb_engine::Engine::new(state.clone()),
        registry: super::registry::registry_config(state.path(), insecure)?,
        always_pull: args.pull,
        runtime,
    };
    let lowered = gb_dockerfile::lower(&prepared.text, &prepared.options, &images).map_err(|e| prepared.failure(e))?;
    drop(images);
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

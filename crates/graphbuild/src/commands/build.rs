//! `graphbuild build`: lower a Dockerfile with base image configs from the local store, solve
//! it, export the result, and name it in the image store.

use std::collections::BTreeMap;

use gb_dockerfile::{ImageResolver, LowerOptions, ResolvedImage};
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
    let dockerfile = args.file.clone().unwrap_or_else(|| args.context.join("Dockerfile"));
    if !args.context.is_dir() {
        return Err(Failure::Input(format!("the build context {} is not a directory", args.context.display())));
    }
    let text = super::read_dockerfile(&dockerfile)?;
    let file = dockerfile.display().to_string();
    let as_failure = |error| Failure::dockerfile(error, &file, &text);
    let context_excludes = gb_dockerfile::dockerignore::load(&args.context, &dockerfile).map_err(as_failure)?;
    let options = LowerOptions {
        dockerfile_name: dockerfile.file_name().map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned()),
        target: args.target.clone(),
        build_args: super::lower::parse_build_args(&args.build_args)?,
        target_platform: args
            .platform
            .as_deref()
            .map(|p| {
                Platform::parse(p)
                    .ok_or_else(|| Failure::Input(format!("invalid --platform {p:?}: expected os/arch[/variant]")))
            })
            .transpose()?,
        build_platform: None,
        context_excludes,
    };
    if !args.tags.is_empty() {
        return Err(Failure::Input("naming images with -t needs the image store, which is not built yet; use -o to export the root file system".to_owned()));
    }
    let state = super::engine::open_root(root)?;
    let lowered = gb_dockerfile::lower(&text, &options, &StoreImages(&state)).map_err(as_failure)?;
    for warning in &lowered.warnings {
        report::print_warning(&file, warning);
    }
    let mut locals = BTreeMap::new();
    locals.insert("context".to_owned(), args.context.clone());
    super::engine::solve_and_export(state, &lowered.definition, &args.run, locals, Some((file, text)))?;
    Ok(())
}

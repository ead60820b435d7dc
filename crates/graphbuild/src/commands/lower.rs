//! `graphbuild lower`: print the Definition a Dockerfile lowers to.

use std::collections::BTreeMap;

use gb_dockerfile::{LowerOptions, NoImages};
use gb_ir::Platform;

use crate::cli::{GraphFormat, LowerArgs};
use crate::exit::Failure;
use crate::report;

/// Lowers and prints.
pub fn run(args: LowerArgs) -> Result<(), Failure> {
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
        build_args: parse_build_args(&args.build_args)?,
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
    let lowered = gb_dockerfile::lower(&text, &options, &NoImages).map_err(as_failure)?;
    for warning in &lowered.warnings {
        report::print_warning(&file, warning);
    }
    match args.format {
        GraphFormat::Json => print!("{}", lowered.definition.to_json()),
        GraphFormat::Dot => print!("{}", gb_ir::to_dot(&lowered.definition)),
    }
    Ok(())
}

/// Parses `--build-arg` values; a bare `KEY` takes its value from the environment, as Docker.
pub fn parse_build_args(args: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut map = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some(("", _)) => return Err(Failure::Input(format!("invalid --build-arg {arg:?}: the name is empty"))),
            Some((key, value)) => {
                map.insert(key.to_owned(), value.to_owned());
            }
            None => {
                if let Ok(value) = std::env::var(arg) {
                    map.insert(arg.clone(), value);
                }
            }
        }
    }
    Ok(map)
}

//! `check`: the build checks of every stage without building anything, as BuildKit's lint
//! request (`docker build --check`) runs them.

use super::{ImageResolver, LowerOptions, Lowerer, Warning};
use crate::error::DockerfileError;
use crate::lint::config::{self as lint_config, CheckConfig};
use crate::parser;

/// What `check` found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The rules' findings (graphbuild's own notices are left out), in the order they were
    /// found.
    pub warnings: Vec<Warning>,
    /// The check configuration; with `error: true` and any warning, the check fails
    /// ([`CheckConfig::violation`]).
    pub check: CheckConfig,
}

/// What `check_report` found: the findings made before an error as well, as BuildKit's lint
/// result carries both.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The rules' findings, up to the error if there is one.
    pub warnings: Vec<Warning>,
    /// The check configuration (the default when it could not be read).
    pub check: CheckConfig,
    /// Why the Dockerfile does not parse or lower, if it does not.
    pub error: Option<DockerfileError>,
}

/// Runs the build checks on every stage, or on the target and the stages it needs when
/// `options.target` names one, and builds nothing. A Dockerfile that does not parse or lower
/// fails with its error.
pub fn check(source: &str, options: &LowerOptions, images: &dyn ImageResolver) -> Result<Checked, DockerfileError> {
    let report = check_report(source, options, images);
    match report.error {
        Some(error) => Err(error),
        None => Ok(Checked { warnings: report.warnings, check: report.check }),
    }
}

/// [`check`], keeping the findings made before an error.
pub fn check_report(source: &str, options: &LowerOptions, images: &dyn ImageResolver) -> CheckReport {
    let failed = |error| CheckReport { warnings: Vec::new(), check: CheckConfig::default(), error: Some(error) };
    let ast = match parser::parse(source) {
        Ok(ast) => ast,
        Err(err) => return failed(crate::parse_error(source, &err)),
    };
    let config = match lint_config::for_build(source, ast.directives.check.as_deref(), &options.build_args) {
        Ok(config) => config,
        Err(error) => return failed(error),
    };
    let mut lowerer = Lowerer::new(source, options, images, ast.directives.escape, config.clone());
    let result = lowerer.prepare(&ast).and_then(|target| {
        // As BuildKit's lint request: no target means every stage.
        let roots: Vec<usize> =
            if options.target.is_some() { vec![target] } else { (0..lowerer.stages.len()).collect() };
        lowerer.lower_stages(&roots)
    });
    CheckReport { warnings: lowerer.rule_warnings(), check: config, error: result.err() }
}

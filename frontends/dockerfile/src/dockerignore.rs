//! Finding and reading the `.dockerignore` that applies to a build.

use std::path::{Path, PathBuf};

use crate::error::{DockerfileError, ErrorKind};

/// The ignore file for a build: `<Dockerfile>.dockerignore` beside the Dockerfile wins over
/// `.dockerignore` at the context root, as in BuildKit.
pub fn find(context: &Path, dockerfile: &Path) -> Option<PathBuf> {
    let specific = dockerfile.file_name().map(|name| {
        let mut name = name.to_os_string();
        name.push(".dockerignore");
        dockerfile.with_file_name(name)
    });
    specific.filter(|p| p.is_file()).or_else(|| Some(context.join(".dockerignore")).filter(|p| p.is_file()))
}

/// Reads the build's ignore patterns, or none when there is no ignore file.
pub fn load(context: &Path, dockerfile: &Path) -> Result<Vec<String>, DockerfileError> {
    let Some(path) = find(context, dockerfile) else { return Ok(Vec::new()) };
    let text = std::fs::read_to_string(&path)
        .map_err(|err| DockerfileError::whole_file(ErrorKind::Io, format!("reading {}: {err}", path.display())))?;
    gb_patterns::parse_dockerignore(&text)
        .map_err(|err| DockerfileError::whole_file(ErrorKind::Syntax, format!("{}: {err}", path.display())))
}

//! One module per subcommand.

pub mod archive;
pub mod build;
pub mod builds;
pub mod containers;
pub mod debug;
pub mod engine;
pub mod images;
pub mod import;
pub mod lower;
pub mod platforms;
pub mod registry;
pub mod report;
pub mod run;
pub mod solve;

use std::io::Read as _;
use std::path::Path;

use crate::exit::Failure;

/// Reads a Dockerfile (or standard input for `-`) as text; invalid UTF-8 is replaced, so the
/// parser reports a position rather than the reader failing.
pub fn read_dockerfile(path: &Path) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        crate::session::current().stdin().read_to_end(&mut bytes).map_err(Failure::os("reading standard input"))?;
    } else {
        bytes = std::fs::read(path).map_err(|err| {
            let reading = format!("reading {}", path.display());
            if err.kind() == std::io::ErrorKind::NotFound {
                Failure::Input(format!("{reading}: {err}"))
            } else {
                Failure::os(reading)(err)
            }
        })?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

//! `graphbuild run`: a container from a stored image.

use crate::cli::RunArgs;
use crate::exit::Failure;

/// Runs the container.
pub fn run(args: RunArgs, root: Option<&std::path::Path>) -> Result<(), Failure> {
    let _ = (args, root);
    Err(Failure::Input("graphbuild run is being written".to_owned()))
}

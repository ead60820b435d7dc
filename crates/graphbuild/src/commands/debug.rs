//! `graphbuild debug parse`: the parser's view of a Dockerfile.

use crate::cli::{DumpFormat, ParseArgs};
use crate::exit::Failure;
use crate::stdout::out;

/// Parses the file and prints the dump.
pub fn parse(args: ParseArgs) -> Result<(), Failure> {
    let text = super::read_dockerfile(&args.file)?;
    let file = args.file.display().to_string();
    let ast = gb_dockerfile::parser::parse(&text).map_err(|err| {
        let error = gb_dockerfile::DockerfileError::at(
            gb_dockerfile::ErrorKind::Syntax,
            &text,
            err.offset,
            err.len,
            err.message.clone(),
        );
        Failure::dockerfile(error, &file, &text)
    })?;
    match args.dump {
        DumpFormat::Buildkit => out!("{}", ast.dump()),
    }
    Ok(())
}

//! The Dockerfile front end: turns a Dockerfile and its context into a build graph Definition.
//!
//! The pipeline is parse ([`parser`]) → type and check instructions ([`instructions`]) →
//! lower stages to ops ([`lower`]), with BuildKit's build checks ([`lint`]) reported along the
//! way. This crate knows the IR (`gb-ir`) and nothing of how the graph is solved.

pub mod dockerignore;
pub mod error;
pub mod instructions;
pub mod lint;
pub mod lower;
pub mod parser;

pub use error::{DockerfileError, ErrorKind};
pub use lint::config::{CHECK_BUILD_ARG, CheckConfig, CheckOptionError};
pub use lint::rule::CheckRule;
pub use lower::{
    CheckReport, Checked, ImageResolver, LowerOptions, Lowered, MAIN_CONTEXT, NamedContext, NoImages, RemoteSource,
    ResolveError, ResolvedImage, SOURCE_DATE_EPOCH, Warning, check, check_report, lower, named_context_key,
};

/// Turns a parser error into a front-end error pointing at its place.
pub(crate) fn parse_error(source: &str, err: &parser::ParseError) -> DockerfileError {
    DockerfileError::at(ErrorKind::Syntax, source, err.offset, err.len, err.message.clone())
}

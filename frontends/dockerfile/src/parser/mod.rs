//! The Dockerfile parser: lexing, directives, continuations, heredocs, per-instruction argument shapes.
//!
//! `parse` turns source text into an [`Ast`] that matches BuildKit's parser (`moby/buildkit`,
//! `frontend/dockerfile/parser`) node for node: [`Ast::dump`] reproduces BuildKit's
//! `Node.Dump()` byte for byte on its golden corpus. Nothing here interprets arguments
//! (quotes, variables, flag values); that is the dispatcher's job, as in BuildKit.
//!
//! Layout: `driver` runs the line loop; `lines` reads physical lines and maps joined text
//! back to source offsets; `directives` reads `# escape=` and friends; `command` splits
//! keyword and flags; `instruction` dispatches to the argument shapes in `args` (with
//! `json` for exec form); `heredoc` and `shlex` find heredoc markers; `dump` and `quote`
//! render BuildKit's dump format.

mod args;
mod ast;
mod command;
mod directives;
mod driver;
mod dump;
mod error;
mod heredoc;
mod instruction;
mod json;
mod lines;
mod quote;
mod shlex;
#[cfg(test)]
mod tests;

pub use ast::{Ast, Directives, Heredoc, Location, Node, Warning};
pub(crate) use directives::comment_directive;
pub use driver::parse;
pub use error::ParseError;

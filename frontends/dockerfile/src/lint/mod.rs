//! Build checks: BuildKit's Dockerfile lint rules, their configuration, and the checks that
//! need only the parse tree. The checks that need lowering facts (variables, stages, the
//! `.dockerignore`) run from `lower`, where BuildKit's converter runs them.

pub mod config;
pub(crate) mod message;
pub mod rule;
pub(crate) mod syntax;
pub(crate) mod words;

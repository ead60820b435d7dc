//! Integration tests for gb-ops, one module per area, in one binary to keep link times down.

mod actions;
mod copy;
mod filters;
mod metadata;
mod paths;
mod support;
mod unpack;
mod user;

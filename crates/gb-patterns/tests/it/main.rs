//! Integration tests for gb-patterns, one module per area (a single test binary keeps link times down).

mod dockerignore;
mod docs;
mod moby;
mod props;
mod semantics;
mod support;
mod walker;

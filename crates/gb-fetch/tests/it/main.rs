//! Integration tests for gb-fetch, one module per area, in one binary to keep link times down.
//! Nothing leaves the machine: http tests talk to a server on 127.0.0.1, git tests to
//! repositories made in temporary directories.

mod git;
mod http;
mod support;

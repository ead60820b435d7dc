//! Sharing the build cache between machines.

//! Integration tests for gb-snapshot, one module per area (one test binary keeps link times
//! down). They mount overlayfs, so they run as root.

mod checksum;
mod export;
mod import;
mod mounts;
mod support;

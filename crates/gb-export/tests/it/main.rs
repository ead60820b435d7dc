//! Integration tests for gb-export, one module per area (one test binary keeps link times
//! down). They build layers through overlay mounts, so they run as root; the checks with
//! skopeo and umoci are skipped (with a message) where those tools are not installed.

mod assemble;
mod blobs;
mod load;
mod support;
mod writers;

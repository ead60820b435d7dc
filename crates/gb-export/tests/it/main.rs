//! Integration tests for gb-export, one module per area (one test binary keeps link times
//! down). They build layers through overlay mounts, so they run as root; the checks with
//! skopeo and umoci fail with "install X" where those tools are missing.

mod assemble;
mod blobs;
mod load;
mod support;
mod writers;

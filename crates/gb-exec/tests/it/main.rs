//! Integration tests of gb-exec against the real runc and a busybox rootfs (one binary, as
//! STYLE.md asks, to keep link times down).

mod bench;
mod cancel;
mod isolation;
mod mounts;
mod network;
mod orphans;
mod process;
mod support;

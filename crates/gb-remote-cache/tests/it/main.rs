//! Integration tests for gb-remote-cache: a hand-made cache exported from one state root and
//! imported into a fresh one, through a layout directory and through a real registry (Debian's
//! `docker-registry`, installed with apt-get when missing). Layers hold owners and overlay
//! whiteouts, so the tests run as root.

mod local;
mod registry;
mod support;

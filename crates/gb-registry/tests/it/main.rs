//! Integration tests for gb-registry against a real registry (Debian's `docker-registry`,
//! installed with apt-get when missing), one module per area (one test binary keeps link times
//! down). Images are built with gb-export and put into the registry with skopeo; layers are
//! imported through overlay whiteouts and xattrs, so the tests run as root.

mod auth;
mod errors;
mod platforms;
mod pull;
mod push;
mod support;
mod transfer;

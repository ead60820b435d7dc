//! Remote sources: http(s) downloads with checksums (`ADD <url>`) and git checkouts (`ADD <git url>`).
//!
//! Both follow BuildKit's behaviour where it is visible in the result: the downloaded file's name,
//! mode and mtime, the commit a ref resolves to, what a `subdir` or `keep_git_dir` checkout holds.
//! Every message names the URL or remote with its credentials redacted.

mod error;
mod git;
mod http;
mod redact;

pub use error::{ErrorKind, FetchError};
pub use git::{fetch_git, resolve_git_ref};
pub use http::{Fetched, fetch_http};
pub use redact::redact_credentials;

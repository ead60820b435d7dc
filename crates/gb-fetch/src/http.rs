//! `ADD <url>`: one file downloaded over http(s), named, stamped and verified as BuildKit does.

mod date;
mod download;
mod filename;

pub use download::{Fetched, fetch_http};

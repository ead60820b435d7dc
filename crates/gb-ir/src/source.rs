//! Source ops: where file systems enter the graph (images, the local context, URLs, git, scratch).

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;

/// A file system brought in from outside the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceOp {
    /// A container image's root file system.
    Image(ImageSource),
    /// Files from a directory the client sends (the build context).
    Local(LocalSource),
    /// One file downloaded over http(s).
    Http(HttpSource),
    /// A git repository checkout.
    Git(GitSource),
    /// The empty file system.
    Scratch,
}

/// A container image, named by a normalized reference (`docker.io/library/busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSource {
    /// The fully qualified reference.
    pub reference: String,
    /// The manifest digest the reference resolved to, when the front end knew it. The solver
    /// resolves unpinned references itself and keys the cache on the resolved digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Sha256Digest>,
}

/// Files from a named local directory (the build context), filtered by Docker path patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSource {
    /// Which local directory: `context` for the build context.
    pub name: String,
    /// Only these paths (and what is below them) are read; empty means everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Docker path patterns (`.dockerignore` syntax, `!` exceptions) of paths never read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// One file fetched over http(s) and placed at the root of the op's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSource {
    /// The URL.
    pub url: String,
    /// The expected sha256 of the content; the fetch fails when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Sha256Digest>,
    /// The file name to write; by default the last path segment of the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// A git repository at a ref, checked out into the op's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitSource {
    /// The remote URL.
    pub remote: String,
    /// The branch, tag or commit; the remote's default branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Only this directory of the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdir: Option<String>,
    /// Keep the `.git` directory in the checkout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_git_dir: bool,
    /// The commit the ref must resolve to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

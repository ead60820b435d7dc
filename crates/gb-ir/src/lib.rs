//! The build graph: content-addressed ops, their digests, and the versioned Definition format.
//!
//! This crate is plain data. It does no IO and knows nothing about Dockerfiles or how ops run;
//! front ends (in any language) emit a [`Definition`] as JSON and the engine runs it. See
//! `docs/ir.md` at the repository root for the format.

mod canonical;
mod definition;
mod digest;
mod dot;
mod exec;
mod file;
mod image;
mod op;
mod reference;
mod source;

pub use canonical::canonical_json;
pub use definition::{Definition, DefinitionError, Location, OpEntry, OpMetadata, Output, SCHEMA_VERSION};
pub use digest::{DigestParseError, OpDigest, Sha256Digest};
pub use dot::{escape as dot_escape, to_dot};
pub use exec::{
    CacheSharing, DEFAULT_PATH, EnvValue, EnvVar, ExecMeta, ExecOp, Mount, MountKind, NetworkMode, Resource,
    SecurityMode, Ulimit,
};
pub use file::{Chown, CopyAction, FileAction, FileOp, IdOrName, MkdirAction, MkfileAction, RmAction};
pub use image::{Healthcheck, HistoryEntry, ImageConfig, ImageSpec};
pub use op::{DiffOp, Input, MergeOp, Op, OpNode, Platform};
pub use reference::{DEFAULT_REGISTRY, ImageReference, ReferenceError};
pub use source::{GitSource, HttpSource, ImageSource, LocalSource, SourceOp};

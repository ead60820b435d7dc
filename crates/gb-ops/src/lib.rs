//! File actions with Docker's COPY/ADD semantics applied to directories, and user lookup in a root file system.
//!
//! [`apply_file_op`] runs an IR file op (mkdir, mkfile, rm, copy) against a mounted, writable
//! root file system, reading copies from other mounted roots ([`CopySource`]). The rules are
//! BuildKit's (its file backend and fsutil's copier): where a source lands, wildcards, filters,
//! owners, modes, hard links, and `ADD`'s archive extraction. Every in-image path is resolved
//! with [`resolve_in_root`], so neither a `..` nor a symlink in an image, a context or an
//! archive can make an action read or write outside its root.
//!
//! [`resolve_user`] reads a root file system's `/etc/passwd` and `/etc/group` as runc does, for
//! the user a process runs as.

mod actions;
mod apply;
mod chmod;
mod copy;
mod error;
mod meta;
mod paths;
mod source;
mod unpack;
mod user;
mod wildcard;

pub use apply::{FileOpStats, apply_file_op};
pub use error::{ErrorKind, FileOpError};
pub use paths::resolve_in_root;
pub use source::CopySource;
pub use unpack::decompress_stream;
pub use user::{ResolvedUser, resolve_user};

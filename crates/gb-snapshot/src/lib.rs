//! Snapshots as stacks of overlayfs layer directories: mounts, tar import with whiteouts, export, and content checksums of file trees.
//!
//! A snapshot is a list of layers, bottom first (`gb_cache::Snapshot`); each layer is a
//! directory in overlayfs upper-dir format under `ROOT/layers/ID/`, where deletions are
//! whiteouts (character devices 0:0) and directories that replace a lower one carry
//! `trusted.overlay.opaque=y`. See `docs/engine.md` for the state root's layout.
//!
//! - [`SnapshotStore`] mounts snapshots (read-only, or writable into a [`WorkDir`]), commits
//!   work dirs as layers, imports OCI layer tars and exports trees, tars and layer diffs.
//! - [`checksum_tree`] computes the content key of selected files of a directory, with a
//!   persistent [`FileIndex`] so unchanged files are not read again.
//! - [`ConfinedDir`] acts on paths below a directory (a work dir's upper dir, an export
//!   destination) without ever following a symlink or `..` out of it.
//!
//! Mounting needs `CAP_SYS_ADMIN` and Linux 4.19 or later (for the overlay options that keep
//! layers self-contained); extracting devices and owners needs root.

mod checksum;
mod confined;
mod error;
mod export;
mod fsutil;
mod import;
mod mount;
mod mount_points;
mod store;
mod tar_writer;
mod tree_walk;
mod tree_writer;

pub use checksum::{ChecksumResult, FileIndex, checksum_tree, select_paths};
pub use confined::{ConfinedDir, EntryKind, Lookup};
pub use error::{ErrorKind, SnapshotError};
pub use export::{DiffTarOptions, tree_tar, upper_dir_diff_tar};
pub use gb_cache::{FileRecord, LayerId, Snapshot};
pub use import::Imported;
pub use mount::Mounted;
pub use mount_points::{created_mount_points, remove_created_mount_points};
pub use store::{SnapshotStore, WorkDir, tree_size};

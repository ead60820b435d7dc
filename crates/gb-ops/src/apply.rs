//! [`apply_file_op`]: runs a file op's actions in order against a mounted root file system.

use std::path::Path;

use gb_ir::{FileAction, FileOp};

use crate::actions::{mkdir, mkfile, rm};
use crate::copy::copy;
use crate::error::FileOpError;
use crate::source::CopySource;

/// What a file op wrote: non-directory entries created (files, links, special files, from
/// copies, archives and `mkfile`) and the bytes of regular file content written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileOpStats {
    /// Non-directory entries created.
    pub files: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Applies `op.actions` in order to `dest_root` (a writable mounted root file system, already
/// holding the op's base). `sources[i]` is the root of the op's input `i` (`None` when that
/// input is not a copy source).
///
/// Stops at the first failing action; the actions before it have been applied, so the caller
/// discards `dest_root`'s changes (the upper directory) on error.
pub fn apply_file_op(
    dest_root: &Path,
    op: &FileOp,
    sources: &[Option<CopySource<'_>>],
) -> Result<FileOpStats, FileOpError> {
    let mut stats = FileOpStats::default();
    for action in &op.actions {
        match action {
            FileAction::Mkdir(action) => mkdir(dest_root, action)?,
            FileAction::Mkfile(action) => mkfile(dest_root, action, &mut stats)?,
            FileAction::Rm(action) => rm(dest_root, action)?,
            FileAction::Copy(action) => {
                let source = usize::try_from(action.source)
                    .ok()
                    .and_then(|index| sources.get(index))
                    .and_then(Option::as_ref)
                    .ok_or(FileOpError::MissingSource { index: action.source })?;
                copy(dest_root, action, source, &mut stats)?;
            }
        }
    }
    Ok(stats)
}

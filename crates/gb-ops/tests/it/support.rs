//! Helpers for the tests: building trees, running one action, and listing what a tree holds.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gb_ir::{CopyAction, FileAction, FileOp};
use gb_ops::{CopySource, FileOpError, FileOpStats, apply_file_op};

/// A source root and a destination root in one temporary directory, with room beside them to
/// check nothing escapes.
pub struct Roots {
    pub dir: tempfile::TempDir,
    pub src: PathBuf,
    pub dest: PathBuf,
}

impl Roots {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let src = dir.path().join("src");
        let dest = dir.path().join("dest");
        fs::create_dir(&src).expect("mkdir src");
        fs::create_dir(&dest).expect("mkdir dest");
        Self { dir, src, dest }
    }

    /// Runs one copy from `src` into `dest`.
    pub fn copy(&self, action: CopyAction) -> Result<FileOpStats, FileOpError> {
        run(&self.dest, FileAction::Copy(action), Some(CopySource::new(&self.src)))
    }
}

/// Applies a single action with input 0 as the copy source.
pub fn run(dest: &Path, action: FileAction, source: Option<CopySource<'_>>) -> Result<FileOpStats, FileOpError> {
    let op = FileOp { base: None, actions: vec![action] };
    apply_file_op(dest, &op, &[source])
}

/// A plain copy (no Docker defaults): only what each test turns on.
pub fn plain_copy(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        follow_symlinks: false,
        dir_copy_contents: false,
        create_dest_path: false,
        allow_wildcard: false,
        allow_empty_wildcard: false,
        ..CopyAction::docker(0, src, dest)
    }
}

/// Writes a file (and its parents).
pub fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir parents");
    fs::write(&path, content).expect("write file");
}

pub fn mkdir(root: &Path, path: &str) {
    fs::create_dir_all(root.join(path)).expect("mkdir");
}

pub fn symlink(root: &Path, path: &str, target: &str) {
    std::os::unix::fs::symlink(target, root.join(path)).expect("symlink");
}

pub fn chmod(root: &Path, path: &str, mode: u32) {
    fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Permission and special bits of a path (not following a link).
pub fn mode(root: &Path, path: &str) -> u32 {
    fs::symlink_metadata(root.join(path)).expect("lstat").mode() & 0o7777
}

/// Owner of a path (not following a link).
pub fn owner(root: &Path, path: &str) -> (u32, u32) {
    let meta = fs::symlink_metadata(root.join(path)).expect("lstat");
    (meta.uid(), meta.gid())
}

/// Every entry below `root`, sorted: `dir/`, `file=content`, `link->target`.
pub fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(root).expect("below root").to_string_lossy().into_owned();
        let kind = entry.file_type();
        out.push(if kind.is_symlink() {
            format!("{rel}->{}", fs::read_link(entry.path()).expect("readlink").display())
        } else if kind.is_dir() {
            format!("{rel}/")
        } else {
            format!("{rel}={}", fs::read_to_string(entry.path()).expect("read"))
        });
    }
    out
}

//! [`TreeWriter`]: creates entries below a root without writing through a symlink or outside the
//! root, replacing whatever is in the way, and setting directory mtimes last.

use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use crate::error::SnapshotError;
use crate::fsutil::{EntryMeta, OPAQUE_XATTR, apply_meta, lstat_opt, make_whiteout, remove_any, set_mtime};

/// What to create at a path.
pub(crate) enum NewEntry<'a> {
    Dir,
    File(&'a mut dyn Read),
    Symlink(&'a Path),
    /// A hard link to an earlier non-directory entry made by this writer (a relative path).
    HardLink(&'a Path),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// An overlay whiteout (character device 0:0).
    Whiteout,
}

/// Writes a tree below `root` from a stream of entries (a tar, a walk of another tree).
///
/// **Invariant:** nothing is created, removed or modified outside `root`. Every parent of an
/// entry is checked with `lstat` (or was created by this writer as a real directory), so a
/// symlink in the tree (`link -> /etc`, then `link/passwd`) is refused rather than followed,
/// and hard links may only name entries this writer made. The writer assumes nobody else
/// changes the tree meanwhile, which holds for private work dirs.
pub(crate) struct TreeWriter {
    root: PathBuf,
    /// Relative paths verified or made to be real directories.
    known_dirs: HashSet<PathBuf>,
    /// Relative paths of non-directories this writer made, the only valid hard-link targets.
    written: HashSet<PathBuf>,
    /// Directory mtimes, applied by `finish` because creating children changes them.
    dir_times: HashMap<PathBuf, (i64, u32)>,
}

impl TreeWriter {
    pub(crate) fn new(root: &Path) -> Self {
        TreeWriter {
            root: root.to_path_buf(),
            known_dirs: HashSet::new(),
            written: HashSet::new(),
            dir_times: HashMap::new(),
        }
    }

    /// Creates `rel` (a cleaned relative path; empty for the root itself) as `entry`, with
    /// `meta` (ignored for hard links, which share their target's inode). `name` is how errors
    /// refer to the entry.
    pub(crate) fn create(
        &mut self,
        rel: &Path,
        name: &str,
        entry: NewEntry<'_>,
        meta: &EntryMeta,
    ) -> Result<(), SnapshotError> {
        if rel.as_os_str().is_empty() {
            if !matches!(entry, NewEntry::Dir) {
                return Err(unsafe_entry(name, "the root can only be a directory"));
            }
            apply_meta(&self.root, false, meta)?;
            self.dir_times.insert(PathBuf::new(), (meta.mtime_sec, meta.mtime_nsec));
            return Ok(());
        }
        self.ensure_parents(rel, name)?;
        let abs = self.root.join(rel);
        let existing_dir = self.clear(rel, &abs, matches!(entry, NewEntry::Dir))?;
        let is_dir = matches!(entry, NewEntry::Dir);
        let is_symlink = matches!(entry, NewEntry::Symlink(_));
        let is_whiteout = matches!(entry, NewEntry::Whiteout);
        match entry {
            NewEntry::Dir => {
                if !existing_dir {
                    DirBuilder::new().mode(0o700).create(&abs).map_err(SnapshotError::io("create", &abs))?;
                }
            }
            NewEntry::File(data) => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&abs)
                    .map_err(SnapshotError::io("create", &abs))?;
                io::copy(data, &mut file).map_err(SnapshotError::io("write", &abs))?;
            }
            NewEntry::Symlink(target) => {
                std::os::unix::fs::symlink(target, &abs).map_err(SnapshotError::io("create symlink", &abs))?;
            }
            NewEntry::HardLink(target) => {
                // `clear` may just have removed the target (when it lay below `rel`).
                if target == rel || !self.written.contains(target) {
                    return Err(unsafe_entry(name, "a hard link must name an earlier file of the same archive"));
                }
                let from = self.root.join(target);
                // `link(2)` without AT_SYMLINK_FOLLOW links a symlink itself, never its target.
                fs::hard_link(&from, &abs).map_err(SnapshotError::io("create hard link", &abs))?;
                self.written.insert(rel.to_path_buf());
                return Ok(());
            }
            NewEntry::CharDevice { major, minor } => {
                make_node(&abs, SFlag::S_IFCHR, makedev(major.into(), minor.into()))?
            }
            NewEntry::BlockDevice { major, minor } => {
                make_node(&abs, SFlag::S_IFBLK, makedev(major.into(), minor.into()))?
            }
            NewEntry::Fifo => {
                nix::unistd::mkfifo(&abs, Mode::S_IRUSR | Mode::S_IWUSR)
                    .map_err(SnapshotError::errno("create fifo", &abs))?;
            }
            NewEntry::Whiteout => make_whiteout(&abs, 0)?,
        }
        apply_meta(&abs, is_symlink, meta)?;
        if is_dir {
            self.known_dirs.insert(rel.to_path_buf());
            self.dir_times.insert(rel.to_path_buf(), (meta.mtime_sec, meta.mtime_nsec));
        } else {
            set_mtime(&abs, meta.mtime_sec, meta.mtime_nsec)?;
            if !is_whiteout {
                self.written.insert(rel.to_path_buf());
            }
        }
        Ok(())
    }

    /// Marks directory `rel` (created if missing) opaque: it hides what lower layers hold below
    /// it, as OCI's `.wh..wh..opq` says.
    pub(crate) fn mark_opaque(&mut self, rel: &Path, name: &str) -> Result<(), SnapshotError> {
        let abs = self.root.join(rel);
        if !rel.as_os_str().is_empty() {
            self.ensure_parents(rel, name)?;
            self.ensure_dir(rel, name)?;
        }
        xattr::set(&abs, OPAQUE_XATTR, b"y").map_err(SnapshotError::io("mark opaque", &abs))
    }

    /// Applies the directory mtimes, deepest first, so that setting one does not disturb others.
    pub(crate) fn finish(self) -> Result<(), SnapshotError> {
        let mut dirs: Vec<_> = self.dir_times.into_iter().collect();
        dirs.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
        for (rel, (sec, nsec)) in dirs {
            set_mtime(&self.root.join(rel), sec, nsec)?;
        }
        Ok(())
    }

    /// Makes sure every parent of `rel` is a real directory, creating missing ones.
    fn ensure_parents(&mut self, rel: &Path, name: &str) -> Result<(), SnapshotError> {
        let Some(parent) = rel.parent() else { return Ok(()) };
        let mut dir = PathBuf::new();
        for component in parent.components() {
            dir.push(component);
            self.ensure_dir(&dir, name)?;
        }
        Ok(())
    }

    /// Makes sure `rel`, whose parents are real directories, is one too.
    fn ensure_dir(&mut self, rel: &Path, name: &str) -> Result<(), SnapshotError> {
        if self.known_dirs.contains(rel) {
            return Ok(());
        }
        let abs = self.root.join(rel);
        match lstat_opt(&abs)? {
            Some(meta) if meta.is_dir() => {}
            Some(meta) if meta.file_type().is_symlink() => {
                return Err(unsafe_entry(name, "a parent directory is a symlink"));
            }
            Some(_) => return Err(unsafe_entry(name, "a parent is not a directory")),
            None => DirBuilder::new().mode(0o755).create(&abs).map_err(SnapshotError::io("create", &abs))?,
        }
        self.known_dirs.insert(rel.to_path_buf());
        Ok(())
    }

    /// Removes what is at `rel`, unless both it and the new entry are directories (then the
    /// directory is kept, with its contents). Returns whether a directory was kept.
    fn clear(&mut self, rel: &Path, abs: &Path, new_is_dir: bool) -> Result<bool, SnapshotError> {
        let Some(meta) = lstat_opt(abs)? else { return Ok(false) };
        if meta.is_dir() && new_is_dir {
            return Ok(true);
        }
        remove_any(abs, &meta)?;
        // Forget everything at and below `rel`: a symlink may now stand where a directory was.
        self.known_dirs.retain(|dir| !dir.starts_with(rel));
        self.written.retain(|path| !path.starts_with(rel));
        self.dir_times.retain(|dir, _| !dir.starts_with(rel));
        Ok(false)
    }
}

fn make_node(path: &Path, kind: SFlag, dev: libc::dev_t) -> Result<(), SnapshotError> {
    mknod(path, kind, Mode::S_IRUSR | Mode::S_IWUSR, dev).map_err(SnapshotError::errno("create device node", path))
}

fn unsafe_entry(name: &str, reason: &'static str) -> SnapshotError {
    SnapshotError::UnsafeEntry { entry: name.to_owned(), reason }
}

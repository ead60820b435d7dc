//! The walk [`crate::checksum_tree`] selects with: each directory is opened once and its entries
//! are stat'ed relative to it, so a file's stat looks up one name instead of its whole path.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::dir::{Dir, Type};
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, fstatat};

use crate::error::SnapshotError;

/// What the checksum needs of an entry's `lstat`, read from a `stat` or a [`Metadata`] alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// `st_mode`: the type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub dev: u64,
    pub rdev: u64,
}

impl Stat {
    pub(crate) fn of_metadata(meta: &Metadata) -> Self {
        Self {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
            rdev: meta.rdev(),
        }
    }

    // The widths of `stat`'s fields differ between architectures; these conversions are the
    // ones std's `MetadataExt` makes.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn of_stat(stat: &FileStat) -> Self {
        Self {
            mode: stat.st_mode as u32,
            uid: stat.st_uid,
            gid: stat.st_gid,
            size: stat.st_size as u64,
            mtime: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            ctime: (stat.st_ctime as i64, stat.st_ctime_nsec as i64),
            ino: stat.st_ino as u64,
            dev: stat.st_dev as u64,
            rdev: stat.st_rdev as u64,
        }
    }

    /// The type bits (`S_IFMT`) of the mode.
    pub(crate) fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    pub(crate) fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }
}

/// What to do with the entries of a walk, by their path relative to the walk's root.
pub(crate) struct Visitor<'a> {
    /// Whether a directory may be entered (a directory not entered is not reported either).
    pub enter: &'a dyn Fn(&Path) -> bool,
    /// Whether an entry is wanted (only wanted entries are stat'ed and reported).
    pub wants: &'a dyn Fn(&Path) -> bool,
    /// Takes each wanted entry.
    pub found: &'a mut dyn FnMut(PathBuf, Stat),
}

/// Walks the tree at `start`, which is `root` or a path below it, never following a symlink
/// (`start` included). The root itself is never reported; any other `start` is, as the first
/// entry. A directory is reported before what is below it.
pub(crate) fn walk(root: &Path, start: &Path, visitor: &mut Visitor<'_>) -> Result<(), SnapshotError> {
    let stat = lstat_at(AT_FDCWD, start.as_os_str(), start)?;
    let rel = start.strip_prefix(root).unwrap_or(start).to_path_buf();
    let mut pending = Vec::new();
    if start == root {
        if stat.is_dir() {
            pending.push(rel);
        }
    } else {
        report(&mut pending, rel, Some(stat), visitor, |_| Ok(stat))?;
    }
    while let Some(dir_rel) = pending.pop() {
        let dir_path = root.join(&dir_rel);
        let dir = nix::fcntl::open(
            &dir_path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(SnapshotError::errno("open", &dir_path))?;
        for (name, known_type) in dir_entries(&dir, &dir_path)? {
            let rel = dir_rel.join(OsStr::from_bytes(&name));
            let stat_it = |rel: &Path| lstat_at(dir.as_fd(), OsStr::from_bytes(&name), &root.join(rel));
            let stat = match known_type {
                Some(Type::Directory) | None => Some(stat_it(&rel)?),
                Some(_) => None,
            };
            report(&mut pending, rel, stat, visitor, stat_it)?;
        }
    }
    Ok(())
}

/// Reports one entry (stat'ed already when it may be a directory): a directory the visitor may
/// enter is reported if wanted and queued; any other entry is stat'ed and reported if wanted.
fn report(
    pending: &mut Vec<PathBuf>,
    rel: PathBuf,
    stat: Option<Stat>,
    visitor: &mut Visitor<'_>,
    stat_it: impl FnOnce(&Path) -> Result<Stat, SnapshotError>,
) -> Result<(), SnapshotError> {
    let is_dir = stat.is_some_and(|stat| stat.is_dir());
    if is_dir && !(visitor.enter)(&rel) {
        return Ok(());
    }
    if (visitor.wants)(&rel) {
        let stat = match stat {
            Some(stat) => stat,
            None => stat_it(&rel)?,
        };
        (visitor.found)(rel.clone(), stat);
    }
    if is_dir {
        pending.push(rel);
    }
    Ok(())
}

/// A name in a directory, with its type where the file system says (`d_type`).
type DirEntry = (Vec<u8>, Option<Type>);

/// The names in a directory (not `.` and `..`).
fn dir_entries(dir: &OwnedFd, path: &Path) -> Result<Vec<DirEntry>, SnapshotError> {
    let listing = dir.try_clone().map_err(SnapshotError::io("open", path))?;
    let mut listing = Dir::from_fd(listing).map_err(SnapshotError::errno("list", path))?;
    let mut entries = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(SnapshotError::errno("list", path))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            entries.push((name.to_vec(), entry.file_type()));
        }
    }
    Ok(entries)
}

/// `lstat` of `name` in the directory `dir` (`path` names it in errors).
fn lstat_at<Fd: AsFd>(dir: Fd, name: &OsStr, path: &Path) -> Result<Stat, SnapshotError> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|stat| Stat::of_stat(&stat))
        .map_err(SnapshotError::errno("walk", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(root: &Path, start: &Path, enter: &dyn Fn(&Path) -> bool) -> Vec<(PathBuf, Stat)> {
        let mut seen = Vec::new();
        let mut found = |rel: PathBuf, stat: Stat| seen.push((rel, stat));
        walk(root, start, &mut Visitor { enter, wants: &|_| true, found: &mut found }).expect("walk");
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        seen
    }

    /// Every entry once, with the stat std's `symlink_metadata` gives; links never followed;
    /// a directory not entered is not reported; a start below the root is reported itself.
    #[test]
    fn the_walk_stats_each_entry_as_lstat_does_and_follows_no_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::fs::create_dir_all(root.join("skip/inner")).expect("mkdir");
        std::fs::write(root.join("a/b/file"), "content").expect("write");
        std::fs::write(root.join("top"), "").expect("write");
        std::os::unix::fs::symlink("a", root.join("link")).expect("symlink");
        let enter = |rel: &Path| rel != Path::new("skip");
        let seen = walked(root, root, &enter);
        let names: Vec<&str> = seen.iter().map(|(rel, _)| rel.to_str().expect("utf-8")).collect();
        assert_eq!(names, ["a", "a/b", "a/b/file", "link", "top"]);
        for (rel, stat) in &seen {
            let expected = Stat::of_metadata(&std::fs::symlink_metadata(root.join(rel)).expect("lstat"));
            assert_eq!(*stat, expected, "{}", rel.display());
        }
        let from_link = walked(root, &root.join("link"), &enter);
        assert_eq!(from_link.len(), 1, "a start that is a link is reported, not followed");
        assert_eq!(from_link[0].1.kind(), libc::S_IFLNK);
        let from_a = walked(root, &root.join("a"), &enter);
        assert_eq!(
            from_a.iter().map(|(rel, _)| rel.clone()).collect::<Vec<_>>(),
            ["a", "a/b", "a/b/file"].map(PathBuf::from)
        );
    }
}

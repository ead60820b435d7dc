//! [`ConfinedDir`]: path operations that stay inside one directory, whatever the tree in it holds.
//!
//! A path that comes from a build (a mount point, a blob name) joined onto a host directory as
//! a string is resolved by the kernel, which follows every symlink on the way, so a tree the
//! build wrote can send the operation anywhere on the host (`/mp -> /etc`, then "remove the
//! empty `/mp/d`"). Here every lookup starts at a descriptor of the directory and opens one
//! component at a time with `O_NOFOLLOW | O_DIRECTORY`, and the final operation (`fstatat`,
//! `unlinkat`, `mkdirat`, `openat`, `renameat`) names a single entry relative to its parent's
//! descriptor. A symlink or a non-directory where a directory should be ends the walk instead
//! of being followed and `..` is refused, so no operation can leave the directory, even when
//! the tree is changed while it runs.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::error::SnapshotError;

/// How a directory on the way is opened: never through a symlink (with `O_PATH`, `O_NOFOLLOW`
/// alone would open the link itself; `O_DIRECTORY` turns that into `ENOTDIR`), and only for
/// lookups, so no read permission is needed.
const DIR_FLAGS: OFlag = OFlag::O_PATH.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

/// What an entry is, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes.
    File {
        /// Its length in bytes.
        size: u64,
    },
    /// A symbolic link (never followed).
    Symlink,
    /// An overlayfs whiteout (a character device 0/0): the path was deleted in this layer.
    Whiteout,
    /// A device, fifo or socket.
    Other,
}

/// What [`ConfinedDir::lookup`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The entry exists and is this.
    Found(EntryKind),
    /// The entry, or a directory on the way to it, does not exist.
    Missing,
    /// A component on the way is a symlink or not a directory, so the path names nothing
    /// inside the directory without following a link.
    Blocked,
}

/// An open directory whose descendants are reached only by walking real directories below it.
///
/// **Invariant:** every operation acts on an entry of a directory reached from this
/// descriptor through directories only (no symlink, no `..`), so nothing outside it is ever
/// read, created, changed or removed, however the tree below is changed meanwhile.
#[derive(Debug)]
pub struct ConfinedDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Where a walk ended.
enum Walk {
    /// At this directory (`None`: the root itself).
    Dir(Option<OwnedFd>),
    /// A component does not exist.
    Missing,
    /// A component is a symlink or not a directory.
    Blocked,
}

impl ConfinedDir {
    /// Opens the directory at `path`. `path` itself is the caller's and is resolved as usual
    /// (a symlinked state root or destination is fine); only what lies below it is confined.
    pub fn open(path: &Path) -> Result<Self, SnapshotError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, Mode::empty()).map_err(SnapshotError::errno("open directory", path))?;
        Ok(ConfinedDir { fd, path: path.to_path_buf() })
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What `rel` (relative, or absolute meaning "from this directory") is, without following
    /// any symlink on the way or at the end. The directory itself (`""` or `/`) is found too.
    pub fn lookup(&self, rel: &Path) -> Result<Lookup, SnapshotError> {
        let parts = components(rel)?;
        let Some((name, parents)) = parts.split_last() else {
            let stat = nix::sys::stat::fstat(&self.fd).map_err(SnapshotError::errno("inspect", &self.path))?;
            return Ok(Lookup::Found(kind_of(&stat)));
        };
        let parent = match self.walk(rel, parents)? {
            Walk::Dir(fd) => fd,
            Walk::Missing => return Ok(Lookup::Missing),
            Walk::Blocked => return Ok(Lookup::Blocked),
        };
        match fstatat(self.at(&parent), *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Lookup::Found(kind_of(&stat))),
            Err(Errno::ENOENT) => Ok(Lookup::Missing),
            Err(errno) => Err(SnapshotError::errno("inspect", &self.shown(rel))(errno)),
        }
    }

    /// Whether `rel` is an opaque directory (overlayfs hides what the layers below hold under
    /// it). Its way is checked to be real directories first, so the attribute read is of an
    /// entry inside this directory, for a tree that does not change meanwhile (a layer).
    pub fn is_opaque_dir(&self, rel: &Path) -> bool {
        if rel.as_os_str().is_empty() || rel == Path::new("/") {
            return false;
        }
        matches!(self.lookup(rel), Ok(Lookup::Found(EntryKind::Dir)))
            && crate::fsutil::is_opaque(&self.path.join(rel.strip_prefix("/").unwrap_or(rel))).unwrap_or(false)
    }

    /// Removes `rel` if it is an empty directory or an empty regular file, as the mount points a
    /// container runtime creates are. Returns whether it was removed: anything else at `rel`
    /// (a symlink, a non-empty file or directory, nothing), or a symlink or file on the way,
    /// leaves the tree as it is.
    ///
    /// Should the entry be replaced between the check and the removal, the removal still acts
    /// on that name in the same parent directory, never elsewhere: `rmdir` only ever takes an
    /// empty directory, and `unlink` the entry itself, not a symlink's target.
    pub fn remove_if_empty(&self, rel: &Path) -> Result<bool, SnapshotError> {
        let parts = components(rel)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(SnapshotError::InvalidRelativePath {
                path: rel.to_path_buf(),
                reason: "the directory itself cannot be removed",
            });
        };
        let Walk::Dir(parent) = self.walk(rel, parents)? else { return Ok(false) };
        let at = self.at(&parent);
        let stat = match fstatat(at, *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::ENOENT) => return Ok(false),
            Err(errno) => return Err(SnapshotError::errno("inspect", &self.shown(rel))(errno)),
        };
        let flag = match kind_of(&stat) {
            EntryKind::Dir => UnlinkatFlags::RemoveDir,
            EntryKind::File { size: 0 } => UnlinkatFlags::NoRemoveDir,
            _ => return Ok(false),
        };
        match unlinkat(at, *name, flag) {
            Ok(()) => Ok(true),
            // Filled, replaced or removed since it was inspected: no longer an empty mount point.
            Err(Errno::ENOTEMPTY | Errno::EEXIST | Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR) => Ok(false),
            Err(errno) => Err(SnapshotError::errno("remove", &self.shown(rel))(errno)),
        }
    }

    /// Opens directory `rel`, creating it and its missing parents with `mode` (less the
    /// umask). A symlink or a non-directory on the way is an error, never followed or replaced.
    pub fn create_dir_all(&self, rel: &Path, mode: u32) -> Result<ConfinedDir, SnapshotError> {
        let parts = components(rel)?;
        let mut current: Option<OwnedFd> = None;
        let mut done = PathBuf::new();
        for part in &parts {
            done.push(part);
            let at = self.at(&current);
            let opened = match openat(at, *part, DIR_FLAGS, Mode::empty()) {
                Err(Errno::ENOENT) => {
                    match mkdirat(at, *part, Mode::from_bits_truncate(mode & 0o7777)) {
                        // Made by someone else meanwhile: opened (and checked) below all the same.
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(errno) => return Err(SnapshotError::errno("create", &self.path.join(&done))(errno)),
                    }
                    openat(at, *part, DIR_FLAGS, Mode::empty())
                }
                other => other,
            };
            let fd = opened.map_err(|errno| {
                let errno = if errno == Errno::ELOOP { Errno::ENOTDIR } else { errno };
                SnapshotError::errno("open directory", &self.path.join(&done))(errno)
            })?;
            current = Some(fd);
        }
        let fd = match current {
            Some(fd) => fd,
            None => self.fd.try_clone().map_err(SnapshotError::io("open directory", &self.path))?,
        };
        Ok(ConfinedDir { fd, path: self.shown(rel) })
    }

    /// Opens regular file `rel` for reading, through real directories only and never through a
    /// symlink at the end. `None` when there is no regular file there: nothing, a symlink, a
    /// directory, a device, a fifo, or a link or file on the way.
    pub fn open_file(&self, rel: &Path) -> Result<Option<File>, SnapshotError> {
        let parts = components(rel)?;
        let Some((name, parents)) = parts.split_last() else { return Ok(None) };
        let Walk::Dir(parent) = self.walk(rel, parents)? else { return Ok(None) };
        // `O_NONBLOCK` so that a fifo put there is opened without waiting for a writer, and then
        // refused below; it changes nothing for a regular file.
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(self.at(&parent), *name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ELOOP | Errno::ENXIO) => return Ok(None),
            Err(errno) => return Err(SnapshotError::errno("open", &self.shown(rel))(errno)),
        };
        let file = File::from(fd);
        let metadata = file.metadata().map_err(SnapshotError::io("inspect", &self.shown(rel)))?;
        Ok(metadata.is_file().then_some(file))
    }

    /// Writes file `rel` (its parent must exist) with what `fill` writes: into a new temporary
    /// file beside it (`O_EXCL | O_NOFOLLOW`, mode `mode` less the umask) that is then renamed
    /// over `rel`. Whatever was at `rel` is replaced, a symlink included, and never written
    /// through; a reader never sees a half-written file.
    pub fn write_file(
        &self,
        rel: &Path,
        mode: u32,
        fill: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> Result<(), SnapshotError> {
        let target = self.shown(rel);
        let parts = components(rel)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(SnapshotError::InvalidRelativePath {
                path: rel.to_path_buf(),
                reason: "the directory itself cannot be written as a file",
            });
        };
        let parent = match self.walk(rel, parents)? {
            Walk::Dir(fd) => fd,
            Walk::Missing => return Err(SnapshotError::errno("create", &target)(Errno::ENOENT)),
            Walk::Blocked => return Err(SnapshotError::errno("create", &target)(Errno::ENOTDIR)),
        };
        let at = self.at(&parent);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", gb_cache::LayerId::random().0));
        let tmp_name = tmp_name.as_os_str();
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(at, tmp_name, flags, Mode::from_bits_truncate(mode & 0o7777))
            .map_err(SnapshotError::errno("create", &self.path.join(parents_path(parents)).join(tmp_name)))?;
        let mut file = File::from(fd);
        let result = fill(&mut file).map_err(SnapshotError::io("write", &target)).and_then(|()| {
            renameat(at, tmp_name, at, *name).map_err(SnapshotError::errno("rename into place", &target))
        });
        if result.is_err() {
            // Best effort: the temporary file is useless now.
            let _ = unlinkat(at, tmp_name, UnlinkatFlags::NoRemoveDir);
        }
        result
    }

    /// Where `rel` is on the host, for messages.
    fn shown(&self, rel: &Path) -> PathBuf {
        self.path.join(rel.strip_prefix("/").unwrap_or(rel))
    }

    /// The descriptor of a walk's directory, the root's when the walk did not move.
    fn at<'a>(&'a self, dir: &'a Option<OwnedFd>) -> BorrowedFd<'a> {
        dir.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd)
    }

    /// Opens the directories `parts` one below the other, starting here. `rel` is the whole
    /// path, for messages.
    fn walk(&self, rel: &Path, parts: &[&OsStr]) -> Result<Walk, SnapshotError> {
        let mut current: Option<OwnedFd> = None;
        for part in parts {
            let opened = openat(self.at(&current), *part, DIR_FLAGS, Mode::empty());
            match opened {
                Ok(fd) => current = Some(fd),
                Err(Errno::ENOENT) => return Ok(Walk::Missing),
                Err(Errno::ENOTDIR | Errno::ELOOP) => return Ok(Walk::Blocked),
                Err(errno) => return Err(SnapshotError::errno("open directory", &self.shown(rel))(errno)),
            }
        }
        Ok(Walk::Dir(current))
    }
}

/// The names of `rel`'s components; `/` and `.` are dropped, `..` is refused (it could only
/// climb, and climbing is what a confined path must never do).
fn components(rel: &Path) -> Result<Vec<&OsStr>, SnapshotError> {
    rel.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(Ok(name)),
            Component::RootDir | Component::CurDir => None,
            Component::ParentDir | Component::Prefix(_) => Some(Err(SnapshotError::InvalidRelativePath {
                path: rel.to_path_buf(),
                reason: "`..` may not appear in a confined path",
            })),
        })
        .collect()
}

/// The components joined again, for messages.
fn parents_path(parts: &[&OsStr]) -> PathBuf {
    parts.iter().collect()
}

fn kind_of(stat: &FileStat) -> EntryKind {
    let format = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    if format == SFlag::S_IFDIR {
        EntryKind::Dir
    } else if format == SFlag::S_IFREG {
        EntryKind::File { size: u64::try_from(stat.st_size).unwrap_or(0) }
    } else if format == SFlag::S_IFLNK {
        EntryKind::Symlink
    } else if format == SFlag::S_IFCHR && stat.st_rdev == 0 {
        EntryKind::Whiteout
    } else {
        EntryKind::Other
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    /// A directory to confine to and, beside it, a victim directory outside it holding an
    /// empty directory and an empty file, which no operation may touch.
    struct Fixture {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        victim: PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let tmp = tempfile::tempdir().expect("tempdir");
            let root = tmp.path().join("root");
            let victim = tmp.path().join("victim");
            fs::create_dir(&root).expect("root");
            fs::create_dir_all(victim.join("d")).expect("victim dir");
            fs::write(victim.join("f"), "").expect("victim file");
            Fixture { _tmp: tmp, root, victim }
        }

        fn confined(&self) -> ConfinedDir {
            ConfinedDir::open(&self.root).expect("open")
        }

        fn assert_victim_intact(&self) {
            assert!(self.victim.join("d").is_dir(), "the victim's empty directory is gone");
            assert!(self.victim.join("f").is_file(), "the victim's empty file is gone");
            assert_eq!(fs::read(self.victim.join("f")).expect("victim file"), b"");
        }
    }

    #[test]
    fn removes_empty_mount_points_and_keeps_the_rest() {
        let fx = Fixture::new();
        fs::create_dir_all(fx.root.join("a/empty")).expect("mkdir");
        fs::create_dir_all(fx.root.join("a/full/x")).expect("mkdir");
        fs::write(fx.root.join("a/file"), "").expect("file");
        fs::write(fx.root.join("a/data"), "data").expect("file");
        let dir = fx.confined();
        assert!(dir.remove_if_empty(Path::new("a/empty")).expect("rmdir"));
        assert!(dir.remove_if_empty(Path::new("/a/file")).expect("unlink"));
        assert!(!dir.remove_if_empty(Path::new("a/full")).expect("full dir"));
        assert!(!dir.remove_if_empty(Path::new("a/data")).expect("non-empty file"));
        assert!(!dir.remove_if_empty(Path::new("a/missing")).expect("missing"));
        assert!(!dir.remove_if_empty(Path::new("no/such/dir")).expect("missing parent"));
        assert!(!fx.root.join("a/empty").exists() && !fx.root.join("a/file").exists());
        assert!(fx.root.join("a/full/x").is_dir() && fx.root.join("a/data").is_file());
    }

    #[test]
    fn never_removes_through_a_symlinked_parent() {
        let fx = Fixture::new();
        // What the RUN in the reported attack leaves: its mount points' parents are links to the host.
        symlink(&fx.victim, fx.root.join("mp")).expect("absolute link");
        symlink("../victim", fx.root.join("rel")).expect("relative link");
        fs::create_dir(fx.root.join("real")).expect("mkdir");
        symlink(&fx.victim, fx.root.join("real/deeper")).expect("nested link");
        let dir = fx.confined();
        for rel in ["mp/d", "mp/f", "rel/d", "rel/f", "real/deeper/d", "/mp/d"] {
            assert!(!dir.remove_if_empty(Path::new(rel)).expect("remove"), "{rel} was removed");
        }
        fx.assert_victim_intact();
    }

    #[test]
    fn a_parent_swapped_for_a_link_meanwhile_is_never_followed() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let fx = Fixture::new();
        fs::create_dir_all(fx.root.join("a/d")).expect("mkdir");
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Swaps `a` between the real directory and a link to the victim as fast as it can,
            // as a process still running in the tree could, putting the empty mount points
            // back while it holds the real directory aside.
            scope.spawn(|| {
                let (a, real) = (fx.root.join("a"), fx.root.join("a.real"));
                while !stop.load(Ordering::Relaxed) {
                    fs::rename(&a, &real).expect("move aside");
                    let _ = fs::create_dir(real.join("d"));
                    fs::write(real.join("f"), "").expect("empty file");
                    symlink(&fx.victim, &a).expect("link");
                    fs::remove_file(&a).expect("unlink");
                    fs::rename(&real, &a).expect("move back");
                    // Leave the real directory in place for a moment, so removals get through
                    // however the two threads are scheduled (under load a bare loop left the
                    // window too short to hit in 20,000 rounds).
                    std::thread::sleep(std::time::Duration::from_micros(20));
                }
            });
            let dir = fx.confined();
            let mut removed = 0;
            let mut attempts = 0;
            // At least 20,000 rounds of the race; more, within a bound, until one removal got
            // through (on a loaded machine the real directory's window can be hard to hit).
            while attempts < 20_000 || (removed == 0 && attempts < 2_000_000) {
                for rel in ["a/d", "a/f"] {
                    removed += usize::from(dir.remove_if_empty(Path::new(rel)).unwrap_or(false));
                }
                attempts += 1;
            }
            // Stop the swapper before any assertion, so a failure cannot leave it spinning.
            stop.store(true, Ordering::Relaxed);
            assert!(removed > 0, "the race never let a removal through: the test tests nothing");
        });
        fx.assert_victim_intact();
    }

    #[test]
    fn a_symlink_at_the_end_is_removed_as_nothing_and_never_followed() {
        let fx = Fixture::new();
        symlink(fx.victim.join("d"), fx.root.join("d")).expect("link to a dir");
        symlink(fx.victim.join("f"), fx.root.join("f")).expect("link to a file");
        let dir = fx.confined();
        assert!(!dir.remove_if_empty(Path::new("d")).expect("remove"));
        assert!(!dir.remove_if_empty(Path::new("f")).expect("remove"));
        assert!(fs::symlink_metadata(fx.root.join("d")).expect("link").file_type().is_symlink());
        fx.assert_victim_intact();
    }

    #[test]
    fn dot_dot_is_refused() {
        let fx = Fixture::new();
        fs::create_dir(fx.root.join("a")).expect("mkdir");
        let dir = fx.confined();
        for rel in ["../victim/d", "a/../../victim/f"] {
            let err = dir.remove_if_empty(Path::new(rel)).expect_err("refused");
            assert!(matches!(err, SnapshotError::InvalidRelativePath { .. }), "{err:?}");
            assert!(dir.lookup(Path::new(rel)).is_err());
        }
        assert!(dir.remove_if_empty(Path::new("/")).is_err(), "the root itself is never removed");
        fx.assert_victim_intact();
    }

    #[test]
    fn lookup_reports_links_on_the_way_as_blocked() {
        let fx = Fixture::new();
        fs::create_dir(fx.root.join("a")).expect("mkdir");
        fs::write(fx.root.join("a/file"), "abc").expect("file");
        symlink(&fx.victim, fx.root.join("a/link")).expect("link");
        let dir = fx.confined();
        assert_eq!(dir.lookup(Path::new("")).expect("root"), Lookup::Found(EntryKind::Dir));
        assert_eq!(dir.lookup(Path::new("a")).expect("dir"), Lookup::Found(EntryKind::Dir));
        assert_eq!(dir.lookup(Path::new("a/file")).expect("file"), Lookup::Found(EntryKind::File { size: 3 }));
        assert_eq!(dir.lookup(Path::new("a/link")).expect("link"), Lookup::Found(EntryKind::Symlink));
        assert_eq!(dir.lookup(Path::new("a/link/d")).expect("through link"), Lookup::Blocked);
        assert_eq!(dir.lookup(Path::new("a/file/x")).expect("below a file"), Lookup::Blocked);
        assert_eq!(dir.lookup(Path::new("a/none")).expect("missing"), Lookup::Missing);
        assert_eq!(dir.lookup(Path::new("none/x")).expect("missing parent"), Lookup::Missing);
    }

    #[test]
    fn create_dir_all_and_write_file_never_go_through_links() {
        let fx = Fixture::new();
        let dir = fx.confined();
        let made = dir.create_dir_all(Path::new("blobs/sha256"), 0o755).expect("mkdir -p");
        made.write_file(Path::new("abc"), 0o644, |f| io::Write::write_all(f, b"blob")).expect("write");
        assert_eq!(fs::read(fx.root.join("blobs/sha256/abc")).expect("read"), b"blob");

        // A link where a directory should be is an error, not a way out.
        symlink(&fx.victim, fx.root.join("out")).expect("link");
        let err = dir.create_dir_all(Path::new("out/sub"), 0o755).expect_err("through a link");
        assert!(matches!(&err, SnapshotError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOTDIR)));
        assert!(dir.write_file(Path::new("out/f"), 0o644, |_| Ok(())).is_err());
        assert!(!fx.victim.join("sub").exists());

        // A link at the file's name is replaced, its target never written.
        symlink(fx.victim.join("f"), fx.root.join("index.json")).expect("link");
        dir.write_file(Path::new("index.json"), 0o644, |f| io::Write::write_all(f, b"{}")).expect("write");
        assert!(fs::symlink_metadata(fx.root.join("index.json")).expect("file").is_file());
        assert_eq!(fs::read(fx.root.join("index.json")).expect("read"), b"{}");
        fx.assert_victim_intact();

        // A failed fill leaves neither the file nor its temporary.
        let err = dir.write_file(Path::new("bad"), 0o644, |_| Err(io::Error::other("boom")));
        assert!(err.is_err());
        let names: Vec<_> = fs::read_dir(&fx.root).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().contains("bad")), "{names:?}");
    }

    #[test]
    fn open_file_reads_regular_files_only_and_never_through_links() {
        let fx = Fixture::new();
        fs::create_dir(fx.root.join("a")).expect("mkdir");
        fs::write(fx.root.join("a/file"), "abc").expect("file");
        symlink(fx.victim.join("f"), fx.root.join("a/link")).expect("link to a file");
        symlink(&fx.victim, fx.root.join("out")).expect("link to a dir");
        nix::unistd::mkfifo(&fx.root.join("a/fifo"), Mode::from_bits_truncate(0o644)).expect("fifo");
        let dir = fx.confined();
        let mut file = dir.open_file(Path::new("a/file")).expect("open").expect("a regular file");
        let mut text = String::new();
        io::Read::read_to_string(&mut file, &mut text).expect("read");
        assert_eq!(text, "abc");
        for rel in ["a/link", "out/f", "a", "a/fifo", "a/none", "a/file/x", ""] {
            assert!(dir.open_file(Path::new(rel)).expect("no error").is_none(), "{rel}");
        }
        assert!(dir.open_file(Path::new("../victim/f")).is_err());
    }
}

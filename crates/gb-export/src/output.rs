//! Output files the user names (`save -o`, `-o type=oci|docker|tar,dest=`): complete or absent,
//! never a device node replaced by a rename, and no temporary file left behind by a killed run.
//!
//! A regular (or new) destination is written into an unnamed file (`O_TMPFILE`) in its
//! directory, linked under a hidden temporary name only once complete and renamed over the
//! destination at once. A process killed while writing (even by SIGKILL, where no handler or
//! `Drop` runs) leaves nothing: the kernel frees an unnamed file with its last descriptor. On
//! file systems without `O_TMPFILE` a named temporary file is used instead; both kinds of
//! temporary name are locked (`flock`) by their writer, and the next write to the same
//! destination removes any whose writer is gone (its lock released by its death, its pid not
//! running). A character device or fifo (`/dev/null`, a named pipe) is written in place, as a
//! shell redirect writes it: renaming over it would replace the device node itself. Any other
//! kind of existing file (a directory, a block device, a socket) is refused.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, Flock, FlockArg, OFlag};
use nix::unistd::Pid;

use crate::error::ExportError;

/// How many temporary names are tried before giving up (each collision is a name left by a
/// live writer or by a dead process that had this pid).
const NAME_ATTEMPTS: u64 = 100;

/// An output file being written; [`OutputFile::persist`] puts it in place, dropping it
/// unpersisted leaves the destination as it was.
#[derive(Debug)]
pub struct OutputFile {
    dest: PathBuf,
    target: Target,
}

#[derive(Debug)]
enum Target {
    /// An existing character device or fifo, written in place.
    InPlace(File),
    /// An unnamed file in the destination's directory, linked and renamed by `persist`.
    Unnamed { file: Flock<File>, dir: PathBuf },
    /// A named temporary file (no `O_TMPFILE` here), renamed by `persist`, removed on drop.
    Named { file: Flock<File>, temp: PathBuf, persisted: bool },
}

impl OutputFile {
    /// Starts writing `dest`. Stale temporary files of earlier, killed writes to `dest` are
    /// removed first.
    pub fn create(dest: &Path) -> Result<Self, ExportError> {
        match fs::metadata(dest) {
            Ok(meta) if meta.file_type().is_char_device() || meta.file_type().is_fifo() => {
                // No O_CREAT, no O_TRUNC: the node is written as it is, never made or replaced.
                let file = File::options().write(true).open(dest).map_err(ExportError::io("open", dest))?;
                return Ok(Self { dest: dest.to_path_buf(), target: Target::InPlace(file) });
            }
            Ok(meta) if !meta.is_file() => {
                let kind = meta.file_type();
                let what = if kind.is_dir() {
                    "a directory"
                } else if kind.is_block_device() {
                    "a block device"
                } else {
                    "a socket"
                };
                return Err(ExportError::NotAFile { path: dest.to_path_buf(), what });
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(ExportError::io("inspect", dest)(error)),
        }
        let name = dest
            .file_name()
            .ok_or_else(|| ExportError::NotAFile { path: dest.to_path_buf(), what: "a path without a file name" })?;
        let dir = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        remove_stale_temporaries(&dir, name);
        let unnamed = File::options()
            .write(true)
            .mode(0o666)
            .custom_flags(OFlag::O_TMPFILE.bits() | OFlag::O_CLOEXEC.bits())
            .open(&dir);
        let target = match unnamed {
            Ok(file) => Target::Unnamed { file: lock(file, &dir)?, dir },
            // No O_TMPFILE on this file system (EOPNOTSUPP), or a kernel that reads the flag
            // as O_DIRECTORY (EISDIR): a named temporary file it is.
            Err(error) if error.raw_os_error().is_some_and(is_no_tmpfile) => named_temporary(&dir, name)?,
            Err(error) => return Err(ExportError::io("create a file in", &dir)(error)),
        };
        Ok(Self { dest: dest.to_path_buf(), target })
    }

    /// Puts the written file in place: synced, then renamed over the destination in one step
    /// (a device or fifo was written in place and is only flushed).
    pub fn persist(mut self) -> Result<(), ExportError> {
        let dest = self.dest.clone();
        match &mut self.target {
            Target::InPlace(file) => file.flush().map_err(ExportError::io("write", &dest)),
            Target::Unnamed { file, dir } => {
                file.sync_all().map_err(ExportError::io("sync", &dest))?;
                let name = dest.file_name().unwrap_or(OsStr::new("output"));
                let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
                let mut attempt = 0;
                let temp = loop {
                    let temp = dir.join(temporary_name(name));
                    match nix::unistd::linkat(AT_FDCWD, proc_path.as_str(), AT_FDCWD, &temp, AtFlags::AT_SYMLINK_FOLLOW)
                    {
                        Ok(()) => break temp,
                        Err(Errno::EEXIST) if attempt < NAME_ATTEMPTS => attempt += 1,
                        Err(errno) => return Err(ExportError::io("link", &temp)(io::Error::from(errno))),
                    }
                };
                fs::rename(&temp, &dest).map_err(|error| {
                    let _ = fs::remove_file(&temp);
                    ExportError::io("rename into place", &dest)(error)
                })
            }
            Target::Named { file, temp, persisted } => {
                file.sync_all().map_err(ExportError::io("sync", &*temp))?;
                fs::rename(&*temp, &dest).map_err(ExportError::io("rename into place", &dest))?;
                *persisted = true;
                Ok(())
            }
        }
    }

    fn file(&self) -> &File {
        match &self.target {
            Target::InPlace(file) => file,
            Target::Unnamed { file, .. } | Target::Named { file, .. } => file,
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Target::Named { temp, persisted: false, .. } = &self.target {
            // Best effort: a file left here is removed by the next write to this destination.
            let _ = fs::remove_file(temp);
        }
    }
}

/// True for the errors of `open(O_TMPFILE)` that mean "not supported here".
fn is_no_tmpfile(errno: i32) -> bool {
    [Errno::EOPNOTSUPP, Errno::EISDIR, Errno::EINVAL].iter().any(|e| *e as i32 == errno)
}

/// Holds `file` exclusively: a writer's lock tells later writers its temporary is in use, and
/// the kernel drops it when the writer dies, however it dies.
fn lock(file: File, path: &Path) -> Result<Flock<File>, ExportError> {
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| ExportError::io("lock", path)(io::Error::from(errno)))
}

/// A fresh named temporary file for `name` in `dir`, locked.
fn named_temporary(dir: &Path, name: &OsStr) -> Result<Target, ExportError> {
    let mut attempt = 0;
    loop {
        let temp = dir.join(temporary_name(name));
        // O_EXCL: a file or link planted under this name is never written through.
        let created = File::options().write(true).create_new(true).mode(0o666).open(&temp);
        match created {
            Ok(file) => return Ok(Target::Named { file: lock(file, &temp)?, temp, persisted: false }),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < NAME_ATTEMPTS => attempt += 1,
            Err(error) => return Err(ExportError::io("create", &temp)(error)),
        }
    }
}

/// `.NAME.tmp-PID-N`: hidden, naming the writer's pid, unique within the process.
fn temporary_name(name: &OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    temp
}

/// The writer's pid in a temporary name of `name` (`.NAME.tmp-PID` as older versions wrote
/// it, or `.NAME.tmp-PID-N`), if `file` is one.
fn temporary_owner(file: &OsStr, name: &OsStr) -> Option<i32> {
    let rest = file.as_bytes().strip_prefix(b".")?.strip_prefix(name.as_bytes())?.strip_prefix(b".tmp-")?;
    let pid = match rest.iter().position(|b| *b == b'-') {
        Some(dash) if !rest[dash + 1..].is_empty() && rest[dash + 1..].iter().all(u8::is_ascii_digit) => &rest[..dash],
        Some(_) => return None,
        None => rest,
    };
    if pid.is_empty() || !pid.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// Removes the temporary files of earlier writes to `dir/name` whose writer is gone: its pid is
/// not running (or is this process, which has no other writer of this name) and nobody holds
/// the file's lock. Best effort: a file that cannot be removed now is tried again next time.
fn remove_stale_temporaries(dir: &Path, name: &OsStr) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Some(pid) = temporary_owner(&entry.file_name(), name) else { continue };
        let alive = pid as u32 != std::process::id()
            && !matches!(nix::sys::signal::kill(Pid::from_raw(pid), None), Err(Errno::ESRCH));
        if alive {
            continue;
        }
        let path = entry.path();
        // Only a regular file is opened (for its writer's lock): anything else under this name,
        // such as a device node an exported image planted, is removed unopened, since opening a
        // device can act on it. O_NOFOLLOW and O_NONBLOCK still cover a file swapped in since.
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if !meta.file_type().is_file() {
            let _ = fs::remove_file(&path);
            continue;
        }
        let opened = File::options()
            .read(true)
            .custom_flags(OFlag::O_NOFOLLOW.bits() | OFlag::O_NONBLOCK.bits() | OFlag::O_CLOEXEC.bits())
            .open(&path);
        let unlocked = match opened {
            Ok(file) => Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok(),
            Err(_) => true,
        };
        if unlocked {
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_with_their_pid() {
        let name = OsStr::new("app.tar");
        assert_eq!(temporary_owner(OsStr::new(".app.tar.tmp-42"), name), Some(42));
        assert_eq!(temporary_owner(OsStr::new(".app.tar.tmp-42-7"), name), Some(42));
        for other in
            [".app.tar.tmp-", ".app.tar.tmp-x", ".app.tar.tmp-42-", "app.tar.tmp-42", ".app.tarx.tmp-1", ".b.tmp-1"]
        {
            assert_eq!(temporary_owner(OsStr::new(other), name), None, "{other}");
        }
        let fresh = temporary_name(name);
        assert_eq!(temporary_owner(&fresh, name), Some(std::process::id() as i32));
    }

    #[test]
    fn a_regular_destination_is_replaced_whole_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("out.tar");
        fs::write(&dest, "old").expect("write");
        let mut out = OutputFile::create(&dest).expect("create");
        out.write_all(b"new content").expect("write");
        assert_eq!(fs::read(&dest).expect("read"), b"old", "the destination changes only on persist");
        out.persist().expect("persist");
        assert_eq!(fs::read(&dest).expect("read"), b"new content");
        let names: Vec<_> = fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, [OsString::from("out.tar")]);
    }

    #[test]
    fn an_unpersisted_output_leaves_the_destination_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("out.tar");
        let mut out = OutputFile::create(&dest).expect("create");
        out.write_all(b"half").expect("write");
        drop(out);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn the_named_fallback_renames_into_place_or_removes_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("out.tar");
        let named = |dest: &Path| OutputFile {
            dest: dest.to_path_buf(),
            target: named_temporary(dir.path(), OsStr::new("out.tar")).expect("a named temporary"),
        };
        let mut out = named(&dest);
        out.write_all(b"half").expect("write");
        drop(out);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0, "dropped unpersisted, it is removed");
        let mut out = named(&dest);
        out.write_all(b"whole").expect("write");
        out.persist().expect("persist");
        assert_eq!(fs::read(&dest).expect("read"), b"whole");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    /// The child half of the next test: starts an output, says so, and waits to be killed.
    const KILL_CHILD: &str = "GB_EXPORT_OUTPUT_KILL_CHILD";

    #[test]
    fn a_writer_killed_by_sigkill_leaves_nothing_that_outlives_the_next_write() {
        use std::io::BufRead;
        if let Some(dest) = std::env::var_os(KILL_CHILD) {
            let mut out = OutputFile::create(Path::new(&dest)).expect("create");
            out.write_all(&[7; 64 * 1024]).expect("write");
            println!("ready");
            std::thread::sleep(std::time::Duration::from_secs(120));
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("out.tar");
        fs::write(&dest, "previous").expect("write");
        let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "output::tests::a_writer_killed_by_sigkill_leaves_nothing_that_outlives_the_next_write"])
            .arg("--nocapture")
            .env(KILL_CHILD, &dest)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("stdout");
        let ready = io::BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line == "ready");
        assert!(ready, "the child started writing");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");

        assert_eq!(fs::read(&dest).expect("read"), b"previous", "the destination is untouched");
        let left: Vec<OsString> = fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .filter(|name| name != "out.tar")
            .collect();
        let tmpfile_works = File::options().write(true).custom_flags(OFlag::O_TMPFILE.bits()).open(dir.path()).is_ok();
        if tmpfile_works {
            assert!(left.is_empty(), "an unnamed temporary dies with its writer, but {left:?} is left");
        }
        OutputFile::create(&dest).expect("create").persist().expect("persist");
        let names: Vec<OsString> = fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, [OsString::from("out.tar")], "the next write removes whatever the killed one left");
    }

    #[test]
    fn stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A pid that is not running: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = dir.path().join(format!(".out.tar.tmp-{dead}"));
        fs::write(&stale, "left by a killed save").expect("write");
        // A live writer (this test's parent process stands in) holding its lock.
        let live = dir.path().join(format!(".out.tar.tmp-{}-0", std::os::unix::process::parent_id()));
        let held = Flock::lock(File::create(&live).expect("create"), FlockArg::LockExclusive).expect("lock");
        let unrelated = dir.path().join(format!(".other.tar.tmp-{dead}"));
        fs::write(&unrelated, "another destination's").expect("write");

        let out = OutputFile::create(&dir.path().join("out.tar")).expect("create");
        out.persist().expect("persist");

        assert!(!stale.exists(), "the dead writer's temporary is removed");
        assert!(live.exists(), "a live writer's temporary is kept");
        assert!(unrelated.exists(), "only temporaries of this destination are touched");
        drop(held);
    }

    #[test]
    fn stale_names_that_are_not_regular_files_are_removed_without_being_opened() {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        use nix::sys::stat::{Mode, SFlag, makedev, mknod};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let fifo = dir.path().join(format!(".out.tar.tmp-{dead}"));
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let mut planted = vec![fifo];
        // A character device (/dev/null's numbers) where this test may make one.
        let device = dir.path().join(format!(".out.tar.tmp-{dead}-1"));
        if mknod(&device, SFlag::S_IFCHR, Mode::from_bits_truncate(0o600), makedev(1, 3)).is_ok() {
            planted.push(device);
        }
        let regular = dir.path().join(format!(".out.tar.tmp-{dead}-2"));
        fs::write(&regular, "left by a killed save").expect("write");
        // Every open of a file in the directory is an IN_OPEN event there.
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK).expect("inotify");
        inotify.add_watch(dir.path(), AddWatchFlags::IN_OPEN).expect("watch");

        remove_stale_temporaries(dir.path(), OsStr::new("out.tar"));

        let opened: Vec<OsString> = match inotify.read_events() {
            Ok(events) => events.into_iter().filter_map(|e| e.name).collect(),
            Err(Errno::EAGAIN) => Vec::new(),
            Err(e) => panic!("reading inotify events: {e}"),
        };
        for path in &planted {
            assert!(fs::symlink_metadata(path).is_err(), "{} is left", path.display());
            let name = path.file_name().expect("name");
            assert!(!opened.iter().any(|n| n == name), "{} was opened", path.display());
        }
        assert!(!regular.exists(), "the dead writer's regular temporary is removed");
        assert!(opened.iter().any(|n| n == regular.file_name().expect("name")), "the regular one was checked");
    }

    #[test]
    fn devices_and_fifos_are_written_in_place_and_directories_refused() {
        let mut out = OutputFile::create(Path::new("/dev/null")).expect("create");
        out.write_all(b"discarded").expect("write");
        out.persist().expect("persist");
        let meta = fs::metadata("/dev/null").expect("metadata");
        assert!(meta.file_type().is_char_device(), "/dev/null is still a device");

        let dir = tempfile::tempdir().expect("tempdir");
        let error = OutputFile::create(dir.path()).expect_err("a directory");
        assert!(error.to_string().contains("it is a directory"), "{error}");
    }
}

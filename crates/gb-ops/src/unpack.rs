//! `ADD`'s archive extraction: tar archives (plain, gzip, bzip2, xz, zstd) detected by content, unpacked without escaping the destination.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Cursor, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use crate::apply::FileOpStats;
use crate::error::{FileOpError, Result};
use crate::meta::{chown, create_dir, lstat, set_mode, set_times};
use crate::paths::{Escape, ResolveError, image_path, join, resolve_parts};

/// Mode and owner of directories an archive implies but does not list (BuildKit's choice).
const IMPLIED_DIR_MODE: u32 = 0o755;

/// How an archive's bytes are compressed, told by magic bytes as moby's `DecompressStream` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    fn detect(magic: &[u8]) -> Self {
        if magic.starts_with(&[0x1f, 0x8b, 0x08]) {
            Self::Gzip
        } else if magic.starts_with(b"BZh") {
            Self::Bzip2
        } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Self::Xz
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    fn reader<'r>(self, inner: impl Read + 'r) -> io::Result<Box<dyn Read + 'r>> {
        Ok(match self {
            Self::None => Box::new(inner),
            // Go's readers accept concatenated streams; so do the multi-member decoders.
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
            Self::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(inner)),
            Self::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(inner)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
        })
    }
}

/// `inner`'s bytes decompressed, the compression (none, gzip, bzip2, xz, zstd) told by its first
/// bytes, as moby's `DecompressStream`, which `docker load` and `docker import` read with.
pub fn decompress_stream<'r>(mut inner: impl Read + 'r) -> io::Result<Box<dyn Read + 'r>> {
    let mut magic = Vec::with_capacity(6);
    (&mut inner).take(6).read_to_end(&mut magic)?;
    Compression::detect(&magic).reader(Cursor::new(magic).chain(inner))
}

/// The compression of `path` if it is a regular file holding a tar archive (one that
/// decompresses and whose first header reads), as BuildKit's `isArchivePath`; `None` for
/// anything else, including an empty archive, which `ADD` then copies as a file.
pub(crate) fn archive_compression(path: &Path) -> Result<Option<Compression>> {
    if !lstat(path)?.is_some_and(|meta| meta.file_type().is_file()) {
        return Ok(None);
    }
    let mut file = File::open(path).map_err(|err| FileOpError::io("open", path, err))?;
    let mut magic = Vec::with_capacity(6);
    (&mut file).take(6).read_to_end(&mut magic).map_err(|err| FileOpError::io("read", path, err))?;
    let compression = Compression::detect(&magic);
    let Ok(reader) = compression.reader(Cursor::new(magic).chain(file)) else {
        return Ok(None);
    };
    let mut archive = tar::Archive::new(reader);
    let first_reads = archive.entries().ok().and_then(|mut entries| entries.next()).is_some_and(|entry| entry.is_ok());
    Ok(first_reads.then_some(compression))
}

/// Extracts the archive at `path` (`name` is its source path, for messages) into the existing
/// directory `base` below `dest_root`. Entry names and links resolve inside `base`: a `..` or a
/// link that would leave it is an error, absolute link targets count from `base`. Owners come
/// from the archive unless `owner` is given; modes and mtimes from the archive.
pub(crate) fn unpack(
    path: &Path,
    name: &str,
    compression: Compression,
    dest_root: &Path,
    base: &Path,
    owner: Option<(u32, u32)>,
    stats: &mut FileOpStats,
) -> Result<()> {
    let file = File::open(path).map_err(|err| FileOpError::io("open", path, err))?;
    let reader = compression.reader(file).map_err(|err| FileOpError::io("decompress", path, err))?;
    let mut archive = tar::Archive::new(reader);
    let read_err = |err| FileOpError::io("read archive", path, err);
    let mut extractor = Extractor { name, dest_root, base, owner, stats, dirs: Vec::new() };
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        extractor.entry(&mut entry).map_err(|err| match err {
            // Name the archive, not the host file, when its data is what failed.
            FileOpError::Io { op: "read entry", source, .. } => read_err(source),
            other => other,
        })?;
    }
    // Directories last and innermost first: writing their children changed their mtimes.
    for (dir, mtime) in extractor.dirs.iter().rev() {
        set_times(dir, *mtime, *mtime)?;
    }
    Ok(())
}

struct Extractor<'a> {
    name: &'a str,
    dest_root: &'a Path,
    base: &'a Path,
    owner: Option<(u32, u32)>,
    stats: &'a mut FileOpStats,
    dirs: Vec<(PathBuf, TimeSpec)>,
}

impl Extractor<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let entry_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(parts) = self.clean(&entry.path_bytes(), Escape::Clamp)? else {
            // `./` names the extraction directory itself, which is left as it is.
            return Ok(());
        };
        let header = entry.header().clone();
        // Go's tar reads an empty numeric field as 0; so do we, rather than failing the build.
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let (uid, gid) = match self.owner {
            Some(owner) => owner,
            None => (id(header.uid()), id(header.gid())),
        };
        let mtime = TimeSpec::new(header.mtime().map_or(0, |t| i64::try_from(t).unwrap_or(0)), 0);
        let xattrs = pax_xattrs(entry);

        let (leaf, dirs) = parts.split_last().map_or((OsString::new(), &parts[..0]), |(l, d)| (l.clone(), d));
        let parent = self.resolve(dirs, true, &entry_name, Escape::Clamp)?;
        self.make_parents(&parent)?;
        // A directory entry may name a link to a directory already extracted (BuildKit follows it).
        let target = if kind.is_dir() {
            self.resolve(&parts, true, &entry_name, Escape::Clamp)?
        } else {
            let mut target = parent;
            target.push(leaf);
            target
        };
        let target_host = join(self.base, &target);
        match lstat(&target_host)? {
            Some(meta) if meta.is_dir() && kind.is_dir() => {}
            Some(meta) if meta.is_dir() => {
                fs::remove_dir_all(&target_host).map_err(|err| FileOpError::io("remove", &target_host, err))?
            }
            Some(_) => fs::remove_file(&target_host).map_err(|err| FileOpError::io("remove", &target_host, err))?,
            None => {}
        }

        let target = target_host;
        match kind {
            EntryType::Directory => {
                if lstat(&target)?.is_none() {
                    create_dir(&target)?;
                }
                chown(&target, uid, gid)?;
                set_mode(&target, mode)?;
                set_xattrs(&target, &xattrs);
                self.dirs.push((target, mtime));
                return Ok(());
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|err| FileOpError::io("create", &target, err))?;
                self.stats.bytes +=
                    io::copy(entry, &mut file).map_err(|err| FileOpError::io("read entry", &target, err))?;
            }
            EntryType::Symlink => {
                let link = entry.link_name_bytes().map(|l| OsString::from_vec(l.into_owned())).unwrap_or_default();
                std::os::unix::fs::symlink(&link, &target).map_err(|err| FileOpError::io("symlink", &target, err))?;
                chown(&target, uid, gid)?;
                set_xattrs(&target, &xattrs);
                self.stats.files += 1;
                return set_times(&target, mtime, mtime);
            }
            EntryType::Link => {
                let link = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                let Some(link_parts) = self.clean(&link, Escape::Reject)? else {
                    return Err(self.unsafe_entry(&entry_name));
                };
                let source = join(self.base, &self.resolve(&link_parts, false, &entry_name, Escape::Reject)?);
                fs::hard_link(&source, &target).map_err(|err| FileOpError::io("link", &target, err))?;
                if lstat(&target)?.is_some_and(|meta| meta.file_type().is_symlink()) {
                    self.stats.files += 1;
                    return Ok(());
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let flag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                mknod(&target, flag, Mode::from_bits_truncate(0o600), makedev(major.into(), minor.into()))
                    .map_err(|errno| FileOpError::nix("mknod", &target, errno))?;
            }
            other => {
                return Err(FileOpError::UnsupportedArchiveEntry {
                    archive: self.name.to_owned(),
                    entry: entry_name,
                    kind: other.as_byte(),
                });
            }
        }
        self.stats.files += 1;
        chown(&target, uid, gid)?;
        set_mode(&target, mode)?;
        set_xattrs(&target, &xattrs);
        set_times(&target, mtime, mtime)
    }

    /// An entry or link name as components below `base`, `None` for the base itself. A `..`
    /// that would climb out stays at `base` with [`Escape::Clamp`] (entry names: BuildKit
    /// extracts in a chroot of the destination, so `../x` lands in it as `x`) and is an error
    /// with [`Escape::Reject`] (hard link targets, which must name an entry already there).
    fn clean(&self, raw: &[u8], escape: Escape) -> Result<Option<Vec<OsString>>> {
        let mut parts: Vec<OsString> = Vec::new();
        for part in raw.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() && escape == Escape::Reject {
                        return Err(self.unsafe_entry(&String::from_utf8_lossy(raw)));
                    }
                }
                _ => parts.push(OsString::from_vec(part.to_vec())),
            }
        }
        Ok((!parts.is_empty()).then_some(parts))
    }

    /// Resolves components below `base`, following links already extracted; a link leading out
    /// of `base` stays at `base` with [`Escape::Clamp`] (as in BuildKit's chroot) and is an
    /// error with [`Escape::Reject`].
    fn resolve(&self, parts: &[OsString], follow_last: bool, entry: &str, escape: Escape) -> Result<Vec<OsString>> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let path: PathBuf = parts.iter().collect();
        match resolve_parts(self.base, &path, follow_last, escape) {
            Ok(Some(resolved)) => Ok(resolved),
            Ok(None) => Err(self.unsafe_entry(entry)),
            Err(ResolveError::Loop) => Err(FileOpError::TooManyLinks { path: entry.to_owned() }),
            Err(ResolveError::Io(host, err)) => Err(FileOpError::io("lstat", host, err)),
        }
    }

    /// Creates the directories above an entry that the archive did not list.
    fn make_parents(&self, parent: &[OsString]) -> Result<()> {
        let mut dir = self.base.to_path_buf();
        for part in parent {
            dir.push(part);
            match lstat(&dir)? {
                Some(meta) if meta.is_dir() => {}
                Some(_) => return Err(FileOpError::NotADirectory { path: image_path(self.dest_root, &dir) }),
                None => {
                    create_dir(&dir)?;
                    chown(&dir, 0, 0)?;
                    set_mode(&dir, IMPLIED_DIR_MODE)?;
                }
            }
        }
        Ok(())
    }

    fn unsafe_entry(&self, entry: &str) -> FileOpError {
        FileOpError::UnsafeArchive { archive: self.name.to_owned(), entry: entry.to_owned() }
    }
}

/// A header id as a host id; ids beyond 32 bits cannot exist on Linux and become root's, as a
/// malformed number would be anywhere else.
fn id(value: io::Result<u64>) -> u32 {
    value.ok().and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

/// The `SCHILY.xattr.*` records of an entry's PAX header (how GNU tar and Docker store xattrs).
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Vec<(OsString, Vec<u8>)> {
    let Ok(Some(extensions)) = entry.pax_extensions() else {
        return Vec::new();
    };
    extensions
        .filter_map(Result::ok)
        .filter_map(|ext| {
            let name = ext.key_bytes().strip_prefix(b"SCHILY.xattr.")?;
            Some((OsString::from_vec(name.to_vec()), ext.value_bytes().to_vec()))
        })
        .collect()
}

/// Sets xattrs, ignoring refusals as the copy does (see [`crate::meta::copy_xattrs`]).
fn set_xattrs(path: &Path, xattrs: &[(OsString, Vec<u8>)]) {
    for (name, value) in xattrs {
        let _ = xattr::set(path, name, value);
    }
}

//! Importing an uncompressed OCI layer tar as a layer: OCI whiteouts become overlay whiteouts,
//! metadata is kept, and entries that would reach outside the layer are refused.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use gb_ir::Sha256Digest;
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use crate::error::SnapshotError;
use crate::fsutil::{EntryMeta, OPAQUE_MARKER, WHITEOUT_PREFIX, clean_relative, xattr_travels};
use crate::store::SnapshotStore;
use crate::tree_writer::{NewEntry, TreeWriter};
use gb_cache::LayerId;

/// A layer made from a tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The new layer.
    pub layer: LayerId,
    /// The sha256 of the tar bytes as read (the layer's OCI diff id).
    pub diff_id: Sha256Digest,
    /// The layer's size on disk, as [`SnapshotStore::commit`] counts it.
    pub size: u64,
    /// How many bytes of tar were read.
    pub tar_size: u64,
}

impl SnapshotStore {
    /// Extracts an uncompressed layer tar into a work dir and commits it.
    ///
    /// OCI whiteouts `dir/.wh.name` become overlay whiteouts (character device 0:0 `dir/name`)
    /// and `dir/.wh..wh..opq` marks `dir` opaque (`trusted.overlay.opaque=y`). Hard links,
    /// symlinks, devices, fifos, modes, numeric owners, extended attributes (pax
    /// `SCHILY.xattr.*`, except overlay's own and SELinux labels) and mtimes are kept.
    ///
    /// Nothing is written outside the layer: absolute paths are taken as relative, a path whose
    /// `..` leaves the root is refused, as is an entry below a symlink (`link -> /etc`, then
    /// `link/passwd`) and a hard link to anything but an earlier entry of the archive. A refused
    /// entry fails the whole import and leaves no layer.
    ///
    /// Reading (decompressing) and hashing the stream run on a thread of their own, a few MiB
    /// ahead of the extraction, whose time goes to the kernel creating files: a pulled layer is
    /// unpacked on two cores instead of one.
    pub fn import_tar<R: Read + Send>(&self, reader: R) -> Result<Imported, SnapshotError> {
        let work = self.work_dir()?;
        let (diff_id, tar_size) = std::thread::scope(|scope| {
            let (chunks, receiver) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(READ_AHEAD_CHUNKS);
            let producer = scope.spawn(move || read_ahead(reader, &chunks));
            let mut stream = ChunkReader { receiver, chunk: Vec::new(), at: 0 };
            let extracted = extract_all(work.upper(), &mut stream);
            // Dropping the stream stops the reader thread should the extraction have failed.
            drop(stream);
            let read = producer.join().map_err(|_| tar_read(io::Error::other("the reading thread panicked")))?;
            extracted?;
            read
        })?;
        let (layer, size) = self.commit(work)?;
        Ok(Imported { layer, diff_id, size, tar_size })
    }
}

fn extract<R: Read>(writer: &mut TreeWriter, entry: &mut tar::Entry<'_, R>) -> Result<(), SnapshotError> {
    let raw = entry.path_bytes().into_owned();
    let name = String::from_utf8_lossy(&raw).into_owned();
    let kind = entry.header().entry_type();
    // The tar reader has applied local pax headers and GNU long names to the entries they
    // describe; a global pax header sets defaults that layer tars do not use.
    if kind.is_pax_global_extensions()
        || kind.is_pax_local_extensions()
        || kind.is_gnu_longname()
        || kind.is_gnu_longlink()
    {
        return Ok(());
    }
    let rel = clean_relative(&raw).ok_or_else(|| unsafe_entry(&name, "its path leaves the root"))?;
    let meta = entry_meta(entry, &name)?;
    let file_name = rel.file_name().map(OsStr::as_bytes).unwrap_or_default();
    if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX) {
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        if file_name == OPAQUE_MARKER {
            return writer.mark_opaque(&parent, &name);
        }
        if hidden.starts_with(WHITEOUT_PREFIX) {
            // Other `.wh..wh.` names are aufs bookkeeping (hard-link dirs), meaningless here.
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(unsafe_entry(&name, "a whiteout must name an entry"));
        }
        let meta = EntryMeta { xattrs: Vec::new(), ..meta };
        return writer.create(&parent.join(OsStr::from_bytes(hidden)), &name, NewEntry::Whiteout, &meta);
    }
    let link = entry.link_name_bytes().map(|link| link.into_owned());
    let link_missing = || SnapshotError::UnsupportedEntry { entry: name.clone(), kind: "link without a target".into() };
    let device = || -> Result<(u32, u32), SnapshotError> {
        let header = entry.header();
        let major = header.device_major().map_err(tar_read)?.unwrap_or(0);
        let minor = header.device_minor().map_err(tar_read)?.unwrap_or(0);
        Ok((major, minor))
    };
    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            writer.create(&rel, &name, NewEntry::File(entry), &meta)
        }
        EntryType::Directory => writer.create(&rel, &name, NewEntry::Dir, &meta),
        EntryType::Symlink => {
            let target = link.ok_or_else(link_missing)?;
            writer.create(&rel, &name, NewEntry::Symlink(Path::new(OsStr::from_bytes(&target))), &meta)
        }
        EntryType::Link => {
            let target = link.ok_or_else(link_missing)?;
            let target: PathBuf =
                clean_relative(&target).ok_or_else(|| unsafe_entry(&name, "its hard link target leaves the root"))?;
            writer.create(&rel, &name, NewEntry::HardLink(&target), &meta)
        }
        EntryType::Char => {
            let (major, minor) = device()?;
            writer.create(&rel, &name, NewEntry::CharDevice { major, minor }, &meta)
        }
        EntryType::Block => {
            let (major, minor) = device()?;
            writer.create(&rel, &name, NewEntry::BlockDevice { major, minor }, &meta)
        }
        EntryType::Fifo => writer.create(&rel, &name, NewEntry::Fifo, &meta),
        other => Err(SnapshotError::UnsupportedEntry { entry: name, kind: format!("{other:?}") }),
    }
}

/// The entry's owner, mode, mtime and extended attributes, pax records taking precedence over
/// the header's fields (they carry ids over 2^21, sub-second and negative times).
fn entry_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<EntryMeta, SnapshotError> {
    let header = entry.header();
    let mode = header.mode().map_err(tar_read)?;
    let mut uid = header.uid().map_err(tar_read)?;
    let mut gid = header.gid().map_err(tar_read)?;
    let mut mtime = (i64::try_from(header.mtime().map_err(tar_read)?).unwrap_or(i64::MAX), 0);
    let mut xattrs = Vec::new();
    if let Some(extensions) = entry.pax_extensions().map_err(tar_read)? {
        for extension in extensions {
            let extension = extension.map_err(tar_read)?;
            let value = extension.value_bytes();
            match extension.key_bytes() {
                b"uid" => uid = parse_decimal(value).unwrap_or(uid),
                b"gid" => gid = parse_decimal(value).unwrap_or(gid),
                b"mtime" => mtime = parse_pax_time(value).unwrap_or(mtime),
                key => {
                    if let Some(attr) = key.strip_prefix(b"SCHILY.xattr.") {
                        let attr = OsString::from_vec(attr.to_vec());
                        if xattr_travels(&attr) {
                            xattrs.push((attr, value.to_vec()));
                        }
                    }
                }
            }
        }
    }
    let id = |id: u64| u32::try_from(id).map_err(|_| unsafe_entry(name, "its owner or group id exceeds 32 bits"));
    Ok(EntryMeta { mode: mode & 0o7777, uid: id(uid)?, gid: id(gid)?, mtime_sec: mtime.0, mtime_nsec: mtime.1, xattrs })
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A pax time, `[-]seconds[.fraction]`, as seconds and nanoseconds (rounded towards the past,
/// as `utimensat` wants a non-negative nanosecond part).
fn parse_pax_time(value: &[u8]) -> Option<(i64, u32)> {
    let text = std::str::from_utf8(value).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut sec: i64 = whole.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
    let mut nsec: u32 = digits.parse().ok()?;
    if whole.starts_with('-') && nsec > 0 {
        sec -= 1;
        nsec = 1_000_000_000 - nsec;
    }
    Some((sec, nsec))
}

fn tar_read(source: io::Error) -> SnapshotError {
    SnapshotError::TarRead { source }
}

fn unsafe_entry(name: &str, reason: &'static str) -> SnapshotError {
    SnapshotError::UnsafeEntry { entry: name.to_owned(), reason }
}

/// Hashes and counts the bytes read through it.
/// How many chunks the reading thread may be ahead of the extraction.
const READ_AHEAD_CHUNKS: usize = 8;
/// The size of a chunk the reading thread hands over.
const CHUNK_BYTES: usize = 1 << 20;

/// Extracts every entry of the tar `stream` into `root`, then reads the stream to its end: the
/// diff id covers the end-of-archive blocks and any padding after them, which the tar reader
/// stops short of.
fn extract_all(root: &Path, stream: &mut ChunkReader) -> Result<(), SnapshotError> {
    let mut writer = TreeWriter::new(root);
    for entry in tar::Archive::new(&mut *stream).entries().map_err(tar_read)? {
        extract(&mut writer, &mut entry.map_err(tar_read)?)?;
    }
    io::copy(stream, &mut io::sink()).map_err(tar_read)?;
    writer.finish()
}

/// Reads `reader` to its end in chunks, hashing them, and hands them over; returns the
/// stream's sha256 (the layer's diff id) and length. Stops early when the receiver is gone.
fn read_ahead(
    mut reader: impl Read,
    chunks: &std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
) -> Result<(Sha256Digest, u64), SnapshotError> {
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let mut chunk = vec![0u8; CHUNK_BYTES];
        let filled = match fill(&mut reader, &mut chunk) {
            Ok(filled) => filled,
            Err(error) => {
                let message = error.to_string();
                let _ = chunks.send(Err(error));
                return Err(tar_read(io::Error::other(message)));
            }
        };
        if filled == 0 {
            return Ok((Sha256Digest::from_bytes(hasher.finalize().into()), bytes));
        }
        chunk.truncate(filled);
        hasher.update(&chunk);
        bytes += filled as u64;
        if chunks.send(Ok(chunk)).is_err() {
            return Err(tar_read(io::Error::other("the extraction stopped")));
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The extraction's side of the read-ahead: the chunks as one stream.
struct ChunkReader {
    receiver: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => (self.chunk, self.at) = (chunk, 0),
                Ok(Err(error)) => return Err(error),
                // The reader thread is done: the end of the stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse() {
        assert_eq!(parse_pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(parse_pax_time(b"1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(parse_pax_time(b"1.123456789999"), Some((1, 123_456_789)));
        assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time(b"x"), None);
    }
}

//! [`TarWriter`]: deterministic tar output. Headers hold only what the files hold (mode, numeric
//! owner, mtime in seconds, no user or group names), ustar where the values fit and pax records
//! where they do not (long names, large ids and sizes, extended attributes).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use tar::{EntryType, Header};

use crate::error::SnapshotError;
use crate::fsutil::{EntryMeta, device_numbers, read_xattrs};

/// The largest value of an 8-byte octal header field (uid, gid, mode).
const MAX_OCTAL_8: u64 = 0o7777777;
/// The largest value of a 12-byte octal header field (size, mtime).
const MAX_OCTAL_12: u64 = 0o77777777777;

/// Writes tar entries from files, hard links between entries of the same inode included.
///
/// **Invariant:** the bytes written depend only on the entries given, in the order given, and
/// the files' content and metadata (never on the time, the user database or the walk order).
pub(crate) struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    /// (device, inode) of multiply linked regular files already written, to their entry names.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// The latest mtime an entry may carry (later ones are lowered to it).
    clamp_mtime: Option<i64>,
    /// The mtime every entry carries, whatever its file's.
    set_mtime: Option<i64>,
}

/// One entry's header fields.
struct Fields {
    name: Vec<u8>,
    kind: EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    size: u64,
    link: Option<Vec<u8>>,
    device: Option<(u32, u32)>,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(writer: W) -> Self {
        TarWriter { builder: tar::Builder::new(writer), links: HashMap::new(), clamp_mtime: None, set_mtime: None }
    }

    /// Lowers every entry's mtime that is later than `clamp` to `clamp` (`None`: times as they are).
    pub(crate) fn clamp_mtime(mut self, clamp: Option<i64>) -> Self {
        self.clamp_mtime = clamp;
        self
    }

    /// Gives every entry the mtime `mtime` (`None`: times as they are).
    pub(crate) fn set_mtime(mut self, mtime: Option<i64>) -> Self {
        self.set_mtime = mtime;
        self
    }

    /// Appends the file at `abs`, with metadata `meta`, as the entry `rel`. Sockets are skipped
    /// (a tar cannot hold one); a regular file whose inode was written before becomes a hard
    /// link to that entry.
    pub(crate) fn append_path(&mut self, abs: &Path, rel: &Path, meta: &Metadata) -> Result<(), SnapshotError> {
        let file_type = meta.file_type();
        let mut name = rel.as_os_str().as_bytes().to_vec();
        let mut fields = Fields {
            name: Vec::new(),
            kind: EntryType::Regular,
            mode: meta.mode() & 0o7777,
            uid: meta.uid().into(),
            gid: meta.gid().into(),
            mtime: meta.mtime(),
            size: 0,
            link: None,
            device: None,
            xattrs: read_xattrs(abs)?,
        };
        let mut body = None;
        if file_type.is_dir() {
            name.push(b'/');
            fields.kind = EntryType::Directory;
        } else if file_type.is_symlink() {
            fields.kind = EntryType::Symlink;
            let target = std::fs::read_link(abs).map_err(SnapshotError::io("read symlink", abs))?;
            fields.link = Some(target.as_os_str().as_bytes().to_vec());
        } else if file_type.is_file() {
            let first = (meta.nlink() > 1).then(|| self.links.get(&(meta.dev(), meta.ino())).cloned()).flatten();
            if let Some(first) = first {
                fields.kind = EntryType::Link;
                fields.link = Some(first);
                // The attributes belong to the inode, already described by the first entry.
                fields.xattrs.clear();
            } else {
                if meta.nlink() > 1 {
                    self.links.insert((meta.dev(), meta.ino()), name.clone());
                }
                fields.size = meta.len();
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(abs)
                    .map_err(SnapshotError::io("open", abs))?;
                body = Some(file);
            }
        } else if file_type.is_char_device() || file_type.is_block_device() {
            fields.kind = if file_type.is_char_device() { EntryType::Char } else { EntryType::Block };
            fields.device = Some(device_numbers(meta));
        } else if file_type.is_fifo() {
            fields.kind = EntryType::Fifo;
        } else {
            return Ok(());
        }
        fields.name = name;
        self.write(fields, body, rel)
    }

    /// Appends an empty regular file `name` (an OCI whiteout or opaque marker).
    pub(crate) fn append_marker(&mut self, name: &Path, meta: &EntryMeta) -> Result<(), SnapshotError> {
        let fields = Fields {
            name: name.as_os_str().as_bytes().to_vec(),
            kind: EntryType::Regular,
            mode: meta.mode,
            uid: meta.uid.into(),
            gid: meta.gid.into(),
            mtime: meta.mtime_sec,
            size: 0,
            link: None,
            device: None,
            xattrs: Vec::new(),
        };
        self.write(fields, None, name)
    }

    /// Writes the end-of-archive blocks and returns the writer.
    pub(crate) fn finish(self) -> Result<W, SnapshotError> {
        self.builder.into_inner().map_err(|source| SnapshotError::TarWrite { path: "end of archive".into(), source })
    }

    fn write(&mut self, mut fields: Fields, body: Option<File>, rel: &Path) -> Result<(), SnapshotError> {
        let err = |source| SnapshotError::TarWrite { path: rel.to_path_buf(), source };
        if let Some(clamp) = self.clamp_mtime {
            fields.mtime = fields.mtime.min(clamp);
        }
        if let Some(mtime) = self.set_mtime {
            fields.mtime = mtime;
        }
        let mut pax = Vec::new();
        let mut header = Header::new_ustar();
        let ustar = header.as_ustar_mut().ok_or_else(|| err(io::Error::other("not a ustar header")))?;
        if !set_name(&mut ustar.name, &mut ustar.prefix, &fields.name) {
            pax_record(&mut pax, b"path", &fields.name);
        }
        if let Some(link) = &fields.link
            && !copy_field(&mut ustar.linkname, link)
        {
            pax_record(&mut pax, b"linkpath", link);
        }
        for (key, value) in [(&b"uid"[..], fields.uid), (b"gid", fields.gid)] {
            if value > MAX_OCTAL_8 {
                pax_record(&mut pax, key, value.to_string().as_bytes());
            }
        }
        if fields.size > MAX_OCTAL_12 {
            pax_record(&mut pax, b"size", fields.size.to_string().as_bytes());
        }
        let mtime = u64::try_from(fields.mtime).unwrap_or(0).min(MAX_OCTAL_12);
        if i128::from(mtime) != i128::from(fields.mtime) {
            pax_record(&mut pax, b"mtime", fields.mtime.to_string().as_bytes());
        }
        for (name, value) in &fields.xattrs {
            let key = [b"SCHILY.xattr.", name.as_bytes()].concat();
            pax_record(&mut pax, &key, value);
        }
        header.set_entry_type(fields.kind);
        header.set_mode(fields.mode);
        header.set_uid(fields.uid);
        header.set_gid(fields.gid);
        header.set_mtime(mtime);
        header.set_size(fields.size);
        if let Some((major, minor)) = fields.device {
            header.set_device_major(major).map_err(err)?;
            header.set_device_minor(minor).map_err(err)?;
        }
        header.set_cksum();
        if !pax.is_empty() {
            let mut pax_header = Header::new_ustar();
            let base = fields.name.rsplit(|&b| b == b'/').find(|part| !part.is_empty()).unwrap_or_default();
            let pax_name = [b"PaxHeaders.0/", base].concat();
            if let Some(ustar) = pax_header.as_ustar_mut() {
                copy_field(&mut ustar.name, &pax_name);
            }
            pax_header.set_entry_type(EntryType::XHeader);
            pax_header.set_mode(0o644);
            pax_header.set_uid(0);
            pax_header.set_gid(0);
            pax_header.set_mtime(mtime);
            pax_header.set_size(pax.len() as u64);
            pax_header.set_cksum();
            self.builder.append(&pax_header, pax.as_slice()).map_err(err)?;
        }
        match body {
            None => self.builder.append(&header, io::empty()).map_err(err),
            Some(file) => {
                // The header promised `size` bytes; a file that changed meanwhile must not
                // produce a corrupt archive.
                let mut counted = Counted { inner: file.take(fields.size), bytes: 0 };
                self.builder.append(&header, &mut counted).map_err(err)?;
                if counted.bytes != fields.size {
                    return Err(err(io::Error::other("the file changed size while it was archived")));
                }
                Ok(())
            }
        }
    }
}

/// Writes `name` into the ustar name field, splitting it at a `/` into prefix and name when it
/// is longer than 100 bytes. False when it fits neither way; the field then holds a truncated
/// name and a pax `path` record carries the whole.
fn set_name(field: &mut [u8; 100], prefix: &mut [u8; 155], name: &[u8]) -> bool {
    if copy_field(field, name) {
        return true;
    }
    let split = name.iter().enumerate().position(|(at, &b)| {
        b == b'/' && at > 0 && at <= prefix.len() && name.len() - at - 1 <= field.len() && name[at + 1..] != *b"/"
    });
    if let Some(at) = split {
        copy_field(prefix, &name[..at]);
        copy_field(field, &name[at + 1..]);
        return true;
    }
    false
}

/// Copies `value` into a NUL-padded header field; false (and a truncated copy) if too long.
fn copy_field(field: &mut [u8], value: &[u8]) -> bool {
    let len = value.len().min(field.len());
    field[..len].copy_from_slice(&value[..len]);
    field[len..].fill(0);
    value.len() <= field.len()
}

/// Appends a pax record, `<length> <key>=<value>\n`, where the length counts itself.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let digits = |n: usize| n.to_string().len();
    let mut len = base + digits(base);
    while base + digits(len) != len {
        len = base + digits(len);
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let mut out = Vec::new();
        pax_record(&mut out, b"path", b"a");
        assert_eq!(out, b"9 path=a\n");
        let mut out = Vec::new();
        pax_record(&mut out, b"path", &[b'x'; 91]);
        assert_eq!(out.len(), 101);
        assert!(out.starts_with(b"101 path="));
    }

    #[test]
    fn long_names_split_or_fall_back_to_pax() {
        let (mut name, mut prefix) = ([0; 100], [0; 155]);
        let long = [&[b'a'; 120][..], b"/", &[b'b'; 90]].concat();
        assert!(set_name(&mut name, &mut prefix, &long));
        assert_eq!(&prefix[..120], &[b'a'; 120][..]);
        assert_eq!(&name[..90], &[b'b'; 90][..]);
        assert!(!set_name(&mut name, &mut prefix, &[b'c'; 300]));
    }
}

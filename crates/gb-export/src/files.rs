//! The files of an archive being loaded, from a directory or a tar (plain or compressed), by
//! their relative names.
//!
//! A tar is read once, front to back: small files (documents) are kept in memory, larger ones
//! (layers) stream into the content store as they go by, verified against their names when
//! those are digests (`blobs/sha256/<hex>`). Names that come from documents inside the archive
//! are cleaned first, so none reaches outside it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use gb_ir::Sha256Digest;

use crate::context::ExportContext;
use crate::error::ExportError;

/// Files up to this size are kept in memory while a tar is read.
const SMALL_FILE: u64 = 1 << 20;
/// How many links a name may go through.
const MAX_LINK_HOPS: usize = 8;

/// An archive's files.
pub(crate) struct ArchiveFiles {
    path: PathBuf,
    kind: Kind,
}

enum Kind {
    Dir,
    Tar {
        small: HashMap<String, Vec<u8>>,
        stored: HashMap<String, (Sha256Digest, u64)>,
        links: HashMap<String, String>,
    },
}

impl ArchiveFiles {
    /// The files of the directory or tar at `path`. A tar's large files are stored in the
    /// content store now (see the module docs).
    pub(crate) fn open(ctx: &ExportContext, path: &Path) -> Result<Self, ExportError> {
        let meta = fs::metadata(path).map_err(ExportError::io("inspect", path))?;
        if meta.is_dir() {
            return Ok(ArchiveFiles { path: path.to_path_buf(), kind: Kind::Dir });
        }
        let file = File::open(path).map_err(ExportError::io("open", path))?;
        let (mut small, mut stored, mut links) = (HashMap::new(), HashMap::new(), HashMap::new());
        // A compressed archive (gzip, bzip2, xz, zstd) loads as docker loads it.
        let file =
            gb_ops::decompress_stream(BufReader::new(file)).map_err(ExportError::io("read the archive", path))?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let entries = archive.entries().map_err(ExportError::io("read the archive", path))?;
        for entry in entries {
            let mut entry = entry.map_err(ExportError::io("read the archive", path))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean(&raw) else { continue };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                let size = entry.size();
                links.remove(&name);
                if size <= SMALL_FILE {
                    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                    entry.read_to_end(&mut bytes).map_err(ExportError::io("read the archive", path))?;
                    stored.remove(&name);
                    small.insert(name, bytes);
                } else {
                    let expected = digest_name(&name);
                    let mut writer = ctx.content.writer().map_err(ExportError::store(format!("store {name}")))?;
                    io::copy(&mut entry, &mut writer).map_err(ExportError::io("read the archive", path))?;
                    let blob = writer.commit(expected.as_ref()).map_err(|error| mismatch(path, &name, error))?;
                    small.remove(&name);
                    stored.insert(name, blob);
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target =
                    entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                // A symlink's target is relative to its directory, a hard link's to the root.
                let target = if kind.is_symlink() && !target.starts_with('/') {
                    let parent = name.rsplit_once('/').map_or("", |(parent, _)| parent);
                    clean(&format!("{parent}/{target}"))
                } else {
                    clean(&target)
                };
                if let Some(target) = target {
                    links.insert(name, target);
                }
            }
        }
        Ok(ArchiveFiles { path: path.to_path_buf(), kind: Kind::Tar { small, stored, links } })
    }

    /// The archive's path, for messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the archive has a file `name`.
    pub(crate) fn exists(&self, name: &str) -> bool {
        let Some(name) = clean(name) else { return false };
        match &self.kind {
            Kind::Dir => self.path.join(&name).is_file(),
            Kind::Tar { small, stored, .. } => {
                let name = self.resolve(&name);
                small.contains_key(&name) || stored.contains_key(&name)
            }
        }
    }

    /// The content of file `name` (a document: index, manifest, config).
    pub(crate) fn read(&self, ctx: &ExportContext, name: &str) -> Result<Vec<u8>, ExportError> {
        let clean_name = self.checked(name)?;
        match &self.kind {
            Kind::Dir => {
                let path = self.path.join(&clean_name);
                fs::read(&path).map_err(|error| self.missing_or_io(name, &path, error))
            }
            Kind::Tar { small, stored, .. } => {
                let resolved = self.resolve(&clean_name);
                if let Some(bytes) = small.get(&resolved) {
                    return Ok(bytes.clone());
                }
                match stored.get(&resolved) {
                    Some((digest, _)) => ctx.content.read(digest).map_err(ExportError::store(format!("read {name}"))),
                    None => Err(self.missing(name)),
                }
            }
        }
    }

    /// Puts file `name` into the content store (checking it against `expected` when given) and
    /// returns its digest and size.
    pub(crate) fn store(
        &self,
        ctx: &ExportContext,
        name: &str,
        expected: Option<&Sha256Digest>,
    ) -> Result<(Sha256Digest, u64), ExportError> {
        let clean_name = self.checked(name)?;
        let check = |actual: Sha256Digest| match expected {
            Some(expected) if *expected != actual => Err(ExportError::DigestMismatch {
                what: format!("{name} in {}", self.path.display()),
                expected: *expected,
                actual,
            }),
            _ => Ok(()),
        };
        match &self.kind {
            Kind::Dir => {
                let path = self.path.join(&clean_name);
                let mut file = File::open(&path).map_err(|error| self.missing_or_io(name, &path, error))?;
                let mut writer = ctx.content.writer().map_err(ExportError::store(format!("store {name}")))?;
                io::copy(&mut file, &mut writer).map_err(ExportError::io("read", &path))?;
                writer.commit(expected).map_err(|error| mismatch(&self.path, name, error))
            }
            Kind::Tar { small, stored, .. } => {
                let resolved = self.resolve(&clean_name);
                if let Some(bytes) = small.get(&resolved) {
                    check(Sha256Digest::of(bytes))?;
                    let digest = ctx.content.put_bytes(bytes).map_err(ExportError::store(format!("store {name}")))?;
                    return Ok((digest, bytes.len() as u64));
                }
                let (digest, size) = *stored.get(&resolved).ok_or_else(|| self.missing(name))?;
                check(digest)?;
                Ok((digest, size))
            }
        }
    }

    fn checked(&self, name: &str) -> Result<String, ExportError> {
        clean(name).ok_or_else(|| ExportError::InvalidArchive {
            path: self.path.clone(),
            reason: format!("`{name}` is not a path inside the archive"),
        })
    }

    /// `name` after following the tar's links.
    fn resolve(&self, name: &str) -> String {
        let Kind::Tar { links, .. } = &self.kind else { return name.to_owned() };
        let mut name = name.to_owned();
        for _ in 0..MAX_LINK_HOPS {
            match links.get(&name) {
                Some(target) => name = target.clone(),
                None => break,
            }
        }
        name
    }

    fn missing(&self, name: &str) -> ExportError {
        ExportError::InvalidArchive { path: self.path.clone(), reason: format!("it has no file {name}") }
    }

    fn missing_or_io(&self, name: &str, path: &Path, error: io::Error) -> ExportError {
        if error.kind() == io::ErrorKind::NotFound { self.missing(name) } else { ExportError::io("read", path)(error) }
    }
}

/// The path of a blob in an OCI layout.
pub(crate) fn blob_path(digest: &Sha256Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The digest a layout names a blob file by, if `name` is `blobs/sha256/<hex>`.
fn digest_name(name: &str) -> Option<Sha256Digest> {
    format!("sha256:{}", name.strip_prefix("blobs/sha256/")?).parse().ok()
}

/// A content-store failure while storing `name`: a digest mismatch names the file.
fn mismatch(path: &Path, name: &str, error: gb_cache::CacheError) -> ExportError {
    match error {
        gb_cache::CacheError::DigestMismatch { expected, actual } => {
            ExportError::DigestMismatch { what: format!("{name} in {}", path.display()), expected, actual }
        }
        other => ExportError::store(format!("store {name}"))(other),
    }
}

/// `name` as a clean relative path (`a/b`): `.` and empty components dropped, a leading `/`
/// ignored; `None` for `..` or nothing at all.
pub(crate) fn clean(name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_kept_inside() {
        assert_eq!(clean("./blobs//sha256/ab").as_deref(), Some("blobs/sha256/ab"));
        assert_eq!(clean("/manifest.json").as_deref(), Some("manifest.json"));
        assert_eq!(clean("../etc/passwd"), None);
        assert_eq!(clean("a/../../b"), None);
        assert_eq!(clean("./"), None);
        let digest = Sha256Digest::of(b"x");
        assert_eq!(digest_name(&blob_path(&digest)), Some(digest));
        assert_eq!(digest_name("blobs/sha256/nothex"), None);
    }
}

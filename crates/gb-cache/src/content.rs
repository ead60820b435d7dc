//! The content-addressed blob store at `ROOT/content/sha256/<hex>`: layer tarballs, configs,
//! manifests.
//!
//! A blob is written to a temporary file under `ROOT/tmp/` (wiped at start, see
//! `docs/engine.md`), hashed while it is written, fsynced, and renamed into place, so a blob
//! path either does not exist or holds exactly the content its name promises.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use gb_ir::Sha256Digest;
use sha2::{Digest as _, Sha256};

use crate::error::CacheError;
use crate::ids::random_bytes;

/// The content-addressed blob store.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    /// Opens the store under the state root `root`, creating its directory if needed.
    pub fn open(root: &Path) -> Result<Self, CacheError> {
        let blobs = root.join("content").join("sha256");
        fs::create_dir_all(&blobs).map_err(CacheError::io("create", &blobs))?;
        Ok(Self { blobs, tmp: root.join("tmp") })
    }

    /// Where the blob with `digest` is (or would be).
    pub fn path(&self, digest: &Sha256Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &Sha256Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Stores `bytes` and returns their digest; a blob that is already present is not rewritten.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Sha256Digest, CacheError> {
        let digest = Sha256Digest::of(bytes);
        if self.contains(&digest) {
            return Ok(digest);
        }
        let mut writer = self.writer()?;
        writer.write_all(bytes).map_err(CacheError::io("write", &writer.tmp_path))?;
        writer.commit(Some(&digest))?;
        Ok(digest)
    }

    /// A writer for a blob whose digest is known only once it is written (a download, a tarball
    /// being produced). Nothing is visible in the store until [`BlobWriter::commit`].
    pub fn writer(&self) -> Result<BlobWriter, CacheError> {
        // Created here rather than in `open`: `ROOT/tmp/` may be wiped after the store was opened.
        fs::create_dir_all(&self.tmp).map_err(CacheError::io("create", &self.tmp))?;
        let tmp_path = self.tmp.join(format!("blob-{}", hex::encode(random_bytes())));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(CacheError::io("create", &tmp_path))?;
        Ok(BlobWriter {
            file: BufWriter::new(file),
            tmp_path,
            blobs: self.blobs.clone(),
            hasher: Sha256::new(),
            size: 0,
            committed: false,
        })
    }

    /// Every blob, with the bytes it takes (a name that is no digest is not a blob).
    pub fn blobs(&self) -> Vec<(Sha256Digest, u64)> {
        let entries = fs::read_dir(&self.blobs).into_iter().flatten().flatten();
        entries
            .filter_map(|entry| {
                let digest = format!("sha256:{}", entry.file_name().to_str()?).parse::<Sha256Digest>().ok()?;
                Some((digest, entry.metadata().map_or(0, |meta| meta.len())))
            })
            .collect()
    }

    /// The bytes every blob takes.
    pub fn disk_usage(&self) -> u64 {
        let entries = fs::read_dir(&self.blobs).into_iter().flatten().flatten();
        entries.filter_map(|entry| entry.metadata().ok()).map(|meta| meta.len()).sum()
    }

    /// The blob's content.
    pub fn read(&self, digest: &Sha256Digest) -> Result<Vec<u8>, CacheError> {
        let path = self.path(digest);
        fs::read(&path).map_err(|source| missing_or_io(digest, "read", path, source))
    }

    /// The blob opened for reading, for content too large to hold in memory.
    pub fn open_blob(&self, digest: &Sha256Digest) -> Result<File, CacheError> {
        let path = self.path(digest);
        File::open(&path).map_err(|source| missing_or_io(digest, "open", path, source))
    }

    /// The blob's size in bytes.
    pub fn size(&self, digest: &Sha256Digest) -> Result<u64, CacheError> {
        let path = self.path(digest);
        fs::metadata(&path).map(|metadata| metadata.len()).map_err(|source| missing_or_io(digest, "stat", path, source))
    }

    /// Deletes the blob (no error if it is absent); for prune.
    pub fn remove(&self, digest: &Sha256Digest) -> Result<(), CacheError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(CacheError::io("remove", path)(error)),
            _ => Ok(()),
        }
    }
}

/// A blob that is not there is [`CacheError::MissingBlob`], so callers can fetch it again.
fn missing_or_io(digest: &Sha256Digest, action: &'static str, path: PathBuf, source: io::Error) -> CacheError {
    if source.kind() == io::ErrorKind::NotFound {
        CacheError::MissingBlob { digest: *digest, path }
    } else {
        CacheError::Io { action, path, source }
    }
}

/// A blob being written: hashes what passes through it. Dropping it without
/// [`BlobWriter::commit`] removes the temporary file.
#[derive(Debug)]
pub struct BlobWriter {
    file: BufWriter<File>,
    tmp_path: PathBuf,
    blobs: PathBuf,
    hasher: Sha256,
    size: u64,
    committed: bool,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.size
    }

    /// Finishes the blob: checks it against `expected` (when given), makes it durable, and moves
    /// it into the store. Returns its digest and size. On a mismatch nothing is stored.
    pub fn commit(mut self, expected: Option<&Sha256Digest>) -> Result<(Sha256Digest, u64), CacheError> {
        let actual = Sha256Digest::from_bytes(std::mem::take(&mut self.hasher).finalize().into());
        if let Some(expected) = expected.filter(|expected| **expected != actual) {
            return Err(CacheError::DigestMismatch { expected: *expected, actual });
        }
        self.file.flush().map_err(CacheError::io("write", &self.tmp_path))?;
        self.file.get_ref().sync_all().map_err(CacheError::io("fsync", &self.tmp_path))?;
        let path = self.blobs.join(actual.hex());
        fs::rename(&self.tmp_path, &path).map_err(CacheError::io("rename into place", &path))?;
        self.committed = true;
        // The rename is durable only once the directory entry is on disk; records that name this
        // blob are synced right after, and must not outlive it in a crash.
        File::open(&self.blobs).and_then(|dir| dir.sync_all()).map_err(CacheError::io("fsync", &self.blobs))?;
        Ok((actual, self.size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: whatever is left is in `ROOT/tmp/`, which is wiped at the next start.
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_entries(root: &Path) -> usize {
        fs::read_dir(root.join("tmp")).map_or(0, |entries| entries.count())
    }

    #[test]
    fn put_then_read() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(root.path()).expect("open");
        let digest = store.put_bytes(b"hello").expect("put");
        assert_eq!(digest, Sha256Digest::of(b"hello"));
        assert!(store.contains(&digest));
        assert_eq!(store.path(&digest), root.path().join("content/sha256").join(digest.hex()));
        assert_eq!(store.read(&digest).expect("read"), b"hello");
        assert_eq!(store.size(&digest).expect("size"), 5);
        assert_eq!(store.put_bytes(b"hello").expect("put again"), digest);
        assert_eq!(tmp_entries(root.path()), 0);
    }

    #[test]
    fn missing_blobs_are_reported_as_missing() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(root.path()).expect("open");
        let digest = Sha256Digest::of(b"absent");
        assert!(!store.contains(&digest));
        assert!(matches!(store.read(&digest), Err(CacheError::MissingBlob { .. })));
        assert!(matches!(store.size(&digest), Err(CacheError::MissingBlob { .. })));
        store.remove(&digest).expect("removing an absent blob is fine");
    }

    #[test]
    fn writer_commits_what_was_written() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(root.path()).expect("open");
        let mut writer = store.writer().expect("writer");
        writer.write_all(b"layer ").expect("write");
        writer.write_all(b"bytes").expect("write");
        assert_eq!(writer.written(), 11);
        let expected = Sha256Digest::of(b"layer bytes");
        assert_eq!(writer.commit(Some(&expected)).expect("commit"), (expected, 11));
        assert_eq!(store.read(&expected).expect("read"), b"layer bytes");
        assert_eq!(tmp_entries(root.path()), 0);
    }

    #[test]
    fn a_wrong_expected_digest_fails_and_leaves_nothing_behind() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(root.path()).expect("open");
        let mut writer = store.writer().expect("writer");
        writer.write_all(b"tampered").expect("write");
        let promised = Sha256Digest::of(b"original");
        let error = writer.commit(Some(&promised)).expect_err("mismatch");
        match error {
            CacheError::DigestMismatch { expected, actual } => {
                assert_eq!(expected, promised);
                assert_eq!(actual, Sha256Digest::of(b"tampered"));
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(!store.contains(&promised));
        assert!(!store.contains(&Sha256Digest::of(b"tampered")));
        assert_eq!(tmp_entries(root.path()), 0);
        assert_eq!(fs::read_dir(root.path().join("content/sha256")).expect("list").count(), 0);
    }

    #[test]
    fn a_dropped_writer_leaves_no_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = ContentStore::open(root.path()).expect("open");
        let mut writer = store.writer().expect("writer");
        writer.write_all(b"half a download").expect("write");
        assert_eq!(tmp_entries(root.path()), 1);
        drop(writer);
        assert_eq!(tmp_entries(root.path()), 0);
        assert_eq!(fs::read_dir(root.path().join("content/sha256")).expect("list").count(), 0);
    }
}

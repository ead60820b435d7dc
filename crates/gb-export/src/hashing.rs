//! Readers and writers that hash and count the bytes passing through them, so digests are
//! computed while streaming instead of in a second pass.

use std::io::{self, Read, Write};

use gb_ir::Sha256Digest;
use sha2::{Digest as _, Sha256};

/// Hashes what is written through it (a layer tar on its way into a compressor: its diff id).
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new() }
    }

    /// The inner writer and the digest of everything written.
    pub(crate) fn finish(self) -> (W, Sha256Digest) {
        (self.inner, Sha256Digest::from_bytes(self.hasher.finalize().into()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes and counts what is read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// The digest and the count of everything read so far.
    pub(crate) fn finish(self) -> (Sha256Digest, u64) {
        (Sha256Digest::from_bytes(self.hasher.finalize().into()), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

//! Deterministic output archives: entries sorted by name, ustar headers with mode 0644 (0755
//! for directories), owner 0:0, mtime 0 and no user names, so the same images always give the
//! same archive bytes. Written through an [`OutputFile`], so a failed export never leaves a
//! truncated archive under the destination's name.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use gb_ir::Sha256Digest;

use crate::compression::Compression;
use crate::context::ExportContext;
use crate::error::ExportError;
use crate::hashing::HashingReader;
use crate::output::OutputFile;

/// What an archive entry holds.
pub(crate) enum Body {
    /// A directory.
    Dir,
    /// A small file (index, manifest list).
    Bytes(Vec<u8>),
    /// A blob of the content store, as stored.
    Blob(Sha256Digest),
    /// A layer blob decompressed, `size` bytes whose sha256 is `diff_id`.
    Decompressed { blob: Sha256Digest, compression: Compression, diff_id: Sha256Digest, size: u64 },
}

/// Writes `entries` (in their map order, which is byte order of the names) as a tar at `dest`,
/// through an [`OutputFile`] (whole or not at all, a device written in place).
pub(crate) fn write_tar(ctx: &ExportContext, dest: &Path, entries: &BTreeMap<String, Body>) -> Result<(), ExportError> {
    let mut out = OutputFile::create(dest)?;
    write_entries(ctx, &mut out, dest, entries)?;
    out.persist()
}

fn write_entries(
    ctx: &ExportContext,
    out: &mut OutputFile,
    dest: &Path,
    entries: &BTreeMap<String, Body>,
) -> Result<(), ExportError> {
    let mut builder = tar::Builder::new(BufWriter::new(out));
    let result: Result<(), ExportError> = entries.iter().try_for_each(|(name, body)| match body {
        Body::Dir => append_entry(&mut builder, name, tar::EntryType::Directory, 0, &mut io::empty())
            .map_err(ExportError::io("write", dest)),
        Body::Bytes(bytes) => {
            append_entry(&mut builder, name, tar::EntryType::Regular, bytes.len() as u64, &mut bytes.as_slice())
                .map_err(ExportError::io("write", dest))
        }
        Body::Blob(digest) => {
            let size = ctx.content.size(digest).map_err(ExportError::store(format!("read blob {digest}")))?;
            let blob = ctx.content.open_blob(digest).map_err(ExportError::store(format!("read blob {digest}")))?;
            let mut counted = HashingReader::new(blob.take(size));
            append_entry(&mut builder, name, tar::EntryType::Regular, size, &mut counted)
                .map_err(ExportError::io("write", dest))?;
            check(&format!("blob {digest}"), counted, *digest, size)
        }
        Body::Decompressed { blob, compression, diff_id, size } => {
            let mut layer = HashingReader::new(decompressed(ctx, blob, *compression)?.take(*size));
            append_entry(&mut builder, name, tar::EntryType::Regular, *size, &mut layer)
                .map_err(ExportError::io("write", dest))?;
            check(&format!("the uncompressed layer of blob {blob}"), layer, *diff_id, *size)
        }
    });
    result?;
    let mut writer = builder.into_inner().map_err(ExportError::io("write", dest))?;
    writer.flush().map_err(ExportError::io("write", dest))
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    kind: tar::EntryType,
    size: u64,
    data: &mut dyn Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    builder.append_data(&mut header, name, data)
}

/// A layer blob's uncompressed stream.
pub(crate) fn decompressed<'a>(
    ctx: &ExportContext,
    blob: &Sha256Digest,
    compression: Compression,
) -> Result<Box<dyn Read + Send + 'a>, ExportError> {
    let file = ctx.content.open_blob(blob).map_err(ExportError::store(format!("read layer blob {blob}")))?;
    compression.decoder(io::BufReader::new(file)).map_err(|source| ExportError::Io {
        action: "decompress",
        path: ctx.content.path(blob),
        source,
    })
}

/// The digest and size of a layer blob's uncompressed stream, checked against `diff_id`.
pub(crate) fn uncompressed_size(
    ctx: &ExportContext,
    blob: &Sha256Digest,
    compression: Compression,
    diff_id: &Sha256Digest,
) -> Result<u64, ExportError> {
    let mut reader = HashingReader::new(decompressed(ctx, blob, compression)?);
    io::copy(&mut reader, &mut io::sink()).map_err(ExportError::io("decompress", ctx.content.path(blob)))?;
    let (actual, size) = reader.finish();
    if actual != *diff_id {
        return Err(ExportError::DigestMismatch {
            what: format!("the uncompressed layer of blob {blob}"),
            expected: *diff_id,
            actual,
        });
    }
    Ok(size)
}

/// The compression of a layer blob, from its first bytes (for media types that do not say).
pub(crate) fn sniff_blob(ctx: &ExportContext, blob: &Sha256Digest) -> Result<Compression, ExportError> {
    let mut magic = Vec::with_capacity(4);
    let file = ctx.content.open_blob(blob).map_err(ExportError::store(format!("read layer blob {blob}")))?;
    file.take(4).read_to_end(&mut magic).map_err(ExportError::io("read", ctx.content.path(blob)))?;
    Ok(Compression::sniff(&magic))
}

/// Fails when what was read is not `size` bytes hashing to `expected`: the header promised
/// that many bytes, and the archive promises that content.
fn check<R: Read>(what: &str, reader: HashingReader<R>, expected: Sha256Digest, size: u64) -> Result<(), ExportError> {
    let (actual, read) = reader.finish();
    if read != size || actual != expected {
        return Err(ExportError::DigestMismatch { what: what.to_owned(), expected, actual });
    }
    Ok(())
}

//! Layer compressions: their names, OCI media types, encoders and decoders.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use crate::error::ExportError;

/// The gzip level of layer blobs, measured on the project's two-core machine (zlib-rs, release
/// build, one core, `gzip_levels` in the tests) over 773 MB of `/usr/lib/x86_64-linux-gnu`:
///
/// | level | size    | time    | speed    |
/// |-------|---------|---------|----------|
/// | 1     | 43.6 %  | 4.3 s   | 182 MB/s |
/// | 2     | 36.1 %  | 6.1 s   | 126 MB/s |
/// | 6     | 33.6 %  | 11.3 s  | 69 MB/s  |
///
/// (`/usr/bin`: 49.9 / 41.4 / 38.9 %.) Level 1 is zlib-rs's "quick" strategy: under half the
/// time of level 6 but blobs about 30 % larger, which every push and pull pays again. Level 2
/// keeps most of the speed (1.8 times level 6) for blobs 6 to 7 % larger than level 6's.
pub const GZIP_LEVEL: u32 = 2;

/// The zstd level of layer blobs: zstd's default, faster than gzip -1 and smaller than gzip -6.
pub const ZSTD_LEVEL: i32 = 3;

const MEDIA_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const MEDIA_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MEDIA_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// gzip (level [`GZIP_LEVEL`]); what every registry and runtime reads.
    #[default]
    Gzip,
    /// zstd (level [`ZSTD_LEVEL`]); smaller and faster, read by containerd 1.5+ and Docker 23+.
    Zstd,
    /// The plain tar.
    Uncompressed,
}

impl Compression {
    /// The name `FromStr` takes.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Uncompressed => "uncompressed",
        }
    }

    /// The OCI media type of a layer blob compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => MEDIA_TAR_GZIP,
            Compression::Zstd => MEDIA_TAR_ZSTD,
            Compression::Uncompressed => MEDIA_TAR,
        }
    }

    /// The compression a layer media type (OCI or Docker, distributable or not) says its blob
    /// has; `None` for anything that is not a layer tar.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            MEDIA_TAR
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::Uncompressed),
            MEDIA_TAR_GZIP
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
            MEDIA_TAR_ZSTD
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The compression of a stream that starts with `magic` (gzip and zstd carry magic numbers;
    /// anything else is taken as a plain tar).
    pub fn sniff(magic: &[u8]) -> Self {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::Uncompressed
        }
    }

    /// The key part of [`gb_cache::CacheDb::layer_blob`]'s variant: `<compression>:<epoch or ->`,
    /// with `none` for an uncompressed blob as gb-cache documents it.
    pub fn cache_variant(self, source_date_epoch: Option<i64>) -> String {
        let name = match self {
            Compression::Uncompressed => "none",
            other => other.name(),
        };
        match source_date_epoch {
            Some(epoch) => format!("{name}:{epoch}"),
            None => format!("{name}:-"),
        }
    }

    /// Wraps `writer` in this compression's encoder.
    pub(crate) fn encoder<'w, W: Write + 'w>(self, writer: W) -> io::Result<Encoder<'w, W>> {
        Ok(match self {
            // The header's mtime stays 0 and its OS byte fixed, so the bytes depend on the
            // content only.
            Compression::Gzip => Encoder::Gzip(ParallelGzip::new(writer)),
            Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(writer, ZSTD_LEVEL)?),
            Compression::Uncompressed => Encoder::Plain(writer),
        })
    }

    /// Wraps `reader` in this compression's decoder.
    pub(crate) fn decoder<'r, R: Read + Send + 'r>(self, reader: R) -> io::Result<Box<dyn Read + Send + 'r>> {
        Ok(match self {
            // A gzip layer may be several concatenated members (pigz, some registries).
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(zstd::Decoder::new(reader)?),
            Compression::Uncompressed => Box::new(reader),
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = ExportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "uncompressed" => Ok(Compression::Uncompressed),
            other => Err(ExportError::UnknownCompression(other.to_owned())),
        }
    }
}

/// A compressing writer; [`Encoder::finish`] writes the trailer and returns the inner writer.
pub(crate) enum Encoder<'w, W: Write> {
    Gzip(ParallelGzip<W>),
    Zstd(zstd::Encoder<'w, W>),
    Plain(W),
}

impl<W: Write> Encoder<'_, W> {
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(encoder) => encoder.finish(),
            Encoder::Zstd(encoder) => encoder.finish(),
            Encoder::Plain(writer) => Ok(writer),
        }
    }
}

impl<W: Write> Write for Encoder<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(encoder) => encoder.write(buf),
            Encoder::Zstd(encoder) => encoder.write(buf),
            Encoder::Plain(writer) => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(encoder) => encoder.flush(),
            Encoder::Zstd(encoder) => encoder.flush(),
            Encoder::Plain(writer) => writer.flush(),
        }
    }
}

/// Input bytes per gzip member. Fixed, so the output depends only on the content.
const GZIP_CHUNK: usize = 1 << 20;

/// A gzip writer that compresses fixed-size chunks of its input on all cores and writes them as
/// consecutive gzip members (as pigz does; RFC 1952 readers, Go's and containerd's among them,
/// read multi-member files). One big layer then compresses as fast as many small ones.
pub(crate) struct ParallelGzip<W: Write> {
    writer: W,
    pending: Vec<Vec<u8>>,
    current: Vec<u8>,
    batch: usize,
}

impl<W: Write> ParallelGzip<W> {
    fn new(writer: W) -> Self {
        let batch = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { writer, pending: Vec::new(), current: Vec::with_capacity(GZIP_CHUNK), batch }
    }

    fn compress_pending(&mut self) -> io::Result<()> {
        use rayon::prelude::*;
        let chunks = std::mem::take(&mut self.pending);
        let members: Vec<io::Result<Vec<u8>>> = chunks
            .par_iter()
            .map(|chunk| {
                // The header's mtime stays 0 and its OS byte fixed, so the bytes depend on the
                // content only.
                let mut encoder = flate2::GzBuilder::new()
                    .operating_system(255)
                    .write(Vec::with_capacity(chunk.len() / 2), flate2::Compression::new(GZIP_LEVEL));
                encoder.write_all(chunk)?;
                encoder.finish()
            })
            .collect();
        for member in members {
            self.writer.write_all(&member?)?;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        if !self.current.is_empty() || self.pending.is_empty() {
            let last = std::mem::take(&mut self.current);
            self.pending.push(last);
        }
        self.compress_pending()?;
        Ok(self.writer)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = GZIP_CHUNK - self.current.len();
        let take = room.min(buf.len());
        self.current.extend_from_slice(&buf[..take]);
        if self.current.len() == GZIP_CHUNK {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(GZIP_CHUNK));
            self.pending.push(full);
            if self.pending.len() >= self.batch {
                self.compress_pending()?;
            }
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_map_to_media_types() {
        for compression in [Compression::Gzip, Compression::Zstd, Compression::Uncompressed] {
            assert_eq!(compression.name().parse::<Compression>().ok(), Some(compression));
            assert_eq!(Compression::from_media_type(compression.media_type()), Some(compression));
        }
        assert!(matches!("xz".parse::<Compression>(), Err(ExportError::UnknownCompression(name)) if name == "xz"));
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::from_media_type("application/vnd.oci.image.config.v1+json"), None);
        assert_eq!(Compression::Uncompressed.cache_variant(None), "none:-");
        assert_eq!(Compression::Gzip.cache_variant(Some(1_700_000_000)), "gzip:1700000000");
    }

    #[test]
    fn encoders_and_decoders_round_trip() {
        for compression in [Compression::Gzip, Compression::Zstd, Compression::Uncompressed] {
            let mut encoder = compression.encoder(Vec::new()).expect("encoder");
            encoder.write_all(b"layer bytes").expect("write");
            let bytes = encoder.finish().expect("finish");
            assert_eq!(Compression::sniff(&bytes), compression);
            let mut out = Vec::new();
            compression.decoder(bytes.as_slice()).expect("decoder").read_to_end(&mut out).expect("read");
            assert_eq!(out, b"layer bytes");
        }
    }
}

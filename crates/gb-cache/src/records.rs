//! The records the database holds, one type per table; each is stored as JSON.

use gb_ir::Sha256Digest;
use serde::{Deserialize, Serialize};

use crate::ids::{CacheKey, LayerId, Snapshot};

/// What an op produced, stored under its cache key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The op's outputs, in output-index order.
    pub outputs: Vec<Snapshot>,
    /// When the result was stored (seconds since the Unix epoch), for prune.
    pub created_unix: u64,
    /// A human-readable description of the op (for `df` and debugging; never part of a key).
    pub description: String,
    /// The key its dependents build on when it differs from the one it is stored under: the op
    /// keyed by the content it read of some inputs (the solver's content-based keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_key: Option<CacheKey>,
}

/// What the per-file index knows about one host file, keyed by its path: the stat fields that
/// tell whether the file changed since it was hashed, and its content hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch (catches `touch -m` back-dating).
    pub ctime_ns: i64,
    /// Inode number.
    pub inode: u64,
    /// Device number.
    pub device: u64,
    /// Mode bits, including the file type.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// sha256 of the content.
    pub sha256: Sha256Digest,
    /// The file had no extended attributes that travel with it when it was hashed. Setting or
    /// removing one changes the ctime, so a record that still matches still tells, and a
    /// no-op checksum need not list them again. Records written before this field read as
    /// `false` (not known): their files' attributes are listed, and the record rewritten.
    #[serde(default)]
    pub no_xattrs: bool,
}

/// Metadata of one committed layer directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Bytes on disk.
    pub size: u64,
    /// When it was committed (seconds since the Unix epoch).
    pub created_unix: u64,
}

/// An image in the local store, under its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The normalized reference it was pulled or tagged as.
    pub reference: String,
    /// The manifest's digest (its blob is in the content store).
    pub manifest_digest: Sha256Digest,
    /// The config's digest (its blob is in the content store).
    pub config_digest: Sha256Digest,
    /// The OCI image config JSON, kept here so reading it needs no blob read.
    pub config: serde_json::Value,
    /// The unpacked layers, bottom first.
    pub layers: Vec<LayerId>,
    /// The uncompressed layer tarballs' digests, one per layer.
    pub diff_ids: Vec<Sha256Digest>,
    /// When it was stored (seconds since the Unix epoch).
    pub created_unix: u64,
}

/// A committed layer exported as an image layer blob with one compression, so that a layer is
/// never compressed twice; stored in the Meta table under `layerblob:<layer>:<compression>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBlobRecord {
    /// Digest of the (compressed) blob in the content store.
    pub digest: Sha256Digest,
    /// Digest of the uncompressed layer tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Sha256Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    /// The OCI media type (`application/vnd.oci.image.layer.v1.tar+gzip`, ...).
    pub media_type: String,
}

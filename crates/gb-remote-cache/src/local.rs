//! A cache in a local directory: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) whose `index.json` names the cache manifest under the tag `latest`, as
//! BuildKit's `type=local` cache does.

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use gb_export::ExportContext;
use gb_ir::Sha256Digest;
use serde_json::json;

use crate::error::CacheShareError;
use crate::format::{MANIFEST_MEDIA_TYPE, MAX_MANIFEST_SIZE};

/// The tag the manifest is filed under in `index.json`.
pub(crate) const TAG: &str = "latest";
/// The annotation OCI layouts name a manifest's tag with.
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where blob `digest` of the layout at `dir` is.
pub(crate) fn blob_path(dir: &Path, digest: &Sha256Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(digest.hex())
}

/// Writes the cache into the layout at `dir` (created if needed): each of `blobs` copied from
/// the content store unless the layout has it already (same name and size), the config and the
/// manifest, `oci-layout`, and last `index.json`, whose entry tagged `latest` becomes the
/// manifest (entries with other tags are kept). Every file is written under a temporary name
/// and renamed, so a reader never sees half a file. Returns how many blobs were written.
pub(crate) fn write_layout(
    ctx: &ExportContext,
    dir: &Path,
    blobs: &[Sha256Digest],
    config: &[u8],
    manifest: &[u8],
) -> Result<usize, CacheShareError> {
    let blob_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blob_dir).map_err(CacheShareError::io("create", &blob_dir))?;
    let mut written = 0;
    for digest in blobs {
        let size = ctx.content.size(digest).map_err(CacheShareError::store(format!("read blob {digest}")))?;
        let target = blob_path(dir, digest);
        if fs::metadata(&target).is_ok_and(|meta| meta.is_file() && meta.len() == size) {
            continue;
        }
        let tmp = temporary(&target);
        fs::copy(ctx.content.path(digest), &tmp).map_err(CacheShareError::io("copy a blob to", &tmp))?;
        fs::rename(&tmp, &target).map_err(CacheShareError::io("rename a blob to", &target))?;
        written += 1;
    }
    for bytes in [config, manifest] {
        let target = blob_path(dir, &Sha256Digest::of(bytes));
        if fs::metadata(&target).is_ok_and(|meta| meta.is_file() && meta.len() == bytes.len() as u64) {
            continue;
        }
        write_file(&target, bytes)?;
        written += 1;
    }
    write_file(&dir.join("oci-layout"), &gb_ir::canonical_json(&json!({ "imageLayoutVersion": "1.0.0" })))?;
    // Entries under other tags stay; one that cannot be read is replaced.
    let index_path = dir.join("index.json");
    let mut entries: Vec<serde_json::Value> = fs::read(&index_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|index| index["manifests"].as_array().cloned())
        .unwrap_or_default();
    entries.retain(|entry| entry["annotations"][ANNOTATION_REF_NAME].as_str().is_some_and(|tag| tag != TAG));
    entries.push(json!({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": Sha256Digest::of(manifest).to_string(),
        "size": manifest.len(),
        "annotations": { ANNOTATION_REF_NAME: TAG },
    }));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    write_file(&index_path, &gb_ir::canonical_json(&index))?;
    Ok(written)
}

/// The manifest `index.json` of the layout at `dir` tags `latest` (or its only entry, when it
/// has one without a tag), with its media type; `None` when there is no `index.json` (no
/// directory, or not a layout): no cache there yet.
pub(crate) fn read_manifest(dir: &Path, location: &str) -> Result<Option<(Vec<u8>, String)>, CacheShareError> {
    let index_path = dir.join("index.json");
    let bytes = match fs::read(&index_path) {
        Ok(bytes) => bytes,
        Err(error) if matches!(error.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(error) => return Err(CacheShareError::io("read", index_path)(error)),
    };
    let invalid = |reason: String| CacheShareError::InvalidCache { location: location.to_owned(), reason };
    let index: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|error| invalid(format!("index.json: {error}")))?;
    let entries = index["manifests"].as_array().ok_or_else(|| invalid("index.json has no manifests".to_owned()))?;
    let tagged = entries.iter().find(|entry| entry["annotations"][ANNOTATION_REF_NAME].as_str() == Some(TAG));
    let untagged_only = || match entries.as_slice() {
        [only] if only["annotations"][ANNOTATION_REF_NAME].is_null() => Some(only),
        _ => None,
    };
    let Some(entry) = tagged.or_else(untagged_only) else {
        return Err(invalid(format!("index.json has no manifest tagged `{TAG}`")));
    };
    let digest: Sha256Digest = entry["digest"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|_| invalid(format!("index.json names digest {} (only sha256 is supported)", entry["digest"])))?;
    let media_type = entry["mediaType"].as_str().unwrap_or(MANIFEST_MEDIA_TYPE).to_owned();
    let manifest = read_blob(dir, &digest, MAX_MANIFEST_SIZE, "manifest", location)?;
    Ok(Some((manifest, media_type)))
}

/// Blob `digest` of the layout at `dir` (at most `limit` bytes), checked against its digest.
pub(crate) fn read_blob(
    dir: &Path,
    digest: &Sha256Digest,
    limit: u64,
    what: &str,
    location: &str,
) -> Result<Vec<u8>, CacheShareError> {
    let path = blob_path(dir, digest);
    let file = File::open(&path).map_err(|error| missing_or_io(error, &path, digest, location))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(CacheShareError::io("read", &path))?;
    if bytes.len() as u64 > limit {
        return Err(CacheShareError::InvalidCache {
            location: location.to_owned(),
            reason: format!("{what} {digest} is larger than {limit} bytes"),
        });
    }
    let actual = Sha256Digest::of(&bytes);
    if actual != *digest {
        return Err(CacheShareError::DigestMismatch {
            what: format!("{what} {digest}"),
            location: location.to_owned(),
            expected: *digest,
            actual,
        });
    }
    Ok(bytes)
}

/// Copies blob `digest` of the layout at `dir` into the content store, verified as it is
/// written: a blob whose bytes do not hash to `digest` is never stored.
pub(crate) fn copy_blob_to_store(
    ctx: &ExportContext,
    dir: &Path,
    digest: &Sha256Digest,
    location: &str,
) -> Result<(), CacheShareError> {
    let path = blob_path(dir, digest);
    let mut file = File::open(&path).map_err(|error| missing_or_io(error, &path, digest, location))?;
    let mut writer = ctx.content.writer().map_err(CacheShareError::store(format!("store blob {digest}")))?;
    io::copy(&mut file, &mut writer).map_err(CacheShareError::io("copy into the content store", &path))?;
    match writer.commit(Some(digest)) {
        Ok(_) => Ok(()),
        Err(gb_cache::CacheError::DigestMismatch { expected, actual }) => Err(CacheShareError::DigestMismatch {
            what: format!("blob {digest}"),
            location: location.to_owned(),
            expected,
            actual,
        }),
        Err(error) => Err(CacheShareError::store(format!("store blob {digest}"))(error)),
    }
}

/// A blob the index names but the layout lacks makes the cache invalid; other failures are IO.
fn missing_or_io(error: io::Error, path: &Path, digest: &Sha256Digest, location: &str) -> CacheShareError {
    if error.kind() == io::ErrorKind::NotFound {
        CacheShareError::InvalidCache { location: location.to_owned(), reason: format!("blob {digest} is missing") }
    } else {
        CacheShareError::io("open", path)(error)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CacheShareError> {
    let tmp = temporary(path);
    fs::write(&tmp, bytes).map_err(CacheShareError::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(CacheShareError::io("rename a file to", path))
}

/// `DIR/.NAME.tmp-PID`: a name no reader looks at, distinct per process.
fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

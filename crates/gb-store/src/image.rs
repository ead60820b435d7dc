//! Images in the local store: importing a root file system tarball as a one-layer image
//! (`graphbuild import`, its `--change`s in `changes.rs`), and reading a stored image's config for the front end.

use std::io::Read;
use std::path::Path;

use gb_cache::{ImageName, ImageRecord};
use gb_ir::{EnvVar, Healthcheck, ImageConfig, ImageReference, Platform, Sha256Digest};
use serde_json::json;

use crate::error::StoreError;
use crate::root::StateRoot;

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// How an imported image is made (`graphbuild import`).
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// Where the tarball came from (a file name, a URL, `-`), for the image's history.
    pub source: &'a str,
    /// The image's name; `None` keeps it by id only (dangling), as docker's nameless import.
    pub name: Option<&'a str>,
    /// Its platform.
    pub platform: &'a Platform,
    /// Dockerfile instructions for its config (`CMD ["sh"]`, `ENV K=V`), as `docker import -c`.
    pub changes: &'a [String],
    /// Its history's comment (`docker import -m`).
    pub message: Option<&'a str>,
}

/// Imports a root file system tarball (plain or gzip) as a one-layer image named `name`, as
/// `docker import` does. Returns the stored record.
pub fn import_rootfs(
    root: &StateRoot,
    tarball: &Path,
    name: &str,
    platform: &Platform,
) -> Result<ImageRecord, StoreError> {
    let mut file =
        std::fs::File::open(tarball).map_err(|e| StoreError::Import(format!("opening {}: {e}", tarball.display())))?;
    let source = tarball.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let options = ImportOptions { source: &source, name: Some(name), platform, changes: &[], message: None };
    import_rootfs_from(root, &mut file, &options)
}

/// Imports the root file system tarball `reader` yields (plain, gzip, bzip2, xz or zstd, told
/// by its first bytes) as a one-layer image. A gzip or zstd tarball is kept as the layer blob it
/// is; bzip2 and xz, which images cannot carry, are stored uncompressed.
pub fn import_rootfs_from(
    root: &StateRoot,
    reader: &mut dyn Read,
    options: &ImportOptions<'_>,
) -> Result<ImageRecord, StoreError> {
    let reference = match options.name {
        Some(name) => Some(ImageReference::parse(name).map_err(|e| StoreError::InvalidName(e.to_string()))?),
        None => None,
    };
    let mut config_changes = serde_json::Map::new();
    config_changes.insert("Env".to_owned(), json!([format!("PATH={}", gb_ir::DEFAULT_PATH)]));
    for change in options.changes {
        crate::changes::apply_change(&mut config_changes, change)?;
    }
    let mut magic = Vec::with_capacity(6);
    reader.take(6).read_to_end(&mut magic).map_err(StoreError::io("reading the tarball"))?;
    let compression = gb_export::Compression::sniff(&magic);
    let mut stream = std::io::Cursor::new(magic).chain(reader);
    let mut stored: Box<dyn Read + '_> = match compression {
        gb_export::Compression::Uncompressed => {
            gb_ops::decompress_stream(&mut stream).map_err(StoreError::io("decompressing the tarball"))?
        }
        _ => Box::new(&mut stream),
    };

    let stored = store_layer_tar(root, &mut stored, compression, options.source)?;
    let (imported, blob_digest, blob_size, created_unix) =
        (stored.imported, stored.blob_digest, stored.blob_size, stored.created_unix);

    let config = json!({
        "architecture": options.platform.architecture,
        "os": options.platform.os,
        "config": config_changes,
        "rootfs": { "type": "layers", "diff_ids": [imported.diff_id.to_string()] },
        "history": [{ "created_by": format!("graphbuild import {}", options.source), "comment": options.message.unwrap_or("imported") }],
    });
    let config_bytes = gb_ir::canonical_json(&config);
    let config_digest = root.content.put_bytes(&config_bytes).map_err(StoreError::records("writing the config"))?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": { "mediaType": MEDIA_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len() },
        "layers": [{ "mediaType": compression.media_type(), "digest": blob_digest.to_string(), "size": blob_size }],
    });
    let manifest_bytes = gb_ir::canonical_json(&manifest);
    let manifest_digest =
        root.content.put_bytes(&manifest_bytes).map_err(StoreError::records("writing the manifest"))?;
    let key = match &reference {
        Some(reference) => ImageName::of(reference),
        None => ImageName::dangling(&config_digest),
    };
    let record = ImageRecord {
        reference: reference.map_or_else(|| key.to_string(), |reference| reference.to_string()),
        manifest_digest,
        config_digest,
        config,
        layers: vec![imported.layer],
        diff_ids: vec![imported.diff_id],
        created_unix,
    };
    root.db.put_image(&key, &record).map_err(StoreError::records("recording the image"))?;
    Ok(record)
}

/// A layer stored from a tar: unpacked as a layer, its blob in the content store.
struct StoredLayer {
    imported: gb_snapshot::Imported,
    blob_digest: Sha256Digest,
    blob_size: u64,
    created_unix: u64,
}

/// Keeps a layer tar (plain, gzip or zstd) as a blob, as given, and unpacks it as a new layer
/// whose blob is recorded, so that a load, a pull or a cache import that brings the same blob
/// reuses the layer and an export never compresses it again. `what` names the tar in errors.
fn store_layer_tar(
    root: &StateRoot,
    tar: &mut dyn Read,
    compression: gb_export::Compression,
    what: &str,
) -> Result<StoredLayer, StoreError> {
    let storing = format!("storing {what} in the content store");
    let mut writer = root.content.writer().map_err(StoreError::records("storing a layer in the content store"))?;
    std::io::copy(tar, &mut writer).map_err(StoreError::io(storing))?;
    let (blob_digest, blob_size) =
        writer.commit(None).map_err(StoreError::records("storing a layer in the content store"))?;
    let blob = root.content.open_blob(&blob_digest).map_err(StoreError::records("reading a blob"))?;
    let blob: Box<dyn Read + Send> = match compression {
        gb_export::Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        gb_export::Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(blob).map_err(StoreError::io("decompressing the tarball"))?)
        }
        gb_export::Compression::Uncompressed => Box::new(blob),
    };
    let imported = root.snapshots.import_tar(blob).map_err(|e| {
        if crate::root::is_no_space(&e) {
            return StoreError::layers("writing the imported layer")(e);
        }
        StoreError::Import(e.to_string())
    })?;
    let created_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    root.db
        .put_layer(&imported.layer, &gb_cache::LayerRecord { size: imported.size, created_unix })
        .map_err(StoreError::records("recording a layer"))?;
    let blob_record = gb_cache::LayerBlobRecord {
        digest: blob_digest,
        diff_id: imported.diff_id,
        size: blob_size,
        media_type: compression.media_type().to_owned(),
    };
    root.db
        .put_layer_blob(&imported.layer, &compression.cache_variant(None), &blob_record)
        .map_err(StoreError::records("recording a layer blob"))?;
    Ok(StoredLayer { imported, blob_digest, blob_size, created_unix })
}

/// What `docker commit` records besides the new layer.
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    /// The history entry's `created_by`: the container's command.
    pub created_by: String,
    /// `-m`: the history entry's comment.
    pub comment: String,
    /// `-a`: the image's author.
    pub author: String,
    /// The image's `config` after `--change`s (the base image's, changed).
    pub config: serde_json::Value,
}

/// Stores a container's changes (`layer_tar`, an uncompressed OCI layer tar) as one new layer
/// on `base`, with a history entry, as `docker commit` does, and names the image `name` (none:
/// dangling, known by its id). The result is an ordinary image: its manifest lists the base's
/// blobs and the new layer's.
pub fn commit_image(
    root: &StateRoot,
    base: &ImageRecord,
    layer_tar: &mut dyn Read,
    info: &CommitInfo,
    name: Option<&ImageName>,
) -> Result<ImageRecord, StoreError> {
    let stored = store_layer_tar(root, layer_tar, gb_export::Compression::Uncompressed, "the container's changes")?;
    let base_manifest: serde_json::Value = root
        .content
        .read(&base.manifest_digest)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| StoreError::Import(format!("the manifest of image {} is missing", base.config_digest)))?;
    let created = gb_export::rfc3339(i64::try_from(stored.created_unix).unwrap_or(i64::MAX));
    let mut config = base.config.clone();
    config["config"] = info.config.clone();
    config["created"] = json!(created);
    if !info.author.is_empty() {
        config["author"] = json!(info.author);
    }
    if !info.comment.is_empty() {
        config["comment"] = json!(info.comment);
    }
    let mut diff_ids: Vec<serde_json::Value> = base.diff_ids.iter().map(|d| json!(d.to_string())).collect();
    diff_ids.push(json!(stored.imported.diff_id.to_string()));
    config["rootfs"] = json!({ "type": "layers", "diff_ids": diff_ids });
    let mut entry = json!({ "created": created, "created_by": info.created_by });
    if !info.author.is_empty() {
        entry["author"] = json!(info.author);
    }
    if !info.comment.is_empty() {
        entry["comment"] = json!(info.comment);
    }
    match config["history"].as_array_mut() {
        Some(history) => history.push(entry),
        None => config["history"] = json!([entry]),
    }
    let config_bytes = gb_ir::canonical_json(&config);
    let config_digest = root.content.put_bytes(&config_bytes).map_err(StoreError::records("writing the config"))?;
    let mut layers = base_manifest["layers"].as_array().cloned().unwrap_or_default();
    layers
        .push(json!({ "mediaType": gb_export::Compression::Uncompressed.media_type(), "digest": stored.blob_digest.to_string(), "size": stored.blob_size }));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": { "mediaType": MEDIA_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len() },
        "layers": layers,
    });
    let manifest_bytes = gb_ir::canonical_json(&manifest);
    let manifest_digest =
        root.content.put_bytes(&manifest_bytes).map_err(StoreError::records("writing the manifest"))?;
    let mut image_layers = base.layers.clone();
    image_layers.push(stored.imported.layer);
    let mut diff_ids = base.diff_ids.clone();
    diff_ids.push(stored.imported.diff_id);
    let name = name.cloned().unwrap_or_else(|| ImageName::dangling(&config_digest));
    let record = ImageRecord {
        reference: name.as_str().to_owned(),
        manifest_digest,
        config_digest,
        config,
        layers: image_layers,
        diff_ids,
        created_unix: stored.created_unix,
    };
    root.db.put_image(&name, &record).map_err(StoreError::records("recording the image"))?;
    Ok(record)
}

/// The front end's view of a stored image's config.
pub fn ir_config(config: &serde_json::Value) -> ImageConfig {
    let inner = &config["config"];
    let strings = |value: &serde_json::Value| -> Option<Vec<String>> {
        value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
    };
    let text = |key: &str| inner[key].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let keys = |key: &str| inner[key].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    ImageConfig {
        user: text("User"),
        exposed_ports: keys("ExposedPorts"),
        env: strings(&inner["Env"])
            .unwrap_or_default()
            .iter()
            .map(|kv| kv.split_once('=').map_or_else(|| EnvVar::new(kv.clone(), ""), |(k, v)| EnvVar::new(k, v)))
            .collect(),
        entrypoint: strings(&inner["Entrypoint"]),
        cmd: strings(&inner["Cmd"]),
        cmd_reset: false,
        volumes: keys("Volumes"),
        working_dir: text("WorkingDir"),
        labels: inner["Labels"]
            .as_object()
            .map(|o| o.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
            .unwrap_or_default(),
        stop_signal: text("StopSignal"),
        healthcheck: inner["Healthcheck"].as_object().map(|h| Healthcheck {
            test: strings(&h["Test"]).unwrap_or_default(),
            interval: h.get("Interval").and_then(|v| v.as_u64()),
            timeout: h.get("Timeout").and_then(|v| v.as_u64()),
            start_period: h.get("StartPeriod").and_then(|v| v.as_u64()),
            start_interval: h.get("StartInterval").and_then(|v| v.as_u64()),
            retries: h.get("Retries").and_then(|v| v.as_u64()).map(|r| r as u32),
        }),
        shell: strings(&inner["Shell"]),
        on_build: strings(&inner["OnBuild"]).unwrap_or_default(),
        author: config["author"].as_str().filter(|s| !s.is_empty()).map(str::to_owned),
    }
}

/// The platform an image config names (`os`, `architecture`, `variant`); `None` when it names
/// no OS or architecture, so nothing can be said about it.
pub fn record_platform(config: &serde_json::Value) -> Option<Platform> {
    let text = |key: &str| config[key].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    Some(Platform { os: text("os")?, architecture: text("architecture")?, variant: text("variant") })
}

/// The manifest digest of a stored image, for pinning the front end's image sources.
pub fn manifest_of(record: &ImageRecord) -> Sha256Digest {
    record.manifest_digest
}

/// Finds an image by name (`busybox`, `app:1`, normalized as Docker does) or by id (the config
/// digest, full or a prefix of at least 4 hex digits, with or without `sha256:`, as docker's
/// containerd image store takes them: shorter prefixes would match names too easily); a prefix
/// two images' ids start with is an error ([`StoreError::AmbiguousImage`]).
pub fn find(root: &StateRoot, name_or_id: &str) -> Result<Option<(ImageName, ImageRecord)>, StoreError> {
    if let Ok(name) = ImageName::parse(name_or_id)
        && let Some(record) = root.db.image(&name).map_err(StoreError::records("reading the image store"))?
    {
        return Ok(Some((name, record)));
    }
    let prefix = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
    if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let images = root.db.images().map_err(StoreError::records("reading the image store"))?;
    let mut matches: Vec<(ImageName, ImageRecord)> =
        images.into_iter().filter(|(_, record)| record.config_digest.hex().starts_with(prefix)).collect();
    // One image may have several names; a prefix of two images' ids names neither, as docker
    // says: taking either could make `rmi` remove the wrong image.
    let ids: std::collections::BTreeSet<_> = matches.iter().map(|(_, record)| record.config_digest).collect();
    if ids.len() > 1 {
        return Err(StoreError::AmbiguousImage { prefix: name_or_id.to_owned(), count: ids.len() });
    }
    matches.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(matches.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images whose ids start alike: a prefix of both is refused, a longer one finds one,
    /// and a prefix of one image with two names finds it.
    #[test]
    fn an_id_prefix_of_two_images_is_refused() {
        let dir = tempfile::tempdir().expect("root");
        let root = StateRoot::open(dir.path()).expect("open");
        let image = |name: &str, id: &str| {
            let record = ImageRecord {
                reference: name.to_owned(),
                manifest_digest: Sha256Digest::of(name.as_bytes()),
                config_digest: id.parse().expect("digest"),
                config: json!({}),
                layers: Vec::new(),
                diff_ids: Vec::new(),
                created_unix: 0,
            };
            root.db.put_image(&ImageName::parse(name).expect("name"), &record).expect("put");
        };
        let (first, second) = (format!("sha256:abcd1{}", "0".repeat(59)), format!("sha256:abcd2{}", "0".repeat(59)));
        image("one:1", &first);
        image("one:latest", &first);
        image("two:1", &second);
        let refused = find(&root, "abcd").expect_err("ambiguous");
        assert_eq!(refused.to_string(), "multiple IDs found with provided prefix: abcd (2 images)");
        assert_eq!(refused.kind(), crate::ErrorKind::Input);
        let (name, _) = find(&root, "abcd1").expect("find").expect("one image");
        assert_eq!(name.to_string(), "docker.io/library/one:1");
        assert!(find(&root, "abcd2").expect("find").is_some_and(|(name, _)| name.to_string().contains("two")));
    }

    #[test]
    fn a_config_names_its_platform_or_nothing() {
        let arm = record_platform(&json!({ "os": "linux", "architecture": "arm64", "variant": "v8" }));
        assert_eq!(arm, Platform::parse("linux/arm64/v8"));
        assert_eq!(record_platform(&json!({ "os": "linux", "architecture": "amd64" })), Platform::parse("linux/amd64"));
        assert_eq!(record_platform(&json!({ "os": "linux" })), None);
        assert_eq!(record_platform(&json!({ "architecture": "", "os": "linux" })), None);
    }
}

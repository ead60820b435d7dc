//! The docker-archive writer: what `docker save` writes and `docker load` reads.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use gb_ir::ImageReference;
use serde_json::{Map, Value, json};

use crate::compression::Compression;
use crate::context::ExportContext;
use crate::error::ExportError;
use crate::layout::ImageRef;
use crate::oci::{StoredImage, canonical_bytes};
use crate::tarball::{Body, sniff_blob, uncompressed_size, write_tar};

/// Writes `images` as a docker-archive tar at `dest`: `manifest.json` (`[{Config, RepoTags,
/// Layers}]`, tags in Docker's short form), each config as `<hex>.json`, each layer
/// uncompressed as `<diff id hex>/layer.tar` (checked to hash to its diff id), and the legacy
/// `repositories` file. Entries are sorted and carry mtime 0, so the bytes depend only on the
/// images and their names. Names with a digest and no tag cannot be a RepoTag and are left out.
pub fn write_docker_archive(ctx: &ExportContext, images: &[ImageRef], dest: &Path) -> Result<(), ExportError> {
    let mut entries = BTreeMap::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut layers_done = HashSet::new();
    for image in images {
        let stored = StoredImage::read(ctx, &image.manifest_digest)?;
        let config_file = format!("{}.json", stored.config_digest.hex());
        entries.insert(config_file.clone(), Body::Blob(stored.config_digest));
        let mut layer_files = Vec::new();
        for ((descriptor, blob), diff_id) in
            stored.manifest.layers().iter().zip(stored.layer_digests()?).zip(&stored.diff_ids)
        {
            let dir = diff_id.hex();
            let file = format!("{dir}/layer.tar");
            layer_files.push(file.clone());
            if !layers_done.insert(*diff_id) {
                continue;
            }
            let body = if ctx.content.contains(diff_id) {
                // The uncompressed tar is itself a blob (an uncompressed export or a load).
                Body::Blob(*diff_id)
            } else {
                let compression = match Compression::from_media_type(descriptor.media_type().as_ref()) {
                    Some(compression) => compression,
                    None => sniff_blob(ctx, &blob)?,
                };
                let size = uncompressed_size(ctx, &blob, compression, diff_id)?;
                Body::Decompressed { blob, compression, diff_id: *diff_id, size }
            };
            entries.insert(format!("{dir}/"), Body::Dir);
            entries.insert(file, body);
        }
        let mut tags = Vec::new();
        for name in image.names {
            let reference = ImageReference::parse(name)?;
            let Some(tag) = reference.tag.clone().filter(|_| reference.digest.is_none()) else { continue };
            let familiar = reference.familiar();
            if tags.contains(&familiar) {
                continue;
            }
            tags.push(familiar);
            let repository = ImageReference { tag: None, ..reference }.familiar();
            if let Some(top) = stored.diff_ids.last() {
                repositories.entry(repository).or_default().insert(tag, json!(top.hex()));
            }
        }
        manifest.push(json!({ "Config": config_file, "RepoTags": tags, "Layers": layer_files }));
    }
    entries.insert("manifest.json".to_owned(), Body::Bytes(canonical_bytes(&manifest)));
    entries.insert("repositories".to_owned(), Body::Bytes(canonical_bytes(&repositories)));
    write_tar(ctx, dest, &entries)
}

//! The OCI image layout writer: `oci-layout`, `index.json` with one manifest descriptor per
//! name, and `blobs/sha256/…`, as a directory or a deterministic tar.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use gb_ir::{ImageReference, Sha256Digest};
use gb_snapshot::{ConfinedDir, EntryKind, Lookup};
use oci_spec::image::{Arch, Descriptor, ImageIndexBuilder, MediaType, Os, PlatformBuilder};
use serde_json::json;

use crate::attestation::IndexEntry;
use crate::context::ExportContext;
use crate::error::ExportError;
use crate::hashing::HashingReader;
use crate::oci::{StoredImage, canonical_bytes, descriptor_digest, oci_digest};
use crate::tarball::{Body, write_tar};

/// The annotation OCI tools (skopeo `oci:DIR:REF`, umoci) select a manifest by: the tag.
pub(crate) const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd (and BuildKit) put the full image name in.
pub(crate) const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// An image in the store as the writers need it.
#[derive(Debug, Clone)]
pub struct ImageRef<'a> {
    /// The image's manifest (its config and layer blobs must be in the store too).
    pub manifest_digest: Sha256Digest,
    /// Normalized references, e.g. `docker.io/library/app:1`; may be empty.
    pub names: &'a [String],
    /// Annotations of the image's descriptors in `index.json` (`--annotation
    /// manifest-descriptor:K=V`), beside the name annotations.
    pub descriptor_annotations: BTreeMap<String, String>,
}

/// Writes `images` as an OCI image layout at `dest`: a directory (created if needed; an
/// existing `index.json` is replaced, blobs already there are kept when their content hashes to
/// their name and rewritten otherwise), or with `as_tar` an
/// uncompressed tar whose entries are sorted and carry mtime 0, so the bytes depend only on the
/// images and their names.
///
/// `index.json` has one manifest descriptor per name, annotated with the tag
/// (`org.opencontainers.image.ref.name`) and the full name (`io.containerd.image.name`), and
/// the platform of the image's config; an image without names gets one plain descriptor.
pub fn write_oci_layout(
    ctx: &ExportContext,
    images: &[ImageRef],
    dest: &Path,
    as_tar: bool,
) -> Result<(), ExportError> {
    let mut blobs = BTreeSet::new();
    let mut manifests = Vec::new();
    for image in images {
        let stored = StoredImage::read(ctx, &image.manifest_digest)?;
        add_blobs(&stored, &mut blobs)?;
        let mut descriptor = platform_descriptor(&stored)?;
        let own: HashMap<String, String> =
            image.descriptor_annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if !own.is_empty() {
            descriptor.set_annotations(Some(own.clone()));
        }
        manifests.extend(named_descriptors(&descriptor, image.names, &own)?);
    }
    write_layout(ctx, &blobs, index_bytes(manifests)?, dest, as_tar)
}

/// Stores an OCI image index of `entries` (stored images, one per platform, and attestation
/// manifests; each descriptor carries its config's platform and the entry's annotations) in the
/// content store, as a multi-platform build makes one; returns its digest and size.
pub fn store_image_index(ctx: &ExportContext, entries: &[IndexEntry]) -> Result<(Sha256Digest, u64), ExportError> {
    let mut manifests = Vec::new();
    for entry in entries {
        let mut descriptor = platform_descriptor(&StoredImage::read(ctx, &entry.manifest)?)?;
        if !entry.annotations.is_empty() {
            descriptor.set_annotations(Some(entry.annotations.clone().into_iter().collect()));
        }
        manifests.push(descriptor);
    }
    let bytes = index_bytes(manifests)?;
    let digest = ctx.content.put_bytes(&bytes).map_err(ExportError::store("store the image index"))?;
    Ok((digest, bytes.len() as u64))
}

/// Writes the multi-platform image `index` (stored by [`store_image_index`]) as an OCI image
/// layout, as BuildKit's oci exporter writes one: `index.json` names the index (with the name
/// annotations of `names`), whose blob names each platform's manifest.
pub fn write_oci_index_layout(
    ctx: &ExportContext,
    index: &Sha256Digest,
    names: &[String],
    dest: &Path,
    as_tar: bool,
) -> Result<(), ExportError> {
    let bytes = ctx.content.read(index).map_err(ExportError::store(format!("read index {index}")))?;
    let parsed: oci_spec::image::ImageIndex = serde_json::from_slice(&bytes)
        .map_err(|e| ExportError::Oci { what: "index", source: oci_spec::OciSpecError::SerDe(e) })?;
    let mut blobs = BTreeSet::from([*index]);
    for manifest in parsed.manifests() {
        let digest = descriptor_digest(manifest).map_err(|reason| ExportError::InvalidBlob {
            what: "index",
            digest: *index,
            reason,
        })?;
        add_blobs(&StoredImage::read(ctx, &digest)?, &mut blobs)?;
    }
    let descriptor = Descriptor::new(MediaType::ImageIndex, bytes.len() as u64, oci_digest(index)?);
    let entries = named_descriptors(&descriptor, names, &HashMap::new())?;
    write_layout(ctx, &blobs, index_bytes(entries)?, dest, as_tar)
}

/// Adds a stored image's blobs (manifest, config, layers) to `blobs`.
fn add_blobs(stored: &StoredImage, blobs: &mut BTreeSet<Sha256Digest>) -> Result<(), ExportError> {
    blobs.insert(stored.manifest_digest);
    blobs.insert(stored.config_digest);
    blobs.extend(stored.layer_digests()?);
    Ok(())
}

/// A stored image's manifest descriptor, with the platform its config names.
fn platform_descriptor(stored: &StoredImage) -> Result<Descriptor, ExportError> {
    let media_type = stored.manifest.media_type().clone().unwrap_or(MediaType::ImageManifest);
    let mut descriptor = Descriptor::new(media_type, stored.manifest_size, oci_digest(&stored.manifest_digest)?);
    descriptor.set_platform(Some(platform_of(&stored.config)?));
    Ok(descriptor)
}

/// The canonical bytes of an OCI image index of `manifests`.
fn index_bytes(manifests: Vec<Descriptor>) -> Result<Vec<u8>, ExportError> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|source| ExportError::Oci { what: "index", source })?;
    Ok(canonical_bytes(&index))
}

/// `descriptor` once per name (each annotated with the tag, `org.opencontainers.image.ref.name`,
/// and the full name, `io.containerd.image.name`, beside `annotations`), or once plain when
/// there are no names.
fn named_descriptors(
    descriptor: &Descriptor,
    names: &[String],
    annotations: &HashMap<String, String>,
) -> Result<Vec<Descriptor>, ExportError> {
    let mut seen = HashSet::new();
    let mut named = Vec::new();
    for name in names.iter().filter(|name| seen.insert(*name)) {
        let reference = ImageReference::parse(name)?;
        let mut own = annotations.clone();
        own.insert(ANNOTATION_IMAGE_NAME.to_owned(), reference.to_string());
        if let Some(tag) = &reference.tag {
            own.insert(ANNOTATION_REF_NAME.to_owned(), tag.clone());
        }
        let mut entry = descriptor.clone();
        entry.set_annotations(Some(own));
        named.push(entry);
    }
    if named.is_empty() {
        named.push(descriptor.clone());
    }
    Ok(named)
}

/// Writes an OCI layout holding `blobs` (from the content store) and the top `index` as
/// `index.json`: a tar (sorted entries, mtime 0) or a directory written without following links.
fn write_layout(
    ctx: &ExportContext,
    blobs: &BTreeSet<Sha256Digest>,
    index: Vec<u8>,
    dest: &Path,
    as_tar: bool,
) -> Result<(), ExportError> {
    let layout = canonical_bytes(&json!({ "imageLayoutVersion": "1.0.0" }));

    if as_tar {
        let mut entries = BTreeMap::new();
        entries.insert("blobs/".to_owned(), Body::Dir);
        entries.insert("blobs/sha256/".to_owned(), Body::Dir);
        for digest in blobs {
            entries.insert(format!("blobs/sha256/{}", digest.hex()), Body::Blob(*digest));
        }
        entries.insert("index.json".to_owned(), Body::Bytes(index));
        entries.insert("oci-layout".to_owned(), Body::Bytes(layout));
        return write_tar(ctx, dest, &entries);
    }
    fs::create_dir_all(dest).map_err(ExportError::io("create", dest))?;
    // Below `dest`, nothing is reached through a link: the directory may hold an earlier
    // `type=local` export of an image, whose own symlinks (`blobs -> /`, a blob's name linked to
    // `/etc/passwd`) would otherwise send these writes anywhere on the host. Files are written
    // beside their names and renamed over them, so a link there is replaced, never written through.
    let dest_error = |source| ExportError::Dest { dest: dest.to_path_buf(), source };
    let root = ConfinedDir::open(dest).map_err(dest_error)?;
    let blob_dir = root.create_dir_all(Path::new("blobs/sha256"), 0o755).map_err(dest_error)?;
    for digest in blobs {
        let name = digest.hex();
        let size = ctx.content.size(digest).map_err(ExportError::store(format!("read blob {digest}")))?;
        // A blob already there under its name is kept if it has the right size and content, as
        // rewriting large layers for nothing is slow. Its name proves nothing: an earlier export
        // into this directory (`-o type=local` of a hostile image) can have put any bytes there.
        if blob_dir.lookup(Path::new(&name)).map_err(dest_error)? == Lookup::Found(EntryKind::File { size })
            && holds_blob(dest, &blob_dir, &name, digest)?
        {
            continue;
        }
        let source = ctx.content.path(digest);
        blob_dir
            .write_file(Path::new(&name), 0o644, |file| io::copy(&mut fs::File::open(&source)?, file).map(drop))
            .map_err(dest_error)?;
    }
    // The index goes last: until it is written, the layout names no blob that is not there.
    root.write_file(Path::new("oci-layout"), 0o644, |file| file.write_all(&layout)).map_err(dest_error)?;
    root.write_file(Path::new("index.json"), 0o644, |file| file.write_all(&index)).map_err(dest_error)?;
    Ok(())
}

/// Whether the regular file `name` in `dir` (of the output directory `dest`) hashes to
/// `digest`, read as a stream so a large layer is never held in memory.
fn holds_blob(dest: &Path, dir: &ConfinedDir, name: &str, digest: &Sha256Digest) -> Result<bool, ExportError> {
    let opened = dir.open_file(Path::new(name));
    let Some(file) = opened.map_err(|source| ExportError::Dest { dest: dest.to_path_buf(), source })? else {
        return Ok(false);
    };
    let mut reader = HashingReader::new(file);
    io::copy(&mut reader, &mut io::sink()).map_err(ExportError::io("read", dir.path().join(name)))?;
    let (actual, _) = reader.finish();
    Ok(actual == *digest)
}

/// The platform of an image config, for the index descriptor.
fn platform_of(config: &serde_json::Value) -> Result<oci_spec::image::Platform, ExportError> {
    let text = |key: &str| config[key].as_str().unwrap_or_default();
    let mut builder =
        PlatformBuilder::default().architecture(Arch::from(text("architecture"))).os(Os::from(text("os")));
    if let Some(variant) = config["variant"].as_str() {
        builder = builder.variant(variant.to_owned());
    }
    builder.build().map_err(|source| ExportError::Oci { what: "index", source })
}

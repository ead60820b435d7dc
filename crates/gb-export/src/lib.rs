//! Images from build results: layer blobs, config, manifest, OCI layout and docker-archive.
//!
//! - [`layer_blobs`] compresses layers' diff tars into the content store, once per layer,
//!   compression and SOURCE_DATE_EPOCH (recorded in `CacheDb::layer_blob`), in parallel.
//! - [`assemble_image`] turns a build result and the front end's [`gb_ir::ImageSpec`] into a
//!   config and a manifest in the content store, reusing the base image's layer blobs.
//! - [`write_oci_layout`] and [`write_docker_archive`] write stored images out;
//!   [`load_archive`] reads either format back in.
//! - [`OutputFile`] is how every archive the user names is written: whole or not at all, a
//!   device or fifo written in place, no temporary file outliving a killed run.
//! - [`import_layer_blob`] and [`LayerReuse`] turn a stored layer blob into a layer (or find the
//!   one already there) for other importers, such as registry pulls.
//!
//! Every document (config, manifest, index, `manifest.json`) is canonical JSON and every
//! archive has sorted entries with fixed times, so the same images give the same bytes.

mod assemble;
mod attestation;
mod blobs;
mod compression;
mod config;
mod context;
mod docker;
mod error;
mod files;
mod hashing;
mod layout;
mod load;
mod oci;
mod output;
mod tarball;
mod time;

pub use assemble::{AssembleOptions, BuiltImage, REWRITTEN_TIMESTAMP, assemble_image, assemble_image_with};
pub use attestation::{IN_TOTO, IndexEntry, store_attestation_manifest};
pub use blobs::layer_blobs;
pub use compression::{Compression, GZIP_LEVEL, ZSTD_LEVEL};
pub use context::{ExportContext, StoreAdditions};
pub use docker::write_docker_archive;
pub use error::{ErrorKind, ExportError};
pub use gb_ir::Sha256Digest;
pub use layout::{ImageRef, store_image_index, write_oci_index_layout, write_oci_layout};
pub use load::{
    LayerReuse, LayoutReference, import_layer_blob, load_archive, load_layout_image, unclamped_diff_ids,
    unclamped_exports,
};
pub use output::OutputFile;
pub use time::rfc3339;

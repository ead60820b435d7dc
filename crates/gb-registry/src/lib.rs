//! OCI distribution: pulling images into the local store, pushing them, credentials and
//! plain-HTTP rules.
//!
//! - [`Registry::resolve`] finds the manifest a reference names for a platform (through an
//!   index when there is one), with its config, without downloading layers.
//! - [`Registry::pull`] downloads an image's layer blobs concurrently, verifying each against
//!   its digest as it streams into the content store, imports them into the snapshot store
//!   (through gb-export, as `load` does) and records the image; a failed pull leaves nothing.
//! - [`Registry::push`] uploads a stored image: blobs the target already has are skipped, blobs
//!   another repository of the same registry has are mounted, the rest are uploaded.
//! - [`Registry::push_blob_from_store`], [`Registry::pull_blob_to_store`],
//!   [`Registry::push_manifest_bytes`] and [`Registry::pull_manifest_bytes`] move single blobs
//!   and manifests, for content that is not an image (the build cache).
//! - [`credentials`], [`login`] and [`logout`] read and write the Docker config file;
//!   [`Registry::verify_login`] checks credentials against a registry.
//!
//! Registries on loopback addresses, and those listed in [`RegistryConfig::insecure`], are
//! spoken to over plain HTTP; all others over HTTPS (rustls with ring).

mod config;
mod credentials;
mod error;
mod manifest;
mod pull;
mod push;
mod registry;
mod resolve;
mod transfer;

pub use config::RegistryConfig;
pub use credentials::{credentials, login, logout};
pub use error::{ErrorKind, RegistryError};
pub use pull::MAX_DOWNLOADS;
pub use push::{MAX_UPLOADS, PushReport};
pub use registry::Registry;
pub use resolve::Resolved;

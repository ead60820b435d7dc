//! Sharing the build cache between machines: `--cache-to` exports cache results with their
//! layers to a local directory or a registry, `--cache-from` imports them, so that a fresh state
//! root rebuilds a cached build running none of its steps and producing the same image digest.
//!
//! - [`parse_cache_option`] reads BuildKit's option syntax (`type=local,dest=DIR`,
//!   `type=registry,ref=REF`, `mode=min|max`).
//! - [`export_cache`] writes the results under some cache keys, with their layers as blobs.
//! - [`import_cache`] reads them back into a state root; a missing cache is a miss.
//!
//! # Format
//!
//! The shape is BuildKit's (moby/buildkit `cache/remotecache`): the layer blobs plus one JSON
//! config blob describing the results, held together by an OCI document that a registry or an
//! OCI image layout stores like any image. BuildKit's classic format is an index whose entries
//! are the blobs themselves; its newer `image-manifest=true` format is an OCI image manifest
//! whose config is the cache config and whose layers are the blobs. We write the latter: every
//! registry accepts an image manifest, while indexes of non-manifests are refused by some.
//!
//! The config schema is graphbuild's own, not BuildKit's `application/vnd.buildkit.cacheconfig.v0`:
//! BuildKit's records are a graph of op digests, selectors and links that it re-derives keys
//! from, while a graphbuild cache key is already machine independent (sha256 over the op's
//! digest, its inputs' keys and its content key, `docs/engine.md`), so a record is just the
//! key and what `gb_cache::ResultRecord` holds, with layer blobs for layer ids. Its media type is
//! [`CONFIG_MEDIA_TYPE`]; canonical JSON (sorted keys, compact):
//!
//! ```json
//! {
//!   "layers": [
//!     { "blob": "sha256:…", "diff_id": "sha256:…", "media_type": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 1234 }
//!   ],
//!   "records": [
//!     { "created_unix": 1700000000, "description": "RUN make", "key": "sha256:…", "outputs": [["sha256:…", "sha256:…"]] }
//!   ],
//!   "version": 1
//! }
//! ```
//!
//! `layers` lists each blob once, in the manifest's order; a record's `outputs` has, per output
//! of the op, its layers' blob digests bottom first (an empty list is scratch). `diff_id` lets an
//! import verify the unpacked layer; `created_unix` is kept because an image's `created` derives
//! from it. A reader refuses another `version`; adding an optional field needs no new version.
//! The manifest is `{"schemaVersion":2, "mediaType": <OCI image manifest>, "config": <config
//! descriptor>, "layers": [<one descriptor per entry of layers>]}`. Locally it is filed in the
//! layout's `index.json` under the tag `latest`; in a registry, under the reference's tag.
//! `docs/cache-format.md` says the same for readers outside the code.

mod error;
mod export;
mod format;
mod import;
mod local;
mod option;
mod util;

pub use error::{CacheShareError, ErrorKind};
pub use export::{ExportReport, export_cache, layer_blob_records};
pub use format::{CONFIG_MEDIA_TYPE, CONFIG_VERSION, CacheConfig, CacheLayer, CacheRecord, MANIFEST_MEDIA_TYPE};
pub use import::{CacheDocument, ImportReport, import_cache};
pub use option::{CacheLocation, CacheMode, ReapiLocation, parse_cache_option};

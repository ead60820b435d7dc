//! The state root and everything in it: where records, blobs, layers, runtime work dirs and
//! container records live (`root`), the image store as docker's image commands see it
//! (`images`, `image`), garbage collection and the lease that keeps it away from a build's
//! unreferenced layers (`gc`). No other crate builds a path inside a root: they ask
//! [`StateRoot`] for the directory they need.

mod changes;
mod error;
mod filter;
mod gc;
mod image;
mod images;
mod root;

pub use changes::apply_change;
pub use error::{ErrorKind, StoreError};
pub use filter::{ImageFilter, path_match};
pub use gc::{Freed, collect_garbage, find_image, images, images_in_use, images_of_containers, process_runs};
pub use image::{
    CommitInfo, ImportOptions, commit_image, find, import_rootfs, import_rootfs_from, ir_config, manifest_of,
    record_platform,
};
pub use images::{
    CacheUsage, DiskUsage, HistoryEntry, ImageSummary, Pruned, PrunedImages, Removal, disk_usage, image_history,
    inspect_image, list_images, parse_created, prune, prune_images, remove_image, repository_and_tag, tag_image,
};
pub use root::{StateRoot, create_private_dir, is_no_space};

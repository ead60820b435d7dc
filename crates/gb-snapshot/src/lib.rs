//! Snapshots as stacks of overlayfs layer directories: mounts, tar import with whiteouts, export, and content checksums of file trees.

//! Images from build results: layer blobs, config, manifest, OCI layout and docker-archive.

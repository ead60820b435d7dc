//! Garbage collection (what nothing references goes), and what it must keep: every image, the
//! build cache it is not asked to drop, and what running containers are mounted from.

use std::collections::BTreeSet;

use gb_cache::{ImageName, ImageRecord, LayerId};
use gb_ir::Sha256Digest;

use crate::error::StoreError;
use crate::root::StateRoot;

/// What garbage collection freed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Freed {
    /// Layers removed.
    pub layers: usize,
    /// Blobs removed.
    pub blobs: usize,
    /// Build cache results removed.
    pub results: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Every named image of a root, by normalized name.
pub fn images(root: &StateRoot) -> Result<Vec<(ImageName, ImageRecord)>, StoreError> {
    root.db.images().map_err(StoreError::records("reading the image store"))
}

/// The image a name (`app`, `app:1`, `reg/app@sha256:...`) or an id (prefix) names, with its
/// full name; Docker's "no such image" when none.
pub fn find_image(root: &StateRoot, name: &str) -> Result<(ImageName, ImageRecord), StoreError> {
    crate::image::find(root, name)?.ok_or_else(|| StoreError::NoSuchImage(name.to_owned()))
}

/// Images that running containers use, by config digest.
pub fn images_in_use(root: &StateRoot) -> BTreeSet<Sha256Digest> {
    container_records(root)
        .filter(|record| {
            record["state"]["status"] == "running" && record["state"]["pid"].as_u64().is_some_and(process_runs)
        })
        .filter_map(|record| record["image_id"].as_str().and_then(|d| d.parse().ok()))
        .collect()
}

/// Images that any container uses, running or not (docker's "used" for `image prune -a` and
/// `system df`'s active images), by config digest.
pub fn images_of_containers(root: &StateRoot) -> BTreeSet<Sha256Digest> {
    container_records(root).filter_map(|record| record["image_id"].as_str().and_then(|d| d.parse().ok())).collect()
}

/// The records of the root's containers (`ROOT/containers/ID/container.json`, written by the
/// gb-containers crate, which this reads only for `image_id`, `layers` and `state`); unreadable
/// ones are skipped.
fn container_records(root: &StateRoot) -> impl Iterator<Item = serde_json::Value> {
    std::fs::read_dir(root.containers_dir()).into_iter().flatten().flatten().filter_map(|entry| {
        let path = entry.path().join("container.json");
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    })
}

/// Removes blobs and layers nothing references any more: every image's manifest, config and
/// layer blobs and layers are live, and so are the layers of cache results that are kept and of
/// running containers. With `drop_cache`, every build cache result is removed first. Layers
/// shared between images are therefore never removed while one image still needs them. Waits
/// for running builds, pulls and loads (their new layers are not referenced yet).
pub fn collect_garbage(root: &StateRoot, drop_cache: bool) -> Result<Freed, StoreError> {
    let _collecting = root.collecting();
    let mut freed = Freed::default();
    if drop_cache {
        for (key, _) in root.db.results().map_err(StoreError::records("reading the cache"))? {
            root.db.remove_result(&key).map_err(StoreError::records("writing the cache"))?;
            freed.results += 1;
        }
    }
    let (live_layers, live_blobs) = live(root)?;
    for (id, record) in root.db.layers().map_err(StoreError::records("reading the layers"))? {
        if live_layers.contains(&id) {
            continue;
        }
        let path = root.snapshots.layer_path(&id);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(StoreError::io(format!("removing {}", path.display())))?;
        }
        root.db.remove_layer(&id).map_err(StoreError::records("writing the layers"))?;
        freed.layers += 1;
        freed.bytes += record.size;
    }
    for (digest, size) in root.content.blobs() {
        if live_blobs.contains(&digest) {
            continue;
        }
        root.content.remove(&digest).map_err(StoreError::records("removing a blob"))?;
        freed.bytes += size;
        freed.blobs += 1;
    }
    Ok(freed)
}

/// The layers and blobs something still references.
fn live(root: &StateRoot) -> Result<(BTreeSet<LayerId>, BTreeSet<Sha256Digest>), StoreError> {
    let mut live_layers: BTreeSet<LayerId> = BTreeSet::new();
    let mut live_blobs: BTreeSet<Sha256Digest> = BTreeSet::new();
    for (_, record) in &images(root)? {
        live_layers.extend(record.layers.iter().cloned());
        live_blobs.insert(record.manifest_digest);
        live_blobs.insert(record.config_digest);
        if let Ok(bytes) = root.content.read(&record.manifest_digest)
            && let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            for layer in manifest["layers"].as_array().into_iter().flatten() {
                if let Some(digest) = layer["digest"].as_str().and_then(|d| d.parse().ok()) {
                    live_blobs.insert(digest);
                }
            }
        }
    }
    // Layers a container is made from stay while the container does, whatever happened to its
    // image.
    for record in container_records(root) {
        for layer in record["layers"].as_array().into_iter().flatten() {
            if let Some(id) = layer.as_str().and_then(|l| l.parse::<LayerId>().ok()) {
                live_layers.insert(id);
            }
        }
    }
    for (_, result) in root.db.results().map_err(StoreError::records("reading the cache"))? {
        for snapshot in result.outputs {
            live_layers.extend(snapshot.layers);
        }
    }
    Ok((live_layers, live_blobs))
}

/// Whether process `pid` runs: a zombie (dead, its parent yet to reap it, which a lazy init
/// takes its time over) does not.
pub fn process_runs(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rfind(')').and_then(|close| stat[close + 1..].trim_start().chars().next());
        !matches!(state, None | Some('Z' | 'X' | 'x'))
    })
}

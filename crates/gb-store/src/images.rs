//! The image store as docker's image commands see it: listing, inspecting, history, tagging,
//! removing, disk usage and pruning, as data (serde) for the CLI to render and for the server's
//! typed requests to return. Nothing here prints.

use std::collections::{BTreeMap, BTreeSet};

use gb_cache::{ImageName, ImageRecord, LayerId};
use gb_ir::{ImageReference, Sha256Digest};
use serde::Serialize;

use crate::error::StoreError;
use crate::gc::{collect_garbage, find_image, images, images_in_use, images_of_containers};
use crate::root::StateRoot;

/// One image name in the store, as `docker images` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    /// The normalized name (`docker.io/library/busybox:latest`).
    pub name: ImageName,
    /// The repository's familiar name (`busybox`), `<none>` for a name that does not parse.
    pub repository: String,
    /// The tag, `<none>` when the name has none.
    pub tag: String,
    /// The image id: its config's digest.
    pub id: Sha256Digest,
    /// Its manifest's digest.
    pub manifest_digest: Sha256Digest,
    /// The digest the name was pulled by, if any.
    pub digest: Option<String>,
    /// When it was created (its config's `created`), seconds since the epoch.
    pub created_unix: u64,
    /// Its layers' bytes on disk, as if it were alone.
    pub size: u64,
    /// Its config's labels.
    pub labels: BTreeMap<String, String>,
}

impl ImageSummary {
    /// The id as docker shows it: the config digest's first 12 hex digits.
    pub fn short_id(&self) -> String {
        self.id.hex()[..12].to_owned()
    }
}

/// One row of an image's history, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// When, seconds since the epoch, if the entry says.
    pub created_unix: Option<u64>,
    /// The instruction (`RUN /bin/sh -c make # buildkit`).
    pub created_by: String,
    /// The bytes its layer takes (0 for an entry without a layer).
    pub size: u64,
    /// The entry's comment.
    pub comment: String,
    /// Whether the entry made no layer.
    pub empty_layer: bool,
}

/// What removing one name did.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    /// The familiar names untagged.
    pub untagged: Vec<String>,
    /// The image id, when no name is left for it.
    pub deleted: Option<Sha256Digest>,
}

/// What the store takes on disk, as `docker system df` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DiskUsage {
    /// Distinct images (by id).
    pub images: usize,
    /// Images a container uses (running or not).
    pub images_active: usize,
    /// What the images would take, each alone.
    pub images_logical: u64,
    /// What their layers take, shared ones once.
    pub images_on_disk: u64,
    /// Build cache records.
    pub cache_records: usize,
    /// What the cache's results would take, each alone.
    pub cache_logical: u64,
    /// What the layers only the cache names take (reclaimable by `prune`).
    pub cache_on_disk: u64,
    /// What the content store's blobs take.
    pub blobs: u64,
    /// Per image name: its summary and the bytes it shares with other images.
    pub per_image: Vec<(ImageSummary, u64)>,
    /// What the layers of the images no container uses take (docker's reclaimable).
    pub images_reclaimable: u64,
    /// The ids of the images containers use.
    pub active_ids: BTreeSet<Sha256Digest>,
    /// Per build cache record: what `system df -v` lists.
    pub per_cache: Vec<CacheUsage>,
}

/// One build cache record, as `docker system df -v` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CacheUsage {
    /// The record's cache key (hex).
    pub id: String,
    /// The step it is the result of.
    pub description: String,
    /// The bytes of the layers the step made (each output's top layer).
    pub size: u64,
    /// When it was stored, seconds since the epoch.
    pub created_unix: u64,
    /// Whether an image holds a layer the step made too.
    pub shared: bool,
}

/// What `prune` freed.
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    /// Cache records removed.
    pub results: usize,
    /// Layers removed.
    pub layers: usize,
    /// Blobs removed.
    pub blobs: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Whether the cache mounts (`RUN --mount=type=cache`) were removed too.
    pub cache_mounts: bool,
}

/// Every image name, newest first (then by repository and tag).
pub fn list_images(root: &StateRoot) -> Result<Vec<ImageSummary>, StoreError> {
    let all: Vec<ImageSummary> = images(root)?.iter().map(|(name, record)| summary(root, name, record)).collect();
    // A pull by digest (a FROM's base is pulled pinned) files the image under `repo@digest` as
    // well as its tag; docker lists such an image once, under its tag, the digest in its
    // DIGEST column.
    let pinned = |image: &ImageSummary| image.name.reference().ok().and_then(|r| r.digest);
    let mut list: Vec<ImageSummary> = Vec::with_capacity(all.len());
    for image in &all {
        let tagged = |other: &&ImageSummary| {
            pinned(other).is_none()
                && !other.name.is_dangling()
                && other.repository == image.repository
                && other.id == image.id
        };
        if pinned(image).is_some() && all.iter().any(|other| tagged(&other)) {
            continue;
        }
        let mut image = image.clone();
        if image.digest.is_none() && !image.name.is_dangling() {
            image.digest = all
                .iter()
                .find(|other| other.repository == image.repository && other.id == image.id && pinned(other).is_some())
                .and_then(pinned)
                .map(|digest| digest.to_string());
        }
        list.push(image);
    }
    list.sort_by(|a, b| {
        b.created_unix.cmp(&a.created_unix).then(a.repository.cmp(&b.repository)).then(a.tag.cmp(&b.tag))
    });
    Ok(list)
}

/// The image `name` (a name or an id prefix) in docker's `image inspect` shape.
pub fn inspect_image(root: &StateRoot, name: &str) -> Result<serde_json::Value, StoreError> {
    let (_, record) = find_image(root, name)?;
    let tags: Vec<String> = images(root)?
        .iter()
        .filter(|(n, r)| r.config_digest == record.config_digest && !n.is_dangling())
        .map(|(n, _)| n.familiar())
        .collect();
    let config = &record.config;
    let manifest: serde_json::Value = root
        .content
        .read(&record.manifest_digest)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok(serde_json::json!({
        "Id": record.config_digest.to_string(),
        "RepoTags": tags,
        "RepoDigests": repo_digests(root, &record)?,
        "ManifestDigest": record.manifest_digest.to_string(),
        // An image without a creation time (an import) shows when it was stored.
        "Created": match &config["created"] {
            serde_json::Value::String(created) => serde_json::json!(created),
            _ => serde_json::json!(gb_export::rfc3339(i64::try_from(record.created_unix).unwrap_or(i64::MAX))),
        },
        "Parent": "",
        "Comment": config.get("comment").cloned().unwrap_or(serde_json::Value::String(String::new())),
        "Author": config.get("author").cloned().unwrap_or(serde_json::Value::String(String::new())),
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Variant": config.get("variant").cloned().unwrap_or(serde_json::Value::Null),
        "Config": config["config"],
        "RootFS": { "Type": "layers", "Layers": record.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>() },
        "Size": image_size(root, &record),
        "History": config["history"],
        "Manifest": manifest,
    }))
}

/// `repo@digest` for each repository the image was pulled or pushed by digest as (docker's
/// `RepoDigests`), familiar names, sorted.
fn repo_digests(root: &StateRoot, record: &ImageRecord) -> Result<Vec<String>, StoreError> {
    let mut digests = BTreeSet::new();
    for (name, image) in images(root)? {
        if image.config_digest != record.config_digest || name.is_dangling() {
            continue;
        }
        for reference in [name.reference().ok(), ImageReference::parse(&image.reference).ok()].into_iter().flatten() {
            let mut repository = reference.clone();
            repository.tag = None;
            if let Some(digest) = reference.digest {
                repository.digest = None;
                digests.insert(format!("{}@{digest}", repository.familiar()));
            }
        }
    }
    Ok(digests.into_iter().collect())
}

/// The image's id and its history, oldest entry first.
pub fn image_history(root: &StateRoot, name: &str) -> Result<(Sha256Digest, Vec<HistoryEntry>), StoreError> {
    let (_, record) = find_image(root, name)?;
    let history = record.config["history"].as_array().cloned().unwrap_or_default();
    let mut layers = record.layers.iter();
    let entries = history
        .iter()
        .map(|entry| {
            let empty_layer = entry["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty_layer { 0 } else { layers.next().map_or(0, |l| layer_size(root, l)) };
            HistoryEntry {
                created_unix: entry["created"].as_str().and_then(parse_created),
                created_by: entry["created_by"].as_str().unwrap_or_default().to_owned(),
                size,
                comment: entry["comment"].as_str().unwrap_or_default().to_owned(),
                empty_layer,
            }
        })
        .collect();
    Ok((record.config_digest, entries))
}

/// Gives the image `source` the name `target` (normalized; an existing name moves).
pub fn tag_image(root: &StateRoot, source: &str, target: &str) -> Result<ImageName, StoreError> {
    let (_, record) = find_image(root, source)?;
    let target = ImageReference::parse_new_name(target).map_err(|e| StoreError::InvalidName(e.to_string()))?;
    let name = ImageName::of(&target);
    let mut tagged = record;
    tagged.reference = name.to_string();
    root.db.put_image(&name, &tagged).map_err(StoreError::records("writing the image store"))?;
    Ok(name)
}

/// Removes `name`: a name untags it; an id removes every name of the image (`force` needed
/// when there are several, as docker asks). An image a running container uses is not deleted
/// unless `force` (untagging one of its names is fine). Layers are left for [`collect_garbage`] (the caller runs it once after a batch).
pub fn remove_image(root: &StateRoot, name: &str, force: bool) -> Result<Removal, StoreError> {
    let (found_name, record) = find_image(root, name)?;
    let names: Vec<ImageName> =
        images(root)?.into_iter().filter(|(_, r)| r.config_digest == record.config_digest).map(|(n, _)| n).collect();
    let by_id = ImageName::parse(name).ok().as_ref() != Some(&found_name);
    // As docker: untagging one of several names is always allowed; deleting the image itself
    // (its last name, or by id) is not while a running container uses it.
    let deletes = by_id || names.len() == 1;
    if deletes && !force && images_in_use(root).contains(&record.config_digest) {
        return Err(StoreError::Conflict(format!(
            "unable to remove {name}: image is being used by a running container (use -f to remove anyway)"
        )));
    }
    let remove = if by_id {
        if names.len() > 1 && !force {
            return Err(StoreError::Conflict(format!(
                "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                &record.config_digest.hex()[..12]
            )));
        }
        names.clone()
    } else {
        vec![found_name]
    };
    let mut untagged = Vec::new();
    for name in &remove {
        root.db.remove_image(name).map_err(StoreError::records("writing the image store"))?;
        if !name.is_dangling() {
            untagged.push(name.familiar());
        }
    }
    let deleted = (remove.len() == names.len()).then_some(record.config_digest);
    Ok(Removal { untagged, deleted })
}

/// Removes build cache and what nothing names any more; with `cache_mounts`, the contents of
/// `RUN --mount=type=cache` mounts too.
pub fn prune(root: &StateRoot, cache_mounts: bool) -> Result<Pruned, StoreError> {
    let freed = collect_garbage(root, true)?;
    let mut bytes = freed.bytes;
    let dir = root.cache_mounts_dir();
    if cache_mounts && dir.exists() {
        bytes += gb_snapshot::tree_size(&dir).unwrap_or(0);
        std::fs::remove_dir_all(&dir).map_err(StoreError::io(format!("removing {}", dir.display())))?;
    }
    Ok(Pruned { results: freed.results, layers: freed.layers, blobs: freed.blobs, bytes, cache_mounts })
}

/// What `image prune` removed, in docker's order: each name untagged, then each image deleted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrunedImages {
    /// The familiar names untagged (`image prune -a` only).
    pub untagged: Vec<String>,
    /// The ids of the images deleted.
    pub deleted: Vec<Sha256Digest>,
    /// Bytes freed (layers and blobs nothing references any more).
    pub bytes: u64,
}

/// Removes the dangling images (with `all`, every image) that no container uses, running or
/// not, then the layers and blobs nothing references any more, as `docker image prune [-a]`.
pub fn prune_images(root: &StateRoot, all: bool) -> Result<PrunedImages, StoreError> {
    let in_use = images_of_containers(root);
    let mut pruned = PrunedImages::default();
    for (name, record) in images(root)? {
        if in_use.contains(&record.config_digest) || !(all || name.is_dangling()) {
            continue;
        }
        root.db.remove_image(&name).map_err(StoreError::records("writing the image store"))?;
        if !name.is_dangling() {
            pruned.untagged.push(name.familiar());
        }
        if !pruned.deleted.contains(&record.config_digest) {
            pruned.deleted.push(record.config_digest);
        }
    }
    pruned.bytes = collect_garbage(root, false)?.bytes;
    Ok(pruned)
}

/// What images, build cache and blobs take, shared layers counted once.
pub fn disk_usage(root: &StateRoot) -> Result<DiskUsage, StoreError> {
    let all = images(root)?;
    let mut unique: BTreeMap<Sha256Digest, &ImageRecord> = BTreeMap::new();
    for (_, record) in &all {
        unique.insert(record.config_digest, record);
    }
    let image_layers: BTreeSet<&LayerId> = unique.values().flat_map(|r| r.layers.iter()).collect();
    let results = root.db.results().map_err(StoreError::records("reading the cache"))?;
    let cache_layers: BTreeSet<&LayerId> =
        results.iter().flat_map(|(_, r)| r.outputs.iter().flat_map(|s| &s.layers)).collect();
    let in_use = images_of_containers(root);
    let per_image = all
        .iter()
        .map(|(name, record)| {
            let shared = record
                .layers
                .iter()
                .filter(|l| unique.values().filter(|r| r.layers.contains(l)).count() > 1)
                .map(|l| layer_size(root, l))
                .sum();
            (summary(root, name, record), shared)
        })
        .collect();
    Ok(DiskUsage {
        images: unique.len(),
        images_active: unique.keys().filter(|d| in_use.contains(d)).count(),
        images_logical: unique.values().map(|r| image_size(root, r)).sum(),
        images_on_disk: image_layers.iter().map(|l| layer_size(root, l)).sum(),
        cache_records: results.len(),
        cache_logical: results
            .iter()
            .map(|(_, r)| r.outputs.iter().flat_map(|s| &s.layers).map(|l| layer_size(root, l)).sum::<u64>())
            .sum(),
        cache_on_disk: cache_layers.iter().filter(|l| !image_layers.contains(*l)).map(|l| layer_size(root, l)).sum(),
        blobs: root.content.disk_usage(),
        per_image,
        images_reclaimable: image_layers
            .iter()
            .filter(|l| !unique.iter().any(|(id, r)| in_use.contains(id) && r.layers.contains(l)))
            .map(|l| layer_size(root, l))
            .sum(),
        per_cache: results
            .iter()
            .map(|(key, record)| {
                let made: Vec<&LayerId> = record.outputs.iter().filter_map(|s| s.layers.last()).collect();
                CacheUsage {
                    id: key.0.hex(),
                    description: record.description.clone(),
                    size: made.iter().map(|l| layer_size(root, l)).sum(),
                    created_unix: record.created_unix,
                    shared: made.iter().any(|l| image_layers.contains(l)),
                }
            })
            .collect(),
        active_ids: in_use,
    })
}

/// When an image was created: its config's `created`, else when it was stored.
pub(crate) fn created_of(record: &ImageRecord) -> u64 {
    record.config["created"].as_str().and_then(parse_created).unwrap_or(record.created_unix)
}

fn summary(root: &StateRoot, name: &ImageName, record: &ImageRecord) -> ImageSummary {
    let (repository, tag) = match name.is_dangling() {
        true => ("<none>".to_owned(), "<none>".to_owned()),
        false => repository_and_tag(name.as_str()),
    };
    ImageSummary {
        name: name.clone(),
        repository,
        tag,
        id: record.config_digest,
        manifest_digest: record.manifest_digest,
        digest: ImageReference::parse(&record.reference).ok().and_then(|r| r.digest).map(|d| d.to_string()),
        created_unix: created_of(record),
        size: image_size(root, record),
        labels: record.config["config"]["Labels"]
            .as_object()
            .map(|labels| labels.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default(),
    }
}

/// The repository's familiar name and the tag (`<none>` for what a name lacks).
pub fn repository_and_tag(name: &str) -> (String, String) {
    match ImageReference::parse(name) {
        Ok(reference) => {
            let tag = reference.tag.clone().unwrap_or_else(|| "<none>".to_owned());
            let mut repository = reference.clone();
            repository.tag = None;
            repository.digest = None;
            (repository.familiar(), tag)
        }
        Err(_) => (name.to_owned(), "<none>".to_owned()),
    }
}

fn layer_size(root: &StateRoot, id: &LayerId) -> u64 {
    root.db.layer(id).ok().flatten().map_or(0, |l| l.size)
}

fn image_size(root: &StateRoot, record: &ImageRecord) -> u64 {
    record.layers.iter().map(|l| layer_size(root, l)).sum()
}

/// Seconds since the epoch of an RFC 3339 time as image configs write it
/// (`2023-11-14T22:13:20.5Z`; an offset is ignored).
pub fn parse_created(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let time = time.trim_end_matches('Z').split(['+', '-']).next()?;
    let mut time = time.split(':');
    let (hour, minute) = (time.next()?.parse::<i64>().ok()?, time.next()?.parse::<i64>().ok()?);
    let second = time.next()?.split('.').next()?.parse::<i64>().ok()?;
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_times_parse() {
        assert_eq!(parse_created("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_created("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_created("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000));
        assert_eq!(parse_created("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(parse_created("yesterday"), None);
    }

    #[test]
    fn names_split_into_repository_and_tag() {
        assert_eq!(repository_and_tag("docker.io/library/busybox:latest"), ("busybox".into(), "latest".into()));
        assert_eq!(repository_and_tag("127.0.0.1:5000/app:1"), ("127.0.0.1:5000/app".into(), "1".into()));
    }
}

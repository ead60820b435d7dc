//! The image store commands: `images`, `image inspect`, `history`, `tag`, `rmi`, `df`, `prune`.
//! Output formats follow Docker's, so people and scripts read them the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gb_cache::{ImageRecord, LayerId};
use gb_ir::{ImageReference, Sha256Digest};
use gb_solver::StateRoot;

use crate::cli::{DfArgs, HistoryArgs, ImagesArgs, InspectArgs, PruneArgs, RmiArgs, TagArgs};
use crate::exit::Failure;
use crate::stdout::outln;

fn env_failure(context: &str, err: impl std::fmt::Display) -> Failure {
    Failure::Io(format!("{context}: {err}"))
}

fn all_images(root: &StateRoot) -> Result<Vec<(String, ImageRecord)>, Failure> {
    gb_engine::images(root).map_err(|e| super::engine::engine_failure(e, None))
}

/// Finds an image or fails with Docker's message.
pub fn find(root: &StateRoot, name: &str) -> Result<(String, ImageRecord), Failure> {
    gb_engine::find_image(root, name).map_err(|e| super::engine::engine_failure(e, None))
}

/// The image id Docker shows: the config digest's first 12 hex digits.
fn short_id(record: &ImageRecord) -> String {
    record.config_digest.hex()[..12].to_owned()
}

/// Docker's human sizes: 1000-based, three significant digits (`1.23kB`, `12.3MB`, `123MB`).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes}B");
    }
    let text = if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{}", units[unit])
}

/// "2 minutes ago", as Docker prints times.
fn ago(unix: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let seconds = now.saturating_sub(unix);
    let (value, unit) = match seconds {
        0..=59 => {
            return if seconds <= 1 { "Less than a second ago".to_owned() } else { format!("{seconds} seconds ago") };
        }
        60..=3599 => (seconds / 60, "minute"),
        3600..=86_399 => (seconds / 3600, "hour"),
        86_400..=2_591_999 => (seconds / 86_400, "day"),
        2_592_000..=31_535_999 => (seconds / 2_592_000, "month"),
        _ => (seconds / 31_536_000, "year"),
    };
    if value == 1 {
        let article = if unit == "hour" { "An" } else { "A" };
        format!("{article} {unit} ago")
    } else {
        format!("{value} {unit}s ago")
    }
}

/// Seconds since the epoch of an RFC 3339 `created` field (UTC `Z` or offset ignored).
fn parse_created(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let time = time.split(['+', '-']).next()?;
    let mut t = time.split(':');
    let (h, min) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?);
    let s = t.next()?.split('.').next()?.parse::<i64>().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + min * 60 + s).ok()
}

fn created_unix(record: &ImageRecord) -> u64 {
    record.config["created"].as_str().and_then(parse_created).unwrap_or(record.created_unix)
}

fn layer_size(root: &StateRoot, id: &LayerId) -> u64 {
    root.db.layer(id).ok().flatten().map_or(0, |l| l.size)
}

fn image_size(root: &StateRoot, record: &ImageRecord) -> u64 {
    record.layers.iter().map(|l| layer_size(root, l)).sum()
}

/// Docker's `images` name matching: `*` and `?` against the repository's familiar name.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn repository_and_tag(name: &str) -> (String, String) {
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

/// `graphbuild images`.
pub fn images(args: ImagesArgs, root: &StateRoot) -> Result<(), Failure> {
    let pattern = args.pattern.as_deref().map(|p| repository_and_tag(p).0);
    let mut rows = Vec::new();
    for (name, record) in all_images(root)? {
        let (repository, tag) = repository_and_tag(&name);
        if let Some(pattern) = &pattern
            && !matches_pattern(pattern, &repository)
        {
            continue;
        }
        rows.push((created_unix(&record), repository, tag, record));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    if args.quiet {
        let mut seen = BTreeSet::new();
        for (_, _, _, record) in &rows {
            if seen.insert(short_id(record)) {
                outln!("{}", short_id(record));
            }
        }
        return Ok(());
    }
    match args.format.as_str() {
        "table" => {}
        "json" => {
            for (created, repository, tag, record) in &rows {
                outln!("{}", json_line(root, *created, repository, tag, record));
            }
            return Ok(());
        }
        other => return Err(Failure::Input(format!("--format {other}: expected table or json"))),
    }
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|(created, repository, tag, record)| {
            [repository.clone(), tag.clone(), short_id(record), ago(*created), human_size(image_size(root, record))]
        })
        .collect();
    print_table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &table);
    Ok(())
}

/// One image as `docker images --format json` prints it (fields docker computes from
/// containers and shared layers are `N/A`, as docker prints them without `--size`).
fn json_line(root: &StateRoot, created: u64, repository: &str, tag: &str, record: &ImageRecord) -> String {
    let size = human_size(image_size(root, record));
    let digest = ImageReference::parse(&record.reference)
        .ok()
        .and_then(|r| r.digest)
        .map_or_else(|| "<none>".to_owned(), |d| d.to_string());
    serde_json::json!({
        "Containers": "N/A",
        "CreatedAt": docker_time(created),
        "CreatedSince": ago(created),
        "Digest": digest,
        "ID": short_id(record),
        "Repository": repository,
        "SharedSize": "N/A",
        "Size": size,
        "Tag": tag,
        "UniqueSize": "N/A",
        "VirtualSize": size,
    })
    .to_string()
}

/// Docker's time format for `CreatedAt`: `2006-01-02 15:04:05 +0000 UTC`.
fn docker_time(unix: u64) -> String {
    let rfc3339 = gb_export::rfc3339(i64::try_from(unix).unwrap_or(i64::MAX));
    format!("{} +0000 UTC", rfc3339.trim_end_matches('Z').replacen('T', " ", 1))
}

fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        outln!("{}", text.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `graphbuild image inspect`: Docker's shape (Id, RepoTags, Created, Config, RootFS, ...).
pub fn inspect(args: InspectArgs, root: &StateRoot) -> Result<(), Failure> {
    let images = all_images(root)?;
    let mut out = Vec::new();
    for name in &args.names {
        let (_, record) = find(root, name)?;
        let tags: Vec<String> = images
            .iter()
            .filter(|(_, r)| r.config_digest == record.config_digest)
            .map(|(n, _)| ImageReference::parse(n).map_or_else(|_| n.clone(), |r| r.familiar()))
            .collect();
        let config = &record.config;
        let manifest: serde_json::Value = root
            .content
            .read(&record.manifest_digest)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(serde_json::Value::Null);
        out.push(serde_json::json!({
            "Id": record.config_digest.to_string(),
            "RepoTags": tags,
            "RepoDigests": [],
            "ManifestDigest": record.manifest_digest.to_string(),
            "Created": config["created"],
            "Author": config.get("author").cloned().unwrap_or(serde_json::Value::String(String::new())),
            "Architecture": config["architecture"],
            "Os": config["os"],
            "Variant": config.get("variant").cloned().unwrap_or(serde_json::Value::Null),
            "Config": config["config"],
            "RootFS": { "Type": "layers", "Layers": record.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>() },
            "Size": image_size(root, &record),
            "History": config["history"],
            "Manifest": manifest,
        }));
    }
    outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

/// `graphbuild history`: newest first, `<missing>` ids below the top, as Docker shows images
/// built by BuildKit.
pub fn history(args: HistoryArgs, root: &StateRoot) -> Result<(), Failure> {
    let (_, record) = find(root, &args.name)?;
    let history = record.config["history"].as_array().cloned().unwrap_or_default();
    let mut layers = record.layers.iter();
    let mut rows: Vec<[String; 5]> = Vec::new();
    for entry in &history {
        let empty = entry["empty_layer"].as_bool().unwrap_or(false);
        let size = if empty { 0 } else { layers.next().map_or(0, |l| layer_size(root, l)) };
        let created_by = entry["created_by"].as_str().unwrap_or_default().to_owned();
        let created_by = if args.no_trunc || created_by.chars().count() <= 45 {
            created_by
        } else {
            format!("{}…", created_by.chars().take(44).collect::<String>())
        };
        let created = entry["created"].as_str().and_then(parse_created).map_or_else(|| "N/A".to_owned(), ago);
        let size = if args.human { human_size(size) } else { size.to_string() };
        rows.push([
            "<missing>".to_owned(),
            created,
            created_by,
            size,
            entry["comment"].as_str().unwrap_or_default().to_owned(),
        ]);
    }
    rows.reverse();
    if let Some(first) = rows.first_mut() {
        first[0] = short_id(&record);
    }
    print_table(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], &rows);
    Ok(())
}

/// `graphbuild tag`.
pub fn tag(args: TagArgs, root: &StateRoot) -> Result<(), Failure> {
    let (_, record) = find(root, &args.source)?;
    let target = ImageReference::parse_new_name(&args.target).map_err(|e| Failure::Input(e.to_string()))?;
    let mut tagged = record;
    tagged.reference = target.to_string();
    root.db.put_image(&target.to_string(), &tagged).map_err(|e| env_failure("writing the image store", e))
}

/// `graphbuild rmi`.
pub fn rmi(args: RmiArgs, root: &StateRoot) -> Result<(), Failure> {
    let in_use = gb_engine::images_in_use(root);
    for name in &args.names {
        let (found_name, record) = find(root, name)?;
        let names: Vec<String> = all_images(root)?
            .into_iter()
            .filter(|(_, r)| r.config_digest == record.config_digest)
            .map(|(n, _)| n)
            .collect();
        let by_id = ImageReference::parse(name).map(|r| r.to_string()) != Ok(found_name.clone());
        if !args.force && in_use.contains(&record.config_digest) {
            return Err(Failure::Input(format!(
                "conflict: unable to remove {name}: image is being used by a running container (use -f to remove anyway)"
            )));
        }
        let remove: Vec<String> = if by_id {
            if names.len() > 1 && !args.force {
                return Err(Failure::Input(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    short_id(&record)
                )));
            }
            names.clone()
        } else {
            vec![found_name.clone()]
        };
        for name in &remove {
            root.db.remove_image(name).map_err(|e| env_failure("writing the image store", e))?;
            let familiar = ImageReference::parse(name).map_or_else(|_| name.clone(), |r| r.familiar());
            outln!("Untagged: {familiar}");
        }
        if remove.len() == names.len() {
            outln!("Deleted: {}", record.config_digest);
        }
    }
    collect_garbage(root, false)?;
    Ok(())
}

fn collect_garbage(root: &StateRoot, drop_cache: bool) -> Result<gb_engine::Freed, Failure> {
    gb_engine::collect_garbage(root, drop_cache).map_err(|e| super::engine::engine_failure(e, None))
}

/// `graphbuild prune`.
pub fn prune(args: PruneArgs, root: &StateRoot) -> Result<(), Failure> {
    let freed = collect_garbage(root, true)?;
    let mut bytes = freed.bytes;
    if args.all {
        let dir = root.cache_mounts_dir();
        if dir.exists() {
            bytes += dir_size(&dir);
            std::fs::remove_dir_all(&dir).map_err(|e| env_failure("removing cache mounts", e))?;
        }
    }
    outln!(
        "Deleted {} build cache entries, {} layers, {} blobs{}",
        freed.results,
        freed.layers,
        freed.blobs,
        if args.all { ", and the cache mounts" } else { "" }
    );
    outln!("Total reclaimed space: {}", human_size(bytes));
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
        } else {
            total += meta.len();
        }
    }
    total
}

/// `graphbuild df`: images and build cache, their logical size (what each would take alone)
/// against what they take on disk, shared layers counted once.
pub fn df(args: DfArgs, root: &StateRoot) -> Result<(), Failure> {
    let images = all_images(root)?;
    let mut unique_images: BTreeMap<Sha256Digest, &ImageRecord> = BTreeMap::new();
    for (_, record) in &images {
        unique_images.insert(record.config_digest, record);
    }
    let image_layers: BTreeSet<&LayerId> = unique_images.values().flat_map(|r| r.layers.iter()).collect();
    let image_logical: u64 = unique_images.values().map(|r| image_size(root, r)).sum();
    let image_disk: u64 = image_layers.iter().map(|l| layer_size(root, l)).sum();
    let blobs: u64 = std::fs::read_dir(root.path().join("content/sha256"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let results = root.db.results().map_err(|e| env_failure("reading the cache", e))?;
    let cache_layers: BTreeSet<LayerId> =
        results.iter().flat_map(|(_, r)| r.outputs.iter().flat_map(|s| s.layers.iter().cloned())).collect();
    let cache_only: BTreeSet<&LayerId> = cache_layers.iter().filter(|l| !image_layers.contains(l)).collect();
    let cache_logical: u64 = results
        .iter()
        .map(|(_, r)| r.outputs.iter().flat_map(|s| &s.layers).map(|l| layer_size(root, l)).sum::<u64>())
        .sum();
    let cache_disk: u64 = cache_only.iter().map(|l| layer_size(root, l)).sum();
    let in_use = gb_engine::images_in_use(root);
    let rows = vec![
        [
            "Images".to_owned(),
            unique_images.len().to_string(),
            unique_images.keys().filter(|d| in_use.contains(d)).count().to_string(),
            human_size(image_logical),
            human_size(image_disk),
            "0B".to_owned(),
        ],
        [
            "Build Cache".to_owned(),
            results.len().to_string(),
            "0".to_owned(),
            human_size(cache_logical),
            human_size(cache_disk),
            human_size(cache_disk),
        ],
        ["Blobs".to_owned(), String::new(), String::new(), String::new(), human_size(blobs), String::new()],
    ];
    print_table(&["TYPE", "TOTAL", "ACTIVE", "LOGICAL SIZE", "ON DISK", "RECLAIMABLE"], &rows);
    outln!("Total on disk: {}", human_size(image_disk + cache_disk + blobs));
    if args.verbose {
        outln!();
        let mut table = Vec::new();
        for (name, record) in &images {
            let shared: u64 = record
                .layers
                .iter()
                .filter(|l| unique_images.values().filter(|r| r.layers.contains(l)).count() > 1)
                .map(|l| layer_size(root, l))
                .sum();
            let (repository, tag) = repository_and_tag(name);
            table.push([
                format!("{repository}:{tag}"),
                short_id(record),
                human_size(image_size(root, record)),
                human_size(shared),
            ]);
        }
        print_table(&["IMAGE", "IMAGE ID", "SIZE", "SHARED SIZE"], &table);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_prints_like_docker_and_round_trips() {
        assert_eq!(docker_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(docker_time(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(docker_time(951_782_400), "2000-02-29 00:00:00 +0000 UTC");
        for unix in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let text = docker_time(unix).replace(" +0000 UTC", "Z").replacen(' ', "T", 1);
            assert_eq!(parse_created(&text), Some(unix), "{text}");
        }
    }

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234), "1.23kB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
    }

    #[test]
    fn patterns_match_repositories() {
        assert!(matches_pattern("w*", "wide"));
        assert!(!matches_pattern("w*", "busybox"));
        assert!(matches_pattern("bu?ybox", "busybox"));
    }

    #[test]
    fn created_times_parse() {
        assert_eq!(parse_created("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_created("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_created("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000));
    }
}

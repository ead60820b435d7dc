//! The image store commands: `images`, `image inspect`, `history`, `tag`, `rmi`, `df`, `prune`.
//! Output formats follow Docker's, so people and scripts read them the same way.

use gb_cache::ImageRecord;
use gb_engine::{EngineError, ImageSummary};
use gb_store::StateRoot;

use crate::cli::{
    DfArgs, HistoryArgs, ImagePruneArgs, ImagesArgs, InspectArgs, PruneArgs, RmiArgs, SystemDfArgs, TagArgs,
};
use crate::exit::Failure;
use crate::stdout::{out, outln};
use crate::template::{self, Columns, Format};

/// An engine failure outside a build: no Dockerfile to point into.
fn failure(error: impl Into<EngineError>) -> Failure {
    super::engine::engine_failure(error.into(), None)
}

/// Finds an image or fails with Docker's message.
pub fn find(root: &StateRoot, name: &str) -> Result<(gb_cache::ImageName, ImageRecord), Failure> {
    gb_engine::find_image(root, name).map_err(failure)
}

/// Docker's human sizes: 1000-based, three significant digits (`1.23kB`, `12.3MB`, `123MB`).
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes, 3)
}

/// Go's `units.HumanSizeWithPrecision`: 1000-based units, `precision` significant digits
/// (docker's prune reports use 4: `1.711GB`).
pub fn human_size_with_precision(bytes: u64, precision: usize) -> String {
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
    let integer_digits = if value >= 100.0 {
        3
    } else if value >= 10.0 {
        2
    } else {
        1
    };
    let decimals = precision.saturating_sub(integer_digits);
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{}", units[unit])
}

/// "2 minutes ago", as Docker prints times.
pub(crate) fn ago(unix: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{} ago", crate::commands::containers::human_duration(now.saturating_sub(unix)))
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

/// `images REPOSITORY[:TAG]`'s pattern as docker reads it: the repository (its familiar name,
/// `*` and `?` allowed) and, after a `:` past the last `/`, the tag, which must match too.
fn split_pattern(pattern: &str) -> (String, Option<String>) {
    let name_start = pattern.rfind('/').map_or(0, |slash| slash + 1);
    let (repository, tag) = match pattern[name_start..].find(':') {
        Some(colon) => (&pattern[..name_start + colon], Some(pattern[name_start + colon + 1..].to_owned())),
        None => (pattern, None),
    };
    // A plain name is normalized as docker does (`docker.io/library/app` is `app`).
    let repository = match repository.contains(['*', '?']) {
        true => repository.to_owned(),
        false => gb_engine::repository_and_tag(repository).0,
    };
    (repository, tag)
}

/// The columns of `images`: docker's default table and each field's header.
const IMAGE_COLUMNS: Columns<'static> = Columns {
    default_table: "{{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}",
    headers: &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("ID", "IMAGE ID"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
    ],
};

/// docker's default table with `--digests`.
const IMAGE_TABLE_WITH_DIGESTS: &str =
    "{{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";

/// A user's `--format` as a renderer's, or the input error docker gives.
pub(crate) fn parse_format(text: &str) -> Result<Format, Failure> {
    Format::parse(text).map_err(|error| Failure::Input(error.to_string()))
}

/// Renders rows and prints them.
pub(crate) fn print_rows(format: &Format, rows: &[serde_json::Value], columns: &Columns<'_>) -> Result<(), Failure> {
    let text = template::render(format, rows, columns).map_err(|error| Failure::Input(error.to_string()))?;
    out!("{text}");
    Ok(())
}

/// `graphbuild images`.
pub fn images(args: ImagesArgs, root: &StateRoot) -> Result<(), Failure> {
    let mut rows = gb_engine::list_images(root).map_err(failure)?;
    let filter = gb_engine::ImageFilter::parse(root, &args.filters).map_err(failure)?;
    rows.retain(|image| filter.matches(image));
    if let Some((repository, tag)) = args.pattern.as_deref().map(split_pattern) {
        rows.retain(|image| {
            !image.name.is_dangling()
                && matches_pattern(&repository, &image.repository)
                && tag.as_ref().is_none_or(|tag| matches_pattern(tag, &image.tag))
        });
    }
    let mut format = parse_format(&args.format)?;
    if args.quiet && format.is_default_table() {
        // An id per row, as docker's: an image with two names is listed twice (`images -q | wc
        // -l` counts rows, and `rmi -f $(images -q)` takes repeats).
        for image in &rows {
            outln!("{}", image_id(image, args.no_trunc));
        }
        return Ok(());
    }
    // As docker: `--digests` picks the table with a DIGEST column, or adds one to a table
    // template that has none.
    if args.digests {
        match &format {
            Format::Table(None) => format = Format::Table(Some(parse_template(IMAGE_TABLE_WITH_DIGESTS)?)),
            Format::Table(Some(_)) if !args.format.contains("{{.Digest}}") => {
                let columns = args.format.strip_prefix("table").unwrap_or(&args.format);
                format = Format::Table(Some(parse_template(&format!("{columns}\\t{{{{.Digest}}}}"))?));
            }
            _ => {}
        }
    }
    let rows: Vec<serde_json::Value> = rows.iter().map(|image| image_row(image, args.no_trunc)).collect();
    print_rows(&format, &rows, &IMAGE_COLUMNS)
}

/// A template of a table's columns.
fn parse_template(text: &str) -> Result<template::Template, Failure> {
    template::Template::parse(text).map_err(|error| Failure::Input(error.to_string()))
}

/// An image's id as docker prints it: 12 hex digits, or the whole `sha256:...` with `--no-trunc`.
fn image_id(image: &ImageSummary, no_trunc: bool) -> String {
    if no_trunc { image.id.to_string() } else { image.short_id() }
}

/// One image as docker's `images` formats see it (fields docker computes from containers and
/// shared layers are `N/A`, as docker prints them without `--size`).
fn image_row(image: &ImageSummary, no_trunc: bool) -> serde_json::Value {
    let size = human_size(image.size);
    serde_json::json!({
        "Containers": "N/A",
        "CreatedAt": docker_time(image.created_unix),
        "CreatedSince": ago(image.created_unix),
        "Digest": image.digest.clone().unwrap_or_else(|| "<none>".to_owned()),
        "ID": image_id(image, no_trunc),
        "Repository": image.repository,
        "SharedSize": "N/A",
        "Size": size,
        "Tag": image.tag,
        "UniqueSize": "N/A",
        "VirtualSize": size,
    })
}

/// Docker's time format for `CreatedAt`: `2006-01-02 15:04:05 +0000 UTC`.
pub(crate) fn docker_time(unix: u64) -> String {
    let rfc3339 = gb_export::rfc3339(i64::try_from(unix).unwrap_or(i64::MAX));
    format!("{} +0000 UTC", rfc3339.trim_end_matches('Z').replacen('T', " ", 1))
}

pub(crate) fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
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

/// `graphbuild image inspect`: Docker's shape (Id, RepoTags, Created, Config, RootFS, ...), or
/// with `-f TEMPLATE` the template once per image (`{{.Config.Cmd}}`, `{{json .RootFS}}`).
pub fn inspect(args: InspectArgs, root: &StateRoot) -> Result<(), Failure> {
    let out: Vec<serde_json::Value> = args
        .names
        .iter()
        .map(|name| gb_engine::inspect_image(root, name))
        .collect::<Result<_, _>>()
        .map_err(failure)?;
    match args.format.as_deref() {
        None | Some("" | "json") => outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default()),
        Some(text) => {
            let format = Format::Template(parse_template(text)?);
            print_rows(&format, &out, &Columns { default_table: "", headers: &[] })?;
        }
    }
    Ok(())
}

/// The columns of `history`.
const HISTORY_COLUMNS: Columns<'static> = Columns {
    default_table: "{{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}",
    headers: &[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ],
};

/// `graphbuild history`: newest first, `<missing>` ids below the top, as Docker shows images
/// built by BuildKit; `-q`, `--format` and `--no-trunc` (whole ids and instructions) as docker.
pub fn history(args: HistoryArgs, root: &StateRoot) -> Result<(), Failure> {
    let (id, entries) = gb_engine::image_history(root, &args.name).map_err(failure)?;
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .rev()
        .enumerate()
        .map(|(i, entry)| {
            let image = match (i, args.no_trunc) {
                (0, true) => id.to_string(),
                (0, false) => id.hex()[..12].to_owned(),
                _ => "<missing>".to_owned(),
            };
            let created_by = entry.created_by.replace('\t', " ");
            let created_by = if args.no_trunc || created_by.chars().count() <= 45 {
                created_by
            } else {
                format!("{}…", created_by.chars().take(44).collect::<String>())
            };
            let created_at = entry.created_unix.map(|unix| gb_export::rfc3339(i64::try_from(unix).unwrap_or(i64::MAX)));
            serde_json::json!({
                "Comment": entry.comment,
                "CreatedAt": created_at.clone().unwrap_or_else(|| "N/A".to_owned()),
                "CreatedBy": created_by,
                "CreatedSince": match (entry.created_unix, args.human) {
                    (None, _) => "N/A".to_owned(),
                    (Some(unix), true) => ago(unix),
                    (Some(_), false) => created_at.unwrap_or_default(),
                },
                "ID": image,
                "Size": if args.human { human_size(entry.size) } else { entry.size.to_string() },
            })
        })
        .collect();
    let mut format = parse_format(args.format.as_deref().unwrap_or("table"))?;
    if args.quiet && format.is_default_table() {
        format = Format::Template(parse_template("{{.ID}}")?);
    }
    print_rows(&format, &rows, &HISTORY_COLUMNS)
}

/// `graphbuild tag`.
pub fn tag(args: TagArgs, root: &StateRoot) -> Result<(), Failure> {
    gb_engine::tag_image(root, &args.source, &args.target).map_err(failure)?;
    Ok(())
}

/// `graphbuild rmi`: each name in turn, as docker reports them; then the layers nothing names.
pub fn rmi(args: RmiArgs, root: &StateRoot) -> Result<(), Failure> {
    // As docker: every name that can be removed is, and each failure is reported; the command
    // fails (with the last failure) when any did.
    let mut failed = None;
    for name in &args.names {
        let removal = match super::containers::release_image(root, name, args.force)
            .and_then(|()| gb_engine::remove_image(root, name, args.force).map_err(failure))
        {
            Ok(removal) => removal,
            Err(error) => {
                if let Some(earlier) = failed.replace(error) {
                    crate::report::print_failure(&earlier);
                }
                continue;
            }
        };
        for familiar in &removal.untagged {
            outln!("Untagged: {familiar}");
        }
        if let Some(id) = removal.deleted {
            outln!("Deleted: {id}");
        }
    }
    gb_engine::collect_garbage(root, false).map_err(failure)?;
    failed.map_or(Ok(()), Err)
}

/// `graphbuild image prune`: asks first unless `-f` (reading the answer from standard input,
/// terminal or not, as docker does), then prints docker's report.
pub fn image_prune(args: ImagePruneArgs, root: &StateRoot) -> Result<(), Failure> {
    let warning = match args.all {
        true => "WARNING! This will remove all images without at least one container associated to them.",
        false => "WARNING! This will remove all dangling images.",
    };
    if !args.force && !confirm(warning)? {
        outln!("Total reclaimed space: 0B");
        return Ok(());
    }
    let pruned = gb_engine::prune_images(root, args.all).map_err(failure)?;
    if !pruned.untagged.is_empty() || !pruned.deleted.is_empty() {
        let mut report = String::from("Deleted Images:\n");
        for name in &pruned.untagged {
            report.push_str(&format!("untagged: {name}\n"));
        }
        for id in &pruned.deleted {
            report.push_str(&format!("deleted: {id}\n"));
        }
        outln!("{report}");
    }
    outln!("Total reclaimed space: {}", human_size_with_precision(pruned.bytes, 4));
    Ok(())
}

/// Docker's `PromptForConfirmation`: the warning and the question on standard output, then a
/// line of standard input; only `y` or `Y` goes on.
pub(crate) fn confirm(warning: &str) -> Result<bool, Failure> {
    use std::io::Read as _;
    out!("{warning}\nAre you sure you want to continue? [y/N] ");
    let session = crate::session::current();
    let mut stdin = session.stdin();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    // One byte at a time, so nothing after the answer's line is taken from the caller.
    while stdin.read(&mut byte).map_err(Failure::os("reading standard input"))? == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    Ok(matches!(String::from_utf8_lossy(&line).trim(), "y" | "Y"))
}

/// `graphbuild prune`.
pub fn prune(args: PruneArgs, root: &StateRoot) -> Result<(), Failure> {
    let pruned = gb_engine::prune(root, args.all).map_err(failure)?;
    outln!(
        "Deleted {} build cache entries, {} layers, {} blobs{}",
        pruned.results,
        pruned.layers,
        pruned.blobs,
        if pruned.cache_mounts { ", and the cache mounts" } else { "" }
    );
    // The records outlive a plain prune, so that a later build can say which steps it had to
    // run again because the cache was pruned; `--all` removes them too.
    if args.all {
        let records = gb_engine::records::remove_all(&root.builds_dir()).map_err(failure)?;
        if records > 0 {
            outln!("Deleted {records} build records");
        }
    }
    outln!("Total reclaimed space: {}", human_size(pruned.bytes));
    Ok(())
}

/// `graphbuild df`: images and build cache, their logical size (what each would take alone)
/// against what they take on disk, shared layers counted once.
pub fn df(args: DfArgs, root: &StateRoot) -> Result<(), Failure> {
    let usage = gb_engine::disk_usage(root).map_err(failure)?;
    let rows = vec![
        [
            "Images".to_owned(),
            usage.images.to_string(),
            usage.images_active.to_string(),
            human_size(usage.images_logical),
            human_size(usage.images_on_disk),
            "0B".to_owned(),
        ],
        [
            "Build Cache".to_owned(),
            usage.cache_records.to_string(),
            "0".to_owned(),
            human_size(usage.cache_logical),
            human_size(usage.cache_on_disk),
            human_size(usage.cache_on_disk),
        ],
        ["Blobs".to_owned(), String::new(), String::new(), String::new(), human_size(usage.blobs), String::new()],
    ];
    print_table(&["TYPE", "TOTAL", "ACTIVE", "LOGICAL SIZE", "ON DISK", "RECLAIMABLE"], &rows);
    outln!("Total on disk: {}", human_size(usage.images_on_disk + usage.cache_on_disk + usage.blobs));
    if args.verbose {
        outln!();
        let table: Vec<[String; 4]> = usage
            .per_image
            .iter()
            .map(|(image, shared)| {
                [
                    format!("{}:{}", image.repository, image.tag),
                    image.short_id(),
                    human_size(image.size),
                    human_size(*shared),
                ]
            })
            .collect();
        print_table(&["IMAGE", "IMAGE ID", "SIZE", "SHARED SIZE"], &table);
    }
    Ok(())
}

/// The columns of `system df`.
const SYSTEM_DF_COLUMNS: Columns<'static> = Columns {
    default_table: "{{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}",
    headers: &[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ],
};

/// docker's `Reclaimable` cell: the size and, when there is anything, its share of the total.
fn reclaimable(reclaimable: u64, total: u64) -> String {
    let size = human_size_with_precision(reclaimable, 4);
    match reclaimable.saturating_mul(100).checked_div(total) {
        Some(percent) => format!("{size} ({percent}%)"),
        None => size,
    }
}

/// `graphbuild system df [-v]`: docker's four rows (images, containers, named volumes, build
/// cache), and with `-v` each image, container, volume and build cache record.
pub fn system_df(args: SystemDfArgs, root: &StateRoot) -> Result<(), Failure> {
    let usage = gb_engine::disk_usage(root).map_err(failure)?;
    let containers = crate::commands::containers::usage(root)?;
    // Each row: its kind, (total, active) counts, and (size, reclaimable) bytes.
    let row = |kind: &str, (total, active): (usize, usize), (size, free): (u64, u64)| {
        serde_json::json!({
            "Type": kind, "TotalCount": total.to_string(), "Active": active.to_string(),
            "Size": human_size_with_precision(size, 4), "Reclaimable": reclaimable(free, size),
        })
    };
    let mut cache = row("Build Cache", (usage.cache_records, 0), (usage.cache_on_disk, 0));
    // All of the build cache can go (prune), and docker prints it without a share.
    cache["Reclaimable"] = serde_json::json!(human_size_with_precision(usage.cache_on_disk, 4));
    let rows = [
        row("Images", (usage.images, usage.images_active), (usage.images_on_disk, usage.images_reclaimable)),
        row("Containers", containers.containers, containers.container_bytes),
        row("Local Volumes", containers.volumes, containers.volume_bytes),
        cache,
    ];
    let format = parse_format(args.format.as_deref().unwrap_or("table"))?;
    if !args.verbose || !format.is_default_table() {
        return print_rows(&format, &rows, &SYSTEM_DF_COLUMNS);
    }
    system_df_verbose(&usage, &containers)
}

/// `system df -v`'s sections, as docker prints them.
fn system_df_verbose(
    usage: &gb_engine::DiskUsage,
    containers: &crate::commands::containers::ContainerUsage,
) -> Result<(), Failure> {
    let images: Vec<serde_json::Value> = usage
        .per_image
        .iter()
        .map(|(image, shared)| {
            serde_json::json!({
                "Repository": image.repository, "Tag": image.tag, "ID": image.short_id(),
                "CreatedSince": ago(image.created_unix), "Size": human_size(image.size),
                "SharedSize": human_size(*shared), "UniqueSize": human_size(image.size.saturating_sub(*shared)),
                "Containers": u8::from(usage.active_ids.contains(&image.id)).to_string(),
            })
        })
        .collect();
    let image_columns = Columns {
        default_table: "{{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}\\t{{.SharedSize}}\\t{{.UniqueSize}}\\t{{.Containers}}",
        headers: IMAGE_COLUMNS.headers,
    };
    outln!("Images space usage:\n");
    print_rows(&Format::Table(None), &images, &image_columns)?;
    outln!("\nContainers space usage:\n");
    let container_columns = Columns {
        default_table: "{{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.LocalVolumes}}\\t{{.Size}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Names}}",
        headers: &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Size", "SIZE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Names", "NAMES"),
        ],
    };
    print_rows(&Format::Table(None), &containers.container_rows, &container_columns)?;
    outln!("\nLocal Volumes space usage:\n");
    let volume_columns = Columns {
        default_table: "{{.Name}}\\t{{.Links}}\\t{{.Size}}",
        headers: &[("Name", "VOLUME NAME"), ("Links", "LINKS"), ("Size", "SIZE")],
    };
    print_rows(&Format::Table(None), &containers.volume_rows, &volume_columns)?;
    outln!("\nBuild cache usage: {}\n", human_size_with_precision(usage.cache_on_disk, 4));
    let records: Vec<serde_json::Value> = usage
        .per_cache
        .iter()
        .map(|record| {
            serde_json::json!({
                "ID": record.id[..12], "CacheType": "regular", "Size": human_size(record.size),
                // The cache records no uses, so those columns say so rather than guess.
                "CreatedSince": ago(record.created_unix), "LastUsedSince": "N/A",
                "UsageCount": "N/A", "Shared": record.shared.to_string(),
            })
        })
        .collect();
    let cache_columns = Columns {
        default_table: "{{.ID}}\\t{{.CacheType}}\\t{{.Size}}\\t{{.CreatedSince}}\\t{{.LastUsedSince}}\\t{{.UsageCount}}\\t{{.Shared}}",
        headers: &[
            ("ID", "CACHE ID"),
            ("CacheType", "CACHE TYPE"),
            ("Size", "SIZE"),
            ("CreatedSince", "CREATED"),
            ("LastUsedSince", "LAST USED"),
            ("UsageCount", "USAGE"),
            ("Shared", "SHARED"),
        ],
    };
    print_rows(&Format::Table(None), &records, &cache_columns)
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
            assert_eq!(gb_engine::parse_created(&text), Some(unix), "{text}");
        }
    }

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234), "1.23kB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size_with_precision(1_711_400_000, 4), "1.711GB");
        assert_eq!(human_size_with_precision(12_345, 4), "12.35kB");
        assert_eq!(human_size_with_precision(0, 4), "0B");
    }

    #[test]
    fn a_pattern_with_a_tag_matches_the_tag_too() {
        assert_eq!(split_pattern("basic:1"), ("basic".to_owned(), Some("1".to_owned())));
        assert_eq!(split_pattern("basic"), ("basic".to_owned(), None));
        assert_eq!(split_pattern("localhost:5000/app:v*"), ("localhost:5000/app".to_owned(), Some("v*".to_owned())));
        assert_eq!(split_pattern("localhost:5000/app"), ("localhost:5000/app".to_owned(), None));
        assert_eq!(split_pattern("docker.io/library/basic:1"), ("basic".to_owned(), Some("1".to_owned())));
        assert_eq!(split_pattern("w*"), ("w*".to_owned(), None));
    }

    #[test]
    fn patterns_match_repositories() {
        assert!(matches_pattern("w*", "wide"));
        assert!(!matches_pattern("w*", "busybox"));
        assert!(matches_pattern("bu?ybox", "busybox"));
    }
}

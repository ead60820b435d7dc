//! A container's changes over its image: listed (`docker diff`), committed as one new layer of
//! a new image (`docker commit`), and its whole file system written as a tar (`docker export`).

use std::io::{Seek as _, Write};
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

use gb_cache::{ImageName, ImageRecord};
use gb_snapshot::{ConfinedDir, EntryKind, Lookup};
use gb_store::StateRoot;

use crate::error::ContainerError;
use crate::lock::{ContainerLock, HeldStill};
use crate::record::{ContainerConfig, ContainerRecord};

/// How a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `A`: new.
    Added,
    /// `C`: there before, changed (or a directory something below changed in).
    Changed,
    /// `D`: removed.
    Deleted,
}

impl ChangeKind {
    /// docker diff's letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// How.
    pub kind: ChangeKind,
    /// The absolute path inside the container.
    pub path: String,
}

/// The container's changes, sorted by path, as `docker diff` lists them.
pub fn diff(root: &StateRoot, record: &ContainerRecord) -> Result<Vec<Change>, ContainerError> {
    let held = HeldStill::take(root, &record.id)?;
    let record = &held.record;
    let upper = record.dir(root).join("fs").join("upper");
    if !upper.exists() {
        return Ok(Vec::new());
    }
    // Lookups in the image's layers never follow a link: a layer's `etc` may be a symlink to
    // anywhere on the host.
    let layers: Vec<ConfinedDir> =
        record.layers.iter().rev().filter_map(|id| ConfinedDir::open(&root.snapshots.layer_path(id)).ok()).collect();
    let mut changes = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = upper.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(ContainerError::io("listing", &dir))?;
        for entry in entries.flatten() {
            let rel = rel.join(entry.file_name());
            let meta = entry.metadata().map_err(ContainerError::io("inspecting", &entry.path()))?;
            let whiteout = meta.file_type().is_char_device() && std::os::unix::fs::MetadataExt::rdev(&meta) == 0;
            let existed = in_image(&layers, &rel);
            let kind = match (whiteout, existed) {
                (true, _) => ChangeKind::Deleted,
                (false, true) => ChangeKind::Changed,
                (false, false) => ChangeKind::Added,
            };
            changes.push(Change { kind, path: format!("/{}", rel.display()) });
            if meta.is_dir() {
                pending.push(rel);
            }
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// Whether `rel` is in the image whose layers (top first) are `layers`: the topmost layer
/// that has it, or deletes it or one of its directories (a whiteout), decides; a path below a
/// file, a link or an opaque directory that an upper layer made is not reached.
fn in_image(layers: &[ConfinedDir], rel: &Path) -> bool {
    for layer in layers {
        // A directory on the way deleted (or replaced by a non-directory) in this layer hides
        // the path in every layer below.
        for ancestor in rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
            match layer.lookup(ancestor) {
                Ok(Lookup::Found(EntryKind::Dir) | Lookup::Missing) => {}
                Ok(Lookup::Found(_) | Lookup::Blocked) | Err(_) => return false,
            }
        }
        match layer.lookup(rel) {
            Ok(Lookup::Found(EntryKind::Whiteout)) => return false,
            Ok(Lookup::Found(_)) => return true,
            Ok(Lookup::Missing | Lookup::Blocked) | Err(_) => {}
        }
        if rel.ancestors().skip(1).any(|ancestor| layer.is_opaque_dir(ancestor)) {
            return false;
        }
    }
    false
}

/// The bytes of the container's changes (its writable layer: regular files, each inode once),
/// as `ps --size` and `system df` count them.
pub fn size(root: &StateRoot, record: &ContainerRecord) -> u64 {
    // Not frozen, as docker's `ps -s` does not pause: a race shows sizes, never contents.
    let _lock = ContainerLock::take(&record.id);
    gb_snapshot::tree_size(&record.dir(root).join("fs").join("upper")).unwrap_or(0)
}

/// A named volume (`ROOT/volumes/NAME/_data`), as `docker system df -v` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    /// Its name.
    pub name: String,
    /// How many containers name it.
    pub links: usize,
    /// The bytes of its files.
    pub size: u64,
}

/// The root's named volumes, by name.
pub fn volumes(root: &StateRoot) -> Result<Vec<VolumeUsage>, ContainerError> {
    let records = crate::record::list(root)?;
    let dir = root.volumes_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            let named = crate::record::VolumeSource::Volume(name.clone());
            let links = records.iter().filter(|r| r.config.volumes.iter().any(|v| v.source == named)).count();
            let size = gb_snapshot::tree_size(&dir.join(&name).join("_data")).unwrap_or(0);
            VolumeUsage { name, links, size }
        })
        .collect())
}

/// What `docker commit` is given.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The new image's name; `None` leaves it nameless (dangling, known by its id).
    pub name: Option<ImageName>,
    /// `-m`.
    pub message: String,
    /// `-a`.
    pub author: String,
    /// `-c`/`--change`: Dockerfile instructions applied to the new image's config, in order.
    pub changes: Vec<String>,
}

/// Commits the container's changes as one new layer on its image, with a history entry whose
/// CREATED BY is the container's command, as `docker commit` does. A running container is
/// frozen meanwhile (docker's default `--pause`).
pub fn commit(
    root: &StateRoot,
    record: &ContainerRecord,
    options: &CommitOptions,
) -> Result<ImageRecord, ContainerError> {
    let base = gb_store::images(root)?
        .into_iter()
        .map(|(_, image)| image)
        .find(|image| image.config_digest == record.image_id)
        .ok_or_else(|| {
            ContainerError::Input(format!("the image of container {} ({}) is gone", record.name, record.image_id))
        })?;
    let mut config = committed_config(&base.config["config"], &record.config);
    for change in &options.changes {
        let object = config
            .as_object_mut()
            .ok_or_else(|| ContainerError::Input("the image's config is not an object".to_owned()))?;
        gb_store::apply_change(object, change)?;
    }
    let held = HeldStill::take(root, &record.id)?;
    let upper = held.record.dir(root).join("fs").join("upper");
    let mut tar = unnamed_tmp_file(root, "commit")?;
    if upper.exists() {
        gb_snapshot::upper_dir_diff_tar(&upper, &mut tar, &gb_snapshot::DiffTarOptions::default())
            .map_err(ContainerError::snapshot("reading the container's changes"))?;
    } else {
        tar.write_all(&[0u8; 1024]).map_err(ContainerError::io("writing", &root.tmp_dir()))?;
    }
    drop(held);
    tar.rewind().map_err(ContainerError::io("reading", &root.tmp_dir()))?;
    let info = gb_store::CommitInfo {
        created_by: record_command(record),
        comment: options.message.clone(),
        author: options.author.clone(),
        config,
    };
    Ok(gb_store::commit_image(root, &base, &mut tar, &info, options.name.as_ref())?)
}

/// The command a history entry names: the container's, as docker's CREATED BY.
fn record_command(record: &ContainerRecord) -> String {
    record.config.args.join(" ")
}

/// The config a commit starts from, as docker's: the image's, with what the container was
/// created with in its place: its ENTRYPOINT and CMD, environment, working directory, user
/// and labels (so the committed image runs what the container ran).
fn committed_config(image_config: &serde_json::Value, container: &ContainerConfig) -> serde_json::Value {
    let mut config = if image_config.is_object() { image_config.clone() } else { serde_json::json!({}) };
    // A record from before ENTRYPOINT and CMD were kept apart has its command line only.
    let (entrypoint, cmd) = if container.entrypoint.is_empty() && container.cmd.is_empty() {
        (Vec::new(), container.args.clone())
    } else {
        (container.entrypoint.clone(), container.cmd.clone())
    };
    config["Entrypoint"] = if entrypoint.is_empty() { serde_json::Value::Null } else { serde_json::json!(entrypoint) };
    config["Cmd"] = if cmd.is_empty() { serde_json::Value::Null } else { serde_json::json!(cmd) };
    // HOSTNAME is the runtime's, set at each start, not the image's.
    let hostname = format!("HOSTNAME={}", container.hostname);
    let env: Vec<&String> = container.env.iter().filter(|entry| **entry != hostname).collect();
    config["Env"] = serde_json::json!(env);
    let image_dir = config["WorkingDir"].as_str().unwrap_or_default();
    if !(image_dir.is_empty() && container.cwd == "/") {
        config["WorkingDir"] = serde_json::json!(container.cwd);
    }
    config["User"] = serde_json::json!(container.user);
    if !container.labels.is_empty() {
        config["Labels"] = serde_json::json!(container.labels);
    }
    config
}

/// An unnamed file in the root's scratch space (`StateRoot::new_tmp_file`), gone when closed.
fn unnamed_tmp_file(root: &StateRoot, what: &str) -> Result<std::fs::File, ContainerError> {
    let path = root.new_tmp_file(what)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(ContainerError::io("creating", &path))?;
    std::fs::remove_file(&path).map_err(ContainerError::io("removing", &path))?;
    Ok(file)
}

/// Writes the container's whole file system (image and changes) as a tar, as `docker export`.
/// A running container is read through its live mount, frozen, into a file first; a stopped
/// one is mounted for this.
pub fn export(root: &StateRoot, record: &ContainerRecord, writer: &mut dyn Write) -> Result<(), ContainerError> {
    let held = HeldStill::take(root, &record.id)?;
    if let Some(rootfs) = &held.record.state.rootfs {
        // Written to a file while the container is frozen, and sent after it thaws: a slow
        // reader (or one that waits on the container itself) must not keep it paused.
        let mut tar = unnamed_tmp_file(root, "export")?;
        gb_snapshot::tree_tar(rootfs, &mut tar, None).map_err(ContainerError::snapshot("writing the export"))?;
        drop(held);
        tar.rewind().map_err(ContainerError::io("reading", &root.tmp_dir()))?;
        std::io::copy(&mut tar, writer).map_err(ContainerError::io("writing the export to", Path::new("-")))?;
        return Ok(());
    }
    let (_work, mounted) = crate::run::mount(root, &held.record)?;
    let written = gb_snapshot::tree_tar(mounted.path(), writer, None);
    mounted.unmount().map_err(ContainerError::snapshot("unmounting the root file system"))?;
    written.map_err(ContainerError::snapshot("writing the export"))
}

//! Getting trees out of the store: a snapshot's merged tree as a directory or a tar, and one
//! layer as an OCI layer tar (overlay whiteouts and opaque dirs turned into `.wh.` entries).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::SnapshotError;
use crate::fsutil::{EntryMeta, OPAQUE_MARKER, WHITEOUT_PREFIX, device_numbers, is_opaque, is_whiteout, read_xattrs};
use crate::store::{SnapshotStore, walk_error};
use crate::tar_writer::TarWriter;
use crate::tree_writer::{NewEntry, TreeWriter};
use gb_cache::{LayerId, Snapshot};

/// The mode of the empty files that stand for whiteouts and opaque markers in layer tars; they
/// have no content, and a fixed mode keeps their headers independent of how overlay made them.
const MARKER_MODE: u32 = 0o600;

impl SnapshotStore {
    /// Copies the merged tree of `snapshot` into `dest` (created if missing), keeping file
    /// types, modes, owners, mtimes, extended attributes, symlinks and hard links. Entries in
    /// the way are replaced; `dest`'s own metadata is left alone.
    pub fn export_dir(&self, snapshot: &Snapshot, dest: &Path) -> Result<(), SnapshotError> {
        self.export_dir_with(snapshot, dest, None)
    }

    /// [`SnapshotStore::export_dir`], every entry given the mtime `mtime` when set (BuildKit's
    /// local exporter with SOURCE_DATE_EPOCH).
    pub fn export_dir_with(&self, snapshot: &Snapshot, dest: &Path, mtime: Option<i64>) -> Result<(), SnapshotError> {
        let mounted = self.mount_readonly(snapshot)?;
        fs::create_dir_all(dest).map_err(SnapshotError::io("create", dest))?;
        let mut writer = TreeWriter::new(dest);
        let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
        for (rel, meta) in sorted_entries(mounted.path())? {
            let abs = mounted.path().join(&rel);
            let name = rel.to_string_lossy();
            let file_type = meta.file_type();
            if is_whiteout(&meta) || file_type.is_socket() {
                continue;
            }
            let mut entry_meta = EntryMeta::of(&meta, read_xattrs(&abs)?);
            if let Some(mtime) = mtime {
                (entry_meta.mtime_sec, entry_meta.mtime_nsec) = (mtime, 0);
            }
            if file_type.is_dir() {
                writer.create(&rel, &name, NewEntry::Dir, &entry_meta)?;
            } else if file_type.is_file() {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = links.get(&key).filter(|_| meta.nlink() > 1) {
                    writer.create(&rel, &name, NewEntry::HardLink(first), &entry_meta)?;
                    continue;
                }
                if meta.nlink() > 1 {
                    links.insert(key, rel.clone());
                }
                let mut file = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&abs)
                    .map_err(SnapshotError::io("open", &abs))?;
                writer.create(&rel, &name, NewEntry::File(&mut file), &entry_meta)?;
            } else if file_type.is_symlink() {
                let target = fs::read_link(&abs).map_err(SnapshotError::io("read symlink", &abs))?;
                writer.create(&rel, &name, NewEntry::Symlink(&target), &entry_meta)?;
            } else if file_type.is_fifo() {
                writer.create(&rel, &name, NewEntry::Fifo, &entry_meta)?;
            } else {
                let (major, minor) = device_numbers(&meta);
                let entry = if file_type.is_char_device() {
                    NewEntry::CharDevice { major, minor }
                } else {
                    NewEntry::BlockDevice { major, minor }
                };
                writer.create(&rel, &name, entry, &entry_meta)?;
            }
        }
        writer.finish()?;
        mounted.unmount()
    }

    /// Writes the merged tree of `snapshot` as a tar: entries sorted by path, headers from the
    /// files (mode, numeric owner, mtime in seconds, no user names; pax records where ustar
    /// falls short), no entry for the root.
    pub fn export_tar<W: Write>(&self, snapshot: &Snapshot, writer: W) -> Result<(), SnapshotError> {
        self.export_tar_with(snapshot, writer, None)
    }

    /// [`SnapshotStore::export_tar`], every entry given the mtime `mtime` when set (BuildKit's
    /// tar exporter with SOURCE_DATE_EPOCH).
    pub fn export_tar_with<W: Write>(
        &self,
        snapshot: &Snapshot,
        writer: W,
        mtime: Option<i64>,
    ) -> Result<(), SnapshotError> {
        let mounted = self.mount_readonly(snapshot)?;
        tree_tar(mounted.path(), writer, mtime)?;
        mounted.unmount()
    }

    /// Writes layer `id` as an OCI layer tar: a whiteout `dir/name` becomes an empty file
    /// `dir/.wh.name`, an opaque `dir` gets an empty `dir/.wh..wh..opq`, overlay's own
    /// attributes are dropped, and entries are sorted by their names in the tar.
    pub fn layer_diff_tar<W: Write>(&self, id: &LayerId, writer: W) -> Result<(), SnapshotError> {
        self.layer_diff_tar_with(id, writer, &DiffTarOptions::default())
    }

    /// [`SnapshotStore::layer_diff_tar`] with options, such as mtimes clamped to
    /// SOURCE_DATE_EPOCH for reproducible image layers.
    pub fn layer_diff_tar_with<W: Write>(
        &self,
        id: &LayerId,
        writer: W,
        options: &DiffTarOptions,
    ) -> Result<(), SnapshotError> {
        let dir = self.existing_layer(id)?;
        upper_dir_diff_tar(&dir, writer, options)
    }
}

/// Writes the tree at `dir` (a mounted root file system) as a tar, as
/// [`SnapshotStore::export_tar_with`] describes; whiteouts are skipped (a one-layer snapshot is
/// a bind mount, which shows its meaningless ones).
pub fn tree_tar<W: Write>(dir: &Path, writer: W, mtime: Option<i64>) -> Result<(), SnapshotError> {
    let mut tar = TarWriter::new(writer).set_mtime(mtime);
    for (rel, meta) in sorted_entries(dir)? {
        if !is_whiteout(&meta) {
            tar.append_path(&dir.join(&rel), &rel, &meta)?;
        }
    }
    tar.finish()?;
    Ok(())
}

/// Writes an overlayfs upper dir (a layer, or a container's changes) as an OCI layer tar, as
/// [`SnapshotStore::layer_diff_tar_with`] describes. `dir` is trusted to be the caller's own
/// directory; nothing below it is followed.
pub fn upper_dir_diff_tar<W: Write>(dir: &Path, writer: W, options: &DiffTarOptions) -> Result<(), SnapshotError> {
    let dir = dir.to_path_buf();
    let mut items = Vec::new();
    // The walk below does not list the root, which an imported `./.wh..wh..opq` marks.
    if is_opaque(&dir)? {
        let marker = PathBuf::from(std::ffi::OsStr::from_bytes(OPAQUE_MARKER));
        items.push((marker, Item::Marker(marker_meta(&crate::fsutil::lstat(&dir)?))));
    }
    for (rel, meta) in sorted_entries(&dir)? {
        let abs = dir.join(&rel);
        if is_whiteout(&meta) {
            let mut marker = OsString::from_vec(WHITEOUT_PREFIX.to_vec());
            marker.push(rel.file_name().unwrap_or_default());
            items.push((rel.with_file_name(marker), Item::Marker(marker_meta(&meta))));
            continue;
        }
        reject_unportable(&abs, &meta)?;
        if meta.is_dir() && is_opaque(&abs)? {
            let marker = rel.join(std::ffi::OsStr::from_bytes(OPAQUE_MARKER));
            items.push((marker, Item::Marker(marker_meta(&meta))));
        }
        items.push((rel, Item::File(abs, meta)));
    }
    // Markers take other names than the entries they stand for, so sort again.
    items.sort_by(|(a, _), (b, _)| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    let mut tar = TarWriter::new(writer).clamp_mtime(options.clamp_mtime);
    for (rel, item) in items {
        match item {
            Item::File(abs, meta) => tar.append_path(&abs, &rel, &meta)?,
            Item::Marker(meta) => tar.append_marker(&rel, &meta)?,
        }
    }
    tar.finish()?;
    Ok(())
}

/// How [`SnapshotStore::layer_diff_tar_with`] writes a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffTarOptions {
    /// Entries modified after this time (seconds since the epoch) get this time instead, as
    /// BuildKit's `rewrite-timestamp` does with SOURCE_DATE_EPOCH: the layer's bytes then no
    /// longer depend on when its files were written, while older files keep their times.
    pub clamp_mtime: Option<i64>,
}

enum Item {
    File(PathBuf, Metadata),
    Marker(EntryMeta),
}

fn marker_meta(meta: &Metadata) -> EntryMeta {
    EntryMeta { mode: MARKER_MODE, ..EntryMeta::of(meta, Vec::new()) }
}

/// Refuses overlay features that make a layer depend on the layers below it; the mount options
/// turn them off, so finding one means the layer was made elsewhere.
fn reject_unportable(abs: &Path, meta: &Metadata) -> Result<(), SnapshotError> {
    let xattr = if meta.is_dir() {
        "trusted.overlay.redirect"
    } else if meta.is_file() {
        "trusted.overlay.metacopy"
    } else {
        return Ok(());
    };
    match xattr::get(abs, xattr).map_err(SnapshotError::io("read extended attributes of", abs))? {
        Some(_) => Err(SnapshotError::UnsupportedOverlayXattr { path: abs.to_path_buf(), xattr: xattr.to_owned() }),
        None => Ok(()),
    }
}

/// Every entry below `root` (not `root` itself, not following symlinks) with its metadata,
/// sorted by the bytes of its relative path, which puts each directory before its contents.
pub(crate) fn sorted_entries(root: &Path) -> Result<Vec<(PathBuf, Metadata)>, SnapshotError> {
    let mut entries = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.map_err(|err| walk_error(root, err))?;
        let meta = entry.metadata().map_err(|err| walk_error(root, err))?;
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path()).to_path_buf();
        entries.push((rel, meta));
    }
    entries.sort_by(|(a, _), (b, _)| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    Ok(entries)
}

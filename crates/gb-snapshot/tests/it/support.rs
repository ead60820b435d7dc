//! Helpers for the integration tests: a store in a temporary state root, layers built by hand,
//! tars built byte by byte, a printable view of a tree, and a check for leftover mounts.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gb_snapshot::{FileIndex, FileRecord, LayerId, Snapshot, SnapshotError, SnapshotStore};
use tempfile::TempDir;

/// A store in a fresh temporary state root; on drop, checks that no mount is left under it.
pub struct TestStore {
    pub store: SnapshotStore,
    pub dir: TempDir,
}

impl TestStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::open(dir.path()).expect("open");
        TestStore { store, dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Commits a layer whose upper dir `fill` writes directly.
    pub fn layer(&self, fill: impl FnOnce(&Path)) -> LayerId {
        let work = self.store.work_dir().expect("work dir");
        fill(work.upper());
        self.store.commit(work).expect("commit").0
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let left = mounts_under(self.dir.path());
        // Detach whatever a failed test left, before the temporary directory is removed
        // (which would otherwise delete through the mounts), deepest first.
        for point in left.iter().rev() {
            let _ = nix::mount::umount2(point.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if !std::thread::panicking() {
            assert!(left.is_empty(), "mounts left behind: {left:?}");
        }
    }
}

pub fn snapshot(layers: &[&LayerId]) -> Snapshot {
    Snapshot { layers: layers.iter().map(|&id| id.clone()).collect() }
}

/// The mount points at or below `dir`, from `/proc/self/mounts`, in mount order.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let prefix = dir.to_string_lossy().replace(' ', "\\040");
    fs::read_to_string("/proc/self/mounts")
        .expect("read /proc/self/mounts")
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .filter(|point| *point == prefix || point.starts_with(&format!("{prefix}/")))
        .map(str::to_owned)
        .collect()
}

pub fn assert_no_mounts_under(dir: &Path) {
    let left = mounts_under(dir);
    assert!(left.is_empty(), "mounts left behind: {left:?}");
}

pub fn write(path: impl AsRef<Path>, content: &str) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create dir all");
    }
    fs::write(path, content).expect("write");
}

pub fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path).expect("read to string")
}

pub fn set_mode(path: impl AsRef<Path>, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("set permissions");
}

pub fn whiteout(path: impl AsRef<Path>) {
    nix::sys::stat::mknod(path.as_ref(), nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0)
        .expect("mknod");
}

pub fn opaque(path: impl AsRef<Path>) {
    xattr::set(path.as_ref(), "trusted.overlay.opaque", b"y").expect("set xattr");
}

/// A line per entry below `root`: type, mode, owner, content or target, device, extended
/// attributes (overlay's included, so opaque dirs show), and with `times` the mtime in seconds.
/// Whiteouts print without a mode, which differs between overlay and tar imports.
pub fn tree_with(root: &Path, times: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.expect("walk");
        let meta = entry.metadata().expect("metadata");
        let rel = entry.path().strip_prefix(root).expect("strip prefix").to_string_lossy().into_owned();
        let ft = meta.file_type();
        let mut line = if ft.is_char_device() && meta.rdev() == 0 {
            format!("whiteout {}:{}", meta.uid(), meta.gid())
        } else {
            format!("{:o} {}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid())
        };
        if ft.is_dir() {
            line.insert_str(0, "dir ");
        } else if ft.is_file() {
            line = format!("file {line} {:?}", fs::read_to_string(entry.path()).unwrap_or_else(|_| "<binary>".into()));
        } else if ft.is_symlink() {
            line = format!("link {line} -> {}", fs::read_link(entry.path()).expect("read link").display());
        } else if ft.is_fifo() {
            line.insert_str(0, "fifo ");
        } else if ft.is_char_device() && meta.rdev() != 0 {
            line = format!("char {line} {}:{}", nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
        } else if ft.is_block_device() {
            line =
                format!("block {line} {}:{}", nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
        }
        let mut attrs: Vec<String> = xattr::list(entry.path())
            .expect("list xattrs")
            .filter(|name| {
                let name = name.as_bytes();
                name == b"trusted.overlay.opaque" || !name.starts_with(b"trusted.overlay.")
            })
            .map(|name| {
                let value = xattr::get(entry.path(), &name).expect("get xattr").unwrap_or_default();
                format!("{}={}", name.to_string_lossy(), String::from_utf8_lossy(&value))
            })
            .collect();
        attrs.sort();
        if !attrs.is_empty() {
            line = format!("{line} [{}]", attrs.join(","));
        }
        if times && !(ft.is_char_device() && meta.rdev() == 0) {
            line = format!("{line} @{}", meta.mtime());
        }
        out.insert(rel, line);
    }
    out
}

pub fn tree(root: &Path) -> BTreeMap<String, String> {
    tree_with(root, false)
}

/// Lines for `tree` written inline: `[("a", "file 644 0:0 \"x\"")]`.
pub fn expect(lines: &[(&str, &str)]) -> BTreeMap<String, String> {
    lines.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Builds tars entry by entry, writing names byte for byte (the tar crate refuses `..`).
pub struct TarBuilder {
    builder: tar::Builder<Vec<u8>>,
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder { builder: tar::Builder::new(Vec::new()) }
    }

    fn header(name: &str, kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        let ustar = header.as_ustar_mut().expect("as ustar mut");
        ustar.name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_mtime(1_600_000_000);
        header.set_size(0);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    pub fn file(mut self, name: &str, content: &str) -> Self {
        self = self.file_with(name, content, 0o644, 0, 0);
        self
    }

    pub fn file_with(mut self, name: &str, content: &str, mode: u32, uid: u64, gid: u64) -> Self {
        let mut header = Self::header(name, tar::EntryType::Regular, mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_size(content.len() as u64);
        header.set_cksum();
        self.builder.append(&header, content.as_bytes()).expect("append");
        self
    }

    pub fn dir(mut self, name: &str, mode: u32) -> Self {
        let mut header = Self::header(name, tar::EntryType::Directory, mode);
        header.set_cksum();
        self.builder.append(&header, std::io::empty()).expect("append");
        self
    }

    pub fn link(mut self, kind: tar::EntryType, name: &str, target: &str) -> Self {
        let mut header = Self::header(name, kind, 0o777);
        header.as_ustar_mut().expect("as ustar mut").linkname[..target.len()].copy_from_slice(target.as_bytes());
        header.set_cksum();
        self.builder.append(&header, std::io::empty()).expect("append");
        self
    }

    pub fn device(mut self, kind: tar::EntryType, name: &str, major: u32, minor: u32) -> Self {
        let mut header = Self::header(name, kind, 0o660);
        header.set_device_major(major).expect("set device major");
        header.set_device_minor(minor).expect("set device minor");
        header.set_cksum();
        self.builder.append(&header, std::io::empty()).expect("append");
        self
    }

    /// A file with pax records (`key=value`) before it.
    pub fn pax_file(mut self, name: &str, content: &str, records: &[(&str, &[u8])]) -> Self {
        let mut data = Vec::new();
        for (key, value) in records {
            let base = key.len() + value.len() + 3;
            let mut len = base + base.to_string().len();
            while base + len.to_string().len() != len {
                len = base + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let mut header = Self::header("PaxHeaders/x", tar::EntryType::XHeader, 0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.builder.append(&header, data.as_slice()).expect("append");
        self.file(name, content)
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("into inner")
    }
}

/// An in-memory [`FileIndex`] that counts writes.
#[derive(Default)]
pub struct MemIndex {
    pub records: Mutex<HashMap<String, FileRecord>>,
}

impl FileIndex for MemIndex {
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<FileRecord>>, SnapshotError> {
        let records = self.records.lock().expect("lock");
        Ok(keys.iter().map(|key| records.get(*key).copied()).collect())
    }

    fn put_many(&self, records: &[(String, FileRecord)]) -> Result<(), SnapshotError> {
        self.records.lock().expect("lock").extend(records.iter().cloned());
        Ok(())
    }
}

pub fn layer_dir(store: &TestStore, id: &LayerId) -> PathBuf {
    store.store.layer_path(id)
}

//! Content keys of file trees: [`checksum_tree`] hashes exactly the selected entries of a
//! directory (never their mtimes), and a [`FileIndex`] of per-file records lets it skip reading
//! files whose metadata has not changed since they were last hashed, as git's index does.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gb_ir::Sha256Digest;
use gb_patterns::PatternMatcher;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::error::SnapshotError;
use crate::fsutil::{read_file_xattrs, read_xattrs};
use crate::tree_walk::{Stat, Visitor, walk};
use gb_cache::{CacheDb, FileRecord};

/// Versions the digest's encoding, so a change to it can never collide with old keys.
const DIGEST_DOMAIN: &[u8] = b"graphbuild checksum_tree v1\0";
/// How much of a file is read at once.
const CHUNK: usize = 1 << 20;
/// A record is stored only for a file whose ctime is at least this much older than the start of
/// the checksum. The kernel stamps files from a clock that ticks every few milliseconds, so a
/// write right after hashing, within the tick of the previous change, would leave size, mtime
/// and ctime as recorded and the stale hash would be trusted ("racy git"). Such recent files are
/// hashed again next time instead.
const RACY_MARGIN: Duration = Duration::from_millis(50);
/// Filesystems that store whole seconds (their timestamps have no nanoseconds) need a margin of
/// more than one second.
const RACY_MARGIN_COARSE: Duration = Duration::from_millis(2100);

/// Where [`checksum_tree`] keeps per-file records, keyed by `index_prefix` + relative path.
///
/// **Invariant:** a record returned for a key is one that was stored under that key (or none);
/// records are only ever trusted when every metadata field still matches the file.
pub trait FileIndex: Sync {
    /// The records for `keys`, in order, `None` where there is none.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<FileRecord>>, SnapshotError>;
    /// Stores `records`, replacing older ones under the same keys.
    fn put_many(&self, records: &[(String, FileRecord)]) -> Result<(), SnapshotError>;
}

impl FileIndex for CacheDb {
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<FileRecord>>, SnapshotError> {
        self.file_records(keys).map_err(|err| SnapshotError::Index { op: "read records", source: Box::new(err) })
    }

    fn put_many(&self, records: &[(String, FileRecord)]) -> Result<(), SnapshotError> {
        self.put_file_records(records)
            .map_err(|err| SnapshotError::Index { op: "write records", source: Box::new(err) })
    }
}

/// What [`checksum_tree`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumResult {
    /// The content key of the selection.
    pub digest: Sha256Digest,
    /// How many selected regular files there are.
    pub files: u64,
    /// How many of them had to be read (no matching record in the index).
    pub hashed: u64,
    /// How many bytes were read to hash them.
    pub bytes_hashed: u64,
    /// Each selected regular file (its path below the root) and its content's sha256, in path
    /// order: what a build record keeps to say which files changed.
    pub file_digests: Vec<(String, Sha256Digest)>,
}

/// The content key of the selected entries of the tree at `root`.
///
/// The digest covers, for each selected entry and each directory above one (the root
/// included, since copying recreates them), in the order of their relative paths' bytes: the
/// path, the type, the permission bits, uid, gid, and per type the size and content sha256
/// (regular files), the target (symlinks, never followed) or the device number (devices),
/// plus the extended attributes that travel with files. Never times; never a directory's size.
///
/// `include` selects entries and everything below them: relative paths or Docker wildcard
/// patterns (`*.txt`, `src/*/x`); empty selects everything. `exclude` holds Docker exclude
/// patterns, `!` exceptions included; excluded directories with nothing re-included below
/// them are not walked.
///
/// Regular files whose size, mtime, ctime, inode, device, mode, uid and gid equal their record
/// in `index` are not read; the others are hashed (on a few threads) and their records stored
/// in one batch at the end.
pub fn checksum_tree(
    root: &Path,
    include: &[String],
    exclude: &[String],
    index: &dyn FileIndex,
    index_prefix: &str,
) -> Result<ChecksumResult, SnapshotError> {
    let started = SystemTime::now();
    // A COPY follows a source that is a symlink, so the key must cover what it points to too.
    let include = with_link_targets(root, include);
    let selection = select(root, &include, exclude)?;
    // Which of `files` each selected entry is, so that no file is looked up by its path.
    let mut file_at = vec![None; selection.len()];
    let mut files: Vec<FileWork> = Vec::new();
    for (at, (rel, entry)) in selection.iter().enumerate() {
        if entry.meta.is_file() {
            file_at[at] = Some(files.len());
            files.push(FileWork {
                rel: rel.clone(),
                key: rel.to_str().map(|rel| format!("{index_prefix}{rel}")),
                meta: entry.meta,
                digest: None,
                record: None,
                xattrs: None,
            });
        }
    }
    use_index(root, &mut files, index)?;
    let (hashed, bytes_hashed) = hash_missing(root, &mut files, started)?;
    let new_records: Vec<(String, FileRecord)> =
        files.iter_mut().filter_map(|file| Some((file.key.clone()?, file.record.take()?))).collect();
    if !new_records.is_empty() {
        index.put_many(&new_records)?;
    }
    let digest = stream_digest(root, &selection, &file_at, &files)?;
    let mut file_digests: Vec<(String, Sha256Digest)> =
        files.iter().filter_map(|file| Some((file.rel.to_string_lossy().into_owned(), file.digest?))).collect();
    file_digests.sort();
    Ok(ChecksumResult { digest, files: files.len() as u64, hashed, bytes_hashed, file_digests })
}

/// The digest of the selection's entries, each as [`hash_entry`] writes it, in order.
///
/// Each entry's part of the stream (which may need a readlink or a listxattr) is made in
/// parallel; the parts are hashed in order, so the digest is that of one sequential pass. A
/// small tree is done on this thread: waking the pool would cost more than it saves.
fn stream_digest(
    root: &Path,
    selection: &[(PathBuf, Entry)],
    file_at: &[Option<usize>],
    files: &[FileWork],
) -> Result<Sha256Digest, SnapshotError> {
    let part = |((rel, entry), at): (&(PathBuf, Entry), &Option<usize>)| {
        let mut part = EntryBytes::default();
        let facts = at.map_or_else(FileFacts::default, |at| FileFacts {
            content: files[at].digest.as_ref(),
            xattrs: files[at].xattrs.as_ref(),
        });
        hash_entry(&mut part, root, rel, &entry.meta, facts)?;
        Ok(part.0)
    };
    let parts = if selection.len() < PARALLEL_ENTRIES {
        selection.iter().zip(file_at).map(part).collect::<Result<Vec<Vec<u8>>, SnapshotError>>()?
    } else {
        selection.par_iter().zip(file_at).map(part).collect::<Result<Vec<Vec<u8>>, SnapshotError>>()?
    };
    let mut hasher = Sha256::new();
    hasher.update(DIGEST_DOMAIN);
    for part in &parts {
        hasher.update(part);
    }
    Ok(Sha256Digest::from_bytes(hasher.finalize().into()))
}

/// The relative paths of the entries `include` and `exclude` select below `root` (as
/// [`checksum_tree`] selects them, without the directories above them), sorted by their bytes;
/// for a copy step to use exactly the selection that was checksummed.
pub fn select_paths(root: &Path, include: &[String], exclude: &[String]) -> Result<Vec<PathBuf>, SnapshotError> {
    Ok(select(root, include, exclude)?.into_iter().filter(|(_, entry)| entry.selected).map(|(rel, _)| rel).collect())
}

struct Entry {
    meta: Stat,
    /// False for a directory that is only there because something below it is selected.
    selected: bool,
}

struct FileWork {
    rel: PathBuf,
    /// `None` for a path that is not UTF-8, which the index cannot key; such files are always read.
    key: Option<String>,
    meta: Stat,
    digest: Option<Sha256Digest>,
    /// A record to store, for a file hashed in this run (or one whose record is rewritten).
    record: Option<FileRecord>,
    /// Its extended attributes that travel, once known: from a matching record that says it
    /// has none, or read while it was hashed.
    xattrs: Option<Xattrs>,
}

/// Extended attributes as [`read_xattrs`] gives them: sorted by name.
type Xattrs = Vec<(std::ffi::OsString, Vec<u8>)>;

/// Include patterns, with what is known about where their matches can be.
struct Includes {
    matcher: PatternMatcher,
    /// Each pattern's leading components before the first one with a wildcard (`src` for
    /// `src/*/x`, empty for `*.txt`): matches can only lie at or below it.
    literal_prefixes: Vec<String>,
}

impl Includes {
    fn new(include: &[String]) -> Result<Option<Self>, SnapshotError> {
        if include.is_empty() {
            return Ok(None);
        }
        let matcher = PatternMatcher::new(include)?;
        let literal_prefixes = matcher
            .patterns()
            .map(|pattern| {
                let pattern = pattern.trim_start_matches('!');
                let literal: Vec<&str> =
                    pattern.split('/').take_while(|part| !part.contains(['*', '?', '[', '\\'])).collect();
                literal.join("/")
            })
            .collect();
        Ok(Some(Includes { matcher, literal_prefixes }))
    }

    /// Where a walk must start to find every match: each pattern's literal prefix, those below
    /// another left out. `None` when the whole tree must be walked (a pattern with a wildcard
    /// in its first component, or an exception, which a walk from below could misjudge).
    fn walk_starts(&self) -> Option<Vec<String>> {
        if self.matcher.patterns().any(|pattern| pattern.starts_with('!'))
            || self
                .literal_prefixes
                .iter()
                .any(|prefix| prefix.is_empty() || prefix.split('/').any(|c| matches!(c, "" | "." | "..")))
        {
            return None;
        }
        let mut starts: Vec<String> = self.literal_prefixes.clone();
        starts.sort();
        starts.dedup();
        let all = starts.clone();
        starts.retain(|start| {
            !all.iter().any(|other| start.strip_prefix(other.as_str()).is_some_and(|rest| rest.starts_with('/')))
        });
        Some(starts)
    }

    /// Whether the walk must enter directory `dir`: it is selected, or a match may lie below it.
    fn may_select_below(&self, dir: &str) -> bool {
        self.matcher.matches(dir)
            || self.literal_prefixes.iter().any(|prefix| {
                prefix.is_empty()
                    || prefix == dir
                    || prefix.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
                    || dir.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

/// The selected entries and the directories above them (the root as the empty path), sorted.
fn select(root: &Path, include: &[String], exclude: &[String]) -> Result<Vec<(PathBuf, Entry)>, SnapshotError> {
    let includes = Includes::new(include)?;
    let excludes = PatternMatcher::new(exclude)?;
    let mut selected = BTreeMap::new();
    match includes.as_ref().and_then(Includes::walk_starts) {
        // `COPY src/a.txt /` walks from `src/a.txt`, not over the whole context: a wide
        // Dockerfile's many such COPYs each stat a few paths instead of listing every directory.
        Some(starts) => {
            for start in starts {
                if reachable_by_walk(root, &start, &excludes)? {
                    walk_from(root, &root.join(&start), includes.as_ref(), &excludes, &mut selected)?;
                }
            }
        }
        None => walk_from(root, root, includes.as_ref(), &excludes, &mut selected)?,
    }
    // Climbing from each entry stops at the first ancestor already known: a selected one is
    // climbed from in its own turn, a missing one was climbed from when it was found.
    let mut missing: BTreeSet<&Path> = BTreeSet::new();
    for (path, _) in selected.values() {
        for parent in path.ancestors().skip(1) {
            if selected.contains_key(parent.as_os_str().as_bytes()) || !missing.insert(parent) {
                break;
            }
        }
    }
    let missing: Vec<PathBuf> = missing.into_iter().map(Path::to_path_buf).collect();
    for parent in missing {
        let meta = Stat::of_metadata(&crate::fsutil::lstat(&root.join(&parent))?);
        selected.insert(parent.as_os_str().as_bytes().to_vec(), (parent, Entry { meta, selected: false }));
    }
    Ok(selected.into_values().collect())
}

/// A path relative to the root as the `/`-separated string the pattern matcher takes (lossy
/// for names that are not UTF-8, which only affects whether a pattern matches them).
fn pattern_path(rel: &Path) -> std::borrow::Cow<'_, str> {
    rel.to_string_lossy()
}

/// Adds the matching entries at and below `start` (the root itself never) to `selected`, as a
/// walk from the root that reached `start` would: directories that cannot hold a selected
/// entry are not entered, links are never followed.
fn walk_from(
    root: &Path,
    start: &Path,
    includes: Option<&Includes>,
    excludes: &PatternMatcher,
    selected: &mut BTreeMap<Vec<u8>, (PathBuf, Entry)>,
) -> Result<(), SnapshotError> {
    let enter = |rel: &Path| {
        let rel = pattern_path(rel);
        excludes.may_contain_included(&rel) && includes.is_none_or(|includes| includes.may_select_below(&rel))
    };
    let wants = |rel: &Path| {
        let rel = pattern_path(rel);
        includes.is_none_or(|includes| includes.matcher.matches(&rel)) && !excludes.matches(&rel)
    };
    let mut found = |path: PathBuf, meta: Stat| {
        selected.insert(path.as_os_str().as_bytes().to_vec(), (path, Entry { meta, selected: true }));
    };
    walk(root, start, &mut Visitor { enter: &enter, wants: &wants, found: &mut found })
}

/// Whether a walk from the root would reach `start` (relative): it exists and every directory
/// above it is a real directory (not a link) that the excludes let the walk enter.
fn reachable_by_walk(root: &Path, start: &str, excludes: &PatternMatcher) -> Result<bool, SnapshotError> {
    let mut above = String::new();
    let components: Vec<&str> = start.split('/').collect();
    for component in &components[..components.len().saturating_sub(1)] {
        if !above.is_empty() {
            above.push('/');
        }
        above.push_str(component);
        match std::fs::symlink_metadata(root.join(&above)) {
            Ok(meta) if meta.is_dir() && excludes.may_contain_included(&above) => {}
            Ok(_) => return Ok(false),
            Err(err) if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                return Ok(false);
            }
            Err(err) => return Err(SnapshotError::io("stat", &root.join(&above))(err)),
        }
    }
    match std::fs::symlink_metadata(root.join(start)) {
        Ok(_) => Ok(true),
        Err(err) if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => Ok(false),
        Err(err) => Err(SnapshotError::io("stat", &root.join(start))(err)),
    }
}

/// Takes each file's digest from its record in `index` where the record still matches the file.
/// A matching record that says the file has no extended attributes spares listing them; one
/// written before records said so has them listed here, and is rewritten with the answer.
fn use_index(root: &Path, files: &mut [FileWork], index: &dyn FileIndex) -> Result<(), SnapshotError> {
    let keyed: Vec<usize> = (0..files.len()).filter(|&i| files[i].key.is_some()).collect();
    let keys: Vec<&str> = keyed.iter().filter_map(|&i| files[i].key.as_deref()).collect();
    let records = index.get_many(&keys)?;
    for (&i, record) in keyed.iter().zip(records) {
        let Some(record) = record.filter(|record| record_matches(record, &files[i].meta)) else { continue };
        let file = &mut files[i];
        file.digest = Some(record.sha256);
        if record.no_xattrs {
            file.xattrs = Some(Vec::new());
        } else {
            let xattrs = read_xattrs(&root.join(&file.rel))?;
            if xattrs.is_empty() {
                file.record = Some(FileRecord { no_xattrs: true, ..record });
            }
            file.xattrs = Some(xattrs);
        }
    }
    Ok(())
}

fn record_matches(record: &FileRecord, meta: &Stat) -> bool {
    record.size == meta.size
        && record.mtime_ns == time_ns(meta.mtime)
        && record.ctime_ns == time_ns(meta.ctime)
        && record.inode == meta.ino
        && record.device == meta.dev
        && record.mode == meta.mode
        && record.uid == meta.uid
        && record.gid == meta.gid
}

fn time_ns((sec, nsec): (i64, i64)) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Hashes the files without a digest on a few threads; returns (files read, bytes read).
fn hash_missing(root: &Path, files: &mut [FileWork], started: SystemTime) -> Result<(u64, u64), SnapshotError> {
    let mut todo: Vec<&mut FileWork> = files.iter_mut().filter(|file| file.digest.is_none()).collect();
    if todo.is_empty() {
        return Ok((0, 0));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8).min(todo.len());
    let chunk = todo.len().div_ceil(threads);
    let started_ns = started.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let results: Vec<Result<u64, SnapshotError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = todo
            .chunks_mut(chunk)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut buf = vec![0; CHUNK];
                    let mut bytes = 0;
                    for file in chunk {
                        bytes += hash_file(root, file, &mut buf, started_ns)?;
                    }
                    Ok(bytes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut bytes = 0;
    for result in results {
        bytes += result?;
    }
    Ok((todo.len() as u64, bytes))
}

/// Reads one file, sets its digest and, unless it changed while being read or too recently to
/// trust its timestamps, the record to store. Returns the bytes read.
fn hash_file(root: &Path, file: &mut FileWork, buf: &mut [u8], started_ns: i64) -> Result<u64, SnapshotError> {
    let abs = root.join(&file.rel);
    let mut handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&abs)
        .map_err(SnapshotError::io("open", &abs))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let n = read_some(&mut handle, buf).map_err(SnapshotError::io("read", &abs))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let digest = Sha256Digest::from_bytes(hasher.finalize().into());
    file.digest = Some(digest);
    // Read before the second stat: an attribute set since the walk's stat changed the ctime,
    // and then no record is stored.
    let xattrs = read_file_xattrs(&handle, &abs)?;
    let no_xattrs = xattrs.is_empty();
    file.xattrs = Some(xattrs);
    let after = Stat::of_metadata(&handle.metadata().map_err(SnapshotError::io("inspect", &abs))?);
    let meta = &file.meta;
    let unchanged = bytes == meta.size
        && (after.size, after.mtime, after.ctime, after.ino) == (meta.size, meta.mtime, meta.ctime, meta.ino);
    let coarse = meta.ctime.1 == 0 && meta.mtime.1 == 0;
    let margin = if coarse { RACY_MARGIN_COARSE } else { RACY_MARGIN };
    let settled = time_ns(meta.ctime) < started_ns - margin.as_nanos() as i64;
    if unchanged && settled {
        file.record = Some(FileRecord {
            size: meta.size,
            mtime_ns: time_ns(meta.mtime),
            ctime_ns: time_ns(meta.ctime),
            inode: meta.ino,
            device: meta.dev,
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            sha256: digest,
            no_xattrs,
        });
    }
    Ok(bytes)
}

fn read_some(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Feeds one entry into the tree digest; every field is length-prefixed or fixed-size, so no
/// two different trees encode the same.
/// From this many entries on, their parts of the digest's stream are made in parallel.
const PARALLEL_ENTRIES: usize = 512;

/// One entry's bytes of the tree digest's stream.
#[derive(Default)]
struct EntryBytes(Vec<u8>);

impl EntryBytes {
    fn update(&mut self, bytes: impl AsRef<[u8]>) {
        self.0.extend_from_slice(bytes.as_ref());
    }
}

/// What is already known of a regular file when its entry is hashed.
#[derive(Clone, Copy, Default)]
struct FileFacts<'a> {
    /// Its content's sha256 (every selected regular file has one by then).
    content: Option<&'a Sha256Digest>,
    /// Its extended attributes, when already read or known to be none.
    xattrs: Option<&'a Xattrs>,
}

fn hash_entry(
    hasher: &mut EntryBytes,
    root: &Path,
    rel: &Path,
    meta: &Stat,
    file: FileFacts<'_>,
) -> Result<(), SnapshotError> {
    let put_bytes = |hasher: &mut EntryBytes, bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    put_bytes(hasher, rel.as_os_str().as_bytes());
    let kind: u8 = match meta.kind() {
        libc::S_IFDIR => b'd',
        libc::S_IFREG => b'f',
        libc::S_IFLNK => b'l',
        libc::S_IFCHR => b'c',
        libc::S_IFBLK => b'b',
        libc::S_IFIFO => b'p',
        _ => b's',
    };
    hasher.update([kind]);
    hasher.update((meta.mode & 0o7777).to_le_bytes());
    hasher.update(meta.uid.to_le_bytes());
    hasher.update(meta.gid.to_le_bytes());
    match kind {
        b'f' => {
            hasher.update(meta.size.to_le_bytes());
            // Every selected regular file got a digest from the index or from hashing.
            hasher.update(file.content.map_or([0; 32], |digest| *digest.as_bytes()));
        }
        b'l' => {
            let abs = root.join(rel);
            let target = std::fs::read_link(&abs).map_err(SnapshotError::io("read symlink", &abs))?;
            put_bytes(hasher, target.as_os_str().as_bytes());
        }
        b'c' | b'b' => hasher.update(meta.rdev.to_le_bytes()),
        _ => {}
    }
    let read;
    let xattrs = match file.xattrs {
        Some(known) => known,
        None => {
            read = read_xattrs(&root.join(rel))?;
            &read
        }
    };
    hasher.update((xattrs.len() as u64).to_le_bytes());
    for (name, value) in xattrs {
        put_bytes(hasher, name.as_bytes());
        put_bytes(hasher, value);
    }
    Ok(())
}

/// The include list plus, for each included path that is a symlink (possibly through several
/// links), the path it resolves to inside `root`. Targets outside the root are never added.
fn with_link_targets(root: &Path, include: &[String]) -> Vec<String> {
    let mut all = include.to_vec();
    for path in include {
        let mut current = path.trim_matches('/').to_owned();
        for _ in 0..40 {
            let Ok(target) = std::fs::read_link(root.join(&current)) else { break };
            let joined = if target.is_absolute() {
                target.to_string_lossy().into_owned()
            } else {
                let parent = Path::new(&current).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{parent}/{}", target.to_string_lossy())
            };
            // Clean lexically, never climbing above the root (as the copy resolves it).
            let mut parts: Vec<&str> = Vec::new();
            for part in joined.split('/') {
                match part {
                    "" | "." => {}
                    ".." => {
                        parts.pop();
                    }
                    other => parts.push(other),
                }
            }
            current = parts.join("/");
            if current.is_empty() {
                // A link to the root itself: everything is read.
                return Vec::new();
            }
            if !all.contains(&current) {
                all.push(current.clone());
            }
        }
    }
    all
}

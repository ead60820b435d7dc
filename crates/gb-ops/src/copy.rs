//! The copy action with BuildKit's rules (fsutil's `copy.Copy`): where each source lands, filters, owner, mode, links.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use gb_ir::CopyAction;
use gb_patterns::PatternMatcher;
use nix::sys::stat::{Mode, SFlag, mknod};

use crate::apply::FileOpStats;
use crate::chmod::Chmod;
use crate::error::{FileOpError, Result};
use crate::meta::{
    chown, clear_for_file, copy_xattrs, create_dir, lstat, mkdir_all, set_mode, set_times, stat, times_of,
};
use crate::paths::{base_name, clean_absolute, clean_relative, image_path, os, resolve_in_root};
use crate::source::CopySource;
use crate::unpack::{Compression, archive_compression, unpack};
use crate::user::resolve_owner;
use crate::wildcard::{has_wildcard, resolve_parents_wildcards, resolve_wildcards};

/// Mode of destination directories a copy creates (fsutil's `MkdirAll(..., 0755, ...)`).
const DEST_DIR_MODE: u32 = 0o755;

/// Applies one copy action from `source` into `dest_root`.
pub(crate) fn copy(
    dest_root: &Path,
    action: &CopyAction,
    source: &CopySource<'_>,
    stats: &mut FileOpStats,
) -> Result<()> {
    let owner = action.owner.as_ref().map(|owner| resolve_owner(dest_root, owner)).transpose()?;
    let chmod = action.chmod.as_deref().map(Chmod::parse).transpose()?;
    let mut copier = Copier {
        dest_root,
        source,
        owner,
        chmod,
        include: matcher(&action.include)?,
        exclude: matcher(&action.exclude)?,
        inodes: HashMap::new(),
        pending: Vec::new(),
        stats,
    };

    // A trailing `/` (or a final `.`) says "into this directory".
    let dest_is_dir = action.dest.ends_with('/') || action.dest.ends_with("/.") || action.dest == ".";
    let dest = clean_absolute(&action.dest);
    if !action.create_dest_path && dest != "/" {
        let resolved = resolve_in_root(dest_root, &dest, true)?;
        if resolved.parent().map(lstat).transpose()?.flatten().is_none() {
            return Err(FileOpError::DestParentMissing { dest: action.dest.clone() });
        }
    }

    let (pivot, pattern) = if action.parents {
        let (pivot, whole) = split_pivot(&action.src);
        (Some(pivot), whole)
    } else {
        (None, clean_relative(&action.src))
    };
    let matches = if action.allow_wildcard && pattern.split('/').any(has_wildcard) {
        match &pivot {
            Some(pivot) => {
                let depth = pivot.split('/').filter(|c| !c.is_empty()).count();
                resolve_parents_wildcards(source, &pattern, depth)?
            }
            None => resolve_wildcards(source, &pattern)?,
        }
    } else {
        vec![pattern]
    };
    if matches.is_empty() {
        if action.allow_empty_wildcard {
            // BuildKit copies a `--parents` source as its pivot directory filtered by the rest
            // (an include pattern), so an existing pivot makes `dest` even when nothing of it
            // is included.
            if let Some(pivot) = &pivot {
                let pivot_exists = if pivot.split('/').any(has_wildcard) {
                    !resolve_wildcards(source, pivot)?.is_empty()
                } else {
                    lstat(&resolve_in_root(source.root, pivot, true)?)?.is_some()
                };
                if pivot_exists {
                    let dst = resolve_in_root(dest_root, &dest, true)?;
                    mkdir_all(dest_root, &dst, copier.dest_dir_mode(), copier.owner)?;
                }
            }
            return Ok(());
        }
        return Err(FileOpError::NoMatch { pattern: action.src.clone() });
    }

    // Every source must exist before anything is written, so a failed copy changes nothing.
    let mut sources = Vec::with_capacity(matches.len());
    for matched in matches {
        let host = resolve_in_root(source.root, &matched, action.follow_symlinks)?;
        match lstat(&host)? {
            Some(meta) if source.visible(&host)? => sources.push(Source { path: matched, host, meta }),
            _ => return Err(FileOpError::SourceNotFound { path: format!("/{matched}") }),
        }
    }

    if let Some(pivot) = pivot {
        return copier.copy_parents(action, &dest, &pivot, &sources);
    }
    // Several matches are copied one after the other, each placed by what the destination is by
    // then, as BuildKit's file op copies them (no match makes `dest` a directory by itself: an
    // archive unpacks into it, a directory's contents merge into it, a file replaces it).
    for src in &sources {
        copier.copy_one(action, &dest, dest_is_dir, src)?;
    }
    Ok(())
}

/// A source path that exists: as matched (relative to the source root), on the host, and its
/// lstat.
struct Source {
    path: String,
    host: PathBuf,
    meta: Metadata,
}

/// A directory on the walk's stack, created in the destination only once something below it
/// is copied (fsutil's delayed `parentDirs`), so filters never leave empty directories behind.
struct PendingDir {
    src: PathBuf,
    target: PathBuf,
    meta: Metadata,
    /// It exists in the destination now.
    materialized: bool,
    /// This copy created it, so it takes the source's metadata.
    fresh: bool,
    /// It takes the source's metadata even if it already existed (everything below the top).
    overwrite: bool,
}

struct Copier<'a, 's> {
    dest_root: &'a Path,
    source: &'a CopySource<'s>,
    owner: Option<(u32, u32)>,
    chmod: Option<Chmod>,
    include: Option<PatternMatcher>,
    exclude: Option<PatternMatcher>,
    /// First destination of each multiply-linked source inode, so hard links stay links.
    inodes: HashMap<(u64, u64), PathBuf>,
    pending: Vec<PendingDir>,
    stats: &'a mut FileOpStats,
}

impl Copier<'_, '_> {
    /// The mode of a destination directory the copy creates: an octal `--chmod`'s own (even
    /// without execute bits), as BuildKit v0.32.2 creates them (side by side: `COPY --chmod=0644
    /// a /d/e/a` makes `/d` and `/d/e` 644; a symbolic `--chmod` leaves them 755).
    fn dest_dir_mode(&self) -> u32 {
        match &self.chmod {
            Some(Chmod::Octal(mode)) => *mode,
            _ => DEST_DIR_MODE,
        }
    }

    /// Copies one matched source to `dest` with fsutil's placement rules: a file into an
    /// existing directory (or a `dest/`) keeps its base name; a directory's contents merge into
    /// `dest` when `dir_copy_contents`, otherwise the directory goes inside an existing `dest`.
    fn copy_one(&mut self, action: &CopyAction, dest: &str, dest_is_dir: bool, src: &Source) -> Result<()> {
        let root = self.dest_root;
        let ensure = if dest_is_dir { dest.to_owned() } else { parent_of(dest) };
        mkdir_all(root, &resolve_in_root(root, &ensure, true)?, self.dest_dir_mode(), self.owner)?;
        let dst = resolve_in_root(root, dest, true)?;

        if action.attempt_unpack
            && let Some(archive) = self.archive(&src.path)?
        {
            return self.unpack_into(&archive, &src.path, &dst);
        }

        let dst_meta = stat(&dst)?;
        let src_is_dir = src.meta.is_dir();
        let dst_is_dir = dst_meta.as_ref().is_some_and(Metadata::is_dir);
        let into = (!action.dir_copy_contents && src_is_dir && dst_meta.is_some()) || (!src_is_dir && dst_is_dir);
        let base = base_name(&src.path);
        let target = if into && !base.is_empty() { dst.join(os(base)) } else { dst };
        let parent = if action.dir_copy_contents && src_is_dir && dst_meta.is_none() {
            target.clone()
        } else {
            target.parent().map_or_else(|| root.to_path_buf(), Path::to_path_buf)
        };
        mkdir_all(root, &parent, self.dest_dir_mode(), self.owner)?;
        self.copy_tree(&src.host, "", &target, true)
    }

    /// `COPY --parents`: each source keeps its path below the pivot, under `dest` (always a
    /// directory). The directories on that path are created as the source's, and only if
    /// something is copied below them.
    fn copy_parents(&mut self, action: &CopyAction, dest: &str, pivot: &str, sources: &[Source]) -> Result<()> {
        let root = self.dest_root;
        let dst = resolve_in_root(root, dest, true)?;
        mkdir_all(root, &dst, self.dest_dir_mode(), self.owner)?;
        for src in sources {
            let (pivot, below) = strip_pivot(&src.path, pivot);
            if below.is_empty() {
                // The pivot itself: its contents (or the file) go straight into `dest`.
                let target = if src.meta.is_dir() { dst.clone() } else { dst.join(os(base_name(&src.path))) };
                self.copy_tree(&src.host, "", &target, true)?;
                continue;
            }
            let parts: Vec<&str> = below.split('/').collect();
            let (leaf, dirs) = parts.split_last().map_or(("", &parts[..0]), |(leaf, dirs)| (*leaf, dirs));
            let mut src_path = pivot.to_owned();
            let mut target_dir = dst.clone();
            for dir in dirs {
                src_path = if src_path.is_empty() { (*dir).to_owned() } else { format!("{src_path}/{dir}") };
                // Resolved inside the source root like the source itself: a link on the way
                // leads where it leads in the image, never to a directory of the host.
                let src_dir = resolve_in_root(self.source.root, &src_path, true)?;
                target_dir.push(os(dir));
                let meta = fs::metadata(&src_dir).map_err(|err| FileOpError::io("stat", &src_dir, err))?;
                self.pending.push(PendingDir {
                    src: src_dir.clone(),
                    target: target_dir.clone(),
                    meta,
                    materialized: false,
                    fresh: false,
                    overwrite: false,
                });
            }
            let archive = if action.attempt_unpack { self.archive(&src.path)? } else { None };
            match archive {
                Some(archive) => {
                    self.materialize()?;
                    self.unpack_into(&archive, &src.path, &target_dir)?;
                }
                None => self.copy_tree(&src.host, below, &target_dir.join(os(leaf)), false)?,
            }
            for _ in dirs {
                if let Some(dir) = self.pending.pop() {
                    self.finish_dir(&dir)?;
                }
            }
        }
        Ok(())
    }

    /// The host path and compression of `path` when it is a tar archive (plain or compressed),
    /// which `ADD` extracts; `None` for anything else, which is copied as it is.
    fn archive(&self, path: &str) -> Result<Option<(PathBuf, Compression)>> {
        // The archive test follows every link, as BuildKit's `fs.RootPath` does.
        let host = resolve_in_root(self.source.root, path, true)?;
        Ok(archive_compression(&host)?.map(|compression| (host, compression)))
    }

    /// Extracts an archive found by [`archive`](Self::archive) into the directory `dst`.
    fn unpack_into(&mut self, archive: &(PathBuf, Compression), path: &str, dst: &Path) -> Result<()> {
        mkdir_all(self.dest_root, dst, self.dest_dir_mode(), self.owner)?;
        let (host, compression) = archive;
        unpack(host, &format!("/{path}"), *compression, self.dest_root, dst, self.owner, self.stats)
    }

    /// Copies `src` to `target`, recursively. `relative` is the path below the copy root that
    /// `include`/`exclude` see (`""` for the root, which is never filtered). `top` marks the copy
    /// root: an existing directory there keeps its own metadata.
    fn copy_tree(&mut self, src: &Path, relative: &str, target: &Path, top: bool) -> Result<()> {
        let Some(meta) = lstat(src)? else {
            return Ok(());
        };
        let (included, may_descend) = self.filter(src, relative);
        if !meta.is_dir() {
            if included {
                self.materialize()?;
                self.copy_leaf(src, &meta, target)?;
            }
            return Ok(());
        }
        if !included && !may_descend {
            return Ok(());
        }
        self.pending.push(PendingDir {
            src: src.to_path_buf(),
            target: target.to_path_buf(),
            meta,
            materialized: false,
            fresh: false,
            overwrite: !top,
        });
        if included {
            self.materialize()?;
        }
        for name in sorted_names(src)? {
            let name_str = name.to_string_lossy();
            let child = if relative.is_empty() { name_str.into_owned() } else { format!("{relative}/{name_str}") };
            self.copy_tree(&src.join(&name), &child, &target.join(&name), false)?;
        }
        match self.pending.pop() {
            Some(dir) => self.finish_dir(&dir),
            None => Ok(()),
        }
    }

    /// Whether an entry is copied, and (for a directory that is not) whether something below it
    /// might be. Include patterns, `--exclude` patterns and the context's `.dockerignore` all
    /// apply; an exclude only hides descendants that no `!` exception re-includes.
    fn filter(&self, src: &Path, relative: &str) -> (bool, bool) {
        if relative.is_empty() {
            return (true, true);
        }
        let include = self.include.as_ref().is_none_or(|m| m.matches(relative));
        let exclude = self.exclude.as_ref().is_some_and(|m| m.matches(relative));
        // The context's patterns see the path below the context root, where links led.
        let context_relative = self.source.exclude.map(|_| self.source.relative(src)).unwrap_or_default();
        let context_exclude = self.source.excluded(&context_relative);
        let may_descend = (!exclude || self.exclude.as_ref().is_none_or(|m| m.may_contain_included(relative)))
            && (!context_exclude || self.source.may_contain_included(&context_relative));
        (include && !exclude && !context_exclude, may_descend)
    }

    /// Creates the pending directories that do not exist yet, outermost first.
    fn materialize(&mut self) -> Result<()> {
        for dir in self.pending.iter_mut().filter(|dir| !dir.materialized) {
            match lstat(&dir.target)? {
                None => {
                    create_dir(&dir.target)?;
                    dir.fresh = true;
                }
                Some(meta) if meta.is_dir() => {}
                Some(_) => return Err(FileOpError::NotADirectory { path: image_path(self.dest_root, &dir.target) }),
            }
            dir.materialized = true;
        }
        Ok(())
    }

    /// Gives a finished directory its metadata, now that its children no longer change it.
    fn finish_dir(&self, dir: &PendingDir) -> Result<()> {
        if dir.materialized && (dir.fresh || dir.overwrite) {
            self.apply_meta(&dir.meta, &dir.src, &dir.target, true)?;
        }
        Ok(())
    }

    /// Copies a file, link or special file, replacing a non-directory at `target`.
    fn copy_leaf(&mut self, src: &Path, meta: &Metadata, target: &Path) -> Result<()> {
        clear_for_file(self.dest_root, target)?;
        let kind = meta.file_type();
        self.stats.files += 1;
        if kind.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1
                && let Some(first) = self.inodes.get(&key)
            {
                // Same inode, so owner, mode and times are already right.
                return fs::hard_link(first, target).map_err(|err| FileOpError::io("link", target, err));
            }
            self.stats.bytes += copy_file(src, target)?;
            if meta.nlink() > 1 {
                self.inodes.insert(key, target.to_path_buf());
            }
        } else if kind.is_symlink() {
            let link = fs::read_link(src).map_err(|err| FileOpError::io("readlink", src, err))?;
            std::os::unix::fs::symlink(&link, target).map_err(|err| FileOpError::io("symlink", target, err))?;
        } else if kind.is_socket() && self.source.from_client {
            // fsutil sends a context's socket as an empty regular file (BuildKit's testCopySocket).
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(target)
                .map_err(|err| FileOpError::io("create", target, err))?;
        } else {
            let kind = SFlag::from_bits_truncate(meta.mode() & SFlag::S_IFMT.bits());
            mknod(target, kind, Mode::from_bits_truncate(0o600), meta.rdev())
                .map_err(|errno| FileOpError::nix("mknod", target, errno))?;
        }
        self.apply_meta(meta, src, target, false)
    }

    /// Owner (the copy's `owner`, else the source's), mode (the source's, changed by `chmod`;
    /// never on a link), xattrs, then times, last because the others change ctime only.
    fn apply_meta(&self, meta: &Metadata, src: &Path, target: &Path, is_dir: bool) -> Result<()> {
        let (uid, gid) = self.owner.unwrap_or((meta.uid(), meta.gid()));
        chown(target, uid, gid)?;
        if !meta.file_type().is_symlink() {
            // After chown, which clears set-id bits.
            let mode = meta.mode() & 0o7777;
            let mode = self.chmod.as_ref().map_or(mode, |chmod| chmod.apply(mode, is_dir));
            set_mode(target, mode)?;
        }
        copy_xattrs(src, target);
        let (atime, mtime) = times_of(meta);
        set_times(target, atime, mtime)
    }
}

/// Copies a regular file's bytes into a new file (`io::copy` uses `copy_file_range` on Linux).
fn copy_file(src: &Path, target: &Path) -> Result<u64> {
    let mut from = File::open(src).map_err(|err| FileOpError::io("open", src, err))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(|err| FileOpError::io("create", target, err))?;
    io::copy(&mut from, &mut to).map_err(|err| FileOpError::io("copy to", target, err))
}

/// A directory's entry names in byte order, as Go's `ReadDir` returns them.
fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let entries = fs::read_dir(dir).map_err(|err| FileOpError::io("read directory", dir, err))?;
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry.map_err(|err| FileOpError::io("read directory", dir, err))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Compiles `include`/`exclude` patterns; none means no filter.
fn matcher(patterns: &[String]) -> Result<Option<PatternMatcher>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    Ok(Some(PatternMatcher::new(patterns)?))
}

/// Splits a `--parents` source at its first `/./` (the pivot: only what follows is kept below
/// the destination); without one the pivot is the source root. Returns the cleaned pivot and
/// the cleaned whole path, both relative to the source root.
fn split_pivot(src: &str) -> (String, String) {
    let slashed = format!("/{src}");
    match slashed.split_once("/./") {
        Some((pivot, rest)) => (clean_relative(pivot), clean_relative(&format!("{pivot}/{rest}"))),
        None => (String::new(), clean_relative(src)),
    }
}

/// Splits a matched path (cleaned, relative) into its pivot and the part below it, by the
/// pivot's number of components: a wildcard pivot (`*/./b`) matches one component per
/// pattern component, like the rest of the pattern.
fn strip_pivot<'p>(path: &'p str, pivot: &str) -> (&'p str, &'p str) {
    let depth = if pivot.is_empty() { 0 } else { pivot.split('/').count() };
    if depth == 0 {
        return ("", path);
    }
    match path.match_indices('/').nth(depth - 1) {
        Some((at, _)) => (&path[..at], &path[at + 1..]),
        None => (path, ""),
    }
}

/// The parent of a cleaned absolute in-image path (`/` for `/` and top-level names).
fn parent_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((parent, _)) if !parent.is_empty() => parent.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{parent_of, split_pivot, strip_pivot};

    #[test]
    fn pivots_split_at_the_first_dot_component() {
        let cases = [
            ("a/b/c", ("", "a/b/c")),
            ("/a/./b/c", ("a", "a/b/c")),
            ("a/./b/./c", ("a", "a/b/c")),
            ("./a/b", ("", "a/b")),
            ("x/./", ("x", "x")),
        ];
        for (src, (pivot, whole)) in cases {
            let (got_pivot, got_whole) = split_pivot(src);
            assert_eq!((got_pivot.as_str(), got_whole.as_str()), (pivot, whole), "split_pivot({src:?})");
        }
        assert_eq!(strip_pivot("a/b/c", "a"), ("a", "b/c"));
        assert_eq!(strip_pivot("a", "a"), ("a", ""));
        assert_eq!(strip_pivot("x/y/z", "*/*"), ("x/y", "z"));
        assert_eq!(strip_pivot("x/y", ""), ("", "x/y"));
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/"), "/");
    }
}

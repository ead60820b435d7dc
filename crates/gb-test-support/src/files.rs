//! Files for fixtures: writing with parents, and a directory tree as comparable lines.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Writes `content` to `path`, creating its parent directories.
pub fn write(path: impl AsRef<Path>, content: impl AsRef<[u8]>) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create dirs");
    }
    fs::write(path, content).expect("write");
}

/// How much of each file [`tree`] records besides type, mode and owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeDetail {
    /// The content's sha256.
    ContentDigest,
    /// The modification time and the content as text, for small fixtures whose times matter.
    MtimeAndContent,
    /// The content as text and the hard link count, for fixtures with hard links.
    ContentAndLinks,
}

/// A line per entry below `root`, keyed by the relative path: type, mode, owner, and for a
/// file what `detail` asks for, for a symlink its target.
pub fn tree(root: &Path, detail: TreeDetail) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let rel = path.strip_prefix(root).expect("below root").to_string_lossy().into_owned();
            let head = format!("{:o} {}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid());
            let line = if meta.is_dir() {
                dirs.push(path.clone());
                format!("dir {head}")
            } else if meta.is_symlink() {
                format!("link -> {}", fs::read_link(&path).expect("read link").display())
            } else if meta.is_file() {
                let content = fs::read(&path).expect("read");
                match detail {
                    TreeDetail::ContentDigest => format!("file {head} {}", hex::encode(Sha256::digest(&content))),
                    TreeDetail::MtimeAndContent => {
                        format!("file {head} mtime {} {:?}", meta.mtime(), String::from_utf8_lossy(&content))
                    }
                    TreeDetail::ContentAndLinks => {
                        format!("file {head} {:?} links={}", String::from_utf8_lossy(&content), meta.nlink())
                    }
                }
            } else {
                format!("other {head}")
            };
            out.insert(rel, line);
        }
    }
    out
}

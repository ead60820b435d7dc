//! Output files that already hold what a build would write are left alone: a no-op rebuild
//! rewrites no tarball (BuildKit rewrites it every time). What a file holds is recorded in an
//! extended attribute, together with its size and mtime, so a file changed by anyone else is
//! rewritten.

use std::path::Path;

/// The extended attribute that records what an output file holds.
const OUTPUT_XATTR: &str = "user.graphbuild.output";

/// What a root file system tar holds: its snapshot's layers.
pub(crate) fn layers_identity(snapshot: &gb_cache::Snapshot) -> String {
    use sha2::Digest as _;
    let layers: Vec<&str> = snapshot.layers.iter().map(|l| l.as_str()).collect();
    hex::encode(sha2::Sha256::digest(layers.join(",").as_bytes()))
}

/// What an image archive holds: the manifest and the names it carries.
pub(crate) fn image_identity(image: &gb_export::BuiltImage, names: &[String]) -> String {
    let mut names = names.to_vec();
    names.sort();
    format!("{}:{}", image.manifest_digest, names.join(","))
}

/// What identifies an output file: what it holds plus the file's size and mtime.
fn file_identity(file: &Path, content: &str) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("{content}:{}:{modified}", meta.len()))
}

/// True when `file` already holds `content`.
pub(crate) fn output_is_current(file: &Path, content: &str) -> bool {
    let Some(expected) = file_identity(file, content) else { return false };
    matches!(xattr::get(file, OUTPUT_XATTR), Ok(Some(value)) if value == expected.as_bytes())
}

/// Records what a freshly written output file holds; file systems without user xattrs just get
/// the output rewritten every time.
pub(crate) fn mark_output(file: &Path, content: &str) {
    if let Some(identity) = file_identity(file, content) {
        let _ = xattr::set(file, OUTPUT_XATTR, identity.as_bytes());
    }
}

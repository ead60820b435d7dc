//! The mount points a container runtime creates in a writable root file system, so that a
//! container's or a step's diff leaves them out, as Docker's and BuildKit's diffs do.

use std::path::{Path, PathBuf};

use crate::confined::{ConfinedDir, Lookup};
use crate::error::SnapshotError;

/// Of the runtime's mount targets, each already resolved inside the root (`resolved`, absolute
/// host paths under `rootfs`), the paths relative to the root that are missing now and that the
/// runtime will therefore create (each missing target and missing parent), deepest first. runc
/// resolves a target's symlinks inside the rootfs (securejoin), so a target under a link in the
/// image is created where the link leads, and that is where it is looked for. A point outside
/// the root, or reached only through a link or a file, is not recorded: it is never the
/// runtime's to remove.
pub fn created_mount_points(
    rootfs: &Path,
    rootfs_dir: &ConfinedDir,
    resolved: impl IntoIterator<Item = PathBuf>,
) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut created: Vec<PathBuf> = Vec::new();
    for resolved in resolved {
        let Ok(relative) = resolved.strip_prefix(rootfs) else { continue };
        let mut path = PathBuf::new();
        for part in relative.components() {
            path.push(part);
            if rootfs_dir.lookup(&path)? == Lookup::Missing && !created.contains(&path) {
                created.push(path.clone());
            }
        }
    }
    created.sort_by(|a, b| b.components().count().cmp(&a.components().count()).then_with(|| b.cmp(a)));
    Ok(created)
}

/// Removes the empty mount points (deepest first) that the runtime created in the upper dir.
///
/// The process ran with this upper dir as its root and may have put anything at these paths,
/// links to the host included (`mv /mp /mp.old && ln -s /etc /mp`). Every path is therefore
/// walked from a descriptor of the upper dir without following a link, and only an empty
/// directory or empty file found that way is removed; anything else is the process's change
/// and stays in the diff.
pub fn remove_created_mount_points(upper: &Path, points: &[PathBuf]) -> Result<(), SnapshotError> {
    let upper = ConfinedDir::open(upper)?;
    for point in points {
        upper.remove_if_empty(point)?;
    }
    Ok(())
}

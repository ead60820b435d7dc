//! Security regressions: whatever a build's RUN steps leave in their layers (links to host
//! paths where graphbuild's own mount points were), the engine's clean-up must never act on
//! the host outside the state root.
//!
//! These tests need root, runc and busybox-static, as the engine tests do; a missing tool
//! fails them rather than skipping them.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::engine::{Env, assert_ok, write};

/// Every entry below `dir` (not following links) with its type, mode, size, mtime and content
/// or link target: two equal maps mean nothing in the tree was created, removed or changed.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut entries = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("lstat");
        let kind = if meta.is_dir() {
            let mut children: Vec<PathBuf> =
                std::fs::read_dir(&path).expect("list").map(|e| e.expect("entry").path()).collect();
            children.sort();
            stack.extend(children);
            "dir".to_owned()
        } else if meta.file_type().is_symlink() {
            format!("link -> {}", std::fs::read_link(&path).expect("readlink").display())
        } else {
            format!("file {:?}", std::fs::read(&path).expect("read"))
        };
        let rel = path.strip_prefix(dir).expect("below").to_path_buf();
        let line =
            format!("{kind} mode={:o} size={} mtime={}.{}", meta.mode(), meta.len(), meta.mtime(), meta.mtime_nsec());
        entries.insert(rel, line);
    }
    entries
}

/// A victim tree outside the state root, with the empty files and directories the mount-point
/// clean-up removes when it is tricked into the host: `d` and `f` as in the report, and more.
struct Victim {
    _parent: tempfile::TempDir,
    dir: PathBuf,
}

impl Victim {
    fn new(env: &Env) -> Self {
        // Not /tmp, where the state root lives: the victim must be somewhere else entirely.
        let parent = tempfile::Builder::new().prefix("gb-victim-").tempdir_in("/var/tmp").expect("victim parent");
        let dir = parent.path().join("victim");
        for empty in ["d", "nested/empty", "mp-d-twin/d"] {
            std::fs::create_dir_all(dir.join(empty)).expect("victim dir");
        }
        std::fs::write(dir.join("f"), "").expect("victim file");
        std::fs::write(dir.join("nested/g"), "").expect("victim file");
        std::fs::write(dir.join("keep.txt"), "host data\n").expect("victim file");
        let root = std::fs::canonicalize(env.root.path()).expect("state root");
        let canonical = std::fs::canonicalize(&dir).expect("victim");
        assert!(
            !canonical.starts_with(&root) && !root.starts_with(&canonical),
            "the victim must be outside the state root"
        );
        Victim { _parent: parent, dir }
    }
}

/// The tools these builds need: without them they would fail for the wrong reason.
fn require_tools() {
    gb_test_support::require_root();
    gb_test_support::require_tool("runc", "runc");
}

#[test]
fn mount_point_cleanup_never_follows_a_link_the_run_left() {
    require_tools();
    let env = Env::new();
    let victim = Victim::new(&env);
    let before = tree(&victim.dir);
    assert!(before.contains_key(Path::new("d")) && before.contains_key(Path::new("f")));

    // The reported attack, verbatim but for the victim's path: each RUN moves the directory
    // graphbuild made for its mount point aside and puts a link to the host in its place.
    let context = tempfile::tempdir().expect("context");
    let target = victim.dir.display();
    write(
        context.path(),
        "Dockerfile",
        &format!(
            "FROM busybox:latest\n\
             RUN --mount=type=tmpfs,target=/mp/d sh -c \"mv /mp /mp.old && ln -s {target} /mp\"\n\
             RUN --mount=type=secret,id=s,target=/mq/f sh -c \"mv /mq /mq.old && ln -s {target} /mq\"\n"
        ),
    );
    write(context.path(), "s", "s\n");
    let secret = format!("id=s,src={}", context.path().join("s").display());
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["--secret", &secret, "-o", &dest]);
    assert_ok(&output);

    assert_eq!(tree(&victim.dir), before, "the build changed the host's victim tree");

    // The attack really ran (so the clean-up really met the links), and the RUNs' own changes
    // are kept in the image: the links, and the moved directories.
    for (link, moved) in [("mp", "mp.old"), ("mq", "mq.old")] {
        let exported = out.path().join(link);
        let meta = std::fs::symlink_metadata(&exported).expect("the link is in the image");
        assert!(meta.file_type().is_symlink(), "/{link} is a link in the image");
        assert_eq!(std::fs::read_link(&exported).expect("readlink"), victim.dir);
        assert!(out.path().join(moved).is_dir(), "/{moved} is in the image");
    }
}

#[test]
fn mount_targets_below_an_image_link_are_cleaned_inside_the_rootfs() {
    require_tools();
    let env = Env::new();
    let victim = Victim::new(&env);
    let before = tree(&victim.dir);

    // Here the link comes from an earlier layer: runc resolves the targets inside the rootfs,
    // so the mount points are made at the link's target there (`<victim path>/new`, `.../d`),
    // and that is where they must be cleaned up, not on the host.
    let context = tempfile::tempdir().expect("context");
    let target = victim.dir.display();
    write(
        context.path(),
        "Dockerfile",
        &format!(
            "FROM busybox:latest\n\
             RUN ln -s {target} /ml\n\
             RUN --mount=type=tmpfs,target=/ml/new --mount=type=tmpfs,target=/ml/d true\n"
        ),
    );
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=local,dest={}", out.path().display());
    let (output, _) = env.build(context.path(), &["-o", &dest]);
    assert_ok(&output);

    assert_eq!(tree(&victim.dir), before, "the build changed the host's victim tree");
    let inside = out.path().join(victim.dir.strip_prefix("/").expect("absolute"));
    assert!(!inside.join("new").exists(), "the mount point /ml/new was left in the image");
    assert!(!inside.join("d").exists(), "the mount point /ml/d was left in the image");
    assert!(!inside.exists(), "the mount points' parents were left in the image");
}

#[test]
fn an_oci_layout_export_never_writes_through_links_an_earlier_export_left() {
    require_tools();
    let env = Env::new();
    let victim = Victim::new(&env);
    let before = tree(&victim.dir);
    let target = victim.dir.display();

    // A `type=local` export writes the image's own links into the directory; an OCI layout
    // written into the same directory afterwards must replace them, not write through them.
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        &format!("FROM busybox:latest\nRUN ln -s {target}/f /index.json && ln -s {target}/f /oci-layout\n"),
    );
    let out = tempfile::tempdir().expect("out");
    let local = format!("type=local,dest={}", out.path().display());
    assert_ok(&env.build(context.path(), &["-o", &local]).0);
    assert!(std::fs::symlink_metadata(out.path().join("index.json")).expect("link").file_type().is_symlink());
    let oci = format!("type=oci,dest={},tar=false", out.path().display());
    assert_ok(&env.build(context.path(), &["-o", &oci]).0);
    assert_eq!(tree(&victim.dir), before, "the OCI export wrote through a link");
    for name in ["index.json", "oci-layout"] {
        let meta = std::fs::symlink_metadata(out.path().join(name)).expect("written");
        assert!(meta.is_file(), "{name} is a file of the layout now");
    }

    // A link where the blob directory goes is refused: the export fails and the host is untouched.
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", &format!("FROM busybox:latest\nRUN ln -s {target} /blobs\n"));
    let out = tempfile::tempdir().expect("out");
    let local = format!("type=local,dest={}", out.path().display());
    assert_ok(&env.build(context.path(), &["-o", &local]).0);
    let oci = format!("type=oci,dest={},tar=false", out.path().display());
    let (output, _) = env.build(context.path(), &["-o", &oci]);
    assert!(!output.status.success(), "the export went through the blobs link");
    assert!(String::from_utf8_lossy(&output.stderr).contains("blobs"), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(tree(&victim.dir), before, "the OCI export wrote through a link");
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mode() & 0o7777
}

/// Sets the permission bits of `path`.
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn state_roots_are_made_private_and_another_users_root_is_refused() {
    gb_test_support::require_root();
    let parent = tempfile::tempdir().expect("parent");
    // Traversable by all, as /var/lib is: only the root's own mode protects it.
    chmod(parent.path(), 0o755);
    let images = |root: &Path| crate::graphbuild().arg("--root").arg(root).arg("images").output().expect("runs");

    let fresh = parent.path().join("new/root");
    assert_ok(&images(&fresh));
    for dir in [fresh.clone(), fresh.join("exec"), fresh.join("cache-mounts")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }

    // A root made before roots were private, with its subdirectories.
    let old = parent.path().join("old");
    for dir in ["", "exec", "cache-mounts"] {
        std::fs::create_dir_all(old.join(dir)).expect("mkdir");
        chmod(&old.join(dir), 0o755);
    }
    assert_ok(&images(&old));
    for dir in ["", "exec", "cache-mounts"] {
        assert_eq!(mode(&old.join(dir)), 0o700, "{dir:?} of an existing root");
    }

    // Another user's directory: that user could plant runc state the reaper acts on.
    let foreign = parent.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    chmod(&foreign, 0o755);
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).expect("chown");
    let output = images(&foreign);
    assert_eq!(output.status.code(), Some(3), "an environment error: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("owned by uid 65534"), "{stderr}");
    assert_eq!(mode(&foreign), 0o755, "another user's directory is left as it was");
    assert_eq!(std::fs::read_dir(&foreign).expect("list").count(), 0, "nothing was made in it");
}

#[test]
fn a_setuid_file_left_in_a_cache_mount_is_out_of_other_users_reach() {
    require_tools();
    gb_test_support::require_tool("setpriv", "util-linux");
    let env = Env::new();
    // A root made with the default mode, as before roots were private; it is opened again.
    chmod(env.root.path(), 0o755);
    assert_ok(&env.cmd(&["server", "stop"]).output().expect("server stop"));
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox:latest\nRUN --mount=type=cache,id=suid,target=/cache cp /bin/sh /cache/x && chmod 4755 /cache/x\n",
    );
    assert_ok(&env.build(context.path(), &[]).0);

    // The attack's file is there, set-uid root...
    let caches = env.root.path().join("cache-mounts");
    let planted = std::fs::read_dir(&caches)
        .expect("list cache mounts")
        .flatten()
        .map(|e| e.path().join("x"))
        .find(|x| x.exists())
        .expect("the RUN's file is in its cache mount");
    let meta = std::fs::metadata(&planted).expect("stat");
    assert!(meta.mode() & 0o4000 != 0 && meta.uid() == 0, "a set-uid root file: {:o}", meta.mode());
    // ...and out of reach of any other user.
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "stat"])
        .arg(&planted)
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "nobody can reach {}", planted.display());
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(mode(env.root.path()), 0o700, "the root was made private when opened");
}

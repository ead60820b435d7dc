//! Extra mounts (bind, tmpfs) and the mount points they leave in the rootfs.

use std::collections::BTreeSet;
use std::path::Path;

use gb_exec::{ContainerMount, MountSource};

use crate::support::Fixture;

fn bind(target: &str, path: &Path, readonly: bool) -> ContainerMount {
    ContainerMount { target: target.to_owned(), source: MountSource::Bind { path: path.to_owned(), readonly } }
}

#[tokio::test]
async fn readonly_bind_cannot_be_written() {
    let fx = Fixture::new();
    let host = fx.dir.path().join("ro-src");
    std::fs::create_dir(&host).expect("mkdir");
    std::fs::write(host.join("f"), "from host\n").expect("write");
    let mut spec = fx.sh("cat /data/f; echo x > /data/g");
    spec.mounts = vec![bind("/data", &host, true)];
    let out = fx.run("bind-ro", &spec).await.expect("run");
    assert_eq!(out.stdout, "from host\n");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Read-only file system"), "{}", out.stderr);
    assert!(!host.join("g").exists());
}

#[tokio::test]
async fn readwrite_bind_writes_reach_the_host() {
    let fx = Fixture::new();
    let host = fx.dir.path().join("rw-src");
    std::fs::create_dir(&host).expect("mkdir");
    let mut spec = fx.sh("echo written > /cache/deep/out");
    spec.mounts = vec![bind("/cache/deep", &host, false)];
    let out = fx.run("bind-rw", &spec).await.expect("run");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(host.join("out")).expect("read"), "written\n");
}

#[tokio::test]
async fn tmpfs_is_mounted_and_leaves_nothing_in_the_rootfs() {
    let fx = Fixture::new();
    let mut spec = fx.sh("grep ' /scratch ' /proc/mounts; echo x > /scratch/file");
    spec.mounts =
        vec![ContainerMount { target: "/scratch".to_owned(), source: MountSource::Tmpfs { size: Some(1 << 20) } }];
    let out = fx.run("tmpfs", &spec).await.expect("run");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("tmpfs /scratch tmpfs rw,nosuid,nodev"), "{}", out.stdout);
    assert!(out.stdout.contains("size=1024k"), "{}", out.stdout);
    assert!(fx.rootfs.join("scratch").is_dir());
    assert!(!fx.rootfs.join("scratch/file").exists());
}

/// Every path under `root` (relative, with a leading `/`).
fn tree(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).expect("under root");
            out.insert(format!("/{}", relative.display()));
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

#[tokio::test]
async fn mount_points_lists_exactly_what_runc_creates() {
    let fx = Fixture::new();
    let host = fx.dir.path().join("src");
    std::fs::create_dir(&host).expect("mkdir");
    let mut spec = fx.sh("true");
    spec.mounts = vec![
        bind("/run/secrets/a", &host, true),
        ContainerMount { target: "/tmp".to_owned(), source: MountSource::Tmpfs { size: None } },
        bind("/tmp/inner", &host, true),
    ];
    let before = tree(&fx.rootfs);
    let out = fx.run("mount-points", &spec).await.expect("run");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let created: BTreeSet<String> = tree(&fx.rootfs).difference(&before).cloned().collect();
    let listed: BTreeSet<String> = gb_exec::mount_points(&spec).into_iter().collect();
    assert_eq!(created, listed);
}

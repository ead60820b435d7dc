//! Base images for tests, made from Debian's busybox-static: a root file system tarball built
//! once per test run by the project's `scripts/make-base.sh`, and a bare rootfs directory.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::tools::require_tool;

/// A busybox rootfs tarball (`busybox.tar`, with `/etc/passwd` and applet links), made once per
/// test run; nextest runs each test in its own process, so the first build is serialised with
/// `flock` and later processes find the tarball made.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        require_tool("/bin/busybox", "busybox-static");
        let dir = std::env::temp_dir().join("graphbuild-test-base");
        let tar = dir.join("busybox.tar");
        if !tar.is_file() {
            std::fs::create_dir_all(&dir).expect("base dir");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-base.sh");
            let status = std::process::Command::new("flock")
                .arg(dir.join(".lock"))
                .arg("bash")
                .arg(script)
                .arg(&dir)
                .arg("busybox")
                .env("BASE_WORK", dir.join("work"))
                .status()
                .expect("make-base.sh runs");
            assert!(status.success(), "make-base.sh failed");
        }
        tar
    })
    .clone()
}

/// A minimal rootfs in `rootfs`: `/bin/busybox` (static) and a symlink per applet, nothing else.
pub fn busybox_rootfs(rootfs: &Path, applets: &[&str]) {
    require_tool("/bin/busybox", "busybox-static");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy /bin/busybox");
    for applet in applets {
        symlink("busybox", bin.join(applet)).expect("applet symlink");
    }
}

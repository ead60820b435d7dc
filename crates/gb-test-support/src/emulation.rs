//! Running arm64 programs on this machine for the multi-platform tests: QEMU's `binfmt_misc`
//! handler (Debian's qemu-user-static) registered as systemd would register it, and an arm64
//! busybox base made from Debian's `busybox-static:arm64` package, which
//! `scripts/install-deps.sh --test` downloads into [`ARM64_DEBS`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::tools::{require_tool, run};

/// Where `install-deps.sh --test` keeps the arm64 packages the tests use.
pub const ARM64_DEBS: &str = "/var/cache/graphbuild-test";

/// Registers QEMU's aarch64 handler with the kernel unless it is already: mounts `binfmt_misc`
/// when it is not mounted, then writes Debian's `qemu-aarch64.conf` to its `register` file (no
/// systemd here does it). The registration stays: it is the machine's, like an installed package.
pub fn require_arm64_emulation() {
    let handlers = Path::new("/proc/sys/fs/binfmt_misc");
    if handlers.join("qemu-aarch64").exists() {
        return;
    }
    let conf = Path::new("/usr/lib/binfmt.d/qemu-aarch64.conf");
    require_tool(&conf.display().to_string(), "qemu-user-static");
    if !handlers.join("register").exists() {
        run("mount", &["-t", "binfmt_misc", "binfmt_misc", &handlers.display().to_string()]);
    }
    let line = std::fs::read_to_string(conf).expect("read qemu-aarch64.conf");
    // Another test process may have registered it meanwhile: then the write fails, and the
    // handler is there all the same.
    let _ = std::fs::write(handlers.join("register"), line.trim());
    assert!(handlers.join("qemu-aarch64").exists(), "registering QEMU's aarch64 binfmt_misc handler failed");
}

/// The busybox rootfs tarball of [`crate::busybox_tar`] with an arm64 `bin/busybox` (from
/// Debian's busybox-static:arm64), made once and kept beside it: each test process that needs
/// it and finds none makes one in a scratch dir of its own, renames it into place (so no
/// process reads half a tarball) and removes the scratch dir.
pub fn busybox_arm64_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join("graphbuild-test-arm64");
        let tar = dir.join("busybox-arm64.tar");
        if !tar.is_file() {
            let scratch = dir.join(format!("work-{}", std::process::id()));
            let made = make_busybox_arm64_tar(&scratch);
            std::fs::rename(&made, &tar).expect("move the arm64 tarball into place");
            std::fs::remove_dir_all(&scratch).expect("remove the arm64 scratch dir");
        }
        tar
    })
    .clone()
}

/// Makes the arm64 busybox tarball in `scratch`; returns its path there.
fn make_busybox_arm64_tar(scratch: &Path) -> PathBuf {
    let deb = std::fs::read_dir(ARM64_DEBS)
        .ok()
        .and_then(|entries| {
            entries.filter_map(Result::ok).map(|entry| entry.path()).find(|path| {
                path.to_string_lossy().ends_with("_arm64.deb") && path.to_string_lossy().contains("busybox-static")
            })
        })
        .unwrap_or_else(|| {
            panic!("no busybox-static arm64 package in {ARM64_DEBS}: run scripts/install-deps.sh --test")
        });
    let rootfs = scratch.join("rootfs");
    let unpacked = scratch.join("deb");
    std::fs::create_dir_all(&rootfs).expect("rootfs dir");
    run("tar", &["-xf", &crate::busybox_tar().display().to_string(), "-C", &rootfs.display().to_string()]);
    run("dpkg-deb", &["-x", &deb.display().to_string(), &unpacked.display().to_string()]);
    std::fs::copy(unpacked.join("bin/busybox"), rootfs.join("bin/busybox")).expect("arm64 busybox");
    let tar = scratch.join("busybox-arm64.tar");
    run(
        "tar",
        &[
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
            &rootfs.display().to_string(),
            "-cf",
            &tar.display().to_string(),
            ".",
        ],
    );
    tar
}

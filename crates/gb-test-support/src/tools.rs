//! External tools a test drives, and the check that they are installed: a missing tool fails
//! the test with the package to install, never skips it.

use std::path::Path;
use std::process::Command;

/// Fails the test unless `binary` (a path, or a name looked up on `PATH`) exists, naming the
/// Debian package that brings it. The one list of packages is `scripts/install-deps.sh`.
pub fn require_tool(binary: &str, package: &str) {
    let found = if binary.contains('/') {
        Path::new(binary).exists()
    } else {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()))
    };
    assert!(found, "{binary} is missing: install {package} (scripts/install-deps.sh --test installs every test tool)");
}

/// Fails the test unless it runs as root; the tests that mount file systems or run containers
/// need it, and `--profile unprivileged` leaves them out on machines without it.
pub fn require_root() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:").map(|ids| ids.split_whitespace().nth(1).map(str::to_owned)))
        })
        .flatten();
    assert_eq!(
        uid.as_deref(),
        Some("0"),
        "this test mounts file systems and runs containers: run it as root, or leave it out with \
         `cargo nextest run --profile unprivileged`"
    );
}

/// Runs a command, failing the test with its output when it fails; returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run ({e}): is it installed? see scripts/install-deps.sh"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a process with exactly `args` as its command line is alive on the host: tests give
/// their container's process a unique command line (`sleep 3607`) to find it by.
pub fn process_alive(args: &[&str]) -> bool {
    let wanted: Vec<u8> = args.iter().flat_map(|arg| arg.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .any(|entry| std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| cmdline == wanted))
}

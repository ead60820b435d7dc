//! Test fixtures: a runtime in a temp dir over a busybox rootfs (gb-test-support), and output
//! capture.

use std::path::PathBuf;
use std::sync::Mutex;

use gb_exec::{ContainerSpec, ExecError, OutputStream, Runtime};
use tokio_util::sync::CancellationToken;

/// The applets the tests use, linked to `/bin/busybox`.
const APPLETS: [&str; 18] = [
    "sh", "echo", "cat", "ls", "id", "hostname", "mount", "true", "false", "sleep", "ip", "wc", "grep", "pwd", "ps",
    "touch", "mkdir", "nc",
];

/// A runtime and a rootfs, both in one temp dir that is removed at the end.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub runtime: Runtime,
    pub rootfs: PathBuf,
}

impl Fixture {
    /// A fixture; fails the test when runc is missing or unusable, or when not run as root.
    pub fn new() -> Self {
        gb_test_support::require_root();
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = match Runtime::detect(&dir.path().join("exec")) {
            Ok(runtime) => runtime,
            Err(ExecError::RuntimeNotFound { searched }) => {
                panic!("runc is missing ({searched}): install runc (scripts/install-deps.sh)")
            }
            Err(e) => panic!("runc is installed but unusable: {e}"),
        };
        let rootfs = dir.path().join("rootfs");
        gb_test_support::busybox_rootfs(&rootfs, &APPLETS);
        Self { dir, runtime, rootfs }
    }

    /// A spec running `sh -c script` on this fixture's rootfs.
    pub fn sh(&self, script: &str) -> ContainerSpec {
        ContainerSpec::new(&self.rootfs, vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()])
    }

    /// Runs `spec` to completion, collecting its output.
    pub async fn run(&self, id: &str, spec: &ContainerSpec) -> Result<Output, ExecError> {
        let output = Collector::default();
        let code = self.runtime.run(id, spec, &|s, b| output.push(s, b), CancellationToken::new()).await?;
        Ok(output.finish(code))
    }

    /// Runs `sh -c script` and returns its output, failing the test on an error.
    pub async fn sh_ok(&self, id: &str, script: &str) -> Output {
        self.run(id, &self.sh(script)).await.unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// The ids runc still knows under this runtime's state root (`runc list -q`).
    pub fn listed_containers(&self) -> Vec<String> {
        let output = std::process::Command::new(self.runtime.runc_path())
            .arg("--root")
            .arg(self.runtime.state_root())
            .args(["list", "-q"])
            .output()
            .expect("runc list");
        assert!(output.status.success(), "runc list: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
    }

    /// The bundle directories left behind.
    pub fn leftover_bundles(&self) -> Vec<PathBuf> {
        let bundles = self.dir.path().join("exec/bundles");
        std::fs::read_dir(bundles).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    }
}

/// What a container printed, and its exit code.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Each chunk in arrival order.
    pub chunks: Vec<(OutputStream, Vec<u8>, std::time::Instant)>,
}

/// Records chunks from the `on_output` callback.
#[derive(Default)]
pub struct Collector {
    chunks: Mutex<Vec<(OutputStream, Vec<u8>, std::time::Instant)>>,
}

impl Collector {
    pub fn push(&self, stream: OutputStream, bytes: &[u8]) {
        self.chunks.lock().expect("lock").push((stream, bytes.to_vec(), std::time::Instant::now()));
    }

    pub fn finish(self, code: i32) -> Output {
        let chunks = self.chunks.into_inner().expect("lock");
        let text = |which| {
            let bytes: Vec<u8> =
                chunks.iter().filter(|(s, _, _)| *s == which).flat_map(|(_, b, _)| b.clone()).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Output { code, stdout: text(OutputStream::Stdout), stderr: text(OutputStream::Stderr), chunks }
    }
}

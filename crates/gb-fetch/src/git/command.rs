//! Running the `git` CLI hermetically: no system or global config, no prompts, no hooks, no
//! repository location inherited from the environment, messages in the C locale.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::FetchError;
use crate::redact::redact_credentials;

/// Variables that would point git at another repository than the one we mean, or make it ask a
/// person (or a GUI helper) for credentials.
const CLEARED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_PREFIX",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
];

/// Configuration for every command; command-line `-c` wins over any configuration file.
const CONFIG: &[&str] = &[
    // A top-level file:// remote is fine; submodules must not read the host's repositories.
    "protocol.file.allow=user",
    "core.hooksPath=/dev/null",
    "core.askPass=",
    "credential.helper=",
    "core.fsmonitor=false",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
    "gc.auto=0",
    "maintenance.auto=false",
];

/// Git commands run in one directory, on behalf of one remote (named, redacted, in errors).
pub(super) struct Git<'a> {
    dir: &'a Path,
    shown_remote: String,
}

impl<'a> Git<'a> {
    pub(super) fn new(dir: &'a Path, remote: &str) -> Self {
        Self { dir, shown_remote: redact_credentials(remote) }
    }

    /// The remote as messages show it.
    pub(super) fn shown_remote(&self) -> &str {
        &self.shown_remote
    }

    /// Runs `git <args>` and returns its standard output; a non-zero exit is
    /// [`FetchError::GitCommand`] with git's standard error.
    pub(super) fn run(&self, args: &[&str]) -> Result<String, FetchError> {
        let mut command = Command::new("git");
        command.current_dir(self.dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for name in CLEARED_ENV {
            command.env_remove(name);
        }
        command
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("LC_ALL", "C");
        if std::env::var_os("GIT_SSH_COMMAND").is_none() && std::env::var_os("GIT_SSH").is_none() {
            // Fail instead of asking for a passphrase or a host key confirmation.
            command.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        for config in CONFIG {
            command.arg("-c").arg(config);
        }
        let output = command.args(args).output().map_err(|source| FetchError::GitUnavailable { source })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if stderr.is_empty() {
            stderr = output.status.to_string();
        }
        Err(FetchError::GitCommand {
            remote: self.shown_remote.clone(),
            command: redact_credentials(&args.join(" ")),
            stderr: redact_credentials(&stderr),
        })
    }
}

/// Whether a failed command's error says the server cannot serve shallow fetches (BuildKit
/// retries without `--depth` on the same words).
pub(super) fn refused_shallow(error: &FetchError) -> bool {
    matches!(error, FetchError::GitCommand { stderr, .. } if stderr.contains("shallow") || stderr.contains("depth"))
}

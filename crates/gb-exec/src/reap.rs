//! Containers whose graphbuild died: every [`crate::Runtime`] records its owner (pid and start
//! time) in its work dir and starts a watchdog that kills its containers once that process is
//! gone; [`reap_if_orphaned`] does the same later, for a work dir whose owner is dead, in case the
//! watchdog could not (it was killed too, or runc had not yet written the container's state).
//!
//! runc does not tie a container to the process that ran `runc run`: killing graphbuild, or
//! `runc run` itself, leaves the container's processes running (no parent-death signal reaches
//! a pid namespace's init). Killing the init from outside ends the whole pid namespace.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::ExecError;

/// The file in a runtime's work dir naming the process that owns it.
pub(crate) const OWNER_FILE: &str = "owner";

/// How long a container's state may take to appear: runc writes `state.json` only once the
/// container exists, and a `runc run` of the dead owner may still be creating it.
const STATE_WAIT: Duration = Duration::from_secs(2);
/// How long a killed container's init may take to exit.
const DEATH_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

/// A process that pid reuse cannot impersonate: its pid and its start time (clock ticks after
/// boot, field 22 of `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pid: i32,
    start: u64,
}

impl ProcessId {
    /// This process.
    pub(crate) fn current() -> Result<Self, ExecError> {
        let path = Path::new("/proc/self/stat");
        let text = std::fs::read_to_string(path).map_err(ExecError::io("read", path))?;
        let pid = i32::try_from(std::process::id()).map_err(|e| ExecError::Io {
            action: "read",
            path: path.to_owned(),
            source: io::Error::new(ErrorKind::InvalidData, e),
        })?;
        let (_, start) = parse_stat(&text).ok_or_else(|| ExecError::Io {
            action: "parse",
            path: path.to_owned(),
            source: ErrorKind::InvalidData.into(),
        })?;
        Ok(Self { pid, start })
    }

    /// Whether the process is still running: it exists, is not a zombie, and started when it did.
    pub(crate) fn is_alive(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else { return false };
        parse_stat(&text).is_some_and(|(state, start)| start == self.start && !matches!(state, 'Z' | 'X' | 'x'))
    }

    /// Sends SIGKILL if this process is still running. The pidfd is opened before the start
    /// time is checked, and stays bound to the process it was opened for, so a pid reused after
    /// the check is never signalled. Pids of 1 or less are never signalled.
    fn kill(&self) -> io::Result<()> {
        use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
        let Some(pid) = Pid::from_raw(self.pid).filter(|_| self.pid > 1) else { return Ok(()) };
        let pidfd = match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !self.is_alive() {
            return Ok(());
        }
        match pidfd_send_signal(&pidfd, Signal::KILL) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `PID START`, as the owner file holds it.
    pub(crate) fn to_line(self) -> String {
        format!("{} {}\n", self.pid, self.start)
    }

    fn from_line(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        let pid = fields.next()?.parse().ok().filter(|pid| *pid > 1)?;
        let start = fields.next()?.parse().ok()?;
        Some(Self { pid, start })
    }
}

/// State and start time from the text of `/proc/PID/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, field 22 (starttime) is index 19.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Kills and deletes the containers of a runtime work dir (`DIR/state`, `DIR/bundles`) whose
/// owner is dead, or which names no owner (the layout before owners were recorded), then removes
/// the directory. Returns the ids of the containers found; nothing when the owner is alive.
///
/// Each container's init is sent SIGKILL directly (its pid and start time are in runc's
/// `state.json`), so this works without runc; `runc delete --force` then removes its cgroups
/// and state. The call returns once every init is dead, so nothing of theirs writes any more.
/// On an error the directory stays for a later call.
pub fn reap_if_orphaned(work_dir: &Path) -> Result<Vec<String>, ExecError> {
    let owner_path = work_dir.join(OWNER_FILE);
    match std::fs::read_to_string(&owner_path) {
        Ok(text) => {
            if ProcessId::from_line(&text).is_some_and(|owner| owner.is_alive()) {
                return Ok(Vec::new());
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(ExecError::io("read", &owner_path)(e)),
    }
    let state = work_dir.join("state");
    let ids = match std::fs::read_dir(&state) {
        Ok(entries) => entries
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ExecError::io("list", &state))?,
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(ExecError::io("list", &state)(e)),
    };
    // Only looked for when there is a container: a dead runtime usually left none.
    let runc = if ids.is_empty() { None } else { crate::runtime::find_runc().ok() };
    let mut failure = None;
    for id in &ids {
        if let Err(e) = reap_container(runc.as_deref(), &state, id) {
            failure.get_or_insert(e);
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    for dir in [&state, &work_dir.join("bundles")] {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(ExecError::io("remove", dir)(e)),
            _ => {}
        }
    }
    match std::fs::remove_file(&owner_path) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(ExecError::io("remove", &owner_path)(e)),
        _ => {}
    }
    // Other entries (other runtimes' work dirs under a legacy parent) keep the directory.
    match std::fs::remove_dir(work_dir) {
        Err(e) if !matches!(e.kind(), ErrorKind::NotFound | ErrorKind::DirectoryNotEmpty) => {
            Err(ExecError::io("remove", work_dir)(e))
        }
        _ => Ok(ids),
    }
}

/// Kills one container of a dead owner and waits until its init is gone.
fn reap_container(runc: Option<&Path>, state: &Path, id: &str) -> Result<(), ExecError> {
    let dir = state.join(id);
    let init = wait_for_init(&dir)?;
    if let Some(init) = init {
        init.kill().map_err(|source| ExecError::Io {
            action: "kill the init of container",
            path: dir.clone(),
            source,
        })?;
    }
    if let Some(runc) = runc {
        // Removes the cgroups and runc's state; its failure is not fatal, the init is dead.
        let _ = Command::new(runc)
            .arg("--root")
            .arg(state)
            .args(["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    if let Some(init) = init {
        let started = Instant::now();
        while init.is_alive() {
            if started.elapsed() > DEATH_WAIT {
                return Err(ExecError::Unkillable { id: id.to_owned(), pid: init.pid });
            }
            std::thread::sleep(POLL);
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(ExecError::io("remove", &dir)(e)),
        _ => Ok(()),
    }
}

/// The init process named by a container's `state.json`, waiting a little for a container
/// still being created; `None` when it never appears or the container is gone. A pid of 1 or
/// less is an error: no container's init has it, and a signal to it would reach init or every
/// process.
fn wait_for_init(dir: &Path) -> Result<Option<ProcessId>, ExecError> {
    let path = dir.join("state.json");
    let started = Instant::now();
    loop {
        match std::fs::read(&path) {
            Ok(bytes) => {
                // A state.json being rewritten may not parse; read it again.
                if let Ok(state) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    let pid = state["init_process_pid"].as_i64();
                    if let Some(pid) = pid.filter(|pid| *pid <= 1) {
                        return Err(ExecError::BadInitPid { path, pid });
                    }
                    let pid = pid.and_then(|p| i32::try_from(p).ok());
                    let start = state["init_process_start"].as_u64();
                    return Ok(pid.zip(start).map(|(pid, start)| ProcessId { pid, start }));
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if !dir.exists() {
                    return Ok(None);
                }
            }
            Err(e) => return Err(ExecError::io("read", &path)(e)),
        }
        if started.elapsed() > STATE_WAIT {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// What the watchdog runs: it waits for EOF on stdin (the write end lives only in the owning
/// graphbuild, so EOF means that process closed it or died), then kills and deletes every
/// container in the state dir, again while any is left (one may still have been starting).
/// Signals a terminal sends to graphbuild's process group must not end it early.
const WATCHDOG_SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
while read -r _; do :; done
pass=0
while [ "$pass" -lt 5 ]; do
  found=
  for dir in "$2"/*; do
    [ -d "$dir" ] || continue
    found=1
    id=${dir##*/}
    "$1" --root "$2" kill "$id" KILL >/dev/null 2>&1
    "$1" --root "$2" delete --force "$id" >/dev/null 2>&1
  done
  [ -n "$found" ] || break
  pass=$((pass + 1))
  sleep 1
done
"#;

/// The watchdog of one runtime: a `sh` in its own process group holding the read end of a pipe.
/// Dropping this closes the pipe, so the watchdog cleans up and exits.
#[derive(Debug)]
pub(crate) struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Option<Child>,
}

impl Watchdog {
    /// Starts the watchdog over runc's state dir.
    pub(crate) fn start(runc: &Path, state: &Path) -> Result<Self, ExecError> {
        use std::os::unix::process::CommandExt;
        let shell = PathBuf::from("/bin/sh");
        let mut child = Command::new(&shell)
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("graphbuild-watchdog")
            .arg(runc)
            .arg(state)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: Ctrl-C or a kill of graphbuild's group must leave it running.
            .process_group(0)
            .spawn()
            .map_err(|source| ExecError::Spawn { path: shell, source })?;
        // The pipe is close-on-exec in this process, so no container or other child holds it.
        let stdin = child.stdin.take();
        Ok(Self { stdin, child: Some(child) })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            // Reaped in the background: waiting here would block whoever dropped the runtime.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let text = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(text), Some(('S', 123456)));
        assert_eq!(parse_stat("42 (x"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessId::current().expect("current");
        assert!(me.is_alive());
        assert_eq!(ProcessId::from_line(&me.to_line()), Some(me));
        assert!(!ProcessId { start: me.start + 1, ..me }.is_alive());
        assert_eq!(ProcessId::from_line("0 5"), None);
        assert_eq!(ProcessId::from_line("1 5"), None);
        assert_eq!(ProcessId::from_line("garbage"), None);
    }

    #[test]
    fn an_init_pid_of_one_or_less_is_refused_and_its_container_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        for pid in [1, 0, -1] {
            let container = dir.path().join(format!("c{}", pid + 1));
            std::fs::create_dir(&container).expect("mkdir");
            // pid 1's real start time, so only the pid check can refuse it.
            let start = std::fs::read_to_string("/proc/1/stat").ok().and_then(|t| parse_stat(&t)).map_or(0, |s| s.1);
            let state = format!(r#"{{"init_process_pid": {pid}, "init_process_start": {start}}}"#);
            std::fs::write(container.join("state.json"), state).expect("write");
            let error = wait_for_init(&container).expect_err("refused");
            assert!(matches!(error, ExecError::BadInitPid { pid: p, .. } if p == pid), "{error}");
            let name = container.file_name().and_then(|n| n.to_str()).expect("name");
            let error = reap_container(None, dir.path(), name).expect_err("refused");
            assert!(matches!(error, ExecError::BadInitPid { .. }), "{error}");
            assert!(container.join("state.json").exists(), "the refused container's state is kept");
        }
    }

    #[test]
    fn a_process_that_is_gone_or_was_replaced_is_not_signalled() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("spawn");
        let pid = i32::try_from(child.id()).expect("pid");
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let (_, start) = parse_stat(&text).expect("parse");
        // Another start time: the pid now belongs to some other process, which must survive.
        ProcessId { pid, start: start + 1 }.kill().expect("kill");
        assert!(child.try_wait().expect("try_wait").is_none(), "a reused pid was signalled");
        ProcessId { pid, start }.kill().expect("kill");
        let status = child.wait().expect("wait");
        assert!(!status.success());
    }
}

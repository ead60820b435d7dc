//! Per-container exclusion, and freezing a running container while its files are read.
//!
//! Mounting a container's root file system (its run's start, the export of a stopped one),
//! unmounting it (its run's end), reading its changes (commit, diff, export) and removing it
//! each hold the container's [`ContainerLock`]; so a `start` cannot mount what an `export`
//! has mounted, nor an `rm` wipe a mount in use. Only one process owns a root (its server or
//! one `--no-server` command), so a lock within the process is enough.
//!
//! A running container's processes can change its files while they are read: replace a
//! directory with a symlink to `/` between a check and an open, and a path walk would read
//! the host. [`Frozen`] pauses them (runc's cgroup freezer) for the read, as `docker commit`
//! pauses by default.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};

use gb_exec::ContainerControl;
use gb_store::StateRoot;

use crate::error::ContainerError;
use crate::record::{ContainerId, ContainerRecord, container_dir, find};

/// The containers whose lock is held, and the signal that one was let go.
static HELD: Mutex<BTreeSet<ContainerId>> = Mutex::new(BTreeSet::new());
static RELEASED: Condvar = Condvar::new();

/// Holds one container's lock until dropped.
#[derive(Debug)]
pub(crate) struct ContainerLock {
    id: ContainerId,
}

impl ContainerLock {
    /// Waits until no one else holds container `id`'s lock, then holds it.
    pub(crate) fn take(id: &ContainerId) -> Self {
        let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while held.contains(id) {
            held = RELEASED.wait(held).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        held.insert(id.clone());
        Self { id: id.clone() }
    }

    /// Holds container `id`'s lock if no one does (this thread included), without waiting.
    pub(crate) fn try_take(id: &ContainerId) -> Option<Self> {
        let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.insert(id.clone()).then(|| Self { id: id.clone() })
    }
}

impl Drop for ContainerLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.remove(&self.id);
        RELEASED.notify_all();
    }
}

/// A running container paused until dropped.
#[derive(Debug)]
pub(crate) struct Frozen {
    control: ContainerControl,
    id: ContainerId,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // Best effort: a container that died frozen has nothing left to thaw.
        let _ = self.control.resume(self.id.as_str());
    }
}

/// A container held still for reading its files: locked, its record read under the lock,
/// and, when it runs, frozen. `record.state.rootfs` is then its live root file system; a
/// container that does not run has none (its files are mounted by the reader, under the lock).
#[derive(Debug)]
pub(crate) struct HeldStill {
    pub(crate) record: ContainerRecord,
    // Dropped in this order: thawed, then unlocked.
    _frozen: Option<Frozen>,
    _lock: ContainerLock,
}

impl HeldStill {
    /// Holds container `id` still; a running container that cannot be paused is an error
    /// rather than read while it changes. One that runc has not made yet (starting) or has
    /// let go (ending) cannot be paused for a moment: the lock is let go so its run goes on, and
    /// it is tried again, for a few seconds.
    pub(crate) fn take(root: &StateRoot, id: &ContainerId) -> Result<Self, ContainerError> {
        let mut attempts = 0;
        loop {
            let lock = ContainerLock::take(id);
            let mut record = find(root, id.as_str())?;
            if !(record.is_running() && record.state.rootfs.is_some()) {
                record.state.rootfs = None;
                return Ok(Self { record, _frozen: None, _lock: lock });
            }
            let control = ContainerControl::new(&container_dir(root, id).join("runtime"))
                .map_err(ContainerError::exec("finding a container runtime"))?;
            match control.pause(id.as_str()) {
                Ok(()) => return Ok(Self { record, _frozen: Some(Frozen { control, id: id.clone() }), _lock: lock }),
                Err(_) if !control.exists(id.as_str()) && attempts < 100 => {
                    attempts += 1;
                    drop(lock);
                    std::thread::sleep(std::time::Duration::from_millis(30));
                }
                Err(error) => return Err(ContainerError::exec(format!("pausing {}", record.name))(error)),
            }
        }
    }
}

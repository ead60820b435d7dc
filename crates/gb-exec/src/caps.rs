//! Linux capabilities by number: Docker's default set, and the set this process may hand out.

use oci_spec::runtime::{Capabilities, Capability};

/// Every capability with its number (`linux/capability.h`); oci-spec's enum carries no numbers,
/// and we need them to read `/proc/self/status` masks.
pub const ALL: [(u32, Capability); 41] = [
    (0, Capability::Chown),
    (1, Capability::DacOverride),
    (2, Capability::DacReadSearch),
    (3, Capability::Fowner),
    (4, Capability::Fsetid),
    (5, Capability::Kill),
    (6, Capability::Setgid),
    (7, Capability::Setuid),
    (8, Capability::Setpcap),
    (9, Capability::LinuxImmutable),
    (10, Capability::NetBindService),
    (11, Capability::NetBroadcast),
    (12, Capability::NetAdmin),
    (13, Capability::NetRaw),
    (14, Capability::IpcLock),
    (15, Capability::IpcOwner),
    (16, Capability::SysModule),
    (17, Capability::SysRawio),
    (18, Capability::SysChroot),
    (19, Capability::SysPtrace),
    (20, Capability::SysPacct),
    (21, Capability::SysAdmin),
    (22, Capability::SysBoot),
    (23, Capability::SysNice),
    (24, Capability::SysResource),
    (25, Capability::SysTime),
    (26, Capability::SysTtyConfig),
    (27, Capability::Mknod),
    (28, Capability::Lease),
    (29, Capability::AuditWrite),
    (30, Capability::AuditControl),
    (31, Capability::Setfcap),
    (32, Capability::MacOverride),
    (33, Capability::MacAdmin),
    (34, Capability::Syslog),
    (35, Capability::WakeAlarm),
    (36, Capability::BlockSuspend),
    (37, Capability::AuditRead),
    (38, Capability::Perfmon),
    (39, Capability::Bpf),
    (40, Capability::CheckpointRestore),
];

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// The bit mask of a set, as `/proc/PID/status` prints it (`CapEff: 00000000a80425fb` for Docker's).
pub fn mask(caps: impl IntoIterator<Item = Capability>) -> u64 {
    caps.into_iter()
        .filter_map(|cap| ALL.iter().find(|(_, c)| *c == cap).map(|(n, _)| 1u64 << n))
        .fold(0, |mask, bit| mask | bit)
}

/// The capabilities in a mask; bits this table does not know are dropped.
pub fn from_mask(mask: u64) -> Capabilities {
    ALL.iter().filter(|(n, _)| mask & (1u64 << n) != 0).map(|(_, c)| *c).collect()
}

/// This process's bounding set. A privileged container gets exactly these: asking runc for a
/// capability we do not hold makes `capset` fail with EPERM (this VM, for one, lacks SYS_RESOURCE).
/// Falls back to every capability the table knows when `/proc` cannot be read.
pub fn host_bounding_set() -> Capabilities {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let parsed = status
        .lines()
        .find_map(|line| line.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match parsed {
        Some(mask) => from_mask(mask),
        None => ALL.iter().map(|(_, c)| *c).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_mask_matches_docker() {
        assert_eq!(mask(DOCKER_DEFAULT), 0xa804_25fb);
    }

    #[test]
    fn mask_round_trips() {
        let caps = from_mask(0xa804_25fb);
        assert_eq!(caps.len(), DOCKER_DEFAULT.len());
        assert_eq!(mask(caps), 0xa804_25fb);
    }
}

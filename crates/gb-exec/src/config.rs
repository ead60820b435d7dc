//! Turning a [`ContainerSpec`] into runc's `config.json`, and listing the mount points that
//! runc will create in the rootfs.

use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use crate::caps;
use crate::error::ExecError;
use crate::spec::{ContainerMount, ContainerSpec, MountSource, Network};

/// Docker's `RLIMIT_NOFILE` for containers.
const DOCKER_NOFILE: u64 = 1_048_576;

/// The `PATH` Docker and BuildKit give a process whose environment has none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's masked paths (moby `oci/defaults.go`); runc skips the ones a kernel lacks.
const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The file systems the runtime mounts before the extra mounts; their destinations, bar the
/// ones inside `/dev`, are mount points in the rootfs.
const RUNTIME_MOUNT_ROOTS: [&str; 3] = ["/proc", "/dev", "/sys"];

/// What the host allows, read once by [`crate::Runtime::detect`]: a config asking for more makes
/// runc fail at start.
#[derive(Debug, Clone)]
pub(crate) struct HostLimits {
    /// The capabilities a privileged container gets: this process's bounding set.
    pub bounding: Capabilities,
    /// `RLIMIT_NOFILE` for the container: Docker's value, capped at this process's hard limit,
    /// since raising it needs CAP_SYS_RESOURCE (which this VM's root lacks).
    pub nofile: u64,
}

impl HostLimits {
    pub(crate) fn read() -> Self {
        let nofile = match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
            Ok((_, hard)) if hard != nix::sys::resource::RLIM_INFINITY => hard.min(DOCKER_NOFILE),
            _ => DOCKER_NOFILE,
        };
        Self { bounding: caps::host_bounding_set(), nofile }
    }
}

/// The process's resource limits: Docker's file limit unless the spec sets its own, then the
/// spec's, in order.
fn rlimits(spec: &ContainerSpec, host: &HostLimits) -> Result<Vec<PosixRlimit>, ExecError> {
    let mut limits = Vec::new();
    if !spec.rlimits.iter().any(|limit| limit.resource == "RLIMIT_NOFILE") {
        limits.push(
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(host.nofile)
                .soft(host.nofile)
                .build()?,
        );
    }
    for limit in &spec.rlimits {
        let typ = limit
            .resource
            .parse::<PosixRlimitType>()
            .map_err(|_| ExecError::InvalidSpec { message: format!("{:?} is not a resource limit", limit.resource) })?;
        limits.push(PosixRlimitBuilder::default().typ(typ).soft(limit.soft).hard(limit.hard).build()?);
    }
    Ok(limits)
}

/// The OCI config for `spec` under `host`'s limits.
pub(crate) fn build(spec: &ContainerSpec, host: &HostLimits) -> Result<Spec, ExecError> {
    if spec.args.is_empty() {
        return Err(ExecError::InvalidSpec { message: "args is empty: there is no program to run".to_owned() });
    }
    if !spec.cwd.starts_with('/') {
        return Err(ExecError::InvalidSpec { message: format!("cwd {:?} is not absolute", spec.cwd) });
    }
    if let Some(bad) = spec.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        return Err(ExecError::InvalidSpec { message: format!("env entry {bad:?} is not KEY=VALUE") });
    }
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.to_owned());
    }

    let capabilities: Capabilities =
        if spec.privileged { host.bounding.clone() } else { caps::DOCKER_DEFAULT.into_iter().collect() };
    // Docker leaves inheritable and ambient empty: a non-root process keeps no capability after exec.
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(capabilities.clone())
        .effective(capabilities.clone())
        .permitted(capabilities)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()?;
    let user =
        UserBuilder::default().uid(spec.uid).gid(spec.gid).additional_gids(spec.additional_gids.clone()).build()?;
    let rlimits = rlimits(spec, host)?;
    // Every field is set: the builders fill unset ones from oci-spec's `Default`, which is not
    // Docker's (it sets ambient capabilities, noNewPrivileges and a 1024 file limit).
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(spec.args.clone())
        .env(env)
        .cwd(spec.cwd.clone())
        .capabilities(capabilities)
        .rlimits(rlimits)
        .no_new_privileges(false)
        .build()?;

    let mut namespaces = vec![LinuxNamespaceType::Mount, LinuxNamespaceType::Pid, LinuxNamespaceType::Ipc];
    namespaces.push(LinuxNamespaceType::Uts);
    if spec.network != Network::Host {
        // runc configures loopback (and brings it up) for a new network namespace without a path.
        // A private network's namespace is made before runc runs, so that slirp4netns is attached
        // before the process starts: [`join_network`] sets its path then.
        namespaces.push(LinuxNamespaceType::Network);
    }
    let namespaces = namespaces
        .into_iter()
        .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
        .collect::<Result<Vec<_>, _>>()?;
    // Docker's device cgroup: deny everything, then runc appends its default devices (null,
    // zero, full, random, urandom, tty, ptmx, pts) to the allow list. Privileged allows all.
    let devices = vec![LinuxDeviceCgroupBuilder::default().allow(spec.privileged).access("rwm").build()?];
    let (masked, readonly): (Vec<String>, Vec<String>) = if spec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (MASKED_PATHS.map(str::to_owned).to_vec(), READONLY_PATHS.map(str::to_owned).to_vec())
    };
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(LinuxResourcesBuilder::default().devices(devices).build()?)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()?;

    let mut mounts = runtime_mounts(spec.privileged, spec.shm_size)?;
    for mount in sorted_mounts(spec)? {
        mounts.push(extra_mount(&mount)?);
    }

    let mut config = SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path(spec.rootfs.clone()).readonly(false).build()?)
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()?;
    // Unset rather than defaulted: oci-spec's default host name is "youki".
    config.set_hostname((!spec.hostname.is_empty()).then(|| spec.hostname.clone()));
    config.set_annotations(None);
    Ok(config)
}

/// Gives the process a terminal of `size` (`docker run -t`): runc makes it and sends its master
/// side over the console socket.
pub(crate) fn give_terminal(config: &mut Spec, size: crate::terminal::TerminalSize) {
    if let Some(process) = config.process_mut() {
        process.set_terminal(Some(true));
        let console = oci_spec::runtime::BoxBuilder::default()
            .height(u64::from(size.rows))
            .width(u64::from(size.cols))
            .build()
            .ok();
        process.set_console_size(console);
    }
}

/// Makes the container join the network namespace at `path` (`/proc/PID/ns/net`) instead of
/// getting a new one; a config without a network namespace (the host's network) is left alone.
pub(crate) fn join_network(config: &mut Spec, path: &std::path::Path) {
    let namespaces = config.linux_mut().as_mut().and_then(|linux| linux.namespaces_mut().as_mut());
    for namespace in namespaces.into_iter().flatten() {
        if namespace.typ() == LinuxNamespaceType::Network {
            namespace.set_path(Some(path.to_owned()));
        }
    }
}

/// The mount points runc creates in the rootfs for `spec`, parents before children: `/proc`,
/// `/dev`, `/sys`, and each extra mount's target with its parents, except the ones that lie
/// on another mount (inside `/dev`, or under an earlier extra mount), which never touch the
/// rootfs. A target that is a symlink in the rootfs is resolved by runc and not followed here.
pub fn mount_points(spec: &ContainerSpec) -> Vec<String> {
    let mut points: Vec<String> = RUNTIME_MOUNT_ROOTS.map(str::to_owned).to_vec();
    let mut mounted: Vec<String> = points.clone();
    // A spec that [`build`] rejects still gets an answer for the targets that make sense.
    let mut targets: Vec<String> = spec.mounts.iter().filter_map(|m| normalize_target(&m.target).ok()).collect();
    targets.sort_by_key(|t| depth(t));
    for target in targets {
        let mut path = String::new();
        for component in target.split('/').filter(|c| !c.is_empty()) {
            path.push('/');
            path.push_str(component);
            let on_a_mount = mounted.iter().any(|m| is_strictly_under(&path, m));
            if !on_a_mount && !points.contains(&path) {
                points.push(path.clone());
            }
        }
        mounted.push(target);
    }
    points
}

/// The runtime's own mounts, as Docker sets them up.
fn runtime_mounts(privileged: bool, shm_size: u64) -> Result<Vec<Mount>, ExecError> {
    let mount = |dest: &str, typ: &str, source: &str, options: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
            .build()
    };
    let sys_mode = if privileged { "rw" } else { "ro" };
    // tmpfs takes the size in bytes; Docker writes its default as `65536k`, the same.
    let shm_size = format!("size={shm_size}");
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"])?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        )?,
        mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", &shm_size])?,
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", sys_mode])?,
    ])
}

/// The extra mounts with normalized targets, parents first (as Docker sorts them), so that a
/// mount at `/a/b` is not hidden by a later one at `/a`.
fn sorted_mounts(spec: &ContainerSpec) -> Result<Vec<ContainerMount>, ExecError> {
    let mut mounts = spec
        .mounts
        .iter()
        .map(|m| Ok(ContainerMount { target: normalize_target(&m.target)?, source: m.source.clone() }))
        .collect::<Result<Vec<_>, ExecError>>()?;
    mounts.sort_by_key(|m| depth(&m.target));
    Ok(mounts)
}

fn extra_mount(mount: &ContainerMount) -> Result<Mount, ExecError> {
    let builder = MountBuilder::default().destination(mount.target.clone());
    let built = match &mount.source {
        MountSource::Bind { path, readonly } => {
            if !path.is_absolute() {
                return Err(ExecError::InvalidSpec {
                    message: format!("bind source {} for {} is not absolute", path.display(), mount.target),
                });
            }
            // runc remounts a bind with `ro` read-only; `rbind` keeps submounts (e.g. a snapshot's overlay).
            let mut options = vec!["rbind".to_owned()];
            options.push(if *readonly { "ro" } else { "rw" }.to_owned());
            builder.typ("bind").source(path.clone()).options(options).build()?
        }
        MountSource::Tmpfs { size } => {
            let mut options = vec!["nosuid".to_owned(), "nodev".to_owned()];
            options.extend(size.map(|s| format!("size={s}")));
            builder.typ("tmpfs").source("tmpfs").options(options).build()?
        }
    };
    Ok(built)
}

/// `target` made canonical: absolute, no `.`/`..`/empty components, not `/` itself.
fn normalize_target(target: &str) -> Result<String, ExecError> {
    if !target.starts_with('/') {
        return Err(ExecError::InvalidSpec { message: format!("mount target {target:?} is not absolute") });
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(ExecError::InvalidSpec { message: format!("mount target {target:?} is the root") });
    }
    Ok(format!("/{}", parts.join("/")))
}

fn depth(path: &str) -> usize {
    path.split('/').filter(|c| !c.is_empty()).count()
}

/// Whether `path` lies inside the mount at `mount` (but is not the mount point itself).
fn is_strictly_under(path: &str, mount: &str) -> bool {
    path.strip_prefix(mount).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostLimits {
        HostLimits { bounding: caps::from_mask(0x1ff_feff_ffff), nofile: 20_000 }
    }

    fn spec() -> ContainerSpec {
        ContainerSpec::new("/tmp/rootfs", vec!["/bin/true".to_owned()])
    }

    #[test]
    fn normalizes_targets() {
        assert_eq!(normalize_target("/a//b/./c/").ok().as_deref(), Some("/a/b/c"));
        assert_eq!(normalize_target("/a/../../b").ok().as_deref(), Some("/b"));
        assert!(normalize_target("a/b").is_err());
        assert!(normalize_target("/..").is_err());
    }

    #[test]
    fn mount_points_skip_paths_on_other_mounts() {
        let mut spec = spec();
        let tmpfs = MountSource::Tmpfs { size: None };
        let bind = MountSource::Bind { path: "/host".into(), readonly: true };
        spec.mounts = vec![
            ContainerMount { target: "/tmp/cache/x".to_owned(), source: bind.clone() },
            ContainerMount { target: "/tmp".to_owned(), source: tmpfs.clone() },
            ContainerMount { target: "/dev/fuse".to_owned(), source: bind.clone() },
            ContainerMount { target: "/run/secrets/a/".to_owned(), source: bind },
        ];
        assert_eq!(mount_points(&spec), ["/proc", "/dev", "/sys", "/tmp", "/run", "/run/secrets", "/run/secrets/a"]);
    }

    #[test]
    fn config_has_docker_defaults() -> Result<(), ExecError> {
        let config = build(&spec(), &host())?;
        let json = serde_json::to_value(&config).map_err(|e| ExecError::InvalidSpec { message: e.to_string() })?;
        assert_eq!(json["process"]["noNewPrivileges"], false);
        let mut with_terminal = build(&spec(), &host()).expect("config");
        give_terminal(&mut with_terminal, crate::terminal::TerminalSize { rows: 30, cols: 100 });
        let terminal = serde_json::to_value(&with_terminal).expect("json");
        assert_eq!(terminal["process"]["terminal"], true, "{terminal}");
        assert_eq!(terminal["process"]["consoleSize"], serde_json::json!({"height": 30, "width": 100}));
        assert_eq!(json["process"]["terminal"], false);
        assert_eq!(json["process"]["rlimits"][0]["hard"], 20_000);
        assert_eq!(json["process"]["capabilities"]["ambient"], serde_json::json!([]));
        assert_eq!(json["process"]["env"][0], DEFAULT_PATH);
        assert_eq!(json["root"]["readonly"], false);
        assert!(json.get("hostname").is_none());
        let namespaces: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["type"].as_str()).collect())
            .unwrap_or_default();
        // The default, private network gets a namespace, which a run then points at slirp's.
        assert_eq!(namespaces, ["mount", "pid", "ipc", "uts", "network"]);
        assert_eq!(json["linux"]["maskedPaths"].as_array().map(Vec::len), Some(MASKED_PATHS.len()));
        let effective =
            config.process().as_ref().and_then(|p| p.capabilities().clone()).and_then(|c| c.effective().clone());
        assert_eq!(effective.map(caps::mask), Some(0xa804_25fb));
        Ok(())
    }

    #[test]
    fn host_network_has_no_namespace_and_a_private_one_joins_a_path() -> Result<(), ExecError> {
        let mut host_spec = spec();
        host_spec.network = Network::Host;
        let mut config = build(&host_spec, &host())?;
        join_network(&mut config, std::path::Path::new("/proc/1/ns/net"));
        let namespaces = config.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
        assert!(namespaces.iter().all(|n| n.typ() != LinuxNamespaceType::Network && n.path().is_none()));

        let mut config = build(&spec(), &host())?;
        join_network(&mut config, std::path::Path::new("/proc/42/ns/net"));
        let namespaces = config.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
        let network = namespaces.iter().find(|n| n.typ() == LinuxNamespaceType::Network);
        assert_eq!(network.and_then(|n| n.path().clone()), Some("/proc/42/ns/net".into()));
        Ok(())
    }

    #[test]
    fn privileged_gets_the_host_bounding_set_and_no_masks() -> Result<(), ExecError> {
        let mut spec = spec();
        spec.privileged = true;
        spec.network = Network::Isolated;
        let config = build(&spec, &host())?;
        let linux = config.linux().clone().unwrap_or_default();
        assert_eq!(linux.masked_paths().as_deref(), Some(&[][..]));
        assert_eq!(linux.namespaces().as_ref().map(Vec::len), Some(5));
        let bounding =
            config.process().as_ref().and_then(|p| p.capabilities().clone()).and_then(|c| c.bounding().clone());
        assert_eq!(bounding.map(caps::mask), Some(0x1ff_feff_ffff));
        Ok(())
    }

    #[test]
    fn rejects_bad_specs() {
        let mut relative = spec();
        relative.cwd = "work".to_owned();
        assert!(matches!(build(&relative, &host()), Err(ExecError::InvalidSpec { .. })));
        let mut empty = spec();
        empty.args.clear();
        assert!(matches!(build(&empty, &host()), Err(ExecError::InvalidSpec { .. })));
    }
}

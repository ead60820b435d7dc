//! From a container's record to what the runtime runs: docker's ENTRYPOINT/CMD and environment
//! rules at create time, and at each start the user, working directory, volumes, network and
//! the `hosts`, `hostname` and `resolv.conf` files, resolved in the mounted root file system.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gb_exec::{ContainerMount, ContainerSpec, MountSource, Network};
use gb_store::StateRoot;

use crate::error::ContainerError;
use crate::record::{ContainerRecord, NetworkMode, VolumeSource};

/// The address slirp4netns gives the container on its own network (its DNS forwarder and
/// gateway are 10.0.2.3 and 10.0.2.2).
pub const PRIVATE_ADDRESS: &str = "10.0.2.100";

/// The container's ENTRYPOINT and CMD, as docker's `Config` shows them; it runs the two joined.
/// Docker's ENTRYPOINT/CMD rules: ENTRYPOINT + (the arguments if given, else CMD).
/// `--entrypoint X` replaces ENTRYPOINT with `[X]` and drops the image's CMD; `--entrypoint ""`
/// clears ENTRYPOINT and keeps CMD. Shell forms are stored as `["/bin/sh", "-c", "..."]`, so a
/// shell-form ENTRYPOINT gets CMD or the arguments appended as `$0 $1 ...`, which `sh -c` ignores.
/// Both empty is an error.
pub(crate) fn entrypoint_and_cmd(
    config: &serde_json::Value,
    entrypoint: Option<&str>,
    args: &[String],
) -> Result<(Vec<String>, Vec<String>), ContainerError> {
    let (entrypoint, image_cmd) = match entrypoint {
        None => (string_list(&config["Entrypoint"]).unwrap_or_default(), string_list(&config["Cmd"])),
        Some("") => (Vec::new(), string_list(&config["Cmd"])),
        Some(program) => (vec![program.to_owned()], None),
    };
    let cmd = if args.is_empty() { image_cmd.unwrap_or_default() } else { args.to_vec() };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(ContainerError::Input("no command specified".to_owned()));
    }
    Ok((entrypoint, cmd))
}

/// A JSON array of strings; `None` for null or anything else.
pub(crate) fn string_list(value: &serde_json::Value) -> Option<Vec<String>> {
    value.as_array().map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

/// The name part of a `K=V` entry (all of it when there is no `=`).
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// The container's environment as Docker makes it: the user's entries first, then the image's
/// entries they do not name, all over the defaults `PATH` and `HOSTNAME`. A user's entry
/// without `=` (a `-e K` the caller found unset) removes K, also from the image's entries.
pub(crate) fn container_env(image_env: &[String], user_env: &[String], hostname: &str) -> Vec<String> {
    let user_keys: BTreeSet<&str> = user_env.iter().map(|e| env_key(e)).collect();
    let merged = user_env.iter().chain(image_env.iter().filter(|e| !user_keys.contains(env_key(e))));
    let mut env = vec![format!("PATH={}", gb_ir::DEFAULT_PATH), format!("HOSTNAME={hostname}")];
    for entry in merged {
        let key = env_key(entry);
        let existing = env.iter().position(|e| env_key(e) == key);
        match (entry.contains('='), existing) {
            (true, Some(index)) => env[index] = entry.clone(),
            (true, None) => env.push(entry.clone()),
            (false, Some(index)) => {
                env.remove(index);
            }
            (false, None) => {}
        }
    }
    env
}

/// The runtime's spec for a run of `record` on the mounted `rootfs`, and the mount points the
/// runtime will create there (removed from the changes after the run).
pub(crate) fn container_spec(
    root: &StateRoot,
    record: &ContainerRecord,
    rootfs: &Path,
) -> Result<(ContainerSpec, Vec<PathBuf>), ContainerError> {
    let config = &record.config;
    let user = gb_ops::resolve_user(rootfs, &config.user)
        .map_err(|e| ContainerError::Input(format!("unable to find user {}: {e}", config.user)))?;
    let cwd = gb_ops::resolve_in_root(rootfs, &config.cwd, true)
        .map_err(|e| ContainerError::Input(format!("the working directory {}: {e}", config.cwd)))?;
    if !cwd.exists() {
        std::fs::create_dir_all(&cwd).map_err(ContainerError::io("creating the working directory", &cwd))?;
    }
    let mut env = config.env.clone();
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={}", user.home.clone().unwrap_or_else(|| "/".to_owned())));
    }
    let mut mounts = network_files(root, record)?;
    for volume in &config.volumes {
        let path = match &volume.source {
            VolumeSource::Bind(path) => path.clone(),
            VolumeSource::Volume(name) => named_volume(root, name)?,
        };
        mounts.push(ContainerMount {
            target: volume.target.clone(),
            source: MountSource::Bind { path, readonly: volume.readonly },
        });
    }
    let mut spec = ContainerSpec::new(rootfs, config.args.clone());
    spec.env = env;
    spec.cwd = config.cwd.clone();
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.additional_gids = user.additional_gids;
    spec.mounts = mounts;
    spec.network = match config.network {
        NetworkMode::Default => Network::Private,
        NetworkMode::Host => Network::Host,
        NetworkMode::None => Network::Isolated,
    };
    spec.hostname = config.hostname.clone();
    spec.published = config
        .ports
        .iter()
        .map(|p| {
            let host_port = match p.host_port {
                0 => free_port(&p.host_ip, &p.protocol)?,
                port => port,
            };
            Ok(p.published_on(host_port))
        })
        .collect::<Result<_, ContainerError>>()?;
    let rootfs_dir = gb_snapshot::ConfinedDir::open(rootfs)
        .map_err(ContainerError::snapshot("opening the container's root file system"))?;
    let resolved =
        gb_exec::mount_points(&spec).into_iter().filter_map(|p| gb_ops::resolve_in_root(rootfs, &p, true).ok());
    let created = gb_snapshot::created_mount_points(rootfs, &rootfs_dir, resolved)
        .map_err(ContainerError::snapshot("inspecting mount points"))?;
    Ok((spec, created))
}

/// A port of `address` free now for `protocol` (the system's ephemeral choice), for `-p PORT`
/// without a host port.
fn free_port(address: &str, protocol: &str) -> Result<u16, ContainerError> {
    let invalid = |e: std::net::AddrParseError| ContainerError::Input(format!("host address {address}: {e}"));
    let ip: std::net::IpAddr = address.parse().map_err(invalid)?;
    let chosen = if protocol == "udp" {
        std::net::UdpSocket::bind((ip, 0)).and_then(|socket| socket.local_addr())
    } else {
        std::net::TcpListener::bind((ip, 0)).and_then(|listener| listener.local_addr())
    };
    chosen
        .map(|bound| bound.port())
        .map_err(ContainerError::io("finding a free port on", std::path::Path::new(address)))
}

/// `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, written in the container's directory
/// and bind-mounted, as docker does: the host's resolvers on the host network, slirp's DNS
/// forwarder on the default one.
fn network_files(root: &StateRoot, record: &ContainerRecord) -> Result<Vec<ContainerMount>, ContainerError> {
    let dir = record.dir(root);
    let hostname = &record.config.hostname;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (hosts, resolv) = match record.config.network {
        NetworkMode::Host => (std::fs::read_to_string("/etc/hosts").unwrap_or_default(), host_resolv),
        NetworkMode::Default => (
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{PRIVATE_ADDRESS}\t{hostname}\n"),
            private_resolv_conf(&host_resolv),
        ),
        NetworkMode::None => (
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{hostname}\n"),
            String::new(),
        ),
    };
    let mut mounts = Vec::new();
    for (file, content) in [("hosts", hosts), ("hostname", format!("{hostname}\n")), ("resolv.conf", resolv)] {
        let path = dir.join(file);
        std::fs::write(&path, content).map_err(ContainerError::io("writing", &path))?;
        mounts.push(ContainerMount {
            target: format!("/etc/{file}"),
            source: MountSource::Bind { path, readonly: false },
        });
    }
    Ok(mounts)
}

/// A resolv.conf naming slirp's DNS forwarder, with the host's `search` and `options` lines.
fn private_resolv_conf(host: &str) -> String {
    let mut conf = format!("nameserver {}\n", gb_exec::PRIVATE_NETWORK_DNS);
    for line in host.lines().filter(|l| l.starts_with("search") || l.starts_with("options")) {
        conf.push_str(line);
        conf.push('\n');
    }
    conf
}

/// The data directory of named volume `name`, made on first use.
fn named_volume(root: &StateRoot, name: &str) -> Result<PathBuf, ContainerError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(ContainerError::Input(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
        )));
    }
    let path = root.volumes_dir().join(name).join("_data");
    std::fs::create_dir_all(&path).map_err(ContainerError::io("creating the volume", &path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn argv(config: serde_json::Value, entrypoint: Option<&str>, args: &[&str]) -> Option<Vec<String>> {
        let (mut argv, cmd) = entrypoint_and_cmd(&config, entrypoint, &strings(args)).ok()?;
        argv.extend(cmd);
        Some(argv)
    }

    #[test]
    fn commands_follow_dockers_entrypoint_and_cmd_rules() {
        let cmd = serde_json::json!({ "Cmd": ["echo", "a"] });
        assert_eq!(argv(cmd.clone(), None, &[]), Some(strings(&["echo", "a"])));
        assert_eq!(argv(cmd.clone(), None, &["ls"]), Some(strings(&["ls"])));
        let both = serde_json::json!({ "Entrypoint": ["echo", "e"], "Cmd": ["c"] });
        assert_eq!(argv(both.clone(), None, &[]), Some(strings(&["echo", "e", "c"])));
        assert_eq!(argv(both.clone(), None, &["x"]), Some(strings(&["echo", "e", "x"])));
        assert_eq!(argv(both.clone(), Some("ls"), &[]), Some(strings(&["ls"])));
        assert_eq!(argv(both.clone(), Some("ls"), &["-l"]), Some(strings(&["ls", "-l"])));
        assert_eq!(argv(both, Some(""), &[]), Some(strings(&["c"])));
        assert_eq!(argv(serde_json::json!({ "Cmd": null }), None, &[]), None);
        assert_eq!(argv(serde_json::Value::Null, None, &[]), None);
    }

    #[test]
    fn env_overrides_by_name_and_unset_names_drop() {
        let image = strings(&["PATH=/bin", "A=1", "B=2", "C=3"]);
        let user = strings(&["A=x", "NEW=y", "B", "C=host"]);
        let env = container_env(&image, &user, "abc");
        assert_eq!(env, strings(&["PATH=/bin", "HOSTNAME=abc", "A=x", "NEW=y", "C=host"]));
        let env = container_env(&[], &[], "abc");
        assert_eq!(env, [format!("PATH={}", gb_ir::DEFAULT_PATH), "HOSTNAME=abc".to_owned()]);
    }
}

//! How registries are reached: which ones are spoken to over plain HTTP, and where the Docker
//! config file with the credentials is.

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;

/// How a [`crate::Registry`] reaches registries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Registries (`host[:port]`, or `host` for any port) reached over plain HTTP instead of
    /// HTTPS. Loopback registries (`127.0.0.0/8`, `localhost`, `[::1]`) always are, as with
    /// Docker.
    pub insecure: Vec<String>,
    /// The directory of the Docker config file (`config.json`); `None` means `$DOCKER_CONFIG`,
    /// else `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
}

impl RegistryConfig {
    /// Whether `registry` (`host[:port]`) is reached over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = host_of(registry);
        is_loopback(host)
            || self.insecure.iter().any(|entry| {
                let entry = entry.trim_end_matches('/');
                let entry = entry.strip_prefix("http://").unwrap_or(entry);
                entry == registry || (!has_port(entry) && entry == host)
            })
    }
}

/// The Docker config directory: `explicit`, else `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub(crate) fn docker_config_dir(explicit: Option<&std::path::Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    std::env::var_os("DOCKER_CONFIG")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
}

/// The host part of `host[:port]` (`[::1]` for `[::1]:5000`).
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.find(']').map_or(registry, |end| &registry[..=end]);
    }
    registry.rsplit_once(':').map_or(registry, |(host, _)| host)
}

fn has_port(registry: &str) -> bool {
    host_of(registry).len() != registry.len()
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip == Ipv6Addr::LOCALHOST,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_always_plain_http() {
        let config = RegistryConfig::default();
        for registry in ["127.0.0.1:5000", "127.1.2.3", "localhost:5000", "localhost", "[::1]:5000", "[::1]"] {
            assert!(config.is_insecure(registry), "{registry}");
        }
        for registry in ["docker.io", "ghcr.io", "10.0.0.1:5000", "localhost.example.com", "128.0.0.1"] {
            assert!(!config.is_insecure(registry), "{registry}");
        }
    }

    #[test]
    fn listed_registries_are_plain_http() {
        let config = RegistryConfig {
            insecure: vec!["10.0.0.1:5000".into(), "registry.lan".into(), "http://build.lan:8080/".into()],
            docker_config_dir: None,
        };
        assert!(config.is_insecure("10.0.0.1:5000"));
        assert!(!config.is_insecure("10.0.0.1:5001"), "the port is part of the entry");
        assert!(config.is_insecure("registry.lan"));
        assert!(config.is_insecure("registry.lan:443"), "an entry without a port covers every port");
        assert!(config.is_insecure("build.lan:8080"));
        assert!(!config.is_insecure("docker.io"));
    }
}

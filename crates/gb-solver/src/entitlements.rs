//! Entitlements: privileges an exec op may ask for only when the build was granted them, as
//! BuildKit's `network.host` and `security.insecure`.
//!
//! The check is the solver's, not a front end's, so a Definition from any front end is held to
//! it, and it runs before any cache lookup, so a cached privileged step is refused as well.

use std::collections::{BTreeSet, HashSet};

use gb_ir::{Definition, ExecOp, NetworkMode, Op, OpDigest, SecurityMode};

use crate::error::SolveError;

/// A privilege a build must be granted before an op may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entitlement {
    /// `network.host`: the host's network namespace, asked for explicitly (`RUN --network=host`).
    NetworkHost,
    /// `security.insecure`: every capability, no masked paths, all devices
    /// (`RUN --security=insecure`).
    SecurityInsecure,
}

impl Entitlement {
    /// Every entitlement, in the order they are listed to users.
    pub const ALL: [Entitlement; 2] = [Entitlement::NetworkHost, Entitlement::SecurityInsecure];

    /// The name BuildKit and `docker buildx --allow` use.
    pub fn name(self) -> &'static str {
        match self {
            Entitlement::NetworkHost => "network.host",
            Entitlement::SecurityInsecure => "security.insecure",
        }
    }

    /// The entitlements `exec` needs.
    pub fn required_by(exec: &ExecOp) -> Vec<Entitlement> {
        let mut needed = Vec::new();
        if exec.network == NetworkMode::Host {
            needed.push(Entitlement::NetworkHost);
        }
        if exec.security == SecurityMode::Insecure {
            needed.push(Entitlement::SecurityInsecure);
        }
        needed
    }
}

impl std::fmt::Display for Entitlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no entitlement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entitlement {name:?} (network.host or security.insecure)")]
pub struct UnknownEntitlement {
    /// The name given.
    pub name: String,
}

impl std::str::FromStr for Entitlement {
    type Err = UnknownEntitlement;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Entitlement::ALL
            .into_iter()
            .find(|e| e.name() == text.trim())
            .ok_or_else(|| UnknownEntitlement { name: text.to_owned() })
    }
}

/// Refuses the first of `ops` (in `definition`'s order) that needs an entitlement `granted`
/// lacks.
pub(crate) fn check(
    definition: &Definition,
    ops: &[OpDigest],
    granted: &BTreeSet<Entitlement>,
) -> Result<(), SolveError> {
    let ops: HashSet<&OpDigest> = ops.iter().collect();
    for entry in definition.ops.iter().filter(|e| ops.contains(&e.digest)) {
        let Op::Exec(exec) = &entry.node.op else { continue };
        if let Some(missing) = Entitlement::required_by(exec).into_iter().find(|e| !granted.contains(e)) {
            let metadata = definition.metadata.get(&entry.digest);
            return Err(SolveError::NotEntitled {
                description: metadata.map_or_else(|| format!("op {}", entry.digest.short()), |m| m.description.clone()),
                location: metadata.and_then(|m| m.locations.first().cloned()),
                entitlement: missing,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for entitlement in Entitlement::ALL {
            assert_eq!(entitlement.name().parse::<Entitlement>(), Ok(entitlement));
        }
        assert!("network.none".parse::<Entitlement>().is_err());
        assert!("".parse::<Entitlement>().is_err());
    }

    fn exec(network: NetworkMode, security: SecurityMode) -> ExecOp {
        ExecOp {
            meta: gb_ir::ExecMeta {
                args: vec!["true".to_owned()],
                env: Vec::new(),
                cwd: None,
                user: None,
                config_from: None,
                proxy_env: Vec::new(),
                extra_hosts: Vec::new(),
                hostname: None,
                shm_size: None,
                ulimits: Vec::new(),
            },
            mounts: Vec::new(),
            network,
            security,
        }
    }

    #[test]
    fn a_definition_from_any_front_end_is_checked_with_its_source_location() {
        let mut definition = Definition::new();
        let plain = definition.add(gb_ir::OpNode {
            inputs: Vec::new(),
            op: Op::Exec(exec(NetworkMode::None, SecurityMode::Sandbox)),
            platform: None,
        });
        let host = definition.add(gb_ir::OpNode {
            inputs: vec![gb_ir::Input::of(plain)],
            op: Op::Exec(exec(NetworkMode::Host, SecurityMode::Sandbox)),
            platform: None,
        });
        let location = gb_ir::Location { file: "build.star".to_owned(), start_line: 7, end_line: 7 };
        definition.metadata.insert(
            host,
            gb_ir::OpMetadata {
                description: "fetch".to_owned(),
                instruction: None,
                locations: vec![location.clone()],
                ignore_cache: false,
            },
        );
        let ops = [plain, host];
        match check(&definition, &ops, &BTreeSet::new()) {
            Err(SolveError::NotEntitled { description, location: Some(at), entitlement }) => {
                assert_eq!((description.as_str(), at, entitlement), ("fetch", location, Entitlement::NetworkHost));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let granted = BTreeSet::from([Entitlement::NetworkHost]);
        assert!(check(&definition, &ops, &granted).is_ok());
        assert!(check(&definition, &[plain], &BTreeSet::new()).is_ok(), "an op that does not run is not checked");
    }

    #[test]
    fn only_host_network_and_insecure_need_one() {
        let mut exec = exec(NetworkMode::Default, SecurityMode::Sandbox);
        assert!(Entitlement::required_by(&exec).is_empty());
        exec.network = NetworkMode::None;
        assert!(Entitlement::required_by(&exec).is_empty());
        exec.network = NetworkMode::Host;
        exec.security = SecurityMode::Insecure;
        assert_eq!(Entitlement::required_by(&exec), [Entitlement::NetworkHost, Entitlement::SecurityInsecure]);
    }
}

//! Structural rules of the workspace, checked against `cargo metadata`: banned dependencies stay
//! banned over the whole transitive closure (not only direct edges), dependencies point down the
//! layer order `crates/README.md` lists, and the catalogue lists every member.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::repo_root;

/// The engine's crates: a front end reaches none of them, they reach no front end.
const ENGINE: [&str; 12] = [
    "gb-cache",
    "gb-snapshot",
    "gb-exec",
    "gb-ops",
    "gb-fetch",
    "gb-export",
    "gb-registry",
    "gb-remote-cache",
    "gb-store",
    "gb-solver",
    "gb-engine",
    "gb-events",
];
/// The front ends: they know the IR (and its helpers) and nothing of the engine.
const FRONT_ENDS: [&str; 1] = ["gb-dockerfile"];
/// Crates that own a terminal; only the binary may reach them.
const TERMINAL: [&str; 3] = ["clap", "indicatif", "console"];
/// The crate only tests may depend on.
const TEST_SUPPORT: &str = "gb-test-support";

/// The resolved dependency graph of the whole workspace, normal dependencies only (no dev or
/// build dependencies), by package name.
struct Graph {
    members: BTreeSet<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

/// The host's target triple, as `rustc -vV` names it.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc).arg("-vV").output().expect("rustc -vV runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

impl Graph {
    fn load() -> Self {
        // Only this host's dependencies: a fresh machine's cargo has downloaded only those (the
        // build needed no others), and `--offline` must not ask for the rest.
        let host = host_triple();
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--offline", "--locked", "--filter-platform", &host])
            .current_dir(repo_root())
            .output()
            .expect("cargo metadata runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let name_of: BTreeMap<&str, &str> = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|package| (package["id"].as_str().expect("id"), package["name"].as_str().expect("name")))
            .collect();
        let members = metadata["workspace_members"]
            .as_array()
            .expect("workspace_members")
            .iter()
            .map(|id| name_of[id.as_str().expect("member id")].to_owned())
            .collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().expect("resolve nodes") {
            let from = name_of[node["id"].as_str().expect("node id")].to_owned();
            for dep in node["deps"].as_array().expect("deps") {
                let to = name_of[dep["pkg"].as_str().expect("dep pkg")].to_owned();
                let normal = dep["dep_kinds"].as_array().expect("dep_kinds").iter().any(|kind| kind["kind"].is_null());
                if normal {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        Graph { members, edges }
    }

    fn direct(&self, package: &str) -> BTreeSet<String> {
        self.edges.get(package).cloned().unwrap_or_default()
    }

    /// Everything `package` reaches through normal dependencies, itself excluded.
    fn closure(&self, package: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![package.to_owned()];
        while let Some(next) = stack.pop() {
            for dep in self.direct(&next) {
                if seen.insert(dep.clone()) {
                    stack.push(dep);
                }
            }
        }
        seen
    }
}

/// The members in the order `crates/README.md` lists them (`- \`name\` ...` lines).
fn catalogue_order() -> Vec<String> {
    let catalogue = std::fs::read_to_string(repo_root().join("crates/README.md")).expect("crates/README.md");
    catalogue
        .lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn banned_dependencies_are_unreachable() {
    let graph = Graph::load();
    for package in &graph.members {
        let reach = graph.closure(package);
        let reaches = |name: &str| reach.contains(name);
        if package == "gb-ir" {
            for dep in &reach {
                assert!(!graph.members.contains(dep), "gb-ir is the bottom of the graph, but reaches {dep}");
            }
            for banned in ["tokio", "rocksdb", "rayon"] {
                assert!(!reaches(banned), "gb-ir does no IO or async, but reaches {banned}");
            }
        }
        if FRONT_ENDS.contains(&package.as_str()) {
            for banned in ENGINE {
                assert!(!reaches(banned), "front ends never reach the engine: {package} -> {banned}");
            }
        }
        if ENGINE.contains(&package.as_str()) {
            for banned in FRONT_ENDS {
                assert!(!reaches(banned), "the engine knows no front end: {package} -> {banned}");
            }
        }
        if package != "graphbuild" {
            for banned in TERMINAL {
                assert!(!reaches(banned), "only the graphbuild crate owns the terminal: {package} -> {banned}");
            }
        }
        if package != "gb-cache" {
            assert!(!graph.direct(package).contains("rocksdb"), "only gb-cache talks to RocksDB: {package}");
        }
        assert!(!reaches(TEST_SUPPORT), "{TEST_SUPPORT} is for tests only, but {package} depends on it");
    }
}

#[test]
fn dependencies_point_down_the_catalogue() {
    let graph = Graph::load();
    let order = catalogue_order();
    let position = |name: &str| order.iter().position(|listed| listed == name);
    for package in &graph.members {
        let here = position(package).unwrap_or_else(|| panic!("crates/README.md does not list {package}"));
        for dep in graph.direct(package).iter().filter(|dep| graph.members.contains(*dep)) {
            let there = position(dep).unwrap_or_else(|| panic!("crates/README.md does not list {dep}"));
            assert!(there < here, "{package} depends on {dep}, which crates/README.md lists below it");
        }
    }
}

#[test]
fn crate_catalogue_lists_every_member_once() {
    let graph = Graph::load();
    let order = catalogue_order();
    for package in &graph.members {
        let count = order.iter().filter(|listed| *listed == package).count();
        assert_eq!(count, 1, "crates/README.md lists `{package}` {count} times");
    }
    for listed in &order {
        assert!(graph.members.contains(listed), "crates/README.md lists `{listed}`, which is not a member");
    }
}

/// The `graphbuild` front door links no engine code: no RocksDB (nor the C++ runtime it needs), no solver,
/// which is what makes every command start in about a millisecond (`src/front_door.rs`).
#[test]
fn the_front_door_links_no_engine_code() {
    let front_door = std::fs::read(env!("CARGO_BIN_EXE_graphbuild")).expect("the front door binary");
    let engine = std::fs::read(env!("CARGO_BIN_EXE_graphbuild-engine")).expect("the engine binary");
    let (front_door_text, engine_text) = (String::from_utf8_lossy(&front_door), String::from_utf8_lossy(&engine));
    for marker in ["rocksdb", "gb_solver", "gb_cache", "gb_engine"] {
        assert!(engine_text.contains(marker), "the check is meaningful: the engine has {marker}");
        assert!(!front_door_text.contains(marker), "the front door links {marker}");
    }
    assert!(front_door.len() * 8 < engine.len(), "the front door is small: {} bytes", front_door.len());
}

//! Structural rules of the workspace, checked against `cargo metadata`: banned dependency edges
//! stay banned, and `crates/README.md` lists every member.

use std::collections::BTreeMap;
use std::process::Command;

use crate::repo_root;

/// Workspace member name → its normal (non-dev) dependency names.
fn dependency_graph() -> BTreeMap<String, Vec<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(repo_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let mut graph = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().expect("dep name").to_owned())
            .collect();
        graph.insert(name, deps);
    }
    graph
}

#[test]
fn banned_dependency_edges_do_not_exist() {
    let graph = dependency_graph();
    let engine = ["gb-solver", "gb-cache", "gb-snapshot", "gb-exec", "gb-ops", "gb-oci", "gb-export"];
    let terminal = ["clap", "indicatif", "console"];
    for (package, deps) in &graph {
        let has = |name: &str| deps.iter().any(|d| d == name);
        if package == "gb-ir" {
            for dep in deps {
                assert!(!dep.starts_with("gb-"), "gb-ir is the bottom of the graph, but depends on {dep}");
                assert!(
                    !["tokio", "rocksdb", "rayon"].contains(&dep.as_str()),
                    "gb-ir does no IO or async, but depends on {dep}"
                );
            }
        }
        if package.starts_with("gb-dockerfile") {
            for banned in engine {
                assert!(!has(banned), "front ends never depend on the engine: {package} -> {banned}");
            }
        }
        if engine.contains(&package.as_str()) {
            assert!(!has("gb-dockerfile"), "the engine knows no Dockerfile: {package} -> gb-dockerfile");
        }
        if package != "graphbuild" {
            for banned in terminal {
                assert!(!has(banned), "only the graphbuild crate owns the terminal: {package} -> {banned}");
            }
        }
        if package != "gb-cache" {
            assert!(!has("rocksdb"), "only gb-cache talks to RocksDB: {package}");
        }
    }
}

#[test]
fn crate_catalogue_lists_every_member() {
    let catalogue = std::fs::read_to_string(repo_root().join("crates/README.md")).expect("crates/README.md");
    for package in dependency_graph().keys() {
        assert!(catalogue.contains(&format!("`{package}`")), "crates/README.md has no line for `{package}`");
    }
}

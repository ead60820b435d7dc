//! Determinism: same input, same bytes; unrelated stages change nothing; a build arg changes
//! exactly the ops that use it and what follows them.

use std::collections::{BTreeMap, BTreeSet};

use gb_dockerfile::{LowerOptions, NoImages};
use gb_ir::OpDigest;

const DOCKERFILE: &str = r#"
FROM busybox AS unrelated
RUN echo unrelated

FROM busybox AS base
RUN echo base > /base
COPY base.txt /base.txt

FROM base AS app
RUN echo before-arg
ARG FLAVOR=plain
RUN echo after-arg $FLAVOR
RUN echo later
"#;

fn lower(text: &str, args: &[(&str, &str)], target: Option<&str>) -> gb_ir::Definition {
    let options = LowerOptions {
        dockerfile_name: "Dockerfile".to_owned(),
        target: target.map(str::to_owned),
        build_args: args.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
        target_platform: gb_ir::Platform::parse("linux/amd64"),
        build_platform: gb_ir::Platform::parse("linux/amd64"),
        ..LowerOptions::default()
    };
    gb_dockerfile::lower(text, &options, &NoImages).expect("lowers").definition
}

fn digests(definition: &gb_ir::Definition) -> BTreeSet<OpDigest> {
    definition.ops.iter().map(|e| e.digest).collect()
}

#[test]
fn same_input_same_bytes() {
    let first = lower(DOCKERFILE, &[], None).to_json();
    let second = lower(DOCKERFILE, &[], None).to_json();
    assert_eq!(first, second);
    let reparsed = gb_ir::Definition::from_json(&first).expect("valid");
    assert_eq!(reparsed.to_json(), first, "JSON round-trips bit-exactly");
}

#[test]
fn unused_stage_changes_no_digest() {
    let changed = DOCKERFILE.replace("echo unrelated", "echo something else entirely");
    assert_eq!(lower(DOCKERFILE, &[], None).to_json(), lower(&changed, &[], None).to_json());
}

#[test]
fn build_arg_changes_only_ops_that_use_it_and_later() {
    let plain = lower(DOCKERFILE, &[], None);
    let fancy = lower(DOCKERFILE, &[("FLAVOR", "fancy")], None);
    let (plain_set, fancy_set) = (digests(&plain), digests(&fancy));
    let unchanged: Vec<String> = plain
        .ops
        .iter()
        .filter(|e| fancy_set.contains(&e.digest))
        .map(|e| plain.metadata.get(&e.digest).map(|m| m.description.clone()).unwrap_or_default())
        .collect();
    let changed: Vec<String> = plain
        .ops
        .iter()
        .filter(|e| !fancy_set.contains(&e.digest))
        .map(|e| plain.metadata.get(&e.digest).map(|m| m.description.clone()).unwrap_or_default())
        .collect();
    assert!(unchanged.iter().any(|d| d.contains("echo before-arg")), "{unchanged:?}");
    assert!(unchanged.iter().any(|d| d.contains("COPY base.txt")), "{unchanged:?}");
    assert_eq!(changed.len(), 2, "only the two RUNs after the ARG change: {changed:?}");
    assert!(changed.iter().all(|d| d.contains("after-arg") || d.contains("later")), "{changed:?}");
    assert_eq!(plain_set.len(), fancy_set.len());
}

#[test]
fn build_arg_not_declared_changes_nothing() {
    assert_eq!(lower(DOCKERFILE, &[], None).ops, lower(DOCKERFILE, &[("OTHER", "x")], None).ops);
}

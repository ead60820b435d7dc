//! Inputs for the benchmarks: the real-world corpus and generated Dockerfiles.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every real-world Dockerfile of the test corpus, with its path.
pub fn real_world_corpus() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let root = repo_root().join("tests/data/real-world");
    for repo in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(repo.path()).into_iter().flatten().flatten() {
            if let Ok(text) = std::fs::read_to_string(file.path()) {
                files.push((file.path(), text));
            }
        }
    }
    files.sort();
    files
}

/// A Dockerfile of `stages` stages, each built on the previous one and copying from an
/// earlier one, with ARG, ENV, RUN, COPY and metadata instructions in each.
pub fn many_stages(stages: usize) -> String {
    let mut text = String::from("# syntax=docker/dockerfile:1\nARG BASE=busybox\n");
    for i in 0..stages {
        if i == 0 {
            text.push_str("FROM ${BASE} AS s0\n");
        } else {
            text.push_str(&format!("FROM s{} AS s{i}\n", i - 1));
        }
        text.push_str(&format!(
            "ARG V{i}=value-{i}\nENV STAGE_{i}=${{V{i}}} PATH=/opt/s{i}/bin:$PATH\nWORKDIR /work/s{i}\n\
             RUN --mount=type=cache,target=/cache/s{i} echo building {i} && \\\n    mkdir -p /opt/s{i}/bin > /dev/null\n\
             COPY --chown=1000:1000 src/s{i}/ /opt/s{i}/src/\nLABEL stage{i}=\"${{V{i}}}\"\n"
        ));
        if i >= 2 {
            text.push_str(&format!("COPY --from=s{} /opt/s{}/ /opt/copied-{i}/\n", i - 2, i - 2));
        }
    }
    text.push_str("CMD [\"/bin/sh\"]\n");
    text
}

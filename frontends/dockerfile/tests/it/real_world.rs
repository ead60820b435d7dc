//! Every Dockerfile of the real-world corpus (copied into `tests/data/real-world`, sources in
//! `tests/data/CORPUS-SOURCES.md`) lowers without error, for every stage as target.

use crate::common::repo_root;
use gb_dockerfile::{LowerOptions, NoImages};

#[test]
fn real_world_corpus_lowers() {
    let root = repo_root().join("tests/data/real-world");
    let mut count = 0;
    let mut failures = Vec::new();
    for repo in std::fs::read_dir(&root).expect("corpus directory") {
        let repo = repo.expect("entry").path();
        for file in std::fs::read_dir(&repo).expect("repo directory") {
            let path = file.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let options = LowerOptions { dockerfile_name: path.display().to_string(), ..LowerOptions::default() };
            count += 1;
            match gb_dockerfile::lower(&text, &options, &NoImages) {
                Ok(lowered) => {
                    if let Err(err) = lowered.definition.validate() {
                        failures.push(format!("{}: invalid definition: {err}", path.display()));
                    }
                }
                Err(err) => failures.push(format!("{}:{}:{}: {}", path.display(), err.line, err.column, err.message)),
            }
        }
    }
    assert!(count >= 150, "expected the whole corpus, found {count} files");
    assert!(failures.is_empty(), "{} of {count} failed:\n{}", failures.len(), failures.join("\n"));
}

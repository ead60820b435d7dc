//! A property test over mutated corpus files: whatever the bytes, parsing and lowering return
//! a result or an error, never a panic. The seed is fixed, so CI runs the same cases every
//! time; `PROPTEST_CASES` changes the count and `PROPTEST_RNG_SEED` the seed for a longer or
//! different run. Each test prints how many cases it executed.

use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};

use crate::common::repo_root;
use gb_dockerfile::{LowerOptions, NoImages};

fn corpus() -> &'static [String] {
    static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<String> {
    let mut files = Vec::new();
    let root = repo_root().join("tests/data");
    for dir in ["real-world", "buildkit-parser/testfiles", "buildkit-parser/testfiles-negative"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let file = if path.is_dir() { path.join("Dockerfile") } else { path };
            if let Ok(text) = std::fs::read_to_string(file) {
                files.push(text);
            }
        }
    }
    files.sort();
    files
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        text: String,
    },
    Duplicate {
        at: usize,
        len: usize,
    },
    /// Repeats the line around `at`, which builds stage chains (`FROM s AS s`) and doubling
    /// variables (`ARG A=${A}${A}`) out of lines the other mutations make.
    RepeatLine {
        at: usize,
        times: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragments = prop::sample::select(vec![
        "\\\n",
        "`",
        "$",
        "${",
        "}",
        "\"",
        "'",
        "<<EOF\n",
        "EOF\n",
        "<<-",
        "[",
        "]",
        "#",
        "\n",
        "\r\n",
        "--mount=",
        "=",
        ",",
        "FROM ",
        "ONBUILD ",
        "\u{feff}",
        "\t",
        " AS ",
        "--from=0 ",
        "${X:-",
        "${X#*}",
        "ARG ",
        "# escape=`\n",
        "\0",
        "é",
        "${A}${A}",
        "ARG A=${A}${A}${A}${A}\n",
        "ENV A=${A:-xxxxxxxx}${A}\n",
        "${A//?/${A}}",
        "COPY --from=",
        "--mount=type=bind,from=",
        "FROM 0 AS ",
        "FROM scratch AS s\n",
        "ONBUILD COPY --from=0 / /\n",
    ]);
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), fragments).prop_map(|(at, text)| Mutation::Insert { at, text: text.to_owned() }),
        (any::<usize>(), ".{0,12}").prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 0usize..200).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (any::<usize>(), 2usize..48).prop_map(|(at, times)| Mutation::RepeatLine { at, times }),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let position = |at: usize, len: usize| if len == 0 { 0 } else { at % (len + 1) };
    match mutation {
        Mutation::Delete { at, len } => {
            let start = position(*at, bytes.len());
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Insert { at, text } => {
            let start = position(*at, bytes.len());
            bytes.splice(start..start, text.bytes());
        }
        Mutation::Duplicate { at, len } => {
            let start = position(*at, bytes.len());
            let end = (start + len).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::RepeatLine { at, times } => {
            let at = position(*at, bytes.len());
            let start = bytes[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let end = bytes[at..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| at + i + 1);
            let mut line = bytes[start..end].to_vec();
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            let copies = line.repeat(*times);
            bytes.splice(end..end, copies);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The fixed configuration: `cases` unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> Config {
    let from_env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    Config {
        cases: from_env("PROPTEST_CASES").map_or(cases, |n| n as u32),
        rng_seed: RngSeed::Fixed(from_env("PROPTEST_RNG_SEED").unwrap_or(0x6764_6f63_6b65_7266)),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Parses and lowers; any outcome but a panic is fine.
fn parse_and_lower(text: &str) -> bool {
    let _ = gb_dockerfile::parser::parse(text).map(|ast| ast.dump());
    gb_dockerfile::lower(text, &LowerOptions::default(), &NoImages).is_ok()
}

#[test]
fn mutated_corpus_never_panics() {
    let files = corpus();
    assert!(!files.is_empty(), "the corpus is in tests/data");
    let (executions, lowered) = (Cell::new(0usize), Cell::new(0usize));
    let strategy = (any::<prop::sample::Index>(), prop::collection::vec(mutation(), 1..6));
    TestRunner::new(config(3000))
        .run(&strategy, |(index, mutations)| {
            executions.set(executions.get() + 1);
            let mut text = files[index.index(files.len())].clone();
            for m in &mutations {
                text = apply(&text, m);
            }
            if parse_and_lower(&text) {
                lowered.set(lowered.get() + 1);
            }
            Ok(())
        })
        .expect("no input panics");
    eprintln!("mutated corpus: {} executions, {} lowered without error", executions.get(), lowered.get());
}

#[test]
fn arbitrary_text_never_panics() {
    let executions = Cell::new(0usize);
    TestRunner::new(config(1000))
        .run(&"(?s).{0,400}", |text| {
            executions.set(executions.get() + 1);
            parse_and_lower(&text);
            Ok(())
        })
        .expect("no input panics");
    eprintln!("arbitrary text: {} executions", executions.get());
}

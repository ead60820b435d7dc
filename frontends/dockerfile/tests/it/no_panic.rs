//! A property test over mutated corpus files: whatever the bytes, parsing and lowering return
//! a result or an error, never a panic. `PROPTEST_CASES` raises the count for a longer run.

use proptest::prelude::*;

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
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Duplicate { at: usize, len: usize },
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
    ]);
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), fragments).prop_map(|(at, text)| Mutation::Insert { at, text: text.to_owned() }),
        (any::<usize>(), ".{0,12}").prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 0usize..200).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
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
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_never_panics(index in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let files = corpus();
        prop_assume!(!files.is_empty());
        let mut text = files[index.index(files.len())].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        let _ = gb_dockerfile::parser::parse(&text).map(|ast| ast.dump());
        let _ = gb_dockerfile::lower(&text, &LowerOptions::default(), &NoImages);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = gb_dockerfile::parser::parse(&text).map(|ast| ast.dump());
        let _ = gb_dockerfile::lower(&text, &LowerOptions::default(), &NoImages);
    }
}

//! Property test: no input makes the parser panic, and whatever it returns points inside
//! the source.

use std::sync::OnceLock;

use proptest::prelude::*;

use crate::parser::parse;

fn corpus() -> &'static [String] {
    static FILES: OnceLock<Vec<String>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/buildkit-parser/testfiles");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path().join("Dockerfile")).ok())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.push("FROM a\nRUN <<EOF cat <<-'X'\nbody\nEOF\n\tX\nCOPY <<A <<B /d\na\nA\n".into());
        files
    })
}

/// Fragments that exercise the parser's special cases when spliced into real files.
const SNIPPETS: &[&str] = &[
    "\\",
    "`",
    "\n",
    "\r\n",
    "\r",
    "\"",
    "'",
    "[",
    "]",
    "<<",
    "<<-",
    "EOF",
    "\nEOF\n",
    "#",
    " ",
    "\t",
    "=",
    "$",
    "${",
    "}",
    "--",
    "\u{feff}",
    "ONBUILD ",
    "RUN ",
    "COPY ",
    "ENV ",
    "HEALTHCHECK ",
    "\\\n",
    "`\n",
    "# escape=`\n",
    "# syntax=x\n",
    "\u{a0}",
    "é",
    "\0",
    "[\"a\", 1]",
    "[\"a\"]",
    "'EOF'",
    "\u{10ffff}",
    "\\u",
    "\u{85}",
];

fn check(source: &str) {
    match parse(source) {
        Ok(ast) => {
            let _ = ast.dump();
            for node in &ast.children {
                let loc = node.location;
                assert!(loc.start <= loc.end && source.get(loc.start..loc.end).is_some());
                assert!(1 <= loc.start_line && loc.start_line <= loc.end_line);
            }
        }
        Err(e) => {
            assert!(source.get(e.offset..e.offset + e.len).is_some());
            assert!(e.line >= 1 && e.column >= 1);
            assert!(e.len >= 1 || source.is_empty());
        }
    }
}

fn mutate(base: &str, edits: &[(usize, u8, usize)]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for &(at, op, which) in edits {
        let at = at % (chars.len() + 1);
        let snippet = SNIPPETS[which % SNIPPETS.len()];
        match op % 3 {
            0 => {
                let tail = chars.split_off(at);
                chars.extend(snippet.chars());
                chars.extend(tail);
            }
            1 => {
                let end = (at + which % 8).min(chars.len());
                chars.drain(at..end);
            }
            _ => {
                if at < chars.len() {
                    chars.splice(at..at + 1, snippet.chars());
                }
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn mutated_corpus_files_never_panic(
        file in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 1..12),
    ) {
        let files = corpus();
        prop_assume!(!files.is_empty());
        let base: &String = file.get(files);
        check(&mutate(base, &edits));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_dockerfile_alphabet_never_panics(
        source in "[A-Za-z0-9 \\\\`\"'\\[\\],<>#=:$\\{\\}\n\t\r-]{0,300}",
    ) {
        check(&source);
    }
}

#[test]
fn pathological_nesting_never_panics() {
    check(&("ONBUILD ".repeat(8000) + "RUN x"));
    check(&format!("RUN <<EOF {}{}\nEOF\n", "${a:-".repeat(10_000), "}".repeat(10_000)));
    check(&format!("CMD {}", "[".repeat(60_000)));
}

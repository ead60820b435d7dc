//! Runs BuildKit's parser golden files: every positive case must dump byte for byte as
//! `result`, every negative case must fail, and `testfile-line` must keep BuildKit's lines.

use std::fs;
use std::path::{Path, PathBuf};

use crate::parser::parse;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/buildkit-parser")
}

fn case_dirs(sub: &str) -> Vec<PathBuf> {
    let dir = corpus_dir().join(sub);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A line-by-line account of the first difference, enough to fix a mismatch quickly.
fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1);
        }
    }
    format!("line counts differ: expected {}, actual {}", expected.lines().count(), actual.lines().count())
}

#[test]
fn positive_cases_dump_like_buildkit() {
    let dirs = case_dirs("testfiles");
    assert_eq!(dirs.len(), 33, "corpus should have 33 positive cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let source = read(&dir.join("Dockerfile"));
        let expected = read(&dir.join("result")).replace("\r\n", "\n");
        match parse(&source) {
            Ok(ast) => {
                let actual = ast.dump();
                if actual != expected {
                    failures.push(format!("{name}: {}", first_difference(&expected, &actual)));
                }
            }
            Err(e) => failures.push(format!("{name}: unexpected error {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), dirs.len(), failures.join("\n"));
}

#[test]
fn negative_cases_fail() {
    let dirs = case_dirs("testfiles-negative");
    assert_eq!(dirs.len(), 4);
    for dir in &dirs {
        let source = read(&dir.join("Dockerfile"));
        assert!(parse(&source).is_err(), "{} should fail to parse", dir.display());
    }
}

#[test]
fn line_numbers_match_buildkit() {
    let source = read(&corpus_dir().join("testfile-line/Dockerfile"));
    let ast = parse(&source).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<(usize, usize)> =
        ast.children.iter().map(|n| (n.location.start_line, n.location.end_line)).collect();
    // BuildKit's TestParseIncludesLineNumbers: three instructions, the RUN spanning its
    // continuation and blank lines.
    assert_eq!(lines, vec![(5, 5), (11, 12), (17, 31)]);
}

#[test]
fn real_world_dockerfiles_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/real-world");
    let mut count = 0;
    let mut heredocs = 0;
    for repo in case_dirs_under(&root) {
        let mut files: Vec<PathBuf> = fs::read_dir(&repo)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let source = read(&file);
            let ast = parse(&source).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for node in &ast.children {
                heredocs += node.heredocs.len();
                // Every line consumed belongs to exactly one instruction, in order.
                assert!(node.location.start_line <= node.location.end_line);
            }
            count += 1;
        }
    }
    assert_eq!(count, 154, "real-world corpus size");
    assert!(heredocs > 0, "the real-world corpus uses heredocs");
}

fn case_dirs_under(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

//! `build --explain` over a table of edits (issue 12): each `tests/data/explain/NAME.case` is a
//! context, a sequence of edits and builds, and after each build the exact lines `--explain`
//! prints.
//!
//! # The case format
//!
//! A list of sections, run in order, in a fresh state root with busybox. A section starts with
//! a header line `=== KIND` or `=== KIND: ARGUMENT`; its body is the text up to the next
//! header, less the line break ending its last line. Lines before the first header are
//! comments.
//!
//! - `=== test: WHAT` (required): the edit the case is about.
//! - `=== file: PATH`: writes the body to the context's file (the `Dockerfile` too).
//! - `=== remove: PATH` / `=== touch: PATH`: removes the context's file / sets its modification
//!   time to a minute later (its content and mode are left as they are).
//! - `=== image: NAME`: builds the body as a Dockerfile, in an empty context of its own, and
//!   names the image `NAME` (a base image the case's Dockerfile starts `FROM`).
//! - `=== run: ARGS`: runs `graphbuild ARGS` (`prune`, say), which must succeed.
//! - `=== build` / `=== build: ARGS`: builds the context with `build --explain --progress quiet
//!   ARGS` (split at spaces); the body is exactly the lines it prints on standard error, each
//!   `sha256:` digest written `sha256:…`. An empty body: nothing ran, so nothing is explained.

use std::fmt::Write as _;
use std::path::Path;

use crate::case_file::{self, Section};
use crate::engine::{Env, assert_ok, write};
use crate::repo_root;

/// Every `sha256:` digest in `line` written `sha256:…`, so base image digests can be expected.
fn without_digests(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("sha256:") {
        let (before, digest) = rest.split_at(at + "sha256:".len());
        out.push_str(before);
        let hex = digest.chars().take_while(char::is_ascii_hexdigit).count();
        if hex == 64 {
            out.push('…');
        }
        rest = &digest[hex..];
    }
    out.push_str(rest);
    out
}

/// Runs one case; returns what went other than expected.
fn run_case(sections: &[Section]) -> Vec<String> {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    let mut problems = Vec::new();
    let mut builds = 0;
    for section in sections {
        match section.kind.as_str() {
            "test" => {}
            "file" => write(context.path(), &section.argument, &section.body),
            "remove" => std::fs::remove_file(context.path().join(&section.argument)).expect("remove a context file"),
            "touch" => later_mtime(&context.path().join(&section.argument)),
            "image" => {
                let base = tempfile::tempdir().expect("base context");
                write(base.path(), "Dockerfile", &section.body);
                let output = env
                    .cmd(&["build", "--progress", "quiet", "-t", &section.argument])
                    .arg(base.path())
                    .output()
                    .expect("build a base image");
                assert_ok(&output);
            }
            "run" => assert_ok(&env.cmd(&section.argument.split(' ').collect::<Vec<_>>()).output().expect("runs")),
            "build" => {
                builds += 1;
                let args: Vec<&str> = section.argument.split(' ').filter(|arg| !arg.is_empty()).collect();
                let output = env
                    .cmd(&["build", "--explain", "--progress", "quiet"])
                    .args(&args)
                    .arg(context.path())
                    .output()
                    .expect("build");
                if !output.status.success() {
                    problems.push(format!("build {builds} failed: {}", String::from_utf8_lossy(&output.stderr)));
                    break;
                }
                let printed: Vec<String> =
                    String::from_utf8_lossy(&output.stderr).lines().map(without_digests).collect();
                let expected: Vec<&str> = section.body.lines().collect();
                if printed != expected {
                    problems.push(format!(
                        "build {builds} ({}) explained:\n    {}\n  expected:\n    {}",
                        section.argument,
                        printed.join("\n    "),
                        expected.join("\n    ")
                    ));
                }
                problems.extend(live_reasons_differ(&env, &printed).map(|e| format!("build {builds}: {e}")));
            }
            other => problems.push(format!("unknown section `=== {other}`")),
        }
    }
    problems
}

/// Whether the reasons the build gave each step as it started (its `op_started` events, which
/// its record keeps) differ from those it printed after the build (`#N ...: REASON`).
fn live_reasons_differ(env: &Env, printed: &[String]) -> Option<String> {
    let shown = env.cmd(&["builds", "show", "latest", "--format", "json"]).output().expect("builds show");
    assert_ok(&shown);
    let record: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("a record");
    let live: Vec<String> = record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
        .filter_map(|(i, step)| Some(format!("#{} {}", i + 1, without_digests(step["reason"].as_str()?))))
        .collect();
    let after: Vec<String> = printed
        .iter()
        .filter(|line| line.starts_with('#'))
        .filter_map(|line| {
            let (step, _) = line.split_once(' ')?;
            let (_, reason) = line.rsplit_once("): ")?;
            Some(format!("{step} {reason}"))
        })
        .collect();
    (live != after).then(|| format!("reasons as steps started {live:?}, after the build {after:?}"))
}

/// Moves a file's modification time a minute on, leaving all else.
fn later_mtime(path: &Path) {
    let file = std::fs::File::options().write(true).open(path).expect("open a context file");
    let modified = file.metadata().and_then(|m| m.modified()).expect("mtime");
    file.set_modified(modified + std::time::Duration::from_secs(60)).expect("set mtime");
}

/// Every case of `tests/data/explain` (or those whose name contains `EXPLAIN_CASE`).
#[test]
fn explain_names_why_each_step_ran_for_every_kind_of_edit() {
    let dir = repo_root().join("crates/graphbuild/tests/data/explain");
    let paths = case_file::case_paths(&dir, "EXPLAIN_CASE");
    assert!(std::env::var_os("EXPLAIN_CASE").is_some() || paths.len() >= 10, "the table has {} cases", paths.len());
    let mut report = String::new();
    for path in &paths {
        let name = path.file_stem().expect("a case name").to_string_lossy().into_owned();
        let sections = case_file::sections(&std::fs::read_to_string(path).expect("case file"));
        if !sections.iter().any(|s| s.kind == "test") || !sections.iter().any(|s| s.kind == "build") {
            let _ = writeln!(report, "{name}: a case needs `=== test:` and a `=== build`");
            continue;
        }
        let problems = run_case(&sections);
        if !problems.is_empty() {
            let _ = writeln!(report, "{name}:\n  {}", problems.join("\n  "));
        }
    }
    eprintln!("explain cases: {} run", paths.len());
    assert!(report.is_empty(), "explain cases that failed:\n{report}");
}

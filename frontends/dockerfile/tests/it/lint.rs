//! Data-driven build-check tests: each `tests/data/lint/*.lint` case (most ported from
//! BuildKit's `dockerfile_check_test.go`) holds a Dockerfile, its build args and
//! `.dockerignore`, and the findings a build and `check` report, as `Rule:line: message` lines.
//!
//! A case is `# key: value` header lines (`from`, `args`, `target`, notes), then sections
//! started by `=== NAME` lines: `Dockerfile` and `.dockerignore` (verbatim text), `build` (the
//! findings of lowering the target, as BuildKit's build reports them), `check` (those of
//! `check`, which lints every stage as BuildKit's lint request; the same as `build` when
//! absent) and `error` (the message either fails with, a check's `error=true` violation
//! included). Findings are compared sorted by line and message, as BuildKit's tests sort them.

use std::collections::BTreeMap;
use std::path::Path;

use gb_dockerfile::{ImageResolver, LowerOptions, ResolveError, ResolvedImage, Warning};
use gb_ir::{EnvVar, ImageConfig, ImageReference, Platform};

/// A stand-in image store holding the images BuildKit's check tests build on, so their
/// environment (PATH) is known as BuildKit knows it.
struct CheckImages;

impl ImageResolver for CheckImages {
    fn resolve(&self, reference: &ImageReference, _: &Platform) -> Result<Option<ResolvedImage>, ResolveError> {
        match reference.to_string().as_str() {
            "docker.io/library/alpine:latest" | "docker.io/library/busybox:latest" => Ok(Some(ResolvedImage {
                manifest: Some(gb_ir::Sha256Digest::of(reference.to_string().as_bytes())),
                config: ImageConfig {
                    env: vec![EnvVar::new("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")],
                    ..ImageConfig::default()
                },
                platform: None,
            })),
            _ => Ok(None),
        }
    }
}

/// One test case, read from its file.
struct Case {
    options: LowerOptions,
    dockerfile: String,
    build: Vec<String>,
    check: Option<Vec<String>>,
    error: Option<String>,
}

fn parse_case(text: &str) -> Case {
    let mut options = LowerOptions {
        dockerfile_name: "Dockerfile".to_owned(),
        target_platform: Platform::parse("linux/amd64"),
        build_platform: Platform::parse("linux/amd64"),
        ..LowerOptions::default()
    };
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("=== ") {
            current = Some(name.trim_end().to_owned());
            sections.entry(name.trim_end().to_owned()).or_default();
            continue;
        }
        match &current {
            Some(name) => sections.entry(name.clone()).or_default().push_str(line),
            None => read_header(line, &mut options),
        }
    }
    if let Some(ignore) = sections.get(".dockerignore") {
        options.context_excludes = gb_patterns::parse_dockerignore(ignore).expect("valid .dockerignore");
    }
    let findings = |name: &str| {
        sections.get(name).map(|text| {
            let mut lines: Vec<String> = text.lines().filter(|line| !line.is_empty()).map(str::to_owned).collect();
            lines.sort_by_key(|line| sort_key(line));
            lines
        })
    };
    Case {
        dockerfile: sections.get("Dockerfile").cloned().expect("a Dockerfile section"),
        build: findings("build").expect("a build section"),
        check: findings("check"),
        error: sections.get("error").map(|text| text.trim_end().to_owned()),
        options,
    }
}

/// Reads a `# key: value` header line: `args` (`K=V ...`) and `target`; others are notes.
fn read_header(line: &str, options: &mut LowerOptions) {
    let Some((key, value)) = line.trim_start_matches('#').trim().split_once(": ") else { return };
    match key {
        "args" => {
            options.build_args = value
                .split_whitespace()
                .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect();
        }
        "target" => options.target = Some(value.to_owned()),
        _ => {}
    }
}

/// Orders `Rule:line: message` lines by line, then message.
fn sort_key(line: &str) -> (usize, String) {
    let mut parts = line.splitn(3, ':');
    let _rule = parts.next();
    let number = parts.next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    (number, parts.next().unwrap_or_default().to_owned())
}

/// The rules' findings as `Rule:line: message`, sorted.
fn findings(warnings: &[Warning]) -> Vec<String> {
    let mut lines: Vec<String> = warnings
        .iter()
        .filter_map(|warning| {
            let rule = warning.rule?;
            Some(format!("{}:{}: {}", rule.name(), warning.line.unwrap_or(0), warning.message))
        })
        .collect();
    lines.sort_by_key(|line| sort_key(line));
    lines
}

/// What a case got wrong, if anything.
fn run_case(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let text = case.dockerfile.as_str();
    let (build_warnings, build_error) = match gb_dockerfile::lower(text, &case.options, &CheckImages) {
        Ok(lowered) => {
            let violation = lowered.check.violation(text, &lowered.warnings).map(|err| err.message);
            (Some(findings(&lowered.warnings)), violation)
        }
        // A build that fails shows no findings here (`check_report` has them).
        Err(err) => (None, Some(err.message)),
    };
    if let Some(actual) = build_warnings
        && actual != case.build
    {
        problems.push(format!("build reported:\n{}\nexpected:\n{}", actual.join("\n"), case.build.join("\n")));
    }
    if build_error != case.error {
        problems.push(format!("build error: {build_error:?}, expected {:?}", case.error));
    }
    let report = gb_dockerfile::check_report(text, &case.options, &CheckImages);
    let check_error = report
        .error
        .as_ref()
        .map(|err| err.message.clone())
        .or_else(|| report.check.violation(text, &report.warnings).map(|err| err.message));
    let expected = case.check.as_ref().unwrap_or(&case.build);
    let actual = findings(&report.warnings);
    if actual != *expected {
        problems.push(format!("check reported:\n{}\nexpected:\n{}", actual.join("\n"), expected.join("\n")));
    }
    if check_error != case.error {
        problems.push(format!("check error: {check_error:?}, expected {:?}", case.error));
    }
    problems
}

#[test]
fn checks_report_what_buildkit_reports() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lint");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("the lint cases")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "lint"))
        .collect();
    paths.sort();
    assert!(paths.len() > 80, "only {} cases", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        let case = parse_case(&std::fs::read_to_string(path).expect("a readable case"));
        let problems = run_case(&case);
        if !problems.is_empty() {
            let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
            failures.push(format!("{name}:\n{}", problems.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), paths.len(), failures.join("\n\n"));
}

#[test]
fn every_rule_reported_carries_buildkit_name_description_and_link() {
    let text = "FROM scratch as base\nMAINTAINER me\n";
    let lowered = gb_dockerfile::lower(text, &LowerOptions::default(), &CheckImages).expect("lowers");
    let rules: Vec<_> = lowered.warnings.iter().filter_map(|warning| warning.rule).collect();
    assert_eq!(rules, vec![gb_dockerfile::CheckRule::FromAsCasing, gb_dockerfile::CheckRule::MaintainerDeprecated]);
    assert_eq!(rules[0].description(), "The 'as' keyword should match the case of the 'from' keyword");
    assert_eq!(rules[0].url(), Some("https://docs.docker.com/go/dockerfile/rule/from-as-casing/"));
}

#[test]
fn the_check_build_arg_is_not_an_unused_build_arg() {
    let options = LowerOptions {
        build_args: [("BUILDKIT_DOCKERFILE_CHECK".to_owned(), "skip=all".to_owned())].into_iter().collect(),
        ..LowerOptions::default()
    };
    let lowered = gb_dockerfile::lower("FROM scratch as base\n", &options, &CheckImages).expect("lowers");
    assert!(lowered.warnings.is_empty(), "{:?}", lowered.warnings);
    assert!(lowered.check.skip_all);
}

#[test]
fn a_repeated_stage_name_means_its_last_stage_so_far() {
    // BuildKit warns (DuplicateStageName) and builds: FROM sees the stages above it, `--from`
    // and the target see every stage, and the last one with the name wins.
    let text = "FROM busybox AS b\nRUN echo first\nFROM b AS c\nRUN echo from-first\n\
                FROM busybox AS b\nRUN echo second\nFROM c\nCOPY --from=b /x /x\n";
    let lowered = gb_dockerfile::lower(text, &LowerOptions::default(), &CheckImages).expect("lowers");
    let descriptions: Vec<&str> = lowered.definition.metadata.values().map(|m| m.description.as_str()).collect();
    for step in ["[b 2/2] RUN echo first", "[c 2/2] RUN echo from-first", "[b 2/2] RUN echo second"] {
        assert!(descriptions.contains(&step), "{step} in {descriptions:?}");
    }
    let target = gb_dockerfile::LowerOptions { target: Some("b".to_owned()), ..LowerOptions::default() };
    let lowered = gb_dockerfile::lower(text, &target, &CheckImages).expect("lowers");
    let descriptions: Vec<&str> = lowered.definition.metadata.values().map(|m| m.description.as_str()).collect();
    assert!(descriptions.contains(&"[b 2/2] RUN echo second"), "{descriptions:?}");
    assert!(!descriptions.contains(&"[b 2/2] RUN echo first"), "{descriptions:?}");
}

//! BuildKit's build checks from the command line: `build --check` (as `docker build --check`
//! prints them), the warnings of a normal build, and `# check=error=true` failing a build.

use crate::engine::{Env, assert_ok, write};

/// buildx's own check test Dockerfile (`tests/build.go`): two rules report.
const TWO_FINDINGS: &str = "\nfrOM busybox as base\ncOpy Dockerfile .\n";

#[test]
fn check_prints_the_findings_and_builds_nothing() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", TWO_FINDINGS);
    let images = || env.cmd(&["images", "-q"]).output().expect("images").stdout;
    let before = images();
    let output = env.cmd(&["build", "--check"]).arg(context.path()).output().expect("check");
    assert_eq!(output.status.code(), Some(1), "findings fail the check: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("Check complete, 2 warnings have been found!\n"), "{stdout}");
    let file = context.path().join("Dockerfile");
    let expected = format!(
        "\nWARNING: ConsistentInstructionCasing - https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/\n\
         Command 'frOM' should match the case of the command majority (uppercase)\n\
         {}:2\n\
         --------------------\n\
         \x20  1 |     \n\
         \x20  2 | >>> frOM busybox as base\n\
         \x20  3 |     cOpy Dockerfile .\n\
         \x20  4 |     \n\
         --------------------\n",
        file.display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(stdout.contains("Command 'cOpy' should match the case of the command majority (uppercase)\n"), "{stdout}");
    assert_eq!(images(), before, "a check builds nothing");

    let clean = tempfile::tempdir().expect("context");
    write(clean.path(), "Dockerfile", "FROM busybox AS base\nCOPY Dockerfile .\n");
    let output = env.cmd(&["build", "--check"]).arg(clean.path()).output().expect("check");
    assert_ok(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Check complete, no warnings found.\n");
}

#[test]
fn a_build_warns_with_the_line_and_fails_only_with_error_true() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", TWO_FINDINGS);
    let output = env.cmd(&["build", "--progress", "plain"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = context.path().join("Dockerfile");
    assert!(
        stderr.contains(&format!(
            "warning: {}:2: ConsistentInstructionCasing: Command 'frOM' should match the case of the command majority (uppercase)",
            file.display()
        )),
        "{stderr}"
    );

    // Step names upper-case the keyword, as BuildKit's `uppercaseCmd` does.
    assert!(stderr.contains("[base 2/2] COPY Dockerfile ."), "{stderr}");

    write(context.path(), "Dockerfile", &format!("# check=error=true{TWO_FINDINGS}"));
    let failed = env.cmd(&["build", "--progress", "plain"]).arg(context.path()).output().expect("build");
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("lint violation found for rules: "), "{stderr}");
    assert!(!stderr.contains("#1 "), "nothing ran: {stderr}");

    // Skipping the rules (or passing BuildKit's build arg) lets it build again.
    write(context.path(), "Dockerfile", &format!("# check=error=true;skip=ConsistentInstructionCasing{TWO_FINDINGS}"));
    assert_ok(&env.cmd(&["build", "--progress", "plain"]).arg(context.path()).output().expect("build"));
    write(context.path(), "Dockerfile", &format!("# check=error=true{TWO_FINDINGS}"));
    let overridden = env
        .cmd(&["build", "--progress", "plain", "--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=all"])
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&overridden);
}

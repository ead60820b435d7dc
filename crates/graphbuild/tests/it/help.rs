//! The help a newcomer reads first: `graphbuild --help` opens with a sentence for users, and
//! `build --help` names every output type `-o` takes.

use crate::graphbuild;

fn stdout_of(args: &[&str]) -> String {
    let output = graphbuild().args(args).output().expect("graphbuild runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_opens_with_a_sentence_for_users() {
    let help = stdout_of(&["--help"]);
    let first = help.lines().next().expect("a first line");
    assert!(first.starts_with("Build container images from Dockerfiles"), "{first}");
    assert!(!help.contains("wires the front end"), "the crate's internal description leaked: {help}");
}

#[test]
fn build_help_lists_every_output_type() {
    let help = stdout_of(&["build", "--help"]);
    for output_type in ["type=image", "type=oci", "type=docker", "type=local", "type=tar"] {
        assert!(help.contains(output_type), "build --help does not mention {output_type}: {help}");
    }
}

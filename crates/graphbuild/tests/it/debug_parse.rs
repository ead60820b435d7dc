//! `graphbuild debug parse --dump buildkit` reproduces BuildKit's golden parser dumps byte for
//! byte and rejects BuildKit's negative cases.

use crate::{graphbuild, repo_root};

#[test]
fn every_buildkit_golden_case_dumps_identically() {
    let root = repo_root().join("tests/data/buildkit-parser/testfiles");
    let mut cases = 0;
    for entry in std::fs::read_dir(&root).expect("golden cases") {
        let case = entry.expect("entry").path();
        let expected = std::fs::read_to_string(case.join("result")).expect("result file");
        let output = graphbuild()
            .args(["debug", "parse", "--dump", "buildkit"])
            .arg(case.join("Dockerfile"))
            .output()
            .expect("runs");
        assert!(output.status.success(), "{}: {}", case.display(), String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected, "{}", case.display());
        cases += 1;
    }
    assert_eq!(cases, 33, "the corpus has 33 positive cases");
}

#[test]
fn every_buildkit_negative_case_is_rejected() {
    let root = repo_root().join("tests/data/buildkit-parser/testfiles-negative");
    for entry in std::fs::read_dir(&root).expect("negative cases") {
        let case = entry.expect("entry").path();
        let output = graphbuild()
            .args(["debug", "parse", "--dump", "buildkit"])
            .arg(case.join("Dockerfile"))
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1), "{} must be rejected", case.display());
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: "), "{}", case.display());
    }
}

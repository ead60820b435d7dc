//! Data-driven lowering tests: each `tests/data/lower/*.Dockerfile` lowers to the snapshot
//! beside it (`cargo insta review` updates them).

use crate::common::{TestImages, options_from_header, summary};

#[test]
fn lowering_matches_snapshots() {
    insta::glob!("../data/lower", "*.Dockerfile", |path| {
        let text = std::fs::read_to_string(path).expect("readable test case");
        let (options, local_images) = options_from_header(&text);
        let result = if local_images {
            gb_dockerfile::lower(&text, &options, &TestImages)
        } else {
            gb_dockerfile::lower(&text, &options, &gb_dockerfile::NoImages)
        };
        let rendered = match result {
            Ok(lowered) => {
                lowered.definition.validate().expect("a lowered definition is valid");
                let warnings: Vec<String> =
                    lowered.warnings.iter().map(|w| format!("warning (line {:?}): {}", w.line, w.message)).collect();
                format!(
                    "stages: {}\n{}{}",
                    lowered.stages.join(", "),
                    summary(&lowered.definition),
                    warnings.join("\n")
                )
            }
            Err(err) => format!("error at {}:{}: {}", err.line, err.column, err.message),
        };
        insta::assert_snapshot!(rendered);
    });
}

//! Data-driven error tests: each `tests/data/errors/*.Dockerfile` fails with the message and
//! position in its snapshot, and never panics.

use crate::common::options_from_header;

#[test]
fn errors_match_snapshots() {
    insta::glob!("../data/errors", "*.Dockerfile", |path| {
        let text = std::fs::read_to_string(path).expect("readable test case");
        let (options, _) = options_from_header(&text);
        let rendered = match gb_dockerfile::lower(&text, &options, &gb_dockerfile::NoImages) {
            Ok(_) => "unexpectedly lowered without error".to_owned(),
            Err(err) => {
                let help = err.help.as_ref().map(|h| format!("\nhelp: {h}")).unwrap_or_default();
                let span =
                    err.span.map(|s| format!(" [bytes {}..{}]", s.offset(), s.offset() + s.len())).unwrap_or_default();
                format!("{:?} error at line {}, column {}{span}: {}{help}", err.kind, err.line, err.column, err.message)
            }
        };
        assert!(!rendered.starts_with("unexpectedly"), "{} should fail to lower", path.display());
        insta::assert_snapshot!(rendered);
    });
}

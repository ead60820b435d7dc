//! BuildKit parser details not covered by the golden files: directives, BOM and CRLF,
//! comments, warnings, locations and unusual instructions.

use crate::parser::{Location, parse};

fn dump(source: &str) -> String {
    parse(source).map_or_else(|e| format!("error: {e}"), |ast| ast.dump())
}

#[test]
fn directives_are_read_only_at_the_top() {
    let ast = parse("# syntax=docker/dockerfile:1.7\n#CHECK = skip=all\n# escape=`\nFROM a `\n  b\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ast.directives.syntax.as_deref(), Some("docker/dockerfile:1.7"));
    assert_eq!(ast.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(ast.directives.escape, '`');
    assert_eq!(ast.dump(), "(from \"a\" \"b\")\n");
    // After a blank line, an instruction or another comment, they are plain comments.
    for source in ["\n# escape=`\nFROM a `\n", "# hello\n# escape=`\nFROM a `\n", "FROM a\n# escape=`\nRUN b `\n"] {
        let ast = parse(source).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ast.directives.escape, '\\', "{source:?}");
    }
}

#[test]
fn bom_and_crlf() {
    let source = "\u{feff}# escape=`\r\nFROM a\r\nRUN b `\r\n  c\r\n";
    let ast = parse(source).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ast.directives.escape, '`');
    assert_eq!(ast.dump(), "(from \"a\")\n(run \"b   c\")\n");
    let run = &ast.children[1];
    assert_eq!(run.location, Location { start_line: 3, end_line: 4, start: 23, end: 35 });
    assert_eq!(&source[run.location.start..run.location.end], "RUN b `\r\n  c");
    assert_eq!(run.original, "RUN b   c");
}

#[test]
fn comments_attach_to_the_next_instruction() {
    let ast = parse("# syntax=x\n# first\n#\n# second\n  # third\nFROM a\nRUN b \\\n# inside\n c\n")
        .unwrap_or_else(|e| panic!("{e}"));
    // The directive is not a comment, an empty `#` starts a new block, and BuildKit keeps
    // the `#` of an indented comment (it drops the first byte, not the indentation).
    assert_eq!(ast.children[0].prev_comment, ["second", "# third"]);
    assert!(ast.children[1].prev_comment.is_empty());
    assert_eq!(ast.children[1].args, ["b  c"]);
}

#[test]
fn empty_continuation_lines_warn() {
    // BuildKit's TestParseWarnsOnEmptyContinutationLine.
    let source = "
FROM alpine:3.6

RUN valid \\
    continuation

RUN something \\

    following \\

    more

RUN another \\

    thing

RUN non-indented \\
# this is a comment
   after-comment

RUN indented \\
    # this is an indented comment
    comment
\t";
    let ast = parse(source).unwrap_or_else(|e| panic!("{e}"));
    let messages: Vec<&str> = ast.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Empty continuation line found in: RUN something     following     more",
            "Empty continuation line found in: RUN another     thing",
        ]
    );
    let lines: Vec<(usize, usize)> =
        ast.warnings.iter().map(|w| (w.location.start_line, w.location.end_line)).collect();
    assert_eq!(lines, [(7, 11), (13, 15)]);
}

#[test]
fn continuation_at_eof_and_escaped_backslash() {
    assert_eq!(dump("FROM a\nRUN x \\"), "(from \"a\")\n(run \"x\")\n");
    assert_eq!(dump("FROM a\nRUN x \\\n\n# c\n"), "(from \"a\")\n(run \"x\")\n");
    assert_eq!(dump("ENV A b\\\\\nENV C d"), "(env \"A\" \"b\\\\\\\\\" \"\")\n(env \"C\" \"d\" \"\")\n");
}

#[test]
fn unknown_and_odd_instructions() {
    // BuildKit's parser accepts any word and drops its arguments.
    assert_eq!(dump("FROM a\nFOO --x bar"), "(from \"a\")\n(foo [\"--x\"] \"\")\n");
    assert_eq!(dump("from a\nRuN b"), "(from \"a\")\n(run \"b\")\n");
    // A line holding only a continuation character joins the next line...
    assert_eq!(dump("\\\nFROM a"), "(from \"a\")\n");
    // ...and at the end of the file leaves an instruction with no word at all.
    assert_eq!(dump("FROM a\n\\"), "(from \"a\")\n(\"\")\n");
    assert_eq!(dump("ENV"), "(env)\n");
    assert_eq!(dump("ARG"), "(arg)\n");
    assert_eq!(dump("ONBUILD ONBUILD RUN x"), "(onbuild (onbuild (run \"x\")))\n");
    assert_eq!(dump("HEALTHCHECK NONE"), "(healthcheck \"NONE\")\n");
    assert_eq!(dump("SHELL [\"pwsh\", \"-c\"]"), "(shell \"pwsh\" \"-c\")\n");
    // Go fails to decode an out-of-range number, so this is shell form, not an error.
    assert_eq!(dump("CMD [\"a\", 1e400]"), "(cmd \"[\\\"a\\\", 1e400]\")\n");
}

#[test]
fn json_flag_and_locations() {
    let source = "FROM a AS b\n\n  RUN [\"x\"]\nCOPY [\"a\", \"b\"]\nCMD x\n";
    let ast = parse(source).unwrap_or_else(|e| panic!("{e}"));
    let json: Vec<bool> = ast.children.iter().map(|n| n.json).collect();
    assert_eq!(json, [false, true, true, false]);
    let run = &ast.children[1];
    assert_eq!(&source[run.location.start..run.location.end], "RUN [\"x\"]");
    assert_eq!(ast.children[0].args, ["a", "AS", "b"]);
}

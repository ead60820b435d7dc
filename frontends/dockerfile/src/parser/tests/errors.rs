//! Rejected inputs and where their errors point.

use crate::parser::{ParseError, parse};

fn error(source: &str) -> ParseError {
    match parse(source) {
        Ok(ast) => panic!("expected an error, got {}", ast.dump()),
        Err(e) => e,
    }
}

/// (line, column, underlined text)
fn place<'a>(source: &'a str, e: &ParseError) -> (usize, usize, &'a str) {
    (e.line, e.column, source.get(e.offset..e.offset + e.len).unwrap_or("<out of range>"))
}

#[test]
fn env_without_value() {
    let source = "FROM busybox\n\nENV PATH\n";
    let e = error(source);
    assert_eq!(e.message, "ENV must have two arguments");
    assert_eq!(place(source, &e), (3, 5, "PATH"));
    assert_eq!(e.to_string(), "dockerfile parse error on line 3: ENV must have two arguments");
}

#[test]
fn name_value_word_without_equals_after_continuation() {
    let source = "FROM a\nLABEL a=b \\\n  c=d é\n";
    let e = error(source);
    assert_eq!(e.message, "Syntax error - can't find = in \"é\". Must be of the form: name=value");
    assert_eq!(place(source, &e), (3, 7, "é"));
}

#[test]
fn nested_json() {
    let source = "CMD [ \"echo\", [ \"nested json\" ] ]";
    let e = error(source);
    assert_eq!(e.message, "when using JSON array syntax, arrays must be comprised of strings only");
    assert_eq!(place(source, &e), (1, 5, "[ \"echo\", [ \"nested json\" ] ]"));
}

#[test]
fn bad_escape_directive() {
    let source = "\u{feff}# escape=x\nFROM a\n";
    let e = error(source);
    assert_eq!(e.message, "invalid escape token 'x' does not match ` or \\");
    // The BOM is not counted as a column.
    assert_eq!(place(source, &e), (1, 10, "x"));
}

#[test]
fn repeated_directive() {
    let source = "# escape=`\n  # ESCAPE=\\\nFROM a\n";
    let e = error(source);
    assert_eq!(e.message, "only one escape parser directive can be used");
    assert_eq!(place(source, &e), (2, 5, "ESCAPE"));
}

#[test]
fn unterminated_heredoc() {
    let source = "FROM a\nRUN  cat <<EOF\necho\n";
    let e = error(source);
    assert_eq!(e.message, "unterminated heredoc EOF");
    assert_eq!(place(source, &e), (2, 10, "<<EOF"));
}

#[test]
fn no_instructions() {
    let e = error("");
    assert_eq!((e.line, e.column, e.offset, e.len), (1, 1, 0, 0));
    let source = "# Hello\n# These are just comments\n\n";
    let e = error(source);
    assert_eq!(e.message, "file with no instructions");
    assert_eq!(place(source, &e), (1, 1, "# Hello"));
    assert!(parse("\n \n\t\n").is_err());
}

#[test]
fn overlong_line() {
    let source = format!("FROM image\nLABEL test={}\n", "a".repeat(65536));
    let e = error(&source);
    assert_eq!(e.message, "dockerfile line greater than max allowed size of 65535");
    assert_eq!((e.line, e.column, e.len), (2, 1, 1));
    // The longest line BuildKit accepts.
    let ok = format!("FROM image\n{}\n", "a".repeat(65535));
    assert!(parse(&ok).is_ok());
}

#[test]
fn onbuild_child_error_points_into_the_child() {
    let source = "FROM a\nONBUILD ENV x\n";
    let e = error(source);
    assert_eq!(place(source, &e), (2, 13, "x"));
}

//! Reading `.dockerignore` text, checked against moby/patternmatcher's ignorefile_test.go.

use gb_patterns::{PatternError, PatternMatcher, SyntaxProblem, parse_dockerignore};

/// The content of `TestReadAll` in ignorefile_test.go (and BuildKit's dockerignore_test.go),
/// without its two lone `!` lines, which `ReadAll` passes on and `New` then rejects.
#[test]
fn read_all_like_docker() {
    let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n";
    let patterns = parse_dockerignore(content).expect("valid");
    assert_eq!(patterns, ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path"]);
}

#[test]
fn lone_exception_is_an_error_naming_the_line() {
    let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    let err = parse_dockerignore(content).expect_err("a lone `!` is rejected");
    assert_eq!(err, PatternError::EmptyException { line: Some(8) });
    insta::assert_snapshot!(err, @r#"line 8: illegal exception pattern "!": a `!` must be followed by a pattern"#);
}

#[test]
fn comments_blanks_and_whitespace() {
    let text = "\u{feff}# comment after a BOM\r\n\r\n   \n\t*.log \r\n # indented, so a pattern\n!  keep.log\n#!not-an-exception";
    let patterns = parse_dockerignore(text).expect("valid");
    assert_eq!(patterns, ["*.log", "# indented, so a pattern", "!keep.log"]);
}

#[test]
fn patterns_are_cleaned() {
    let text = "a/./b/../c/\n./x\n/\n//y//\n!/z/\n!./w\n..\nq/../..\n!!bang\n";
    let patterns = parse_dockerignore(text).expect("valid");
    assert_eq!(patterns, ["a/c", "x", "/", "y", "!z", "!w", "..", "..", "!!bang"]);
    // The matcher keeps them as they are.
    let matcher = PatternMatcher::new(&patterns).expect("valid");
    assert!(matcher.patterns().eq(patterns.iter().map(String::as_str)));
    // `!!bang` is an exception for a file named `!bang`.
    assert!(matcher.has_exclusions());
}

#[test]
fn empty_file() {
    assert_eq!(parse_dockerignore("").expect("valid"), Vec::<String>::new());
    assert_eq!(parse_dockerignore("\n\n# only comments\n").expect("valid"), Vec::<String>::new());
}

#[test]
fn syntax_errors_name_the_pattern_and_line() {
    let err = parse_dockerignore("ok\n  src/[a-\n").expect_err("unclosed class");
    assert_eq!(
        err,
        PatternError::Syntax { pattern: "src/[a-".to_owned(), problem: SyntaxProblem::UnclosedClass, line: Some(2) }
    );
    insta::assert_snapshot!(err, @r#"line 2: invalid pattern "src/[a-": a `[` character class is not closed"#);

    let messages: Vec<String> = ["a\\", "[]a]", "[z-a]", "!"]
        .iter()
        .map(|p| PatternMatcher::new(&[p]).expect_err("invalid").to_string())
        .collect();
    insta::assert_snapshot!(messages.join("\n"), @r#"
    invalid pattern "a\\": it ends with a `\` that escapes nothing
    invalid pattern "[]a]": a character class has a misplaced `-` or `]` (escape it with `\`)
    invalid pattern "[z-a]": the character range `z-a` is out of order
    illegal exception pattern "!": a `!` must be followed by a pattern
    "#);
}

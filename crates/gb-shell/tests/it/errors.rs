//! How expansion errors read, and that their offsets point at the construct that failed.

use std::collections::BTreeMap;

use gb_shell::{ExpandError, Lexer, MAX_NESTING};

const INPUTS: &[&str] = &[
    "'abc",
    "x\"abc",
    "${",
    "a${B:-c",
    "${B/c",
    "${}",
    "${:-x}",
    "${B:=x}",
    "${B.x}",
    "${#B}",
    "${B:?}",
    "${C?}",
    "${C?need $B set}",
    "a ${B:-${C:?}}",
];

#[test]
fn error_messages() {
    let env = BTreeMap::from([("B".to_owned(), String::new())]);
    let lexer = Lexer::default();
    let mut report = String::new();
    for input in INPUTS {
        let err = lexer.expand_word(input, &env).expect_err("every input here is an error");
        report.push_str(&format!("{input:<20} => {err}\n"));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn offsets_point_at_the_failing_construct() {
    let lexer = Lexer::default();
    let env = BTreeMap::new();
    let cases = [("ab'c", 2), ("é\"", 2), ("x${A:-${B?}}", 6), ("${A/b", 0)];
    for (input, offset) in cases {
        let err = lexer.expand_word(input, &env).expect_err(input);
        assert_eq!(err.offset(), offset, "{input:?}: {err}");
    }
    let err = lexer.expand_word("${V:?msg}", &env).expect_err("unset");
    assert_eq!(err, ExpandError::RequiredVariable { name: "V".to_owned(), message: "msg".to_owned(), offset: 0 });
}

#[test]
fn nesting_is_bounded() {
    let lexer = Lexer::default();
    let env = BTreeMap::new();
    let nested = |levels: usize| format!("{}x{}", "${A:-".repeat(levels), "}".repeat(levels));
    let ok = lexer.expand_word(&nested(MAX_NESTING), &env).expect("deepest allowed");
    assert_eq!(ok.value, "x");
    let err = lexer.expand_word(&nested(MAX_NESTING + 1), &env).expect_err("one too deep");
    assert_eq!(err.offset(), MAX_NESTING * "${A:-".len());
    // Far deeper input must fail cleanly rather than overflow the stack.
    let err = lexer.expand_words(&nested(1_000_000), &env).expect_err("far too deep");
    assert!(matches!(err, ExpandError::NestedTooDeep { .. }), "{err}");
}

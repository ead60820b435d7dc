//! How expansion errors read, and that their offsets point at the construct that failed.

use std::collections::BTreeMap;

use gb_shell::{ExpandError, Lexer, MAX_MATCH_STEPS, MAX_NESTING, MAX_WORD_BYTES};

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

#[test]
fn doubling_variables_stop_at_the_word_limit() {
    // The review's input: `ARG A0=xxxxxxxxxx`, then `ARG A1=${A0}${A0}` and so on 39 times,
    // which asked for 5 TiB. Each value is at most 1 MiB, so the chain stops where it would
    // pass it, at the second substitution of that line.
    let lexer = Lexer::default();
    let mut env = BTreeMap::from([("A0".to_owned(), "x".repeat(10))]);
    let mut failed_at = None;
    for i in 1..40 {
        let word = format!("${{A{}}}${{A{}}}", i - 1, i - 1);
        match lexer.expand_word(&word, &env) {
            Ok(expanded) => {
                assert!(expanded.value.len() <= MAX_WORD_BYTES);
                env.insert(format!("A{i}"), expanded.value);
            }
            Err(err) => {
                assert_eq!(err, ExpandError::TooLong { offset: format!("${{A{}}}", i - 1).len() }, "{err}");
                assert!(err.to_string().starts_with("the word expands to more than 1 MiB"), "{err}");
                failed_at = Some(i);
                break;
            }
        }
    }
    // 10 * 2^16 bytes fit in 1 MiB, 10 * 2^17 do not.
    assert_eq!(failed_at, Some(17));
    let err = lexer.expand_words("${A16} ${A16}", &env).expect_err("split words count too");
    assert!(matches!(err, ExpandError::TooLong { offset: 7 }), "{err}");
    let err = lexer.expand_word("\"${A16}${A16}\"", &env).expect_err("quoted substitutions count too");
    assert!(matches!(err, ExpandError::TooLong { offset: 7 }), "{err}");
}

#[test]
fn replacement_cannot_multiply_past_the_limit() {
    // Replacing each of 2,000 characters with the whole value would make 4 MB from one line.
    let lexer = Lexer::default();
    let env = BTreeMap::from([("A".to_owned(), "y".repeat(2000))]);
    let err = lexer.expand_word("${A//?/${A}}", &env).expect_err("too long");
    assert_eq!(err, ExpandError::TooLong { offset: 0 });
    let ok = lexer.expand_word("${A//?/zz}", &env).expect("4,000 bytes is fine");
    assert_eq!(ok.value.len(), 4000);
}

#[test]
fn literal_text_longer_than_the_limit_is_kept() {
    // The bound is on growth: a word may always expand to its own length.
    let lexer = Lexer::default();
    let literal = "z".repeat(MAX_WORD_BYTES + 10);
    let env = BTreeMap::from([("B".to_owned(), "bbbb".to_owned())]);
    assert_eq!(lexer.expand_word(&literal, &env).expect("literal").value, literal);
    let err = lexer.expand_word(&format!("{literal}$B"), &env).expect_err("grows past its own length");
    assert_eq!(err.offset(), literal.len());
}

#[test]
fn patterns_on_a_doubled_value_stop_at_the_step_limit() {
    // The review's input: ~20 doubling ARG lines make a 1 MiB value, and `${V//a*b/x}` then
    // reads to its end from each of its 2^20 positions, about 10^12 steps. The step limit
    // refuses it at the substitution instead.
    let lexer = Lexer::default();
    let mut env = BTreeMap::from([("A0".to_owned(), "a".to_owned())]);
    for i in 1..=20 {
        let word = format!("${{A{}}}${{A{}}}", i - 1, i - 1);
        let expanded = lexer.expand_word(&word, &env).expect("at most 1 MiB");
        env.insert(format!("A{i}"), expanded.value);
    }
    let value = env.get("A20").cloned().unwrap_or_default();
    assert_eq!(value.len(), MAX_WORD_BYTES);
    env.insert("V".to_owned(), value.clone());

    let err = lexer.expand_word("x${V//a*b/x}", &env).expect_err("too many steps");
    assert_eq!(err, ExpandError::TooComplex { offset: 1 });
    assert!(
        err.to_string().starts_with(&format!("matching the pattern takes more than {MAX_MATCH_STEPS} steps")),
        "{err}"
    );
    let err = lexer.expand_word("${V/a*b/x}", &env).expect_err("a failed search reads as far");
    assert_eq!(err, ExpandError::TooComplex { offset: 0 });

    // Trims match from one end only, so they finish within the limit.
    assert_eq!(lexer.expand_word("${V%%*x}", &env).map(|e| e.value.len()), Ok(MAX_WORD_BYTES));
    assert_eq!(lexer.expand_word("${V##a*}", &env).map(|e| e.value), Ok(String::new()));
    assert_eq!(lexer.expand_word("${V%%a*}", &env).map(|e| e.value), Ok(String::new()));
    // A search that matches at once is cheap however long the value.
    assert_eq!(lexer.expand_word("${V//a*/x}", &env).map(|e| e.value), Ok("x".to_owned()));
}

//! Runs the data-driven cases in tests/data against both expansions, with the environment as pairs and as a map.

use std::collections::BTreeMap;

use gb_shell::{Env, Lexer};

use crate::data::{Case, Expected, Mode, parse};

#[test]
fn word_cases() {
    run(include_str!("../data/word.txt"), Mode::Word);
}

#[test]
fn words_cases() {
    run(include_str!("../data/words.txt"), Mode::Words);
}

fn run(text: &str, mode: Mode) {
    let cases = parse(text, mode);
    assert!(cases.len() > 20, "too few cases parsed: {}", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|case| check(case, mode)).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Runs one case; describes the failure if there is one.
fn check(case: &Case, mode: Mode) -> Option<String> {
    let lexer = Lexer::new(case.escape);
    let pairs: &[(String, String)] = &case.env;
    let map: BTreeMap<String, String> = case.env.iter().cloned().collect();
    let got_pairs = outcome(&lexer, &case.input, &pairs, mode);
    let got_map = outcome(&lexer, &case.input, &map, mode);
    let where_ = format!("line {}: {:?}", case.line, case.input);
    if got_pairs != got_map {
        return Some(format!("{where_}: pairs gave {got_pairs:?}, map gave {got_map:?}"));
    }
    let ok = match (&case.expected, &got_pairs) {
        (Expected::Error(text), Err(message)) => message.contains(text.as_str()),
        (expected, Ok(got)) => expected == got,
        _ => false,
    };
    (!ok).then(|| format!("{where_}: expected {:?}, got {got_pairs:?}", case.expected))
}

fn outcome(lexer: &Lexer, input: &str, env: &dyn Env, mode: Mode) -> Result<Expected, String> {
    match mode {
        Mode::Word => lexer.expand_word(input, env).map(|out| Expected::Value(out.value)),
        Mode::Words => lexer.expand_words(input, env).map(|out| Expected::Words(out.words)),
    }
    .map_err(|err| err.to_string())
}

//! Properties over random input: expansion never panics, errors point at a real construct, and escaped literals come back unchanged.

use std::collections::BTreeMap;

use gb_shell::{Lexer, escape_literal};
use proptest::prelude::*;

fn env() -> BTreeMap<String, String> {
    [("A", "a b"), ("B", ""), ("1", "x*y"), ("한", "\\*/")].iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Strings made of the characters the lexer cares about, so that random
/// input reaches deep into substitutions.
fn shellish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "$", "{", "}", ":", "-", "+", "?", "#", "%", "/", "//", "*", "'", "\"", "\\", "`", "A", "B", "1", "@", "é",
        "한", " ", "\t", "x", "${A", "${B:-", "${A#", "${A/",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|pieces| pieces.concat())
}

fn escapes() -> impl Strategy<Value = char> {
    prop::sample::select(vec!['\\', '`'])
}

/// Expands `word` both ways and checks what must hold whatever the input.
fn check_any(word: &str, escape: char) -> Result<(), TestCaseError> {
    let lexer = Lexer::new(escape);
    let env = env();
    let single = lexer.expand_word(word, &env);
    let split = lexer.expand_words(word, &env);
    match (&single, &split) {
        (Ok(_), Ok(words)) => {
            prop_assert!(words.words.iter().all(|w| !w.is_empty()));
        }
        (Err(a), Err(b)) => {
            prop_assert_eq!(a, b);
            let offset = a.offset();
            prop_assert!(word.is_char_boundary(offset), "offset {} in {:?}", offset, word);
            let at = word[offset..].chars().next();
            prop_assert!(matches!(at, Some('$' | '\'' | '"')), "{:?} points at {:?} in {:?}", a, at, word);
        }
        _ => prop_assert!(false, "word and words disagree on {:?}", word),
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_string_is_handled(word in any::<String>(), escape in escapes()) {
        check_any(&word, escape)?;
    }

    #[test]
    fn shellish_string_is_handled(word in shellish(), escape in escapes()) {
        check_any(&word, escape)?;
    }

    #[test]
    fn escaped_literal_round_trips(value in any::<String>(), escape in escapes()) {
        let lexer = Lexer::new(escape);
        let escaped = escape_literal(&value, escape);
        let out = lexer.expand_word(&escaped, &env()).expect("escaped literal expands");
        prop_assert_eq!(&out.value, &value);
        prop_assert!(out.matched.is_empty() && out.unmatched.is_empty());

        // Also as the word of a modifier.
        let nested = format!("${{UNSET:-{escaped}}}");
        prop_assert_eq!(lexer.expand_word(&nested, &env()).expect("nested").value, value);
    }

    #[test]
    fn escaped_shellish_round_trips(value in shellish(), escape in escapes()) {
        let lexer = Lexer::new(escape);
        let out = lexer.expand_word(&escape_literal(&value, escape), &env()).expect("expands");
        prop_assert_eq!(out.value, value);
    }
}

//! Which variables an expansion reports as matched (set) and unmatched (unset).

use std::collections::{BTreeSet, HashMap};

use gb_shell::Lexer;

/// `(input, env, matched, unmatched)`.
type Case = (&'static str, &'static [(&'static str, &'static str)], &'static [&'static str], &'static [&'static str]);

/// The first group is transcribed from BuildKit's lex_test.go
/// (TestProcessWithMatches).
const CASES: &[Case] = &[
    ("x", &[("DUMMY", "dummy")], &[], &[]),
    ("x ${UNUSED}", &[("DUMMY", "dummy")], &[], &["UNUSED"]),
    ("x ${FOO}", &[("FOO", "y")], &["FOO"], &[]),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", &[("FOO", "xxx"), ("BAR", "")], &["BAR", "FOO"], &["BAZ"]),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", &[("FOO", "xxx"), ("BAR", "")], &["BAR", "FOO"], &["BAZ"]),
    ("${FOO:-}", &[("FOO", "xxx"), ("BAR", "")], &["FOO"], &[]),
    ("${FOO:-}", &[], &[], &["FOO"]),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", &[("FOO", "xxx"), ("BAR", "")], &["BAR", "FOO"], &["BAZ"]),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", &[("FOO", "xxx"), ("BAR", "")], &["BAR", "FOO"], &["BAZ"]),
    ("${FOO?aaa}", &[("FOO", "xxx"), ("BAR", "")], &["FOO"], &[]),
    ("${BAR?bbb}", &[("FOO", "xxx"), ("BAR", "")], &["BAR"], &[]),
    ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], &["BAR", "FOO"], &[]),
    ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], &["BAR", "FOO"], &[]),
    ("${ABC:-.}${FOO%x}${ABC:-.}", &[("FOO", "xxyy")], &["FOO"], &["ABC"]),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")], &["FOO", "NEEDLE"], &[]),
    ("${FOO///}", &[("FOO", "xxyy")], &["FOO"], &[]),
    ("${FOO///}", &[], &[], &["FOO"]),
    // Our own.
    ("${A:-$B}", &[("A", "a")], &["A"], &["B"]),
    ("'$A' \\$B \"$C\"", &[], &[], &["C"]),
    ("$1 $@ ${#}", &[], &[], &["#", "1", "@"]),
    ("${+w}", &[], &[], &[]),
    ("$A$A${A}", &[("A", "")], &["A"], &[]),
];

#[test]
fn matched_and_unmatched() {
    let lexer = Lexer::default();
    for &(input, env, matched, unmatched) in CASES {
        let env: HashMap<String, String> = env.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
        let word = lexer.expand_word(input, &env).unwrap_or_else(|err| panic!("{input:?}: {err}"));
        let words = lexer.expand_words(input, &env).unwrap_or_else(|err| panic!("{input:?}: {err}"));
        let matched: BTreeSet<String> = matched.iter().map(|s| s.to_string()).collect();
        let unmatched: BTreeSet<String> = unmatched.iter().map(|s| s.to_string()).collect();
        assert_eq!(word.matched, matched, "matched for {input:?}");
        assert_eq!(word.unmatched, unmatched, "unmatched for {input:?}");
        assert_eq!(words.matched, matched, "words matched for {input:?}");
        assert_eq!(words.unmatched, unmatched, "words unmatched for {input:?}");
    }
}

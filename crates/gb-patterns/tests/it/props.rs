//! Property tests: arbitrary patterns, paths and files never make the crate panic.

use gb_patterns::{MatchInfo, PatternMatcher, parse_dockerignore};
use proptest::prelude::*;

/// Strings rich in the characters that matter to patterns.
fn tricky() -> impl Strategy<Value = String> {
    prop::string::string_regex("[-a-c/*?\\[\\]\\\\^!. \n☺]{0,16}").expect("valid regex")
}

proptest! {
    #[test]
    fn never_panics(
        patterns in prop::collection::vec(tricky(), 0..6),
        paths in prop::collection::vec(tricky(), 0..6),
    ) {
        if let Ok(m) = PatternMatcher::new(&patterns) {
            let mut info = MatchInfo::default();
            for path in &paths {
                let _ = m.matches(path);
                let _ = m.may_contain_included(path);
                info = m.matches_with_parent(path, &info).1;
            }
            let again = PatternMatcher::new(&m.patterns().collect::<Vec<_>>());
            prop_assert_eq!(again.as_ref(), Ok(&m));
        }
        let _ = parse_dockerignore(&patterns.join("\n"));
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), path in any::<String>()) {
        let _ = parse_dockerignore(&text);
        if let Ok(m) = PatternMatcher::new(&text.lines().collect::<Vec<_>>()) {
            let _ = m.matches(&path);
            let _ = m.may_contain_included(&path);
        }
    }
}

//! Where expansion looks variables up: the [`Env`] trait and its impls for common maps.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A set of variables that words are expanded against.
///
/// Invariants an implementation keeps:
/// - `None` means unset; `Some(String::new())` means set and empty. The
///   modifiers `${V-w}` and `${V:-w}` (and their `+`/`?` kin) tell the two apart.
/// - Lookups are pure: the same name gives the same answer during one
///   expansion.
/// - Names are compared exactly. Windows' case-insensitive keys are the
///   implementation's business (BuildKit folds case there); the lexer never
///   folds case itself.
pub trait Env {
    /// The value of `name`, or `None` when it is unset.
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Ordered `(name, value)` pairs, as a Dockerfile accumulates `ENV`/`ARG`;
/// when a name appears more than once the last pair wins.
impl Env for &[(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    }
}

/// Same as for a slice: the last pair with a name wins.
impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

#[cfg(test)]
mod tests {
    use super::Env;
    use std::collections::{BTreeMap, HashMap};

    fn pairs() -> Vec<(String, String)> {
        [("A", "1"), ("B", ""), ("A", "2")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn slice_last_wins_and_empty_is_set() {
        let pairs = pairs();
        let env: &[(String, String)] = &pairs;
        assert_eq!(env.lookup("A").as_deref(), Some("2"));
        assert_eq!(env.lookup("B").as_deref(), Some(""));
        assert_eq!(env.lookup("C"), None);
        assert_eq!(pairs.lookup("A").as_deref(), Some("2"));
    }

    #[test]
    fn maps_look_up_exact_names() {
        let btree: BTreeMap<String, String> = pairs().into_iter().collect();
        let hash: HashMap<String, String> = pairs().into_iter().collect();
        for env in [&btree as &dyn Env, &hash] {
            assert_eq!(env.lookup("A").as_deref(), Some("2"));
            assert_eq!(env.lookup("a"), None);
        }
    }
}

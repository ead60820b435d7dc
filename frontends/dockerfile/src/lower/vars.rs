//! Variable scope of a stage and word expansion, including words deferred until the base
//! image's config is known.
//!
//! When a stage's base image config is not available while lowering, any variable the
//! Dockerfile does not set itself may come from that image. Such a variable expands to a
//! *hole* (private-use characters around its name); an `ENV` value with holes becomes an
//! [`EnvValue::Deferred`] word that the solver expands against the image's env, and anywhere
//! else a hole becomes empty with a warning.

use gb_ir::{EnvValue, EnvVar};

const HOLE_START: char = '\u{E000}';
const HOLE_END: char = '\u{E001}';

/// The variables visible to one instruction: the stage's ENV (which wins) and declared ARGs.
pub(crate) struct Scope<'a> {
    /// ARG values that replace ENV variables of their names ([`super::StageState::arg_env`]).
    pub arg_env: &'a [(String, String)],
    pub env: &'a [EnvVar],
    pub args: &'a [(String, Option<String>)],
    /// The base image's env is unknown: unknown names become holes.
    pub deferred_base: bool,
}

impl gb_shell::Env for Scope<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some((_, value)) = self.arg_env.iter().rev().find(|(arg, _)| arg == name) {
            return Some(value.clone());
        }
        if let Some(var) = self.env.iter().rev().find(|var| var.name == name) {
            return Some(match &var.value {
                EnvValue::Value(value) => value.clone(),
                EnvValue::Deferred(_) => hole(name),
            });
        }
        if let Some((_, Some(value))) = self.args.iter().rev().find(|(arg, _)| arg == name) {
            return Some(value.clone());
        }
        self.deferred_base.then(|| hole(name))
    }
}

fn hole(name: &str) -> String {
    format!("{HOLE_START}{name}{HOLE_END}")
}

/// Whether an expanded value holds a variable of the unknown base image.
pub(crate) fn has_holes(value: &str) -> bool {
    value.contains(HOLE_START)
}

/// The names of the holes in a value.
pub(crate) fn hole_names(value: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(HOLE_START) {
        let after = &rest[start + HOLE_START.len_utf8()..];
        let Some(end) = after.find(HOLE_END) else { break };
        names.push(after[..end].to_owned());
        rest = &after[end + HOLE_END.len_utf8()..];
    }
    names
}

/// The value with every hole made empty, as Docker expands an unset variable.
pub(crate) fn fill_holes_empty(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_hole = false;
    for ch in value.chars() {
        match ch {
            HOLE_START => in_hole = true,
            HOLE_END => in_hole = false,
            _ if !in_hole => out.push(ch),
            _ => {}
        }
    }
    out
}

/// An ENV value: known, or a deferred word (`\` escapes) with `${NAME}` where holes were.
pub(crate) fn env_value(value: String) -> EnvValue {
    if !has_holes(&value) {
        return EnvValue::Value(value);
    }
    let mut word = String::new();
    let mut literal = String::new();
    let mut name = String::new();
    let mut in_hole = false;
    for ch in value.chars() {
        match ch {
            HOLE_START => {
                word.push_str(&gb_shell::escape_literal(&literal, '\\'));
                literal.clear();
                in_hole = true;
            }
            HOLE_END => {
                word.push_str("${");
                word.push_str(&name);
                word.push('}');
                name.clear();
                in_hole = false;
            }
            _ if in_hole => name.push(ch),
            _ => literal.push(ch),
        }
    }
    word.push_str(&gb_shell::escape_literal(&literal, '\\'));
    EnvValue::Deferred(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gb_shell::Lexer;

    #[test]
    fn unknown_base_variables_become_deferred_words() {
        let env = vec![EnvVar::new("GOPATH", "/go")];
        let args = vec![("V".to_owned(), Some("1.2".to_owned()))];
        let scope = Scope { arg_env: &[], env: &env, args: &args, deferred_base: true };
        let expanded =
            Lexer::new('\\').expand_word("$GOPATH/bin:/v$V:$PATH", &scope).map(|e| e.value).unwrap_or_default();
        assert_eq!(env_value(expanded), EnvValue::Deferred("/go/bin:/v1.2:${PATH}".to_owned()));
    }

    #[test]
    fn known_values_stay_values() {
        let scope = Scope { arg_env: &[], env: &[], args: &[], deferred_base: false };
        let expanded = Lexer::new('\\').expand_word("a$UNSET-b", &scope).map(|e| e.value).unwrap_or_default();
        assert_eq!(env_value(expanded), EnvValue::Value("a-b".to_owned()));
    }

    #[test]
    fn literal_dollars_survive_deferral() {
        let scope = Scope { arg_env: &[], env: &[], args: &[], deferred_base: true };
        let expanded = Lexer::new('\\').expand_word(r"'$HOME'$X", &scope).map(|e| e.value).unwrap_or_default();
        assert_eq!(env_value(expanded), EnvValue::Deferred(r"\$HOME${X}".to_owned()));
        assert_eq!(hole_names(&hole("X")), vec!["X".to_owned()]);
        assert_eq!(fill_holes_empty(&format!("a{}b", hole("X"))), "ab");
    }
}

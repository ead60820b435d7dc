//! Step names as BuildKit prints them (`processCmdEnv` in dockerfile2llb): a RUN's line with the
//! variables the stage has set expanded, quotes and unset variables kept as written
//! (`RawQuotes`, `SkipUnsetEnv`), and secrets given as environment variables shown as `****`.
//! Only what progress shows depends on this; no digest does.

/// The RUN line `text` with the variables `lookup` knows expanded, as BuildKit's raw-quotes,
/// keep-unset word processing does; `None` when BuildKit's processing would fail (a bad
/// substitution, an unterminated quote), and the line is then shown as written.
pub(crate) fn raw_expand(text: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < chars.len() {
        match chars[at] {
            '\'' => {
                // Single quotes keep everything, themselves included.
                let end = chars[at + 1..].iter().position(|&c| c == '\'')? + at + 1;
                out.extend(&chars[at..=end]);
                at = end + 1;
            }
            '"' => at = double_quoted(&chars, at, escape, lookup, &mut out)?,
            '$' => at = dollar(&chars, at, escape, lookup, &mut out)?,
            c if c == escape => {
                // Outside quotes the escape character goes and the next one stays as it is.
                if let Some(&next) = chars.get(at + 1) {
                    out.push(next);
                }
                at += 2;
            }
            c => {
                out.push(c);
                at += 1;
            }
        }
    }
    Some(out)
}

/// A double-quoted part starting at `start`, quotes kept; returns the index after it.
fn double_quoted(
    chars: &[char],
    start: usize,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Option<usize> {
    out.push('"');
    let mut at = start + 1;
    loop {
        match *chars.get(at)? {
            '"' => {
                out.push('"');
                return Some(at + 1);
            }
            '$' => at = dollar(chars, at, escape, lookup, out)?,
            c if c == escape => match chars.get(at + 1) {
                // `\"`, `\$` and a doubled escape lose the escape; any other keeps it.
                Some(&next) if next == '"' || next == '$' || next == escape => {
                    out.push(next);
                    at += 2;
                }
                Some(_) => {
                    out.push(c);
                    at += 1;
                }
                None => at += 1,
            },
            c => {
                out.push(c);
                at += 1;
            }
        }
    }
}

/// A `$` substitution starting at `start`; returns the index after it. A variable `lookup` does
/// not know is kept as written.
fn dollar(
    chars: &[char],
    start: usize,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Option<usize> {
    let name_len = |from: usize| chars[from..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
    if chars.get(start + 1) != Some(&'{') {
        let len = name_len(start + 1);
        if len == 0 {
            out.push('$');
            return Some(start + 1);
        }
        let name: String = chars[start + 1..start + 1 + len].iter().collect();
        match lookup(&name) {
            Some(value) => out.push_str(&value),
            None => {
                out.push('$');
                out.push_str(&name);
            }
        }
        return Some(start + 1 + len);
    }
    // `${...}`: up to the matching `}`, nested substitutions included.
    let mut depth = 0;
    let mut end = start + 1;
    loop {
        match *chars.get(end)? {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        end += 1;
    }
    let whole: String = chars[start..=end].iter().collect();
    let len = name_len(start + 2);
    if len == 0 {
        // `${}`, `${:x}` and the like are bad substitutions.
        return None;
    }
    let name: String = chars[start + 2..start + 2 + len].iter().collect();
    match lookup(&name) {
        None => out.push_str(&whole),
        Some(_) => {
            // A set variable, with or without a modifier: Docker's rules, as in any word.
            let env = Lookup(lookup);
            out.push_str(&gb_shell::Lexer::new(escape).expand_word(&whole, &env).ok()?.value);
        }
    }
    Some(end + 1)
}

/// A lookup function as a shell environment.
struct Lookup<'a>(&'a dyn Fn(&str) -> Option<String>);

impl gb_shell::Env for Lookup<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }
}

#[cfg(test)]
mod tests {
    use super::raw_expand;

    fn expand(text: &str) -> Option<String> {
        let lookup = |name: &str| match name {
            "A" => Some("1".to_owned()),
            "SECRET" => Some("****".to_owned()),
            _ => None,
        };
        raw_expand(text, '\\', &lookup)
    }

    #[test]
    fn set_variables_expand_and_the_rest_stays_as_written() {
        let cases = [
            ("RUN echo $A ${A} $B ${B}", "RUN echo 1 1 $B ${B}"),
            (r#"RUN [ "$SECRET" == "pw" ]"#, r#"RUN [ "****" == "pw" ]"#),
            ("RUN echo '$A' \"$A\"", "RUN echo '$A' \"1\""),
            (r"RUN echo \$A", "RUN echo $A"),
            ("RUN echo ${A:-x} ${B:-x}", "RUN echo 1 ${B:-x}"),
            ("RUN echo $", "RUN echo $"),
        ];
        for (text, want) in cases {
            assert_eq!(expand(text).as_deref(), Some(want), "{text}");
        }
        assert_eq!(expand("RUN echo ${:x}"), None, "a bad substitution shows the line as written");
        assert_eq!(expand("RUN echo 'open"), None);
    }
}

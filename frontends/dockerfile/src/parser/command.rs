//! Splits a logical line into keyword, `--flags` and the argument text, like BuildKit's
//! `splitCommand` and `extractBuilderFlags`.

use super::quote::{is_space, is_token_space, to_lower};

/// The parts of one instruction line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    /// Lower-cased instruction word.
    pub keyword: String,
    pub flags: Vec<String>,
    /// The argument text, trimmed.
    pub args: &'a str,
    /// Byte offset of `args` in the line.
    pub args_offset: usize,
}

pub(crate) fn split_command(line: &str) -> Split<'_> {
    let trimmed = line.trim();
    let lead = line.len() - line.trim_start().len();
    let Some(cmd_end) = trimmed.find(is_token_space) else {
        return Split { keyword: to_lower(trimmed), flags: Vec::new(), args: "", args_offset: lead + trimmed.len() };
    };
    let after_cmd = &trimmed[cmd_end..];
    let rest = after_cmd.trim_start_matches(is_token_space);
    let rest_offset = lead + trimmed.len() - rest.len();
    let (flags, args_at) = extract_flags(rest);
    let tail = rest.get(args_at..).unwrap_or("");
    let args = tail.trim();
    let args_offset = rest_offset + args_at + (tail.len() - tail.trim_start().len());
    Split { keyword: to_lower(&trimmed[..cmd_end]), flags, args, args_offset }
}

/// Takes the leading words that start with `--` as flags, returning them and the byte
/// offset where the arguments begin. Quotes inside a flag are removed and a backslash
/// escapes the next character (always `\`, whatever the escape directive says); a bare
/// `--` ends the flags and is dropped.
///
/// BuildKit walks bytes here and so mangles non-ASCII flag text into Latin-1 mojibake;
/// we walk chars, which keeps such flags intact and is identical on ASCII.
fn extract_flags(line: &str) -> (Vec<String>, usize) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&(pos, ch)) = chars.get(i) else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return (words, line.len());
        };
        i += 1;
        if phase == Phase::Spaces {
            if is_space(ch) {
                continue;
            }
            let next_is_dash = chars.get(i).is_some_and(|&(_, c)| c == '-');
            if ch != '-' || !next_is_dash {
                return (words, pos);
            }
            phase = Phase::Word;
        }
        let mut c = ch;
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (words, pos);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                continue;
            }
            if ch == '\\' {
                match chars.get(i) {
                    // A backslash at the very end is dropped.
                    None => continue,
                    Some(&(_, next)) => {
                        c = next;
                        i += 1;
                    }
                }
            }
            word.push(c);
            continue;
        }
        // Inside quotes.
        if ch == quote {
            phase = Phase::Word;
            continue;
        }
        if ch == '\\' {
            match chars.get(i) {
                None => {
                    phase = Phase::Word;
                    continue;
                }
                Some(&(_, next)) => {
                    c = next;
                    i += 1;
                }
            }
        }
        word.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Vec<String>, String, usize) {
        let s = split_command(line);
        (s.keyword, s.flags, s.args.to_string(), s.args_offset)
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_like_buildkit() {
        assert_eq!(split("  RUN   echo hi  "), ("run".into(), vec![], "echo hi".into(), 8));
        assert_eq!(split("FROM"), ("from".into(), vec![], "".into(), 4));
        assert_eq!(
            split("COPY --user=me --doit=true foo /tmp/"),
            ("copy".into(), owned(&["--user=me", "--doit=true"]), "foo /tmp/".into(), 27)
        );
        assert_eq!(
            split("COPY --doit=true -- foo /tmp/"),
            ("copy".into(), owned(&["--doit=true"]), "foo /tmp/".into(), 20)
        );
        assert_eq!(split("CMD --doit -- [ ]"), ("cmd".into(), owned(&["--doit"]), "[ ]".into(), 14));
        assert_eq!(split("RUN --x"), ("run".into(), owned(&["--x"]), "".into(), 7));
        assert_eq!(split("RUN --"), ("run".into(), vec![], "".into(), 6));
        assert_eq!(
            split("RUN --mount=type=secret,id=\"a b\" \\x"),
            ("run".into(), owned(&["--mount=type=secret,id=a b"]), "\\x".into(), 33)
        );
        assert_eq!(split("RUN -x"), ("run".into(), vec![], "-x".into(), 4));
    }
}

//! Parser for the case files under tests/data; the format is described at the top of word.txt.

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `expand_word` gives this value.
    Value(String),
    /// `expand_words` gives these words.
    Words(Vec<String>),
    /// Expansion fails with a message containing this text.
    Error(String),
}

/// Which expansion a file's cases are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Word,
    Words,
}

/// One case, with everything needed to run it.
#[derive(Debug, Clone)]
pub struct Case {
    /// 1-based line number in the file.
    pub line: usize,
    pub escape: char,
    /// The environment, in order; later pairs win.
    pub env: Vec<(String, String)>,
    pub input: String,
    pub expected: Expected,
}

/// Parses a case file.
pub fn parse(text: &str, mode: Mode) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut escape = '\\';
    let mut env: Vec<(String, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("escape ") {
            escape = rest.trim().chars().next().expect("escape needs a character");
            continue;
        }
        if line.trim_end() == "env" {
            env.clear();
            continue;
        }
        if let Some(rest) = line.strip_prefix("env ") {
            let (name, value) = rest.split_once('=').unwrap_or_else(|| panic!("line {line_no}: env needs NAME=value"));
            env.push((name.trim().to_owned(), verbatim(value.trim())));
            continue;
        }
        let fields = split_fields(line);
        assert!((2..=3).contains(&fields.len()), "line {line_no}: expected `input | expected [| env]`, got {fields:?}");
        let mut case_env = env.clone();
        if let Some(extra) = fields.get(2) {
            for assignment in extra.split_whitespace() {
                let (name, value) = assignment
                    .split_once('=')
                    .unwrap_or_else(|| panic!("line {line_no}: bad assignment {assignment:?}"));
                case_env.push((name.to_owned(), value.to_owned()));
            }
        }
        cases.push(Case {
            line: line_no,
            escape,
            env: case_env,
            input: verbatim(fields[0]),
            expected: expected(fields[1], mode),
        });
    }
    cases
}

/// Splits on each `|` that has whitespace before it and whitespace or the
/// line end after it, so that `|` inside words needs no escaping.
fn split_fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut previous = None;
    let mut chars = line.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        let next = chars.peek().map(|&(_, next)| next);
        let spaced_before = previous.is_some_and(char::is_whitespace);
        let spaced_after = next.is_none_or(char::is_whitespace);
        if ch == '|' && spaced_before && spaced_after {
            fields.push(line[start..at].trim());
            start = at + 1;
        }
        previous = Some(ch);
    }
    fields.push(line[start..].trim());
    fields
}

/// Removes the «…» that keeps a field's edge whitespace.
fn verbatim(field: &str) -> String {
    field.strip_prefix('«').and_then(|inner| inner.strip_suffix('»')).unwrap_or(field).to_owned()
}

fn expected(field: &str, mode: Mode) -> Expected {
    if let Some(rest) = field.strip_prefix("error") {
        return Expected::Error(rest.trim_start_matches(':').trim().to_owned());
    }
    match mode {
        Mode::Word => Expected::Value(verbatim(field)),
        Mode::Words if field == "(none)" => Expected::Words(Vec::new()),
        Mode::Words => Expected::Words(field.split(',').map(|w| verbatim(w.trim())).collect()),
    }
}

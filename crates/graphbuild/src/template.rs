//! Docker's `--format` for listing commands (`images`, `history`, `image inspect`, later `ps`):
//! `table`, `table TEMPLATE`, `json` and a Go-template subset, rendered over rows that are
//! `serde_json::Value` objects.
//!
//! The API, for every command that lists things:
//! - [`Format::parse`]`(text) -> Result<Format, TemplateError>` reads the flag's value (an empty
//!   value is `table`, as docker treats a missing `--format`).
//! - [`render`]`(&format, rows, &columns) -> Result<String, TemplateError>` renders the rows:
//!   a table (a header row from [`Columns::headers`], then one row each, aligned as docker's Go
//!   `tabwriter` with minimum width 10 and padding 3), one JSON object per line (`json`), or the
//!   template once per row, each followed by a newline.
//! - [`Columns`] says what `table` alone means for the command (its default template) and each
//!   field's column name (`ID` is `IMAGE ID` for images, `CONTAINER ID` for containers).
//!
//! The template language is what scripts use with docker: literal text (with `\t` and `\n`
//! escapes), `{{.Field}}`, `{{.Field.Sub}}`, `{{.}}`, `{{json .}}`, `{{json .Field}}`,
//! `{{index .Map "key"}}`, `{{index .List 0}}`, `{{join .List ","}}`, `{{upper .F}}`,
//! `{{lower .F}}`, `{{len .F}}`, `{{range .List}}...{{else}}...{{end}}` (`.` is each item),
//! `{{if .F}}`/`{{if eq .F "x"}}`/`{{if ne .F "x"}}...{{else if ...}}...{{else}}...{{end}}`,
//! and `{{-`/`-}}`
//! trimming. A row's top level is a struct for the template: a field it lacks is an error, as
//! docker's `can't evaluate field X`; below it, objects are maps (a missing key prints
//! `<no value>`). Values print as Go prints them (`[a b]` for lists, `map[k:v]` for maps).

use std::fmt::Write as _;

/// A `--format` the user gave that cannot be read or executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse.
    #[error("template parsing error: template: :1: {0}")]
    Parse(String),
    /// The template names what a row does not have.
    #[error("template: :1:{column}: executing \"\" at <{action}>: {reason}")]
    Execute {
        /// Where the action starts in the template (its byte offset, as Go reports it).
        column: usize,
        /// The action's text.
        action: String,
        /// What went wrong.
        reason: String,
    },
}

/// How a listing prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `table` (the command's default columns) or `table TEMPLATE`.
    Table(Option<Template>),
    /// `json`: one JSON object per row and line.
    Json,
    /// A template executed once per row.
    Template(Template),
}

/// What `table` means for one command: its default template and its columns' names.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// The template `table` alone stands for, without the `table ` prefix
    /// (`{{.Repository}}\t{{.Tag}}\t{{.ID}}`).
    pub default_table: &'a str,
    /// Each field's column name (`("ID", "IMAGE ID")`); a field not listed is headed by its
    /// own name in capitals.
    pub headers: &'a [(&'a str, &'a str)],
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Action { column: usize, text: String, call: Call },
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    /// `.A.B` (an empty path is `.`).
    Print(Vec<String>),
    /// `json ARG`.
    Json(Vec<String>),
    /// `index ARG "k1" 0 ...`: map keys and list positions.
    Index(Vec<String>, Vec<IndexKey>),
    /// `join ARG "sep"`.
    Join(Vec<String>, String),
    /// `upper ARG` or `lower ARG`.
    Case(Vec<String>, bool),
    /// `len ARG`.
    Len(Vec<String>),
    /// `range ARG`: what follows, up to `else` or `end`, once per item with `.` the item.
    Range(Vec<String>),
    /// `if ARG`, `if eq ARG "text"`, `if ne ARG "text"`: what follows, up to `else` or `end`,
    /// when the condition holds.
    If(Condition),
    /// `else`, or `else if ...` (a further branch of an `if`).
    Else(Option<Condition>),
    /// `end`.
    End,
}

/// One key of `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IndexKey {
    /// A map key (`"name"`).
    Name(String),
    /// A list position (`0`).
    Position(usize),
}

/// What `if` tests.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    /// The value is Go's "true": not empty, zero, false or missing.
    Truthy(Vec<String>),
    /// `eq` (true) or `ne` (false) of the value and a quoted string.
    Equals(Vec<String>, String, bool),
}

impl Format {
    /// Reads a `--format` value as docker does: `table...`, `json`, else a template.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        if text.is_empty() || text == "table" {
            return Ok(Self::Table(None));
        }
        if text == "json" {
            return Ok(Self::Json);
        }
        if let Some(rest) = text.strip_prefix("table") {
            return Ok(Self::Table(Some(Template::parse(rest)?)));
        }
        Ok(Self::Template(Template::parse(text)?))
    }

    /// Whether this is the command's default table (for flags docker only honours there).
    pub fn is_default_table(&self) -> bool {
        matches!(self, Self::Table(None))
    }
}

impl Template {
    /// Parses a template; leading and trailing spaces go and `\t`, `\n` become tab and newline,
    /// as docker prepares a format.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let text = text.trim_matches(' ').replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            let mut literal = rest[..open].to_owned();
            let after = &rest[open + 2..];
            let close = action_end(after).ok_or_else(|| TemplateError::Parse("unclosed action".to_owned()))?;
            let mut inner = &after[..close];
            if let Some(trimmed) = inner.strip_prefix("- ") {
                inner = trimmed;
                literal = literal.trim_end().to_owned();
            }
            let trim_after = inner.ends_with(" -");
            if trim_after {
                inner = &inner[..inner.len() - 2];
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal));
            }
            // Go reports the action's 0-based byte offset in the line after `1:`.
            let column = offset + open + 2 + (after[..close].len() - after[..close].trim_start().len());
            parts.push(Part::Action { column, text: inner.trim().to_owned(), call: parse_call(inner.trim())? });
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
            if trim_after {
                let trimmed = rest.trim_start();
                offset += rest.len() - trimmed.len();
                rest = trimmed;
            }
        }
        if rest.contains("}}") {
            return Err(TemplateError::Parse("unexpected \"}}\"".to_owned()));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Self::check_blocks(&parts)?;
        Ok(Self { parts })
    }

    /// Executes the template on one row.
    pub fn execute(&self, row: &serde_json::Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        self.run_block(0, row, &mut out)?;
        Ok(out)
    }

    /// Runs the parts from `start` with `.` being `dot`, up to the `else` or `end` that closes
    /// the block (or the template's end); returns the index of that closing part.
    fn run_block(&self, start: usize, dot: &serde_json::Value, out: &mut String) -> Result<usize, TemplateError> {
        let mut index = start;
        while let Some(part) = self.parts.get(index) {
            let (column, text, call) = match part {
                Part::Text(text) => {
                    out.push_str(text);
                    index += 1;
                    continue;
                }
                Part::Action { column, text, call } => (*column, text, call),
            };
            let fail = |reason: String| TemplateError::Execute { column, action: text.clone(), reason };
            match call {
                Call::Else(_) | Call::End => return Ok(index),
                Call::Range(path) => {
                    let items = match lookup(dot, path).map_err(fail)? {
                        Some(serde_json::Value::Array(items)) => items.clone(),
                        Some(serde_json::Value::Object(map)) => map.values().cloned().collect(),
                        Some(serde_json::Value::Null) | None => Vec::new(),
                        Some(other) => return Err(fail(format!("range can't iterate over {}", go_string(other)))),
                    };
                    let (branches, end_at) = self.block_ends(index);
                    for item in &items {
                        self.run_block(index + 1, item, out)?;
                    }
                    if let (true, Some(else_at)) = (items.is_empty(), branches.first()) {
                        self.run_block(else_at + 1, dot, out)?;
                    }
                    index = end_at + 1;
                }
                Call::If(condition) => {
                    let (branches, end_at) = self.block_ends(index);
                    // The first branch whose condition holds (a plain `else` always does) runs.
                    let mut taken = condition.holds(dot).map_err(fail)?.then_some(index);
                    for at in branches {
                        if taken.is_some() {
                            break;
                        }
                        let Some(Part::Action { call: Call::Else(condition), .. }) = self.parts.get(at) else {
                            continue;
                        };
                        let holds = match condition {
                            Some(condition) => condition.holds(dot).map_err(fail)?,
                            None => true,
                        };
                        taken = holds.then_some(at);
                    }
                    if let Some(start) = taken {
                        self.run_block(start + 1, dot, out)?;
                    }
                    index = end_at + 1;
                }
                call => {
                    out.push_str(&call.run(dot).map_err(fail)?);
                    index += 1;
                }
            }
        }
        Ok(index)
    }

    /// The `else` parts (if any) and the `end` of the block opened, or continued by an `else`,
    /// at `opening` (checked at parse).
    fn block_ends(&self, opening: usize) -> (Vec<usize>, usize) {
        let mut depth = 0;
        let mut branches = Vec::new();
        for (index, part) in self.parts.iter().enumerate().skip(opening + 1) {
            let Part::Action { call, .. } = part else { continue };
            match call {
                Call::Range(_) | Call::If(_) => depth += 1,
                Call::Else(_) if depth == 0 => branches.push(index),
                Call::End if depth == 0 => return (branches, index),
                Call::End => depth -= 1,
                _ => {}
            }
        }
        (branches, self.parts.len())
    }

    /// Checks that every `range` and `if` has its `end`, `else` and `end` an opening, and
    /// `else if` an `if` (before its plain `else`).
    fn check_blocks(parts: &[Part]) -> Result<(), TemplateError> {
        // Per open block: whether it is an `if`, and whether it has had its plain `else`.
        let mut open: Vec<(bool, bool)> = Vec::new();
        for part in parts {
            let Part::Action { call, .. } = part else { continue };
            match call {
                Call::Range(_) => open.push((false, false)),
                Call::If(_) => open.push((true, false)),
                Call::Else(condition) => match (open.last_mut(), condition) {
                    (Some((_, had_else @ false)), None) => *had_else = true,
                    (Some((true, false)), Some(_)) => {}
                    _ => return Err(TemplateError::Parse("unexpected {{else}}".to_owned())),
                },
                Call::End => {
                    open.pop().ok_or_else(|| TemplateError::Parse("unexpected {{end}}".to_owned()))?;
                }
                _ => {}
            }
        }
        match open.is_empty() {
            true => Ok(()),
            false => Err(TemplateError::Parse("unexpected EOF".to_owned())),
        }
    }

    /// The header row: each action replaced by its field's column name. Docker heads a table by
    /// running the template on the column names, which are never empty, so an `if` takes its
    /// first branch and its `else` branches print nothing.
    fn header(&self, columns: &Columns<'_>) -> String {
        let mut out = String::new();
        let mut index = 0;
        while let Some(part) = self.parts.get(index) {
            match part {
                Part::Text(text) => out.push_str(text),
                // The first branch is headed: the header goes on at its block's `end`.
                Part::Action { call: Call::Else(_), .. } => index = self.block_ends(index).1,
                Part::Action { call, .. } => out.push_str(&call.header(columns)),
            }
            index += 1;
        }
        out
    }
}

/// Where the action that `text` starts inside ends: the first `}}` outside a quoted string, as
/// Go's lexer reads `{{join .Cmd "}}"}}`.
fn action_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut in_quotes = false;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if in_quotes => at += 1,
            b'"' => in_quotes = !in_quotes,
            b'}' if !in_quotes && bytes.get(at + 1) == Some(&b'}') => return Some(at),
            _ => {}
        }
        at += 1;
    }
    None
}

/// Parses an action's words.
fn parse_call(text: &str) -> Result<Call, TemplateError> {
    let words = split_words(text)?;
    let path = |word: Option<&String>| -> Result<Vec<String>, TemplateError> {
        let word = word.ok_or_else(|| TemplateError::Parse(format!("missing argument in {text:?}")))?;
        field_path(word)
    };
    let quoted = |word: &String| -> Result<String, TemplateError> {
        word.strip_prefix('"')
            .and_then(|w| w.strip_suffix('"'))
            .map(str::to_owned)
            .ok_or_else(|| TemplateError::Parse(format!("expected a quoted string, got {word}")))
    };
    let arity = |n: usize| match words.len() == n {
        true => Ok(()),
        false => Err(TemplateError::Parse(format!("wrong number of args in {text:?}"))),
    };
    match words.first().map(String::as_str) {
        None => Err(TemplateError::Parse("missing value for command".to_owned())),
        Some(word) if word.starts_with('.') => {
            arity(1)?;
            Ok(Call::Print(field_path(word)?))
        }
        Some("json") => arity(2).and_then(|()| Ok(Call::Json(path(words.get(1))?))),
        Some("upper" | "lower") => arity(2).and_then(|()| Ok(Call::Case(path(words.get(1))?, words[0] == "upper"))),
        Some("join") => arity(3).and_then(|()| Ok(Call::Join(path(words.get(1))?, quoted(&words[2])?))),
        Some("index") if words.len() >= 3 => {
            let key = |word: &String| match word.parse::<usize>() {
                Ok(position) => Ok(IndexKey::Position(position)),
                Err(_) => quoted(word).map(IndexKey::Name),
            };
            Ok(Call::Index(path(words.get(1))?, words[2..].iter().map(key).collect::<Result<_, _>>()?))
        }
        Some("len") => arity(2).and_then(|()| Ok(Call::Len(path(words.get(1))?))),
        Some("range") => arity(2).and_then(|()| Ok(Call::Range(path(words.get(1))?))),
        Some("if") => match words.get(1).map(String::as_str) {
            Some(test @ ("eq" | "ne")) => {
                arity(4)?;
                Ok(Call::If(Condition::Equals(path(words.get(2))?, quoted(&words[3])?, test == "eq")))
            }
            _ => arity(2).and_then(|()| Ok(Call::If(Condition::Truthy(path(words.get(1))?)))),
        },
        Some("else") if words.len() == 1 => Ok(Call::Else(None)),
        Some("else") => match parse_call(text.trim_start_matches("else").trim_start())? {
            Call::If(condition) => Ok(Call::Else(Some(condition))),
            _ => Err(TemplateError::Parse(format!("unexpected {text:?} in else"))),
        },
        Some("end") => arity(1).map(|()| Call::End),
        Some("index") => Err(TemplateError::Parse(format!("wrong number of args in {text:?}"))),
        Some(other) => Err(TemplateError::Parse(format!("function {other:?} not defined"))),
    }
}

/// Splits an action into words; a quoted string (with `\"` escapes) is one word, quotes kept.
fn split_words(text: &str) -> Result<Vec<String>, TemplateError> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            word.push(c);
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => word.extend(chars.next()),
                    '"' => {
                        closed = true;
                        break;
                    }
                    _ => word.push(c),
                }
            }
            if !closed {
                return Err(TemplateError::Parse("unterminated quoted string".to_owned()));
            }
            word.push('"');
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

/// `.A.B` as its field names (`.` is the empty path).
fn field_path(word: &str) -> Result<Vec<String>, TemplateError> {
    if word == "." {
        return Ok(Vec::new());
    }
    let names: Vec<String> = word.strip_prefix('.').unwrap_or(word).split('.').map(str::to_owned).collect();
    if !word.starts_with('.')
        || names.iter().any(|n| n.is_empty() || !n.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return Err(TemplateError::Parse(format!("bad field reference {word:?}")));
    }
    Ok(names)
}

impl Call {
    fn run(&self, row: &serde_json::Value) -> Result<String, String> {
        match self {
            Self::Print(path) => Ok(lookup(row, path)?.map_or_else(|| "<no value>".to_owned(), go_string)),
            Self::Json(path) => Ok(lookup(row, path)?.map_or_else(|| "null".to_owned(), |v| v.to_string())),
            Self::Case(path, upper) => {
                let text = lookup(row, path)?.map(go_string).unwrap_or_default();
                Ok(if *upper { text.to_uppercase() } else { text.to_lowercase() })
            }
            Self::Join(path, separator) => match lookup(row, path)? {
                Some(serde_json::Value::Array(items)) => {
                    Ok(items.iter().map(go_string).collect::<Vec<_>>().join(separator))
                }
                Some(serde_json::Value::Null) | None => Ok(String::new()),
                Some(other) => Err(format!("wrong type for value; expected []string; got {}", go_type(other))),
            },
            Self::Index(path, keys) => {
                let mut value = lookup(row, path)?.cloned().unwrap_or(serde_json::Value::Null);
                for key in keys {
                    value = match (&value, key) {
                        (serde_json::Value::Object(map), IndexKey::Name(key)) => {
                            map.get(key).cloned().unwrap_or(serde_json::Value::Null)
                        }
                        (serde_json::Value::Array(items), IndexKey::Position(position)) => items
                            .get(*position)
                            .cloned()
                            .ok_or_else(|| format!("error calling index: index out of range: {position}"))?,
                        (serde_json::Value::Null, _) => serde_json::Value::Null,
                        (other, IndexKey::Name(_)) => {
                            return Err(format!("error calling index: cannot index {} with string", go_type(other)));
                        }
                        (other, IndexKey::Position(_)) => {
                            return Err(format!("error calling index: cannot index {} with int", go_type(other)));
                        }
                    };
                }
                // A missing key gives the map's zero value, which for docker's string maps is "".
                Ok(if value.is_null() { String::new() } else { go_string(&value) })
            }
            Self::Len(path) => match lookup(row, path)? {
                Some(serde_json::Value::Array(items)) => Ok(items.len().to_string()),
                Some(serde_json::Value::Object(map)) => Ok(map.len().to_string()),
                Some(serde_json::Value::String(text)) => Ok(text.len().to_string()),
                Some(serde_json::Value::Null) | None => Ok("0".to_owned()),
                Some(other) => Err(format!("error calling len: len of type {}", go_type(other))),
            },
            // Blocks are run by the template, not as a value.
            Self::Range(_) | Self::If(_) | Self::Else(_) | Self::End => Ok(String::new()),
        }
    }

    fn header(&self, columns: &Columns<'_>) -> String {
        let path = match self {
            Self::Print(path) | Self::Json(path) | Self::Case(path, _) | Self::Join(path, _) | Self::Len(path) => path,
            Self::Index(..) | Self::Range(_) | Self::If(_) | Self::Else(_) | Self::End => return String::new(),
        };
        let Some(field) = path.first() else { return String::new() };
        columns
            .headers
            .iter()
            .find(|(name, _)| name == field)
            .map_or_else(|| field.to_uppercase(), |(_, header)| (*header).to_owned())
    }
}

impl Condition {
    /// Whether it holds for `dot`.
    fn holds(&self, dot: &serde_json::Value) -> Result<bool, String> {
        match self {
            Self::Truthy(path) => Ok(match lookup(dot, path)? {
                None | Some(serde_json::Value::Null | serde_json::Value::Bool(false)) => false,
                Some(serde_json::Value::String(text)) => !text.is_empty(),
                Some(serde_json::Value::Array(items)) => !items.is_empty(),
                Some(serde_json::Value::Object(map)) => !map.is_empty(),
                Some(serde_json::Value::Number(number)) => number.as_f64() != Some(0.0),
                Some(serde_json::Value::Bool(true)) => true,
            }),
            Self::Equals(path, text, equal) => {
                let value = lookup(dot, path)?.map(go_string).unwrap_or_default();
                Ok((value == *text) == *equal)
            }
        }
    }
}

/// Follows `path` from a row: its top level must have the first field (a struct), deeper
/// levels are maps (`Ok(None)`: no such key).
fn lookup<'v>(row: &'v serde_json::Value, path: &[String]) -> Result<Option<&'v serde_json::Value>, String> {
    let mut value = row;
    for (depth, name) in path.iter().enumerate() {
        value = match value {
            serde_json::Value::Object(map) => match map.get(name) {
                Some(next) => next,
                None if depth == 0 => return Err(format!("can't evaluate field {name}")),
                None => return Ok(None),
            },
            serde_json::Value::Null => return Ok(None),
            other => return Err(format!("can't evaluate field {name} in type {}", go_type(other))),
        };
    }
    Ok(Some(value))
}

/// A value as Go's `fmt` prints it in a template.
fn go_string(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "<nil>".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => format!("[{}]", items.iter().map(go_string).collect::<Vec<_>>().join(" ")),
        serde_json::Value::Object(map) => {
            let mut text = String::from("map[");
            for (i, (key, item)) in map.iter().enumerate() {
                let _ = write!(text, "{}{key}:{}", if i > 0 { " " } else { "" }, go_string(item));
            }
            text.push(']');
            text
        }
        other => other.to_string(),
    }
}

/// A value's type as Go's errors name it.
fn go_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "interface {}",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "int",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "[]interface {}",
        serde_json::Value::Object(_) => "map[string]interface {}",
    }
}

/// Renders `rows` in `format`: the whole output, each line ending in a newline.
pub fn render(format: &Format, rows: &[serde_json::Value], columns: &Columns<'_>) -> Result<String, TemplateError> {
    let mut out = String::new();
    match format {
        Format::Json => {
            for row in rows {
                out.push_str(&row.to_string());
                out.push('\n');
            }
        }
        Format::Template(template) => {
            for row in rows {
                out.push_str(&template.execute(row)?);
                out.push('\n');
            }
        }
        Format::Table(template) => {
            let default;
            let template = match template {
                Some(template) => template,
                None => {
                    default = Template::parse(columns.default_table)?;
                    &default
                }
            };
            // Rows first, as docker: a row that fails fails the command before any header.
            let mut text = template.header(columns);
            text.push('\n');
            for row in rows {
                text.push_str(&template.execute(row)?);
                text.push('\n');
            }
            out = tabwriter(&text);
        }
    }
    Ok(out)
}

/// Aligns tab-separated cells as Go's `text/tabwriter` with docker's settings (minimum width
/// 10, padding 3, spaces): a cell ended by a tab is padded to its column's width, which runs
/// over the consecutive lines that have that column; a line's last cell is not padded.
fn tabwriter(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|line| line.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|cells| vec![0; cells.len().saturating_sub(1)]).collect();
    let columns = widths.iter().map(Vec::len).max().unwrap_or(0);
    for column in 0..columns {
        let mut start = 0;
        while start < lines.len() {
            if widths[start].len() <= column {
                start += 1;
                continue;
            }
            let end = (start..lines.len()).find(|&i| widths[i].len() <= column).unwrap_or(lines.len());
            let width = (start..end).map(|i| lines[i][column].chars().count() + 3).max().unwrap_or(0).max(10);
            for row in &mut widths[start..end] {
                row[column] = width;
            }
            start = end;
        }
    }
    let mut out = String::new();
    for (cells, widths) in lines.iter().zip(&widths) {
        for (i, cell) in cells.iter().enumerate() {
            match widths.get(i) {
                Some(width) => {
                    let _ = write!(out, "{cell:<width$}");
                }
                None => out.push_str(cell),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COLUMNS: Columns<'static> = Columns {
        default_table: "{{.Repository}}\\t{{.Tag}}\\t{{.ID}}",
        headers: &[("Repository", "REPOSITORY"), ("Tag", "TAG"), ("ID", "IMAGE ID")],
    };

    fn rows() -> Vec<serde_json::Value> {
        vec![
            json!({ "Repository": "busybox", "Tag": "latest", "ID": "0123456789ab", "Labels": { "a": "1" }, "Cmd": ["sh", "-c"] }),
            json!({ "Repository": "a-much-longer-name", "Tag": "1", "ID": "ba9876543210", "Labels": {}, "Cmd": null }),
        ]
    }

    fn rendered(format: &str) -> Result<String, TemplateError> {
        render(&Format::parse(format)?, &rows(), &COLUMNS)
    }

    #[test]
    fn range_if_len_and_positions_work_as_go_templates() {
        let each = rendered("{{range .Cmd}}<{{.}}>{{else}}none{{end}} {{len .Cmd}} {{len .Labels}}").expect("renders");
        assert_eq!(each, "<sh><-c> 2 1\nnone 0 0\n");
        let test =
            rendered(r#"{{if eq .Tag "latest"}}newest{{else}}{{.Tag}}{{end}}{{if .Cmd}}!{{end}}"#).expect("renders");
        assert_eq!(test, "newest!\n1\n");
        let nested =
            rendered(r#"{{if ne .Tag "1"}}{{range .Cmd}}{{if eq . "sh"}}S{{end}}{{end}}{{end}}|"#).expect("renders");
        assert_eq!(nested, "S|\n|\n");
        assert_eq!(
            rendered("{{index .Cmd 1}}").map_err(|e| e.to_string()).unwrap_or_default().lines().next(),
            Some("-c")
        );
        let chain = rendered(r#"{{if eq .Tag "x"}}x{{else if eq .Tag "1"}}one{{else if .Cmd}}cmd{{else}}none{{end}}"#);
        assert_eq!(chain.expect("renders"), "cmd\none\n");
        for bad in [
            "{{range .Cmd}}",
            "{{end}}",
            "{{if .Tag}}{{else}}{{else}}{{end}}",
            "{{if .Tag}}{{else}}{{else if .Cmd}}{{end}}",
            "{{range .Cmd}}{{else if .Tag}}{{end}}",
        ] {
            assert!(matches!(rendered(bad), Err(TemplateError::Parse(_))), "{bad}");
        }
    }

    #[test]
    fn the_default_table_aligns_as_docker() {
        let expected = "REPOSITORY           TAG       IMAGE ID\n\
                        busybox              latest    0123456789ab\n\
                        a-much-longer-name   1         ba9876543210\n";
        assert_eq!(rendered("table").as_deref(), Ok(expected));
        assert_eq!(rendered("").as_deref(), Ok(expected));
    }

    #[test]
    fn a_table_template_heads_its_own_columns() {
        let expected = "IMAGE ID       TAG\n0123456789ab   latest\nba9876543210   1\n";
        assert_eq!(rendered("table {{.ID}}\\t{{.Tag}}").as_deref(), Ok(expected));
        assert_eq!(render(&Format::parse("table {{.ID}}").expect("parse"), &[], &COLUMNS).as_deref(), Ok("IMAGE ID\n"));
        // The header takes an `if`'s first branch, as docker's run on the (non-empty) names does.
        let branches = "table {{.ID}}\\t{{if .Cmd}}{{.Tag}}{{else if .Labels}}x{{else}}-{{end}}";
        let expected = "IMAGE ID       TAG\n0123456789ab   latest\nba9876543210   -\n";
        assert_eq!(rendered(branches).as_deref(), Ok(expected));
    }

    #[test]
    fn a_quoted_string_may_hold_the_closing_braces() {
        assert_eq!(rendered(r#"{{join .Cmd "}}"}}|{{if eq .Tag "{{"}}{{end}}"#).as_deref(), Ok("sh}}-c|\n|\n"));
        assert_eq!(rendered(r#"{{join .Cmd "\"}}"}}"#).as_deref(), Ok("sh\"}}-c\n\n"));
    }

    #[test]
    fn templates_print_fields_json_and_map_entries() {
        assert_eq!(rendered("{{.Repository}}:{{.Tag}}").as_deref(), Ok("busybox:latest\na-much-longer-name:1\n"));
        assert_eq!(rendered("{{json .Labels}}").as_deref(), Ok("{\"a\":\"1\"}\n{}\n"));
        assert_eq!(rendered("{{index .Labels \"a\"}}|").as_deref(), Ok("1|\n|\n"));
        assert_eq!(rendered("{{.Labels.a}}").as_deref(), Ok("1\n<no value>\n"));
        assert_eq!(rendered("{{.Cmd}} {{join .Cmd \",\"}}").as_deref(), Ok("[sh -c] sh,-c\n<nil> \n"));
        assert_eq!(rendered("{{upper .Tag}}").as_deref(), Ok("LATEST\n1\n"));
        assert_eq!(rendered("x {{- .Tag -}} y").as_deref(), Ok("xlatesty\nx1y\n"));
        assert_eq!(rendered("{{.Tag}}\\n").as_deref(), Ok("latest\n\n1\n\n"));
        let json = rendered("{{json .}}").expect("json");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(json.lines().next().unwrap_or("")).ok(),
            Some(rows()[0].clone())
        );
        assert_eq!(rendered("json").expect("json"), json);
    }

    #[test]
    fn an_unknown_field_or_function_is_an_error() {
        assert_eq!(
            rendered("{{.Nope}}").map_err(|e| e.to_string()),
            Err("template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope".to_owned())
        );
        assert!(matches!(rendered("{{.Tag"), Err(TemplateError::Parse(_))));
        assert!(matches!(rendered("{{frob .Tag}}"), Err(TemplateError::Parse(_))));
        assert!(matches!(rendered("{{index .Labels a}}"), Err(TemplateError::Parse(_))));
        assert!(matches!(rendered("{{.Tag.x}}"), Err(TemplateError::Execute { .. })));
    }

    #[test]
    fn tabwriter_columns_run_over_the_lines_that_have_them() {
        assert_eq!(tabwriter("a\tb\tc\nlonger cell\tb\n"), "a             b         c\nlonger cell   b\n");
        assert_eq!(tabwriter("only\n"), "only\n");
    }
}

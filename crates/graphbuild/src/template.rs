//! docker's `--format`: `table` (the command's default table), `table TEMPLATE` (a header row
//! of the fields' column names, then a row per item, aligned as Go's tabwriter aligns docker's),
//! `json` (an object per line), or a Go template subset for each item: `{{.Field}}`,
//! `{{.Field.Sub}}`, `{{json .}}`, `{{json .Field}}`, `{{index .Map "key"}}`, with `\t` and
//! `\n` written as docker writes them.
//!
//! Use: [`print`]`(format, default_table, rows, columns)`, where rows are JSON objects with
//! docker's field names and columns maps a field to its header (`("ID", "CONTAINER ID")`).

use crate::exit::Failure;
use crate::stdout::out;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text written as it is.
    Text(String),
    /// `{{.A.B}}`: a field (the path; empty for `.`).
    Field(Vec<String>),
    /// `{{json .A}}`: a value as JSON.
    Json(Vec<String>),
    /// `{{index .A "k"}}`: a map's entry.
    Index(Vec<String>, String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// `.A.B` as a path; `.` as the empty path.
fn path(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('.') else { return Err(format!("unexpected {text:?} in operand")) };
    Ok(rest.split('.').filter(|p| !p.is_empty()).map(str::to_owned).collect())
}

impl Template {
    /// Parses a template; docker's `\t` and `\n` escapes become a tab and a newline.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.replace("\\t", "\t").replace("\\n", "\n");
        let mut pieces = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| "unclosed action".to_owned())?;
            let action = after[..close].trim().trim_start_matches('-').trim_end_matches('-').trim();
            pieces.push(Self::action(action)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self { pieces })
    }

    fn action(action: &str) -> Result<Piece, String> {
        let words: Vec<&str> = action.split_whitespace().collect();
        match words.as_slice() {
            [field] if field.starts_with('.') => Ok(Piece::Field(path(field)?)),
            ["json", field] => Ok(Piece::Json(path(field)?)),
            ["index", field, key] => Ok(Piece::Index(path(field)?, key.trim_matches('"').to_owned())),
            _ => Err(format!("function {:?} not defined", words.first().unwrap_or(&""))),
        }
    }

    /// The template applied to one item.
    pub fn render(&self, item: &serde_json::Value) -> Result<String, String> {
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(literal) => text.push_str(literal),
                Piece::Field(path) => text.push_str(&plain(lookup(item, path)?)),
                Piece::Json(path) => text.push_str(&lookup(item, path)?.to_string()),
                Piece::Index(path, key) => text.push_str(&plain(&lookup(item, path)?[key.as_str()])),
            }
        }
        Ok(text)
    }

    /// The header row: each field's column name (the field's own name, upper-cased, when
    /// `columns` does not name it).
    fn header(&self, columns: &[(&str, &str)]) -> String {
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(literal) => text.push_str(literal),
                Piece::Field(path) | Piece::Json(path) | Piece::Index(path, _) => {
                    let field = path.join(".");
                    let name = columns
                        .iter()
                        .find(|(f, _)| *f == field)
                        .map_or_else(|| field.to_uppercase(), |(_, c)| (*c).to_owned());
                    text.push_str(&name);
                }
            }
        }
        text
    }
}

/// A value as Go's template prints it: strings bare, null as `<no value>`.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "<no value>".to_owned(),
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(plain).collect::<Vec<_>>().join(" "))
        }
        serde_json::Value::Object(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{}", plain(v))).collect();
            format!("map[{}]", entries.join(" "))
        }
        other => other.to_string(),
    }
}

/// The value at `path` in `item`; an unknown field is an error, as in Go.
fn lookup<'a>(item: &'a serde_json::Value, path: &[String]) -> Result<&'a serde_json::Value, String> {
    let mut value = item;
    for part in path {
        value = match value {
            serde_json::Value::Object(map) => {
                map.get(part).ok_or_else(|| format!("can't evaluate field {part} in type {}", kind(value)))?
            }
            _ => return Err(format!("can't evaluate field {part} in type {}", kind(value))),
        };
    }
    Ok(value)
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        _ => "value",
    }
}

/// Lines of tab-separated cells aligned as docker's tabwriter (minimum width 10, padding 3);
/// the last cell of a line is not padded.
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max((cell.chars().count() + 3).max(10));
        }
    }
    let mut text = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Renders `rows` with `format` (`table` uses `default_table`) and prints them.
pub fn print(
    format: &str,
    default_table: &str,
    rows: &[serde_json::Value],
    columns: &[(&str, &str)],
) -> Result<(), Failure> {
    let text = render(format, default_table, rows, columns).map_err(|e| Failure::Input(format!("template: {e}")))?;
    out!("{text}");
    Ok(())
}

/// What [`print`] prints.
pub fn render(
    format: &str,
    default_table: &str,
    rows: &[serde_json::Value],
    columns: &[(&str, &str)],
) -> Result<String, String> {
    let format = if format == "table" { default_table } else { format };
    if format == "json" {
        return Ok(rows.iter().map(|row| format!("{row}\n")).collect());
    }
    if let Some(table) = format.strip_prefix("table") {
        let template = Template::parse(table.trim_start())?;
        let mut lines = vec![template.header(columns)];
        for row in rows {
            lines.push(template.render(row)?);
        }
        return Ok(align(&lines));
    }
    let template = Template::parse(format)?;
    rows.iter().map(|row| template.render(row).map(|line| format!("{line}\n"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<serde_json::Value> {
        vec![
            serde_json::json!({"Repository": "app", "Tag": "1", "ID": "abc", "Labels": {"a": "b"}}),
            serde_json::json!({"Repository": "busybox", "Tag": "latest", "ID": "def", "Labels": {}}),
        ]
    }

    #[test]
    fn templates_print_fields_json_and_index() {
        let text = render("{{.Repository}}:{{.Tag}}", "", &rows(), &[]).expect("renders");
        assert_eq!(text, "app:1\nbusybox:latest\n");
        let text = render("{{json .Labels}} {{index .Labels \"a\"}}", "", &rows()[..1], &[]).expect("renders");
        assert_eq!(text, "{\"a\":\"b\"} b\n");
        assert!(
            render("{{.Nope}}", "", &rows(), &[]).expect_err("an unknown field").contains("can't evaluate field Nope")
        );
        assert_eq!(render("json", "", &rows()[..1], &[]).expect("renders").lines().count(), 1);
    }

    #[test]
    fn tables_have_docker_headers_and_alignment() {
        let columns = [("ID", "IMAGE ID")];
        let text = render("table", "table {{.Repository}}\\t{{.ID}}", &rows(), &columns).expect("renders");
        assert_eq!(text, "REPOSITORY   IMAGE ID\napp          abc\nbusybox      def\n");
    }
}

//! Rendering failures and warnings for people: `file:line:col`, the message, the source line
//! with a caret under the place, and a hint.

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};

use crate::exit::Failure;

/// Prints a failure to standard error.
pub fn print_failure(failure: &Failure) {
    use std::io::Write as _;
    if failure.is_broken_pipe() {
        return;
    }
    let _ = write!(crate::session::current().stderr(), "{}", render_failure(failure));
}

/// The text [`print_failure`] prints.
pub fn render_failure(failure: &Failure) -> String {
    match failure {
        Failure::Dockerfile { error, file, source_text } => {
            let mut out = if error.line > 0 {
                format!("error: {file}:{}:{}: {}\n", error.line, error.column, error.message)
            } else {
                format!("error: {file}: {}\n", error.message)
            };
            if error.span.is_some() {
                let report = miette::Report::new((**error).clone())
                    .with_source_code(NamedSource::new(file, source_text.clone()));
                let handler =
                    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_context_lines(1);
                let mut rendered = String::new();
                if handler.render_report(&mut rendered, report.as_ref()).is_ok() {
                    out.push_str(&rendered);
                    if !rendered.ends_with('\n') {
                        out.push('\n');
                    }
                }
            } else if let Some(help) = &error.help {
                out.push_str(&format!("  help: {help}\n"));
            }
            out
        }
        Failure::Input(message) | Failure::Environment(message) => format!("error: {message}\n"),
        Failure::Client(_) | Failure::Engine(_) | Failure::Registry(_) | Failure::Os { .. } | Failure::Container(_) => {
            format!("error: {failure}\n")
        }
        Failure::WithStatus { failure, .. } => render_failure(failure),
        Failure::Exited(_) => String::new(),
        Failure::Solve { error, dockerfile } => render_solve_failure(error, dockerfile.as_ref()),
    }
}

/// Prints a front-end warning to standard error: `warning: FILE:LINE: ` then the build check's
/// name (for a check's finding) and the message.
pub fn print_warning(file: &str, warning: &gb_dockerfile::Warning) {
    let rule = warning.rule.map(|rule| format!("{}: ", rule.name())).unwrap_or_default();
    match warning.line {
        Some(line) => crate::session::errln!("warning: {file}:{line}: {rule}{}", warning.message),
        None => crate::session::errln!("warning: {rule}{}", warning.message),
    }
}

/// A build check's finding as `docker build --check` prints it: a blank line, `WARNING: RULE -
/// URL`, the message, then the Dockerfile's lines around it (BuildKit's `errdefs.Source.Print`:
/// two lines of context each side, four for a one-line range, the line itself marked `>>>`).
pub fn render_check_warning(file: &str, text: &str, warning: &gb_dockerfile::Warning) -> String {
    let mut out = String::from("\nWARNING: ");
    match warning.rule {
        Some(rule) => match rule.url() {
            Some(url) => out.push_str(&format!("{} - {url}\n", rule.name())),
            None => out.push_str(&format!("{}\n", rule.name())),
        },
        None => out.push('\n'),
    }
    out.push_str(&warning.message);
    out.push('\n');
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(line) = warning.line.filter(|line| (1..=lines.len()).contains(line)) else { return out };
    let (mut start, mut end) = (line, line);
    let mut padded = 0;
    while padded < 4 {
        if start > 1 {
            start -= 1;
            padded += 1;
        }
        if end != lines.len() {
            end += 1;
            padded += 1;
        }
        padded += 1;
    }
    out.push_str(&format!("{file}:{line}\n--------------------\n"));
    for number in start..=end {
        let marker = if number == line { ">>>" } else { "   " };
        out.push_str(&format!(" {number:>3} | {marker} {}\n", lines[number - 1]));
    }
    out.push_str("--------------------\n");
    out
}

fn render_solve_failure(error: &gb_solver::SolveError, dockerfile: Option<&(String, String)>) -> String {
    let mut out = String::new();
    let place = match (error.location(), dockerfile) {
        (Some(location), Some((file, _))) => format!("{file}:{}: ", location.start_line),
        (Some(location), None) => format!("{}:{}: ", location.file, location.start_line),
        _ => String::new(),
    };
    out.push_str(&format!("error: {place}{error}\n"));
    if let (Some(location), Some((_, text))) = (error.location(), dockerfile) {
        for (number, line) in text
            .lines()
            .enumerate()
            .skip(location.start_line.saturating_sub(1))
            .take(location.end_line + 1 - location.start_line)
        {
            out.push_str(&format!("  {:>4} | {line}\n", number + 1));
        }
    }
    if let gb_solver::SolveError::NotEntitled { entitlement, .. } = error {
        out.push_str(&format!(
            "  help: grant it with `--allow {entitlement}`, which `entitlements = [\"{entitlement}\"]` in \
             $GRAPHBUILD_ROOT/config.toml must permit\n"
        ));
    }
    if let gb_solver::SolveError::RunFailed { last_lines, .. } = error
        && !last_lines.is_empty()
    {
        out.push_str("  last output:\n");
        for line in last_lines {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

//! The section format of the data-driven case files (`tests/data/buildkit`, `tests/data/explain`):
//! a header line `=== KIND` or `=== KIND: ARGUMENT` starts a section, whose body is the text up
//! to the next header, less the line break ending its last line.

/// One section of a case file.
pub struct Section {
    pub kind: String,
    pub argument: String,
    pub body: String,
}

/// The sections of `text`, in order; lines before the first header are comments.
pub fn sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(header) = line.strip_prefix("=== ") {
            let header = header.trim_end_matches('\n');
            let (kind, argument) = match header.split_once(": ") {
                Some((kind, argument)) => (kind.trim(), argument.trim()),
                None => (header.trim(), ""),
            };
            sections.push(Section { kind: kind.to_owned(), argument: argument.to_owned(), body: String::new() });
        } else if let Some(section) = sections.last_mut() {
            section.body.push_str(line);
        }
    }
    for section in &mut sections {
        if section.body.ends_with('\n') {
            section.body.pop();
        }
    }
    sections
}

/// The `.case` files of `dir` whose path contains the value of the environment variable
/// `filter_variable` (all when it is unset), sorted.
pub fn case_paths(dir: &std::path::Path, filter_variable: &str) -> Vec<std::path::PathBuf> {
    let filter = std::env::var(filter_variable).unwrap_or_default();
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "case"))
        .filter(|path| path.to_string_lossy().contains(&filter))
        .collect();
    paths.sort();
    paths
}

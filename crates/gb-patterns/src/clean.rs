//! Go's `filepath.Clean` for `/`-separated paths, and the normalisation Docker applies to patterns and paths.

/// Cleans a path as Go's `path.Clean` does: collapses `//`, drops `.` elements, resolves `..`
/// against the element before it (or drops it right after a leading `/`), and removes a
/// trailing `/`. An empty result is `.`.
pub fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `/..` is `/`; a relative path keeps leading `..` elements.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// A pattern after Docker's normalisation: whether it is an exception, and its cleaned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NormalizedPattern {
    /// The pattern started with `!`.
    pub(crate) exception: bool,
    /// The cleaned pattern, without the `!`; empty only for a lone `!`.
    pub(crate) text: String,
}

impl NormalizedPattern {
    /// The pattern as it would be written: `!` followed by the text for an exception.
    pub(crate) fn source(&self) -> String {
        if self.exception { format!("!{}", self.text) } else { self.text.clone() }
    }
}

/// Normalises one pattern as `ignorefile.ReadAll` and then `patternmatcher.New` do: trims
/// whitespace, splits off one leading `!` (trimming again after it), cleans the rest with
/// [`go_clean`] and drops one leading `/` (unless the pattern is just `/`). Docker trims and
/// cleans again in `New`, so this repeats until nothing changes, which also makes it
/// idempotent. Returns `None` for a pattern that ends up blank; a lone `!` (or `!/`, which
/// Docker cleans to `!`) is an exception with empty text.
pub(crate) fn normalize_pattern(raw: &str) -> Option<NormalizedPattern> {
    let mut exception = false;
    let mut text = raw.trim().to_owned();
    loop {
        let before = (exception, text.len());
        if !exception && let Some(rest) = text.strip_prefix('!') {
            exception = true;
            text = rest.trim().to_owned();
        }
        if !text.is_empty() {
            // Cleaning only ever shortens a path, so this loop ends.
            let mut cleaned = go_clean(&text);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            text = cleaned.trim().to_owned();
        }
        if (exception, text.len()) == before {
            break;
        }
    }
    if exception && text == "/" {
        text.clear();
    }
    (exception || !text.is_empty()).then_some(NormalizedPattern { exception, text })
}

/// Normalises a path to match: cleaned, relative, with the context root as `""`.
pub(crate) fn normalize_path(path: &str) -> String {
    let cleaned = go_clean(path);
    match cleaned.strip_prefix('/') {
        Some(rest) => rest.to_owned(),
        None if cleaned == "." => String::new(),
        None => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::{go_clean, normalize_path};

    /// Cases from Go's `path.Clean` tests (src/path/path_test.go).
    #[test]
    fn clean_matches_go() {
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("/abc/def/", "/abc/def"),
            ("//abc", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ];
        for (input, want) in cases {
            assert_eq!(go_clean(input), want, "go_clean({input:?})");
        }
    }

    #[test]
    fn paths_become_relative() {
        for (input, want) in [("", ""), (".", ""), ("/", ""), ("./a/", "a"), ("/a//b", "a/b")] {
            assert_eq!(normalize_path(input), want, "normalize_path({input:?})");
        }
    }
}

//! Paths inside the image: cleaning and joining with the working directory, as Go's `path`
//! package does (Docker's behaviour follows it).

/// Cleans a slash path lexically: no `.`, no `..` above the root, no doubled slashes.
pub(crate) fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// An absolute, cleaned path.
pub(crate) fn clean_absolute(path: &str) -> String {
    clean(&format!("/{path}"))
}

/// Resolves a path against the working directory (`/` when none).
pub(crate) fn join_workdir(workdir: Option<&str>, path: &str) -> String {
    if path.starts_with('/') {
        return clean(path);
    }
    clean(&format!("{}/{path}", workdir.unwrap_or("/")))
}

/// A destination resolved against the working directory, keeping a trailing `/` (or a final
/// `.`) that says "into this directory".
pub(crate) fn resolve_dest(workdir: Option<&str>, dest: &str) -> String {
    let is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.") || dest.is_empty();
    let joined = join_workdir(workdir, dest);
    if is_dir && !joined.ends_with('/') { format!("{joined}/") } else { joined }
}

/// A context path made relative to the context root; `..` can never climb above it.
pub(crate) fn context_relative(path: &str) -> String {
    let cleaned = clean_absolute(path);
    cleaned.trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        for (input, expected) in
            [("/a/b/../c", "/a/c"), ("a//b/./c/", "a/b/c"), ("/../x", "/x"), ("../x", "../x"), ("", "."), ("/", "/")]
        {
            assert_eq!(clean(input), expected, "{input}");
        }
    }

    #[test]
    fn destinations_keep_directory_intent() {
        assert_eq!(resolve_dest(Some("/app"), "."), "/app/");
        assert_eq!(resolve_dest(Some("/app"), "bin/"), "/app/bin/");
        assert_eq!(resolve_dest(None, "x"), "/x");
        assert_eq!(resolve_dest(Some("/w"), "/abs"), "/abs");
    }

    #[test]
    fn context_paths_never_escape() {
        assert_eq!(context_relative("../../etc/passwd"), "etc/passwd");
        assert_eq!(context_relative("./src/"), "src");
        assert_eq!(context_relative("."), "");
    }
}

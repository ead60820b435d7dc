//! Docker's `images --filter`: `dangling=true|false`, `reference=PATTERN`, `before=IMAGE`,
//! `since=IMAGE`, `label=KEY` and `label=KEY=VALUE`. Filters of one kind are alternatives
//! (any `reference` may match), different kinds must all hold, and every `label` must, as the
//! docker daemon applies them.

use crate::error::StoreError;
use crate::gc::find_image;
use crate::images::{ImageSummary, created_of};
use crate::root::StateRoot;

/// A parsed set of `--filter` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// `dangling=`: only images without a name (true) or only named ones (false).
    dangling: Option<bool>,
    /// `reference=`: glob patterns over `repository:tag` or the repository.
    references: Vec<String>,
    /// `before=`: only images created before this time (seconds since the epoch).
    before: Option<u64>,
    /// `since=`: only images created after this time.
    since: Option<u64>,
    /// `label=`: keys, with the value they must have if given.
    labels: Vec<(String, Option<String>)>,
}

impl ImageFilter {
    /// Reads `KEY=VALUE` filters; `before` and `since` name images of the store.
    pub fn parse(root: &StateRoot, filters: &[String]) -> Result<Self, StoreError> {
        let mut filter = Self::default();
        for text in filters {
            let Some((key, value)) = text.split_once('=') else {
                return Err(StoreError::InvalidFilter("bad format of filter (expected name=value)".to_owned()));
            };
            let invalid = || StoreError::InvalidFilter(format!("invalid filter '{text}'"));
            match key.trim().to_ascii_lowercase().as_str() {
                "dangling" => {
                    let wanted = match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(invalid()),
                    };
                    if filter.dangling.is_some_and(|earlier| earlier != wanted) {
                        return Err(invalid());
                    }
                    filter.dangling = Some(wanted);
                }
                "reference" => filter.references.push(value.to_owned()),
                "before" => filter.before = Some(created_of(&find_image(root, value)?.1)),
                "since" => filter.since = Some(created_of(&find_image(root, value)?.1)),
                "label" => filter.labels.push(match value.split_once('=') {
                    Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                    None => (value.to_owned(), None),
                }),
                _ => return Err(StoreError::InvalidFilter(format!("invalid filter '{key}'"))),
            }
        }
        Ok(filter)
    }

    /// Whether an image (one row of `images`) passes.
    pub fn matches(&self, image: &ImageSummary) -> bool {
        let dangling = image.name.is_dangling();
        self.dangling.is_none_or(|wanted| wanted == dangling)
            && (self.references.is_empty()
                || (!dangling && self.references.iter().any(|p| reference_matches(p, image))))
            && self.before.is_none_or(|time| image.created_unix < time)
            && self.since.is_none_or(|time| image.created_unix > time)
            && self.labels.iter().all(|(key, value)| {
                image.labels.get(key).is_some_and(|found| value.as_ref().is_none_or(|value| value == found))
            })
    }
}

/// Docker's `reference.FamiliarMatch`: the pattern (Go's `path.Match`) against `repo:tag`,
/// else against the repository alone.
fn reference_matches(pattern: &str, image: &ImageSummary) -> bool {
    let full = format!("{}:{}", image.repository, image.tag);
    path_match(pattern, &full) || path_match(pattern, &image.repository)
}

/// Go's `path.Match` without character classes: `*` is any run of characters but `/`, `?`
/// one character but `/`.
pub fn path_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (t.first().is_some_and(|c| *c != '/') && go(p, &t[1..])),
            (Some('?'), Some(c)) if *c != '/' => go(&p[1..], &t[1..]),
            (Some('\\'), Some(c)) if p.get(1) == Some(c) => go(&p[2..], &t[1..]),
            (Some(a), Some(b)) if a == b && *a != '?' => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_go_path_match() {
        assert!(path_match("busy*", "busybox"));
        assert!(path_match("busybox:*", "busybox:latest"));
        assert!(!path_match("*", "localhost:5000/app"));
        assert!(path_match("*/app", "localhost:5000/app"));
        assert!(path_match("a?c", "abc"));
        assert!(!path_match("a?c", "a/c"));
        assert!(!path_match("app", "apps"));
    }
}

//! Image references with Docker's normalization rules: `busybox` means
//! `docker.io/library/busybox:latest`.

use std::fmt;

use crate::digest::Sha256Digest;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    /// The registry host, with port when given (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// The repository path (`library/busybox`).
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The manifest digest pinned with `@sha256:...`.
    pub digest: Option<Sha256Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{reference}`: {reason}")]
pub struct ReferenceError {
    /// The text given.
    pub reference: String,
    /// What is wrong.
    pub reason: String,
}

/// The registry Docker uses when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The longest repository name Docker accepts (`NameTotalLengthMax`), registry included.
const MAX_NAME_LEN: usize = 255;

/// The longest tag Docker accepts: `[\w][\w.-]{0,127}`.
const MAX_TAG_LEN: usize = 128;

impl ImageReference {
    /// Parses `[registry/]path[:tag][@sha256:hex]` and normalizes it as Docker does.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError { reference: text.to_owned(), reason: reason.to_owned() };
        if text.is_empty() {
            return Err(err("it is empty"));
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest.parse::<Sha256Digest>().map_err(|e| err(e.reason))?)),
            None => (text, None),
        };
        // A tag is after the last `:` that follows the last `/`; a `:` before it is a port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(colon) => {
                let split = last_slash + colon;
                (&name_and_tag[..split], Some(name_and_tag[split + 1..].to_owned()))
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = &tag {
            // Docker's grammar: `[\w][\w.-]{0,127}`.
            let valid = !tag.is_empty()
                && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(err(
                    "the tag may hold only letters, digits, `_`, `.` and `-`, and not start with `.` or `-`",
                ));
            }
            if tag.len() > MAX_TAG_LEN {
                return Err(err(&format!("the tag must not be more than {MAX_TAG_LEN} characters")));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
        };
        let registry = if registry == "index.docker.io" { DEFAULT_REGISTRY.to_owned() } else { registry };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let path_ok = !repository.is_empty()
            && repository.split('/').all(|component| {
                !component.is_empty()
                    && component
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
                    && component.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                    && component.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
            });
        if !path_ok {
            return Err(err(
                "the repository name must be lowercase letters, digits and separators (`.`, `_`, `-`, `/`)",
            ));
        }
        // Docker measures the normalized name, registry included (`docker.io/library/x`).
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(err(&format!("the repository name must not be more than {MAX_NAME_LEN} characters")));
        }
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_owned()) } else { tag };
        Ok(Self { registry, repository, tag, digest })
    }

    /// Parses a name to give an image (`tag`, `build -t`): a reference as [`Self::parse`] takes
    /// it, but never one that pins a digest (`app@sha256:...`) or reads as an image id
    /// (`sha256:...`, 64 hex digits), which Docker refuses as new names because a later lookup
    /// by that text would be ambiguous or the name would claim content it does not verify.
    pub fn parse_new_name(text: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError { reference: text.to_owned(), reason: reason.to_owned() };
        let looks_like_id = text.strip_prefix("sha256:").is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if looks_like_id {
            return Err(err("refusing to create a tag with a digest reference"));
        }
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("cannot specify 64-byte hexadecimal strings"));
        }
        let reference = Self::parse(text)?;
        if reference.digest.is_some() {
            return Err(err("refusing to create a tag with a digest reference"));
        }
        Ok(reference)
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form Docker prints (`busybox:latest`, `localhost:5000/app:1`).
    pub fn familiar(&self) -> String {
        let mut name = if self.registry == DEFAULT_REGISTRY {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_owned()
        } else {
            self.name()
        };
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(&digest.to_string());
        }
        name
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("user/app", "docker.io/user/app:latest"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost/app:v1", "localhost/app:v1"),
            ("ghcr.io/owner/repo/sub:tag", "ghcr.io/owner/repo/sub:tag"),
            ("127.0.0.1:5000/x:y", "127.0.0.1:5000/x:y"),
            ("index.docker.io/library/debian:bookworm", "docker.io/library/debian:bookworm"),
        ];
        for (input, expected) in cases {
            assert_eq!(ImageReference::parse(input).map(|r| r.to_string()), Ok(expected.to_owned()), "{input}");
        }
        let pinned = format!("alpine@sha256:{}", "a".repeat(64));
        let parsed = ImageReference::parse(&pinned).expect("valid");
        assert_eq!(parsed.tag, None);
        assert_eq!(parsed.familiar(), pinned);
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["", "Busybox", "a:", "a//b", "x@sha256:zz", "-a"] {
            assert!(ImageReference::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn tags_follow_docker_grammar_and_length() {
        let longest = format!("app:_{}", "a.-".repeat(42) + "b");
        assert_eq!(longest.len() - 4, MAX_TAG_LEN);
        assert!(ImageReference::parse(&longest).is_ok(), "a tag of {MAX_TAG_LEN} characters is valid");
        let error = ImageReference::parse(&format!("app:{}", "a".repeat(MAX_TAG_LEN + 1))).expect_err("too long");
        assert!(error.reason.contains("not be more than 128 characters"), "{error}");
        for bad in ["app:.x", "app:-x", "app:a b", "app:a+b"] {
            assert!(ImageReference::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn repository_names_are_at_most_255_characters_normalized() {
        // `docker.io/library/` is 18 characters: the name itself may have 237.
        let fits = "a".repeat(MAX_NAME_LEN - "docker.io/library/".len());
        assert!(ImageReference::parse(&fits).is_ok());
        let error = ImageReference::parse(&format!("{fits}a")).expect_err("too long");
        assert!(error.reason.contains("not be more than 255 characters"), "{error}");
        let registry = format!("registry.example:5000/{}", "b/".repeat(120) + "cc");
        assert!(ImageReference::parse(&registry).is_err(), "the registry counts too");
        let error = ImageReference::parse(&"a".repeat(300)).expect_err("too long");
        assert!(error.reason.contains("255"), "{error}");
    }

    #[test]
    fn new_names_refuse_digests_and_ids() {
        let hex = "a".repeat(64);
        for bad in [format!("app@sha256:{hex}"), format!("sha256:{hex}"), "sha256:abc".to_owned()] {
            let error = ImageReference::parse_new_name(&bad).expect_err("refused");
            assert_eq!(error.reason, "refusing to create a tag with a digest reference", "{bad}");
        }
        assert!(ImageReference::parse_new_name(&hex).is_err(), "a bare id is not a name");
        assert_eq!(
            ImageReference::parse_new_name("app:v1").map(|r| r.to_string()),
            Ok("docker.io/library/app:v1".to_owned())
        );
        // Plain `parse` still reads pinned references, for lookups and FROM.
        assert!(ImageReference::parse(&format!("app@sha256:{hex}")).is_ok());
    }
}

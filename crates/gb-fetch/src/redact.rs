//! Credential redaction: `https://user:pass@host` becomes `https://***@host` in every message.

/// Replaces the user-info part of every `scheme://user:pass@host` URL in `text` with `***`.
///
/// Works on any text (a URL, or git's stderr that quotes one), so a message can be redacted
/// without knowing where URLs appear in it. scp-like git remotes (`git@host:repo`) carry a user
/// name but no secret and are left alone.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest.find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace());
        let authority = &rest[..authority_end.unwrap_or(rest.len())];
        if let Some(user_end) = authority.rfind('@') {
            out.push_str("***");
            rest = &rest[user_end..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_credentials;

    #[test]
    fn user_info_is_replaced() {
        assert_eq!(redact_credentials("https://user:pass@host/x.tar"), "https://***@host/x.tar");
        assert_eq!(redact_credentials("https://token@host"), "https://***@host");
        assert_eq!(redact_credentials("http://a:b@host:8080?q=1"), "http://***@host:8080?q=1");
        // The password may itself hold an `@` when not percent-encoded.
        assert_eq!(redact_credentials("https://u:p@ss@host/r.git"), "https://***@host/r.git");
    }

    #[test]
    fn urls_inside_text_are_redacted() {
        let stderr = "fatal: unable to access 'https://bot:s3cret@git.example/r.git/': 403\n\
                      see https://x:y@other.example too";
        let redacted = redact_credentials(stderr);
        assert!(!redacted.contains("s3cret") && !redacted.contains("x:y"), "{redacted}");
        assert!(redacted.contains("'https://***@git.example/r.git/'"), "{redacted}");
        assert!(redacted.contains("https://***@other.example too"), "{redacted}");
    }

    #[test]
    fn text_without_credentials_is_unchanged() {
        for text in [
            "https://host/path@v1",
            "git@github.com:org/repo.git",
            "file:///tmp/repo",
            "no url here",
            "mailto user@host",
            "https://",
        ] {
            assert_eq!(redact_credentials(text), text);
        }
    }
}

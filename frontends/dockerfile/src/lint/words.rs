//! Small text rules the checks share: an instruction's keyword as written, BuildKit's
//! "did you mean" search, which variable names look like secrets, Go's path cleaning and the
//! parts of an EXPOSE port.

use crate::parser::Node;

/// The instruction keyword as the Dockerfile spells it (`From`), which casing checks compare;
/// the parser keeps it only lower-cased.
pub(crate) fn keyword_as_written(node: &Node) -> &str {
    let text = node.original.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let written = &text[..end];
    if written.to_lowercase() == node.keyword { written } else { &node.keyword }
}

/// BuildKit's `suggest.Search`, case-sensitive: the option closest to `name` by Levenshtein
/// distance when it is under 3 (the first of equally close ones), and none when an option is
/// `name` itself.
pub(crate) fn suggest<'a>(name: &str, options: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best = None;
    let mut best_distance = 3;
    for option in options {
        if option == name {
            return None;
        }
        let distance = crate::instructions::levenshtein(name, option);
        if distance < best_distance {
            best_distance = distance;
            best = Some(option);
        }
    }
    best.map(str::to_owned)
}

/// Words that mark a variable as holding a secret when they are a whole `_`-separated part of
/// its name, any case (BuildKit's `(?i)(?:_|^)(?:...)(?:_|$)`).
const SECRET_WORDS: &[&str] =
    &["apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"];

/// Words that make such a name harmless after all (`PUBLIC_KEY`, `PASSWORD_FILE`).
const ALLOWED_WORDS: &[&str] = &["public", "file", "version"];

/// Whether an ARG or ENV name looks like it holds a secret.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let has_part = |words: &[&str]| key.split('_').any(|part| words.iter().any(|word| part.eq_ignore_ascii_case(word)));
    has_part(SECRET_WORDS) && !has_part(ALLOWED_WORDS)
}

/// Go's `path.Clean`, as gb-patterns implements it for `.dockerignore`.
pub(crate) use gb_patterns::go_clean;

/// The parts of an EXPOSE port as BuildKit splits `[ip:][hostPort:]port[/proto]`: whether an
/// IP address or host port was given, and the protocol as written (empty when none).
pub(crate) struct PortParts<'a> {
    pub mapped: bool,
    pub proto: &'a str,
}

/// Splits an EXPOSE port; `None` when BuildKit would reject it before checking it (no port, or
/// an unknown protocol).
pub(crate) fn port_parts(raw: &str) -> Option<PortParts<'_>> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (mapped, container) = match parts.as_slice() {
        [container] => (false, *container),
        [.., host_port, container] => {
            let ip = parts[..parts.len() - 2].join(":");
            (!host_port.is_empty() || !ip.is_empty(), *container)
        }
        [] => return None,
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    let known = matches!(proto.to_lowercase().as_str(), "" | "tcp" | "udp" | "sctp");
    (!port.is_empty() && known).then_some(PortParts { mapped, proto })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_whole_words() {
        for secret in ["SECRET_PASSPHRASE", "SUPER_Secret", "password", "super_duper_secret_token", "apikey", "git_key"]
        {
            assert!(is_secret_key(secret), "{secret}");
        }
        for harmless in ["sunflower", "PUBLIC_KEY", "public_token", "SECRET_PASSPHRASE_FILE", "AUTH_MODULE_VERSION"] {
            assert!(!is_secret_key(harmless), "{harmless}");
        }
    }

    #[test]
    fn suggestions_are_close_names() {
        assert_eq!(suggest("DIR_ASSET", ["DIR_BINARIES", "DIR_ASSETS", "DIR_CONFIG"]), Some("DIR_ASSETS".to_owned()));
        assert_eq!(suggest("PAHT", ["PATH"]), Some("PATH".to_owned()));
        assert_eq!(suggest("version", ["tag"]), None);
        assert_eq!(suggest("x", ["y", "x"]), None);
    }

    #[test]
    fn paths_clean_as_go_cleans_them() {
        assert_eq!(go_clean("./Dockerfile"), "Dockerfile");
        assert_eq!(go_clean("a//b/../c/"), "a/c");
        assert_eq!(go_clean("."), ".");
        assert_eq!(go_clean("/"), "/");
        assert_eq!(go_clean("../x"), "../x");
    }

    #[test]
    fn ports_split_as_buildkit_splits_them() {
        let mapped = |raw: &str| port_parts(raw).map(|parts| (parts.mapped, parts.proto.to_owned()));
        assert_eq!(mapped("80/TcP"), Some((false, "TcP".to_owned())));
        assert_eq!(mapped("127.0.0.1:80:80"), Some((true, String::new())));
        assert_eq!(mapped("[::1]:8080:8080"), Some((true, String::new())));
        assert_eq!(mapped("5000:5000"), Some((true, String::new())));
        assert_eq!(mapped("8000"), Some((false, String::new())));
        assert_eq!(mapped("80/quic"), None);
    }
}

//! Formatting Docker uses in history CREATED BY text, and parsing of durations and ports.

use std::collections::BTreeSet;

/// Go's `strconv.Quote`: a double-quoted string with Go escapes.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(" "))
}

/// Parses a Go duration (`30s`, `1m30s`, `500ms`, `1.5h`) into nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    (total.is_finite() && total >= 0.0 && total < u64::MAX as f64).then_some(total as u64)
}

/// Parses EXPOSE words into `port/proto` specs, expanding ranges as Docker does.
pub(crate) fn parse_ports(words: &[String]) -> Result<BTreeSet<String>, String> {
    let mut specs = BTreeSet::new();
    for word in words {
        let (ports, proto) = match word.split_once('/') {
            Some((ports, proto)) => (ports, proto.to_lowercase()),
            None => (word.as_str(), "tcp".to_owned()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid proto: {proto}"));
        }
        // `ip:hostPort:containerPort` is accepted by Docker, which keeps the container port.
        let ports = ports.rsplit(':').next().unwrap_or(ports);
        let (start, end) = match ports.split_once('-') {
            Some((start, end)) => (start, end),
            None => (ports, ports),
        };
        let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid containerPort: {ports}"));
        let (start, end) = (parse(start)?, parse(end)?);
        if end < start {
            return Err(format!("invalid range specified for containerPort: {ports}"));
        }
        for port in start..=end {
            specs.insert(format!("{port}/{proto}"));
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn ports() {
        let specs = parse_ports(&["80".into(), "53/udp".into(), "8000-8002".into()]).unwrap_or_default();
        assert_eq!(specs.into_iter().collect::<Vec<_>>(), ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]);
        assert!(parse_ports(&["80/xyz".into()]).is_err());
        assert!(parse_ports(&["abc".into()]).is_err());
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote_list(&["echo".into(), "a \"b\"\n".into()]), r#"["echo" "a \"b\"\n"]"#);
    }
}

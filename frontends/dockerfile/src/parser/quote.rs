//! Go string helpers the parser needs to reproduce BuildKit byte for byte: `strconv.Quote`,
//! `unicode.IsSpace`, `strings.TrimSpace` and `strings.ToLower` semantics.

/// Reports whether Go's `unicode.IsSpace` holds for `c`.
///
/// Go's set is the Unicode `White_Space` property, which is exactly what Rust's
/// `char::is_whitespace` implements, so the two agree on every code point.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Reports whether `c` is in the ASCII whitespace class BuildKit splits on with its
/// `[\t\v\f\r ]+` regular expressions (note: no newline, which never occurs inside a line).
pub(crate) fn is_token_space(c: char) -> bool {
    matches!(c, '\t' | '\u{0b}' | '\u{0c}' | '\r' | ' ')
}

/// Lower-cases like Go's `strings.ToLower`: one rune in, one rune out.
///
/// Rust's `to_lowercase` may expand a character (U+0130 becomes two) and treats a final
/// sigma specially; Go maps each rune on its own, so only the first produced char is kept.
pub(crate) fn to_lower(s: &str) -> String {
    s.chars().map(|c| c.to_lowercase().next().unwrap_or(c)).collect()
}

/// Quotes `s` like Go's `strconv.Quote`, which BuildKit's `Node.Dump` uses for every value.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if is_print(c) => out.push(c),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space are printable; controls, format characters, other spaces, private-use
/// and unassigned code points are not.
///
/// Latin-1 is exact. Above it we lack Unicode's general-category tables in `std`, so
/// whitespace, the format (Cf) characters, private use, noncharacters and the large
/// unassigned planes are listed; scattered unassigned code points inside assigned blocks
/// print raw here where Go would escape them, which only affects dumps of exotic input.
pub(crate) fn is_print(c: char) -> bool {
    let u = u32::from(c);
    if u <= 0xff {
        return (0x20..=0x7e).contains(&u) || ((0xa1..=0xff).contains(&u) && u != 0xad);
    }
    if c.is_whitespace() {
        return false;
    }
    const NOT_PRINT: &[(u32, u32)] = &[
        // Format characters (general category Cf).
        (0x0600, 0x0605),
        (0x061c, 0x061c),
        (0x06dd, 0x06dd),
        (0x070f, 0x070f),
        (0x0890, 0x0891),
        (0x08e2, 0x08e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2065, 0x2065),
        (0x2066, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
        // Private use (Co).
        (0xe000, 0xf8ff),
        (0xf0000, 0x10ffff),
        // Noncharacters and large unassigned ranges (Cn).
        (0xfdd0, 0xfdef),
        (0x323b0, 0xdffff),
        (0xe0000, 0xe0000),
        (0xe0002, 0xe001f),
        (0xe0080, 0xe00ff),
        (0xe01f0, 0xeffff),
    ];
    if u & 0xfffe == 0xfffe {
        return false;
    }
    !NOT_PRINT.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{0}\u{7}\u{1b}\u{7f}"), r#""\x00\a\x1b\x7f""#);
        assert_eq!(go_quote("♥☃é"), "\"♥☃é\"");
        assert_eq!(go_quote("\u{a0}\u{ad}\u{85}"), r#""\u00a0\u00ad\u0085""#);
        assert_eq!(go_quote("\u{feff}\u{f0000}"), r#""\ufeff\U000f0000""#);
    }

    #[test]
    fn lowers_rune_by_rune() {
        assert_eq!(to_lower("RUN"), "run");
        assert_eq!(to_lower("\u{130}"), "i");
        assert_eq!(to_lower("ΟΔΟΣ"), "οδοσ");
    }
}

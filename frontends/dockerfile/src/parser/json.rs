//! The exec-form check: does an argument string decode, as Go's `encoding/json` would, into
//! an array of strings?
//!
//! Written by hand rather than with serde_json because BuildKit's fallback rules hinge on
//! Go's exact behaviour: lone surrogates decode to U+FFFD instead of failing, numbers out of
//! float64 range fail the decode (so the line falls back to shell form instead of raising
//! the "strings only" error), and nesting is limited to 10000 levels. The walk is iterative
//! so no input can exhaust the stack.

/// Go's `encoding/json` maximum nesting depth.
const MAX_DEPTH: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonArray {
    /// Valid JSON array whose elements are all strings.
    Strings(Vec<String>),
    /// Valid JSON array with a non-string element: BuildKit rejects the instruction.
    NotStrings,
    /// Not a JSON array at all: BuildKit silently uses the shell form.
    Invalid,
}

/// Decodes `s` (leading whitespace allowed) as BuildKit's `parseJSON` does.
pub(crate) fn parse_string_array(s: &str) -> JsonArray {
    let s = s.trim_start();
    if !s.starts_with('[') {
        return JsonArray::Invalid;
    }
    let mut p = Parser { s, i: 0, stack: Vec::new() };
    match p.run() {
        Some(outcome) => outcome,
        None => JsonArray::Invalid,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Array,
    Object,
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
    stack: Vec<Container>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// Returns `None` for invalid JSON.
    fn run(&mut self) -> Option<JsonArray> {
        let mut strings = Vec::new();
        let mut all_strings = true;
        'value: loop {
            // Parse one value; containers push and restart the loop for their contents.
            self.skip_ws();
            let top_level_element = self.stack.len() == 1;
            match self.peek()? {
                open @ (b'[' | b'{') => {
                    if self.stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    if top_level_element {
                        all_strings = false;
                    }
                    self.i += 1;
                    let (kind, close) = if open == b'[' { (Container::Array, b']') } else { (Container::Object, b'}') };
                    self.stack.push(kind);
                    self.skip_ws();
                    if self.peek() == Some(close) {
                        self.i += 1;
                        self.stack.pop();
                    } else {
                        if kind == Container::Object {
                            self.object_key()?;
                        }
                        continue 'value;
                    }
                }
                b'"' => {
                    let text = self.string()?;
                    if top_level_element {
                        strings.push(text);
                    }
                }
                b't' => self.literal("true", top_level_element, &mut all_strings)?,
                b'f' => self.literal("false", top_level_element, &mut all_strings)?,
                b'n' => self.literal("null", top_level_element, &mut all_strings)?,
                b'-' | b'0'..=b'9' => {
                    self.number()?;
                    if top_level_element {
                        all_strings = false;
                    }
                }
                _ => return None,
            }
            // After a complete value: a separator, the end of containers, or the end.
            loop {
                self.skip_ws();
                match self.stack.last() {
                    None => {
                        if self.i != self.s.len() {
                            return None;
                        }
                        return Some(if all_strings { JsonArray::Strings(strings) } else { JsonArray::NotStrings });
                    }
                    Some(&kind) => {
                        let close = if kind == Container::Array { b']' } else { b'}' };
                        match self.peek()? {
                            b',' => {
                                self.i += 1;
                                if kind == Container::Object {
                                    self.object_key()?;
                                }
                                continue 'value;
                            }
                            b if b == close => {
                                self.i += 1;
                                self.stack.pop();
                            }
                            _ => return None,
                        }
                    }
                }
            }
        }
    }

    fn object_key(&mut self) -> Option<()> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return None;
        }
        self.string()?;
        self.eat(b':')
    }

    fn literal(&mut self, word: &str, top: bool, all_strings: &mut bool) -> Option<()> {
        if !self.s.get(self.i..)?.starts_with(word) {
            return None;
        }
        self.i += word.len();
        if top {
            *all_strings = false;
        }
        Some(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // Go decodes every number into a float64 and fails on overflow.
        let value: f64 = self.s.get(start..self.i)?.parse().ok()?;
        value.is_finite().then_some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let rest = self.s.get(self.i..)?;
            let c = rest.chars().next()?;
            match c {
                '"' => {
                    self.i += 1;
                    return Some(out);
                }
                c if c < ' ' => return None,
                '\\' => {
                    self.i += 1;
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{08}'),
                        b'f' => out.push('\u{0c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            out.push(self.utf16_unit(unit));
                        }
                        _ => return None,
                    }
                }
                c => {
                    out.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    /// Turns a `\u` escape into a char, pairing surrogates like Go: a valid pair is
    /// combined, anything else surrogate-like becomes U+FFFD and the next escape is left
    /// for the following iteration.
    fn utf16_unit(&mut self, unit: u32) -> char {
        if !(0xd800..0xe000).contains(&unit) {
            return char::from_u32(unit).unwrap_or('\u{fffd}');
        }
        if (0xd800..0xdc00).contains(&unit) && self.s.get(self.i..self.i + 2) == Some("\\u") {
            let save = self.i;
            self.i += 2;
            if let Some(low) = self.hex4().filter(|l| (0xdc00..0xe000).contains(l)) {
                let combined = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                if let Some(c) = char::from_u32(combined) {
                    return c;
                }
            }
            self.i = save;
        }
        '\u{fffd}'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> JsonArray {
        JsonArray::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn decodes_string_arrays() {
        assert_eq!(parse_string_array("[]"), strings(&[]));
        assert_eq!(parse_string_array(" [ \"a\" ,\t\"b\" ] "), strings(&["a", "b"]));
        assert_eq!(
            parse_string_array(r#"["\" \\ \/ \b \f \n \r \t \u0000 \u2665"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \u{0} ♥"])
        );
        assert_eq!(parse_string_array(r#"["\ud83d\ude00"]"#), strings(&["😀"]));
        assert_eq!(parse_string_array(r#"["\ud800x"]"#), strings(&["\u{fffd}x"]));
        assert_eq!(parse_string_array(r#"["\ud800\u0041"]"#), strings(&["\u{fffd}A"]));
    }

    #[test]
    fn classifies_non_string_arrays() {
        assert_eq!(parse_string_array(r#"[ "echo", [ "nested json" ] ]"#), JsonArray::NotStrings);
        assert_eq!(parse_string_array(r#"["a", 1, {"k": [null]}]"#), JsonArray::NotStrings);
        assert_eq!(parse_string_array("[true]"), JsonArray::NotStrings);
    }

    #[test]
    fn rejects_invalid_json() {
        for bad in [
            "['a']",
            r#"["a""#,
            r#"["a"] x"#,
            r#"["a",]"#,
            r#"["a" "b"]"#,
            "[\u{0b}\"a\"]",
            "[\"a\nb\"]",
            r#"[01]"#,
            r#"[1e400]"#,
            r#"["\x"]"#,
            "x[]",
            "[",
        ] {
            assert_eq!(parse_string_array(bad), JsonArray::Invalid, "{bad}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(parse_string_array(&deep), JsonArray::Invalid);
        let ok = format!("[{}{}]", "[".repeat(100), "]".repeat(100));
        assert_eq!(parse_string_array(&ok), JsonArray::NotStrings);
    }
}

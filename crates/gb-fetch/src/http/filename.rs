//! The downloaded file's name, by BuildKit's rule (`getFileName` in `source/http/source.go`):
//! the name the build gave, else the `Content-Disposition` filename, else the last segment of the
//! URL's path (the URL as written, not where redirects led), each made safe; `download` when none
//! is usable.

/// The name used when nothing else gives a usable one (BuildKit's `pathutil.SafeFileName("")`).
const FALLBACK: &str = "download";

/// The file name for a download of `url`, given the build's `manual` name and the response's
/// `Content-Disposition` header.
pub(super) fn download_file_name(url: &str, manual: Option<&str>, content_disposition: Option<&str>) -> String {
    if let Some(name) = manual.filter(|name| !name.is_empty()) {
        return safe_file_name(name);
    }
    if let Some(name) = content_disposition.and_then(disposition_file_name)
        && !name.is_empty()
        && !name.ends_with('/')
    {
        return safe_file_name(path_base(&name));
    }
    let path = percent_decode(url_path(url));
    let base = path_base(&path);
    if base != "." && base != "/" {
        return safe_file_name(base);
    }
    FALLBACK.to_owned()
}

/// A name that is one plain path component: surrounding whitespace trimmed, only the last
/// `/`-separated part kept, and `download` for empty names, `.`, `..` or names with control
/// characters (BuildKit's `pathutil.SafeFileName`).
fn safe_file_name(name: &str) -> String {
    let name = name.trim();
    if name.chars().any(char::is_control) {
        return FALLBACK.to_owned();
    }
    match path_base(name) {
        "" | "." | ".." | "/" => FALLBACK.to_owned(),
        base => base.to_owned(),
    }
}

/// Go's `path.Base`: the last element after trailing slashes are removed; `.` for an empty path,
/// `/` for a path of slashes.
fn path_base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// The path part of `url`, still percent-encoded: after the authority, before `?` or `#`.
fn url_path(url: &str) -> &str {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let without_query = without_fragment.split('?').next().unwrap_or(without_fragment);
    let after_scheme = without_query.split_once("://").map_or(without_query, |(_, rest)| rest);
    after_scheme.find('/').map_or("", |slash| &after_scheme[slash..])
}

/// Decodes `%XX` escapes (invalid escapes are kept as written, invalid UTF-8 replaced).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) =
                bytes.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `filename` parameter of a `Content-Disposition` value, as Go's `mime.ParseMediaType`
/// reads it: a token or quoted string, with an RFC 2231/5987 `filename*=UTF-8''...` taking
/// precedence. `None` when the header is malformed or has no filename.
fn disposition_file_name(header: &str) -> Option<String> {
    let (_disposition, mut rest) = header.split_once(';')?;
    let mut plain = None;
    let mut extended = None;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let (key, after_key) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after_key = after_key.trim_start();
        let (value, after_value) = match after_key.strip_prefix('"') {
            Some(quoted) => parse_quoted(quoted)?,
            None => {
                let end = after_key.find(';').unwrap_or(after_key.len());
                (after_key[..end].trim_end().to_owned(), &after_key[end..])
            }
        };
        match key.as_str() {
            "filename" => plain = Some(value),
            "filename*" => extended = decode_extended(&value),
            _ => {}
        }
        rest = after_value;
    }
    extended.or(plain)
}

/// A quoted string's content (after the opening quote) with `\` escapes resolved, and the text
/// after the closing quote.
fn parse_quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[index + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

/// An RFC 2231 extended value `charset'language'percent-encoded`, for the charsets Go accepts.
fn decode_extended(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    Some(percent_decode(encoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_name_wins_and_is_made_safe() {
        let cd = Some("attachment; filename=\"server.txt\"");
        assert_eq!(download_file_name("https://h/a/file.tgz", Some("mine.tgz"), cd), "mine.tgz");
        assert_eq!(download_file_name("https://h/a", Some("  spaced.txt  "), None), "spaced.txt");
        assert_eq!(download_file_name("https://h/a", Some("dir/inner.txt"), None), "inner.txt");
        assert_eq!(download_file_name("https://h/a", Some(".."), None), "download");
        assert_eq!(download_file_name("https://h/a", Some("a\nb"), None), "download");
        assert_eq!(download_file_name("https://h/a", Some(""), None), "a");
    }

    #[test]
    fn content_disposition_comes_before_the_url() {
        let name = |cd| download_file_name("https://h/get?id=1", None, Some(cd));
        assert_eq!(name("attachment; filename=\"report.csv\""), "report.csv");
        assert_eq!(name("attachment; filename=plain.txt; size=3"), "plain.txt");
        assert_eq!(name("attachment; filename=\"../../etc/passwd\""), "passwd");
        assert_eq!(name("attachment; filename=\"a \\\"q\\\".txt\""), "a \"q\".txt");
        assert_eq!(name("attachment; filename=\"x.txt\"; filename*=UTF-8''na%C3%AFve%20file.txt"), "naïve file.txt");
        // Unusable values fall through to the URL.
        assert_eq!(name("attachment; filename=\"dir/\""), "get");
        assert_eq!(name("attachment"), "get");
        assert_eq!(name("attachment; filename=\"unterminated"), "get");
    }

    #[test]
    fn url_basename_or_download() {
        let name = |url| download_file_name(url, None, None);
        assert_eq!(name("https://h/releases/v1/tool.tar.gz?sig=abc#frag"), "tool.tar.gz");
        assert_eq!(name("https://h/a%20b.txt"), "a b.txt");
        assert_eq!(name("https://h/dir/"), "dir");
        assert_eq!(name("https://h/"), "download");
        assert_eq!(name("https://h"), "download");
        assert_eq!(name("https://h?x=1"), "download");
        assert_eq!(name("https://u:p@h/f.bin"), "f.bin");
    }
}

//! Request-path normalisation and upstream-path escaping, as Kong does them.
//!
//! Kong normalises the request path before matching (`kong.tools.uri.normalize` with slash
//! merging): percent-encoded triplets are decoded unless they encode an RFC 3986 reserved
//! character (those are kept, with upper-case hex), dot segments are removed and runs of `/`
//! are merged. The upstream path is escaped again before it is sent (`kong.tools.uri.escape`).

use std::borrow::Cow;

/// RFC 3986 reserved characters plus `%`: their encoded form carries meaning, so it is kept.
const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";

/// The normalised form of `path`; borrows when nothing needs to change.
pub fn normalize(path: &str) -> Cow<'_, str> {
    if path.is_empty() || path == "/" {
        return Cow::Borrowed(path);
    }
    let decoded = if path.contains('%') {
        decode(path)
    } else {
        Cow::Borrowed(path)
    };
    if !decoded.contains('.') && !decoded.contains("//") {
        return decoded;
    }
    Cow::Owned(remove_dot_segments(&decoded))
}

/// Decodes every `%XX` that does not stand for a reserved character. When decoding would
/// produce invalid UTF-8, only ASCII triplets are decoded so the result stays a `str`.
fn decode(path: &str) -> Cow<'_, str> {
    let all = decode_bytes(path.as_bytes(), true);
    match String::from_utf8(all) {
        Ok(s) => Cow::Owned(s),
        Err(_) => {
            let ascii = decode_bytes(path.as_bytes(), false);
            // Only ASCII bytes were substituted into valid UTF-8, so this cannot fail; the
            // fallback keeps the input rather than panicking.
            String::from_utf8(ascii).map(Cow::Owned).unwrap_or(Cow::Borrowed(path))
        }
    }
}

fn decode_bytes(input: &[u8], non_ascii: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                let byte = h * 16 + l;
                if RESERVED.contains(&byte) || (!non_ascii && byte >= 0x80) {
                    out.push(b'%');
                    out.push(input[i + 1].to_ascii_uppercase());
                    out.push(input[i + 2].to_ascii_uppercase());
                } else {
                    out.push(byte);
                }
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 section 5.2.4 with Kong's extra rule that `//` collapses to `/`.
fn remove_dot_segments(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    // Byte offsets in `out` where each output segment starts, so the last one can be dropped.
    let mut starts: Vec<usize> = Vec::new();
    let mut rest = input;
    let pop = |out: &mut String, starts: &mut Vec<usize>| {
        if let Some(s) = starts.pop() {
            out.truncate(s);
        }
    };
    while !rest.is_empty() {
        if rest == "/." {
            rest = "/";
        } else if rest == "/.." {
            rest = "/";
            pop(&mut out, &mut starts);
        } else if rest == "." || rest == ".." {
            rest = "";
        } else if let Some(r) = rest.strip_prefix("../") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if rest.starts_with("/./") {
            rest = &rest[2..];
        } else if rest.starts_with("/../") {
            rest = &rest[3..];
            pop(&mut out, &mut starts);
        } else if rest.starts_with("//") {
            rest = &rest[1..];
        } else {
            let end = rest[1..].find('/').map_or(rest.len(), |i| i + 1);
            starts.push(out.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        }
    }
    out
}

/// Percent-encodes the bytes that may not appear raw in a request target, leaving the
/// reserved and unreserved characters (and existing `%` triplets) as they are.
pub fn escape(path: &str) -> Cow<'_, str> {
    if path.bytes().all(is_safe) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    for &b in path.as_bytes() {
        if is_safe(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX_UPPER[(b >> 4) as usize] as char);
            out.push(HEX_UPPER[(b & 0xf) as usize] as char);
        }
    }
    Cow::Owned(out)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@[]-_.~%".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_plain_paths_borrowed() {
        assert!(matches!(normalize("/a/b/c"), Cow::Borrowed(_)));
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("/"), "/");
    }

    #[test]
    fn decodes_unreserved_and_other_characters() {
        assert_eq!(normalize("/%61%62c"), "/abc");
        assert_eq!(normalize("/a%20b"), "/a b");
        assert_eq!(normalize("/caf%C3%A9"), "/café");
    }

    #[test]
    fn keeps_reserved_characters_encoded_in_upper_case() {
        assert_eq!(normalize("/a%2fb"), "/a%2Fb");
        assert_eq!(normalize("/a%3Fb%25"), "/a%3Fb%25");
    }

    #[test]
    fn invalid_utf8_keeps_non_ascii_triplets() {
        assert_eq!(normalize("/%FF%41"), "/%FFA");
    }

    #[test]
    fn broken_triplets_are_left_alone() {
        assert_eq!(normalize("/a%2"), "/a%2");
        assert_eq!(normalize("/a%zz"), "/a%zz");
        assert_eq!(normalize("/%"), "/%");
    }

    #[test]
    fn removes_dot_segments() {
        assert_eq!(normalize("/a/./b"), "/a/b");
        assert_eq!(normalize("/a/../b"), "/b");
        assert_eq!(normalize("/a/b/.."), "/a/");
        assert_eq!(normalize("/a/b/."), "/a/b/");
        assert_eq!(normalize("/../../a"), "/a");
        assert_eq!(normalize("/a/%2E%2e/b"), "/b");
        assert_eq!(normalize("/route./req"), "/route./req");
        assert_eq!(normalize("/.."), "/");
    }

    #[test]
    fn merges_slashes() {
        assert_eq!(normalize("//a///b//"), "/a/b/");
        assert_eq!(normalize("/a//../b"), "/b");
    }

    #[test]
    fn escapes_unsafe_bytes_only() {
        assert!(matches!(escape("/a/b?c=%20"), Cow::Borrowed(_)));
        assert_eq!(escape("/a b"), "/a%20b");
        assert_eq!(escape("/café"), "/caf%C3%A9");
        assert_eq!(escape("/a\"b<>"), "/a%22b%3C%3E");
    }
}

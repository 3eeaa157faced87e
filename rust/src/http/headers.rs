//! Small helpers shared by head parsers: token lists, whitespace, plain bytes.

/// `value` without leading and trailing spaces and tabs (RFC 9110 OWS).
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| *b != b' ' && *b != b'\t').unwrap_or(value.len());
    let end = value.iter().rposition(|b| *b != b' ' && *b != b'\t').map_or(start, |i| i + 1);
    &value[start..end]
}

/// The comma-separated tokens of a list header, trimmed, lower-cased, empty ones skipped.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    value.split(|b| *b == b',').map(trim_ows).filter(|t| !t.is_empty()).map(<[u8]>::to_ascii_lowercase)
}

/// Only visible ASCII, spaces and tabs, and CRLF line ends: no bare CR or LF, no control
/// bytes, no obs-text. llhttp's strict mode refuses some of those and tolerates others; a head
/// made of plain bytes only raises neither question.
pub fn plain_bytes(head: &[u8]) -> bool {
    let mut previous = 0u8;
    for (i, &byte) in head.iter().enumerate() {
        let ok = match byte {
            b' '..=b'~' | b'\t' => true,
            b'\r' => head.get(i + 1) == Some(&b'\n'),
            b'\n' => previous == b'\r',
            _ => false,
        };
        if !ok {
            return false;
        }
        previous = byte;
    }
    true
}

/// The tokens of a list header as sent (empty items skipped); None unless every item is an
/// RFC 9110 token.
pub fn list_tokens(value: &[u8]) -> Option<Vec<&[u8]>> {
    let mut found = Vec::new();
    for item in value.split(|b| *b == b',') {
        let token = trim_ows(item);
        if token.is_empty() {
            continue;
        }
        if !token.iter().all(is_tchar) {
            return None;
        }
        found.push(token);
    }
    Some(found)
}

/// An RFC 9110 tchar: a byte a token may hold.
pub fn is_tchar(b: &u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// A `Content-Length` value of digits only (at most 15: far beyond any real body, far from
/// overflow).
pub fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 15 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_spaces_and_tabs_only() {
        assert_eq!(trim_ows(b" \tvalue \t"), b"value");
        assert_eq!(trim_ows(b"a b"), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
        assert_eq!(trim_ows(b""), b"");
    }

    #[test]
    fn splits_lists_into_lower_case_tokens() {
        let found: Vec<Vec<u8>> = tokens(b"Keep-Alive, ,X-Custom ,close").collect();
        assert_eq!(
            found,
            vec![b"keep-alive".to_vec(), b"x-custom".to_vec(), b"close".to_vec()]
        );
    }

    #[test]
    fn plain_bytes_means_printable_ascii_and_crlf() {
        assert!(plain_bytes(b"GET / HTTP/1.1\r\nX: a\tb\r\n\r\n"));
        for bad in [&b"a\nb"[..], b"a\rb", b"a\r", b"\n", b"a\x00", b"a\x7f", b"caf\xc3\xa9"] {
            assert!(!plain_bytes(bad), "{bad:?}");
        }
    }

    #[test]
    fn list_tokens_are_tokens_or_nothing() {
        assert_eq!(list_tokens(b" close ,, X-A"), Some(vec![&b"close"[..], b"X-A"]));
        assert_eq!(list_tokens(b"\"close\""), None);
        assert_eq!(list_tokens(b"a b"), None);
    }

    #[test]
    fn content_lengths_are_plain_digits() {
        assert_eq!(content_length(b"0042"), Some(42));
        for bad in [&b""[..], b"+1", b"-1", b"1 2", b"0x1", b"1234567890123456"] {
            assert_eq!(content_length(bad), None, "{bad:?}");
        }
    }
}

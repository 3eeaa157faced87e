//! Small helpers shared by head parsers: token lists and whitespace.

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
        assert_eq!(found, vec![b"keep-alive".to_vec(), b"x-custom".to_vec(), b"close".to_vec()]);
    }
}

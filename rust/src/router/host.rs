//! Host patterns of a route (`hosts`) and of a route's `snis`.
//!
//! A pattern is exact (`example.com`), a leading wildcard (`*.example.com`, any host ending in
//! `.example.com`) or a trailing wildcard (`example.*`, any host starting with `example.`).
//! Host entries may carry a port: such an entry matches only requests on that port (the Host
//! header's port, else the scheme's default port); entries without a port match any port.
//! Comparison is ASCII case-insensitive; patterns are stored lower-cased.

use std::sync::Arc;

/// How the name part of a pattern compares with a request host.
#[derive(Debug, Clone, PartialEq, Eq)]
/// Names are shared with the index, which files the matcher under them.
pub enum NameMatch {
    Exact(Arc<str>),
    /// `*.example.com`: holds `.example.com`.
    Suffix(Arc<str>),
    /// `example.*`: holds `example.`.
    Prefix(Arc<str>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    pub name: NameMatch,
    pub port: Option<u16>,
}

impl HostPattern {
    /// Parses a route `hosts` entry; the error text says what is wrong.
    pub fn parse_host(entry: &str) -> Result<Self, String> {
        let (name, port) = split_port(entry).ok_or_else(|| format!("invalid host '{entry}'"))?;
        let name = parse_name(name).map_err(|why| format!("invalid host '{entry}': {why}"))?;
        Ok(HostPattern { name, port })
    }

    /// Parses a route `snis` entry (no port; a trailing dot is not significant).
    pub fn parse_sni(entry: &str) -> Result<Self, String> {
        let trimmed = if entry.len() > 1 {
            entry.strip_suffix('.').unwrap_or(entry)
        } else {
            entry
        };
        let name = parse_name(trimmed).map_err(|why| format!("invalid sni '{entry}': {why}"))?;
        Ok(HostPattern { name, port: None })
    }

    pub fn is_wildcard(&self) -> bool {
        !matches!(self.name, NameMatch::Exact(_))
    }

    /// `host` must already be lower-case and without port.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.name {
            NameMatch::Exact(n) => host == &**n,
            NameMatch::Suffix(s) => host.len() > s.len() && host.ends_with(&**s),
            NameMatch::Prefix(p) => host.len() > p.len() && host.starts_with(&**p),
        }
    }
}

fn parse_name(name: &str) -> Result<NameMatch, &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    let lower = name.to_ascii_lowercase();
    let stars = lower.matches('*').count();
    if stars > 1 {
        return Err("only one wildcard may be given");
    }
    let (kind, bare) = if stars == 0 {
        (0, lower.as_str())
    } else if let Some(rest) = lower.strip_prefix("*.") {
        (1, rest)
    } else if let Some(rest) = lower.strip_suffix(".*") {
        (2, rest)
    } else {
        return Err("a wildcard must be the leftmost or rightmost label");
    };
    if !valid_name(bare) {
        return Err("not a hostname or IP address");
    }
    Ok(match kind {
        0 => NameMatch::Exact(lower.into()),
        1 => NameMatch::Suffix(lower[1..].into()),
        _ => NameMatch::Prefix(lower[..lower.len() - 1].into()),
    })
}

/// Hostnames, IPv4 literals and bracketed IPv6 literals.
fn valid_name(name: &str) -> bool {
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Splits `host[:port]` / `[v6][:port]`. `None` when the port is not a valid number.
pub fn split_port(value: &str) -> Option<(&str, Option<u16>)> {
    let colon = if value.starts_with('[') {
        match value.find(']') {
            Some(end) if end + 1 == value.len() => return Some((value, None)),
            Some(end) if value.as_bytes()[end + 1] == b':' => end + 1,
            _ => return None,
        }
    } else {
        match value.rfind(':') {
            Some(i) if !value[..i].contains(':') => i,
            // Several colons without brackets: a bare IPv6 address, no port.
            Some(_) => return Some((value, None)),
            None => return Some((value, None)),
        }
    };
    let digits = &value[colon + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = digits.parse().ok().filter(|p| *p > 0)?;
    Some((&value[..colon], Some(port)))
}

/// A request's Host header split into a lower-case name and its port (the scheme's default
/// when absent). Unparseable ports leave the whole header as the name, as Kong does.
pub fn request_host<'a>(header: &'a str, scheme: &str) -> (std::borrow::Cow<'a, str>, u16) {
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let (name, port) = match split_port(header) {
        Some((name, port)) => (name, port.unwrap_or(default)),
        None => (header, default),
    };
    let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    };
    (name, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(p: &str) -> HostPattern {
        HostPattern::parse_host(p).unwrap()
    }

    #[test]
    fn exact_hosts_ignore_case() {
        let h = host("Example.COM");
        assert!(h.matches("example.com", 80));
        assert!(h.matches("example.com", 8000));
        assert!(!h.matches("www.example.com", 80));
    }

    #[test]
    fn leading_wildcard() {
        let h = host("*.example.com");
        assert!(h.matches("a.example.com", 80));
        assert!(h.matches("a.b.example.com", 80));
        assert!(!h.matches("example.com", 80));
        assert!(!h.matches("aexample.com", 80));
    }

    #[test]
    fn trailing_wildcard() {
        let h = host("example.*");
        assert!(h.matches("example.org", 80));
        assert!(h.matches("example.co.uk", 80));
        assert!(!h.matches("example", 80));
        assert!(!h.matches("www.example.org", 80));
    }

    #[test]
    fn ports_restrict_matches() {
        let h = host("example.com:8000");
        assert!(h.matches("example.com", 8000));
        assert!(!h.matches("example.com", 80));
        let w = host("*.example.com:8443");
        assert!(w.matches("a.example.com", 8443));
        assert!(!w.matches("a.example.com", 443));
    }

    #[test]
    fn rejects_bad_hosts() {
        for bad in [
            "",
            "a*b.com",
            "*.*.com",
            "foo.*.com",
            "exa mple.com",
            "a.com:0",
            "a.com:x",
            "a..b",
        ] {
            assert!(HostPattern::parse_host(bad).is_err(), "{bad}");
        }
        assert!(HostPattern::parse_host("[::1]:8080").is_ok());
        assert!(HostPattern::parse_host("10.0.0.1").is_ok());
    }

    #[test]
    fn snis_drop_trailing_dot() {
        let s = HostPattern::parse_sni("example.com.").unwrap();
        assert!(s.matches("example.com", 443));
    }

    #[test]
    fn splits_request_hosts() {
        assert_eq!(
            request_host("Example.com:8000", "http"),
            ("example.com".into(), 8000)
        );
        assert_eq!(request_host("example.com", "https"), ("example.com".into(), 443));
        assert_eq!(request_host("[::1]:81", "http"), ("[::1]".into(), 81));
        assert_eq!(request_host("[::1]", "http"), ("[::1]".into(), 80));
        assert_eq!(request_host("a:b", "http"), ("a:b".into(), 80));
    }
}

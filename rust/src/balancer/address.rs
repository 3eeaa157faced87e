//! Parsing a target's `target` field into a host and a port, as Kong normalises it.

use super::error::BalancerError;
use std::net::Ipv6Addr;

/// Kong's port for a target given without one.
pub const DEFAULT_PORT: u16 = 8000;

/// Where a target points: a host name or IP (IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// A host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// The port; [`DEFAULT_PORT`] when the target gives none.
    pub port: u16,
}

/// Accepts `host:port`, `host`, `ipv4[:port]`, `[ipv6]:port`, `[ipv6]` and a bare `ipv6`.
pub fn parse(target: &str) -> Result<Address, BalancerError> {
    let fail = |message: &str| BalancerError { target: target.to_owned(), message: message.to_owned() };

    if let Some(rest) = target.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| fail("missing ']' after IPv6 address"))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(fail("invalid IPv6 address"));
        }
        let port = match after {
            "" => DEFAULT_PORT,
            _ => {
                let digits = after.strip_prefix(':').ok_or_else(|| fail("expected ':port' after ']'"))?;
                parse_port(digits).ok_or_else(|| fail("invalid port"))?
            }
        };
        return Ok(Address { host: host.to_owned(), port });
    }

    // More than one ':' can only be a bare IPv6 address, which cannot carry a port.
    if target.matches(':').count() > 1 {
        return match target.parse::<Ipv6Addr>() {
            Ok(_) => Ok(Address { host: target.to_owned(), port: DEFAULT_PORT }),
            Err(_) => Err(fail("invalid IPv6 address (use [address]:port to give a port)")),
        };
    }

    let (host, port) = match target.split_once(':') {
        Some((host, port)) => (host, parse_port(port).ok_or_else(|| fail("invalid port"))?),
        None => (target, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err(fail("empty host"));
    }
    if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(fail("not a valid hostname or IP address"));
    }
    Ok(Address { host: host.to_owned(), port })
}

/// Digits only (no sign, no spaces), within 0..=65535 as Kong's port type.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(target: &str) -> (String, u16) {
        let a = parse(target).unwrap();
        (a.host, a.port)
    }

    #[test]
    fn host_and_port() {
        assert_eq!(ok("example.com:8080"), ("example.com".into(), 8080));
        assert_eq!(ok("10.0.0.1:81"), ("10.0.0.1".into(), 81));
    }

    #[test]
    fn host_alone_gets_kongs_default_port() {
        assert_eq!(ok("example.com"), ("example.com".into(), 8000));
        assert_eq!(ok("10.0.0.1"), ("10.0.0.1".into(), 8000));
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(ok("[::1]:9000"), ("::1".into(), 9000));
        assert_eq!(ok("[2001:db8::2]"), ("2001:db8::2".into(), 8000));
        assert_eq!(ok("2001:db8::2"), ("2001:db8::2".into(), 8000));
    }

    #[test]
    fn rejects_malformed_targets() {
        for bad in [
            "",
            ":80",
            "host:",
            "host:-1",
            "host:65536",
            "host:8o",
            "[::1",
            "[::1]80",
            "[nope]:80",
            "a b:80",
            "1:2:3",
            "[::1]:",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.target, bad, "{bad}");
        }
    }
}

//! One line of the proxy access log in Kong's `kong_log_format`:
//!
//! ```text
//! $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//! "$http_referer" "$http_user_agent" kong_request_id: "$kong_request_id"
//! ```
//!
//! Values are escaped as nginx escapes them by default: `"`, `\` and bytes outside 0x20-0x7e
//! become `\xHH`; an empty or missing value is `-`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// What one line is made of; the request line is `method url HTTP/version` (`-` without a
/// method: the request was refused before one was read).
#[derive(Debug, Clone, Copy)]
pub struct AccessEntry<'a> {
    /// `$remote_addr`: the client's address.
    pub remote_addr: &'a [u8],
    /// The `Authorization` value, whose Basic credentials give `$remote_user`.
    pub authorization: Option<&'a [u8]>,
    /// nginx's `$time_local`, e.g. `22/Nov/2026:10:38:59 +0000`.
    pub time_local: &'a [u8],
    /// The request method; empty when no request line was read.
    pub method: &'a [u8],
    /// The request target as received.
    pub url: &'a [u8],
    /// The HTTP version after `HTTP/` (`1.1`, `1.0`).
    pub version: &'a [u8],
    /// `$status`: the status sent to the client.
    pub status: u16,
    /// `$body_bytes_sent`: the body bytes sent to the client.
    pub body_bytes_sent: u64,
    /// `$http_referer`: the `Referer` value.
    pub referer: Option<&'a [u8]>,
    /// `$http_user_agent`: the `User-Agent` value.
    pub user_agent: Option<&'a [u8]>,
    /// `$kong_request_id`, written as given.
    pub request_id: &'a [u8],
}

/// Appends the line for `entry`, newline included.
pub fn write_line(entry: &AccessEntry<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(entry.remote_addr);
    out.extend_from_slice(b" - ");
    match entry.authorization.and_then(remote_user) {
        Some(user) => escape(&user, out),
        None => out.push(b'-'),
    }
    out.extend_from_slice(b" [");
    out.extend_from_slice(entry.time_local);
    out.extend_from_slice(b"] \"");
    if entry.method.is_empty() {
        out.push(b'-');
    } else {
        escape(entry.method, out);
        out.push(b' ');
        escape(entry.url, out);
        out.extend_from_slice(b" HTTP/");
        escape(entry.version, out);
    }
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(entry.status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(entry.body_bytes_sent.to_string().as_bytes());
    out.extend_from_slice(b" \"");
    escape(entry.referer.unwrap_or_default(), out);
    out.extend_from_slice(b"\" \"");
    escape(entry.user_agent.unwrap_or_default(), out);
    out.extend_from_slice(b"\" kong_request_id: \"");
    out.extend_from_slice(entry.request_id);
    out.extend_from_slice(b"\"\n");
}

/// nginx's `$remote_user`: the user of HTTP Basic credentials.
fn remote_user(authorization: &[u8]) -> Option<Vec<u8>> {
    let scheme = authorization.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let credentials = STANDARD.decode(authorization[6..].trim_ascii()).ok()?;
    let user = credentials.split(|b| *b == b':').next().unwrap_or_default();
    Some(user.to_vec())
}

fn escape(value: &[u8], out: &mut Vec<u8>) {
    if value.is_empty() {
        out.push(b'-');
        return;
    }
    for &byte in value {
        if (0x20..=0x7e).contains(&byte) && byte != b'"' && byte != b'\\' {
            out.push(byte);
        } else {
            out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AccessEntry<'static> {
        AccessEntry {
            remote_addr: b"1.2.3.4",
            authorization: None,
            time_local: b"22/Nov/2026:10:00:00 +0000",
            method: b"GET",
            url: b"/a\"b",
            version: b"1.1",
            status: 200,
            body_bytes_sent: 12,
            referer: None,
            user_agent: Some(b"ua\x01\xff"),
            request_id: b"rid",
        }
    }

    fn line(entry: &AccessEntry<'_>) -> String {
        let mut out = Vec::new();
        write_line(entry, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn kongs_format_with_nginx_escaping() {
        assert_eq!(
            line(&entry()),
            "1.2.3.4 - - [22/Nov/2026:10:00:00 +0000] \"GET /a\\x22b HTTP/1.1\" 200 12 \"-\" \"ua\\x01\\xFF\" kong_request_id: \"rid\"\n"
        );
        let refused = AccessEntry { method: b"", status: 400, ..entry() };
        assert!(line(&refused).contains("] \"-\" 400 12 "));
    }

    #[test]
    fn the_remote_user_comes_from_basic_credentials() {
        let basic = AccessEntry { authorization: Some(b"Basic dXNlcjpwYXNz"), ..entry() };
        assert!(line(&basic).starts_with("1.2.3.4 - user ["));
        for other in [&b"Bearer dXNlcjpwYXNz"[..], b"Basic !!!", b"Basic", b"basic dSJx"] {
            let text = line(&AccessEntry { authorization: Some(other), ..entry() });
            let user = text.split(' ').nth(2).unwrap();
            assert!(user == "-" || user == "u\\x22q", "{other:?}: {text}");
        }
    }
}

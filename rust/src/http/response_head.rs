//! An upstream response head, sorted the way the header filter needs it (Kong's defaults:
//! hop-by-hop headers dropped, framing ours, Via appended to, Server and Date kept when sent).
//!
//! Forwardable headers come out as one block of `Name: value\r\n` lines, names as the upstream
//! spelled them, so the client head is a join of a few pieces whatever the header count.

use std::mem::MaybeUninit;

use super::headers::{content_length, list_tokens, plain_bytes, tokens, trim_ows};

/// Header fields beyond this make the head invalid (nginx bounds upstream heads by buffer size;
/// a count bound is what a fixed-size parse needs).
pub const MAX_HEADERS: usize = 256;

/// An upstream response head as the header filter reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// Bytes of the head, the blank line included: the body (or the next response) starts here.
    pub length: usize,
    /// The headers sent on to the client as received, minus those named in `Connection`.
    pub forwarded: Vec<u8>,
    /// The `Content-Length` value as received, when there is one.
    pub content_length: Option<Vec<u8>>,
    /// The upstream framed the body with `Transfer-Encoding` (the proxy frames it itself).
    pub chunked: bool,
    /// `Via` values, joined with ", ".
    pub via: Option<Vec<u8>>,
    /// `Upgrade` values, joined with ", " (per hop, so not in `forwarded`: the header filter
    /// passes the protocol on when the connection switches to it).
    pub upgrade: Option<Vec<u8>>,
    /// The upstream sent `Server`: the gateway adds none.
    pub has_server: bool,
    /// The upstream sent `Date`: the gateway adds none.
    pub has_date: bool,
    /// `Connection` lists `close`: the connection must not be reused.
    pub closes: bool,
    /// For the proxy's fast lane, which frames the body itself without llhttp: the body length
    /// of a plainly valid final head (plain bytes, one digits-only `Content-Length` or none on
    /// 204 and 304, no `Transfer-Encoding`, a token-list `Connection`); None for anything else,
    /// which llhttp reads (interim and close-delimited responses, chunked bodies, oddities).
    /// A response to HEAD has no body whatever this says; `plain` tells whether it may take
    /// the fast lane.
    pub body_length: Option<u64>,
    /// A final head the fast lane may frame without llhttp (see `body_length`).
    pub plain: bool,
    /// llhttp's `should_keep_alive` for a plain head, and no `close`: the connection may be
    /// pooled after the response.
    pub reusable: bool,
}

/// Why bytes are not a response head the proxy can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseHeadError {
    /// Not an HTTP/1.x response head; the text says what is wrong.
    Invalid(String),
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
}

impl std::fmt::Display for ResponseHeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseHeadError::Invalid(reason) => write!(f, "invalid response head: {reason}"),
            ResponseHeadError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} response header fields"),
        }
    }
}

impl std::error::Error for ResponseHeadError {}

enum Kind {
    Forward,
    Drop,
    Connection,
    Via,
    Server,
    Date,
    ContentLength,
    TransferEncoding,
    /// Dropped like the other hop-by-hop fields, but llhttp reads it as `Connection`.
    ProxyConnection,
    Upgrade,
}

fn kind(name: &str) -> Kind {
    // Lengths first: most names fall through without a case-insensitive comparison.
    let is = |known: &str| name.len() == known.len() && name.eq_ignore_ascii_case(known);
    if is("content-length") {
        Kind::ContentLength
    } else if is("date") {
        Kind::Date
    } else if is("server") {
        Kind::Server
    } else if is("connection") {
        Kind::Connection
    } else if is("transfer-encoding") {
        Kind::TransferEncoding
    } else if is("via") {
        Kind::Via
    } else if is("proxy-connection") {
        Kind::ProxyConnection
    } else if is("upgrade") {
        Kind::Upgrade
    } else if is("keep-alive") || is("trailer") {
        Kind::Drop // per hop; trailers are not forwarded
    } else {
        Kind::Forward
    }
}

fn append_joined(slot: &mut Option<Vec<u8>>, value: &[u8], separator: &[u8]) {
    match slot {
        Some(joined) => {
            joined.extend_from_slice(separator);
            joined.extend_from_slice(value);
        }
        None => *slot = Some(value.to_vec()),
    }
}

/// Parses the response head at the start of `data`: `Ok(None)` while it is incomplete.
pub fn parse_response_head(data: &[u8]) -> Result<Option<ResponseHead>, ResponseHeadError> {
    // left uninitialised: httparse writes the slots it uses (no 8 KiB memset per call)
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let length =
        match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, data, &mut slots) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(ResponseHeadError::TooManyHeaders),
            Err(error) => return Err(ResponseHeadError::Invalid(error.to_string())),
        };
    let status = response.code.ok_or_else(|| ResponseHeadError::Invalid("no status code".into()))?;
    let mut head = ResponseHead {
        status,
        length,
        forwarded: Vec::with_capacity(length),
        content_length: None,
        chunked: false,
        via: None,
        upgrade: None,
        has_server: false,
        has_date: false,
        closes: false,
        body_length: None,
        plain: false,
        reusable: false,
    };
    let mut lengths = 0;
    let mut proxy_connection = false;
    let mut connection: Option<Vec<u8>> = None;
    let mut kept: Vec<(&str, &[u8])> = Vec::with_capacity(response.headers.len());
    for header in response.headers.iter() {
        let value = trim_ows(header.value);
        match kind(header.name) {
            Kind::Forward => kept.push((header.name, value)),
            Kind::Drop => {}
            Kind::ProxyConnection => proxy_connection = true,
            Kind::Server => {
                head.has_server = true;
                kept.push((header.name, value));
            }
            Kind::Date => {
                head.has_date = true;
                kept.push((header.name, value));
            }
            Kind::Connection => append_joined(&mut connection, value, b","),
            Kind::Via => append_joined(&mut head.via, value, b", "),
            Kind::Upgrade => append_joined(&mut head.upgrade, value, b", "),
            Kind::ContentLength => {
                lengths += 1;
                head.content_length = Some(value.to_vec());
            }
            Kind::TransferEncoding => {
                // nginx relays exactly one `chunked` and answers 502 to anything else: a
                // final coding other than chunked means a close-delimited body in a coding the
                // client would get re-chunked and without its name (RFC 9112 section 6.3)
                if head.chunked || !value.eq_ignore_ascii_case(b"chunked") {
                    return Err(ResponseHeadError::Invalid(
                        "Transfer-Encoding other than a single chunked".into(),
                    ));
                }
                head.chunked = true;
            }
        }
    }
    // Connection names headers meant for this hop only (besides its own options).
    let mut named: Vec<Vec<u8>> = Vec::new();
    if let Some(connection) = &connection {
        for token in tokens(connection) {
            match token.as_slice() {
                b"close" => head.closes = true,
                b"keep-alive" | b"upgrade" => {}
                _ => named.push(token),
            }
        }
    }
    let http10 = response.version == Some(0);
    if !proxy_connection {
        assess_framing(
            &mut head,
            &data[..length],
            lengths,
            connection.as_deref(),
            http10,
        );
    }
    for (name, value) in kept {
        if !named.is_empty() && named.iter().any(|n| n.eq_ignore_ascii_case(name.as_bytes())) {
            continue;
        }
        head.forwarded.extend_from_slice(name.as_bytes());
        head.forwarded.extend_from_slice(b": ");
        head.forwarded.extend_from_slice(value);
        head.forwarded.extend_from_slice(b"\r\n");
    }
    Ok(Some(head))
}

/// Decides `plain`, `body_length` and `reusable` (see `ResponseHead`); not called when the head
/// has a `Proxy-Connection` field (llhttp's keep-alive verdict would depend on it).
fn assess_framing(head: &mut ResponseHead, bytes: &[u8], lengths: usize, connection: Option<&[u8]>, http10: bool) {
    let tokens = match connection.map(list_tokens) {
        Some(None) => return, // not a token list
        Some(Some(tokens)) => tokens,
        None => Vec::new(),
    };
    let has = |name: &[u8]| tokens.iter().any(|t| t.eq_ignore_ascii_case(name));
    if head.status < 200 || head.chunked || lengths > 1 || !plain_bytes(bytes) {
        return;
    }
    // a Content-Length is judged even where it frames nothing (204, 304), as llhttp does
    let length = match &head.content_length {
        Some(value) => match content_length(value) {
            Some(length) => Some(length),
            None => return,
        },
        None => None,
    };
    head.plain = true;
    head.reusable = !head.closes && (!http10 || has(b"keep-alive"));
    head.body_length = match head.status {
        204 | 304 => Some(0),
        _ => length, // None: the body ends when the upstream closes
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &[u8]) -> ResponseHead {
        parse_response_head(data).expect("valid").expect("complete")
    }

    #[test]
    fn sorts_headers_for_the_filter() {
        let data = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 22 Nov 2026 04:56:13 GMT\r\n\
Content-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\
Via: 1.1 a\r\nVia: 1.0 b\r\n\r\nbody";
        let head = parse(data);
        assert_eq!(head.status, 200);
        assert_eq!(head.length, data.len() - 4);
        assert_eq!(
            head.forwarded,
            b"Server: nginx\r\nDate: Sun, 22 Nov 2026 04:56:13 GMT\r\nContent-Type: text/plain\r\n".to_vec()
        );
        assert_eq!(head.content_length.as_deref(), Some(&b"100"[..]));
        assert_eq!(head.via.as_deref(), Some(&b"1.1 a, 1.0 b"[..]));
        assert!(head.has_server && head.has_date && !head.chunked && !head.closes);
    }

    #[test]
    fn drops_hop_by_hop_and_connection_named_headers() {
        let head = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Hop, close\r\nx-hop: 1\r\n\
Trailer: X-T\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Kept:  spaced \t\r\n\r\n",
        );
        assert!(head.chunked && head.closes);
        assert_eq!(head.forwarded, b"X-Kept: spaced\r\n".to_vec());
        assert!(!head.has_server && !head.has_date && head.content_length.is_none());
    }

    #[test]
    fn plain_heads_are_framed_for_the_fast_lane() {
        let framed = |data: &[u8]| {
            let head = parse(data);
            (head.plain, head.body_length, head.reusable)
        };
        assert_eq!(
            framed(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"),
            (true, Some(12), true)
        );
        assert_eq!(
            framed(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"),
            (true, Some(12), false)
        );
        assert_eq!(
            framed(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"),
            (true, Some(1), false)
        );
        assert_eq!(
            framed(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n"),
            (true, Some(1), true)
        );
        assert_eq!(framed(b"HTTP/1.1 204 No Content\r\n\r\n"), (true, Some(0), true));
        assert_eq!(
            framed(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
            (true, Some(0), true)
        );
        // close-delimited: plain (a HEAD response may take the fast lane) but not framed
        assert_eq!(framed(b"HTTP/1.1 200 OK\r\n\r\n"), (true, None, true));
        for general in [
            &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: \"close\"\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: caf\xc3\xa9\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: +1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nProxy-Connection: close\r\n\r\n",
        ] {
            assert!(!parse(general).plain, "{:?}", String::from_utf8_lossy(general));
        }
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nServer: x\r\n"),
            Ok(None)
        );
        assert_eq!(parse_response_head(b""), Ok(None));
    }

    #[test]
    fn interim_heads_are_parsed_alone() {
        let data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let interim = parse(data);
        assert_eq!((interim.status, interim.length), (100, 25));
        assert_eq!(parse(&data[interim.length..]).status, 204);
    }

    #[test]
    fn malformed_heads_are_errors_not_panics() {
        for bad in [
            &b"HTTP/1.1 2000 OK\r\n\r\n"[..],
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedchunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(parse_response_head(bad), Err(ResponseHeadError::Invalid(_))),
                "{bad:?}"
            );
        }
        let many: Vec<u8> = [&b"HTTP/1.1 200 OK\r\n"[..], &b"X: y\r\n".repeat(MAX_HEADERS + 1), b"\r\n"].concat();
        assert_eq!(
            parse_response_head(&many),
            Err(ResponseHeadError::TooManyHeaders)
        );
    }
}

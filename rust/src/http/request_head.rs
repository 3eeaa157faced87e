//! The client request head for the proxy's fast lane.
//!
//! Most requests are plain: origin-form target, a handful of ordinary headers, no body or a
//! `Content-Length` one. For those, one call here does what llhttp's callbacks and the Python
//! checks after them do: it finds the head, checks it and sorts its headers the way the access
//! phase needs them (the forwardable ones come out as one block of `Name: value\r\n` lines).
//!
//! The parser never rejects anything. It *accepts* a head only when every byte and every field
//! is plainly valid, a strict subset of what llhttp in strict mode and the proxy's own checks
//! accept, and *declines* everything else: an incomplete head, chunked or `Expect` requests,
//! `Upgrade`, absolute-form targets, unusual bytes, sizes near a limit, and of course every
//! malformed head. The proxy hands a declined head to llhttp, which answers it exactly as if
//! the fast lane did not exist (400, 413, 414, 431, or proxying it the general way).

use std::mem::MaybeUninit;

use super::headers::{content_length, list_tokens, plain_bytes, trim_ows};

/// Header fields beyond this are declined (the general path applies the byte limits).
const MAX_FIELDS: usize = 128;

/// Byte limits of the general path (nginx's `large_client_header_buffers`, and
/// `client_max_body_size`, 0 for none); a head that comes near one is declined, so the general
/// path decides the 413, 414 or 431.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_line: usize,
    pub header_line: usize,
    pub head: usize,
    pub body: u64,
}

/// Methods the fast lane takes (CONNECT and extension methods take the general path).
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// Bytes of the head, blank line included: the body (or the next request) starts here.
    pub length: usize,
    /// Index into `METHODS`.
    pub method: usize,
    /// The origin-form target: path and query as received.
    pub target: &'a [u8],
    pub http10: bool,
    /// llhttp's `should_keep_alive` for this head.
    pub keep_alive: bool,
    /// Every field, values without surrounding whitespace.
    pub fields: Vec<(&'a [u8], &'a [u8])>,
    pub host: Option<&'a [u8]>,
    /// nginx's `$host`: the Host value lower-cased, without its port.
    pub host_name: Vec<u8>,
    pub content_length: Option<u64>,
    /// `Connection` values joined with ", ".
    pub connection: Option<Vec<u8>>,
    pub x_forwarded_for: Option<Vec<u8>>,
    pub via: Option<Vec<u8>>,
    /// `TE` lists `trailers` (passed on, as Kong does for gRPC).
    pub te_trailers: bool,
    /// The fields sent upstream as received, as `Name: value\r\n` lines: all but the ones the
    /// gateway replaces, the hop-by-hop ones and those the `Connection` header names.
    pub forwarded: Vec<u8>,
}

/// Why a head is left to the general path (for tests and debugging; the proxy only cares
/// that it was declined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    Incomplete,
    Unusual(&'static str),
}

enum Kind {
    Forward,
    Drop,
    Host,
    ContentLength,
    Connection,
    XForwardedFor,
    Via,
    Te,
    /// Headers whose meaning llhttp or the general path handles: the whole head is declined.
    Decline,
}

/// Request-head parser with the limits and the dropped fields of one worker.
#[derive(Debug, Clone)]
pub struct RequestHeadParser {
    limits: Limits,
    /// Lower-case names never forwarded, replaced by the gateway's own or hop-by-hop: given by
    /// the proxy from its one table of them (`dataplane.proxy.forwarding`), so both lanes drop
    /// the same fields.
    dropped: Vec<Vec<u8>>,
}

impl RequestHeadParser {
    pub fn new(limits: Limits, dropped: Vec<Vec<u8>>) -> Self {
        let dropped = dropped.into_iter().map(|name| name.to_ascii_lowercase()).collect();
        RequestHeadParser { limits, dropped }
    }

    fn kind(&self, name: &str) -> Kind {
        let is = |known: &str| name.len() == known.len() && name.eq_ignore_ascii_case(known);
        match name.len() {
            4 if is("host") => Kind::Host,
            14 if is("content-length") => Kind::ContentLength,
            10 if is("connection") => Kind::Connection,
            15 if is("x-forwarded-for") => Kind::XForwardedFor,
            3 if is("via") => Kind::Via,
            2 if is("te") => Kind::Te,
            17 if is("transfer-encoding") => Kind::Decline,
            6 if is("expect") => Kind::Decline,
            7 if is("upgrade") => Kind::Decline,
            16 if is("proxy-connection") => Kind::Decline, // llhttp reads it as Connection
            _ if self.dropped.iter().any(|d| d.len() == name.len() && d.eq_ignore_ascii_case(name.as_bytes())) => {
                Kind::Drop
            }
            _ => Kind::Forward,
        }
    }

    /// The head at the start of `data`, if the fast lane takes it.
    pub fn parse<'a>(&self, data: &'a [u8]) -> Result<RequestHead<'a>, Decline> {
        if matches!(data.first(), Some(b'\r' | b'\n')) {
            return Err(Decline::Unusual("empty line before the request line"));
        }
        // left uninitialised: httparse writes the slots it uses
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
        let mut request = httparse::Request::new(&mut []);
        let length = match request.parse_with_uninit_headers(data, &mut slots) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Err(Decline::Incomplete),
            Err(_) => return Err(Decline::Unusual("not a plain HTTP/1.x head")),
        };
        if length > self.limits.head {
            return Err(Decline::Unusual("head near the size limit"));
        }
        if !plain_bytes(&data[..length]) {
            return Err(Decline::Unusual("byte outside plain ASCII or a bare CR/LF"));
        }
        let method = request.method.unwrap_or_default();
        let method = METHODS.iter().position(|m| *m == method).ok_or(Decline::Unusual("method"))?;
        let target = request.path.unwrap_or_default().as_bytes();
        check_origin_form(target)?;
        let http10 = request.version == Some(0);
        let line = METHODS[method].len() + 1 + target.len() + 11; // "... HTTP/1.1\r\n"
        if line > self.limits.request_line {
            return Err(Decline::Unusual("request line near the size limit"));
        }

        let mut head = RequestHead {
            length,
            method,
            target,
            http10,
            keep_alive: false,
            fields: Vec::with_capacity(request.headers.len()),
            host: None,
            host_name: Vec::new(),
            content_length: None,
            connection: None,
            x_forwarded_for: None,
            via: None,
            te_trailers: false,
            forwarded: Vec::with_capacity(length),
        };
        let mut hosts = 0;
        let mut lengths = 0;
        let mut kept: Vec<(&str, &[u8])> = Vec::with_capacity(request.headers.len());
        for field in request.headers.iter() {
            let value = trim_ows(field.value);
            if field.name.len() + value.len() + 4 > self.limits.header_line {
                return Err(Decline::Unusual("header line near the size limit"));
            }
            if field.name.contains('_') {
                // nginx drops these unless `underscores_in_headers`: the general lane decides
                return Err(Decline::Unusual("underscore in a header name"));
            }
            head.fields.push((field.name.as_bytes(), value));
            match self.kind(field.name) {
                Kind::Forward => kept.push((field.name, value)),
                Kind::Drop => {}
                Kind::Decline => return Err(Decline::Unusual("header handled by the general path")),
                Kind::Host => {
                    hosts += 1;
                    head.host = Some(value);
                }
                Kind::ContentLength => {
                    lengths += 1;
                    head.content_length = Some(content_length(value).ok_or(Decline::Unusual("Content-Length value"))?);
                }
                Kind::Connection => append_joined(&mut head.connection, value),
                Kind::XForwardedFor => append_joined(&mut head.x_forwarded_for, value),
                Kind::Via => append_joined(&mut head.via, value),
                Kind::Te => {
                    if list_tokens(value).ok_or(Decline::Unusual("TE value"))?.iter().any(|t| t.eq_ignore_ascii_case(b"trailers")) {
                        head.te_trailers = true;
                    }
                }
            }
        }
        if hosts > 1 || (hosts == 0 && !http10) || lengths > 1 {
            return Err(Decline::Unusual("Host or Content-Length count"));
        }
        if self.limits.body > 0 && head.content_length.is_some_and(|n| n > self.limits.body) {
            return Err(Decline::Unusual("body larger than allowed"));
        }
        if let Some(host) = head.host {
            head.host_name = host_name(host).ok_or(Decline::Unusual("Host value"))?;
        }

        let mut close = false;
        let mut keep = false;
        let mut named: Vec<&[u8]> = Vec::new();
        if let Some(connection) = &head.connection {
            for token in list_tokens(connection).ok_or(Decline::Unusual("Connection value"))? {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Err(Decline::Unusual("Connection: upgrade"));
                } else {
                    named.push(token);
                }
            }
        }
        if close && keep {
            return Err(Decline::Unusual("Connection both close and keep-alive"));
        }
        head.keep_alive = if http10 { keep } else { !close };
        // `named` borrows `head.connection`: decide what is forwarded before moving on.
        let mut forwarded = Vec::with_capacity(length);
        for (name, value) in kept {
            if named.iter().any(|n| n.eq_ignore_ascii_case(name.as_bytes())) {
                continue;
            }
            forwarded.extend_from_slice(name.as_bytes());
            forwarded.extend_from_slice(b": ");
            forwarded.extend_from_slice(value);
            forwarded.extend_from_slice(b"\r\n");
        }
        head.forwarded = forwarded;
        Ok(head)
    }
}

/// An origin-form target of RFC 3986 path and query characters only.
fn check_origin_form(target: &[u8]) -> Result<(), Decline> {
    let pchar = |b: &u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+')
            || matches!(b, b',' | b';' | b'=' | b':' | b'@' | b'/' | b'?' | b'%')
    };
    if target.first() == Some(&b'/') && target.iter().all(pchar) {
        Ok(())
    } else {
        Err(Decline::Unusual("request target"))
    }
}

fn append_joined(slot: &mut Option<Vec<u8>>, value: &[u8]) {
    match slot {
        Some(joined) => {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value);
        }
        None => *slot = Some(value.to_vec()),
    }
}

/// For a valid Host value (reg-name or bracketed IP literal, optional port), nginx's `$host`.
fn host_name(host: &[u8]) -> Option<Vec<u8>> {
    let name_end = if host.first() == Some(&b'[') {
        let close = host.iter().position(|b| *b == b']')?;
        let inside = &host[1..close];
        if inside.is_empty() || !inside.iter().all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.')) {
            return None;
        }
        close + 1
    } else {
        let end = host.iter().position(|b| *b == b':').unwrap_or(host.len());
        let reg_name = |b: &u8| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')')
                || matches!(b, b'*' | b'+' | b',' | b';' | b'=' | b'%')
        };
        if end == 0 || !host[..end].iter().all(reg_name) {
            return None;
        }
        end
    };
    match &host[name_end..] {
        [] => {}
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    Some(host[..name_end].to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> RequestHeadParser {
        let dropped = ["Keep-Alive", "Trailer", "Proxy", "X-Real-IP", "X-Forwarded-Proto", "X-Kong-Request-Id"];
        RequestHeadParser::new(
            Limits { request_line: 8192, header_line: 8192, head: 32768, body: 1 << 20 },
            dropped.iter().map(|name| name.as_bytes().to_vec()).collect(),
        )
    }

    fn accept(data: &[u8]) -> RequestHead<'_> {
        parser().parse(data).unwrap_or_else(|why| panic!("declined {why:?}: {data:?}"))
    }

    fn declined(data: &[u8]) -> Decline {
        match parser().parse(data) {
            Ok(head) => panic!("accepted {head:?}"),
            Err(why) => why,
        }
    }

    #[test]
    fn sorts_a_plain_head() {
        let data = b"POST /a/b?x=1 HTTP/1.1\r\nHost: Example.COM:8000\r\nUser-Agent: wrk\r\nContent-Length: 5\r\n\
Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nVia: 1.0 a\r\n\
TE: trailers, deflate\r\nKeep-Alive: 5\r\nX-Real-IP: 1.2.3.4\r\nX-Kong-Request-Id: spoofed\r\nAccept:  */* \t\r\n\r\nhello";
        let head = accept(data);
        assert_eq!(head.length, data.len() - 5);
        assert_eq!(METHODS[head.method], "POST");
        assert_eq!(head.target, b"/a/b?x=1");
        assert!(!head.http10 && head.keep_alive && head.te_trailers);
        assert_eq!(head.host, Some(&b"Example.COM:8000"[..]));
        assert_eq!(head.host_name, b"example.com");
        assert_eq!(head.content_length, Some(5));
        assert_eq!(head.x_forwarded_for.as_deref(), Some(&b"10.0.0.1, 10.0.0.2"[..]));
        assert_eq!(head.via.as_deref(), Some(&b"1.0 a"[..]));
        assert_eq!(head.connection.as_deref(), Some(&b"keep-alive, X-Hop"[..]));
        assert_eq!(head.forwarded, b"User-Agent: wrk\r\nAccept: */*\r\n".to_vec());
        assert_eq!(head.fields.len(), 13);
        assert_eq!(head.fields[12], (&b"Accept"[..], &b"*/*"[..]));
    }

    #[test]
    fn keep_alive_follows_llhttp() {
        let ka = |data: &[u8]| accept(data).keep_alive;
        assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert_eq!(accept(b"GET / HTTP/1.0\r\n\r\n").host, None);
    }

    #[test]
    fn hosts_as_nginx_reads_them() {
        assert_eq!(accept(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").host_name, b"[::1]");
        assert_eq!(accept(b"GET / HTTP/1.1\r\nHost: a.b:\r\n\r\n").host_name, b"a.b");
        for bad in [&b""[..], b":80", b"a b", b"[]", b"[::1", b"a:8x", b"a/b", b"[::1]x"] {
            let data = [&b"GET / HTTP/1.1\r\nHost: "[..], bad, b"\r\n\r\n"].concat();
            assert!(matches!(parser().parse(&data), Err(Decline::Unusual(_))), "{bad:?}");
        }
    }

    #[test]
    fn incomplete_heads_are_declined_as_such() {
        assert_eq!(declined(b"GET / HTTP/1.1\r\nHost: a\r\n"), Decline::Incomplete);
        assert_eq!(declined(b""), Decline::Incomplete);
    }

    #[test]
    fn everything_unusual_is_declined() {
        for data in [
            &b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
            b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\n\r\n",
            b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, keep-alive\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: \"close\"\r\n\r\n",
        ] {
            assert!(matches!(parser().parse(data), Err(Decline::Unusual(_))), "{:?}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn heads_near_a_limit_are_declined() {
        let small = RequestHeadParser::new(Limits { request_line: 20, header_line: 20, head: 40, body: 10 }, vec![]);
        assert!(small.parse(b"GET /0123456789 HTTP/1.1\r\nHost: a\r\n\r\n").is_err());
        assert!(small.parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef\r\n\r\n").is_err());
        assert!(small.parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123\r\nY: 0123\r\nZ: 0123\r\n\r\n").is_err());
        assert!(small.parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
        let bodies = RequestHeadParser::new(Limits { request_line: 99, header_line: 99, head: 99, body: 10 }, vec![]);
        assert!(bodies.parse(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n").is_err());
        assert!(bodies.parse(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n").is_ok());
        let many: Vec<u8> = [&b"GET / HTTP/1.1\r\nHost: a\r\n"[..], &b"X: y\r\n".repeat(MAX_FIELDS), b"\r\n"].concat();
        assert!(parser().parse(&many).is_err());
    }

    #[test]
    fn pipelined_input_ends_the_head_at_its_blank_line() {
        let data = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
        let first = accept(data);
        assert_eq!(first.target, b"/1");
        assert_eq!(accept(&data[first.length..]).target, b"/2");
    }
}

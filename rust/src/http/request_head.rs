//! Every client request head, read in one call: the proxy's one rule set for requests.
//!
//! The reader finds the head (httparse), checks it against the gateway's rules and sorts its
//! fields the way the access phase needs them (the forwardable ones come out as one block of
//! `Name: value\r\n` lines). A head it finds invalid is refused with the status Kong answers
//! (400, 405, 413, 414, 431) and a reason for the log; a head it accepts is either *plain* or
//! not:
//!
//! * Plain: every byte and field is plainly valid, a strict subset of what llhttp in strict
//!   mode accepts (checked by a differential test): plain bytes, one of [`METHODS`], an
//!   origin-form target of RFC 3986 characters, no `Transfer-Encoding`, `Expect`, `Upgrade` or
//!   `Proxy-Connection`, a `Connection` of tokens. Its framing and keep-alive are settled here
//!   alone; such a head may be planned (routed and given its upstream head in the same call).
//! * Not plain (chunked bodies, `Expect`, upgrades, obs-text, absolute-form targets,
//!   extension methods...): the proxy also has llhttp (httptools, strict) read the head bytes,
//!   which must accept them and agree on method, version and upgrade; its keep-alive verdict
//!   is the one kept. The fields, the checks and the forwarding rules are still these.

use std::mem::MaybeUninit;

use super::headers::{content_length, list_tokens, plain_bytes, tokens, trim_ows};

/// Fields parsed without allocating; a head with more is parsed again with room for as many
/// as the head limit allows, and is never plain.
const INLINE_FIELDS: usize = 128;

/// Byte limits (nginx's `large_client_header_buffers`, and `client_max_body_size`, 0 for none).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest request target (414 beyond).
    pub request_line: usize,
    /// Longest field line, `name: value` and its CRLF (431 beyond).
    pub header_line: usize,
    /// Largest head (431 beyond).
    pub head: usize,
    /// Largest body (413 beyond), 0 for no limit.
    pub body: u64,
}

/// Methods a plain head may have (CONNECT and TRACE are refused, others read by llhttp too).
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// A head the reader accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// Bytes of the head, blank line included: the body (or the next request) starts here.
    pub length: usize,
    /// The method as received.
    pub method: &'a str,
    /// Origin-form: path and query (an absolute-form target reduced to them).
    pub target: &'a [u8],
    /// The request line says HTTP/1.0 (else HTTP/1.1).
    pub http10: bool,
    /// llhttp's `should_keep_alive` for a plain head; for another, the proxy asks llhttp.
    pub keep_alive: bool,
    /// Every field kept, values without surrounding whitespace (names with an underscore are
    /// left out unless allowed, as nginx does).
    pub fields: Vec<(&'a [u8], &'a [u8])>,
    /// The Host value as received, port included; None without Host.
    pub host: Option<&'a [u8]>,
    /// nginx's `$host`: the Host value lower-cased, without its port.
    pub host_name: Vec<u8>,
    /// The `Content-Length` value, when the head has one.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked` (any other coding is refused).
    pub chunked: bool,
    /// `Connection` values joined with ", ".
    pub connection: Option<Vec<u8>>,
    /// `X-Forwarded-For` values joined with ", ".
    pub x_forwarded_for: Option<Vec<u8>>,
    /// `Via` values joined with ", ".
    pub via: Option<Vec<u8>>,
    /// `TE` lists `trailers` (passed on, as Kong does for gRPC).
    pub te_trailers: bool,
    /// `Expect: 100-continue` on HTTP/1.1 (RFC 9110 section 10.1.1: ignored from HTTP/1.0).
    pub expect_continue: bool,
    /// llhttp's upgrade flag: `Upgrade` with an `upgrade` token in `Connection` (or
    /// `Proxy-Connection`, which llhttp reads alike); never together with a body.
    pub upgrade: bool,
    /// An upgrade to WebSocket on HTTP/1.1: passed on to the upstream as Kong does.
    pub websocket: bool,
    /// The fields sent upstream as received, as `Name: value\r\n` lines: all but the ones the
    /// gateway replaces, the hop-by-hop ones and those the `Connection` header names.
    pub forwarded: Vec<u8>,
    /// See the module documentation.
    pub plain: bool,
    /// Set when the head is whole but refused: the proxy answers it (with what the head says
    /// of the client, its Accept for one) and reads nothing more.
    pub refusal: Option<Refusal>,
}

/// Why a head is refused: the status the client gets and the reason logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: malformed or ambiguous.
    BadRequest(&'static str),
    /// 405: CONNECT and TRACE, as nginx answers them.
    MethodNotAllowed,
    /// 413: a Content-Length beyond `client_max_body_size`.
    BodyTooLarge,
    /// 414: a request target beyond the limit.
    TargetTooLong,
    /// 431: a field line or the whole head beyond the limit.
    HeadTooLarge,
}

impl Refusal {
    /// The status code the client is answered with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::MethodNotAllowed => 405,
            Refusal::BodyTooLarge => 413,
            Refusal::TargetTooLong => 414,
            Refusal::HeadTooLarge => 431,
        }
    }

    /// What was wrong, for the log.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadRequest(why) => why,
            Refusal::MethodNotAllowed => "method not allowed",
            Refusal::BodyTooLarge => "body larger than client_max_body_size",
            Refusal::TargetTooLong => "request target too long",
            Refusal::HeadTooLarge => "request head too large",
        }
    }
}

enum Kind {
    Forward,
    Drop,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    ProxyConnection,
    Expect,
    Upgrade,
    XForwardedFor,
    Via,
    Te,
}

/// Request-head reader with the limits and the dropped fields of one worker.
#[derive(Debug, Clone)]
pub struct RequestHeadParser {
    limits: Limits,
    /// Lower-case names never forwarded, replaced by the gateway's own or hop-by-hop: given by
    /// the proxy from its one table of them (`dataplane.proxy.forwarding`).
    dropped: Vec<Vec<u8>>,
    /// nginx's `underscores_in_headers`: off, names with an underscore are left out.
    underscores: bool,
}

impl RequestHeadParser {
    /// A reader with these limits; `dropped` names are never forwarded.
    pub fn new(limits: Limits, dropped: Vec<Vec<u8>>, underscores: bool) -> Self {
        let dropped = dropped.into_iter().map(|name| name.to_ascii_lowercase()).collect();
        RequestHeadParser { limits, dropped, underscores }
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
            17 if is("transfer-encoding") => Kind::TransferEncoding,
            6 if is("expect") => Kind::Expect,
            7 if is("upgrade") => Kind::Upgrade,
            16 if is("proxy-connection") => Kind::ProxyConnection,
            _ if self.dropped.iter().any(|d| d.len() == name.len() && d.eq_ignore_ascii_case(name.as_bytes())) => {
                Kind::Drop
            }
            _ => Kind::Forward,
        }
    }

    /// The head at the start of `data`: `Ok(None)` while it is incomplete (and within the
    /// limits); an error when it cannot be read at all, and a head with its `refusal` when it
    /// is whole but refused.
    pub fn parse<'a>(&self, data: &'a [u8]) -> Result<Option<RequestHead<'a>>, Refusal> {
        // RFC 9112 section 2.2: an empty line before the request line is ignored
        let skipped = if data.starts_with(b"\r\n") { 2 } else { 0 };
        let input = &data[skipped..];
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; INLINE_FIELDS];
        let mut request = httparse::Request::new(&mut []);
        let parsed = match request.parse_with_uninit_headers(input, &mut slots) {
            Err(httparse::Error::TooManyHeaders) => None,
            other => Some(other),
        };
        let mut many: Vec<MaybeUninit<httparse::Header<'_>>>;
        let mut spilled = httparse::Request::new(&mut []);
        let (request, parsed) = match parsed {
            Some(parsed) => (&request, parsed),
            None => {
                // at least 4 bytes a field ("a:\r\n"): the head limit bounds how many there can be
                many = (0..self.limits.head / 4 + 1).map(|_| MaybeUninit::uninit()).collect();
                let parsed = spilled.parse_with_uninit_headers(input, &mut many);
                (&spilled, parsed)
            }
        };
        let length = match parsed {
            Ok(httparse::Status::Complete(length)) => skipped + length,
            Ok(httparse::Status::Partial) => return self.incomplete(input).map(|()| None),
            Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
            Err(_) => return Err(Refusal::BadRequest("malformed request head")),
        };
        let raw_target = request.path.unwrap_or_default().as_bytes();
        if raw_target.len() > self.limits.request_line {
            // nginx refuses it before reading a field: the answer owes nothing to them
            return Err(Refusal::TargetTooLong);
        }
        let plain_head = plain_bytes(&data[..length]);
        if !plain_head && bare_lf(&data[..length]) {
            return Err(Refusal::BadRequest("line ending without CR")); // httparse tolerates them, llhttp strict not
        }
        // From here on the head is read whole: a problem is noted (the first one counts) and
        // the head still comes back, for the error page and the log.
        let mut problem: Option<Refusal> = None;
        let mut note = |refusal: Refusal| {
            problem.get_or_insert(refusal);
        };
        if length > self.limits.head {
            note(Refusal::HeadTooLarge);
        }
        let method = request.method.unwrap_or_default();
        if method == "CONNECT" || method == "TRACE" {
            // a gateway is no tunnel, nor a mirror of what it was sent (nginx refuses both)
            note(Refusal::MethodNotAllowed);
        }
        let (target, origin_form) = origin_form(raw_target).unwrap_or_else(|refusal| {
            note(refusal);
            (raw_target, false)
        });
        let http10 = request.version == Some(0);
        let mut plain = skipped == 0
            && request.headers.len() <= INLINE_FIELDS
            && METHODS.contains(&method)
            && origin_form
            && plain_head;

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
            chunked: false,
            connection: None,
            x_forwarded_for: None,
            via: None,
            te_trailers: false,
            expect_continue: false,
            upgrade: false,
            websocket: false,
            forwarded: Vec::new(),
            plain: false,
            refusal: None,
        };
        let mut hosts = 0;
        let mut lengths = 0;
        let mut codings = 0;
        let mut upgrade_value: Option<Vec<u8>> = None;
        let mut proxy_connection: Option<Vec<u8>> = None;
        let mut size = 0;
        let mut kept: Vec<(&str, &[u8])> = Vec::with_capacity(request.headers.len());
        for field in request.headers.iter() {
            let value = trim_ows(field.value);
            let line = field.name.len() + value.len() + 4;
            size += line;
            if line > self.limits.header_line || size > self.limits.head {
                note(Refusal::HeadTooLarge);
            }
            if !self.underscores && field.name.contains('_') {
                continue; // nginx ignores such a field: nothing sees it
            }
            head.fields.push((field.name.as_bytes(), value));
            match self.kind(field.name) {
                Kind::Forward => kept.push((field.name, value)),
                Kind::Drop => {}
                Kind::Host => {
                    hosts += 1;
                    head.host = Some(value);
                }
                Kind::ContentLength => {
                    lengths += 1;
                    head.content_length = content_length(value);
                    if head.content_length.is_none() {
                        note(Refusal::BadRequest("invalid Content-Length"));
                    }
                }
                Kind::TransferEncoding => {
                    codings += 1;
                    plain = false;
                    if !value.eq_ignore_ascii_case(b"chunked") {
                        note(Refusal::BadRequest("Transfer-Encoding other than chunked"));
                    }
                    head.chunked = true;
                }
                Kind::Connection => append_joined(&mut head.connection, value),
                Kind::ProxyConnection => {
                    plain = false; // llhttp reads it as Connection
                    append_joined(&mut proxy_connection, value);
                }
                Kind::Expect => {
                    plain = false;
                    head.expect_continue = !http10 && value.eq_ignore_ascii_case(b"100-continue");
                }
                Kind::Upgrade => {
                    plain = false;
                    append_joined(&mut upgrade_value, value);
                }
                Kind::XForwardedFor => append_joined(&mut head.x_forwarded_for, value),
                Kind::Via => append_joined(&mut head.via, value),
                Kind::Te => {
                    if tokens(value).any(|t| t == b"trailers") {
                        head.te_trailers = true;
                    }
                }
            }
        }
        if hosts > 1 || (hosts == 0 && !http10) {
            note(Refusal::BadRequest("missing or repeated Host"));
        }
        if lengths > 1 {
            note(Refusal::BadRequest("repeated Content-Length"));
        }
        if codings > 0 && (http10 || codings > 1 || lengths > 0) {
            note(Refusal::BadRequest("ambiguous Transfer-Encoding"));
        }
        if self.limits.body > 0 && head.content_length.is_some_and(|n| n > self.limits.body) {
            note(Refusal::BodyTooLarge);
        }
        if let Some(host) = head.host {
            match host_name(host) {
                Some(name) => head.host_name = name,
                None => note(Refusal::BadRequest("invalid Host")),
            }
        }

        let mut close = false;
        let mut keep = false;
        let mut upgrade_token = false;
        let mut named: Vec<Vec<u8>> = Vec::new();
        if let Some(connection) = &head.connection {
            plain &= list_tokens(connection).is_some();
            for token in tokens(connection) {
                match token.as_slice() {
                    b"close" => close = true,
                    b"keep-alive" => keep = true,
                    b"upgrade" => upgrade_token = true,
                    _ => named.push(token),
                }
            }
        }
        if let Some(values) = &proxy_connection {
            upgrade_token |= tokens(values).any(|t| t == b"upgrade");
        }
        // An upgrade, or both close and keep-alive listed: llhttp's verdict decides those heads.
        let for_llhttp = upgrade_token || (close && keep);
        plain &= !for_llhttp;
        head.keep_alive = if http10 { keep } else { !close };
        if let Some(value) = upgrade_value.filter(|_| upgrade_token) {
            // llhttp stops framing at an upgrade head: a body would be read as the next
            // request. Refused rather than framed by hand (a WebSocket handshake has none).
            if head.chunked || head.content_length.is_some_and(|n| n > 0) {
                note(Refusal::BadRequest("Upgrade with a request body"));
            }
            head.upgrade = true;
            head.websocket = !http10 && value.eq_ignore_ascii_case(b"websocket");
        }
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
        head.plain = plain && problem.is_none();
        head.refusal = problem;
        Ok(Some(head))
    }

    /// An incomplete head within the limits is awaited; one already beyond them is refused.
    fn incomplete(&self, input: &[u8]) -> Result<(), Refusal> {
        let line_end = input.iter().position(|b| *b == b'\n');
        if line_end.map_or(input.len(), |end| end) > self.limits.request_line + 32 {
            return Err(Refusal::TargetTooLong); // 32: room for the method and version
        }
        if input.len() > self.limits.head {
            return Err(Refusal::HeadTooLarge);
        }
        Ok(())
    }
}

/// The origin-form part of a target and whether it was origin-form of RFC 3986 path and query
/// characters only (a plain target).
fn origin_form(target: &[u8]) -> Result<(&[u8], bool), Refusal> {
    if target.contains(&b'#') {
        // RFC 9112 section 3.2: a fragment is never sent; forwarding it would change the path
        return Err(Refusal::BadRequest("fragment in the request target"));
    }
    if target.first() == Some(&b'/') {
        return Ok((target, target.iter().all(pchar)));
    }
    if target == b"*" {
        return Err(Refusal::BadRequest("asterisk-form request target"));
    }
    // absolute-form (RFC 9112 section 3.2.2): only its path and query are used
    let Some(scheme_end) = target.windows(3).position(|w| w == b"://") else {
        return Err(Refusal::BadRequest("request target of no known form"));
    };
    let path = target[scheme_end + 3..].iter().position(|b| *b == b'/').map(|at| &target[scheme_end + 3 + at..]);
    Ok((path.unwrap_or(b"/"), false))
}

/// A LF not preceded by CR.
fn bare_lf(head: &[u8]) -> bool {
    head.iter().enumerate().any(|(i, b)| *b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

fn pchar(b: &u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+'
        )
        || matches!(b, b',' | b';' | b'=' | b':' | b'@' | b'/' | b'?' | b'%')
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
                || matches!(
                    b,
                    b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')'
                )
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
        let dropped = [
            "Keep-Alive",
            "Trailer",
            "Proxy",
            "X-Real-IP",
            "X-Forwarded-Proto",
            "X-Kong-Request-Id",
        ];
        RequestHeadParser::new(
            Limits { request_line: 8192, header_line: 8192, head: 32768, body: 1 << 20 },
            dropped.iter().map(|name| name.as_bytes().to_vec()).collect(),
            false,
        )
    }

    fn accept(data: &[u8]) -> RequestHead<'_> {
        match parser().parse(data) {
            Ok(Some(head)) if head.refusal.is_none() => head,
            other => panic!("not accepted ({other:?}): {:?}", String::from_utf8_lossy(data)),
        }
    }

    fn plain(data: &[u8]) -> RequestHead<'_> {
        let head = accept(data);
        assert!(head.plain, "not plain: {:?}", String::from_utf8_lossy(data));
        head
    }

    fn refused(data: &[u8]) -> Refusal {
        match parser().parse(data) {
            Err(why) | Ok(Some(RequestHead { refusal: Some(why), .. })) => why,
            other => panic!("not refused ({other:?}): {:?}", String::from_utf8_lossy(data)),
        }
    }

    #[test]
    fn sorts_a_plain_head() {
        let data = b"POST /a/b?x=1 HTTP/1.1\r\nHost: Example.COM:8000\r\nUser-Agent: wrk\r\nContent-Length: 5\r\n\
Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nVia: 1.0 a\r\n\
TE: trailers, deflate\r\nKeep-Alive: 5\r\nX-Real-IP: 1.2.3.4\r\nX-Kong-Request-Id: spoofed\r\nAccept:  */* \t\r\n\r\nhello";
        let head = plain(data);
        assert_eq!(head.length, data.len() - 5);
        assert_eq!(head.method, "POST");
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
        let ka = |data: &[u8]| plain(data).keep_alive;
        assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert_eq!(plain(b"GET / HTTP/1.0\r\n\r\n").host, None);
    }

    #[test]
    fn hosts_as_nginx_reads_them() {
        assert_eq!(
            plain(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").host_name,
            b"[::1]"
        );
        assert_eq!(plain(b"GET / HTTP/1.1\r\nHost: a.b:\r\n\r\n").host_name, b"a.b");
        for bad in [&b""[..], b":80", b"a b", b"[]", b"[::1", b"a:8x", b"a/b", b"[::1]x"] {
            let data = [&b"GET / HTTP/1.1\r\nHost: "[..], bad, b"\r\n\r\n"].concat();
            assert_eq!(refused(&data), Refusal::BadRequest("invalid Host"), "{bad:?}");
        }
    }

    #[test]
    fn incomplete_heads_are_awaited() {
        assert_eq!(parser().parse(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
        assert_eq!(parser().parse(b""), Ok(None));
    }

    #[test]
    fn unusual_heads_are_accepted_but_not_plain() {
        for data in [
            &b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
            b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, keep-alive\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: \"close\"\r\n\r\n",
        ] {
            let head = parser().parse(data);
            assert!(
                matches!(head, Ok(Some(ref h)) if !h.plain),
                "{head:?}: {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn invalid_heads_are_refused_with_kongs_status() {
        for (data, status) in [
            (&b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..], 400),
            (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400),
            (b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405),
            (b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET a.b:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\nContent-Length: 3\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: upgrade\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ] {
            let why = refused(data);
            assert_eq!(why.status(), status, "{why:?}: {:?}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn underscores_are_left_out_unless_allowed() {
        let data = b"GET / HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\nX-Other: 2\r\n\r\n";
        let head = plain(data);
        assert_eq!(head.forwarded, b"X-Other: 2\r\n".to_vec());
        assert_eq!(head.fields.len(), 2);
        let kept = RequestHeadParser::new(
            Limits { request_line: 99, header_line: 99, head: 999, body: 0 },
            vec![],
            true,
        );
        assert_eq!(
            kept.parse(data).unwrap().unwrap().forwarded,
            b"X_Custom: 1\r\nX-Other: 2\r\n".to_vec()
        );
    }

    #[test]
    fn upgrades_and_expectations() {
        let ws = accept(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n");
        assert!(ws.upgrade && ws.websocket);
        let h2c = accept(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n");
        assert!(h2c.upgrade && !h2c.websocket);
        let old = accept(b"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
        assert!(old.upgrade && !old.websocket);
        assert!(!accept(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").upgrade);
        assert!(
            accept(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expect_continue
        );
        assert!(!accept(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expect_continue);
        assert_eq!(
            accept(b"GET http://a.b/c?d HTTP/1.1\r\nHost: a\r\n\r\n").target,
            b"/c?d"
        );
        assert_eq!(
            accept(b"GET http://a.b HTTP/1.1\r\nHost: a\r\n\r\n").target,
            b"/"
        );
    }

    #[test]
    fn limits_give_kongs_statuses() {
        let small = RequestHeadParser::new(
            Limits { request_line: 20, header_line: 20, head: 60, body: 10 },
            vec![],
            false,
        );
        let refusal = |data: &[u8]| small.parse(data).map(|head| head.and_then(|h| h.refusal));
        assert_eq!(
            refusal(b"GET /0123456789012345678901 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(Refusal::TargetTooLong)
        );
        assert_eq!(
            refusal(b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef\r\n\r\n"),
            Ok(Some(Refusal::HeadTooLarge))
        );
        assert_eq!(
            refusal(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"),
            Ok(Some(Refusal::BodyTooLarge))
        );
        assert_eq!(
            refusal(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"),
            Ok(None)
        );
        assert_eq!(small.parse(&[b'a'; 100]), Err(Refusal::TargetTooLong));
        assert_eq!(
            small.parse(&[&b"GET / HTTP/1.1\r\n"[..], &[b'a'; 100]].concat()),
            Err(Refusal::HeadTooLarge)
        );
        let many: Vec<u8> = [
            &b"GET / HTTP/1.1\r\nHost: a\r\n"[..],
            &b"X: y\r\n".repeat(INLINE_FIELDS + 10),
            b"\r\n",
        ]
        .concat();
        let head = accept(&many);
        assert!(!head.plain && head.fields.len() == INLINE_FIELDS + 11);
    }

    #[test]
    fn pipelined_input_ends_the_head_at_its_blank_line() {
        let data = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
        let first = plain(data);
        assert_eq!(first.target, b"/1");
        assert_eq!(plain(&data[first.length..]).target, b"/2");
    }
}

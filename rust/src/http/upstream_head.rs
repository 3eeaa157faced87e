//! The request head sent upstream: the access phase's default work (Kong's runloop and the
//! `proxy_set_header` lines of its nginx template), one implementation for both lanes.
//!
//! The head is re-serialised from parsed fields, never copied: the request line with the
//! router's upstream path and the query as received, then `Host` (left to the caller: it is
//! known only once the balancer picked a peer), `Connection: keep-alive`, `X-Forwarded-For`
//! (the client's list with the peer appended), `-Proto`, `-Host`, `-Port`, `-Path`, `-Prefix`
//! (when a route stripped one), `X-Real-IP`, `Via` (ours appended to the client's),
//! `X-Kong-Request-Id` (when `headers_upstream` has it), `TE: trailers` when the client listed
//! it, the client's forwardable fields and the body framing.
//!
//! On a connection from a trusted address (`trusted_ips`), the client's `X-Forwarded-*` and
//! real-IP header replace ours: the caller works those out and passes them as [`Trusted`].

/// What fixes the head for a worker (from its settings).
#[derive(Debug, Clone)]
pub struct UpstreamHeadRules {
    /// Our `Via` token by request version: `[HTTP/1.1, HTTP/1.0]` (e.g. `1.1 gantry/0.1`).
    pub inbound_via: [Vec<u8>; 2],
    /// nginx's `$host` when the request has no Host (HTTP/1.0).
    pub server_name: Vec<u8>,
    /// `X-Kong-Request-Id` goes upstream (`headers_upstream`).
    pub request_id: bool,
}

/// How the request body is framed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// A `Content-Length` of that many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The request fields the head is made of.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    /// The request method.
    pub method: &'a [u8],
    /// Origin-form: path and query as received.
    pub target: &'a [u8],
    /// The client spoke HTTP/1.0 (it picks our `Via` token).
    pub http10: bool,
    /// nginx's `$host` from the Host header; None without one.
    pub host_name: Option<&'a [u8]>,
    /// The client's `X-Forwarded-For` list; the peer is appended to it.
    pub x_forwarded_for: Option<&'a [u8]>,
    /// The client's `Via` values; ours is appended to them.
    pub via: Option<&'a [u8]>,
    /// The client's `TE` listed `trailers`: `TE: trailers` goes upstream.
    pub te_trailers: bool,
    /// The client asked to switch to WebSocket (`Upgrade: websocket` with `Connection:
    /// upgrade`): passed on as Kong does, instead of keep-alive.
    pub websocket: bool,
    /// The client's forwardable fields as `Name: value\r\n` lines.
    pub fields: &'a [u8],
    /// How the body is framed upstream.
    pub framing: Framing,
}

/// The client connection.
#[derive(Debug, Clone, Copy)]
pub struct Downstream<'a> {
    /// The peer's address (`$remote_addr`).
    pub peer: &'a [u8],
    /// The port the request came in on.
    pub port: &'a [u8],
    /// The connection is TLS (`X-Forwarded-Proto: https`).
    pub https: bool,
}

/// Values a trusted client supplied (each None when it did not; an empty prefix means none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Trusted<'a> {
    /// The real client address (`real_ip_header`).
    pub remote: Option<&'a [u8]>,
    /// `X-Forwarded-Proto`.
    pub proto: Option<&'a [u8]>,
    /// `X-Forwarded-Host`.
    pub host: Option<&'a [u8]>,
    /// `X-Forwarded-Port`.
    pub port: Option<&'a [u8]>,
    /// `X-Forwarded-Path`.
    pub path: Option<&'a [u8]>,
    /// `X-Forwarded-Prefix`.
    pub prefix: Option<&'a [u8]>,
}

/// The route's part: where the request goes on the upstream.
#[derive(Debug, Clone, Copy)]
pub struct RouteTarget<'a> {
    /// The upstream path as the router built it.
    pub upstream_path: &'a str,
    /// The prefix `strip_path` removed, if any.
    pub forwarded_prefix: Option<&'a str>,
}

/// The head in two pieces around the Host value: `before` ends with `Host: `, `after` starts
/// with the line end of the Host line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHead {
    /// From the request line to `Host: `.
    pub before: Vec<u8>,
    /// From the end of the Host line to the blank line that ends the head.
    pub after: Vec<u8>,
}

impl UpstreamHeadRules {
    /// The upstream head of `request` for `route`: `downstream` gives the client's address and
    /// port, `trusted` what a trusted client supplied, `request_id` goes upstream when enabled.
    pub fn build(
        &self,
        request: &Forwarding<'_>,
        route: &RouteTarget<'_>,
        downstream: &Downstream<'_>,
        trusted: &Trusted<'_>,
        request_id: &[u8],
    ) -> UpstreamHead {
        let query_at = request.target.iter().position(|b| *b == b'?').unwrap_or(request.target.len());
        let (path, query) = request.target.split_at(query_at);

        let mut before = Vec::with_capacity(request.method.len() + route.upstream_path.len() + query.len() + 24);
        before.extend_from_slice(request.method);
        before.push(b' ');
        escape_path(route.upstream_path, &mut before);
        before.extend_from_slice(query);
        before.extend_from_slice(b" HTTP/1.1\r\nHost: ");

        let remote = trusted.remote.unwrap_or(downstream.peer);
        let proto: &[u8] = trusted.proto.unwrap_or(if downstream.https { b"https" } else { b"http" });
        let host = trusted.host.unwrap_or(request.host_name.unwrap_or(&self.server_name));
        let port = trusted.port.unwrap_or(downstream.port);
        let forwarded_path = trusted.path.unwrap_or(path);
        let prefix = match (trusted.prefix, route.forwarded_prefix) {
            (Some(theirs), _) => Some(theirs).filter(|p| !p.is_empty()), // empty: they say none
            (None, Some(ours)) if !ours.is_empty() && ours != "/" => Some(ours.as_bytes()),
            _ => None,
        };

        let mut after = Vec::with_capacity(request.fields.len() + 256);
        after.extend_from_slice(b"\r\n"); // the end of the Host line
        let mut line = |name: &[u8], values: &[&[u8]]| {
            after.extend_from_slice(name);
            for value in values {
                after.extend_from_slice(value);
            }
            after.extend_from_slice(b"\r\n");
        };
        if request.websocket {
            line(b"Connection: upgrade\r\nUpgrade: websocket", &[]);
        } else {
            line(b"Connection: keep-alive", &[]);
        }
        match request.x_forwarded_for {
            // the client's list, then the address the connection came from
            Some(list) => line(b"X-Forwarded-For: ", &[list, b", ", downstream.peer]),
            None => line(b"X-Forwarded-For: ", &[remote]),
        }
        line(b"X-Forwarded-Proto: ", &[proto]);
        line(b"X-Forwarded-Host: ", &[host]);
        line(b"X-Forwarded-Port: ", &[port]);
        line(b"X-Forwarded-Path: ", &[forwarded_path]);
        if let Some(prefix) = prefix {
            line(b"X-Forwarded-Prefix: ", &[prefix]);
        }
        line(b"X-Real-IP: ", &[remote]);
        let ours = &self.inbound_via[usize::from(request.http10)];
        match request.via {
            Some(theirs) => line(b"Via: ", &[theirs, b", ", ours]),
            None => line(b"Via: ", &[ours]),
        }
        if self.request_id {
            line(b"X-Kong-Request-Id: ", &[request_id]);
        }
        if request.te_trailers {
            line(b"TE: trailers", &[]);
        }
        after.extend_from_slice(request.fields);
        match request.framing {
            Framing::None => {}
            Framing::Length(length) => {
                after.extend_from_slice(b"Content-Length: ");
                after.extend_from_slice(length.to_string().as_bytes());
                after.extend_from_slice(b"\r\n");
            }
            Framing::Chunked => after.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        after.extend_from_slice(b"\r\n");
        UpstreamHead { before, after }
    }
}

/// The upstream path as request-line bytes: Kong's uri escape keeps reserved and unreserved
/// characters and existing %-escapes and %-encodes anything else. The router escapes already;
/// this keeps the request line valid whatever a path holds. Characters up to U+00FF are
/// escaped as their Latin-1 byte (as Kong's byte strings hold them), others as UTF-8.
pub fn escape_path(path: &str, out: &mut Vec<u8>) {
    let safe = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+'
            )
            || matches!(b, b',' | b';' | b'=' | b':' | b'@' | b'/' | b'%')
    };
    if path.bytes().all(safe) {
        out.extend_from_slice(path.as_bytes());
        return;
    }
    let latin1 = path.chars().all(|c| u32::from(c) <= 0xFF);
    let mut escape = |b: u8| {
        if safe(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX_UPPER[usize::from(b >> 4)], HEX_UPPER[usize::from(b & 15)]]);
        }
    };
    if latin1 {
        path.chars().for_each(|c| escape(u32::from(c) as u8));
    } else {
        path.bytes().for_each(escape);
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> UpstreamHeadRules {
        UpstreamHeadRules {
            inbound_via: [b"1.1 gantry".to_vec(), b"1.0 gantry".to_vec()],
            server_name: b"gantry".to_vec(),
            request_id: true,
        }
    }

    fn request() -> Forwarding<'static> {
        Forwarding {
            method: b"GET",
            target: b"/api/users?page=2",
            http10: false,
            host_name: Some(b"example.com"),
            x_forwarded_for: None,
            via: None,
            te_trailers: false,
            websocket: false,
            fields: b"Accept: */*\r\n",
            framing: Framing::None,
        }
    }

    const ROUTE: RouteTarget<'static> = RouteTarget { upstream_path: "/users", forwarded_prefix: Some("/api") };
    const DOWN: Downstream<'static> = Downstream { peer: b"10.0.0.1", port: b"8000", https: false };

    fn text(head: &UpstreamHead, host: &str) -> String {
        format!(
            "{}{host}{}",
            String::from_utf8_lossy(&head.before),
            String::from_utf8_lossy(&head.after)
        )
    }

    #[test]
    fn builds_kongs_upstream_head() {
        let head = rules().build(&request(), &ROUTE, &DOWN, &Trusted::default(), b"rid");
        assert_eq!(
            text(&head, "up:8080"),
            "GET /users?page=2 HTTP/1.1\r\nHost: up:8080\r\nConnection: keep-alive\r\nX-Forwarded-For: 10.0.0.1\r\n\
X-Forwarded-Proto: http\r\nX-Forwarded-Host: example.com\r\nX-Forwarded-Port: 8000\r\nX-Forwarded-Path: /api/users\r\n\
X-Forwarded-Prefix: /api\r\nX-Real-IP: 10.0.0.1\r\nVia: 1.1 gantry\r\nX-Kong-Request-Id: rid\r\nAccept: */*\r\n\r\n"
        );
    }

    #[test]
    fn appends_to_the_clients_lists_and_frames_the_body() {
        let request = Forwarding {
            http10: true,
            host_name: None,
            x_forwarded_for: Some(b"1.2.3.4"),
            via: Some(b"1.1 edge"),
            te_trailers: true,
            framing: Framing::Length(12),
            ..request()
        };
        let route = RouteTarget { upstream_path: "/", forwarded_prefix: Some("/") };
        let no_id = UpstreamHeadRules { request_id: false, ..rules() };
        let text = text(
            &no_id.build(&request, &route, &DOWN, &Trusted::default(), b"rid"),
            "h",
        );
        assert!(text.contains("X-Forwarded-For: 1.2.3.4, 10.0.0.1\r\n"), "{text}");
        assert!(text.contains("X-Forwarded-Host: gantry\r\n"), "{text}");
        assert!(
            text.contains("Via: 1.1 edge, 1.0 gantry\r\nTE: trailers\r\nAccept: */*\r\nContent-Length: 12\r\n\r\n"),
            "{text}"
        );
        assert!(
            !text.contains("Prefix") && !text.contains("Request-Id"),
            "{text}"
        );
        let chunked = Forwarding { framing: Framing::Chunked, ..request };
        let text = String::from_utf8(
            rules()
                .build(
                    &Forwarding { websocket: true, ..request },
                    &route,
                    &DOWN,
                    &Trusted::default(),
                    b"",
                )
                .after,
        )
        .unwrap();
        assert!(
            text.starts_with("\r\nConnection: upgrade\r\nUpgrade: websocket\r\nX-Forwarded-For: "),
            "{text}"
        );
        let text = String::from_utf8(rules().build(&chunked, &route, &DOWN, &Trusted::default(), b"").after).unwrap();
        assert!(text.ends_with("Transfer-Encoding: chunked\r\n\r\n"), "{text}");
    }

    #[test]
    fn a_trusted_clients_values_replace_ours() {
        let trusted = Trusted {
            remote: Some(b"9.9.9.9"),
            proto: Some(b"https"),
            host: Some(b"front"),
            port: Some(b"443"),
            path: Some(b"/orig"),
            prefix: Some(b"/p"),
        };
        let text = text(&rules().build(&request(), &ROUTE, &DOWN, &trusted, b"r"), "h");
        for expected in [
            "X-Forwarded-For: 9.9.9.9\r\n",
            "X-Forwarded-Proto: https\r\n",
            "X-Forwarded-Host: front\r\n",
            "X-Forwarded-Port: 443\r\n",
            "X-Forwarded-Path: /orig\r\n",
            "X-Forwarded-Prefix: /p\r\n",
            "X-Real-IP: 9.9.9.9\r\n",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn paths_are_escaped_for_the_request_line() {
        let escaped = |path: &str| {
            let mut out = Vec::new();
            escape_path(path, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(escaped("/a/b;c=d/%41"), "/a/b;c=d/%41");
        assert_eq!(escaped("/with space/\u{e9}"), "/with%20space/%E9");
        assert_eq!(escaped("/\u{20ac}"), "/%E2%82%AC");
        assert_eq!(escaped("/q?x"), "/q%3Fx");
    }
}

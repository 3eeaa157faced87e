//! The response head sent to the client: the header filter's default work in one call.
//!
//! Kong's header_filter defaults on top of what the upstream sent (see `ResponseHead`): nginx's
//! own status line, the framing chosen for this client (the upstream's Content-Length, else
//! chunked for HTTP/1.1, else the body ends when the connection closes), Connection, Via
//! appended to, Server and Date when the upstream sent none, the latency headers and the
//! request id, as the `headers` setting enables them. What is fixed for a worker (status lines,
//! header switches, the Via and Server tokens) is given once; what is per response is passed
//! per call.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::SystemTime;

use super::response_head::{parse_response_head, ResponseHead};

/// The worker-wide part of the header filter.
#[derive(Debug)]
pub struct ClientHeadFilter {
    /// `HTTP/1.1 <code> <reason>\r\n` for codes 100..=999 (index `code - 100`).
    status_lines: Vec<Vec<u8>>,
    /// The `Via` token appended for this gateway (e.g. `1.1 gantry/1.0`), when enabled.
    via: Option<Vec<u8>>,
    /// The whole `Server: ...\r\n` line, when enabled.
    server_line: Option<Vec<u8>>,
    upstream_latency: bool,
    proxy_latency: bool,
    request_id: bool,
    /// The last `Date: ...\r\n` line and the second it was made for.
    date: Mutex<(u64, Vec<u8>)>,
}

/// Per-response inputs, all known when the upstream head has arrived.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// The request was HEAD: no body follows whatever the head says.
    pub head_request: bool,
    /// The client spoke HTTP/1.0: a body without a length then ends with the connection instead
    /// of being chunked.
    pub http10_client: bool,
    /// The client connection may stay open (keep-alive asked, not draining, under its limit).
    pub keep_alive: bool,
    /// Milliseconds the upstream took (`X-Kong-Upstream-Latency`, when enabled).
    pub upstream_latency_ms: i64,
    /// Milliseconds spent in the gateway (`X-Kong-Proxy-Latency`, when enabled).
    pub proxy_latency_ms: i64,
    /// The request's id (`X-Kong-Request-Id`, when enabled).
    pub request_id: &'a [u8],
    /// The client asked for a WebSocket: a `101` switches the connection to the upstream's
    /// protocol (`Connection: upgrade` and its `Upgrade`, no framing).
    pub upgrade: bool,
}

/// What the filter decided besides the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHead {
    /// The whole head, blank line included.
    pub bytes: Vec<u8>,
    /// The body is re-chunked for the client.
    pub chunked: bool,
    /// The connection stays open after this response.
    pub keep_alive: bool,
}

/// A plain upstream head and the client head made of it (see [`ClientHeadFilter::relay`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// Bytes of the upstream head: its body starts here.
    pub head_length: usize,
    /// The upstream's status.
    pub status: u16,
    /// Body bytes that follow (0 for a response to HEAD, 204, 304).
    pub body_length: u64,
    /// The upstream connection may serve another request after this response.
    pub reusable: bool,
    /// The head for the client.
    pub client: ClientHead,
}

impl ClientHeadFilter {
    /// The fast lane's response side in one call: the upstream head at the start of `data`
    /// parsed and the client head built, when the head is whole, plain and framed by a length
    /// (or has no body); None otherwise, and the general lane reads the response.
    pub fn relay(&self, data: &[u8], exchange: &Exchange<'_>) -> Option<Relayed> {
        let head = parse_response_head(data).ok()??;
        if !head.plain {
            return None;
        }
        let body_length = if exchange.head_request {
            0
        } else {
            head.body_length?
        };
        let client = self.build(&head, exchange);
        Some(Relayed { head_length: head.length, status: head.status, body_length, reusable: head.reusable, client })
    }

    /// `status_lines`: for codes 100..=999 in order. Fewer lines than that is a caller bug;
    /// missing codes get a line without a reason phrase.
    pub fn new(
        status_lines: Vec<Vec<u8>>,
        via: Option<Vec<u8>>,
        server_line: Option<Vec<u8>>,
        upstream_latency: bool,
        proxy_latency: bool,
        request_id: bool,
    ) -> Self {
        ClientHeadFilter {
            status_lines,
            via,
            server_line,
            upstream_latency,
            proxy_latency,
            request_id,
            date: Mutex::new((u64::MAX, Vec::new())),
        }
    }

    /// The client head for the upstream `head`: nginx's status line, the forwardable fields, the
    /// framing for this client, Connection, Via, Server and Date when the upstream sent none, and
    /// the enabled Kong headers.
    pub fn build(&self, head: &ResponseHead, exchange: &Exchange<'_>) -> ClientHead {
        let mut out = Vec::with_capacity(head.forwarded.len() + 256);
        match head.status.checked_sub(100).and_then(|i| self.status_lines.get(usize::from(i))) {
            Some(line) => out.extend_from_slice(line),
            None => {
                let _ = write!(Bytes(&mut out), "HTTP/1.1 {} \r\n", head.status);
            }
        }
        out.extend_from_slice(&head.forwarded);
        let mut chunked = false;
        let mut keep_alive = exchange.keep_alive;
        if exchange.upgrade && head.status == 101 {
            out.extend_from_slice(b"Connection: upgrade\r\nUpgrade: ");
            out.extend_from_slice(head.upgrade.as_deref().unwrap_or(b"websocket"));
            out.extend_from_slice(b"\r\n");
            keep_alive = false; // the connection is no longer HTTP
        } else if let Some(length) = &head.content_length {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(length);
            out.extend_from_slice(b"\r\n");
        } else if exchange.head_request || matches!(head.status, 204 | 304) {
            // no body
        } else if !exchange.http10_client {
            chunked = true;
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        } else {
            keep_alive = false; // an HTTP/1.0 client: the body ends when we close
        }
        if !(exchange.upgrade && head.status == 101) {
            out.extend_from_slice(if keep_alive {
                b"Connection: keep-alive\r\n"
            } else {
                b"Connection: close\r\n"
            });
        }
        if let Some(via) = &self.via {
            out.extend_from_slice(b"Via: ");
            if let Some(theirs) = &head.via {
                out.extend_from_slice(theirs);
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(via);
            out.extend_from_slice(b"\r\n");
        }
        if let (false, Some(line)) = (head.has_server, &self.server_line) {
            out.extend_from_slice(line);
        }
        if !head.has_date {
            self.date_line(&mut out);
        }
        if self.upstream_latency {
            let _ = write!(
                Bytes(&mut out),
                "X-Kong-Upstream-Latency: {}\r\n",
                exchange.upstream_latency_ms
            );
        }
        if self.proxy_latency {
            let _ = write!(
                Bytes(&mut out),
                "X-Kong-Proxy-Latency: {}\r\n",
                exchange.proxy_latency_ms
            );
        }
        if self.request_id {
            out.extend_from_slice(b"X-Kong-Request-Id: ");
            out.extend_from_slice(exchange.request_id);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        ClientHead { bytes: out, chunked, keep_alive }
    }

    /// Appends `Date: <IMF-fixdate>\r\n`, formatted at most once a second (the gateway's own
    /// responses take theirs from here too).
    pub fn date_line(&self, out: &mut Vec<u8>) {
        let now = SystemTime::now();
        let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut cached = self.date.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cached.0 != second {
            *cached = (
                second,
                format!("Date: {}\r\n", httpdate::fmt_http_date(now)).into_bytes(),
            );
        }
        out.extend_from_slice(&cached.1);
    }
}

/// `fmt::Write` into a byte buffer (formatting numbers without a String in between).
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_response_head;

    fn filter(via: bool, server: bool, latency: bool, request_id: bool) -> ClientHeadFilter {
        let lines = (100..1000).map(|code| format!("HTTP/1.1 {code} R{code}\r\n").into_bytes()).collect();
        ClientHeadFilter::new(
            lines,
            via.then(|| b"1.1 gantry".to_vec()),
            server.then(|| b"Server: gantry\r\n".to_vec()),
            latency,
            latency,
            request_id,
        )
    }

    fn exchange() -> Exchange<'static> {
        Exchange {
            head_request: false,
            http10_client: false,
            keep_alive: true,
            upstream_latency_ms: 7,
            proxy_latency_ms: 1234,
            request_id: b"abc",
            upgrade: false,
        }
    }

    fn head(data: &[u8]) -> ResponseHead {
        parse_response_head(data).unwrap().unwrap()
    }

    #[test]
    fn decorates_the_upstream_head_as_kong_does() {
        let upstream = head(
            b"HTTP/1.1 200 Whatever\r\nServer: up\r\nDate: D\r\nX-A: 1\r\nContent-Length: 2\r\nVia: 1.0 a\r\n\r\n",
        );
        let built = filter(true, true, true, true).build(&upstream, &exchange());
        assert_eq!(
            String::from_utf8(built.bytes).unwrap(),
            "HTTP/1.1 200 R200\r\nServer: up\r\nDate: D\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\
Via: 1.0 a, 1.1 gantry\r\nX-Kong-Upstream-Latency: 7\r\nX-Kong-Proxy-Latency: 1234\r\nX-Kong-Request-Id: abc\r\n\r\n"
        );
        assert!(built.keep_alive && !built.chunked);
    }

    #[test]
    fn adds_server_and_date_only_when_missing_and_enabled() {
        let upstream = head(b"HTTP/1.1 204 No Content\r\n\r\n");
        let text = String::from_utf8(filter(false, true, false, false).build(&upstream, &exchange()).bytes).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 204 R204\r\nConnection: keep-alive\r\nServer: gantry\r\nDate: "),
            "{text}"
        );
        assert!(
            text.ends_with(" GMT\r\n\r\n") && !text.contains("Via") && !text.contains("Latency"),
            "{text}"
        );
        let text = String::from_utf8(filter(false, false, false, false).build(&upstream, &exchange()).bytes).unwrap();
        assert!(!text.contains("Server"), "{text}");
    }

    #[test]
    fn chooses_the_framing_for_the_client() {
        let unframed = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let f = filter(false, false, false, false);
        let built = f.build(&unframed, &exchange());
        assert!(built.chunked && built.keep_alive);
        assert!(
            String::from_utf8_lossy(&built.bytes).contains("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n")
        );
        let old = f.build(&unframed, &Exchange { http10_client: true, ..exchange() });
        assert!(!old.chunked && !old.keep_alive);
        assert!(String::from_utf8_lossy(&old.bytes).contains("Connection: close\r\n"));
        let head_request = f.build(&unframed, &Exchange { head_request: true, ..exchange() });
        assert!(!head_request.chunked && head_request.keep_alive);
        let closing = f.build(&unframed, &Exchange { keep_alive: false, ..exchange() });
        assert!(!closing.keep_alive && String::from_utf8_lossy(&closing.bytes).contains("Connection: close\r\n"));
    }

    #[test]
    fn a_switch_to_websocket_passes_the_protocol_on() {
        let upstream = head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: k\r\n\r\n");
        let f = filter(false, false, false, false);
        let built = f.build(&upstream, &Exchange { upgrade: true, ..exchange() });
        let text = String::from_utf8(built.bytes).unwrap();
        assert!(
            text.starts_with(
                "HTTP/1.1 101 R101\r\nSec-WebSocket-Accept: k\r\nConnection: upgrade\r\nUpgrade: websocket\r\nDate: "
            ),
            "{text}"
        );
        assert!(
            !text.contains("keep-alive") && !text.contains("chunked") && !built.keep_alive,
            "{text}"
        );
        let refused = f.build(
            &head(b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n"),
            &Exchange { upgrade: true, ..exchange() },
        );
        assert!(String::from_utf8_lossy(&refused.bytes).contains("Connection: keep-alive\r\n"));
    }

    #[test]
    fn relays_plain_heads_only() {
        let f = filter(false, false, false, false);
        let data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let relayed = f.relay(data, &exchange()).expect("plain");
        assert_eq!(
            (
                relayed.head_length,
                relayed.status,
                relayed.body_length,
                relayed.reusable
            ),
            (38, 200, 5, true)
        );
        assert_eq!(relayed.client.bytes, f.build(&head(data), &exchange()).bytes);
        let to_head = f.relay(data, &Exchange { head_request: true, ..exchange() }).expect("plain");
        assert_eq!(to_head.body_length, 0);
        assert!(f
            .relay(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                &exchange()
            )
            .is_none());
        assert!(f.relay(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", &exchange()).is_none());
        assert!(f.relay(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", &exchange()).is_none());
        assert!(f.relay(b"HTTP/1.1 100 Continue\r\n\r\n", &exchange()).is_none());
    }

    #[test]
    fn status_codes_without_a_line_get_one_made() {
        let f = ClientHeadFilter::new(Vec::new(), None, None, false, false, false);
        let built = f.build(
            &head(b"HTTP/1.1 299 Odd\r\nContent-Length: 0\r\n\r\n"),
            &exchange(),
        );
        assert!(built.bytes.starts_with(b"HTTP/1.1 299 \r\n"));
    }
}

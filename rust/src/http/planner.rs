//! The request side in one call: read a head and, when it is plain, route it and build the
//! upstream request head.
//!
//! What the proxy otherwise does in several steps (router, access phase) is done here for a
//! plain head (see [`RequestHeadParser`]), with the same pieces: the same router and the same
//! [`UpstreamHeadRules`]. A head is *planned* (routed, upstream head built) only when it is
//! plain and nothing else has a say in it: the connection is not from a trusted address
//! (whose `X-Forwarded-*` headers the access phase reads), a route matched, it does not
//! redirect to https, and it buffers request bodies (Kong's default `request_buffering`: a
//! planned request is always buffered, so the proxy need not ask the route). Otherwise the head comes back unplanned and the proxy routes it and runs
//! the access phase itself, exactly as for a head of the general lane.
//!
//! No plugin runs in this version; a request a plugin applies to must not be planned once
//! they do, since plugins may rewrite what the router sees and what goes upstream.

use std::sync::Arc;

use super::request_head::{Refusal, RequestHead, RequestHeadParser};
use super::upstream_head::{Downstream, Forwarding, Framing, RouteTarget, Trusted, UpstreamHead, UpstreamHeadRules};
use crate::router::{Match, RequestInput, Router};

/// One worker's fast-lane rules.
#[derive(Debug, Clone)]
pub struct Planner {
    /// Reads and checks the client head.
    pub parser: RequestHeadParser,
    /// Builds the upstream head of a planned head.
    pub rules: UpstreamHeadRules,
}

/// A head the reader accepted, planned or not.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The head as read.
    pub head: RequestHead<'a>,
    /// The route and the upstream head, when planned.
    pub routed: Option<(Arc<Match>, UpstreamHead)>,
}

impl Planner {
    /// The head at the start of `data` (`Ok(None)` while incomplete, refused as
    /// [`RequestHeadParser::parse`] refuses), routed by `router` when it is given, the head is
    /// plain and the connection is not `trusted`.
    pub fn plan<'a>(
        &self,
        data: &'a [u8],
        router: Option<&Router>,
        downstream: &Downstream<'_>,
        sni: Option<&str>,
        trusted: bool,
        request_id: &[u8],
    ) -> Result<Option<Plan<'a>>, Refusal> {
        let Some(head) = self.parser.parse(data)? else {
            return Ok(None);
        };
        let routed = match router {
            Some(router) if !trusted && head.plain => self.route(&head, router, downstream, sni, request_id),
            _ => None,
        };
        Ok(Some(Plan { head, routed }))
    }

    fn route(
        &self,
        head: &RequestHead<'_>,
        router: &Router,
        downstream: &Downstream<'_>,
        sni: Option<&str>,
        request_id: &[u8],
    ) -> Option<(Arc<Match>, UpstreamHead)> {
        let path_end = head.target.iter().position(|b| *b == b'?').unwrap_or(head.target.len());
        // Only the headers some route looks at, names lower-cased as the router compares them.
        let names = router.header_names();
        let headers: Vec<(String, &str)> = if names.is_empty() {
            Vec::new()
        } else {
            head.fields
                .iter()
                .filter(|(name, _)| names.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name)))
                .map(|(name, value)| (text(name).to_ascii_lowercase(), text(value)))
                .collect()
        };
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), *value)).collect();
        let found = router.find(&RequestInput {
            method: head.method,
            scheme: if downstream.https { "https" } else { "http" },
            host: head.host.map_or("", text),
            path: text(&head.target[..path_end]),
            sni,
            headers: &pairs,
        })?;
        if found.service_id.is_none()
            || (found.https_redirect_status.is_some() && !downstream.https)
            || !found.request_buffering
        {
            return None;
        }
        let request = Forwarding {
            method: head.method.as_bytes(),
            target: head.target,
            http10: head.http10,
            host_name: head.host.map(|_| head.host_name.as_slice()),
            x_forwarded_for: head.x_forwarded_for.as_deref(),
            via: head.via.as_deref(),
            te_trailers: head.te_trailers,
            websocket: false, // a plain head has no Upgrade
            fields: &head.forwarded,
            framing: head.content_length.map_or(Framing::None, Framing::Length),
        };
        let route =
            RouteTarget { upstream_path: &found.upstream_path, forwarded_prefix: found.forwarded_prefix.as_deref() };
        let upstream = self.rules.build(&request, &route, downstream, &Trusted::default(), request_id);
        Some((found, upstream))
    }
}

/// The parser accepted plain ASCII only: every slice of a head is valid UTF-8.
fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{Route, Service};
    use crate::http::Limits;

    fn planner() -> Planner {
        let limits = Limits { request_line: 8192, header_line: 8192, head: 32768, body: 0 };
        Planner {
            parser: RequestHeadParser::new(limits, vec![b"x-real-ip".to_vec()], false),
            rules: UpstreamHeadRules {
                inbound_via: [b"1.1 gantry".to_vec(), b"1.0 gantry".to_vec()],
                server_name: b"gantry".to_vec(),
                request_id: false,
            },
        }
    }

    fn router(routes: serde_json::Value) -> Router {
        let routes: Vec<Route> = serde_json::from_value(routes).unwrap();
        let services: Vec<Service> =
            serde_json::from_value(serde_json::json!([{"id": "s", "host": "up", "port": 80}])).unwrap();
        Router::new(routes, &services, 16).unwrap()
    }

    const DOWN: Downstream<'static> = Downstream { peer: b"10.0.0.1", port: b"8000", https: false };

    #[test]
    fn routes_and_builds_the_upstream_head() {
        let router = router(serde_json::json!([{"id": "r", "service": {"id": "s"}, "paths": ["/api"]}]));
        let data = b"GET /api/users?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Real-IP: 6.6.6.6\r\nAccept: */*\r\n\r\n";
        let plan = planner().plan(data, Some(&router), &DOWN, None, false, b"id").unwrap().unwrap();
        let (found, head) = plan.routed.expect("planned");
        assert_eq!(&*found.route_id, "r");
        let text = format!(
            "{}up{}",
            String::from_utf8_lossy(&head.before),
            String::from_utf8_lossy(&head.after)
        );
        assert!(
            text.starts_with("GET /users?x=1 HTTP/1.1\r\nHost: up\r\nConnection: keep-alive\r\n"),
            "{text}"
        );
        assert!(
            text.contains("X-Forwarded-Prefix: /api\r\nX-Real-IP: 10.0.0.1\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("Via: 1.1 gantry\r\nAccept: */*\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn leaves_to_the_access_phase_what_it_must_decide() {
        let router = router(serde_json::json!([
            {"id": "r", "service": {"id": "s"}, "paths": ["/api"]},
            {"id": "secure", "service": {"id": "s"}, "paths": ["/secure"], "protocols": ["https"]},
            {"id": "h", "service": {"id": "s"}, "headers": {"x-v": ["2"]}},
            {"id": "stream", "service": {"id": "s"}, "paths": ["/stream"], "request_buffering": false},
        ]));
        let p = planner();
        let unplanned = |data: &[u8], trusted: bool| {
            p.plan(data, Some(&router), &DOWN, None, trusted, b"").unwrap().unwrap().routed.is_none()
        };
        assert!(
            unplanned(b"GET /api HTTP/1.1\r\nHost: a\r\n\r\n", true),
            "trusted client"
        );
        assert!(
            unplanned(b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n", false),
            "no route"
        );
        assert!(
            unplanned(b"GET /secure HTTP/1.1\r\nHost: a\r\n\r\n", false),
            "https redirect"
        );
        assert!(
            unplanned(
                b"POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                false
            ),
            "body streamed"
        );
        assert!(
            !unplanned(b"GET /other HTTP/1.1\r\nHost: a\r\nX-V: 2\r\n\r\n", false),
            "header route"
        );
        assert!(
            unplanned(
                b"GET /api HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
                false
            ),
            "not plain"
        );
        assert!(p
            .plan(
                b"GET /api HTTP/1.1\r\nHost: a\r\n\r\n",
                None,
                &DOWN,
                None,
                false,
                b""
            )
            .unwrap()
            .unwrap()
            .routed
            .is_none());
        assert!(p.plan(b"GET /api HTTP/1.1\r\n", Some(&router), &DOWN, None, false, b"").unwrap().is_none());
    }
}

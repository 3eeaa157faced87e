//! The router: compile a config's routes once, then match each request with one call.
//!
//! Semantics follow Kong's `traditional_compatible` router: hosts (exact and wildcard, with
//! optional port), prefix and regex paths on the normalised request path, methods, headers,
//! snis (https only), and the ranking documented in [`priority`]. A match carries everything
//! the proxy needs: the upstream path built per `strip_path`/`path_handling`, the prefix that
//! was stripped, regex captures, and the https redirect status for https-only routes.
//!
//! ```ignore
//! let router = Router::new(routes, &services, 4096)?;
//! let hit = router.find(&RequestInput { method: "GET", scheme: "http", host: "example.com",
//!                                       path: "/api/users", sni: None, headers: &[] });
//! ```
//!
//! `Router` is immutable after `new` except for its match cache (behind a mutex), so `find`
//! takes `&self` and may be called from any thread.

mod cache;
mod compile;
mod error;
mod fasthash;
mod headers;
mod host;
mod index;
mod matcher;
mod normalize;
mod path;
pub mod priority;
mod update;
mod uri;

use std::sync::Arc;

use crate::entities::{Route, Service};
use cache::MatchCache;
use index::Index;
use matcher::{Matcher, Prepared};

pub use error::RouterError;
pub use path::{CaptureKey, Captures};
pub use update::Changes;

/// One request as the router sees it. `headers` may hold every request header; only those
/// named in [`Router::header_names`] are looked at.
#[derive(Debug, Clone, Copy)]
pub struct RequestInput<'a> {
    /// The request method as received.
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The Host header as received (may carry a port).
    pub host: &'a str,
    /// The raw request path, without the query string.
    pub path: &'a str,
    /// The TLS SNI, for https requests.
    pub sni: Option<&'a str>,
    /// Request headers as (name, value) pairs.
    pub headers: &'a [(&'a str, &'a str)],
}

/// The result of a lookup. Immutable and shared between cache hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The matched route's id.
    pub route_id: Arc<str>,
    /// Its service's id; None for a route without one.
    pub service_id: Option<Arc<str>>,
    /// Escaped, ready for the request line (Kong escapes `upstream_uri` the same way).
    pub upstream_path: String,
    /// The route's `preserve_host`: the client's Host goes upstream.
    pub preserve_host: bool,
    /// The route's `request_buffering`: the body is read whole before the upstream is sent anything.
    pub request_buffering: bool,
    /// Set when the route accepts only https and the request came over http: the status to
    /// redirect with.
    pub https_redirect_status: Option<u16>,
    /// The request-path prefix `strip_path` removed (sent upstream as `X-Forwarded-Prefix`).
    pub forwarded_prefix: Option<String>,
    /// Regex path captures (Kong's `uri_captures`); None unless a regex path with groups matched.
    pub captures: Option<Captures>,
}

/// A config's routes, compiled and ranked; [`Router::find`] matches one request.
pub struct Router {
    /// In priority order; shared with the routers derived from this one.
    matchers: Vec<Arc<Matcher>>,
    index: Index,
    header_names: Vec<Box<str>>,
    route_count: usize,
    cache: MatchCache<Option<Arc<Match>>>,
}

impl Router {
    /// Compiles `routes` against `services`, keeping at most `cache_size` cached lookups.
    /// Fails on the first route that cannot be compiled.
    pub fn new(routes: Vec<Route>, services: &[Service], cache_size: usize) -> Result<Router, RouterError> {
        let services = services.iter().map(|s| (s.id.as_str(), s)).collect();
        let all = Changes { routes, services, ..Changes::default() };
        Router::empty(0).update(all, cache_size)
    }

    /// Lower-case names of the headers some route matches on.
    pub fn header_names(&self) -> &[Box<str>] {
        &self.header_names
    }

    /// The number of routes compiled (routes of missing or disabled services excluded).
    pub fn len(&self) -> usize {
        self.route_count
    }

    /// No route was compiled.
    pub fn is_empty(&self) -> bool {
        self.route_count == 0
    }

    /// The best route for a request, or `None` (Kong answers 404 then).
    pub fn find(&self, req: &RequestInput<'_>) -> Option<Arc<Match>> {
        let key = self.cache_key(req);
        if let Some(key) = &key {
            if let Some(hit) = self.cache.get(key) {
                return hit;
            }
        }
        let found = self.lookup(req).map(Arc::new);
        if let Some(key) = key {
            self.cache.insert(key.into_boxed_str(), found.clone());
        }
        found
    }

    fn lookup(&self, req: &RequestInput<'_>) -> Option<Match> {
        let (host, port) = host::request_host(req.host, req.scheme);
        let prepared = Prepared {
            method: req.method,
            https: req.scheme.eq_ignore_ascii_case("https"),
            host,
            port,
            sni: req.sni.map(lower),
            path: normalize::normalize(req.path),
            headers: req.headers,
        };
        let mut candidates = Vec::new();
        self.index.candidates(&prepared.host, &prepared.path, &mut candidates);
        candidates.into_iter().find_map(|i| {
            let m = &self.matchers[i as usize];
            m.check(&prepared).map(|hit| build_match(m, &prepared, hit))
        })
    }

    /// Everything the result depends on: method, scheme, host and sni (case-folded, as they
    /// are compared), the raw path, and the values of the headers routes look at. `None`
    /// (no caching) when a field holds a NUL, the separator, so keys cannot collide.
    fn cache_key(&self, req: &RequestInput<'_>) -> Option<String> {
        let sni = req.sni.unwrap_or("");
        let fixed = [req.method, req.scheme, req.host, sni, req.path];
        let mut len = fixed.iter().map(|f| f.len() + 1).sum::<usize>() + 1;
        if !self.header_names.is_empty() {
            len += req.headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>();
        }
        if fixed.iter().any(|f| f.contains('\0')) {
            return None;
        }
        let mut key = String::with_capacity(len);
        key.push_str(req.method);
        key.push('\0');
        push_lower(&mut key, req.scheme);
        push_lower(&mut key, req.host);
        push_lower(&mut key, sni);
        key.push_str(req.path);
        key.push('\0');
        if !self.header_names.is_empty() {
            for (name, value) in req.headers {
                if self.header_names.iter().any(|h| name.eq_ignore_ascii_case(h)) {
                    if value.contains('\0') {
                        return None;
                    }
                    push_lower(&mut key, name);
                    push_lower(&mut key, value);
                }
            }
        }
        Some(key)
    }
}

fn build_match(m: &Matcher, req: &Prepared<'_>, hit: path::PathHit) -> Match {
    let t = &m.target;
    let (path, forwarded_prefix) = uri::upstream_path(&uri::UpstreamInput {
        service_path: &t.service_path,
        request_path: &req.path,
        matched_len: hit.matched_len,
        strip_path: t.strip_path,
        v1: t.path_handling_v1,
    });
    Match {
        route_id: Arc::clone(&t.route_id),
        service_id: t.service_id.clone(),
        upstream_path: normalize::escape(&path).into_owned(),
        preserve_host: t.preserve_host,
        request_buffering: t.request_buffering,
        https_redirect_status: t.https_only_status.filter(|_| !req.https),
        forwarded_prefix: forwarded_prefix.map(|p| normalize::escape(p).into_owned()),
        captures: hit.captures,
    }
}

fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn push_lower(key: &mut String, s: &str) {
    key.extend(s.chars().map(|c| c.to_ascii_lowercase()));
    key.push('\0');
}

#[cfg(test)]
mod tests;

//! One compiled route (or one path group of a route) and its test against a request.

use std::borrow::Cow;
use std::sync::Arc;

use super::headers::HeaderCondition;
use super::host::HostPattern;
use super::path::{PathHit, PathPattern};
use super::priority::Priority;

/// What a match needs from the route and its service, shared by a route's path groups.
#[derive(Debug)]
pub struct Target {
    pub route_id: Arc<str>,
    pub service_id: Option<Arc<str>>,
    pub service_path: Box<str>,
    pub strip_path: bool,
    pub path_handling_v1: bool,
    pub preserve_host: bool,
    pub request_buffering: bool,
    /// `Some(status)` when the route accepts https but not http.
    pub https_only_status: Option<u16>,
}

#[derive(Debug)]
pub struct Matcher {
    pub target: Arc<Target>,
    /// Upper-case methods.
    pub methods: Vec<Box<str>>,
    pub hosts: Vec<HostPattern>,
    pub snis: Vec<HostPattern>,
    pub headers: Vec<HeaderCondition>,
    pub paths: Vec<PathPattern>,
    pub priority: Priority,
}

/// A request with its host split and lower-cased and its path normalised, computed once
/// per lookup and shared by every candidate.
pub struct Prepared<'a> {
    pub method: &'a str,
    pub https: bool,
    pub host: Cow<'a, str>,
    pub port: u16,
    /// Lower-case SNI.
    pub sni: Option<Cow<'a, str>>,
    pub path: Cow<'a, str>,
    pub headers: &'a [(&'a str, &'a str)],
}

impl Matcher {
    /// The path hit when every criterion holds (`matched_len` 0 for a route without paths).
    /// The cheap criteria go first; paths (regexes) last.
    pub fn check(&self, req: &Prepared<'_>) -> Option<PathHit> {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| **m == *req.method) {
            return None;
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| h.matches(&req.host, req.port)) {
            return None;
        }
        // Kong ignores `snis` unless the request came over TLS.
        if req.https && !self.snis.is_empty() {
            let sni = req.sni.as_deref()?;
            if !self.snis.iter().any(|s| s.matches(sni, req.port)) {
                return None;
            }
        }
        if !self.headers.iter().all(|h| h.matches(req.headers)) {
            return None;
        }
        if self.paths.is_empty() {
            return Some(PathHit { matched_len: 0, captures: None });
        }
        self.paths.iter().find_map(|p| p.matches(&req.path))
    }
}

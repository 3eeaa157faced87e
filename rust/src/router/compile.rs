//! Turning route and service entities into matchers, with validation.
//!
//! Only http-family routes (protocols http, https, grpc, grpcs) are compiled; stream routes
//! belong to another router. A route whose service is missing or disabled is left out, as
//! Kong does not serve routes of a disabled service. A route with no service is kept (Kong
//! allows it, e.g. for request-termination).

use std::collections::HashMap;
use std::sync::Arc;

use super::error::RouterError;
use super::headers::HeaderCondition;
use super::host::HostPattern;
use super::matcher::{Matcher, Target};
use super::path::PathPattern;
use super::priority::Priority;
use crate::entities::{Route, Service};

const HTTP_PROTOCOLS: &[&str] = &["http", "https", "grpc", "grpcs"];
const REDIRECT_STATUSES: &[u16] = &[426, 301, 302, 307, 308];

/// The matchers of one route: one per path group. Empty when the route is not served.
pub fn compile_route(route: &Route, services: &HashMap<&str, &Service>) -> Result<Vec<Matcher>, RouterError> {
    if !route.protocols.iter().any(|p| HTTP_PROTOCOLS.contains(&p.as_str())) {
        return Ok(Vec::new());
    }
    let service = match &route.service {
        Some(fk) => match services.get(fk.id.as_str()) {
            Some(s) if s.enabled => Some(*s),
            _ => return Ok(Vec::new()),
        },
        None => None,
    };
    let err = |field, message| RouterError::new(route, field, message);

    let v1 = match route.path_handling.as_str() {
        "v0" => false,
        "v1" => true,
        other => {
            return Err(err(
                "path_handling",
                format!("expected one of: v0, v1 (got '{other}')"),
            ))
        }
    };
    if !REDIRECT_STATUSES.contains(&route.https_redirect_status_code) {
        return Err(err(
            "https_redirect_status_code",
            format!(
                "expected one of: 426, 301, 302, 307, 308 (got {})",
                route.https_redirect_status_code
            ),
        ));
    }
    let methods = non_empty(&route.methods)
        .iter()
        .map(|m| {
            if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(m.as_str().into())
            } else {
                Err(err(
                    "methods",
                    format!("invalid method '{m}': must be upper-case letters"),
                ))
            }
        })
        .collect::<Result<Vec<Box<str>>, _>>()?;
    let hosts = non_empty(&route.hosts)
        .iter()
        .map(|h| HostPattern::parse_host(h).map_err(|m| err("hosts", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let snis = non_empty(&route.snis)
        .iter()
        .map(|s| HostPattern::parse_sni(s).map_err(|m| err("snis", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let headers = route
        .headers
        .iter()
        .flatten()
        .map(|(name, values)| HeaderCondition::parse(name, values).map_err(|m| err("headers", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let paths = non_empty(&route.paths)
        .iter()
        .map(|p| PathPattern::parse(p).map_err(|m| err("paths", m)))
        .collect::<Result<Vec<_>, _>>()?;

    let categories = [
        !methods.is_empty(),
        !hosts.is_empty(),
        !headers.is_empty(),
        !snis.is_empty(),
        !paths.is_empty(),
    ]
    .iter()
    .filter(|c| **c)
    .count() as u8;
    if categories == 0 {
        return Err(err(
            "route",
            "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'http' or 'https'"
                .into(),
        ));
    }

    let https_only = route.protocols.iter().any(|p| p == "https") && !route.protocols.iter().any(|p| p == "http");
    let target = Arc::new(Target {
        route_id: route.id.as_str().into(),
        service_id: service.map(|s| s.id.as_str().into()),
        service_path: service.and_then(|s| s.path.as_deref()).unwrap_or("/").into(),
        strip_path: route.strip_path,
        path_handling_v1: v1,
        preserve_host: route.preserve_host,
        request_buffering: route.request_buffering,
        https_only_status: https_only.then_some(route.https_redirect_status_code),
    });

    let base = Priority {
        categories,
        plain_hosts_only: !hosts.is_empty() && hosts.iter().all(|h| !h.is_wildcard()),
        header_count: headers.len(),
        regex: false,
        regex_priority: 0,
        prefix_len: 0,
        created_at: route.created_at,
        route_id: route.id.as_str().into(),
        group: 0,
    };
    let make = |paths: Vec<PathPattern>, priority: Priority| Matcher {
        target: Arc::clone(&target),
        methods: methods.clone(),
        hosts: hosts.clone(),
        snis: snis.clone(),
        headers: headers.clone(),
        paths,
        priority,
    };
    if paths.is_empty() {
        return Ok(vec![make(Vec::new(), base)]);
    }
    Ok(group_paths(paths)
        .into_iter()
        .enumerate()
        .map(|(group, paths)| {
            let regex = paths[0].is_regex();
            let priority = Priority {
                regex,
                regex_priority: if regex { route.regex_priority } else { 0 },
                prefix_len: paths[0].prefix_len(),
                group,
                ..base.clone()
            };
            make(paths, priority)
        })
        .collect())
}

/// Kong splits a route's paths into one group of all regexes and one group per prefix
/// length, each ranked on its own; groups keep the order in which they first appear.
fn group_paths(paths: Vec<PathPattern>) -> Vec<Vec<PathPattern>> {
    let mut groups: Vec<(Option<usize>, Vec<PathPattern>)> = Vec::new();
    for p in paths {
        let key = (!p.is_regex()).then(|| p.prefix_len());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(p),
            None => groups.push((key, vec![p])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Kong treats an empty list like an absent one.
fn non_empty(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

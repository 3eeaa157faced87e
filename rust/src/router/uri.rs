//! Building the upstream path from the service path and the request path.
//!
//! Kong's rules: with `strip_path` the matched part of the request path (the prefix, or what
//! a regex path matched) is removed and the rest (the *postfix*) is appended to the service
//! path; without it the whole request path is appended. `path_handling` `v0` and `v1` differ
//! in how the two are joined (see `join_v0`/`join_v1`); both avoid a double slash at the seam.

/// What to join: all paths are normalised request-path slices or the service path.
pub struct UpstreamInput<'a> {
    /// The service's path (`/` when the service has none).
    pub service_path: &'a str,
    /// The normalised request path.
    pub request_path: &'a str,
    /// Bytes matched by the route's path (0 when the route has no paths).
    pub matched_len: usize,
    pub strip_path: bool,
    pub v1: bool,
}

/// The upstream path (not yet escaped) and the prefix removed by strip_path.
pub fn upstream_path<'a>(input: &UpstreamInput<'a>) -> (String, Option<&'a str>) {
    let req = input.request_path;
    // A route without paths strips nothing: Kong treats its prefix as `/`.
    let prefix_len = if input.strip_path && input.matched_len > 0 {
        input.matched_len
    } else {
        1
    };
    let prefix_len = prefix_len.min(req.len());
    let postfix = sanitize_postfix(req.get(prefix_len..).unwrap_or(""));
    let stripped = input.strip_path && input.matched_len > 0;
    let path = if input.v1 {
        join_v1(input.service_path, postfix, req, input.strip_path)
    } else {
        join_v0(input.service_path, postfix, req, input.strip_path)
    };
    let prefix = &req[..prefix_len];
    let forwarded_prefix = (stripped && prefix != "/").then_some(prefix);
    (path, forwarded_prefix)
}

/// A postfix that starts with a dot segment loses it, so stripping cannot climb upwards.
fn sanitize_postfix(postfix: &str) -> &str {
    match postfix {
        "." | ".." => "",
        _ => postfix.strip_prefix("./").or_else(|| postfix.strip_prefix("../")).unwrap_or(postfix),
    }
}

fn join_v0(base: &str, postfix: &str, req: &str, strip: bool) -> String {
    if let Some(trimmed) = base.strip_suffix('/') {
        if !strip {
            return concat(base, req.get(1..).unwrap_or(""));
        }
        if postfix.is_empty() {
            if base == "/" || req.ends_with('/') {
                return base.to_owned();
            }
            return trimmed.to_owned();
        }
        if postfix.starts_with('/') {
            return concat(trimmed, postfix);
        }
        return concat(base, postfix);
    }
    if strip {
        if postfix.is_empty() {
            if req.len() > 1 && req.ends_with('/') {
                return concat(base, "/");
            }
            return base.to_owned();
        }
        if postfix.starts_with('/') {
            return concat(base, postfix);
        }
        return [base, "/", postfix].concat();
    }
    if req == "/" {
        return base.to_owned();
    }
    concat(base, req)
}

fn join_v1(base: &str, postfix: &str, req: &str, strip: bool) -> String {
    if !strip {
        return concat(base, req.get(1..).unwrap_or(""));
    }
    if let (Some(trimmed), true) = (base.strip_suffix('/'), postfix.starts_with('/')) {
        return concat(trimmed, postfix);
    }
    concat(base, postfix)
}

fn concat(a: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + b.len());
    s.push_str(a);
    s.push_str(b);
    s
}

#[cfg(test)]
mod tests {
    use super::super::normalize::normalize;
    use super::super::path::PathPattern;
    use super::*;

    /// Kong's path-handling table: (service path, route path (None = route matches on host),
    /// strip_path values, path_handling values, request path, expected upstream path).
    type Row = (
        &'static str,
        Option<&'static str>,
        &'static [bool],
        &'static [&'static str],
        &'static str,
        &'static str,
    );
    const TABLE: &[Row] = &[
        ("/", Some("/"), &[false, true], &["v0", "v1"], "/", "/"),
        ("/", Some("/"), &[false, true], &["v0", "v1"], "/route", "/route"),
        (
            "/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/route/",
            "/route/",
        ),
        (
            "/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/routereq",
            "/routereq",
        ),
        (
            "/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/route/req",
            "/route/req",
        ),
        ("/", Some("/route"), &[false], &["v0", "v1"], "/route", "/route"),
        (
            "/",
            Some("/route"),
            &[false],
            &["v0", "v1"],
            "/route/",
            "/route/",
        ),
        (
            "/",
            Some("/route"),
            &[false],
            &["v0", "v1"],
            "/routereq",
            "/routereq",
        ),
        ("/", Some("/route"), &[true], &["v0", "v1"], "/route", "/"),
        ("/", Some("/route"), &[true], &["v0", "v1"], "/route/", "/"),
        ("/", Some("/route"), &[true], &["v0", "v1"], "/routereq", "/req"),
        (
            "/",
            Some("/route/"),
            &[false],
            &["v0", "v1"],
            "/route/",
            "/route/",
        ),
        (
            "/",
            Some("/route/"),
            &[false],
            &["v0", "v1"],
            "/route/req",
            "/route/req",
        ),
        ("/", Some("/route/"), &[true], &["v0", "v1"], "/route/", "/"),
        (
            "/",
            Some("/route/"),
            &[true],
            &["v0", "v1"],
            "/route/req",
            "/req",
        ),
        ("/srv", Some("/rou"), &[false], &["v0"], "/roureq", "/srv/roureq"),
        ("/srv", Some("/rou"), &[false], &["v1"], "/roureq", "/srvroureq"),
        ("/srv", Some("/rou"), &[true], &["v0"], "/roureq", "/srv/req"),
        ("/srv", Some("/rou"), &[true], &["v1"], "/roureq", "/srvreq"),
        (
            "/srv/",
            Some("/rou"),
            &[false],
            &["v0", "v1"],
            "/rou",
            "/srv/rou",
        ),
        ("/srv/", Some("/rou"), &[true], &["v0"], "/rou", "/srv"),
        ("/srv/", Some("/rou"), &[true], &["v1"], "/rou", "/srv/"),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/",
            "/service",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v0"],
            "/route",
            "/service/route",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v1"],
            "/route",
            "/serviceroute",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v0"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v1"],
            "/route/",
            "/serviceroute/",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v0"],
            "/routereq",
            "/service/routereq",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v1"],
            "/routereq",
            "/serviceroutereq",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v0"],
            "/route/req",
            "/service/route/req",
        ),
        (
            "/service",
            Some("/"),
            &[false, true],
            &["v1"],
            "/route/req",
            "/serviceroute/req",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v0"],
            "/route",
            "/service/route",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v1"],
            "/route",
            "/serviceroute",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v0"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v1"],
            "/route/",
            "/serviceroute/",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v0"],
            "/routereq",
            "/service/routereq",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v1"],
            "/routereq",
            "/serviceroutereq",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v0", "v1"],
            "/route",
            "/service",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v0", "v1"],
            "/route/",
            "/service/",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v0"],
            "/routereq",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v1"],
            "/routereq",
            "/servicereq",
        ),
        (
            "/service",
            Some("/route/"),
            &[false],
            &["v0"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service",
            Some("/route/"),
            &[false],
            &["v1"],
            "/route/",
            "/serviceroute/",
        ),
        (
            "/service",
            Some("/route/"),
            &[false],
            &["v0"],
            "/route/req",
            "/service/route/req",
        ),
        (
            "/service",
            Some("/route/"),
            &[false],
            &["v1"],
            "/route/req",
            "/serviceroute/req",
        ),
        (
            "/service",
            Some("/route/"),
            &[true],
            &["v0"],
            "/route/",
            "/service/",
        ),
        (
            "/service",
            Some("/route/"),
            &[true],
            &["v1"],
            "/route/",
            "/service",
        ),
        (
            "/service",
            Some("/route/"),
            &[true],
            &["v0"],
            "/route/req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route/"),
            &[true],
            &["v1"],
            "/route/req",
            "/servicereq",
        ),
        (
            "/service/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/",
            "/service/",
        ),
        (
            "/service/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/route",
            "/service/route",
        ),
        (
            "/service/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/routereq",
            "/service/routereq",
        ),
        (
            "/service/",
            Some("/"),
            &[false, true],
            &["v0", "v1"],
            "/route/req",
            "/service/route/req",
        ),
        (
            "/service/",
            Some("/route"),
            &[false],
            &["v0", "v1"],
            "/route",
            "/service/route",
        ),
        (
            "/service/",
            Some("/route"),
            &[false],
            &["v0", "v1"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service/",
            Some("/route"),
            &[false],
            &["v0", "v1"],
            "/routereq",
            "/service/routereq",
        ),
        (
            "/service/",
            Some("/route"),
            &[true],
            &["v0"],
            "/route",
            "/service",
        ),
        (
            "/service/",
            Some("/route"),
            &[true],
            &["v1"],
            "/route",
            "/service/",
        ),
        (
            "/service/",
            Some("/route"),
            &[true],
            &["v0", "v1"],
            "/route/",
            "/service/",
        ),
        (
            "/service/",
            Some("/route"),
            &[true],
            &["v0", "v1"],
            "/routereq",
            "/service/req",
        ),
        (
            "/service/",
            Some("/route/"),
            &[false],
            &["v0", "v1"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service/",
            Some("/route/"),
            &[false],
            &["v0", "v1"],
            "/route/req",
            "/service/route/req",
        ),
        (
            "/service/",
            Some("/route/"),
            &[true],
            &["v0", "v1"],
            "/route/",
            "/service/",
        ),
        (
            "/service/",
            Some("/route/"),
            &[true],
            &["v0", "v1"],
            "/route/req",
            "/service/req",
        ),
        ("/", None, &[false, true], &["v0", "v1"], "/", "/"),
        ("/", None, &[false, true], &["v0", "v1"], "/route", "/route"),
        ("/", None, &[false, true], &["v0", "v1"], "/route/", "/route/"),
        ("/service", None, &[false, true], &["v0", "v1"], "/", "/service"),
        (
            "/service",
            None,
            &[false, true],
            &["v0"],
            "/route",
            "/service/route",
        ),
        (
            "/service",
            None,
            &[false, true],
            &["v1"],
            "/route",
            "/serviceroute",
        ),
        (
            "/service",
            None,
            &[false, true],
            &["v0"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service",
            None,
            &[false, true],
            &["v1"],
            "/route/",
            "/serviceroute/",
        ),
        (
            "/service/",
            None,
            &[false, true],
            &["v0", "v1"],
            "/",
            "/service/",
        ),
        (
            "/service/",
            None,
            &[false, true],
            &["v0", "v1"],
            "/route",
            "/service/route",
        ),
        (
            "/service/",
            None,
            &[false, true],
            &["v0", "v1"],
            "/route/",
            "/service/route/",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v0"],
            "/route./req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v1"],
            "/route./req",
            "/servicereq",
        ),
        (
            "/service/",
            Some("/route"),
            &[true],
            &["v0", "v1"],
            "/route./req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v0"],
            "/route%2E/req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v1"],
            "/route%2E/req",
            "/servicereq",
        ),
        (
            "/service/",
            Some("/route"),
            &[true],
            &["v0", "v1"],
            "/route%2e/req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v0"],
            "/route../req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v1"],
            "/route../req",
            "/servicereq",
        ),
        (
            "/service/",
            Some("/route"),
            &[true],
            &["v0", "v1"],
            "/route../req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v0"],
            "/route%2E%2E/req",
            "/service/req",
        ),
        (
            "/service",
            Some("/route"),
            &[true],
            &["v1"],
            "/route%2e%2E/req",
            "/servicereq",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v0"],
            "/route./req",
            "/service/route./req",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v1"],
            "/route./req",
            "/serviceroute./req",
        ),
        (
            "/service/",
            Some("/route"),
            &[false],
            &["v0", "v1"],
            "/route%2E/req",
            "/service/route./req",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v0"],
            "/route../req",
            "/service/route../req",
        ),
        (
            "/service",
            Some("/route"),
            &[false],
            &["v1"],
            "/route%2e%2E/req",
            "/serviceroute../req",
        ),
    ];

    fn run(route_path: &str, service: &str, strip: bool, v1: bool, request: &str) -> Option<String> {
        let req = normalize(request);
        let pattern = PathPattern::parse(route_path).unwrap();
        let hit = pattern.matches(&req)?;
        let input = UpstreamInput {
            service_path: service,
            request_path: &req,
            matched_len: hit.matched_len,
            strip_path: strip,
            v1,
        };
        Some(upstream_path(&input).0)
    }

    #[test]
    fn kong_path_handling_table_with_prefix_and_regex_paths() {
        for &(service, route, strips, handlings, request, expected) in TABLE {
            for &strip in strips {
                for &handling in handlings {
                    let v1 = handling == "v1";
                    let Some(route) = route else {
                        let req = normalize(request);
                        let input = UpstreamInput {
                            service_path: service,
                            request_path: &req,
                            matched_len: 0,
                            strip_path: strip,
                            v1,
                        };
                        assert_eq!(
                            upstream_path(&input).0,
                            expected,
                            "{service} host-only {strip} {handling} {request}"
                        );
                        continue;
                    };
                    let got = run(route, service, strip, v1, request);
                    assert_eq!(
                        got.as_deref(),
                        Some(expected),
                        "{service} {route} {strip} {handling} {request}"
                    );
                    // The same row through a regex that matches what the prefix matches.
                    let regex = format!("~/[0]?{}", &route[1..]);
                    let got = run(&regex, service, strip, v1, request);
                    assert_eq!(
                        got.as_deref(),
                        Some(expected),
                        "{service} {regex} {strip} {handling} {request}"
                    );
                }
            }
        }
    }

    #[test]
    fn forwarded_prefix_is_what_was_stripped() {
        let input = |strip, matched_len| UpstreamInput {
            service_path: "/s",
            request_path: "/api/users",
            matched_len,
            strip_path: strip,
            v1: false,
        };
        assert_eq!(upstream_path(&input(true, 4)).1, Some("/api"));
        assert_eq!(upstream_path(&input(false, 4)).1, None);
        assert_eq!(upstream_path(&input(true, 0)).1, None);
        assert_eq!(upstream_path(&input(true, 1)).1, None);
    }
}

//! Whole-router tests: ranking, criteria, redirects, captures, caching and compile errors.

use super::*;
use serde_json::{json, Value};

fn service(id: &str, path: Option<&str>) -> Service {
    serde_json::from_value(json!({"id": id, "host": "upstream", "path": path})).unwrap()
}

fn route(v: Value) -> Route {
    let mut v = v;
    if v.get("service").is_none() {
        v["service"] = json!({"id": "s"});
    }
    serde_json::from_value(v).unwrap()
}

fn router(routes: Vec<Value>) -> Router {
    Router::new(
        routes.into_iter().map(route).collect(),
        &[service("s", None)],
        64,
    )
    .unwrap()
}

fn req<'a>(host: &'a str, path: &'a str) -> RequestInput<'a> {
    RequestInput { method: "GET", scheme: "http", host, path, sni: None, headers: &[] }
}

fn id(r: &Router, input: RequestInput<'_>) -> Option<String> {
    r.find(&input).map(|m| m.route_id.to_string())
}

#[test]
fn more_categories_win_then_plain_hosts_then_headers() {
    let r = router(vec![
        json!({"id": "path", "paths": ["/"]}),
        json!({"id": "host-path", "hosts": ["a.com"], "paths": ["/"]}),
        json!({"id": "wild-path", "hosts": ["*.com"], "paths": ["/"]}),
        json!({"id": "hdr-path", "headers": {"x-v": ["1"]}, "paths": ["/"]}),
        json!({"id": "host-path-method", "hosts": ["a.com"], "paths": ["/"], "methods": ["POST"]}),
    ]);
    assert_eq!(id(&r, req("a.com", "/x")).as_deref(), Some("host-path"));
    assert_eq!(id(&r, req("b.com", "/x")).as_deref(), Some("wild-path"));
    assert_eq!(id(&r, req("b.org", "/x")).as_deref(), Some("path"));
    let post = RequestInput { method: "POST", ..req("a.com", "/x") };
    assert_eq!(id(&r, post).as_deref(), Some("host-path-method"));
    let hdr = [("X-V", "1")];
    let with_header = RequestInput { headers: &hdr, ..req("b.com", "/x") };
    // Same category count (2): a wildcard host is not plain, so the header count decides.
    assert_eq!(id(&r, with_header).as_deref(), Some("hdr-path"));
}

#[test]
fn longest_prefix_wins_and_regex_beats_prefix() {
    let r = router(vec![
        json!({"id": "short", "paths": ["/api"]}),
        json!({"id": "long", "paths": ["/api/users"]}),
        json!({"id": "regex", "paths": ["~/api/users/\\d+$"]}),
    ]);
    assert_eq!(id(&r, req("h", "/api/users/12")).as_deref(), Some("regex"));
    assert_eq!(id(&r, req("h", "/api/users/me")).as_deref(), Some("long"));
    assert_eq!(id(&r, req("h", "/api/other")).as_deref(), Some("short"));
    assert_eq!(id(&r, req("h", "/other")), None);
}

#[test]
fn regex_priority_then_creation_order() {
    let r = router(vec![
        json!({"id": "old", "paths": ["~/a"], "created_at": 1}),
        json!({"id": "new", "paths": ["~/a"], "created_at": 2}),
        json!({"id": "prio", "paths": ["~/a/b"], "regex_priority": 5, "created_at": 3}),
    ]);
    assert_eq!(id(&r, req("h", "/a/b")).as_deref(), Some("prio"));
    assert_eq!(id(&r, req("h", "/a/c")).as_deref(), Some("old"));
}

#[test]
fn a_routes_path_groups_rank_separately() {
    let r = router(vec![
        json!({"id": "multi", "paths": ["/a", "/abc/def"]}),
        json!({"id": "mid", "paths": ["/abc"]}),
    ]);
    assert_eq!(id(&r, req("h", "/abc/def/g")).as_deref(), Some("multi"));
    assert_eq!(id(&r, req("h", "/abc/x")).as_deref(), Some("mid"));
    assert_eq!(id(&r, req("h", "/ax")).as_deref(), Some("multi"));
}

#[test]
fn hosts_with_wildcards_and_ports() {
    let r = router(vec![
        json!({"id": "exact", "hosts": ["api.example.com"]}),
        json!({"id": "leading", "hosts": ["*.example.com"]}),
        json!({"id": "trailing", "hosts": ["example.*"]}),
        json!({"id": "port", "hosts": ["ported.com:8000"]}),
        json!({"id": "tls-port", "hosts": ["tls.com:443"]}),
    ]);
    assert_eq!(
        id(&r, req("API.Example.com:9000", "/")).as_deref(),
        Some("exact")
    );
    assert_eq!(id(&r, req("www.example.com", "/")).as_deref(), Some("leading"));
    assert_eq!(id(&r, req("example.org", "/")).as_deref(), Some("trailing"));
    assert_eq!(id(&r, req("ported.com:8000", "/")).as_deref(), Some("port"));
    assert_eq!(id(&r, req("ported.com", "/")), None);
    assert_eq!(id(&r, req("ported.com:8001", "/")), None);
    let https = RequestInput { scheme: "https", ..req("tls.com", "/") };
    assert_eq!(id(&r, https).as_deref(), Some("tls-port"));
    assert_eq!(id(&r, req("tls.com", "/")), None);
}

#[test]
fn regex_captures_are_returned() {
    let r = router(vec![
        json!({"id": "re", "paths": ["~/users/(?<user>[^/]+)/(\\d+)"]}),
    ]);
    let m = r.find(&req("h", "/users/ann/42/x")).unwrap();
    let caps = m.captures.as_ref().unwrap();
    assert!(caps.contains(&(CaptureKey::Index(0), "/users/ann/42".into())));
    assert!(caps.contains(&(CaptureKey::Index(1), "ann".into())));
    assert!(caps.contains(&(CaptureKey::Name("user".into()), "ann".into())));
    assert!(caps.contains(&(CaptureKey::Index(2), "42".into())));
    // strip_path removes what the regex matched.
    assert_eq!(m.upstream_path, "/x");
    assert_eq!(m.forwarded_prefix.as_deref(), Some("/users/ann/42"));
}

#[test]
fn methods_headers_and_snis() {
    let r = router(vec![
        json!({"id": "get", "methods": ["GET"], "paths": ["/m"]}),
        json!({"id": "hdr", "headers": {"X-Env": ["prod", "~*^stag"]}, "paths": ["/h"]}),
        json!({"id": "sni", "snis": ["secure.com"], "paths": ["/s"], "protocols": ["https"]}),
    ]);
    assert_eq!(id(&r, req("h", "/m")).as_deref(), Some("get"));
    assert_eq!(id(&r, RequestInput { method: "PUT", ..req("h", "/m") }), None);
    assert_eq!(r.header_names(), &["x-env".into()]);
    for (value, hit) in [("PROD", true), ("Staging-2", true), ("dev", false)] {
        let h = [("x-env", value)];
        let got = id(&r, RequestInput { headers: &h, ..req("h", "/h") });
        assert_eq!(got.is_some(), hit, "{value}");
    }
    assert_eq!(id(&r, req("h", "/h")), None);
    let tls = |sni| RequestInput { scheme: "https", sni, ..req("h", "/s") };
    assert_eq!(id(&r, tls(Some("Secure.com"))).as_deref(), Some("sni"));
    assert_eq!(id(&r, tls(Some("other.com"))), None);
    assert_eq!(id(&r, tls(None)), None);
    // snis are not considered for plain http.
    assert_eq!(id(&r, req("h", "/s")).as_deref(), Some("sni"));
}

#[test]
fn https_only_routes_ask_for_a_redirect_over_http() {
    let r = router(vec![
        json!({"id": "tls", "paths": ["/t"], "protocols": ["https"], "https_redirect_status_code": 308}),
        json!({"id": "both", "paths": ["/b"]}),
    ]);
    assert_eq!(r.find(&req("h", "/t")).unwrap().https_redirect_status, Some(308));
    let https = RequestInput { scheme: "https", ..req("h", "/t") };
    assert_eq!(r.find(&https).unwrap().https_redirect_status, None);
    assert_eq!(r.find(&req("h", "/b")).unwrap().https_redirect_status, None);
}

#[test]
fn matching_uses_the_normalised_path() {
    let r = router(vec![
        json!({"id": "p", "paths": ["/api/v1"], "strip_path": false}),
    ]);
    for raw in [
        "/api/v1",
        "//api//v1",
        "/api/./v1",
        "/x/../api/v1",
        "/%61pi/v1",
        "/api/v%31/",
    ] {
        assert_eq!(id(&r, req("h", raw)).as_deref(), Some("p"), "{raw}");
    }
    assert_eq!(id(&r, req("h", "/api%2Fv1")), None);
    let m = r.find(&req("h", "/api/v1/a%20b")).unwrap();
    assert_eq!(m.upstream_path, "/api/v1/a%20b");
}

#[test]
fn upstream_path_uses_service_path_strip_and_handling() {
    let services = [service("s", Some("/base"))];
    let routes = vec![
        route(json!({"id": "v0", "paths": ["/v0"]})),
        route(json!({"id": "v1", "paths": ["/v1"], "path_handling": "v1", "preserve_host": true})),
    ];
    let r = Router::new(routes, &services, 16).unwrap();
    let m = r.find(&req("h", "/v0req")).unwrap();
    assert_eq!(
        (m.upstream_path.as_str(), m.forwarded_prefix.as_deref()),
        ("/base/req", Some("/v0"))
    );
    assert!(!m.preserve_host);
    let m = r.find(&req("h", "/v1req")).unwrap();
    assert_eq!(m.upstream_path, "/basereq");
    assert!(m.preserve_host);
    assert_eq!(m.service_id.as_deref(), Some("s"));
}

#[test]
fn routes_of_missing_or_disabled_services_are_left_out() {
    let mut disabled = service("off", None);
    disabled.enabled = false;
    let routes = vec![
        route(json!({"id": "ok", "paths": ["/ok"]})),
        route(json!({"id": "gone", "paths": ["/gone"], "service": {"id": "missing"}})),
        route(json!({"id": "off", "paths": ["/off"], "service": {"id": "off"}})),
        route(json!({"id": "none", "paths": ["/none"], "service": null})),
        route(json!({"id": "tcp", "protocols": ["tcp"], "service": {"id": "s"}})),
    ];
    let r = Router::new(routes, &[service("s", None), disabled], 16).unwrap();
    assert_eq!(r.len(), 2);
    assert!(r.find(&req("h", "/gone")).is_none());
    assert!(r.find(&req("h", "/off")).is_none());
    let none = r.find(&req("h", "/none/x")).unwrap();
    assert_eq!(
        (none.service_id.as_deref(), none.upstream_path.as_str()),
        (None, "/x")
    );
}

#[test]
fn cache_serves_hits_and_misses_and_respects_header_values() {
    let r = router(vec![
        json!({"id": "hdr", "headers": {"x-v": ["2"]}, "paths": ["/"]}),
        json!({"id": "plain", "paths": ["/a"]}),
    ]);
    let first = r.find(&req("h", "/a")).unwrap();
    let again = r.find(&req("h", "/a")).unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "second lookup is served from the cache"
    );
    assert!(r.find(&req("h", "/b")).is_none());
    assert!(r.find(&req("h", "/b")).is_none());
    let h2 = [("X-V", "2")];
    let h3 = [("x-v", "3")];
    assert_eq!(
        id(&r, RequestInput { headers: &h2, ..req("h", "/a") }).as_deref(),
        Some("hdr")
    );
    assert_eq!(
        id(&r, RequestInput { headers: &h3, ..req("h", "/a") }).as_deref(),
        Some("plain")
    );
    assert_eq!(id(&r, RequestInput { headers: &h3, ..req("h", "/b") }), None);
    assert_eq!(
        id(&r, RequestInput { headers: &h2, ..req("h", "/b") }).as_deref(),
        Some("hdr")
    );
}

#[test]
fn cache_is_bounded() {
    let r = Router::new(
        vec![route(json!({"id": "p", "paths": ["/"]}))],
        &[service("s", None)],
        10,
    )
    .unwrap();
    for i in 0..1000 {
        let path = format!("/{i}");
        assert!(r.find(&req("h", &path)).is_some());
        assert!(r.cache.len() <= 10);
    }
}

#[test]
fn nul_bytes_bypass_the_cache_but_still_match() {
    let r = router(vec![json!({"id": "p", "paths": ["/"]})]);
    assert_eq!(id(&r, req("h\0", "/a\0")).as_deref(), Some("p"));
    assert_eq!(r.cache.len(), 0);
}

#[test]
fn compile_errors_name_the_route_and_field() {
    let cases = [
        (json!({"id": "r1", "paths": ["~/(bad"]}), "paths"),
        (
            json!({"id": "r2", "name": "named", "hosts": ["a*b.com"]}),
            "hosts",
        ),
        (json!({"id": "r3", "paths": ["no-slash"]}), "paths"),
        (json!({"id": "r4", "headers": {"x": ["~*("]}}), "headers"),
        (json!({"id": "r5", "methods": ["get"]}), "methods"),
        (
            json!({"id": "r6", "paths": ["/"], "path_handling": "v2"}),
            "path_handling",
        ),
        (
            json!({"id": "r7", "paths": ["/"], "https_redirect_status_code": 200}),
            "https_redirect_status_code",
        ),
        (
            json!({"id": "r8", "snis": ["bad sni"], "protocols": ["https"]}),
            "snis",
        ),
        (json!({"id": "r9"}), "route"),
    ];
    for (v, field) in cases {
        let rid = v["id"].as_str().unwrap().to_owned();
        let err = Router::new(vec![route(v)], &[service("s", None)], 4).err().expect(&rid);
        assert_eq!(err.field, field, "{rid}");
        assert!(err.route.starts_with(&rid), "{err}");
        assert!(err.to_string().contains(field));
    }
    let named = Router::new(
        vec![route(json!({"id": "r2", "name": "named", "hosts": ["a*b.com"]}))],
        &[service("s", None)],
        4,
    );
    assert!(named.err().unwrap().to_string().contains("named"));
}

#[test]
fn indexed_lookup_agrees_with_a_scan_on_many_routes() {
    let mut routes = Vec::new();
    for i in 0..300 {
        routes.push(json!({"id": format!("h{i:03}"), "hosts": [format!("svc{}.example.com", i % 30)], "paths": [format!("/p{}", i % 10)]}));
        routes.push(json!({"id": format!("w{i:03}"), "hosts": [format!("*.zone{}.net", i % 7)], "paths": [format!("~/r{}/(\\d+)", i % 5)]}));
        routes.push(json!({"id": format!("p{i:03}"), "paths": [format!("/api/{}", i)], "created_at": i}));
        routes.push(
            json!({"id": format!("t{i:03}"), "hosts": [format!("tenant{}.*", i % 11), "x.com"], "methods": ["GET"]}),
        );
    }
    let r = router(routes);
    let probes = [
        ("svc3.example.com", "/p3/x"),
        ("svc3.example.com", "/api/12"),
        ("a.zone4.net", "/r2/77"),
        ("other", "/api/123/x"),
        ("other", "/api/1"),
        ("svc3.example.com", "/nope"),
        ("tenant3.example.org", "/p1"),
        ("x.com", "/api/5"),
    ];
    for (host, path) in probes {
        let input = req(host, path);
        let (h, p) = host::request_host(host, "http");
        let prepared = Prepared {
            method: "GET",
            https: false,
            host: h,
            port: p,
            sni: None,
            path: normalize::normalize(path),
            headers: &[],
        };
        let scanned = r.matchers.iter().find(|m| m.check(&prepared).is_some()).map(|m| m.target.route_id.to_string());
        assert_eq!(id(&r, input), scanned, "{host}{path}");
    }
}

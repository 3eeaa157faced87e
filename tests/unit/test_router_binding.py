"""The native router through its Python binding (`dataplane._core.Router`)."""

import orjson
import pytest

from dataplane._core import CoreError, RouteMatch, Router, RouterError


def _svc(sid: str = "svc", path: str | None = None, enabled: bool = True) -> bytes:
    return orjson.dumps({"id": sid, "host": "upstream.local", "path": path, "enabled": enabled})


def _route(rid: str, **fields: object) -> bytes:
    fields.setdefault("service", {"id": "svc"})
    return orjson.dumps({"id": rid, **fields})


def _router(*routes: bytes, services: list[bytes] | None = None, cache_size: int = 64) -> Router:
    return Router.from_json(list(routes), services or [_svc(path="/base")], cache_size)


def test_match_fields() -> None:
    router = _router(_route("r1", paths=["/api"], hosts=["example.com"], preserve_host=True))
    m = router.find("GET", "http", "Example.com:8000", "/api/users")
    assert isinstance(m, RouteMatch)
    assert m.route_id == "r1"
    assert m.service_id == "svc"
    assert m.upstream_path == "/base/users"
    assert m.forwarded_prefix == "/api"
    assert m.preserve_host is True
    assert m.https_redirect_status is None
    assert m.captures is None
    assert len(router) == 1
    assert router.find("GET", "http", "other.com", "/api") is None


def test_regex_captures_numbered_and_named() -> None:
    router = _router(_route("re", paths=[r"~/users/(?<uid>\d+)/(\w+)"], strip_path=False))
    m = router.find("GET", "http", "h", "/users/42/posts")
    assert m is not None
    assert m.captures == {0: "/users/42/posts", 1: "42", "uid": "42", 2: "posts"}
    assert m.upstream_path == "/base/users/42/posts"


def test_headers_are_matched_case_insensitively() -> None:
    router = _router(
        _route("hdr", paths=["/"], headers={"X-Version": ["v2", "~*^beta"]}),
        _route("plain", paths=["/"]),
    )
    assert router.header_names == ["x-version"]
    assert router.find("GET", "http", "h", "/", headers=[("x-version", "V2")]).route_id == "hdr"
    assert router.find("GET", "http", "h", "/", headers=[("X-VERSION", "Beta-1")]).route_id == "hdr"
    assert router.find("GET", "http", "h", "/", headers=[("x-version", "v3")]).route_id == "plain"
    assert router.find("GET", "http", "h", "/").route_id == "plain"


def test_https_only_route_over_http_asks_for_redirect() -> None:
    router = _router(_route("tls", paths=["/"], protocols=["https"], https_redirect_status_code=301))
    assert router.find("GET", "http", "h", "/").https_redirect_status == 301
    assert router.find("GET", "https", "h", "/", sni="h").https_redirect_status is None


def test_snis_apply_to_https_only() -> None:
    router = _router(_route("sni", snis=["secure.example.com"], protocols=["https"]))
    assert router.find("GET", "https", "x", "/", sni="secure.example.com").route_id == "sni"
    assert router.find("GET", "https", "x", "/", sni="other.example.com") is None


def test_routes_of_disabled_services_are_not_served() -> None:
    router = _router(
        _route("off", paths=["/"], service={"id": "off"}),
        services=[_svc(), _svc("off", enabled=False)],
    )
    assert len(router) == 0
    assert router.find("GET", "http", "h", "/") is None


def test_repeated_lookups_are_stable() -> None:
    router = _router(_route("r", paths=["/a"]))
    first = [router.find("GET", "http", "h", "/a/x").upstream_path for _ in range(3)]
    assert first == ["/base/x"] * 3
    assert [router.find("GET", "http", "h", "/b") for _ in range(3)] == [None] * 3


def test_invalid_regex_raises_router_error_naming_route_and_field() -> None:
    with pytest.raises(RouterError) as err:
        _router(_route("bad-re", name="broken", paths=["~/(unclosed"]))
    message = str(err.value)
    assert "bad-re" in message and "broken" in message and "paths" in message
    assert isinstance(err.value, CoreError)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"hosts": ["exa mple.com"]}, "hosts"),
        ({"paths": ["relative"]}, "paths"),
        ({"headers": {"host": ["a"]}}, "headers"),
        ({"paths": ["/"], "path_handling": "v3"}, "path_handling"),
    ],
)
def test_invalid_fields_raise_router_error(fields: dict, field: str) -> None:
    with pytest.raises(RouterError, match=field):
        _router(_route("r", **fields))


def test_invalid_json_raises_router_error() -> None:
    with pytest.raises(RouterError, match="routes"):
        Router.from_json([b"{not json"], [_svc()])


def test_bad_header_items_are_rejected() -> None:
    router = _router(_route("hdr", paths=["/"], headers={"x-a": ["1"]}))
    with pytest.raises(ValueError):
        router.find("GET", "http", "h", "/", headers=[("x-a",)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        router.find("GET", "http", "h", "/", headers=[("x-a", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        router.find("GET", "http", "h", "/", headers=5)  # type: ignore[arg-type]


def test_default_cache_size_and_zero_cache() -> None:
    routes = [_route("r", paths=["/"])]
    assert Router.from_json(routes, [_svc()]).find("GET", "http", "h", "/").route_id == "r"
    no_cache = Router.from_json(routes, [_svc()], 0)
    assert no_cache.find("GET", "http", "h", "/").route_id == "r"

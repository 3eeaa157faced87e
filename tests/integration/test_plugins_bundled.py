"""The bundled plugins ip-restriction, request-size-limiting, correlation-id, cors and
request-transformer through the real `dataplane run` (2 workers) in front of an echo upstream,
one route per case, after Kong's spec/03-plugins tests (17-ip-restriction,
12-request-size-limiting, 11-correlation-id, 13-cors, 36-request-transformer)."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from tests.support.paths import DATAPLANE, ROOT
from tests.support.ports import dead_port
from tests.support.raw_client import RawConnection, raw_request

pytestmark = pytest.mark.timeout(90)

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TRACKER = r"\d+\.\d+\.\d+\.\d+-\d+-\d+-\d+-\d+-\d{10}\.\d{3}"
CORS_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
MB, KB = 1 << 20, 1 << 10


def plugin(name: str, **config: object) -> dict:
    return {"name": name, "config": config}


# route name -> (path, plugins, extra route fields); paths are prefixes stripped before proxying
ROUTES: dict[str, tuple[str, list[dict], dict]] = {
    # ip-restriction (the client is 127.0.0.1, or what a trusted X-Forwarded-For says)
    "ip-deny-listed": ("/ip/deny-listed", [plugin("ip-restriction", deny=["127.0.0.1", "127.0.0.2"])], {}),
    "ip-deny-other": ("/ip/deny-other", [plugin("ip-restriction", deny=["127.0.0.2"])], {}),
    "ip-allow-other": ("/ip/allow-other", [plugin("ip-restriction", allow=["127.0.0.2"])], {}),
    "ip-allow-self": ("/ip/allow-self", [plugin("ip-restriction", allow=["127.0.0.1"])], {}),
    "ip-deny-cidr": ("/ip/deny-cidr", [plugin("ip-restriction", deny=["127.0.0.0/24"])], {}),
    "ip-custom": ("/ip/custom", [plugin("ip-restriction", deny=["127.0.0.0/24"], status=401, message="Forbidden")], {}),
    "ip-deny-wins": ("/ip/deny-wins", [plugin("ip-restriction", allow=["127.0.0.0/24"], deny=["127.0.0.1"])], {}),
    "ip-allow-all": ("/ip/allow-all", [plugin("ip-restriction", allow=["0.0.0.0/0"])], {}),
    "ip-allow-4": ("/ip/allow-4", [plugin("ip-restriction", allow=["127.0.0.4"])], {}),
    "ip-deny-4": ("/ip/deny-4", [plugin("ip-restriction", deny=["127.0.0.4"])], {}),
    "ip-deny-v6-cidr": ("/ip/deny-v6-cidr", [plugin("ip-restriction", deny=["fe80::/8"])], {}),
    "ip-allow-v6": ("/ip/allow-v6", [plugin("ip-restriction", allow=["::1"])], {}),
    "ip-allow-all-v6": ("/ip/allow-all-v6", [plugin("ip-restriction", allow=["::/0"])], {}),
    # request-size-limiting
    "size-mb": ("/size/mb", [plugin("request-size-limiting", allowed_payload_size=2)], {}),
    "size-kb": ("/size/kb", [plugin("request-size-limiting", allowed_payload_size=2, size_unit="kilobytes")], {}),
    "size-bytes": ("/size/bytes", [plugin("request-size-limiting", allowed_payload_size=2, size_unit="bytes")], {}),
    "size-required": (
        "/size/required",
        [plugin("request-size-limiting", allowed_payload_size=2, size_unit="kilobytes", require_content_length=True)],
        {},
    ),
    "size-streamed": (
        "/size/streamed",
        [plugin("request-size-limiting", allowed_payload_size=2, size_unit="kilobytes")],
        {"request_buffering": False},
    ),
    # correlation-id
    "cid-counter": ("/cid/counter", [plugin("correlation-id")], {}),
    "cid-header": ("/cid/header", [plugin("correlation-id", header_name="Foo-Bar-Id")], {}),
    "cid-echo": ("/cid/echo", [plugin("correlation-id", generator="uuid", echo_downstream=True)], {}),
    "cid-tracker": ("/cid/tracker", [plugin("correlation-id", generator="tracker")], {}),
    "cid-terminated": (
        "/cid/terminated",
        [
            plugin("correlation-id", generator="uuid", echo_downstream=True),
            plugin("request-termination", status_code=418, message="I'm a teapot"),
        ],
        {},
    ),
    # cors
    "cors-default": ("/cors/default", [plugin("cors")], {}),
    "cors-options": (
        "/cors/options",
        [
            plugin(
                "cors",
                origins=["example.test"],
                methods=["GET"],
                headers=["origin", "type", "accepts"],
                exposed_headers=["x-auth-token"],
                max_age=23,
                credentials=True,
            )
        ],
        {},
    ),
    "cors-continue": (
        "/cors/continue",
        [plugin("cors", origins=["example.test"], methods=["GET"], preflight_continue=True)],
        {},
    ),
    "cors-keyed": ("/cors/keyed", [plugin("cors"), plugin("key-auth")], {}),
    "cors-star-credentials": ("/cors/star-credentials", [plugin("cors", origins=["*"], credentials=True)], {}),
    "cors-star": ("/cors/star", [plugin("cors", origins=["*"], credentials=False)], {}),
    "cors-empty": ("/cors/empty", [plugin("cors", origins=[])], {}),
    "cors-regex": ("/cors/regex", [plugin("cors", origins=[r".*\.?example(?:-foo)?.test"])], {}),
    "cors-flat": ("/cors/flat", [plugin("cors", origins=["http://my-site.test", "http://my-other-site.test"])], {}),
    "cors-ports": (
        "/cors/ports",
        [plugin("cors", origins=["http://my-site.test", "https://my-other-site.test:9000"])],
        {},
    ),
    "cors-hosts": ("/cors/hosts", [plugin("cors", origins=["example.test", "example.org"])], {}),
    "cors-subdomain": ("/cors/subdomain", [plugin("cors", origins=["(.*[./])?foo\\.test:8000"])], {}),
    "cors-private": ("/cors/private", [plugin("cors", private_network=True, origins=["allowed-domain.test"])], {}),
    "cors-with-star": ("/cors/with-star", [plugin("cors", origins=["foo.bar", "*"])], {}),
    "cors-absent-off": (
        "/cors/absent-off",
        [
            plugin(
                "cors",
                allow_origin_absent=False,
                origins=["foo.bar"],
                exposed_headers=["x-auth-token"],
                credentials=True,
            )
        ],
        {},
    ),
    "cors-absent-on": (
        "/cors/absent-on",
        [plugin("cors", origins=["foo.bar"], exposed_headers=["x-auth-token"], credentials=True)],
        {},
    ),
    # request-transformer
    "rt-add": (
        "/rt/add",
        [plugin("request-transformer", add={"headers": ["h1:v1", "h2:value:2"], "querystring": ["q1:v1"]})],
        {},
    ),
    "rt-host": ("/rt/host", [plugin("request-transformer", add={"headers": ["host:mark"]})], {"preserve_host": True}),
    "rt-remove": (
        "/rt/remove",
        [plugin("request-transformer", remove={"headers": ["x-to-remove"], "querystring": ["q1"]})],
        {},
    ),
    "rt-replace": (
        "/rt/replace",
        [plugin("request-transformer", replace={"headers": ["h1:v1"], "querystring": ["q1:v1"]})],
        {},
    ),
    "rt-append": (
        "/rt/append",
        [
            plugin(
                "request-transformer",
                append={"headers": ["h1:v1", "h1:v2", "h2:v1"], "querystring": ["q1:v1", "q1:v2", "q2:v1"]},
            )
        ],
        {},
    ),
    "rt-rename": (
        "/rt/rename",
        [
            plugin(
                "request-transformer",
                rename={"headers": ["x-to-rename:x-is-renamed"], "querystring": ["originalparam:renamedparam"]},
            )
        ],
        {},
    ),
    "rt-all": (
        "/rt/all",
        [
            plugin(
                "request-transformer",
                add={
                    "headers": ["x-added:a1", "x-added2:b1", "x-added3:c2"],
                    "querystring": ["query-added:newvalue", "p1:anything:1"],
                },
                remove={"headers": ["x-to-remove"], "querystring": ["toremovequery"]},
                append={"headers": ["x-added:a2", "x-added:a3"], "querystring": ["p1:a2", "p2:b1"]},
                replace={"headers": ["x-to-replace:false"], "querystring": ["toreplacequery:no"]},
            )
        ],
        {},
    ),
    "rt-post": ("/rt/post", [plugin("request-transformer", http_method="POST")], {}),
    "rt-get": ("/rt/get", [plugin("request-transformer", http_method="GET")], {}),
    "rt-remove-then-add": (
        "/rt/remove-then-add",
        [
            plugin(
                "request-transformer",
                http_method="POST",
                remove={"headers": ["Authorization"]},
                add={"headers": ["Authorization:Basic test"]},
            )
        ],
        {},
    ),
    "rt-captures": (
        r"~/rt/captures/user1/(?<user1>\w+)/user2/(?<user2>\S+)",
        [
            plugin(
                "request-transformer",
                add={
                    "querystring": [
                        "uri_param1:$(uri_captures.user1)",
                        "uri_param2[some_index][1]:$(uri_captures.user2)",
                    ]
                },
            )
        ],
        {"strip_path": False},
    ),
    "rt-uri": (
        r"~/rt/uri/user1/(?<user1>\w+)/user2/(?<user2>\S+)",
        [
            plugin(
                "request-transformer",
                replace={"uri": "/requests/user2/$(uri_captures.user2)/user1/$(uri_captures.user1)"},
            )
        ],
        {},
    ),
    "rt-uri-whole": (
        r"~/rt/whole/user1/(?<user1>\w+)/user2/(?<user2>\S+)",
        [plugin("request-transformer", replace={"uri": "/requests$(uri_captures[0])"})],
        {},
    ),
    "rt-defaults": (
        "/rt/defaults",
        [
            plugin(
                "request-transformer",
                add={
                    "querystring": [
                        "uri_param1:$(uri_captures.user1 or 'default1')",
                        "uri_param2:$(uri_captures.user2 or 'default2')",
                    ]
                },
            )
        ],
        {},
    ),
    "rt-from-request": (
        r"~/rt/from-request/user1/(?<user1>\w+)",
        [
            plugin(
                "request-transformer",
                add={
                    "querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2:$(headers.host)"],
                    "headers": ["x-test-header:$(query_params.q1)"],
                },
                remove={"querystring": ["q1"]},
            )
        ],
        {},
    ),
    "rt-old-values": (
        "/rt/old-values",
        [
            plugin(
                "request-transformer",
                replace={
                    "querystring": ["q2:$(headers['x-replace-header'])"],
                    "headers": ["x-replace-header:the new value"],
                },
                add={
                    "headers": [
                        "x-test-header:$(headers['x-replace-header'])",
                        "x-removed-test:$(headers['x-remove-header'])",
                    ]
                },
                remove={"headers": ["x-remove-header"]},
            )
        ],
        {},
    ),
    "rt-escaped": (
        "/rt/escaped",
        [plugin("request-transformer", add={"querystring": ["q1:$('$(uri_captures.user1)')"]})],
        {},
    ),
    "rt-type": (
        "/rt/type",
        [
            plugin(
                "request-transformer",
                add={
                    "headers": [
                        'X-Foo-Transformed:$(type(headers["X-Foo"]) == "table" and headers["X-Foo"][1] .. "-first" '
                        'or headers["X-Foo"])'
                    ]
                },
            )
        ],
        {},
    ),
    "rt-bad-path": ("/rt/bad-path", [plugin("request-transformer", replace={"uri": "$(headers.missing)"})], {}),
}


def config(port: int) -> str:
    routes = []
    for name, (path, plugins, extra) in ROUTES.items():
        routes.append({"name": name, "paths": [path], "plugins": plugins, **extra})
    document = {
        "_format_version": "3.0",
        "consumers": [{"username": "bob", "keyauth_credentials": [{"key": "secret"}]}],
        "services": [
            {"name": "echo", "url": f"http://127.0.0.1:{port}", "routes": routes},
            {
                "name": "down",
                "url": f"http://127.0.0.1:{dead_port()}",
                "routes": [
                    {
                        "name": "cid-down",
                        "paths": ["/cid/down"],
                        "plugins": [plugin("correlation-id", generator="uuid", echo_downstream=True)],
                    },
                    {
                        "name": "cors-down",
                        "paths": ["/cors/down"],
                        "plugins": [plugin("cors", origins=["example.test"], exposed_headers=["x-auth-token"])],
                    },
                ],
            },
        ],
    }
    return json.dumps(document)  # a kong.yml may be JSON, which YAML reads


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream):
    conf = {"trusted_ips": "0.0.0.0/0,::/0", "real_ip_header": "X-Forwarded-For", "real_ip_recursive": "on"}
    return module_gateway_factory(config(module_upstream.port), name="bundled", conf=conf)


def send(gw, method: str, path: str, *headers: str, body: bytes = b""):
    head = "".join(f"{line}\r\n" for line in headers)
    if body and not any(line.lower().startswith(("content-length", "transfer-encoding")) for line in headers):
        head += f"Content-Length: {len(body)}\r\n"
    return raw_request(gw.port, f"{method} {path} HTTP/1.1\r\nHost: a\r\n{head}\r\n".encode() + body)


def get(gw, path: str, *headers: str):
    return send(gw, "GET", path, *headers)


def chunked(size: int) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (size, b"a" * size)


def query(response) -> dict[str, list[str]]:
    from urllib.parse import parse_qs

    return parse_qs(response.json()["query"] or "", keep_blank_values=True)


# ---- ip-restriction ------------------------------------------------------------------------------


def test_ip_restriction_refuses_a_denied_address_with_kongs_message(gw):
    response = get(gw, "/ip/deny-listed", "Accept: application/json")
    assert response.status == 403
    assert response.json()["message"] == "IP address not allowed: 127.0.0.1"


def test_ip_restriction_custom_status_and_message(gw):
    response = get(gw, "/ip/custom", "Accept: application/json")
    assert (response.status, response.json()["message"]) == (401, "Forbidden")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ip/deny-other", 200),
        ("/ip/allow-other", 403),
        ("/ip/allow-self", 200),
        ("/ip/deny-cidr", 403),
        ("/ip/deny-wins", 403),
        ("/ip/allow-all", 200),
        ("/ip/allow-4", 403),
        ("/ip/deny-4", 200),
    ],
)
def test_ip_restriction_lists_and_ranges(gw, path, status):
    assert get(gw, path).status == status


@pytest.mark.parametrize(
    ("path", "forwarded", "status"),
    [
        ("/ip/deny-4", "127.0.0.3", 200),
        ("/ip/deny-4", "127.0.0.4", 403),
        ("/ip/allow-4", "127.0.0.3", 403),
        ("/ip/allow-4", "127.0.0.4", 200),
        ("/ip/allow-4", "127.0.0.4, 127.0.0.3", 200),
        ("/ip/deny-v6-cidr", "fe80::1", 403),
        ("/ip/deny-v6-cidr", "::1", 200),
        ("/ip/allow-v6", "::1", 200),
        ("/ip/allow-v6", "::2", 403),
        ("/ip/allow-all-v6", "::2", 200),
    ],
)
def test_ip_restriction_judges_the_forwarded_address_of_a_trusted_peer(gw, path, forwarded, status):
    response = get(gw, path, f"X-Forwarded-For: {forwarded}", "Accept: application/json")
    assert response.status == status
    if status == 403:
        assert response.json()["message"] == f"IP address not allowed: {forwarded.split(',')[0]}"


def test_an_ipv4_client_is_outside_every_ipv6_range(gw):
    assert get(gw, "/ip/allow-all-v6").status == 403


# ---- request-size-limiting ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "limit"), [("/size/mb", 2 * MB), ("/size/kb", 2 * KB), ("/size/bytes", 2)])
def test_request_size_by_content_length(gw, path, limit):
    assert send(gw, "POST", path, body=b"a" * limit).status == 200
    refused = send(gw, "POST", path, "Accept: application/json", body=b"a" * (limit + 1))
    assert (refused.status, refused.json()["message"]) == (413, "Request size limit exceeded")


def test_request_size_refuses_an_expected_body_with_417_before_it_is_sent(gw, module_upstream):
    before = module_upstream.stats()["requests"]
    with RawConnection(gw.port) as conn:
        conn.send(
            b"POST /size/kb HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2049\r\n"
            b"Accept: application/json\r\n\r\n"
        )
        response = conn.read_one()
    assert (response.status, response.json()["message"]) == (417, "Request size limit exceeded")
    assert module_upstream.stats()["requests"] == before


def test_request_size_lets_an_expected_body_within_the_limit_through(gw):
    with RawConnection(gw.port) as conn:
        conn.send(b"POST /size/kb HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2048\r\n\r\n")
        interim = conn.read_one()
        assert interim.status == 100
        conn.send(b"a" * 2048)
        response = conn.read_one()
    assert response.status == 200 and response.json()["body_size"] == 2048


@pytest.mark.parametrize(("path", "limit"), [("/size/mb", 2 * MB), ("/size/kb", 2 * KB), ("/size/bytes", 2)])
def test_request_size_of_a_chunked_body(gw, path, limit):
    ok = send(gw, "GET", path, "Transfer-Encoding: chunked", body=chunked(limit))
    assert ok.status == 200 and ok.json()["body_size"] == limit
    refused = send(gw, "GET", path, "Transfer-Encoding: chunked", "Accept: application/json", body=chunked(limit + 1))
    assert (refused.status, refused.json()["message"]) == (413, "Request size limit exceeded")


def test_request_size_of_a_chunked_body_with_expect(gw):
    with RawConnection(gw.port) as conn:
        conn.send(
            b"GET /size/kb HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
            + chunked(2 * KB + 1)
        )
        response = conn.read_one()
        if response.status == 100:  # sent when access ended before the body came
            response = conn.read_one()
    assert response.status == 417


@pytest.mark.parametrize("path", ["/size/kb", "/size/streamed"])
def test_request_size_of_a_chunked_body_that_streams_in_after_the_head(gw, module_upstream, path):
    # the head alone first: access runs before any of the body arrived, so the limit is enforced
    # as the pieces come (for the streamed route, once the upstream has had some of it)
    before = module_upstream.stats()["requests"]
    with RawConnection(gw.port) as conn:
        head = f"POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nAccept: application/json\r\n\r\n"
        conn.send(head.encode())
        time.sleep(0.2)  # pacing a slow client: the head read alone, before any of the body
        for _ in range(3):
            conn.send(b"400\r\n" + b"a" * 1024 + b"\r\n")
            time.sleep(0.05)  # pacing: each piece a read of its own
        conn.send(b"0\r\n\r\n")
        response = conn.read_one()
        assert conn.closed()
    assert (response.status, response.json()["message"]) == (413, "Request size limit exceeded")
    if path == "/size/kb":  # a buffered route: the upstream got nothing
        assert module_upstream.stats()["requests"] == before


def test_a_streamed_chunked_body_within_the_limit_goes_through(gw):
    with RawConnection(gw.port) as conn:
        conn.send(b"POST /size/kb HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        time.sleep(0.2)  # pacing a slow client: the head read alone, before any of the body
        conn.send(b"400\r\n" + b"a" * 1024 + b"\r\n")
        time.sleep(0.05)  # pacing: each piece a read of its own
        conn.send(b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n")
        response = conn.read_one()
    assert response.status == 200 and response.json()["body_size"] == 2048


def test_request_size_requires_a_content_length_when_configured(gw):
    refused = get(gw, "/size/required", "Accept: application/json")
    assert (refused.status, refused.json()["message"]) == (411, "A valid Content-Length header is required")
    assert send(gw, "POST", "/size/required", body=b"a").status == 200
    # Kong lets a chunked body be measured instead
    assert send(gw, "POST", "/size/required", "Transfer-Encoding: chunked", body=chunked(10)).status == 200


# ---- correlation-id ---------------------------------------------------------------------------


def test_correlation_id_counts_per_worker(gw):
    with RawConnection(gw.port) as conn:  # one connection: one worker
        ids = []
        for _ in range(2):
            conn.send(b"GET /cid/counter HTTP/1.1\r\nHost: a\r\n\r\n")
            ids.append(conn.read_one().echoed_headers()["kong-request-id"][0])
    first, second = (re.fullmatch(rf"({UUID})#(\d+)", one) for one in ids)
    assert first and second and first.group(1) == second.group(1)
    assert int(second.group(2)) == int(first.group(2)) + 1


def test_correlation_id_uuid_and_echo_downstream(gw):
    first, second = get(gw, "/cid/echo"), get(gw, "/cid/echo")
    upstream = first.echoed_headers()["kong-request-id"][0]
    assert re.fullmatch(UUID, upstream) and first.header("Kong-Request-ID") == upstream
    assert second.echoed_headers()["kong-request-id"][0] != upstream


def test_correlation_id_tracker(gw):
    ids = [get(gw, "/cid/tracker").echoed_headers()["kong-request-id"][0] for _ in range(2)]
    assert all(re.fullmatch(TRACKER, one) for one in ids) and ids[0] != ids[1]
    assert ids[0].startswith("127.0.0.1-")


def test_correlation_id_custom_header_not_echoed_unless_asked(gw):
    response = get(gw, "/cid/header")
    assert re.fullmatch(rf"{UUID}#\d+", response.echoed_headers()["foo-bar-id"][0])
    assert response.header("Foo-Bar-Id") is None and "kong-request-id" not in response.echoed_headers()


@pytest.mark.parametrize(("sent", "kept"), [("foobar", True), ("", False), (" ", False)])
def test_correlation_id_keeps_a_client_value_but_not_an_empty_one(gw, sent, kept):
    received = get(gw, "/cid/counter", f"Kong-Request-ID: {sent}").echoed_headers()["kong-request-id"]
    if kept:
        assert received == ["foobar"]
    else:
        assert len(received) == 1 and re.fullmatch(rf"{UUID}#\d+", received[0])


def test_correlation_id_echoed_on_a_response_another_plugin_made(gw):
    made_up = get(gw, "/cid/terminated")
    assert made_up.status == 418 and re.fullmatch(UUID, made_up.header("Kong-Request-ID") or "")
    kept = get(gw, "/cid/terminated", "Kong-Request-ID: my very personal id")
    assert kept.header("Kong-Request-ID") == "my very personal id"


def test_correlation_id_echoed_when_the_upstream_is_down(gw):
    response = get(gw, "/cid/down")
    assert response.status == 502 and re.fullmatch(UUID, response.header("Kong-Request-ID") or "")


# ---- cors -------------------------------------------------------------------------------------

CORS_HEADERS = (
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Allow-Credentials",
    "Access-Control-Max-Age",
    "Vary",
)


def preflight(gw, path: str, origin: str, *headers: str):
    return send(gw, "OPTIONS", path, f"Origin: {origin}", "Access-Control-Request-Method: GET", *headers)


def absent(response, *names: str) -> list[str]:
    """The names among these that the response has (none, when all are absent as expected)."""
    return [name for name in names if response.header(name) is not None]


def test_cors_preflight_defaults(gw, module_upstream):
    before = module_upstream.stats()["requests"]
    for path in ("/cors/default", "/cors/empty"):
        response = preflight(gw, path, "origin1.test")
        assert response.status == 200 and response.header("Content-Length") == "0"
        assert response.header("Access-Control-Allow-Methods") == CORS_METHODS
        assert response.header("Access-Control-Allow-Origin") == "*"
        assert absent(response, *CORS_HEADERS[1:]) == []
    assert module_upstream.stats()["requests"] == before  # answered by the gateway


def test_cors_preflight_with_config_options(gw):
    response = preflight(gw, "/cors/options", "origin5.test")
    assert response.status == 200
    assert response.header("Access-Control-Allow-Methods") == "GET"
    assert response.header("Access-Control-Allow-Origin") == "example.test"
    assert response.header("Access-Control-Max-Age") == "23"
    assert response.header("Access-Control-Allow-Credentials") == "true"
    assert response.header("Access-Control-Allow-Headers") == "origin,type,accepts"
    assert response.header("Vary") == "Origin"
    assert absent(response, "Access-Control-Expose-Headers") == []


def test_cors_preflight_with_credentials_and_any_origin_names_the_origin(gw):
    response = preflight(gw, "/cors/star-credentials", "origin5.test", "Access-Control-Request-Headers: origin,accepts")
    assert response.header("Access-Control-Allow-Origin") == "origin5.test"
    assert response.header("Access-Control-Allow-Credentials") == "true"
    assert response.header("Vary") == "Origin"
    assert response.header("Access-Control-Allow-Headers") == "origin,accepts"


def test_cors_preflight_wildcard_among_origins_and_private_network(gw):
    assert preflight(gw, "/cors/with-star", "http://www.example.net").header("Access-Control-Allow-Origin") == "*"
    private = send(
        gw,
        "OPTIONS",
        "/cors/private",
        "Origin: allowed-domain.test",
        "Access-Control-Request-Method: PUT",
        "Access-Control-Request-Private-Network: true",
    )
    assert private.header("Access-Control-Allow-Private-Network") == "true"
    assert absent(preflight(gw, "/cors/private", "allowed-domain.test"), "Access-Control-Allow-Private-Network") == []


def test_cors_preflight_continue_goes_upstream(gw):
    response = send(
        gw, "OPTIONS", "/cors/continue/status/201", "Origin: example.test", "Access-Control-Request-Method: GET"
    )
    assert response.status == 201 and response.json()["method"] == "OPTIONS"
    assert absent(response, "Access-Control-Allow-Origin", "Access-Control-Allow-Methods") == []


def test_cors_an_options_request_that_is_no_preflight_is_proxied(gw):
    response = send(gw, "OPTIONS", "/cors/default")
    assert response.status == 200 and response.json()["method"] == "OPTIONS"
    assert response.header("Access-Control-Allow-Origin") == "*"
    assert absent(response, *CORS_HEADERS) == []


def test_cors_on_responses_defaults(gw):
    for path in ("/cors/default", "/cors/default/status/404"):
        response = get(gw, path)
        assert response.header("Access-Control-Allow-Origin") == "*"
        assert absent(response, *CORS_HEADERS) == []


def test_cors_on_responses_with_config_options(gw):
    response = get(gw, "/cors/options")
    assert response.header("Access-Control-Allow-Origin") == "example.test"
    assert response.header("Access-Control-Expose-Headers") == "x-auth-token"
    assert response.header("Access-Control-Allow-Credentials") == "true"
    assert response.header("Vary") == "Origin"
    assert (
        absent(response, "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age") == []
    )


def test_cors_on_the_gateways_own_answers(gw):
    refused = get(gw, "/cors/keyed")  # key-auth's 401
    assert refused.status == 401 and refused.header("Access-Control-Allow-Origin") == "*"
    down = get(gw, "/cors/down", "Origin: example.test")  # the gateway's 502
    assert down.status == 502
    assert down.header("Access-Control-Allow-Origin") == "example.test"
    assert down.header("Access-Control-Expose-Headers") == "x-auth-token" and down.header("Vary") == "Origin"


@pytest.mark.parametrize(
    ("path", "origin", "allowed"),
    [
        ("/cors/hosts", "example.test", "example.test"),
        ("/cors/hosts", "http://example.test", None),  # a literal origin is not parsed for its host
        ("/cors/hosts", "http://www.example.net", None),
        ("/cors/regex", "example.test", "example.test"),
        ("/cors/regex", "www.example-foo.test", "www.example-foo.test"),
        ("/cors/regex", "www.example-fo0.test", None),
        ("/cors/flat", "http://my-site.test", "http://my-site.test"),
        ("/cors/flat", "http://bad-guys.test", None),
        ("/cors/flat", "http://my-site.test.bad-guys.test", None),
        ("/cors/ports", "http://my-site.test:80", "http://my-site.test"),
        ("/cors/ports", "http://my-site.test:8000", None),
        ("/cors/ports", "https://my-site.test", None),
        ("/cors/ports", "https://my-other-site.test:9000", "https://my-other-site.test:9000"),
        ("/cors/ports", "https://my-other-site.test:9001", None),
        ("/cors/subdomain", "https://a.foo.test:8000", "https://a.foo.test:8000"),
        ("/cors/subdomain", "http://foo.test", None),
        ("/cors/star", "http://www.example.net", "*"),
        ("/cors/with-star", "http://www.example.net", "*"),
    ],
)
def test_cors_allowed_origin(gw, path, origin, allowed):
    response = get(gw, path, f"Origin: {origin}")
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == allowed


def test_cors_credentials_with_any_origin_answer_the_requested_origin(gw):
    for origin in ("http://www.example.net", "http://www.example.net:3000"):
        response = get(gw, "/cors/star-credentials", f"Origin: {origin}")
        assert response.header("Access-Control-Allow-Origin") == origin
        assert response.header("Access-Control-Allow-Credentials") == "true" and response.header("Vary") == "Origin"
    star = get(gw, "/cors/star", "Origin: http://www.example.net")
    assert absent(star, "Access-Control-Allow-Credentials", "Vary") == []


@pytest.mark.parametrize("origin", [None, ""])
def test_cors_allow_origin_absent(gw, origin):
    headers = () if origin is None else (f"Origin: {origin}",)
    off = get(gw, "/cors/absent-off", *headers)
    assert (
        absent(off, "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers")
        == []
    )
    on = get(gw, "/cors/absent-on", *headers)
    assert on.header("Access-Control-Allow-Origin") == "foo.bar"
    assert on.header("Access-Control-Allow-Credentials") == "true"
    assert on.header("Access-Control-Expose-Headers") == "x-auth-token"


# ---- request-transformer ------------------------------------------------------------------------


def test_request_transformer_add(gw):
    response = get(gw, "/rt/add")
    echoed = response.echoed_headers()
    assert echoed["h1"] == ["v1"] and echoed["h2"] == ["value:2"] and query(response)["q1"] == ["v1"]
    kept = get(gw, "/rt/add?q1=v2", "h1: v3")
    assert kept.echoed_headers()["h1"] == ["v3"] and query(kept)["q1"] == ["v2"]
    assert get(gw, "/rt/add?z=1").json()["query"] == "q1=v1&z=1"  # sorted by name, as Kong encodes them


def test_request_transformer_never_adds_host(gw):
    assert get(gw, "/rt/host").echoed_headers()["host"] == ["a"]


def test_request_transformer_remove(gw):
    response = get(gw, "/rt/remove?q1=v1&q2=v2", "x-to-remove: true", "x-another-header: true")
    echoed = response.echoed_headers()
    assert "x-to-remove" not in echoed and echoed["x-another-header"] == ["true"]
    assert query(response) == {"q2": ["v2"]}


def test_request_transformer_replace_only_what_exists(gw):
    replaced = get(gw, "/rt/replace?q1=v&q2=v2", "h1: V", "h2: v2")
    assert replaced.echoed_headers()["h1"] == ["v1"] and replaced.echoed_headers()["h2"] == ["v2"]
    assert query(replaced) == {"q1": ["v1"], "q2": ["v2"]}
    untouched = get(gw, "/rt/replace?q2=v2", "h2: v2")
    assert "h1" not in untouched.echoed_headers() and query(untouched) == {"q2": ["v2"]}


def test_request_transformer_append(gw):
    response = get(gw, "/rt/append?q1=v0")
    echoed = response.echoed_headers()
    assert echoed["h1"] == ["v1", "v2"] and echoed["h2"] == ["v1"]
    assert query(response) == {"q1": ["v0", "v1", "v2"], "q2": ["v1"]}


def test_request_transformer_rename(gw):
    response = get(gw, "/rt/rename?originalparam=yes&nottorename=yes", "x-to-rename: true", "x-another-header: true")
    echoed = response.echoed_headers()
    assert "x-to-rename" not in echoed and echoed["x-is-renamed"] == ["true"]
    assert echoed["x-another-header"] == ["true"]
    assert query(response) == {"renamedparam": ["yes"], "nottorename": ["yes"]}
    override = get(gw, "/rt/rename", "x-to-rename: new-result", "X-Is-Renamed: old-result")
    assert override.echoed_headers()["x-is-renamed"] == ["new-result"]
    assert "renamedparam" not in query(get(gw, "/rt/rename?other=1"))


def test_request_transformer_remove_rename_replace_add_append_together(gw):
    response = get(
        gw,
        "/rt/all?toremovequery=yes&nottoremove=yes&toreplacequery=yes&q1=20",
        "x-to-remove: true",
        "x-to-replace: true",
        "x-added3: c1",
    )
    echoed = response.echoed_headers()
    assert "x-to-remove" not in echoed and echoed["x-to-replace"] == ["false"]
    assert echoed["x-added"] == ["a1", "a2", "a3"] and echoed["x-added2"] == ["b1"] and echoed["x-added3"] == ["c1"]
    assert query(response) == {
        "nottoremove": ["yes"],
        "toreplacequery": ["no"],
        "q1": ["20"],
        "query-added": ["newvalue"],
        "p1": ["anything:1", "a2"],
        "p2": ["b1"],
    }
    assert "x-to-replace" not in get(gw, "/rt/all").echoed_headers()


def test_request_transformer_http_method(gw):
    posted = get(gw, "/rt/post?hello=world&name=marco")
    assert posted.json()["method"] == "POST" and query(posted) == {"hello": ["world"], "name": ["marco"]}
    # to GET: the fields of a form body that came with the head join the query string
    got = send(gw, "POST", "/rt/get?hello=world", "Content-Type: application/x-www-form-urlencoded", body=b"name=marco")
    assert got.json()["method"] == "GET" and query(got) == {"hello": ["world"], "name": ["marco"]}


def test_request_transformer_remove_then_add_a_header(gw):
    for headers in (("Authorization: Basic dGVzdDp0ZXN0",), ()):
        response = get(gw, "/rt/remove-then-add", *headers)
        assert response.json()["method"] == "POST"
        assert response.echoed_headers()["authorization"] == ["Basic test"]


def test_request_transformer_templates_from_uri_captures(gw):
    response = get(gw, "/rt/captures/user1/foo/user2/bar?q1=20")
    assert response.json()["path"] == "/rt/captures/user1/foo/user2/bar"
    assert response.json()["query"] == "q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar"  # sorted, as Kong


def test_request_transformer_replaces_the_uri_from_a_template(gw):
    assert get(gw, "/rt/uri/user1/foo/user2/bar").json()["path"] == "/requests/user2/bar/user1/foo"
    assert get(gw, "/rt/whole/user1/foo/user2/bar").json()["path"] == "/requests/rt/whole/user1/foo/user2/bar"


def test_request_transformer_template_defaults_and_request_values(gw):
    defaults = get(gw, "/rt/defaults?q1=20")
    assert query(defaults) == {"q1": ["20"], "uri_param1": ["default1"], "uri_param2": ["default2"]}
    response = get(gw, "/rt/from-request/user1/foo?q1=20")
    assert query(response) == {"uri_param1": ["foo"], "uri_param2": ["a"]}
    assert response.echoed_headers()["x-test-header"] == ["20"]


def test_request_transformer_templates_see_the_headers_as_the_client_sent_them(gw):
    response = get(gw, "/rt/old-values?q2=20", "x-replace-header: the old value", "x-remove-header: its a test")
    echoed = response.echoed_headers()
    assert echoed["x-replace-header"] == ["the new value"] and echoed["x-test-header"] == ["the old value"]
    assert "x-remove-header" not in echoed and echoed["x-removed-test"] == ["its a test"]
    assert query(response) == {"q2": ["the old value"]}


def test_request_transformer_template_escape_and_type(gw):
    assert query(get(gw, "/rt/escaped")) == {"q1": ["$(uri_captures.user1)"]}
    typed = get(gw, "/rt/type", "X-Foo: 1", "X-Foo: 2")
    assert typed.echoed_headers()["x-foo-transformed"] == ["1-first"]
    assert get(gw, "/rt/type", "X-Foo: one").echoed_headers()["x-foo-transformed"] == ["one"]


def test_request_transformer_a_template_that_fails_answers_500(gw):
    # an empty path is no path: Kong's set_path fails the same way
    assert get(gw, "/rt/bad-path", "Accept: application/json").status == 500


def test_request_transformer_leaves_other_routes_alone(gw):
    response = get(gw, "/cors/default?expected=$&+,/:;?@")
    assert response.json()["query"] == "expected=$&+,/:;?@"


def test_a_declarative_config_with_body_transforms_is_refused(tmp_path):
    document = {
        "_format_version": "3.0",
        "plugins": [plugin("request-transformer", add={"body": ["p1:v1"]})],
    }
    path = tmp_path / "kong.yml"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [str(DATAPLANE), "config", "parse", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Gantry does not transform streamed request bodies yet: add.body must be empty" in result.stderr

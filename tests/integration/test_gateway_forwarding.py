"""What reaches the upstream, through the real `dataplane run` (2 workers): X-Forwarded-*,
X-Real-IP, Via, hop-by-hop headers, Host, query strings, Kong's upstream path table, regex routes,
HTTP/1.0, keep-alive, pipelining, streamed bodies and trusted_ips."""

from __future__ import annotations

import pytest

from tests.support.http_messages import get
from tests.support.raw_client import RawConnection, raw_exchange, raw_request

pytestmark = pytest.mark.timeout(90)

VIA = "1.1 gantry/0.1.0"


def config(port: int) -> str:
    up = f"http://127.0.0.1:{port}"
    return rf"""
    _format_version: "3.0"
    services:
      - name: echo
        url: {up}
        routes:
          - name: all
            paths: ["/"]
            strip_path: false
          - name: fwd
            paths: ["/fwd"]
          - name: preserved
            hosts: ["preserved.example"]
            preserve_host: true
          - name: regex
            paths: ['~/users/(?<user>\d+)/orders']
            strip_path: true
      # Kong's path table (path_handling v0 unless said otherwise)
      - name: s-no-slash
        url: {up}/s
        routes:
          - {{name: fv0, paths: ["/fv0"], strip_path: false}}
          - {{name: tv0, paths: ["/tv0"], strip_path: true}}
          - {{name: fv0-slash, paths: ["/fv0s/"], strip_path: false}}
          - {{name: tv0-slash, paths: ["/tv0s/"], strip_path: true}}
          - {{name: fv1, paths: ["/fv1"], strip_path: false, path_handling: v1}}
          - {{name: tv1, paths: ["/tv1"], strip_path: true, path_handling: v1}}
      - name: s-slash
        url: {up}/s/
        routes:
          - {{name: fv0-b, paths: ["/b/fv0"], strip_path: false}}
          - {{name: tv0-b, paths: ["/b/tv0"], strip_path: true}}
          - {{name: tv0-b-slash, paths: ["/b/tv0s/"], strip_path: true}}
      - name: s-none
        url: {up}
        routes:
          - {{name: tv0-c, paths: ["/c/tv0"], strip_path: true}}
          - {{name: regex-s, paths: ['~/r/(?<a>[a-z]+)/(\d+)$'], strip_path: false}}
    """


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream):
    return module_gateway_factory(config(module_upstream.port), name="fwd")


@pytest.fixture(scope="module")
def trusted_gw(module_gateway_factory, module_upstream):
    return module_gateway_factory(config(module_upstream.port), name="trusted",
                                  conf={"trusted_ips": "127.0.0.1", "real_ip_header": "X-Forwarded-For",
                                        "real_ip_recursive": "on"})


def echo(port: int, raw: bytes) -> tuple:
    response = raw_request(port, raw)
    assert response.status == 200, bytes(response.body)
    return response, response.json(), response.echoed_headers()


SPOOFED = ("X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n"
           "X-Forwarded-Port: 1\r\nX-Forwarded-Path: /evil\r\nX-Forwarded-Prefix: /evil\r\nX-Real-IP: 2.2.2.2\r\n")


def test_forwarded_headers_from_an_untrusted_client(gw, module_upstream):
    response, body, headers = echo(gw.port, get("/fwd/x/y?q=1", host="Example.COM:8000", extra=SPOOFED))
    assert body["path"] == "/x/y" and body["query"] == "q=1"
    assert headers["x-forwarded-for"] == ["1.1.1.1, 127.0.0.1"]  # Kong always appends the peer
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-host"] == ["example.com"]
    assert headers["x-forwarded-port"] == [str(gw.port)]
    assert headers["x-forwarded-path"] == ["/fwd/x/y"]
    assert headers["x-forwarded-prefix"] == ["/fwd"]
    assert headers["x-real-ip"] == ["127.0.0.1"]
    assert headers["via"] == [VIA]
    assert headers["host"] == [f"127.0.0.1:{module_upstream.port}"]
    assert headers["x-kong-request-id"] == [response.header("X-Kong-Request-Id")]


def test_forwarded_headers_without_any_from_the_client(gw):
    _, _, headers = echo(gw.port, get("/anything"))
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-forwarded-host"] == ["example.com"]
    assert headers["x-forwarded-path"] == ["/anything"]
    assert "x-forwarded-prefix" not in headers  # strip_path false: nothing stripped
    _, _, headers = echo(gw.port, get("/anything", extra="Via: 1.0 corp-proxy\r\n"))
    assert headers["via"] == ["1.0 corp-proxy, " + VIA]


def test_forwarded_headers_from_a_trusted_proxy(trusted_gw):
    _, _, headers = echo(trusted_gw.port, get("/fwd/x", extra=(
        "X-Forwarded-For: 9.9.9.9, 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\n"
        "X-Forwarded-Port: 443\r\nX-Forwarded-Path: /outer/fwd/x\r\nX-Forwarded-Prefix: /outer\r\n")))
    assert headers["x-forwarded-for"] == ["9.9.9.9, 10.0.0.1, 127.0.0.1"]
    assert headers["x-real-ip"] == ["10.0.0.1"]  # real_ip_recursive: right-most untrusted address
    assert headers["x-forwarded-proto"] == ["https"]
    assert headers["x-forwarded-host"] == ["public.example"]
    assert headers["x-forwarded-port"] == ["443"]
    assert headers["x-forwarded-path"] == ["/outer/fwd/x"]
    assert headers["x-forwarded-prefix"] == ["/outer"]
    # no X-Forwarded-* from the trusted peer: ours, as for anybody
    _, _, headers = echo(trusted_gw.port, get("/fwd/x"))
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-real-ip"] == ["127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-port"] == [str(trusted_gw.port)]
    assert headers["x-forwarded-prefix"] == ["/fwd"]


def test_hop_by_hop_headers_are_not_forwarded(gw):
    _, _, headers = echo(gw.port, get("/anything", extra=(
        "Connection: keep-alive, X-Secret, x-other\r\nX-Secret: s\r\nX-Other: o\r\nKeep-Alive: timeout=5\r\n"
        "TE: gzip\r\nUpgrade: foo/2\r\nProxy-Connection: keep-alive\r\nProxy: http://evil:3128\r\n"
        "Trailer: X-T\r\nX-Custom: kept\r\n")))
    for dropped in ("x-secret", "x-other", "keep-alive", "te", "upgrade", "proxy-connection", "proxy", "trailer"):
        assert dropped not in headers, dropped
    assert headers["connection"] == ["keep-alive"]
    assert headers["x-custom"] == ["kept"]


def test_te_trailers_is_passed_on_as_kong_does(gw):
    # Kong's runloop sets TE: trailers upstream when the client's TE lists "trailers" (gRPC needs it)
    _, _, headers = echo(gw.port, get("/anything", extra="TE: trailers\r\n"))
    assert headers.get("te") == ["trailers"]


def test_host_sent_upstream(gw, module_upstream):
    _, _, headers = echo(gw.port, get("/anything", host="client.example"))
    assert headers["host"] == [f"127.0.0.1:{module_upstream.port}"]
    _, body, headers = echo(gw.port, get("/anything", host="Preserved.example:81"))
    assert headers["host"] == ["Preserved.example:81"]  # preserve_host: the client's Host as sent


def test_repeated_and_ordered_headers_are_kept(gw):
    _, _, headers = echo(gw.port, get("/anything", extra="X-Multi: 1\r\nX-Multi: 2\r\nx-multi: 3\r\nCookie: a=1\r\n"))
    assert headers["x-multi"] == ["1", "2", "3"]
    assert headers["cookie"] == ["a=1"]


QUERIES = [
    "a=1&&b=%2F+c;d=%zz&e",
    "x=%E2%82%AC&x=2&x=",
    "q=a%20b%2Bc&empty=&=v&flag",
    "path=/a/b?c=d&u=http://x/?y#",
    "%00%ff=%25",
    "a=1&a=1&A=1",
]


@pytest.mark.parametrize("query", QUERIES)
def test_query_string_is_forwarded_byte_for_byte(gw, query):
    _, body, _ = echo(gw.port, get("/anything?" + query.split("#")[0]))
    assert body["query"] == query.split("#")[0]
    _, body, _ = echo(gw.port, get("/fwd/sub?" + query.split("#")[0]))
    assert body["path"] == "/sub" and body["query"] == query.split("#")[0]


# (request path, upstream path) per Kong's path handling (router get_upstream_uri_v0 / the Admin
# API reference table); services: /s, /s/ and none.
PATH_TABLE = [
    ("/fv0req", "/s/fv0req"),
    ("/fv0", "/s/fv0"),
    ("/tv0req", "/s/req"),
    ("/tv0", "/s"),
    ("/tv0/", "/s/"),
    ("/tv0/x/y", "/s/x/y"),
    ("/fv0s/req", "/s/fv0s/req"),
    ("/tv0s/req", "/s/req"),
    ("/fv1req", "/sfv1req"),
    ("/tv1req", "/sreq"),
    ("/b/fv0/x", "/s/b/fv0/x"),
    ("/b/tv0/x", "/s/x"),
    ("/b/tv0x", "/s/x"),
    ("/b/tv0", "/s"),
    ("/b/tv0s/", "/s/"),
    ("/c/tv0", "/"),
    ("/c/tv0/x", "/x"),
]


@pytest.mark.parametrize(("request_path", "upstream_path"), PATH_TABLE)
def test_upstream_path_table(gw, request_path, upstream_path):
    _, body, _ = echo(gw.port, get(request_path + "?k=v"))
    assert body["path"] == upstream_path
    assert body["query"] == "k=v"


def test_regex_routes_with_captures(gw):
    _, body, headers = echo(gw.port, get("/users/42/orders/7?x=1"))
    assert body["path"] == "/7"  # strip_path: the whole matched sequence goes
    assert headers["x-forwarded-prefix"] == ["/users/42/orders"]
    _, body, _ = echo(gw.port, get("/r/abc/123"))
    assert body["path"] == "/r/abc/123"
    # anchored with $: a longer path is not this route's (the catch-all takes it as it is)
    _, body, _ = echo(gw.port, get("/r/abc/123/more"))
    assert body["path"] == "/r/abc/123/more"
    # \d+ does not match letters: the catch-all takes it
    _, body, headers = echo(gw.port, get("/users/x/orders/7"))
    assert body["path"] == "/users/x/orders/7" and "x-forwarded-prefix" not in headers


def test_http10_client(gw, module_upstream):
    with RawConnection(gw.port) as conn:
        conn.send(b"GET /anything?v=10 HTTP/1.0\r\n\r\n")  # no Host: fine on 1.0
        response = conn.read_one()
        assert response.status == 200
        assert response.header("Connection") == "close"
        body = response.json()
        assert body["query"] == "v=10"
        assert body["http_version"] == "1.1"  # upstream requests are HTTP/1.1
        headers = response.echoed_headers()
        assert headers["host"] == [f"127.0.0.1:{module_upstream.port}"]
        assert conn.closed()
    with RawConnection(gw.port) as conn:
        for i in range(3):
            conn.send(b"GET /anything?n=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i)
            response = conn.read_one()
            assert response.status == 200 and response.json()["query"] == f"n={i}"
            assert response.header("Connection").lower() == "keep-alive"
    with RawConnection(gw.port) as conn:
        conn.send(b"GET /chunked/30000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = conn.read_one()  # no chunked for an HTTP/1.0 client: close-delimited
        assert response.status == 200 and len(response.body) == 30000
        assert response.header("Transfer-Encoding") is None
        assert conn.eof or conn.closed()


def test_keep_alive_reuses_client_and_upstream_connections(gw, module_upstream):
    with RawConnection(gw.port) as conn:  # warm both workers' pools
        for _ in range(2):
            conn.send(get("/anything"))
            assert conn.read_one().status == 200
    before = module_upstream.stats()
    with RawConnection(gw.port) as conn:
        for i in range(10):
            conn.send(get(f"/anything?i={i}"))
            response = conn.read_one()
            assert response.status == 200 and response.json()["query"] == f"i={i}"
            assert response.header("Connection") == "keep-alive"
    for _ in range(10):
        assert raw_request(gw.port, get("/anything")).status == 200
    after = module_upstream.stats()
    assert after["requests"] - before["requests"] == 20
    # each worker keeps its upstream connection; the stats request itself is one more
    assert after["connections"] - before["connections"] <= 3


def test_pipelined_requests_are_answered_in_order(gw):
    with RawConnection(gw.port) as conn:
        conn.send(get("/delay/200") + get("/anything?n=2")
                  + b"POST /status/201 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                  + get("/fwd/p?n=4") + get("/bytes/3"))
        responses = conn.read(5)
        assert [r.status for r in responses] == [200, 200, 201, 200, 200]
        assert responses[0].json()["path"] == "/delay/200"
        assert responses[1].json()["query"] == "n=2"
        assert responses[2].json()["body_size"] == 5
        assert responses[3].json()["path"] == "/p"
        assert bytes(responses[4].body) == b"xxx"


SIZE = 10 * 1024 * 1024
PIECE = b"y" * (1 << 20)


def test_request_bodies_stream_with_content_length_and_chunked(gw):
    with RawConnection(gw.port, timeout=30) as conn:
        conn.send(b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % SIZE)
        for _ in range(SIZE // len(PIECE)):
            conn.send(PIECE)
        response = conn.read_one()
        assert response.status == 200 and response.json()["body_size"] == SIZE
        names = response.echoed_headers()
        assert names["content-length"] == [str(SIZE)] and "transfer-encoding" not in names

        conn.send(b"PUT /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(SIZE // len(PIECE)):
            conn.send(b"%x\r\n%s\r\n" % (len(PIECE), PIECE))
        conn.send(b"3;ext=1\r\nabc\r\n0\r\n\r\n")
        response = conn.read_one()
        assert response.status == 200 and response.json()["body_size"] == SIZE + 3
        names = response.echoed_headers()
        assert names["transfer-encoding"] == ["chunked"] and "content-length" not in names


def test_response_bodies_stream_with_content_length_and_chunked(gw):
    with RawConnection(gw.port, timeout=30) as conn:
        conn.send(get(f"/bytes/{SIZE}"))
        response = conn.read_one()
        assert response.status == 200
        assert response.header("Content-Length") == str(SIZE) and len(response.body) == SIZE
        conn.send(get(f"/chunked/{SIZE}"))
        response = conn.read_one()
        assert response.header("Transfer-Encoding") == "chunked"
        assert len(response.body) == SIZE and set(bytes(response.body[:100])) == {ord("x")}
        conn.send(get("/anything"))  # the connection is still in step
        assert conn.read_one().status == 200


def test_header_names_values_and_connection_tokens(gw):
    _, _, headers = echo(gw.port, get("/anything", extra=(
        "X-CamelCase: v\r\nX-Empty:\r\nX-Spaces:   padded value   \r\nConnection: Keep-Alive\r\n"
        "Connection: X-Second\r\nX-Second: gone\r\n")))
    assert headers["x-camelcase"] == ["v"]
    assert headers["x-empty"] == [""]
    assert headers["x-spaces"] == ["padded value"]
    assert "x-second" not in headers  # named by a second Connection header
    _, body, _ = echo(gw.port, get("/anything", extra="X-CamelCase: v\r\n"))
    assert ["X-CamelCase", "v"] in body["headers"]  # the name's case as the client sent it


def test_client_connection_close_is_honoured(gw):
    with RawConnection(gw.port) as conn:
        conn.send(get("/anything", extra="Connection: close\r\n"))
        response = conn.read_one()
        assert response.status == 200 and response.header("Connection") == "close"
        assert conn.closed()


def test_empty_and_zero_length_bodies(gw):
    with RawConnection(gw.port) as conn:
        conn.send(b"POST /anything HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        response = conn.read_one()
        assert response.status == 200 and response.json()["body_size"] == 0
        assert response.echoed_headers()["content-length"] == ["0"]
        conn.send(b"POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        response = conn.read_one()
        assert response.status == 200 and response.json()["body_size"] == 0


def test_head_response_has_no_body(gw):
    data = raw_exchange(gw.port, b"HEAD /bytes/100 HTTP/1.1\r\nHost: a\r\n\r\n"
                        + get("/bytes/3", extra="Connection: close\r\n"))
    first, rest = data.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 100" in first
    assert rest.startswith(b"HTTP/1.1 200 ")  # the next response follows the head at once
    assert rest.endswith(b"\r\n\r\nxxx")


@pytest.mark.parametrize(("trusted", "trusts_us"), [("127.0.0.1", True), ("10.0.0.0/8, ::1", False),
                                                   ("0.0.0.0/0, ::/0", True)])
def test_trusted_ips_with_the_default_real_ip_header(module_gateway_factory, module_upstream, trusted, trusts_us):
    gw = module_gateway_factory(config(module_upstream.port), name="trust", conf={"trusted_ips": trusted})
    _, _, headers = echo(gw.port, get("/fwd/x", host="inner.example", extra=SPOOFED))
    # X-Forwarded-For always keeps what came in and appends the peer (Kong's runloop does both ways)
    assert headers["x-forwarded-for"] == ["1.1.1.1, 127.0.0.1"]
    if trusts_us:
        assert headers["x-real-ip"] == ["2.2.2.2"]  # real_ip_header X-Real-IP from a trusted peer
        assert headers["x-forwarded-proto"] == ["https"]
        assert headers["x-forwarded-host"] == ["evil.example"]
        assert headers["x-forwarded-port"] == ["1"]
        assert headers["x-forwarded-path"] == ["/evil"]
        assert headers["x-forwarded-prefix"] == ["/evil"]
    else:
        assert headers["x-real-ip"] == ["127.0.0.1"]
        assert headers["x-forwarded-proto"] == ["http"]
        assert headers["x-forwarded-host"] == ["inner.example"]
        assert headers["x-forwarded-port"] == [str(gw.port)]
        assert headers["x-forwarded-path"] == ["/fwd/x"]
        assert headers["x-forwarded-prefix"] == ["/fwd"]
    gw.stop()

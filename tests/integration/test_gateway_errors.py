"""The gateway's own answers through the real `dataplane run` (2 workers): Kong's error bodies
with request ids, 502/503/504 from misbehaving or missing upstreams (and a pool that stays good
afterwards), retries onto the next target, and Kong's response headers (and `headers = off`)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.http_messages import get
from tests.support.ports import dead_port
from tests.support.raw_client import RawConnection, raw_request

pytestmark = pytest.mark.timeout(90)

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def config(port: int, dead: int) -> str:
    return f"""
    _format_version: "3.0"
    upstreams:
      - name: zero-pool
        targets:
          - {{target: "127.0.0.1:{port}", weight: 0}}
          - {{target: "127.0.0.1:{dead}", weight: 0}}
      - name: half-dead
        targets:
          - {{target: "127.0.0.1:{dead}", weight: 100}}
          - {{target: "127.0.0.1:{port}", weight: 100}}
      - name: half-dead-no-retry
        targets:
          - {{target: "127.0.0.1:{dead}", weight: 100}}
          - {{target: "127.0.0.1:{port}", weight: 100}}
    services:
      - name: echo
        url: http://127.0.0.1:{port}
        read_timeout: 300
        routes:
          - {{name: echo, paths: ["/echo"], strip_path: true}}
      - name: refused
        url: http://127.0.0.1:{dead}
        retries: 2
        routes:
          - {{name: refused, paths: ["/refused"]}}
      - name: zero
        host: zero-pool
        routes:
          - {{name: zero, paths: ["/zero"]}}
      - name: failover
        host: half-dead
        retries: 1
        routes:
          - {{name: failover, paths: ["/failover"]}}
      - name: no-retry
        host: half-dead-no-retry
        retries: 0
        routes:
          - {{name: no-retry, paths: ["/no-retry"]}}
    """


@pytest.fixture(scope="module")
def dead():
    return dead_port()


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream, dead):
    return module_gateway_factory(config(module_upstream.port, dead), name="errors")


@pytest.fixture(scope="module")
def quiet_gw(module_gateway_factory, module_upstream, dead):
    return module_gateway_factory(config(module_upstream.port, dead), name="quiet", conf={"headers": "off"})


JSON = "Accept: application/json\r\n"


def check_error(response, status: int, message: str) -> None:
    """Kong's JSON error body; the request id in it is the X-Kong-Request-Id header."""
    assert response.status == status, bytes(response.body)
    assert response.header("Content-Type") == "application/json; charset=utf-8"
    body = json.loads(bytes(response.body))
    assert body["message"] == message
    assert REQUEST_ID.match(body["request_id"])
    assert response.header("X-Kong-Request-Id") == body["request_id"]


def test_no_route_is_kongs_404(gw, module_upstream):
    before = module_upstream.stats()["requests"]
    response = raw_request(gw.port, get("/nowhere", extra=JSON))
    check_error(response, 404, "no Route matched with those values")
    assert response.header("X-Kong-Response-Latency") is not None
    assert response.header("X-Kong-Upstream-Latency") is None  # nothing was proxied
    assert response.header("Server") == "gantry/0.1.0"
    # the format follows Accept; request ids differ per request
    plain = raw_request(gw.port, get("/nowhere", extra="Accept: text/plain\r\n"))
    assert plain.header("Content-Type") == "text/plain; charset=utf-8"
    assert bytes(plain.body) == f"no Route matched with those values\nrequest_id: {plain.header('X-Kong-Request-Id')}\n".encode()
    html = raw_request(gw.port, get("/nowhere", extra="Accept: text/html\r\n"))
    assert html.header("Content-Type") == "text/html; charset=utf-8"
    assert html.header("X-Kong-Request-Id") in html.body.decode()
    assert len({response.header("X-Kong-Request-Id"), plain.header("X-Kong-Request-Id"),
                html.header("X-Kong-Request-Id")}) == 3
    assert module_upstream.stats()["requests"] == before


@pytest.mark.parametrize(("bad", "status", "message"), [
    ("/echo/reset", 502, "An invalid response was received from the upstream server"),
    ("/echo/garbage", 502, "An invalid response was received from the upstream server"),
    ("/echo/delay/1500", 504, "The upstream server is timing out"),
])
def test_upstream_failures_then_the_same_route_still_works(gw, bad, status, message):
    with RawConnection(gw.port) as conn:
        for _ in range(2):
            conn.send(get("/echo/anything"))
            assert conn.read_one().status == 200
        conn.send(get(bad, extra=JSON))
        check_error(conn.read_one(), status, message)
        for i in range(6):  # same client connection: a gateway error keeps it open; pools stay good
            conn.send(get(f"/echo/anything?after={i}"))
            response = conn.read_one()
            assert response.status == 200, f"after {bad}: {bytes(response.body)}"
            assert response.json()["query"] == f"after={i}"
    for _ in range(6):  # and on fresh connections, whichever worker takes them
        assert raw_request(gw.port, get("/echo/anything")).status == 200


def test_connection_refused_is_502(gw):
    response = raw_request(gw.port, get("/refused/x", extra=JSON))
    check_error(response, 502, "An invalid response was received from the upstream server")
    response = raw_request(gw.port, get("/refused/x"))
    assert response.status == 502
    assert response.body.startswith(b"An invalid response was received from the upstream server\nrequest_id: ")


def test_every_target_at_weight_zero_is_503(gw, module_upstream):
    before = module_upstream.stats()["requests"]
    for _ in range(4):
        response = raw_request(gw.port, get("/zero/x", extra=JSON))
        check_error(response, 503, "failure to get a peer from the ring-balancer")
    assert module_upstream.stats()["requests"] == before


def test_retries_move_to_the_next_target(gw, module_upstream):
    before = module_upstream.stats()["requests"]
    for i in range(12):
        response = raw_request(gw.port, get(f"/failover/anything?i={i}"))
        assert response.status == 200, bytes(response.body)
        assert response.echoed_headers()["host"] == [f"127.0.0.1:{module_upstream.port}"]
    assert module_upstream.stats()["requests"] - before == 12


def test_without_retries_a_dead_target_shows(gw):
    statuses = [raw_request(gw.port, get("/no-retry/anything")).status for _ in range(12)]
    assert set(statuses) == {200, 502}, statuses  # round-robin over one dead and one live target


def test_kong_response_headers(gw):
    response = raw_request(gw.port, get("/echo/anything"))
    assert response.status == 200
    assert response.header("Via") == "1.1 gantry/0.1.0"
    assert response.header("Server") == "gantry/0.1.0"  # the upstream sends none
    assert int(response.header("X-Kong-Upstream-Latency")) >= 0
    assert int(response.header("X-Kong-Proxy-Latency")) >= 0
    assert response.header("X-Kong-Response-Latency") is None  # only on the gateway's own answers
    assert REQUEST_ID.match(response.header("X-Kong-Request-Id"))
    assert response.echoed_headers()["x-kong-request-id"] == [response.header("X-Kong-Request-Id")]
    assert response.header("Date") is not None
    slow = raw_request(gw.port, get("/echo/delay/120"))
    assert int(slow.header("X-Kong-Upstream-Latency")) >= 100


def test_headers_off_removes_kongs_headers(quiet_gw):
    for path, status in (("/echo/anything", 200), ("/nowhere", 404), ("/refused/x", 502), ("/zero/x", 503)):
        response = raw_request(quiet_gw.port, get(path))
        assert response.status == status
        for name in ("Via", "Server", "X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency",
                     "X-Kong-Response-Latency", "X-Kong-Request-Id"):
            assert response.header(name) is None, (path, name)
    # upstream still gets the request id (headers_upstream defaults to X-Kong-Request-Id)
    response = raw_request(quiet_gw.port, get("/echo/anything"))
    assert REQUEST_ID.match(response.echoed_headers()["x-kong-request-id"][0])


def test_upstream_closing_after_its_answer_does_not_break_the_next_request(gw):
    with RawConnection(gw.port) as conn:
        for i in range(4):
            conn.send(get("/echo/close"))
            response = conn.read_one()
            assert response.status == 200
            assert response.header("Connection") == "keep-alive"  # the upstream's close is not the client's
            conn.send(get(f"/echo/anything?i={i}"))
            assert conn.read_one().status == 200

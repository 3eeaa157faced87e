"""Where and how a request goes, as plugins change it (kong.service.set_target, set_upstream,
set_retries, set_timeouts; kong.service.request.set_raw_body and set_body), through the real
`dataplane run` (2 workers) with two echo upstreams."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.echo_upstream import Upstream
from tests.support.ports import free_port
from tests.support.raw_client import RawConnection, raw_request

pytestmark = pytest.mark.timeout(60)

STEER = '''
priority = 800
version = "1.0.0"
Schema = ()


class Plugin:
    def __init__(self, config):
        pass

    def access(self, kong):
        get = kong.request.get_header
        if get("x-target-port"):
            kong.service.set_target("127.0.0.1", int(get("x-target-port")))
        if get("x-upstream"):
            kong.service.set_upstream(get("x-upstream"))
        if get("x-retries"):
            kong.service.set_retries(int(get("x-retries")))
        if get("x-read-timeout"):
            kong.service.set_timeouts(1000, 1000, int(get("x-read-timeout")))
        if get("x-raw-body"):
            kong.service.request.set_raw_body(get("x-raw-body"))
        if get("x-json-body"):
            kong.service.request.set_body({"value": get("x-json-body")}, "application/json")
'''


def config(port: int, other: int) -> str:
    return textwrap.dedent(f"""
    _format_version: "3.0"
    upstreams:
      - name: other-upstream
        targets:
          - target: 127.0.0.1:{other}
    services:
      - name: echo
        url: http://127.0.0.1:{port}
        routes:
          - name: steered
            paths: [/]
            plugins:
              - name: steer
    """)


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream, upstream2, tmp_path_factory):
    root = tmp_path_factory.mktemp("service_plugins")
    (root / "steer.py").write_text(STEER)
    return module_gateway_factory(
        config(module_upstream.port, upstream2.port),
        conf={"plugins": "bundled,steer"},
        env={"PYTHONPATH": str(root)},
        name="steer",
    )


@pytest.fixture(scope="module")
def upstream2():
    """The second echo upstream, for the whole module (conftest's lives for one test)."""
    server = Upstream("two")
    yield server
    server.stop()


def send(gw, path: str, *headers: str, body: bytes = b""):
    head = "".join(f"{line}\r\n" for line in headers)
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return raw_request(gw.port, f"POST {path} HTTP/1.1\r\nHost: a\r\n{head}\r\n".encode() + body)


def test_without_changes_the_service_is_used(gw):
    assert send(gw, "/").json()["upstream"] == "one"


def test_set_target_connects_elsewhere_keeping_the_services_host_header(gw, module_upstream, upstream2):
    response = send(gw, "/", f"X-Target-Port: {upstream2.port}")
    assert response.json()["upstream"] == "two"
    assert response.echoed_headers()["host"] == [f"127.0.0.1:{module_upstream.port}"]


def test_set_upstream_balances_over_another_upstream(gw, upstream2):
    response = send(gw, "/", "X-Upstream: other-upstream")
    assert response.json()["upstream"] == "two"
    # as for a service whose host names an upstream: the Host is the picked target's
    assert response.echoed_headers()["host"] == [f"127.0.0.1:{upstream2.port}"]


def test_set_upstream_to_an_unknown_name_fails_the_request(gw):
    response = send(gw, "/", "X-Upstream: nowhere")
    assert response.status == 500
    assert "could not find an Upstream named 'nowhere'" in gw.error_log()


def test_set_timeouts_applies_to_this_request(gw):
    assert send(gw, "/delay/1500", "X-Read-Timeout: 100").status == 504
    assert send(gw, "/delay/200").status == 200


def test_set_target_to_a_dead_port_fails_after_one_try(gw):
    dead = free_port()
    response = send(gw, "/", f"X-Target-Port: {dead}", "X-Retries: 3")
    assert response.status == 502
    # set_target means no balancer: no retries whatever set_retries says before it
    assert f"127.0.0.1:{dead} connect failed (try 1)" in gw.error_log()
    assert f"127.0.0.1:{dead} connect failed (try 2)" not in gw.error_log()


def test_set_raw_body_replaces_the_clients_body(gw):
    response = send(gw, "/", "X-Raw-Body: replaced", body=b"x" * 70000)
    assert response.json()["body_size"] == len(b"replaced")
    assert response.echoed_headers()["content-length"] == ["8"]


def test_set_raw_body_replaces_a_chunked_body_and_the_connection_goes_on(gw):
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    request = b"POST / HTTP/1.1\r\nHost: a\r\nX-Raw-Body: new\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    with RawConnection(gw.port) as conn:
        conn.send(request + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        first, second = conn.read(2)
    assert first.json()["body_size"] == 3
    assert "transfer-encoding" not in first.echoed_headers()
    assert second.status == 200 and second.json()["body_size"] == 0


def test_set_body_encodes_json_with_its_content_type(gw):
    response = send(gw, "/", "X-Json-Body: v1", body=b"a=b")
    assert response.echoed_headers()["content-type"] == ["application/json"]
    assert response.json()["body_size"] == len(b'{"value":"v1"}')

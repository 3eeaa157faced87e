"""Response bodies through plugins, with the real `dataplane run` (2 workers): a Gantry plugin's
body_filter streams a chunked upstream body piece by piece (the client gets it re-framed:
chunked for HTTP/1.1, to the end of the connection for HTTP/1.0, nothing for HEAD), one that
gathers the whole body replaces it, and a kong-pdk plugin's response phase reads the upstream's
whole body and changes the answer, as Kong runs it with buffered proxying."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.raw_client import RawConnection, raw_exchange, raw_request
from tests.support.raw_upstream import RawUpstream

pytestmark = pytest.mark.timeout(60)

# Three chunks, the upstream taking its time between none of them: the gateway reads what comes
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"
)
LENGTH = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{"items": [1, 2]}\n'
SECRET = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"secret": 42}'

SHOUT = '''
priority = 5
version = "1.0.0"
Schema = ()


class Plugin:
    def __init__(self, config):
        pass

    def header_filter(self, kong):
        kong.response.set_header("X-Shouted", "yes")

    def body_filter(self, kong):
        kong.response.set_chunk(kong.response.get_chunk().upper())
'''

WRAP = '''
import json

priority = 10
version = "1.0.0"
Schema = ()


class Plugin:
    def __init__(self, config):
        pass

    def body_filter(self, kong):
        body = kong.response.get_raw_body()
        if body is not None:
            kong.response.set_raw_body(json.dumps({"wrapped": body.decode()}))
'''

# kong-pdk's shape, as Kong's plugin server would load it
RESPONDER = '''
import kong_pdk.pdk.kong as kong

Schema = ({"message": {"type": "string", "default": "the upstream leaked a secret"}},)
version = "0.1.0"
priority = 100


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def response(self, kong: kong.kong):
        body, err = kong.service.response.get_body()
        if err:
            return kong.response.exit(500, {"message": err})
        if "secret" in body:
            return kong.response.exit(502, {"message": self.config["message"]})
        kong.response.set_header("X-Items", str(len(body["items"])))
        kong.response.set_status(203)
'''


def config(port: int) -> str:
    return textwrap.dedent(f"""
    _format_version: "3.0"
    services:
      - name: raw
        url: http://127.0.0.1:{port}
        routes:
          - name: shouted
            paths: [/shout]
            strip_path: true
            plugins:
              - name: shout
          - name: wrapped
            paths: [/wrap]
            strip_path: true
            plugins:
              - name: shout
              - name: wrap
          - name: responded
            paths: [/respond]
            strip_path: true
            plugins:
              - name: py-responder
    """)


@pytest.fixture(scope="module")
def upstream():
    server = RawUpstream({"/chunked": CHUNKED, "/length": LENGTH, "/secret": SECRET})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(module_gateway_factory, upstream, tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("body_plugins")
    (root / "shout.py").write_text(SHOUT)
    (root / "wrap.py").write_text(WRAP)
    responder = root / "py-responder.py"
    responder.write_text(RESPONDER)
    return module_gateway_factory(
        config(upstream.port),
        conf={
            "plugins": "bundled,shout,wrap,py-responder",
            "pluginserver_names": "responder",
            "pluginserver_responder_start_cmd": str(responder),
        },
        env={"PYTHONPATH": str(root)},
        name="body",
    )


def get(gw, path: str, version: str = "1.1", method: str = "GET"):
    return raw_request(gw.port, f"{method} {path} HTTP/{version}\r\nHost: x\r\n\r\n".encode())


def test_a_body_filter_streams_each_piece_rechunked(gw):
    response = get(gw, "/shout/chunked")
    assert response.status == 200
    assert bytes(response.body) == b"ONE TWO THREE"
    assert response.header("transfer-encoding") == "chunked"
    assert response.header("x-shouted") == "yes"


def test_a_known_length_becomes_chunked_once_a_body_filter_may_change_it(gw):
    response = get(gw, "/shout/length")
    assert bytes(response.body) == b'{"ITEMS": [1, 2]}\n'
    assert response.header("content-length") is None and response.header("transfer-encoding") == "chunked"


def test_an_http10_client_reads_a_filtered_body_to_the_end_of_the_connection(gw):
    raw = raw_exchange(gw.port, b"GET /shout/chunked HTTP/1.0\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == b"ONE TWO THREE"
    assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()


def test_head_gets_no_body_and_no_reframing(gw):
    raw = raw_exchange(gw.port, b"HEAD /shout/length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""
    assert b"content-length: 18" in head.lower()


def test_a_gathering_filter_replaces_the_whole_body_before_the_next_filter(gw):
    response = get(gw, "/wrap/chunked")
    assert response.json() == {"WRAPPED": "ONE TWO THREE"}


def test_the_response_phase_reads_the_whole_body_and_changes_the_answer(gw):
    response = get(gw, "/respond/length")
    assert response.status == 203
    assert response.header("x-items") == "2"
    assert response.header("content-length") == "18"
    assert bytes(response.body) == b'{"items": [1, 2]}\n'


def test_the_response_phase_may_replace_the_answer(gw):
    response = get(gw, "/respond/secret")
    assert response.status == 502
    assert response.json() == {"message": "the upstream leaked a secret"}
    assert response.header("x-kong-upstream-latency") is not None  # it was proxied, then replaced


def test_connections_stay_usable_after_filtered_responses(gw):
    pipelined = b"GET /shout/chunked HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + b"GET /respond/length HTTP/1.1\r\nHost: x\r\n\r\n"
    with RawConnection(gw.port) as conn:
        conn.send(pipelined)
        responses = conn.read(3)
    assert [r.status for r in responses] == [200, 200, 203]
    assert bytes(responses[1].body) == b"ONE TWO THREE"

"""A corpus of framing attacks against the real `dataplane run` (2 workers) in front of a raw
upstream (tests.support.raw_upstream) that logs every byte it is sent and parses it strictly.

Request-side cases start on a warm client connection: one good request first, so that an
upstream connection sits in the worker's pool (the worst case: a forwarded attack would ride a
connection that carries other clients' requests). The warm-up takes the fast lane, the general
lane (a chunked POST), or the general lane with the attack pipelined behind it in one write.
After every case a good request on a new client connection must get its own answer and reach
the upstream as a clean request.

Response-side cases script the upstream's raw answer per path: extra bytes after a complete
response, or a Transfer-Encoding whose final coding is not chunked. The client must get the
first response intact (or nginx's 502) and the upstream connection must never be used again."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import socket
import time
from pathlib import Path

import pytest

from tests.support.http_messages import Response
from tests.support.raw_client import RawConnection, raw_request
from tests.support.raw_upstream import RawUpstream, Request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
POISON = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned"
READ_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0  # a refusal is followed by the gateway's FIN at once: no long wait needed

WARM = {
    "fast": b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n",
    "general": b"POST /warm HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwarm\r\n0\r\n\r\n",
}
WARMS = ["fast", "general"]
# where an attack is refused outright, also pipelined behind the general-lane warm-up: its
# parser reads on from the warm-up's last byte instead of starting at a read boundary
REFUSAL_WARMS = [*WARMS, "pipelined"]

# ---- response-side scripts (path -> raw bytes the upstream answers) ----------------------------

FIRST = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
CHUNKED_FIRST = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n"
HEAD_FIRST = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"

POISONED = {  # case -> (method, scripted answer, status and body the client must get)
    "after content-length body": ("GET", FIRST + POISON, 200, b"first"),
    "after chunked body": ("GET", CHUNKED_FIRST + POISON, 200, b"first"),
    "after 204": ("GET", b"HTTP/1.1 204 No Content\r\n\r\n" + POISON, 204, b""),
    "after 304": ("GET", b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n' + POISON, 304, b""),
    "after a head response": ("HEAD", HEAD_FIRST + POISON, 200, b""),
    "body after a head response": ("HEAD", HEAD_FIRST + b"first", 200, b""),
    "after 100 continue and final": ("GET", b"HTTP/1.1 100 Continue\r\n\r\n" + FIRST + POISON, 200, b"first"),
    "after 103 early hints and final": ("GET", EARLY_HINTS + FIRST + POISON, 200, b"first"),
    "after chunked final following 103": ("GET", EARLY_HINTS + CHUNKED_FIRST + POISON, 200, b"first"),
    "garbage after content-length body": ("GET", FIRST + b"garbage!", 200, b"first"),
    "lone crlf after content-length body": ("GET", FIRST + b"\r\n", 200, b"first"),
    "garbage after chunked body": ("GET", CHUNKED_FIRST + b"garbage!", 200, b"first"),
    "lone crlf after chunked body": ("GET", CHUNKED_FIRST + b"\r\n", 200, b"first"),
}

BAD_CODINGS = {  # case -> Transfer-Encoding field lines of the upstream's response
    "chunked, gzip": b"Transfer-Encoding: chunked, gzip\r\n",
    "gzip": b"Transfer-Encoding: gzip\r\n",
    "chunkedchunked": b"Transfer-Encoding: chunkedchunked\r\n",
    "identity": b"Transfer-Encoding: identity\r\n",
    "unknown coding": b"Transfer-Encoding: x-unknown\r\n",
    "chunked, identity": b"Transfer-Encoding: chunked, identity\r\n",
    "chunked then gzip in two fields": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
}


def script_path(kind: str, case: str) -> str:
    return f"/script/{kind}/" + re.sub(r"[^a-z0-9]+", "-", case)


SCRIPTS = {
    **{script_path("poisoned", case): script for case, (_, script, _, _) in POISONED.items()},
    **{script_path("coding", case): b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n5\r\nfirst\r\n0\r\n\r\n"
       for case, fields in BAD_CODINGS.items()},
}

# ---- request-side corpus -----------------------------------------------------------------------

UPGRADES = {
    "websocket": b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    "h2c": b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
    "foo": b"Connection: Upgrade\r\nUpgrade: foo\r\n",
}

CHUNKED_HEAD = b"POST %s HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
GOOD_CHUNK = b"5\r\nhello\r\n"

BAD_CHUNKED = {  # case -> a chunked body the gateway must refuse
    "size 0x5": b"0x5\r\nhello\r\n0\r\n\r\n",
    "size +5": b"+5\r\nhello\r\n0\r\n\r\n",
    "size -1": b"-1\r\nhello\r\n0\r\n\r\n",
    "size then space": b"5 \r\nhello\r\n0\r\n\r\n",
    "space then size": b" 5\r\nhello\r\n0\r\n\r\n",
    "size of 20 hex digits": b"10000000000000000005\r\nhello\r\n0\r\n\r\n",
    "size not hex": b"g\r\nhello\r\n0\r\n\r\n",
    "empty size line": b"\r\nhello\r\n0\r\n\r\n",
    "extension with bare cr": b"5;a\rb\r\nhello\r\n0\r\n\r\n",
    "extension with bare lf": b"5;a\nb\r\nhello\r\n0\r\n\r\n",
    "extension with nul": b"5;a=\x00\r\nhello\r\n0\r\n\r\n",
    "extension with unbalanced quote": b'5;a="b\r\nhello\r\n0\r\n\r\n',
    "data not followed by crlf": b"5\r\nhelloXX\r\n0\r\n\r\n",
    "bare lf after size": b"5\nhello\r\n0\r\n\r\n",
    "bare lf after data": b"5\r\nhello\n0\r\n\r\n",
    "bare lf after last chunk": b"5\r\nhello\r\n0\n\r\n",
    "bare lf everywhere": b"5\nhello\n0\n\n",
    "trailer without colon": b"5\r\nhello\r\n0\r\nNoColon\r\n\r\n",
    "trailer with space before colon": b"5\r\nhello\r\n0\r\nX-T : v\r\n\r\n",
    "trailer content-length": b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
    "trailer transfer-encoding": b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
}

# valid: an extension and a trailer are allowed, and must not cost the body
GOOD_CHUNKED_PARTS = (b"5\r\nhello\r\n6;name=value\r\n world\r\n", b"1\r\n!\r\n0\r\nX-Trailer: ok\r\n\r\n")
GOOD_CHUNKED_BODY = b"hello world!"

LARGE_BODY = os.urandom(6 << 20)  # far over client_body_buffer_size (8k): spills to a file

CL_HEADS = {  # a Content-Length POST head per request lane (obs-text in a value: the general one)
    "fast lane head": b"POST /length HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n",
    "general lane head": b"POST /length HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\nContent-Length: %d\r\n\r\n",
}
CL_BODY = bytes(range(256)) * 40  # 10 KiB: past the in-memory buffer too

FRAGMENT_TARGETS = ["/a#b", "/a%2F..#/../b", "/a?q=1#b"]

UNDERSCORE_HEADS = {
    "fast lane head": b"GET /underscore HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\nX-Other: 2\r\n\r\n",
    "general lane head": b"GET /underscore HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\nX-Other: 2\r\nX-Name: caf\xe9\r\n\r\n",
}

REQUEST_ID = re.compile(r"[0-9a-f]{32}")
BAD_REQUEST = "Bad request"
INVALID_RESPONSE = "An invalid response was received from the upstream server"


def config(port: int) -> str:
    return f"""
    _format_version: "3.0"
    services:
      - name: raw
        url: http://127.0.0.1:{port}
        routes:
          - name: buffered
            paths: ["/"]
            strip_path: false
          - name: streaming
            paths: ["/unbuffered"]
            strip_path: false
            request_buffering: false
    """


@pytest.fixture(scope="module")
def upstream():
    server = RawUpstream(SCRIPTS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(module_gateway_factory, upstream):
    return module_gateway_factory(config(upstream.port), name="framing")


@pytest.fixture(scope="module")
def underscores_gw(module_gateway_factory, upstream):
    return module_gateway_factory(config(upstream.port), name="underscores",
                                  conf={"nginx_http_underscores_in_headers": "on"})


# ---- helpers -----------------------------------------------------------------------------------


def chunked(data: bytes, size: int = 1 << 16) -> bytes:
    pieces = [b"%x\r\n%s\r\n" % (len(data[at:at + size]), data[at:at + size]) for at in range(0, len(data), size)]
    return b"".join(pieces) + b"0\r\n\r\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_kong_error(response: Response, status: int, message: str, json_only: bool = True) -> None:
    """Kong's error body: JSON for a client that accepts it (``json_only``), else JSON or
    text/plain, with the request id the response header carries."""
    assert response.status == status, (response.status, bytes(response.body)[:300])
    content_type = response.header("Content-Type") or ""
    if content_type.startswith("application/json"):
        body = response.json()
        assert body["message"] == message, body
        request_id = body["request_id"]
    else:
        assert not json_only, f"a {content_type!r} error body to a client that accepts JSON"
        assert content_type.startswith("text/plain"), content_type
        text = bytes(response.body).decode()
        assert text.startswith(f"{message}\nrequest_id: "), text
        request_id = text.split("request_id: ", 1)[1].strip()
    assert REQUEST_ID.fullmatch(request_id), request_id
    assert response.header("X-Kong-Request-Id") in (None, request_id)


def answer(conn: RawConnection, timeout: float = READ_TIMEOUT) -> Response:
    """The next response, or a failure that says the gateway did not answer (rather than a bare
    socket timeout)."""
    try:
        return conn.read_one(timeout)
    except socket.timeout:
        raise AssertionError(f"no answer within {timeout} s") from None


def final_response(conn: RawConnection) -> Response:
    """The next final response; interim ones the gateway may pass on are skipped."""
    while True:
        response = answer(conn)
        if response.status >= 200:
            return response


def received_within(conn: RawConnection, seconds: float) -> bytes:
    """Whatever the gateway sends in the next ``seconds`` (b"" for nothing, or EOF)."""
    conn.sock.settimeout(seconds)
    try:
        return conn.sock.recv(1 << 16)
    except socket.timeout:
        return b""


def prefix_state(gateway) -> set[str]:
    """The files under the gateway's prefix, and those under it that its workers hold open (an
    unlinked temporary file shows as "<path> (deleted)")."""
    found = {str(path) for path in gateway.prefix.rglob("*") if path.is_file()}
    root = f"{gateway.prefix}/"
    for pid in gateway.worker_pids():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(root):
                found.add(target)
    return found


def assert_no_temporary_file(gateway, before: set[str], timeout: float = 5.0) -> None:
    """Nothing new under the prefix, open or on disk, once the request is over (cleanup may
    take a moment after the last byte)."""
    with contextlib.suppress(TimeoutError):  # the assertion below says what is left
        wait_for(lambda: not prefix_state(gateway) - before, timeout)
    left = prefix_state(gateway) - before
    assert not left, f"left under the prefix (or held open by a worker): {sorted(left)}"


class Warmed:
    """One client connection whose worker has an upstream connection pooled by a warm-up."""

    def __init__(self, gateway, upstream: RawUpstream, warm: str) -> None:
        self.upstream = upstream
        self.warm = warm
        self.mark = upstream.mark()
        self.conn = RawConnection(gateway.port, READ_TIMEOUT)
        if warm != "pipelined":
            self.conn.send(WARM[warm])
            self._warm_answered()

    def _warm_answered(self) -> None:
        response = answer(self.conn)
        assert response.status == 200, bytes(response.body)
        assert response.json()["target"] == "/warm"

    def send(self, data: bytes) -> None:
        if self.warm == "pipelined":
            self.warm = "general"  # only the first send carries the warm-up
            self.conn.send(WARM["general"] + data)
            self._warm_answered()
        else:
            self.conn.send(data)

    def expect_refusal(self, status: int = 400, message: str = BAD_REQUEST, json_only: bool = True) -> Response:
        """The gateway's own error, Connection: close, then EOF and not one byte more."""
        response = answer(self.conn)
        assert_kong_error(response, status, message, json_only)
        assert response.header("Connection") == "close"
        self.expect_closed()
        return response

    def expect_closed(self) -> None:
        try:
            extra = self.conn.read(1, CLOSE_TIMEOUT)
        except AssertionError:
            return  # EOF, nothing after the last answer
        except socket.timeout:
            raise AssertionError("the gateway kept the connection open") from None
        raise AssertionError(f"a response after the last one: {extra[0].status} {bytes(extra[0].body)[:200]!r}")

    def still_serves(self) -> None:
        """The connection is still in step: one more request gets its own answer."""
        self.conn.send(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
        response = answer(self.conn)
        assert response.status == 200 and response.json()["target"] == "/again", bytes(response.body)[:300]

    def forwarded(self) -> list[Request]:
        """What the upstream parsed (started, finished or not) after the warm-up request; no
        upstream connection may have received bytes it could not parse, and no smuggled request
        may have run."""
        upstream = self.upstream
        upstream.settle()
        seen = upstream.requests_since(self.mark)
        assert seen and seen[0].path == "/warm" and seen[0].complete, seen
        broken = [conn for conn in upstream.connections_since(self.mark) if conn.error is not None]
        assert broken == [], f"the upstream was sent bytes it could not parse: {broken}"
        assert [r for r in seen if r.path == "/smuggled"] == [], "a request hidden in the attack ran upstream"
        return seen[1:]

    def __enter__(self) -> Warmed:
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()


def assert_refused_unforwarded(gateway, upstream: RawUpstream, warm: str, attack: bytes, status: int = 400,
                               message: str = BAD_REQUEST, json_only: bool = True) -> None:
    """On a warm connection: the attack gets the gateway's own error and a close, nothing of it
    reaches the upstream, and a good request after it is served cleanly."""
    with Warmed(gateway, upstream, warm) as case:
        case.send(attack)
        case.expect_refusal(status, message, json_only)
        assert case.forwarded() == [], "nothing of a refused request may go upstream, not even its head"
    follow_up(gateway, upstream)


_follow_ups = itertools.count()


def follow_up(gateway, upstream: RawUpstream) -> Request:
    """A good request on a new client connection: it gets its own answer (nothing from the case
    before it) and reaches the upstream as a clean request, on a connection with no trouble."""
    target = f"/after?n={next(_follow_ups)}"
    mark = upstream.mark()
    response = raw_request(gateway.port, b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % target.encode(), READ_TIMEOUT)
    assert response.status == 200, bytes(response.body)[:300]
    for leftover in (b"poisoned", b"smuggled", b"first"):
        assert leftover not in response.body, bytes(response.body)
    echo = response.json()
    upstream.settle()
    seen = upstream.requests_since(mark)
    assert [(r.method, r.target, r.complete, bytes(r.body)) for r in seen] == [("GET", target, True, b"")], seen
    assert (echo["conn"], echo["seq"]) == (seen[0].conn, seen[0].seq), "the answer of another request"
    carrier = upstream.connection(seen[0].conn)
    assert carrier.error is None and all(r.complete for r in carrier.requests), carrier
    return seen[0]


# ---- 1. Upgrade ----------------------------------------------------------------------------------


def with_body(head: bytes, body: bytes, framing: str) -> bytes:
    if framing == "content-length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


@pytest.mark.parametrize("warm", REFUSAL_WARMS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("protocol", list(UPGRADES))
def test_upgrade_with_a_body_is_refused(gw, upstream, protocol, framing, warm):
    # refused, not guessed at: a body behind an Upgrade is where a request hides from the proxy
    head = b"GET /upgrade HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n" + UPGRADES[protocol]
    assert_refused_unforwarded(gw, upstream, warm, with_body(head, SMUGGLED, framing))


@pytest.mark.parametrize("warm", WARMS)
@pytest.mark.parametrize("protocol", ["h2c", "foo"])
def test_upgrade_to_another_protocol_goes_upstream_as_plain_http(gw, upstream, protocol, warm):
    following = b"POST /next HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    with Warmed(gw, upstream, warm) as case:
        case.send(b"GET /upgrade HTTP/1.1\r\nHost: a\r\n" + UPGRADES[protocol] + b"\r\n" + following)
        first, second = answer(case.conn), answer(case.conn)
        assert first.status == 200 and first.json()["target"] == "/upgrade"
        # the pipelined request is read from the byte after the upgrade request's head
        assert second.status == 200 and second.json()["target"] == "/next"
        assert second.json()["body_sha256"] == sha256(b"hello")
        upgraded, after = case.forwarded()
        assert upgraded.complete and not upgraded.upgrade, upgraded.headers
        assert upgraded.header("Upgrade") is None
        assert "upgrade" not in (upgraded.header("Connection") or "").lower()
        assert upgraded.header("HTTP2-Settings") is None  # named in Connection: hop-by-hop
        assert (after.method, after.path, after.complete, bytes(after.body)) == ("POST", "/next", True, b"hello")
        case.still_serves()
    follow_up(gw, upstream)


# ---- 2. request bodies: request_buffering ----------------------------------------------------


@pytest.mark.parametrize("warm", REFUSAL_WARMS)
@pytest.mark.parametrize("case_name", list(BAD_CHUNKED))
def test_malformed_chunked_body_is_refused_before_anything_goes_upstream(gw, upstream, case_name, warm):
    # request_buffering (the default): the body is checked whole before the head goes anywhere
    assert_refused_unforwarded(gw, upstream, warm, CHUNKED_HEAD % b"/chunked" + BAD_CHUNKED[case_name] + SMUGGLED)


@pytest.mark.parametrize("warm", WARMS)
def test_valid_chunked_body_is_forwarded_once_whole(gw, upstream, warm):
    with Warmed(gw, upstream, warm) as case:
        mark = upstream.mark()
        case.send(CHUNKED_HEAD % b"/chunked" + GOOD_CHUNKED_PARTS[0])
        time.sleep(0.5)  # the point: nothing reaches the upstream in this half second
        assert upstream.bytes_since(mark) == 0, "request_buffering: sent upstream before the body was complete"
        case.send(GOOD_CHUNKED_PARTS[1])
        response = answer(case.conn)
        assert response.status == 200
        assert response.json()["body_sha256"] == sha256(GOOD_CHUNKED_BODY)
        (request,) = case.forwarded()
        assert request.complete and bytes(request.body) == GOOD_CHUNKED_BODY
        case.still_serves()
    follow_up(gw, upstream)


@pytest.mark.parametrize("warm", WARMS)
@pytest.mark.parametrize("head", list(CL_HEADS))
def test_content_length_body_is_forwarded_once_whole(gw, upstream, head, warm):
    half = len(CL_BODY) // 2
    with Warmed(gw, upstream, warm) as case:
        mark = upstream.mark()
        case.send(CL_HEADS[head] % len(CL_BODY) + CL_BODY[:half])
        time.sleep(0.5)  # the point: nothing reaches the upstream in this half second
        assert upstream.bytes_since(mark) == 0, "request_buffering: sent upstream before the body was complete"
        case.send(CL_BODY[half:])
        response = answer(case.conn)
        assert response.status == 200 and response.json()["body_sha256"] == sha256(CL_BODY)
        (request,) = case.forwarded()
        assert request.complete and bytes(request.body) == CL_BODY
        case.still_serves()
    follow_up(gw, upstream)


def wait_for_spill(gateway, before: set[str]) -> None:
    wait_for(lambda: prefix_state(gateway) - before, timeout=READ_TIMEOUT,
             message="the body to spill to a temporary file under the prefix")


@pytest.mark.parametrize("warm", WARMS)
def test_large_chunked_body_arrives_intact_and_leaves_no_temporary_file(gw, upstream, warm):
    before = prefix_state(gw)
    request_bytes = CHUNKED_HEAD % b"/large" + chunked(LARGE_BODY)
    with Warmed(gw, upstream, warm) as case:
        case.send(request_bytes[:3 << 20])
        # past the in-memory buffer: the first half waits in a file while the rest comes
        wait_for_spill(gw, before)
        case.send(request_bytes[3 << 20:])
        response = answer(case.conn, 30)
        assert response.status == 200
        assert (response.json()["body_size"], response.json()["body_sha256"]) == (len(LARGE_BODY), sha256(LARGE_BODY))
        (request,) = case.forwarded()
        # compared by digest: a failing byte-for-byte comparison of 6 MiB prints too much
        assert request.complete and (len(request.body), sha256(request.body)) == (len(LARGE_BODY), sha256(LARGE_BODY))
        case.still_serves()
    assert_no_temporary_file(gw, before)
    follow_up(gw, upstream)


@pytest.mark.parametrize("warm", WARMS)
def test_client_leaving_midway_through_a_large_body_leaves_no_temporary_file(gw, upstream, warm):
    before = prefix_state(gw)
    with Warmed(gw, upstream, warm) as case:
        mark = upstream.mark()
        case.send((CHUNKED_HEAD % b"/large" + chunked(LARGE_BODY))[:3 << 20])
        wait_for_spill(gw, before)
        case.conn.close()
        assert_no_temporary_file(gw, before)
        assert upstream.bytes_since(mark) == 0, "an unfinished buffered body went upstream"
        assert case.forwarded() == []
    follow_up(gw, upstream)


@pytest.mark.parametrize("warm", WARMS)
@pytest.mark.parametrize("case_name", list(BAD_CHUNKED))
def test_malformed_chunked_body_on_a_streaming_route_retires_the_upstream_connection(gw, upstream, case_name, warm):
    with Warmed(gw, upstream, warm) as case:
        mark = upstream.mark()
        case.send(CHUNKED_HEAD % b"/unbuffered/chunked" + GOOD_CHUNK)
        # request_buffering false: the head streams upstream before the body is read
        streamed = wait_for(lambda: [r for r in upstream.requests_since(mark) if r.head_complete],
                            timeout=READ_TIMEOUT, message="the head to stream upstream")[0]
        case.send(BAD_CHUNKED[case_name] + SMUGGLED)
        case.expect_refusal()
        carrier = upstream.connection(streamed.conn)
        wait_for(lambda: carrier.eof, timeout=READ_TIMEOUT, message="the gateway to close the upstream connection")
        assert carrier.requests[-1] is streamed and not streamed.complete, carrier
        assert case.forwarded() == [streamed]
    assert follow_up(gw, upstream).conn != streamed.conn


# ---- 3. pool poisoning: bytes after a complete response ---------------------------------------


def head_exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """A HEAD request on a raw socket (a response parser cannot tell a HEAD response has no
    body): the response head, and whatever followed it within a short while."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(1 << 16)
            assert piece, f"closed before the head was whole: {data!r}"
            data += piece
        head, _, extra = data.partition(b"\r\n\r\n")
        sock.settimeout(0.2)
        try:
            extra += sock.recv(1 << 16)
        except socket.timeout:
            pass
        return head + b"\r\n\r\n", extra


@pytest.mark.parametrize("case_name", list(POISONED))
def test_bytes_after_a_complete_response_retire_the_upstream_connection(gw, upstream, case_name):
    method, _, status, body = POISONED[case_name]
    path = script_path("poisoned", case_name)
    request = b"%s %s HTTP/1.1\r\nHost: a\r\n\r\n" % (method.encode(), path.encode())
    mark = upstream.mark()
    if method == "HEAD":
        head, extra = head_exchange(gw.port, request)
        assert head.startswith(b"HTTP/1.1 %d " % status), head
        assert extra == b"", "bytes after the response to HEAD reached the client"
    else:
        with RawConnection(gw.port, READ_TIMEOUT) as conn:
            conn.send(request)
            response = final_response(conn)
            assert (response.status, bytes(response.body)) == (status, body)
            assert conn.responses == [] and conn.current is None
            assert received_within(conn, 0.1) == b"", "bytes after the response reached the client"
    (served,) = [r for r in upstream.requests_since(mark) if r.path == path]
    carrier = upstream.connection(served.conn)
    wait_for(lambda: carrier.eof, timeout=READ_TIMEOUT, message="the gateway to close the poisoned connection")
    assert carrier.requests[-1] is served, "the poisoned connection carried another request"
    assert follow_up(gw, upstream).conn != served.conn


# ---- 4. a response Transfer-Encoding whose final coding is not chunked ------------------------


@pytest.mark.parametrize("case_name", list(BAD_CODINGS))
def test_response_whose_final_coding_is_not_chunked_is_502(gw, upstream, case_name):
    path = script_path("coding", case_name)
    mark = upstream.mark()
    with RawConnection(gw.port, READ_TIMEOUT) as conn:
        conn.send(b"GET %s HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n" % path.encode())
        response = answer(conn)
    assert_kong_error(response, 502, INVALID_RESPONSE)
    assert b"first" not in response.body
    served = [r for r in upstream.requests_since(mark) if r.path == path]
    assert served, "the request never reached the upstream"
    carriers = {r.conn for r in served}
    for ident in carriers:
        wait_for(lambda: upstream.connection(ident).eof, timeout=READ_TIMEOUT,
                 message="the gateway to close the connection of the invalid response")
    assert follow_up(gw, upstream).conn not in carriers


# ---- 5. smaller RFC points ------------------------------------------------------------------


@pytest.mark.parametrize("warm", WARMS)
def test_expect_100_continue_from_http_1_0_gets_no_interim_response(gw, upstream, warm):
    with Warmed(gw, upstream, warm) as case:
        case.send(b"POST /expect HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        # RFC 9110 10.1.1: a server must not send 100 to an HTTP/1.0 client
        assert received_within(case.conn, 0.3) == b""
        case.send(b"hello")
        response = answer(case.conn)
        assert response.status == 200 and response.json()["body_sha256"] == sha256(b"hello")
        (request,) = case.forwarded()
        assert request.complete and bytes(request.body) == b"hello"
        case.expect_closed()  # HTTP/1.0 without keep-alive
    follow_up(gw, upstream)


@pytest.mark.parametrize("warm", REFUSAL_WARMS)
@pytest.mark.parametrize("target", FRAGMENT_TARGETS)
def test_request_target_with_a_fragment_is_refused(gw, upstream, target, warm):
    attack = b"GET %s HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n" % target.encode() + SMUGGLED
    # refused at the request line maybe, before Accept is read: either error format
    assert_refused_unforwarded(gw, upstream, warm, attack, json_only=False)


@pytest.mark.parametrize("warm", WARMS)
@pytest.mark.parametrize("head", list(UNDERSCORE_HEADS))
@pytest.mark.parametrize("allowed", [False, True], ids=["underscores off", "underscores on"])
def test_header_names_with_underscores(request, upstream, allowed, head, warm):
    gateway = request.getfixturevalue("underscores_gw" if allowed else "gw")
    with Warmed(gateway, upstream, warm) as case:
        case.send(UNDERSCORE_HEADS[head])
        assert answer(case.conn).status == 200
        (seen,) = case.forwarded()
        assert seen.header("X-Other") == "2"  # the request did go, with its other fields
        # nginx's ignore_invalid_headers drops them, unless underscores_in_headers is on
        underscored = [(name, value) for name, value in seen.headers if "_" in name]
        assert underscored == ([("X_Custom", "1")] if allowed else [])
        case.still_serves()
    follow_up(gateway, upstream)


@pytest.mark.parametrize("warm", REFUSAL_WARMS)
def test_trace_is_405_and_not_forwarded(gw, upstream, warm):
    # closed too, as nginx does for TRACE
    assert_refused_unforwarded(gw, upstream, warm, b"TRACE / HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n",
                               405, "Method not allowed")

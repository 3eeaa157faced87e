"""Pieces of response heads towards the client, made once: status lines, framing and latency
lines, the Date line. How an upstream head is sorted for the header filter is in
``dataplane._core.parse_response_head`` (rust/src/http/response_head.rs)."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus


# nginx writes its own status line whatever reason phrase the upstream used.
STATUS_LINES = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, (HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "").encode())
    for code in range(100, 1000)
}

CRLF = b"\r\n"
KEEP_ALIVE = b"Connection: keep-alive\r\n"
CLOSE = b"Connection: close\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"

# Latency header lines for the usual values, made once: formatting one per response costs more
# than the rest of the header filter's appends together.
LATENCY_LINES_MADE = 1000  # milliseconds


def _latency_lines(name: bytes) -> tuple[bytes, ...]:
    return tuple(b"%s: %d\r\n" % (name, ms) for ms in range(LATENCY_LINES_MADE))


UPSTREAM_LATENCY_LINES = _latency_lines(b"X-Kong-Upstream-Latency")
PROXY_LATENCY_LINES = _latency_lines(b"X-Kong-Proxy-Latency")

_date_second = -1
_date_line = b""


def date_line() -> bytes:
    """``Date: ...\\r\\n``, formatted at most once a second."""
    global _date_second, _date_line
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_line = b"Date: %s\r\n" % formatdate(now, usegmt=True).encode()
    return _date_line

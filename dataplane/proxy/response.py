"""Pieces of the gateway's own response heads, made once: status lines, framing lines, the Date
line. Proxied responses get their head from ``dataplane._core.ClientHeadFilter``
(rust/src/http/client_head.rs), given these status lines once per worker."""

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

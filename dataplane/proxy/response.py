"""Pieces of the gateway's own response heads, made once: status lines and Connection lines.
Proxied responses get their head from ``dataplane._core.ClientHeadFilter``
(rust/src/http/client_head.rs), given these status lines once per worker; the Date line of
every response comes from there too."""

from __future__ import annotations

from http import HTTPStatus

# nginx writes its own status line whatever reason phrase the upstream used.
STATUS_LINES = {
    code: b"HTTP/1.1 %d %s\r\n"
    % (code, (HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "").encode())
    for code in range(100, 1000)
}

KEEP_ALIVE = b"Connection: keep-alive\r\n"
CLOSE = b"Connection: close\r\n"

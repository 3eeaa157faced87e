"""Response heads towards the client: upstream responses after Kong's header filter, and the
gateway's own responses."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from .forwarding import CONNECTION_OPTIONS

# nginx writes its own status line whatever reason phrase the upstream used.
STATUS_LINES = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, (HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "").encode())
    for code in range(100, 1000)
}

# What the header filter does with each upstream response header (lower-case names).
R_FORWARD = 0
R_DROP = 1  # hop-by-hop: Transfer-Encoding is ours, Connection/Keep-Alive are per hop
R_CONNECTION = 2
R_VIA = 3
R_SERVER = 4
R_DATE = 5
R_CONTENT_LENGTH = 6
R_TRANSFER_ENCODING = 7

RESPONSE_HEADERS: dict[bytes, int] = {
    b"connection": R_CONNECTION,
    b"keep-alive": R_DROP,
    b"proxy-connection": R_DROP,
    b"transfer-encoding": R_TRANSFER_ENCODING,
    b"upgrade": R_DROP,
    b"trailer": R_DROP,  # trailers are not forwarded
    b"via": R_VIA,
    b"server": R_SERVER,
    b"date": R_DATE,
    b"content-length": R_CONTENT_LENGTH,
}

CRLF = b"\r\n"
SEPARATOR = b": "
KEEP_ALIVE = b"Connection: keep-alive\r\n"
CLOSE = b"Connection: close\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"

# Connection values that name no header: nothing to filter (what upstreams almost always send).
_PLAIN_CONNECTION = frozenset((b"keep-alive", b"close", b"Keep-Alive", b"Close"))

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


class UpstreamHead:
    """The parts of an upstream response head the filter needs, collected while parsing."""

    __slots__ = ("pieces", "content_length", "chunked", "via", "has_server", "has_date", "connection")

    def __init__(self) -> None:
        # Forwardable headers as flat pieces (name, b": ", value, CRLF, ...): the client head is
        # then one join, with no per-header formatting.
        self.pieces: list[bytes] = []
        self.content_length: bytes | None = None
        self.chunked = False  # how the upstream framed it; we frame towards the client ourselves
        self.via: bytes | None = None
        self.has_server = False
        self.has_date = False
        self.connection: bytes | None = None

    def add(self, name: bytes, value: bytes) -> None:
        code = RESPONSE_HEADERS.get(name.lower(), R_FORWARD)
        if code == R_FORWARD:
            self.pieces += (name, SEPARATOR, value, CRLF)
        elif code == R_CONTENT_LENGTH:
            self.content_length = value
        elif code == R_SERVER:
            self.has_server = True
            self.pieces += (name, SEPARATOR, value, CRLF)
        elif code == R_DATE:
            self.has_date = True
            self.pieces += (name, SEPARATOR, value, CRLF)
        elif code == R_CONNECTION:
            self.connection = value if self.connection is None else self.connection + b"," + value
        elif code == R_VIA:
            self.via = value if self.via is None else self.via + b", " + value
        elif code == R_TRANSFER_ENCODING:
            self.chunked = True

    def forwarded(self) -> list[bytes]:
        """The forwardable header pieces, minus headers named in Connection (rare)."""
        connection = self.connection
        if connection is None or connection in _PLAIN_CONNECTION:
            return self.pieces
        named = {token.strip() for token in connection.lower().split(b",")} - CONNECTION_OPTIONS
        if not named:
            return self.pieces
        pieces = self.pieces
        kept: list[bytes] = []
        for at in range(0, len(pieces), 4):
            if pieces[at].lower() not in named:
                kept += pieces[at:at + 4]
        return kept

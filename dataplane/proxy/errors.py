"""Bodies of the responses the gateway itself produces, with Kong's wording and formats.

Two paths exist in Kong and both are kept: ``kong.response.error`` (no route, https-only routes,
no peer) picks the format from ``Accept`` with JSON as the default; nginx's error pages (bad
request, too large, upstream failures) go through Kong's error handler, which falls back from
``Accept`` to ``Content-Type`` to the ``error_default_type`` setting.
"""

from __future__ import annotations

import os

from dataplane import _core

# kong/error_handlers.lua BODIES and the runloop's own messages.
MESSAGES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    411: "Length required",
    412: "Precondition failed",
    413: "Payload too large",
    414: "URI too long",
    417: "Expectation failed",
    431: "Request header or cookie too large",
    500: "An unexpected error occurred",
    502: "An invalid response was received from the upstream server",
    503: "The upstream server is currently unavailable",
    504: "The upstream server is timing out",
}
NO_ROUTE = "no Route matched with those values"
HTTPS_REQUIRED = "Please use HTTPS protocol"
NO_PEER = "failure to get a peer from the ring-balancer"
NAME_RESOLUTION = "name resolution failed"

JSON = b"application/json; charset=utf-8"
HTML = b"text/html; charset=utf-8"
PLAIN = b"text/plain; charset=utf-8"
XML = b"application/xml; charset=utf-8"

_BY_MEDIA = {
    "application/json": JSON,
    "text/html": HTML,
    "text/plain": PLAIN,
    "application/xml": XML,
    "application/*": JSON,
    "text/*": PLAIN,
    "*/*": JSON,
}

_TEMPLATES = {
    JSON: '{\n  "message":"%s",\n  "request_id":"%s"\n}',
    HTML: (
        '<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n'
        "  </head>\n  <body>\n    <h1>Error</h1>\n    <p>%s.</p>\n    <p>request_id: %s</p>\n"
        "  </body>\n</html>\n"
    ),
    PLAIN: "%s\nrequest_id: %s\n",
    XML: (
        '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>%s</message>\n'
        "  <requestid>%s</requestid>\n</error>\n"
    ),
}

_CACHE_LIMIT = 256
_negotiated: dict[bytes, bytes] = {}


def _new_id_sequence() -> None:
    """Request ids are a native 128-bit sequence (``new_request_id``) whose high half is drawn
    here, again in each forked child: unique across workers and restarts without a random draw
    per request."""
    _core.seed_request_ids(int.from_bytes(os.urandom(8), "big"))


_new_id_sequence()
os.register_at_fork(after_in_child=_new_id_sequence)
new_request_id = _core.new_request_id  # 32 hex digits (ASCII bytes), Kong's $kong_request_id


def message_for(status: int) -> str:
    return MESSAGES.get(status) or f"The upstream server responded with {status}"


def media_type(accept: bytes | None) -> bytes:
    """The error format for an Accept-like value: the best-q entry Kong knows, else JSON."""
    if not accept:
        return JSON
    found = _negotiated.get(accept)
    if found is None:
        found = _negotiate(accept.decode("latin-1"))
        if len(_negotiated) >= _CACHE_LIMIT:
            _negotiated.clear()  # clients vary little; a full cache means abuse, so start over
        _negotiated[accept] = found
    return found


def _negotiate(accept: str) -> bytes:
    best, best_q = JSON, 0.0
    for entry in accept.split(","):
        media, _, params = entry.strip().partition(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best_q = q
            best = _BY_MEDIA.get(media, JSON)
    return best


def render(status: int, message: str | None, request_id: bytes, content_type: bytes) -> bytes:
    """The error body in ``content_type`` (one of the four formats above)."""
    return (_TEMPLATES[content_type] % (message or message_for(status), request_id.decode())).encode()

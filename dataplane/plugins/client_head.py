"""The client's head of a response whose body plugins handle (body_filter, kong-pdk's response
phase): its framing chosen again, since the upstream's Content-Length no longer holds."""

from __future__ import annotations

from dataplane.pdk import headers as fields

_FRAMING = (b"content-length", b"transfer-encoding")


def reframe(head: bytes, length: int | None, http10_client: bool) -> tuple[bytes, bool, bool]:
    """``(head, chunked, keep_alive)``: ``head`` with ``Content-Length: length`` when the body's
    length is known (a buffered response), else chunked for an HTTP/1.1 client, else no length
    at all and ``Connection: close`` (an HTTP/1.0 client reads to the end of the connection, as
    nginx answers it). ``keep_alive`` False: the connection must close after this response."""
    start, lines = fields.split_head(head)
    lines = [line for line in lines if line.partition(b":")[0].strip().lower() not in _FRAMING]
    keep_alive = True
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    elif not http10_client:
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines = fields.apply(lines, ((fields.SET, b"Connection", b"close"),))
        keep_alive = False
    return fields.join_head(start, lines), length is None and not http10_client, keep_alive

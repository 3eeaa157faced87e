"""The upstream request head with the changes plugins asked for in access
(``kong.service.request.*``), applied to the head the native builder made: one native call
for the header fields (``apply_header_ops``), only for requests whose plugins changed
something."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataplane._core import apply_header_ops

if TYPE_CHECKING:
    from .chain import RequestPlugins


def rewrite_upstream_head(before: bytes, after: bytes, plugins: RequestPlugins) -> tuple[bytes, bytes]:
    """``before`` is the request line and ``Host: `` (the value comes from the balancer),
    ``after`` the rest of the head from the CRLF after Host to the blank line."""
    changes = plugins.upstream_changes
    if changes:
        line, _, host_prefix = before.partition(b"\r\n")
        method, _, rest = line.partition(b" ")
        target, _, version = rest.rpartition(b" ")
        path, mark, query = target.partition(b"?")
        method = changes.get("method", method)
        path = changes.get("path", path)
        if "query" in changes:
            query = changes["query"]
            mark = b"?" if query else b""
        before = b"%s %s%s%s %s\r\n%s" % (method, path, mark, query, version, host_prefix)
    ops = plugins.upstream_ops
    body = changes.get("body")
    if ops or body is not None:
        # framing and hop-by-hop fields are the gateway's: recorded ops never name them
        # (RequestPlugins.upstream_op refuses, the native call again), so they stay as built,
        # unless a plugin set the body, which then goes with its own length
        after = apply_header_ops(after, ops, None if body is None else len(body))
    return before, after

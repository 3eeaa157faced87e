"""request-size-limiting: request bodies over a size refused with 413 (Kong's
kong/plugins/request-size-limiting).

A request with a Content-Length is judged by it in access, before any of its body is read. Kong
reads a body without one (chunked) in access; Gantry's access runs once the head is read, so such
a body is measured as it arrives: at once when it is already whole (``kong.request.get_raw_body()``),
else by a check the runtime calls as each piece comes in (``kong.request.watch_body``), which
answers 413 as soon as the limit is passed, before an upstream of a buffered route gets a byte
(a route with ``request_buffering`` off has had the body so far streamed to it: its request is
cut short and the client gets the 413; once the upstream's response has begun, the connection is
closed instead). With ``Expect: 100-continue`` the status is 417, as Kong answers.
"""

from __future__ import annotations

from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record

priority = 951
version = "3.10.0"

UNITS = {"megabytes": 1 << 20, "kilobytes": 1 << 10, "bytes": 1}
TOO_LARGE = "Request size limit exceeded"
LENGTH_REQUIRED = "A valid Content-Length header is required"

Schema = record(
    ("allowed_payload_size", Field("integer", default=128)),
    ("size_unit", Field("string", required=True, default="megabytes", one_of=tuple(UNITS))),
    ("require_content_length", Field("boolean", required=True, default=False)),
    required=True,
)


def content_length(value: str | None) -> int | None:
    """A Content-Length Lua's tonumber reads as a whole number of bytes, else None."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        size = config.get("allowed_payload_size")
        # Kong fails every request of a null size (its arithmetic on nil): so does access here
        self.limit: int | None = None if size is None else size * UNITS[config.get("size_unit") or "megabytes"]
        self.require_length = bool(config.get("require_content_length"))

    def access(self, kong: Any) -> None:
        if self.limit is None:
            raise ValueError("allowed_payload_size is null")
        limit = self.limit
        status = 417 if (kong.request.get_header("expect") or "").strip().lower() == "100-continue" else 413

        def check(size: int) -> None:
            if size > limit:
                kong.response.error(status, TOO_LARGE)

        length = content_length(kong.request.get_header("content-length"))
        if length is not None:
            check(length)
            return
        if self.require_length and kong.request.get_header("transfer-encoding") != "chunked":
            kong.response.error(411, LENGTH_REQUIRED)
            return
        body = kong.request.get_raw_body()
        if body is not None:
            check(len(body))
        else:
            kong.request.watch_body(check)

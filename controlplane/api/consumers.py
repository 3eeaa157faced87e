"""`GET /consumers?custom_id=...` (kong/api/routes/consumers.lua): the one consumer with that
custom_id, as a one-page list; no paging, no tag filter."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import errors
from .context import ctx
from .operations import has_nul
from .pagination import page_body
from .rendering import json_response


async def by_custom_id(request: Request) -> Response:
    values = request.query_params.getlist("custom_id")
    # A repeated argument is a table to Kong: refused like an empty one.
    if len(values) != 1 or values[0] == "":
        raise errors.message(400, "custom_id must be an unempty string")
    consumer = None
    if not has_nul(values[0]):  # PostgreSQL text cannot hold NUL: no consumer has it
        consumer = await ctx(request).store.get_by_field("consumers", "custom_id", values[0])
    return json_response(page_body([] if consumer is None else [consumer], None, None))

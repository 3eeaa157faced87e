"""`GET /tags` and `GET /tags/{tags}` (kong/api/routes/tags.lua): every tagged entity, as
`{"entity_name", "entity_id", "tag"}` rows, paginated like any collection. The tags entity has
no `tags` field, so a `tags` argument is ignored here; the tag in the path is checked as Kong's
tags DAO checks it (`page_by_tag`: code 10, "invalid unique tag")."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dataplane.schema import validators

from . import errors
from .context import ctx
from .pagination import next_link, page_args, page_body
from .rendering import json_response


def not_utf8(segment: bytes) -> errors.ApiError | None:
    """Kong's answer to a tag whose bytes are not UTF-8 (typedefs.tag's message), or None."""
    try:
        segment.decode("utf-8")
    except UnicodeDecodeError as exc:
        return errors.invalid_unique("tag", f"invalid utf-8 character sequence detected at position {exc.start + 1}")
    return None


async def _page(request: Request, tag: str | None, path: str) -> Response:
    args = page_args(request.query_params, with_tags=False)
    if tag is not None:
        refused = validators.tag(tag)
        if refused is not None:
            raise errors.invalid_unique("tag", refused)
    rows, offset = await ctx(request).store.tags(size=args.size, offset=args.offset, tag=tag)
    link = next_link(path, offset) if offset is not None else None
    return json_response(page_body(rows, offset, link))


async def all_tags(request: Request) -> Response:
    return await _page(request, None, "/tags")


async def one_tag(request: Request) -> Response:
    tag = request.path_params["tags"]
    return await _page(request, tag, f"/tags/{quote(tag, safe='')}")


ROUTES = [
    Route("/tags", all_tags, methods=["GET"]),
    Route("/tags/{tags}", one_tag, methods=["GET"]),
]

"""`GET /tags` and `GET /tags/{tags}` (kong/api/routes/tags.lua): every tagged entity, as
`{"entity_name", "entity_id", "tag"}` rows, paginated like any collection."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .context import ctx
from .operations import has_nul
from .pagination import next_link, page_args, page_body
from .rendering import json_response


async def _page(request: Request, tag: str | None, path: str) -> Response:
    args = page_args(request.query_params)
    if tag is not None and has_nul(tag):
        return json_response(page_body([], None, None))  # no tag can hold one
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

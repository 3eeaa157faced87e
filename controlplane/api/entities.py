"""HTTP handlers for every generated entity endpoint (resources.ENDPOINTS), Kong's verbs and
statuses: GET 200, POST 201, PUT 200 (upsert), PATCH 200 (merge), DELETE 204 even when
absent; nested paths check that the entity belongs to its parent, else 404."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dataplane import schema as S

from . import certificates, consumers, errors, operations as ops
from .body import read_args
from .context import ctx
from .pagination import next_link, page_args, page_body
from .rendering import json_response, no_content
from .resources import COLLECTION, ENDPOINTS, ENTITY, PARENT, RESOURCES, Endpoint, Resource

Handler = Callable[[Request], Awaitable[Response]]


async def _parent_row(request: Request, parent: Resource) -> dict[str, Any]:
    row = await ops.find(ctx(request), parent, request.path_params[parent.param], for_put=request.method == "PUT")
    if row is None:
        raise errors.not_found()
    return row


# ------------------------------------------------------------------ collections


def collection_get(ep: Endpoint) -> Handler:
    res, through = ep.resource, ep.link

    async def handler(request: Request) -> Response:
        if through is None and res.entity == "consumers" and "custom_id" in request.query_params:
            return await consumers.by_custom_id(request)
        args = page_args(request.query_params, request.scope.get("query_string", b""))
        foreign = None
        if through is not None:
            parent, fk = through
            foreign = (fk, (await _parent_row(request, parent))["id"])
        # Kong checks `tags` on a nested collection too, but filters only top-level ones
        # (spec/02-integration/04-admin_api/14-tags_spec.lua, "ignores tags when filtering by
        # multiple filters")
        tags = args.tags if through is None else None
        rows, offset = await ctx(request).store.page(
            res.entity, size=args.size, offset=args.offset, tags=tags, tags_any=args.tags_any, foreign=foreign
        )
        link = None
        if offset is not None:
            if through is None:
                link = next_link(f"/{res.path}", offset, args)
            else:
                parent = through[0]
                key = quote(request.path_params[parent.param], safe="")
                link = next_link(f"/{parent.path}/{key}/{res.nested}", offset)
        return json_response(page_body(rows, offset, link))

    return handler


def collection_post(ep: Endpoint) -> Handler:
    res, through = ep.resource, ep.link

    async def handler(request: Request) -> Response:
        api = ctx(request)
        foreign = None
        if through is not None:
            parent, fk = through
            foreign = (fk, (await _parent_row(request, parent))["id"])
        data = await read_args(request, res.schema, api.plugins)
        if foreign is not None:
            data[foreign[0]] = {"id": foreign[1]}
        ops.check_new_target(res, data)
        row = await api.store.insert(res.entity, await ops.checked(api, res, data))
        return json_response(row, 201)

    return handler


# ------------------------------------------------------------------ one entity


async def _own(request: Request, ep: Endpoint) -> tuple[str, dict[str, Any] | None]:
    """The key in the path and the entity it names (None when absent), checked against the
    parent on nested paths."""
    res = ep.resource
    key = request.path_params[res.param]
    if ep.link is None:
        return key, await ops.find(ctx(request), res, key)
    parent, fk = ep.link
    return key, await ops.find_child(ctx(request), res, key, fk, await _parent_row(request, parent))


def entity_get(ep: Endpoint) -> Handler:
    async def handler(request: Request) -> Response:
        _, row = await _own(request, ep)
        if row is None:
            raise errors.not_found()
        return json_response(row)

    return handler


def entity_patch(ep: Endpoint) -> Handler:
    res = ep.resource

    async def handler(request: Request) -> Response:
        api = ctx(request)
        key, row = await _own(request, ep)
        if row is None:
            raise ops.not_found_key(res, key) if ep.parent is None else errors.not_found()
        changes = await read_args(request, res.schema, api.plugins, fallback=row)
        if res.entity == certificates.ENTITY:
            changes = certificates.patch_body(changes)
        if ep.link is not None and ep.link[1] not in changes:
            # Kong's nested PATCH names the parent it goes through, unless the body names one
            changes[ep.link[1]] = row[ep.link[1]]
        return json_response(await ops.update(api, res, row, changes))

    return handler


def entity_put(ep: Endpoint) -> Handler:
    res = ep.resource

    async def handler(request: Request) -> Response:
        api = ctx(request)
        key = request.path_params[res.param]
        foreign = None
        if ep.link is None:
            current = await ops.find(api, res, key, for_put=True)
        else:
            parent, fk = ep.link
            parent_row = await _parent_row(request, parent)
            current = await ops.find_child(api, res, key, fk, parent_row)
            foreign = (fk, parent_row["id"])
        data = await read_args(request, res.schema, api.plugins, fallback=current)
        scoped = None if ep.link is None or S.is_uuid(key) else ops.scoped_key(res, ep.link[1])
        if scoped is not None:
            # Kong's acl PUT by group: the path's group unless the body gives one, the id kept
            if data.get(scoped) in (None, False):
                data[scoped] = key
            key = current["id"] if current else str(uuid.uuid4())
        if foreign is None and res.entity == certificates.ENTITY:
            data = certificates.put_body(data, key)
        if foreign is not None:
            data[foreign[0]] = {"id": foreign[1]}
        return json_response(await ops.upsert(api, res, key, data, current))

    return handler


def entity_delete(ep: Endpoint) -> Handler:
    res = ep.resource

    async def handler(request: Request) -> Response:
        _, row = await _own(request, ep)
        if row is None:
            if ep.parent is not None:
                raise errors.not_found()
            return no_content()  # Kong: deleting what is not there succeeds
        await ctx(request).store.delete(res.entity, row["id"])
        return no_content()

    return handler


# ------------------------------------------------------------------ /routes/{routes}/service


def _child(ep: Endpoint) -> tuple[Resource, str]:
    """A PARENT endpoint's child resource (`ep.parent`) and its foreign key."""
    if ep.link is None:
        raise ValueError(f"{ep.path} names no child entity")
    return ep.link


async def _linked(request: Request, ep: Endpoint) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The child entity in the path, and the parent its foreign key points to."""
    resource, fk = _child(ep)
    child = await _parent_row(request, resource)
    ref = child.get(fk)
    if not ref:
        return child, None
    return child, await ctx(request).store.get(ep.resource.entity, ref["id"])


def parent_get(ep: Endpoint) -> Handler:
    async def handler(request: Request) -> Response:
        _, row = await _linked(request, ep)
        if row is None:
            raise errors.not_found()
        return json_response(row)

    return handler


def parent_patch(ep: Endpoint) -> Handler:
    res = ep.resource

    async def handler(request: Request) -> Response:
        api = ctx(request)
        _, row = await _linked(request, ep)
        if row is None:
            raise errors.not_found()
        changes = await read_args(request, res.schema, api.plugins, fallback=row)
        return json_response(await ops.update(api, res, row, changes))

    return handler


def parent_put(ep: Endpoint) -> Handler:
    """Replace the linked entity; with no link yet, create one and link the child to it."""
    res = ep.resource
    child_resource, fk = _child(ep)

    async def handler(request: Request) -> Response:
        api = ctx(request)
        child, row = await _linked(request, ep)
        ref = child.get(fk)
        data = await read_args(request, res.schema, api.plugins, fallback=row)
        key = ref["id"] if ref else str(uuid.uuid4())
        saved = await ops.upsert(api, res, key, data, row)
        if not ref:
            await ops.update(api, child_resource, child, {fk: {"id": saved["id"]}})
        return json_response(saved)

    return handler


def parent_delete(ep: Endpoint) -> Handler:
    async def handler(request: Request) -> Response:
        _, row = await _linked(request, ep)
        if row is None:
            raise errors.not_found()
        raise errors.method_not_allowed()  # unlink with PATCH on the child instead, as Kong

    return handler


_FACTORIES: dict[str, dict[str, Callable[[Endpoint], Handler]]] = {
    COLLECTION: {"GET": collection_get, "POST": collection_post},
    ENTITY: {"GET": entity_get, "PUT": entity_put, "PATCH": entity_patch, "DELETE": entity_delete},
    PARENT: {"GET": parent_get, "PUT": parent_put, "PATCH": parent_patch, "DELETE": parent_delete},
}


def dispatcher(handlers: dict[str, Handler]) -> tuple[Handler, list[str]]:
    """One Starlette endpoint per path, and the methods it answers: HEAD answers as GET
    (OPTIONS is answered for every path by app.Guard)."""
    table = dict(handlers)
    if "GET" in table:
        table["HEAD"] = table["GET"]

    async def endpoint(request: Request) -> Response:
        return await table[request.method](request)

    return endpoint, list(table)


# Kong's PUT on /upstreams/{u}/targets/{t} updates an existing target like PATCH and is a
# 404 for a missing one (kong/api/routes/upstreams.lua), where other entities' PUT upserts.
_OVERRIDES: dict[tuple[str, str, str], Callable[[Endpoint], Handler]] = {
    (ENTITY, "targets", "PUT"): entity_patch,
}


def _factory(ep: Endpoint, method: str) -> Callable[[Endpoint], Handler]:
    return _OVERRIDES.get((ep.kind, ep.resource.entity, method), _FACTORIES[ep.kind][method])


async def all_targets(request: Request) -> Response:
    """Kong's `GET /upstreams/{u}/targets/all` (kong/api/routes/upstreams.lua): every target of
    the upstream as stored, weight 0 included, paged like the nested collection, its `next`
    link on this path."""
    api = ctx(request)
    key = request.path_params["upstreams"]
    args = page_args(request.query_params, request.scope.get("query_string", b""))
    upstream = await ops.find(api, RESOURCES["upstreams"], key)
    if upstream is None:
        raise errors.not_found()
    foreign = ("upstream", upstream["id"])
    rows, offset = await api.store.page("targets", size=args.size, offset=args.offset, foreign=foreign)
    link = None if offset is None else next_link(f"/upstreams/{quote(key, safe='')}/targets/all", offset)
    return json_response(page_body(rows, offset, link))


ALL_TARGETS = "/upstreams/{upstreams}/targets/all"


def routes() -> list[Route]:
    out = [Route(ALL_TARGETS, dispatcher({"GET": all_targets})[0], methods=["GET", "HEAD"])]
    for ep in ENDPOINTS:
        handlers = {m: _factory(ep, m)(ep) for m in ep.methods}
        endpoint, methods = dispatcher(handlers)
        out.append(Route(ep.path, endpoint, methods=methods))
    return out

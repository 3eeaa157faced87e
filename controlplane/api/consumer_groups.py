"""Kong Enterprise's consumer group paths (its Admin API reference, and what go-kong and decK
call): a group read with its members, and the memberships written from either side.

    GET    /consumer_groups/{g}                      {consumer_group, consumers, plugins}
    GET    /consumer_groups/{g}/consumers            a page of its consumers
    POST   /consumer_groups/{g}/consumers            {consumer: id|username, or a list}: 201
    DELETE /consumer_groups/{g}/consumers            every membership of the group
    DELETE /consumer_groups/{g}/consumers/{c}
    GET    /consumers/{c}/consumer_groups            a page of its groups
    POST   /consumers/{c}/consumer_groups            {group: id|name, or a list}: 201
    DELETE /consumers/{c}/consumer_groups            every membership of the consumer
    GET    /consumers/{c}/consumer_groups/{g}        {consumer_group}
    DELETE /consumers/{c}/consumer_groups/{g}

The rest of a group's paths (list, POST, PUT, PATCH, DELETE, its plugins) are the generic
ones (`entities`). A membership is a `consumer_group_consumers` row whose id the pair decides
(`dataplane.schema.consumer_groups.membership_id`); no answer shows it. `plugins` in a group's
answer lists Kong's per-group policy overrides, which Gantry does not have: it is empty, and a
plugin scoped to the group is a plugin entity under `/consumer_groups/{g}/plugins`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.database import UniqueViolation
from dataplane.schema import EntitySchema, Field
from dataplane.schema.consumer_groups import GROUPS, MEMBERS, membership_id

from . import errors, operations as ops
from .body import read_args
from .context import ApiContext, ctx
from .entities import Handler, dispatcher
from .pagination import next_link, page_args, page_body
from .rendering import json_response, no_content
from .resources import RESOURCES

CONSUMERS = "consumers"
_PAGE = 1000  # rows read at a time when a whole membership list is needed

# The bodies of the two POSTs: a key, or a list of keys (a form may repeat the field).
_keys = Field("array", elements=Field("string"))
_ADD_CONSUMER = EntitySchema("consumer_group_add_consumer", fields=(("consumer", _keys),))
_ADD_GROUP = EntitySchema("consumer_group_add_group", fields=(("group", _keys),))


async def _find(api: ApiContext, entity: str, key: str) -> dict[str, Any] | None:
    return await ops.find(api, RESOURCES[entity], key)


async def _path_entity(request: Request, entity: str) -> dict[str, Any]:
    row = await _find(ctx(request), entity, request.path_params[entity])
    if row is None:
        raise errors.not_found()
    return row


async def _all(api: ApiContext, entity: str, through: tuple[str, str, str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    offset = None
    while True:
        page, offset = await api.store.page(entity, size=_PAGE, offset=offset, through=through)
        rows += page
        if offset is None:
            return rows


def _consumers_of(group_id: str) -> tuple[str, str, str, str]:
    return (MEMBERS, "consumer", "consumer_group", group_id)


def _groups_of(consumer_id: str) -> tuple[str, str, str, str]:
    return (MEMBERS, "consumer_group", "consumer", consumer_id)


async def _membership(api: ApiContext, group_id: str, consumer_id: str) -> dict[str, Any] | None:
    return await api.store.get(MEMBERS, membership_id(group_id, consumer_id))


async def _keys_of(request: Request, schema: EntitySchema, field: str) -> list[str]:
    """The keys a POST names: one string or a list of them; 400 when there are none or one
    is not a string."""
    api = ctx(request)
    body = await read_args(request, schema, api.plugins)
    value = body.get(field)
    if value is None or value == "" or value == []:
        raise errors.message(400, f"must provide {field}")
    keys = [value] if isinstance(value, str) else value
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise errors.schema_violation({field: "expected a string or an array of strings"})
    return list(dict.fromkeys(keys))


async def _add(api: ApiContext, pairs: list[tuple[dict[str, Any], dict[str, Any]]], shown: list[str]) -> None:
    """Write the memberships of (group, consumer) `pairs` in one transaction; Kong's 409
    (naming the key as given, `shown`) when one exists already."""
    rows = []
    for (group, consumer), key in zip(pairs, shown, strict=True):
        if await _membership(api, group["id"], consumer["id"]) is not None:
            raise _already(key, group)
        data = {"consumer_group": {"id": group["id"]}, "consumer": {"id": consumer["id"]}}
        rows.append(ops.validated(api, RESOURCES[MEMBERS], data))
    try:
        await api.store.insert_many(MEMBERS, rows)
    except UniqueViolation:  # written meanwhile by another request
        raise _already(shown[0], pairs[0][0]) from None


def _already(consumer_key: str, group: dict[str, Any]) -> errors.ApiError:
    return errors.message(409, f"Consumer '{consumer_key}' already in group '{group['id']}'")


async def _remove(api: ApiContext, memberships: list[tuple[str, str]]) -> None:
    """Delete memberships in one write (one change, one delta for data planes)."""
    await api.store.delete_many(MEMBERS, [membership_id(g, c) for g, c in memberships])


async def _page_through(request: Request, entity: str, through: tuple[str, str, str, str], path: str) -> Response:
    """A page of `entity` rows linked through memberships, with Kong's paging and tags."""
    args = page_args(request.query_params)
    rows, offset = await ctx(request).store.page(
        entity, size=args.size, offset=args.offset, tags=args.tags, tags_any=args.tags_any, through=through
    )
    return json_response(page_body(rows, offset, None if offset is None else next_link(path, offset, args)))


# ------------------------------------------------------------------ /consumer_groups/{g}


async def group_get(request: Request) -> Response:
    api = ctx(request)
    group = await _path_entity(request, GROUPS)
    body: dict[str, Any] = {"consumer_group": group}
    # go-kong's GetWithNoConsumers asks for `list_consumers=false`
    if request.query_params.get("list_consumers") != "false":
        body["consumers"] = await _all(api, CONSUMERS, _consumers_of(group["id"]))
    body["plugins"] = []
    return json_response(body)


# ------------------------------------------------------------------ /consumer_groups/{g}/consumers


async def group_consumers_get(request: Request) -> Response:
    group = await _path_entity(request, GROUPS)
    path = f"/consumer_groups/{quote(request.path_params[GROUPS], safe='')}/consumers"
    return await _page_through(request, CONSUMERS, _consumers_of(group["id"]), path)


async def _named(api: ApiContext, entity: str, keys: list[str], label: str) -> list[dict[str, Any]]:
    """The entities the keys of a POST name; 404 naming the first that does not exist."""
    rows = []
    for key in keys:
        row = await _find(api, entity, key)
        if row is None:
            raise errors.message(404, f"{label} '{key}' not found")
        rows.append(row)
    return rows


async def group_consumers_post(request: Request) -> Response:
    api = ctx(request)
    group = await _path_entity(request, GROUPS)
    keys = await _keys_of(request, _ADD_CONSUMER, "consumer")
    consumers = await _named(api, CONSUMERS, keys, "Consumer")
    await _add(api, [(group, c) for c in consumers], keys)
    return json_response({"consumer_group": group, "consumers": consumers}, 201)


async def _remove_all(request: Request, entity: str) -> Response:
    """DELETE of every membership of the group or consumer in the path."""
    api = ctx(request)
    row = await _path_entity(request, entity)
    if entity == GROUPS:
        pairs = [(row["id"], c["id"]) for c in await _all(api, CONSUMERS, _consumers_of(row["id"]))]
    else:
        pairs = [(g["id"], row["id"]) for g in await _all(api, GROUPS, _groups_of(row["id"]))]
    await _remove(api, pairs)
    return no_content()


async def group_consumers_delete(request: Request) -> Response:
    return await _remove_all(request, GROUPS)


async def _member(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """The group and the consumer in the path, 404 unless the consumer is a member."""
    group = await _path_entity(request, GROUPS)
    consumer = await _path_entity(request, CONSUMERS)
    if await _membership(ctx(request), group["id"], consumer["id"]) is None:
        raise errors.not_found()
    return group, consumer


async def membership_delete(request: Request) -> Response:
    """DELETE /consumer_groups/{g}/consumers/{c}, /consumers/{c}/consumer_groups/{g}."""
    group, consumer = await _member(request)
    await _remove(ctx(request), [(group["id"], consumer["id"])])
    return no_content()


# ------------------------------------------------------------------ /consumers/{c}/consumer_groups


async def consumer_groups_get(request: Request) -> Response:
    consumer = await _path_entity(request, CONSUMERS)
    path = f"/consumers/{quote(request.path_params[CONSUMERS], safe='')}/consumer_groups"
    return await _page_through(request, GROUPS, _groups_of(consumer["id"]), path)


async def consumer_groups_post(request: Request) -> Response:
    api = ctx(request)
    consumer = await _path_entity(request, CONSUMERS)
    keys = await _keys_of(request, _ADD_GROUP, "group")
    groups = await _named(api, GROUPS, keys, "Group")
    await _add(api, [(g, consumer) for g in groups], [request.path_params[CONSUMERS]] * len(groups))
    return json_response({"consumer": consumer, "consumer_groups": groups}, 201)


async def consumer_groups_delete(request: Request) -> Response:
    return await _remove_all(request, CONSUMERS)


async def consumer_group_get(request: Request) -> Response:
    group, _ = await _member(request)
    return json_response({"consumer_group": group})


GROUP = "/consumer_groups/{consumer_groups}"
OWN_GROUPS = "/consumers/{consumers}/consumer_groups"


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    endpoint, methods = dispatcher(handlers)  # HEAD as GET, OPTIONS listing the verbs
    return Route(path, endpoint, methods=methods)


# Listed before the generic routes: a group's own path answers only GET here, its other verbs
# fall through to the generic route (Starlette takes the first route whose path and method
# match).
ROUTES = [
    Route(GROUP, group_get, methods=["GET"]),
    _route(
        f"{GROUP}/consumers",
        {"GET": group_consumers_get, "POST": group_consumers_post, "DELETE": group_consumers_delete},
    ),
    _route(f"{GROUP}/consumers/{{consumers}}", {"DELETE": membership_delete}),
    _route(OWN_GROUPS, {"GET": consumer_groups_get, "POST": consumer_groups_post, "DELETE": consumer_groups_delete}),
    _route(f"{OWN_GROUPS}/{{consumer_groups}}", {"GET": consumer_group_get, "DELETE": membership_delete}),
]

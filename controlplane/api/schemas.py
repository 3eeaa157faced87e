"""Schema endpoints (kong/api/routes/kong.lua, plugins.lua): `/schemas/{entity}`,
`/schemas/plugins/{name}`, `/schemas/{entity}/validate`, `/plugins/enabled`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dataplane.schema import ENTITIES, schema_json
from dataplane.schema.describe import field_json
from dataplane.schema.plugins import plugin_subschema

from . import errors, operations as ops
from .body import read_args
from .context import ctx
from .rendering import json_response
from .resources import RESOURCES


def _entity(name: str) -> str:
    if name not in ENTITIES:
        raise errors.message(404, f"No entity named '{name}'")
    return name


async def entity_schema(request: Request) -> Response:
    return json_response(schema_json(_entity(request.path_params["name"])))


async def plugin_schema(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ctx(request).plugins:
        raise errors.message(404, f"No plugin named '{name}'")
    sub = plugin_subschema(name)
    return json_response({"fields": [{n: field_json(f)} for n, f in sub.fields]})


async def validate(request: Request) -> Response:
    api = ctx(request)
    res = RESOURCES[_entity(request.path_params["name"])]
    ops.validated(api, res, await read_args(request, res.schema, api.plugins))
    return json_response({"message": "schema validation successful"})


async def enabled(request: Request) -> Response:
    return json_response({"enabled_plugins": sorted(ctx(request).plugins)})


ROUTES = [
    Route("/schemas/plugins/{name}", plugin_schema, methods=["GET"]),
    Route("/schemas/{name}", entity_schema, methods=["GET"]),
    Route("/schemas/{name}/validate", validate, methods=["POST"]),
    Route("/plugins/enabled", enabled, methods=["GET"]),
]

"""`GET /openapi.json`: an OpenAPI 3.1 description built from the same endpoint list
(resources.ENDPOINTS) and entity schemas (dataplane.schema) the handlers use.

Request bodies carry the field constraints JSON Schema can say (types, enums, bounds,
lengths); cross-field checks stay with the validator, so any write may answer 400.
Responses describe types only, except /clustering/*, whose fields are all listed as required.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.cluster.compat import SYNC_STATUSES
from dataplane import __version__
from dataplane.schema import MISSING, Field

from .rendering import json_response
from .resources import COLLECTION, ENDPOINTS, PARENT, RESOURCES, Endpoint, Resource

_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "array": "array",
    "set": "array",
    "map": "object",
    "record": "object",
    "foreign": "object",
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def field_schema(f: Field, *, strict: bool) -> dict[str, Any]:
    """JSON Schema of one field; `strict` adds the constraints a request must meet."""
    out: dict[str, Any] = {"type": _JSON_TYPES[f.type]}
    if f.type in ("array", "set") and f.elements is not None:
        out["items"] = field_schema(f.elements, strict=strict)
    elif f.type == "map" and f.values is not None:
        out["additionalProperties"] = field_schema(f.values, strict=strict)
    elif f.type == "record" and f.fields is not None:
        out["properties"] = {n: _member(sf, strict) for n, sf in f.fields}
    elif f.type == "foreign":
        out["properties"] = {"id": {"type": "string", "format": "uuid"} if strict else {"type": "string"}}
        if strict:
            out["required"] = ["id"]
    if strict:
        out.update(_constraints(f))
    return out


def _constraints(f: Field) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if f.one_of is not None:
        out["enum"] = list(f.one_of)
    if f.between is not None:
        out["minimum"], out["maximum"] = f.between
    if f.uuid:
        out["format"] = "uuid"
    length = ("minItems", "maxItems") if f.type in ("array", "set") else ("minLength", "maxLength")
    if f.type == "string" and f.len_min is None:
        out["minLength"] = 1  # Kong rejects empty strings
    if f.len_min is not None and f.type in ("string", "array", "set"):
        out[length[0]] = f.len_min
    if f.len_max is not None and f.type in ("string", "array", "set"):
        out[length[1]] = f.len_max
    return out


def _member(f: Field, strict: bool) -> dict[str, Any]:
    schema = field_schema(f, strict=strict)
    return schema if strict and f.required else _nullable(schema)


def _properties(res: Resource, strict: bool) -> dict[str, Any]:
    return {n: _member(f, strict) for n, f in res.schema.fields}


def _required(res: Resource, skip: str | None) -> list[str]:
    """Fields a POST must give: required, not generated, no default (foreign key of a
    nested collection excepted: the path sets it)."""
    return [n for n, f in res.schema.fields if f.required and not f.auto and f.default is MISSING and n != skip]


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "code": {"type": "integer"},
                "name": {"type": "string"},
                "fields": {},
                "options": {},
            },
        },
    }
    for res in RESOURCES.values():
        schemas[res.entity] = {"type": "object", "properties": _properties(res, False)}
        schemas[f"{res.entity}_page"] = _page(_ref(res.entity))
    schemas["data_plane"] = _DATA_PLANE
    return {"schemas": schemas}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(item: dict[str, Any]) -> dict[str, Any]:
    """Kong's page of `item`s: `next` is null on the last page, `offset` only when there is more."""
    return {
        "type": "object",
        "required": ["data", "next"],
        "properties": {
            "data": {"type": "array", "items": item},
            "next": {"type": ["string", "null"]},
            "offset": {"type": "string"},
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _answers(ok: int, body: dict[str, Any] | None, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok): {"description": "success", **(_json(body) if body else {})}}
    for status in (*errors, 503):
        out[str(status)] = {"description": "error", **_json(_ref("Error"))}
    return out


def _body(res: Resource, required: list[str] | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": _properties(res, True)}
    if required:
        schema["required"] = required
    return {"required": False, **_json(schema)}


def _path_params(path: str) -> list[dict[str, Any]]:
    names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}} for n in names]


_PAGE_QUERY = [
    {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "offset", "in": "query", "schema": {"type": "string"}},
    {"name": "tags", "in": "query", "schema": {"type": "string"}},
]


def _operations(ep: Endpoint) -> dict[str, Any]:
    res, name = ep.resource, ep.resource.entity
    entity = _ref(name)
    if ep.kind == COLLECTION:
        skip = ep.fk if ep.parent else None
        return {
            "get": {"parameters": _PAGE_QUERY, "responses": _answers(200, _ref(f"{name}_page"), 400, 404)},
            "post": {
                "requestBody": _body(res, _required(res, skip)),
                "responses": _answers(201, entity, 400, 404, 409, 415),
            },
        }
    writes = {"requestBody": _body(res, None), "responses": _answers(200, entity, 400, 404, 409, 415)}
    return {
        "get": {"responses": _answers(200, entity, 400, 404)},
        "put": writes,
        "patch": writes,
        "delete": {"responses": _answers(204, None, 400, 404, *((405,) if ep.kind == PARENT else ()))},
    }


def _object(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props} if props else {"type": "object"}


_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_TAG_ROW = _object(entity_name={"type": "string"}, entity_id={"type": "string"}, tag={"type": "string"})
_TAG_PAGE = _page(_TAG_ROW)
_ENTITY_NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]

# A row of GET /clustering/data-planes (controlplane.api.clustering): Kong's fields, then
# what the data plane should serve and how many versions it is behind.
_INTEGER, _STRING = {"type": "integer"}, {"type": "string"}
_HASH = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_VERSION = {"type": "integer", "minimum": 0}
_DATA_PLANE_FIELDS: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid"},
    "ip": _STRING,
    "hostname": _STRING,
    "version": _STRING,
    "sync_status": {"type": "string", "enum": list(SYNC_STATUSES)},
    "config_hash": _HASH,
    "last_seen": _INTEGER,
    "labels": {"type": "object", "additionalProperties": _STRING},
    "cert_details": {
        "type": "object",
        "required": ["expiry_timestamp"],
        "properties": {"expiry_timestamp": {"type": ["integer", "null"]}},
    },
    "ttl": _INTEGER,
    "updated_at": _INTEGER,
    "config_version": _VERSION,
    "expected_config_hash": _HASH,
    "expected_config_version": _VERSION,
    "versions_behind": _VERSION,
}
_DATA_PLANE = {"type": "object", "required": list(_DATA_PLANE_FIELDS), "properties": _DATA_PLANE_FIELDS}
# Kong's deprecated GET /clustering/status: node id -> a few of the row's fields.
_CLUSTER_STATUS_FIELDS = {"config_hash": _HASH, "hostname": _STRING, "ip": _STRING, "last_seen": _INTEGER}
_CLUSTER_STATUS = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "required": list(_CLUSTER_STATUS_FIELDS),
        "properties": _CLUSTER_STATUS_FIELDS,
    },
}

_SERVER_COUNTERS = (
    "connections_accepted",
    "connections_active",
    "connections_handled",
    "connections_reading",
    "connections_waiting",
    "connections_writing",
    "total_requests",
)

# the few hand-written routes (info, schemas, tags, clustering), described where they are listed
_FIXED: dict[str, dict[str, Any]] = {
    "/": {
        "get": {
            "responses": _answers(
                200,
                _object(
                    version={"type": "string"},
                    node_id={"type": "string"},
                    hostname={"type": "string"},
                    plugins=_object(),
                    configuration=_object(),
                    pids={
                        "type": "object",
                        "required": ["master", "workers"],
                        "properties": {"master": {"type": "integer"}, "workers": {"type": "array", "items": _INTEGER}},
                    },
                ),
            )
        }
    },
    "/status": {
        "get": {
            "responses": _answers(
                200,
                _object(
                    database=_object(reachable={"type": "boolean"}),
                    # nginx's stub_status counters, as Kong names them
                    server={
                        "type": "object",
                        "required": list(_SERVER_COUNTERS),
                        "properties": {key: {"type": "integer", "minimum": 0} for key in _SERVER_COUNTERS},
                    },
                ),
            )
        }
    },
    "/upstreams/{upstreams}/targets/all": {
        "get": {
            "parameters": [*_path_params("/upstreams/{upstreams}/targets/all"), *_PAGE_QUERY],
            "responses": _answers(200, _ref("targets_page"), 400, 404),
        }
    },
    "/endpoints": {"get": {"responses": _answers(200, _object(data=_STRING_LIST))}},
    "/openapi.json": {"get": {"responses": _answers(200, _object())}},
    "/plugins/enabled": {"get": {"responses": _answers(200, _object(enabled_plugins=_STRING_LIST))}},
    "/schemas/{name}": {"get": {"parameters": _ENTITY_NAME, "responses": _answers(200, _object(), 404)}},
    "/schemas/plugins/{name}": {"get": {"parameters": _ENTITY_NAME, "responses": _answers(200, _object(), 404)}},
    "/schemas/{name}/validate": {
        "post": {
            "parameters": _ENTITY_NAME,
            "requestBody": {"required": False, **_json(_object())},
            "responses": _answers(200, _object(message={"type": "string"}), 400, 404, 415),
        }
    },
    "/tags": {"get": {"parameters": _PAGE_QUERY[:2], "responses": _answers(200, _TAG_PAGE, 400)}},
    "/tags/{tags}": {
        "get": {
            "parameters": [*_path_params("/tags/{tags}"), *_PAGE_QUERY[:2]],
            "responses": _answers(200, _TAG_PAGE, 400),
        }
    },
    # a DB-less node's configuration (controlplane.api.config); 400 on a node with a database
    "/config": {
        "get": {"responses": _answers(200, _object(config=_STRING), 400)},
        "post": {
            "parameters": [
                {"name": name, "in": "query", "schema": {"type": "string"}} for name in ("check_hash", "flatten_errors")
            ],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {"schema": _object(config=_STRING)},
                    "application/x-www-form-urlencoded": {"schema": _object(config=_STRING)},
                },
            },
            "responses": {
                **_answers(201, _object(), 400, 413),
                "304": {"description": "the posted configuration is the one served"},
            },
        },
    },
    # both answer 400 on a node that is not a control plane
    "/clustering/data-planes": {
        "get": {"parameters": _PAGE_QUERY[:2], "responses": _answers(200, _page(_ref("data_plane")), 400)}
    },
    "/clustering/status": {"get": {"deprecated": True, "responses": _answers(200, _CLUSTER_STATUS, 400)}},
}


_OPTIONS_HEADERS = (
    "Allow",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Origin",
)
# Every path answers OPTIONS with its methods and Kong's CORS headers (controlplane.api.app)
_OPTIONS = {
    "responses": {
        "204": {
            "description": "the methods of the path",
            "headers": {name: {"schema": {"type": "string"}, "required": True} for name in _OPTIONS_HEADERS},
        }
    }
}


def _options(path: str) -> dict[str, Any]:
    params = _path_params(path)
    return {"parameters": params, **_OPTIONS} if params else _OPTIONS


def _with_params(path: str, ops: dict[str, Any]) -> dict[str, Any]:
    params = _path_params(path)
    return {"parameters": params, **ops} if params else ops


def _group_paths() -> dict[str, dict[str, Any]]:
    """Kong Enterprise's consumer group paths (controlplane/api/consumer_groups.py); a group's
    GET answers with its consumers, replacing the generic entity answer."""
    group, consumer = _ref("consumer_groups"), _ref("consumers")
    groups, consumers = {"type": "array", "items": group}, {"type": "array", "items": consumer}
    keys = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

    def add(field: str, answer: dict[str, Any]) -> dict[str, Any]:
        body = {"required": False, **_json(_object(**{field: keys}))}
        return {"requestBody": body, "responses": _answers(201, answer, 400, 404, 409, 415)}

    def listed(page: str) -> dict[str, Any]:
        return {"parameters": _PAGE_QUERY, "responses": _answers(200, _ref(page), 400, 404)}

    remove = {"delete": {"responses": _answers(204, None, 404)}}
    with_consumers = _object(consumer_group=group, consumers=consumers, plugins={"type": "array"})
    g, own = "/consumer_groups/{consumer_groups}", "/consumers/{consumers}/consumer_groups"
    list_consumers = [{"name": "list_consumers", "in": "query", "schema": {"type": "string"}}]
    return {
        g: {"get": {"parameters": list_consumers, "responses": _answers(200, with_consumers, 400, 404)}},
        f"{g}/consumers": {
            "get": listed("consumers_page"),
            "post": add("consumer", _object(consumer_group=group, consumers=consumers)),
            **remove,
        },
        f"{g}/consumers/{{consumers}}": remove,
        own: {
            "get": listed("consumer_groups_page"),
            "post": add("group", _object(consumer=consumer, consumer_groups=groups)),
            **remove,
        },
        f"{own}/{{consumer_groups}}": {
            "get": {"responses": _answers(200, _object(consumer_group=group), 404)},
            **remove,
        },
    }


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    paths: dict[str, Any] = dict(_FIXED)
    for ep in ENDPOINTS:
        paths[ep.path] = _with_params(ep.path, _operations(ep))
    for path, ops in _group_paths().items():
        paths[path] = _with_params(path, {**paths.get(path, {}), **ops})
    paths = {path: {**ops, "options": _options(path)} for path, ops in paths.items()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gantry Admin API",
            "version": __version__,
            "description": "Kong-compatible Admin API of the Gantry control plane.",
        },
        "paths": paths,
        "components": _components(),
    }


async def openapi(_: Request) -> Response:
    return json_response(document())


ROUTES = [Route("/openapi.json", openapi, methods=["GET"])]

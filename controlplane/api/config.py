"""`GET /config` and `POST /config` (kong/api/routes/config.lua): a DB-less node's whole
configuration, read as declarative YAML and replaced by a posted one; on a node with a
database both answer Kong's 400.

A posted configuration is declarative text (a `config` field of a JSON or form body, or the
raw body, JSON or YAML) or a JSON body that is the document itself (it has
`_format_version`). It is parsed and checked by the loader `kong.yml` goes through
(dataplane.declarative and the router/balancer compile check), then applied by the node in
one LMDB write transaction as a SIGHUP reload applies the file; a configuration refused
anywhere changes nothing. `check_hash=1`: 304 when the posted text describes the
configuration served (Kong compares an MD5 of the text; here a text seen already is
answered at once from its MD5, and another text whose entities hash alike is answered 304
too). `flatten_errors=1`: the 400 adds Kong's `flattened_errors`.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.export import to_yaml
from dataplane.config_source import ConfigRejected, LoadedConfig, load_document
from dataplane.declarative import DeclarativeConfigError
from dataplane.declarative.loader import load
from dataplane.lmdb_cache.lmdb_writer import StoreFullError

from . import errors
from .body import MAX_BODY_SIZE, MAX_DEPTH, nests_deeper
from .context import ctx
from .rendering import json_response

ONLY_DBLESS = "this endpoint is only available when Kong is configured to not use a database"
NO_CONFIG = "expected a declarative configuration"
EXITING = "Kong currently exiting"
# what parse errors of a posted text are attributed to
TEXT_NAME = "config"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class NodeExiting(Exception):
    """The node is stopping: a posted configuration is not applied."""


class DeclarativeNode(Protocol):
    """What a DB-less node gives its Admin API."""

    last_posted: tuple[str, str] | None  # (MD5 of a posted text, the hash of the config it made)

    def current_hash(self) -> str: ...

    def current_config(self) -> dict[str, list[dict]]: ...

    async def apply(self, loaded: LoadedConfig) -> None: ...  # raises NodeExiting, StoreFullError


def _truthy(value: Any) -> bool:
    """Kong's `truthy` (flatten_errors): "true", "1", "on", "yes" in any case, true or 1."""
    if isinstance(value, str):
        return value.lower() in ("true", "1", "on", "yes")
    return value is True or (type(value) is int and value == 1)


def _check_hash(value: Any) -> bool:
    """Kong's `tostring(params.check_hash) == "1"` (the older rule, kept for compatibility)."""
    return value == "1" or (type(value) is int and value == 1)


async def _params(request: Request) -> dict[str, Any]:
    """Kong's `self.params`: the query arguments, overridden by those of a JSON object or
    form body (other bodies carry none: they are read raw)."""
    params: dict[str, Any] = {k: v for k, v in request.query_params.items()}
    lowered = request.headers.get("content-type", "").lower()
    if "application/json" in lowered:
        raw = await request.body()
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise errors.message(400, "Cannot parse JSON body") from None
            if nests_deeper(body, MAX_DEPTH):
                raise errors.message(400, "Cannot parse JSON body")
            if isinstance(body, dict):
                params.update(body)
    elif lowered.startswith(_FORMS):
        try:
            form = await request.form(max_part_size=MAX_BODY_SIZE)
            for name, value in form.multi_items():
                params[name] = value if isinstance(value, str) else (await value.read()).decode("utf-8", "replace")
        except Exception as exc:  # python-multipart's parse errors have no common base class
            raise errors.message(400, f"Cannot parse form body: {exc}") from None
    return params


def _read_text(text: bytes) -> dict[str, Any]:
    """A posted text's document: JSON first (what decK and KIC send, read much faster), else
    YAML, whose errors are the ones reported (Kong's unserialize without a file name)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and not nests_deeper(data, MAX_DEPTH):
        return data
    return load(text, TEXT_NAME)


def _invalid(err: DeclarativeConfigError, flatten: bool) -> errors.ApiError:
    """Kong's 400 (errors:declarative_config, or declarative_config_flattened)."""
    body = err.to_kong_body()
    if not flatten:
        body.pop("flattened_errors", None)
    return errors.ApiError(400, body)


def _rejected(err: ConfigRejected) -> errors.ApiError:
    """A configuration the schemas accept but the router or a balancer cannot compile."""
    return _invalid(DeclarativeConfigError({"error": str(err)}), False)


def _entities(flat: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """Kong's 201 body: every entity by type and id (declarative.sanitize_output: no
    workspaces, no ws_id)."""
    out: dict[str, dict[str, dict]] = {}
    for kind, rows in flat.items():
        if rows and kind != "workspaces":
            out[kind] = {row["id"]: {k: v for k, v in row.items() if k != "ws_id"} for row in rows}
    return out


def _node(request: Request) -> DeclarativeNode:
    node = ctx(request).declarative
    if node is None:
        raise errors.message(400, ONLY_DBLESS)
    return node


def export_yaml(flat: dict[str, list[dict]]) -> str:
    """The declarative YAML of a flat configuration, as Kong's export writes it: a
    certificate's `snis` are the SNI entities listed on their own (as in a database export),
    not the names the Admin API shows on it, which the loader would read as nested SNIs."""
    certificates = [{k: v for k, v in row.items() if k != "snis"} for row in flat.get("certificates") or ()]
    return to_yaml({**flat, "certificates": certificates} if certificates else flat)


async def get_config(request: Request) -> Response:
    node = _node(request)
    flat = node.current_config()
    text = await asyncio.get_running_loop().run_in_executor(None, export_yaml, flat)
    return json_response({"config": text})


async def post_config(request: Request) -> Response:
    node = _node(request)
    api = ctx(request)
    params = await _params(request)
    flatten = _truthy(params.pop("flatten_errors", None))
    check = _check_hash(params.pop("check_hash", None))
    loop = asyncio.get_running_loop()

    text_md5 = None
    if "_format_version" in params:
        doc: Any = params
    else:
        config = params.get("config")
        if config is None:
            raw = await request.body()
            if not raw:
                raise errors.message(400, NO_CONFIG)
            config = raw
        if isinstance(config, dict):
            doc = config
        else:
            text = config if isinstance(config, bytes) else str(config).encode()
            text_md5 = hashlib.md5(text).hexdigest()
            current = node.current_hash()
            if check and node.last_posted is not None and node.last_posted == (text_md5, current):
                return Response(status_code=304)
            try:
                doc = await loop.run_in_executor(None, _read_text, text)
            except DeclarativeConfigError as err:
                raise _invalid(err, False) from None

    try:
        loaded = await loop.run_in_executor(None, load_document, doc, api.plugins)
    except DeclarativeConfigError as err:
        raise _invalid(err, flatten) from None
    except ConfigRejected as err:
        raise _rejected(err) from None
    if check and text_md5 is not None and loaded.hash == node.current_hash():
        node.last_posted = (text_md5, loaded.hash)
        return Response(status_code=304)
    try:
        await node.apply(loaded)
    except NodeExiting:
        raise errors.message(503, EXITING) from None
    except StoreFullError as err:
        raise errors.message(413, str(err)) from None
    if text_md5 is not None:
        node.last_posted = (text_md5, loaded.hash)
    body = await loop.run_in_executor(None, orjson.dumps, _entities(loaded.flat))
    return Response(body, status_code=201, media_type="application/json; charset=utf-8")


async def config_endpoint(request: Request) -> Response:
    return await (post_config if request.method == "POST" else get_config)(request)


ROUTES = [Route("/config", config_endpoint, methods=["GET", "POST"])]

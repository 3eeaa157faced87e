"""Request bodies as Kong's Admin API accepts them: JSON, form-urlencoded or multipart
(kong/api/api_helpers.lua before_filter and parse_params, kong/api/arguments.lua)."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from dataplane.schema import EntitySchema

from . import errors
from .arguments import decode

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_PART_SIZE = 10 * 1024 * 1024  # Kong's nginx_admin_client_max_body_size default, 10m


async def _part_value(value: str | UploadFile) -> str:
    """A multipart part is its text, whatever its Content-Type or filename: Kong's Admin API
    (Lapis) hands every part's content to the form decoder as a string, JSON ones included."""
    if isinstance(value, str):
        return value
    return (await value.read()).decode("utf-8", "replace")


async def read_json(request: Request) -> Any:
    """The body, parsed as JSON whatever its type, or 400 as Kong answers."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise errors.message(400, "Cannot parse JSON body") from None


async def read_args(request: Request, schema: EntitySchema, plugins: frozenset[str],
                    fallback: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entity fields a POST, PUT or PATCH carries; an absent body is no field at all.
    Form values are typed from the schema (`fallback`: see `arguments.infer`)."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        if await request.body():
            raise errors.message(415, "Unsupported Media Type")
        return {}
    lowered = content_type.lower()
    if "application/json" in lowered:
        data = await read_json(request)
        if not isinstance(data, dict):
            raise errors.message(400, "Cannot parse JSON body")
        return data
    if lowered.startswith(_FORMS):
        try:
            form = await request.form(max_part_size=MAX_PART_SIZE)
            pairs = [(name, await _part_value(value)) for name, value in form.multi_items()]
        except Exception as exc:  # python-multipart's parse errors have no common base class
            raise errors.message(400, f"Cannot parse form body: {exc}") from None
        return decode(pairs, schema, plugins, fallback)
    raise errors.message(415, "Unsupported Media Type")

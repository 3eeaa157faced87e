"""Request bodies as Kong's Admin API accepts them: JSON, form-urlencoded or multipart
(kong/api/api_helpers.lua before_filter and parse_params, kong/api/arguments.lua).

What cannot become entity fields is refused here, before any schema or store sees it: JSON
that does not parse or nests deeper than `MAX_DEPTH`, forms that are not UTF-8 or whose names
nest deeper than `MAX_DEPTH`. The body size limit is the Guard's (app.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from dataplane.schema import EntitySchema

from . import errors
from .arguments import TooDeep, decode

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_BODY_SIZE = 10 * 1024 * 1024  # Kong's nginx_admin_client_max_body_size default, 10m
# Far more than any entity needs; far less than what orjson writes back (255 levels, the
# stored row adding its own) or what recursive checks can walk
MAX_DEPTH = 100

CANNOT_PARSE_JSON = "Cannot parse JSON body"


async def _part_value(value: str | UploadFile) -> str:
    """A multipart part is its text, whatever its Content-Type or filename: Kong's Admin API
    (Lapis) hands every part's content to the form decoder as a string, JSON ones included."""
    if isinstance(value, str):
        return value
    return (await value.read()).decode("utf-8", "replace")


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether `value` has arrays or objects nested more than `limit` levels (walked without
    recursion, so that any depth orjson accepts can be measured)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


async def read_json(request: Request) -> Any:
    """The body, parsed as JSON whatever its type, or 400 as Kong answers. Too deep a body
    is one that does not parse, as to Kong's JSON decoder past its own depth limit."""
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise errors.message(400, CANNOT_PARSE_JSON) from None
    if nests_deeper(data, MAX_DEPTH):
        raise errors.message(400, CANNOT_PARSE_JSON)
    return data


def _form_error(reason: str) -> errors.ApiError:
    return errors.message(400, f"Cannot parse form body: {reason}")


async def _check_utf8(request: Request, urlencoded: bool) -> None:
    """Entity fields are text: a form whose values are not UTF-8 is refused rather than
    decoded as Latin-1 or with replacement characters, as the form parser would. In a
    urlencoded body the percent-escapes count; a multipart body is checked whole (its
    boundaries and headers are ASCII, so a part is UTF-8 whenever the body is)."""
    raw = await request.body()
    try:
        (unquote_to_bytes(raw) if urlencoded else raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _form_error("invalid UTF-8") from None


def _boundary(content_type: str) -> str:
    """The boundary a multipart Content-Type names, unquoted ("" when it names none), as
    kong/api/arguments.lua finds it."""
    at = content_type.find("boundary=", 20)
    if at < 0:
        return ""
    value = content_type[at + len("boundary=") :].split(";", 1)[0]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value


async def read_args(
    request: Request, schema: EntitySchema, plugins: frozenset[str], fallback: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The entity fields a POST, PUT or PATCH carries; an absent body is no field at all.
    Form values are typed from the schema (`fallback`: see `arguments.infer`)."""
    content_types = request.headers.getlist("content-type")
    if len(content_types) > 1:
        raise errors.message(400, "Multiple Content-Type headers not allowed")
    if not content_types:
        if await request.body():
            raise errors.message(415, "Unsupported Media Type")
        return {}
    lowered = content_types[0].lower()
    if "application/json" in lowered:
        data = await read_json(request)
        if not isinstance(data, dict):
            raise errors.message(400, CANNOT_PARSE_JSON)
        return data
    if lowered.startswith(_FORMS[1]) and not _boundary(lowered):
        # Kong's parser reads no fields from a multipart body it cannot split: the entity's
        # own checks answer (spec/02-integration/04-admin_api/03-consumers_routes_spec.lua)
        return {}
    if lowered.startswith(_FORMS):
        await _check_utf8(request, lowered.startswith(_FORMS[0]))
        try:
            form = await request.form(max_part_size=MAX_BODY_SIZE)
            pairs = [(name, await _part_value(value)) for name, value in form.multi_items()]
        except Exception as exc:  # python-multipart's parse errors have no common base class
            raise _form_error(str(exc)) from None
        try:
            return decode(pairs, schema, plugins, fallback, max_depth=MAX_DEPTH)
        except TooDeep as exc:
            raise _form_error(str(exc)) from None
    raise errors.message(415, "Unsupported Media Type")

"""What the logging plugins (file-log, http-log, tcp-log, udp-log) share: the record they send
(``kong.log.serialize()`` as JSON, the same object for each), Kong's ``custom_fields_by_lua``
field, and their queue's name and tag."""

from __future__ import annotations

import os
from typing import Any

import orjson

from dataplane.plugins import serializer
from dataplane.schema import Field
from dataplane.schema.messages import fmt_number

LUA_REFUSED = (
    "Gantry does not run Lua code: custom_fields_by_lua must be empty "
    "(a plugin calling kong.log.set_serialize_value adds or changes fields)"
)


def _no_lua(value: Any) -> str | None:
    return LUA_REFUSED if value else None


# Kong's typedefs.lua_code: a map of field names to Lua expressions, refused unless empty
custom_fields_by_lua = Field(
    "map",
    keys=Field("string", len_min=1),
    values=Field("string", len_min=1),
    custom_validator=_no_lua,
    description="Lua code as a key-value map (Kong runs it; Gantry refuses any)",
)


def entry(kong: Any) -> bytes:
    """The request's record (``kong.log.serialize()``) as one JSON document."""
    plugins = getattr(kong, "_r", None)
    if plugins is not None and hasattr(plugins, "log_entry"):
        return serializer.encoded(plugins)  # the same bytes for every logging plugin of the request
    return orjson.dumps(kong.log.serialize(), default=str)


def lua_text(value: Any) -> str:
    """A config value as Lua's tostring writes it (for Kong's queue names)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt_number(value)
    return str(value)


def reason(err: BaseException) -> str:
    """Why a send failed, as the cosocket errors Kong logs read (``connection refused``,
    ``timeout``)."""
    if isinstance(err, TimeoutError):
        return "timeout"
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno).lower()
    return str(err) or type(err).__name__

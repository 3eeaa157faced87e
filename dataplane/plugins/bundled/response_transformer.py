"""response-transformer: the response's headers and JSON body changed before the client gets
them (Kong's kong/plugins/response-transformer), in Kong's order remove, rename, replace, add,
append.

As Kong does, rename, replace and add look at the headers as they were when header_filter
began (a header removed earlier in the list still counts as there), and append always adds.

The ``json`` operations apply to a response whose Content-Type holds ``application/json``: the
body is gathered whole in body_filter, changed at its top level, and sent re-encoded; a body
that is not JSON goes on unchanged, with a warning in the log. Values are Kong's: each is the
config text as cjson would write it inside a JSON string, then cast by the entry's
``json_types`` (``number`` as Lua's tonumber reads it, ``boolean`` true only for ``true``).
A config without ``json`` entries never holds a body back.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from dataplane.schema import Field, validators as v
from dataplane.schema.fields import Validator, record

from ._common import split_pair

priority = 800
version = "3.10.0"

OPERATIONS = ("remove", "rename", "replace", "add", "append")
_PAIR = r"^[^:]+:.*$"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a value may hold HTAB, no other control byte


def _header_entry(*, value_is: str | None) -> Validator:
    """Kong's validate_headers: the name before the colon is a header name; the value after it,
    for ``value_is="name"``, one too (rename), for ``"value"`` a header value (the others)."""

    def check(entry: str) -> str | None:
        name, value = split_pair(entry) or ("nil", "")
        if v.header_name(name) is not None:
            return f"'{name}' is not a valid header"
        if value_is == "name" and v.header_name(value) is not None:
            return f"'{value}' is not a valid header"
        if value_is == "value" and _CONTROL.search(value):
            return f"'{value}' is not a valid header"
        return None

    return check


def _strings(match: str | None = None, check: Validator | None = None) -> Field:
    return Field("array", required=True, default=[], elements=Field("string", match=match, custom_validator=check))


_json_types = Field(
    "array", required=True, default=[], elements=Field("string", one_of=("boolean", "number", "string"))
)
_values = record(
    ("json", _strings(_PAIR)),
    ("json_types", _json_types),
    ("headers", _strings(_PAIR, _header_entry(value_is="value"))),
    required=True,
)


Schema = record(
    ("remove", record(("json", _strings()), ("headers", _strings()), required=True)),
    (
        "rename",
        record(("json", _strings(_PAIR)), ("headers", _strings(_PAIR, _header_entry(value_is="name"))), required=True),
    ),
    ("replace", _values),
    ("add", _values),
    ("append", _values),
    required=True,
)


def _pairs(entries: list[str] | None) -> list[tuple[str, str | None]]:
    """Kong's ``name:value`` entries: an empty value is no value."""
    out: list[tuple[str, str | None]] = []
    for entry in entries or ():
        name, value = split_pair(entry) or (entry, "")
        out.append((name, value or None))
    return out


def _headers(config: dict[str, Any], op: str) -> list[tuple[str, str | None]]:
    return _pairs((config.get(op) or {}).get("headers"))


def _json(config: dict[str, Any], op: str) -> list[tuple[str, str | None, str | None]]:
    """``(name, value, json type)`` of an operation's ``json`` entries (types by position)."""
    section = config.get(op) or {}
    types = section.get("json_types") or []
    entries = _pairs(section.get("json"))
    return [(name, value, types[i] if i < len(types) else None) for i, (name, value) in enumerate(entries)]


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.remove = [name for name, _ in _headers(config, "remove")]
        self.rename = _headers(config, "rename")
        self.replace = _headers(config, "replace")
        self.add = _headers(config, "add")
        self.append = _headers(config, "append")
        self.json = {op: _json(config, op) for op in OPERATIONS}
        if not any(self.json.values()):
            # nothing to do to bodies: none is held back or reframed (the runtime reads None as off)
            self.body_filter = None  # type: ignore[method-assign,assignment]

    def header_filter(self, kong: Any) -> None:
        response = kong.response
        before = response.get_headers()  # names in lower case; what the checks below look at
        for name in self.remove:
            response.clear_header(name)
        for old, new in self.rename:
            value = before.get(old.lower())
            if value is not None and new:
                _set(response, new, value)
                response.clear_header(old)
        for name, replacement in self.replace:
            if before.get(name.lower()) is not None and replacement:
                response.set_header(name, replacement)
        for name, added in self.add:
            if before.get(name.lower()) is None and added:
                response.set_header(name, added)
        for name, appended in self.append:
            if appended:  # Kong's add_header fails on no value: such an entry adds nothing here
                response.add_header(name, appended)

    def body_filter(self, kong: Any) -> None:
        content_type = kong.response.get_header("Content-Type")
        if not content_type or "application/json" not in content_type.lower():
            return
        body = kong.response.get_raw_body()
        if body is None:
            return  # more to come: the pieces are held back until the last one
        transformed = self._transform(body)
        if transformed is None:
            kong.log.warn("body transform failed: failed parsing json body")
            return
        kong.response.set_raw_body(transformed)

    def _transform(self, body: bytes) -> bytes | None:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict):
            return None  # Kong's operations index the top-level object
        ops = self.json
        for name, _, _ in ops["remove"]:
            document.pop(name, None)
        for old, new, _ in ops["rename"]:
            if old in document and new:
                document[new] = document.pop(old)
        for name, value, kind in ops["replace"]:
            cast = json_value(value, kind)
            if _truthy(document.get(name)) and cast is not None:
                document[name] = cast
        for name, value, kind in ops["add"]:
            cast = json_value(value, kind)
            if not _truthy(document.get(name)) and cast is not None:
                document[name] = cast
        for name, value, kind in ops["append"]:
            cast = json_value(value, kind)
            if cast is not None:
                document[name] = _appended(document.get(name), cast)
        return orjson.dumps(document)


def json_value(value: str | None, kind: str | None) -> Any:
    """A config value as Kong makes it: encoded as a JSON string (cjson writes nil as
    ``null``), its quotes dropped and ``\\"`` unescaped, then cast by ``kind``."""
    text = "null" if value is None else json.dumps(value, ensure_ascii=False)[1:-1].replace('\\"', '"')
    if kind == "number":
        return lua_tonumber(text)
    if kind == "boolean":
        return text == "true"
    return text


def lua_tonumber(text: str) -> int | float | None:
    """Lua's tonumber of a string: decimal (with exponent) or hexadecimal, blanks around it."""
    text = text.strip()
    try:
        return int(text, 16) if text.lower().lstrip("+-").startswith("0x") else int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return None if number != number or text.lower().lstrip("+-") in ("inf", "infinity", "nan") else number


def _truthy(value: Any) -> bool:
    """Lua's truth: only nil (JSON null) and false are false."""
    return value is not None and value is not False


def _appended(current: Any, value: Any) -> list[Any]:
    if isinstance(current, str):
        return [current, value]
    if isinstance(current, list):
        return [*current, value]
    return [value]


def _set(response: Any, name: str, value: str | list[str]) -> None:
    """kong.response.set_header with every value of a header that came more than once."""
    if isinstance(value, list):
        response.clear_header(name)
        for one in value:
            response.add_header(name, one)
    else:
        response.set_header(name, value)

"""response-transformer: the response's headers changed before the client gets them (Kong's
kong/plugins/response-transformer), in Kong's order remove, rename, replace, add, append.

As Kong does, rename, replace and add look at the headers as they were when header_filter
began (a header removed earlier in the list still counts as there), and append always adds.

What Gantry does not do of Kong's: the ``json`` operations, which rewrite a JSON body in
body_filter. Gantry does not run body_filter yet, so a config with any ``*.json`` entry is
refused when it is validated rather than accepted and ignored.
"""

from __future__ import annotations

import re
from typing import Any

from dataplane.schema import Field, validators as v
from dataplane.schema.fields import Validator, record

from ._common import split_pair

priority = 800
version = "3.10.0"

OPERATIONS = ("remove", "rename", "replace", "add", "append")
NO_JSON = (
    "Gantry does not transform response bodies yet (body_filter is not run): {} must be empty "
    "(response-transformer changes the response headers)"
)
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


def _no_json_transforms(config: dict[str, Any]) -> str | None:
    used = [f"{op}.json" for op in OPERATIONS if (config.get(op) or {}).get("json")]
    return NO_JSON.format(", ".join(used)) if used else None


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
    custom_validator=_no_json_transforms,
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


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.remove = [name for name, _ in _headers(config, "remove")]
        self.rename = _headers(config, "rename")
        self.replace = _headers(config, "replace")
        self.add = _headers(config, "add")
        self.append = _headers(config, "append")

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


def _set(response: Any, name: str, value: str | list[str]) -> None:
    """kong.response.set_header with every value of a header that came more than once."""
    if isinstance(value, list):
        response.clear_header(name)
        for one in value:
            response.add_header(name, one)
    else:
        response.set_header(name, value)

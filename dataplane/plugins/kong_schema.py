"""Kong's field tables, as kong-pdk plugins declare their ``Schema``, read into the schema DSL
of ``dataplane.schema``: ``({"message": {"type": "string", "default": "hi"}}, ...)`` is the
``config`` record with a ``message`` string field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dataplane.schema import Field

from .spec import PluginError

_TYPES = frozenset(("string", "number", "integer", "boolean", "array", "set", "map", "record"))
# Attributes copied as they are (Kong's names are the DSL's); lists become tuples.
_PLAIN = (
    "required",
    "unique",
    "len_eq",
    "len_min",
    "len_max",
    "starts_with",
    "match",
    "contains",
    "err",
    "description",
)
_TUPLES = ("one_of", "not_one_of", "between")
# Attributes Kong has and a plugin may write that change nothing Gantry checks.
_IGNORED = frozenset(("referenceable", "encrypted", "auto", "immutable", "deprecation", "indexed"))


def config_from_kong_fields(plugin: str, fields: Iterable[Any]) -> Field:
    """The ``config`` record of ``plugin`` from its list of one-key field tables."""
    return Field("record", required=True, fields=tuple(_named(plugin, item) for item in fields or ()))


def _named(plugin: str, item: Any) -> tuple[str, Field]:
    if not isinstance(item, Mapping) or len(item) != 1:
        raise PluginError(f"plugin '{plugin}': a schema field must be a table of one name, got {item!r}")
    ((name, spec),) = item.items()
    return str(name), _field(plugin, str(name), spec)


def _field(plugin: str, name: str, spec: Any) -> Field:
    if not isinstance(spec, Mapping):
        raise PluginError(f"plugin '{plugin}': field '{name}' is not a table")
    kind = spec.get("type")
    if kind not in _TYPES:
        raise PluginError(f"plugin '{plugin}': field '{name}' has no known type ({kind!r})")
    attrs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "type" or key in _IGNORED:
            continue
        if key == "default":
            attrs["default"] = value
        elif key in _PLAIN:
            attrs[key] = value
        elif key in _TUPLES:
            attrs[key] = tuple(value)
        elif key == "elements":
            attrs["elements"] = _field(plugin, f"{name}.elements", value)
        elif key in ("keys", "values"):
            attrs[key] = _field(plugin, f"{name}.{key}", value)
        elif key == "fields":
            attrs["fields"] = tuple(_named(plugin, sub) for sub in value)
        else:
            raise PluginError(f"plugin '{plugin}': field '{name}' uses '{key}', which Gantry does not check")
    return Field(kind, **attrs)

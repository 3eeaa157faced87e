"""Entity schemas: one definition of each Kong entity, shared by the declarative loader and
the Admin API.

    process("services", {"name": "s", "url": "http://example.com"}, now=1700000000)
        -> (complete entity, None) or (partial entity, Kong-shaped errors)
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from .describe import schema_json
from .entities import ENTITIES, get_schema
from .fields import MISSING, EntitySchema, EntitySubschema, Field, Shorthand
from .plugins import BUNDLED_PLUGINS, loaded_plugins, register_plugin_config
from .transformations import Transformation, transform, transformation_errors
from .validator import Errors, fill_defaults, is_uuid, validate, validate_field

__all__ = [
    "BUNDLED_PLUGINS",
    "ENTITIES",
    "MISSING",
    "EntitySchema",
    "EntitySubschema",
    "Errors",
    "Field",
    "Shorthand",
    "Transformation",
    "fill_defaults",
    "get_schema",
    "is_uuid",
    "loaded_plugins",
    "process",
    "register_plugin_config",
    "schema_json",
    "transform",
    "transformation_errors",
    "validate",
    "validate_field",
]


def process(
    entity: str,
    data: dict[str, Any],
    *,
    now: float | None = None,
    plugins: Collection[str] | None = None,
    extra_plugins: Collection[str] = (),
) -> tuple[dict[str, Any], Errors | None]:
    """Fill defaults and validate one entity as Kong does on insert.

    `plugins`: the plugin names the node runs (default: those this process loaded), any other
    is Kong's "not enabled"; `extra_plugins` are accepted besides (the plugin test kit's own).
    Returns the complete entity and None, or the entity as far as it got and the errors.
    """
    schema = get_schema(entity)
    plugins = frozenset(loaded_plugins() if plugins is None else plugins) | frozenset(extra_plugins)
    full, errors = fill_defaults(schema, data, now=time.time() if now is None else now, plugins=plugins)
    if errors is None:
        errors = validate(schema, full, plugins)
    if errors is None and schema.finalize is not None:
        schema.finalize(full)
    return full, errors

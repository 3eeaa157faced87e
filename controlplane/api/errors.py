"""Kong's Admin API error bodies (kong/db/errors.lua, kong/api/endpoints.lua): one exception,
`ApiError`, carrying the HTTP status and the exact body, and one constructor per Kong error.

Entity errors are `{"code", "name", "message", "fields"}`; routing errors are `{"message"}`.
"""

from __future__ import annotations

from typing import Any

from dataplane.declarative.errors import lua_pretty, to_json
from dataplane.schema import Errors

# kong/db/errors.lua codes and names; the HTTP status Kong's endpoints answer with each
SCHEMA_VIOLATION = 2
PRIMARY_KEY_VIOLATION = 3
FOREIGN_KEY_VIOLATION = 4
UNIQUE_VIOLATION = 5
NOT_FOUND = 6
INVALID_OFFSET = 7
INVALID_SIZE = 9
INVALID_UNIQUE = 10
INVALID_OPTIONS = 11
OPERATION_UNSUPPORTED = 12
FOREIGN_KEYS_UNRESOLVED = 13
REFERENCED_BY_OTHERS = 19
INVALID_PRIMARY_KEY = 1

_NAMES = {
    INVALID_PRIMARY_KEY: "invalid primary key",
    SCHEMA_VIOLATION: "schema violation",
    PRIMARY_KEY_VIOLATION: "primary key violation",
    FOREIGN_KEY_VIOLATION: "foreign key violation",
    UNIQUE_VIOLATION: "unique constraint violation",
    NOT_FOUND: "not found",
    INVALID_OFFSET: "invalid offset",
    INVALID_SIZE: "invalid size",
    INVALID_OPTIONS: "invalid options",
    OPERATION_UNSUPPORTED: "operation unsupported",
    FOREIGN_KEYS_UNRESOLVED: "foreign keys unresolved",
    REFERENCED_BY_OTHERS: "referenced by others",
}
_STATUS = {
    INVALID_PRIMARY_KEY: 400,
    SCHEMA_VIOLATION: 400,
    PRIMARY_KEY_VIOLATION: 400,  # kong/api/endpoints.lua's table, which every entity path answers by
    FOREIGN_KEY_VIOLATION: 400,
    UNIQUE_VIOLATION: 409,
    NOT_FOUND: 404,
    INVALID_OFFSET: 400,
    INVALID_SIZE: 400,
    INVALID_OPTIONS: 400,
    OPERATION_UNSUPPORTED: 405,
    FOREIGN_KEYS_UNRESOLVED: 400,
    REFERENCED_BY_OTHERS: 400,
}


class ApiError(Exception):
    """An error answer: `status` and the JSON `body` to send."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body


def message(status: int, text: str) -> ApiError:
    return ApiError(status, {"message": text})


def not_found() -> ApiError:
    return message(404, "Not found")


def method_not_allowed() -> ApiError:
    return message(405, "Method not allowed")


def _entity_error(code: int, text: str, fields: Any = None, key: str = "fields") -> ApiError:
    body: dict[str, Any] = {"code": code, "name": _NAMES[code], "message": text}
    if fields is not None:
        body[key] = fields
    return ApiError(_STATUS[code], body)


def _sort_key(k: Any) -> tuple:
    return (0, k, "") if isinstance(k, int) else (1, 0, str(k))


def schema_violation(errors: Errors) -> ApiError:
    """Kong's message lists entity-wide errors, then `field: msg` and `field.sub: msg` in key
    order: "schema violation (x)" for one, "N schema violations (x; y)" for several."""
    parts: list[str] = list(errors.get("@entity", ()))
    for name in sorted((k for k in errors if k != "@entity"), key=_sort_key):
        err = errors[name]
        if isinstance(err, dict):
            for sub in sorted(err, key=_sort_key):
                value = err[sub]
                shown = lua_pretty(value) if isinstance(value, (dict, list)) else value
                parts.append(f"{name}.{sub}: {shown}")
        else:
            parts.append(f"{name}: {err}")
    if len(parts) == 1:
        text = f"schema violation ({parts[0]})"
    else:
        text = f"{len(parts)} schema violations ({'; '.join(parts)})"
    return _entity_error(SCHEMA_VIOLATION, text, to_json(errors))


class _Null:
    """A null as Kong's messages write it (penlight shows cjson's null as "userdata: NULL",
    which kong/db/errors.lua replaces by `null`)."""

    def __str__(self) -> str:
        return "null"


_NULL = _Null()


def _nulls_shown(value: Any) -> Any:
    if value is None:
        return _NULL
    if isinstance(value, dict):
        return {k: _nulls_shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulls_shown(v) for v in value]
    return value


def unique_violation(fields: dict[str, Any]) -> ApiError:
    shown = lua_pretty(_nulls_shown(fields))
    return _entity_error(UNIQUE_VIOLATION, f"UNIQUE violation detected on '{shown}'", fields)


def primary_key_violation(key: dict[str, Any]) -> ApiError:
    """An insert naming the id of an entity that exists (kong/db/strategies/postgres: the
    primary key's unique violation)."""
    return _entity_error(PRIMARY_KEY_VIOLATION, f"primary key violation on key '{lua_pretty(key)}'", key)


def foreign_keys_unresolved(unresolved: dict[str, dict[str, tuple[Any, str]]]) -> ApiError:
    """Foreign keys given by a unique field that names no entity (kong/db/dao/init.lua
    resolve_foreign): `unresolved` is {foreign key: {field: (value, referenced entity)}}."""
    fields: dict[str, dict[str, str]] = {}
    parts: list[str] = []
    for fk in sorted(unresolved):
        for name in sorted(unresolved[fk]):
            value, parent = unresolved[fk][name]
            text = (
                f"the foreign key cannot be resolved with '{lua_pretty({name: value})}' "
                f"for an existing '{parent}' entity"
            )
            fields.setdefault(fk, {})[name] = text
            parts.append(f"{fk}.{name}: {text}")
    if len(parts) == 1:
        message_text = f"foreign key unresolved ({parts[0]})"
    else:
        message_text = f"{len(parts)} foreign keys unresolved ({'; '.join(parts)})"
    return _entity_error(FOREIGN_KEYS_UNRESOLVED, message_text, fields)


def invalid_unique(field: str, text: str) -> ApiError:
    """A path's endpoint key (or tag) that its field refuses (kong/db/dao/init.lua
    validate_unique_row_method): the name says which field, the message why."""
    return ApiError(400, {"code": INVALID_UNIQUE, "name": f"invalid unique {field}", "message": text})


def referenced_by_others(text: str) -> ApiError:
    """A delete Kong's DAO refuses while other entities name the entity (a CA certificate)."""
    return _entity_error(REFERENCED_BY_OTHERS, text)


def not_found_by_key(key: dict[str, Any]) -> ApiError:
    """A PATCH/update whose target is missing: by primary key, or by an endpoint key."""
    shown = lua_pretty(key)
    if set(key) == {"id"}:
        text = f"could not find the entity with primary key '{shown}'"
    else:
        text = f"could not find the entity with '{shown}'"
    return _entity_error(NOT_FOUND, text, key)


def invalid_primary_key(value: str) -> ApiError:
    key = {"id": value}
    return _entity_error(
        INVALID_PRIMARY_KEY, f"invalid primary key: '{lua_pretty(key)}'", {"id": "expected a valid UUID"}
    )


def foreign_key_violation(field: str, parent_entity: str, parent_key: dict[str, Any]) -> ApiError:
    text = f"the foreign key '{lua_pretty(parent_key)}' does not reference an existing '{parent_entity}' entity."
    return _entity_error(FOREIGN_KEY_VIOLATION, text, {field: parent_key})


def restricted(entity: str, referencing: str) -> ApiError:
    # Kong's `foreign_key_violation_restricted`: a delete refused by ON DELETE RESTRICT
    text = f"an existing '{referencing}' entity references this '{entity}' entity"
    return _entity_error(FOREIGN_KEY_VIOLATION, text, {"@referenced_by": referencing})


def invalid_offset(text: str) -> ApiError:
    """`text` says which offset and why, as "'x' is not a valid offset"."""
    return _entity_error(INVALID_OFFSET, text)


def invalid_size(text: str) -> ApiError:
    return _entity_error(INVALID_SIZE, text)


def operation_unsupported(operation: str, entity: str, by: str | None = None) -> ApiError:
    """A write on a node without a database (kong/db/strategies/off/init.lua), `by` the
    endpoint key a path named the entity with."""
    what = f"'{entity}' entities" if by is None else f"'{entity}' entities by '{by}'"
    return _entity_error(OPERATION_UNSUPPORTED, f"cannot {operation} {what} when not using a database")


def invalid_options(errors: dict[str, str]) -> ApiError:
    parts = [f"{k}: {errors[k]}" for k in sorted(errors)]
    text = f"invalid option ({parts[0]})" if len(parts) == 1 else f"{len(parts)} option violations ({'; '.join(parts)})"
    # Kong puts option errors under "options", not "fields"
    return _entity_error(INVALID_OPTIONS, text, errors, key="options")

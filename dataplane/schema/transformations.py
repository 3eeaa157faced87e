"""Kong's schema `transformations` on write (kong/db/schema/init.lua `Schema:transform`): a
function of some fields of a valid entity whose result replaces fields before it is stored,
such as basic-auth's password hash.

Kong runs them when its DAO inserts, updates or upserts an entity and when it loads a
declarative config whose `_transform` is not false; never on what a control plane sends to its
data planes, which is already in stored form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import messages as M
from .checking import is_nonempty
from .fields import EntitySchema


@dataclass(frozen=True)
class Transformation:
    """`on_write(*inputs, *needs)` returns the fields to replace. It runs only when every input
    is non-empty in what the write names (the whole entity of an insert, the body of a PATCH)
    and every need is non-empty in the entity; a dotted name reads into a record or a foreign
    key (`consumer.id`)."""

    inputs: tuple[str, ...]
    needs: tuple[str, ...]
    on_write: Callable[..., dict[str, Any]]


def _get(entity: Mapping[str, Any], path: str) -> Any:
    value: Any = entity
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def transform(schema: EntitySchema, entity: dict[str, Any], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`entity` (complete and valid) with the schema's transformations applied, in place.

    `given`: the fields the write named, when it is an update; None for an insert or a
    declarative entity, where every field of `entity` counts as given.
    """
    for tr in schema.transformations:
        named = entity if given is None else given
        if not all(is_nonempty(_get(named, f)) for f in tr.inputs):
            continue
        args = [_get(entity, f) for f in (*tr.inputs, *tr.needs)]
        if not all(is_nonempty(a) for a in args):
            continue
        entity.update(tr.on_write(*args))
    return entity


def _mutually_required(entity: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    given = sum(is_nonempty(_get(entity, n)) for n in names)
    return None if given in (0, len(names)) else M.MUTUALLY_REQUIRED.format(M.quoted_list(list(names)))


def transformation_errors(
    schema: EntitySchema,
    entity: Mapping[str, Any],
    given: Mapping[str, Any] | None = None,
    stored: Mapping[str, Any] | None = None,
) -> list[str]:
    """Kong's checks that a write can be transformed (`run_transformation_checks`): the
    entity-wide messages, none when it can.

    A write naming an input, or changing a need of the `stored` entity it updates, must give
    all of them or none: a basic-auth credential cannot move to another consumer without its
    password, which is salted with the consumer's id. `given`: what the write names (None: an
    insert, the whole `entity`). As in Kong, a need the update does not name counts as
    changed, so a top-level PATCH of a password must name the consumer too (a nested path
    names it).
    """
    errors = []
    source = entity if given is None else given
    for tr in schema.transformations:
        names = (*tr.inputs, *tr.needs)
        none_set = not any(is_nonempty(_get(source, f)) for f in tr.inputs)
        needs_changed = stored is not None and any(_get(source, f) != _get(stored, f) for f in tr.needs)
        if not needs_changed and none_set:
            continue
        problem = _mutually_required(source if needs_changed else entity, names) or _mutually_required(
            source, tr.inputs
        )
        if problem is not None:
            errors.append(problem)
    return errors

"""Field definitions: plain data interpreted by `validator`, shaped like Kong's schema tables.

A `Field` is immutable; calling it returns a copy with some attributes overridden, which is how
Kong's typedefs are specialised (`typedefs.port { default = 80 }` is `PORT(default=80)`).
Patterns are Python regular expressions translated from Kong's Lua patterns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field as dc_field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import EntityRule
    from .transformations import Transformation

MISSING: Any = object()  # "no default": distinct from a default of None (null)

# A custom validator returns None when the value is fine, else Kong's message.
Validator = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Field:
    type: str  # string integer number boolean array set map record foreign
    required: bool = False
    default: Any = MISSING
    auto: bool = False
    uuid: bool = False
    timestamp: bool = False
    unique: bool = False
    eq_null: bool = False  # Kong's `eq = null`: the field must stay unset
    ne: Any = MISSING
    one_of: tuple[Any, ...] | None = None
    not_one_of: tuple[Any, ...] | None = None
    between: tuple[float, float] | None = None
    len_eq: int | None = None
    len_min: int | None = None
    len_max: int | None = None
    starts_with: str | None = None
    match: str | None = None
    match_none: tuple[tuple[str, str], ...] = ()  # (pattern, message)
    match_all: tuple[tuple[str, str], ...] = ()
    match_any: tuple[tuple[str, ...], str] | None = None  # (patterns, message)
    contains: str | None = None
    mutually_exclusive_subsets: tuple[tuple[str, ...], ...] | None = None
    custom_validator: Validator | None = None
    err: str | None = None  # replaces any validator message, as Kong's `err`
    elements: Field | None = None
    keys: Field | None = None
    values: Field | None = None
    # record fields in declaration order; None means "any object" (plugin config before
    # its plugin schema is known)
    fields: tuple[tuple[str, Field], ...] | None = None
    entity_checks: tuple[EntityRule, ...] = ()
    # a record's `shorthand_fields`: input-only keys expanded into its fields when filled
    shorthands: tuple[Shorthand, ...] = ()
    reference: str | None = None
    transient: bool = False
    description: str | None = None

    def __call__(self, **overrides: Any) -> Field:
        return dataclasses.replace(self, **overrides)

    def field_map(self) -> dict[str, Field]:
        return dict(self.fields or ())


def record(*fields: tuple[str, Field], **kw: Any) -> Field:
    return Field("record", fields=tuple(fields), **kw)


@dataclass(frozen=True)
class Shorthand:
    """Kong's `shorthand_fields`: an input-only key expanded into real fields."""

    name: str
    field: Field
    expand: Callable[[Any], dict[str, Any] | None]


@dataclass(frozen=True)
class EntitySchema:
    name: str
    fields: tuple[tuple[str, Field], ...]
    primary_key: tuple[str, ...] = ("id",)
    endpoint_key: str | None = None
    cache_key: tuple[str, ...] | None = None
    entity_checks: tuple[EntityRule, ...] = ()
    shorthands: tuple[Shorthand, ...] = ()
    subschema_key: str | None = None
    subschemas: dict[str, EntitySubschema] = dc_field(default_factory=dict)
    subschema_error: str | None = None
    ttl: bool = False
    # fill in and validate each element of an abstract record from its subschema
    dynamic_subschemas: Callable[[str], EntitySubschema | None] | None = None
    # applied to a valid entity, as Kong's DAO or transformations do on insert
    finalize: Callable[[dict[str, Any]], None] | None = None
    # Kong's `transformations` (on write): see `transformations.transform` for when they run
    transformations: tuple[Transformation, ...] = ()

    def field_map(self) -> dict[str, Field]:
        return dict(self.fields)

    def foreign_fields(self) -> list[tuple[str, Field]]:
        return list(self.foreign)

    # Computed once per schema (cached_property writes the instance dict, which a frozen
    # dataclass allows): read for every entity of a large config.
    @cached_property
    def fields_by_name(self) -> Mapping[str, Field]:
        return MappingProxyType(dict(self.fields))

    @cached_property
    def foreign(self) -> tuple[tuple[str, Field], ...]:
        return tuple((n, f) for n, f in self.fields if f.type == "foreign")

    @cached_property
    def references(self) -> tuple[tuple[str, str], ...]:
        """(field, referenced entity) of each foreign key."""
        out = []
        for name, f in self.foreign:
            if f.reference is None:
                raise TypeError(f"{self.name}.{name}: a foreign field must name the entity it references")
            out.append((name, f.reference))
        return tuple(out)


@dataclass(frozen=True)
class EntitySubschema:
    name: str
    fields: tuple[tuple[str, Field], ...] = ()
    entity_checks: tuple[EntityRule, ...] = ()

"""Kong's entity checks (cross-field rules) as data; `validator` interprets them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AtLeastOneOf:
    fields: tuple[str, ...]


@dataclass(frozen=True)
class MutuallyRequired:
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Distinct:
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Conditional:
    """If `if_field` passes `if_match`, `then_field` must pass `then_match`.

    The match dicts hold Field attribute overrides, applied over the field's own definition
    as Kong's metatable fallback does.
    """

    if_field: str
    if_match: dict[str, Any]
    then_field: str
    then_match: dict[str, Any]
    then_err: str | None = None


@dataclass(frozen=True)
class ConditionalAtLeastOneOf:
    if_field: str
    if_match: dict[str, Any]
    then_at_least_one_of: tuple[str, ...]
    then_err: str | None = None
    else_match: dict[str, Any] | None = None
    else_then_at_least_one_of: tuple[str, ...] = ()
    else_then_err: str | None = None


@dataclass(frozen=True)
class Custom:
    """Kong's `custom_entity_check`: runs only when its fields are present and valid."""

    field_sources: tuple[str, ...]
    fn: Callable[[dict[str, Any]], str | None]


EntityRule = AtLeastOneOf | MutuallyRequired | Distinct | Conditional | ConditionalAtLeastOneOf | Custom

"""How each entity is laid out in PostgreSQL, derived from its dataplane schema.

Every entity table holds the complete row as JSONB plus real columns for what the database
must enforce or search: the id, one `<field>_id` column per foreign key, the unique and
lookup fields, tags and timestamps. The constraint names here match migrations/core.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dataplane.schema import ENTITIES, get_schema

# Kong's schemas declare `on_delete = "cascade"` on these foreign keys; every other foreign
# key restricts the delete of its parent (Kong's "an existing ... references this ...").
CASCADING: Final = frozenset(
    {
        ("plugins", "route"),
        ("plugins", "service"),
        ("plugins", "consumer"),
        ("targets", "upstream"),
        ("keyauth_credentials", "consumer"),
        ("basicauth_credentials", "consumer"),
        ("acls", "consumer"),
        ("jwt_secrets", "consumer"),
        ("hmacauth_credentials", "consumer"),
        ("plugins", "consumer_group"),
        ("consumer_group_consumers", "consumer_group"),
        ("consumer_group_consumers", "consumer"),
    }
)

# Uniqueness Kong enforces through a cache_key column rather than a unique field.
CACHE_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "plugins": ("name", "route", "service", "consumer", "consumer_group"),
    "targets": ("upstream", "target"),
    "acls": ("consumer", "group"),
    "consumer_group_consumers": ("consumer_group", "consumer"),
}


@dataclass(frozen=True)
class ForeignKey:
    field: str  # "service"
    column: str  # "service_id"
    parent: str  # "services"
    cascade: bool


@dataclass(frozen=True)
class Table:
    entity: str
    foreign: tuple[ForeignKey, ...]
    columns: tuple[str, ...]  # text columns copied out of the row
    uniques: dict[str, tuple[str, ...]]  # constraint name -> the entity fields it covers
    endpoint_key: str | None

    def foreign_key(self, field: str) -> ForeignKey:
        for fk in self.foreign:
            if fk.field == field:
                return fk
        raise KeyError(f"'{self.entity}' has no foreign key '{field}'")


def _table(entity: str) -> Table:
    schema = get_schema(entity)
    foreign = tuple(
        ForeignKey(name, f"{name}_id", parent, (entity, name) in CASCADING) for name, parent in schema.references
    )
    fk_fields = {fk.field for fk in foreign}
    unique = [name for name, f in schema.fields if f.unique and name != "id"]
    uniques: dict[str, tuple[str, ...]] = {f"{entity}_{name}_key": (name,) for name in unique}
    if entity in CACHE_KEYS:
        uniques[f"{entity}_cache_key"] = CACHE_KEYS[entity]
    wanted = [*unique, *CACHE_KEYS.get(entity, ()), schema.endpoint_key]
    columns = tuple(dict.fromkeys(n for n in wanted if n is not None and n not in fk_fields))
    return Table(entity, foreign, columns, uniques, schema.endpoint_key)


TABLES: Final[dict[str, Table]] = {name: _table(name) for name in ENTITIES}

# Parents first: the flat config's order (docs/internals.md).
ORDER: Final = tuple(ENTITIES)


def table(entity: str) -> Table:
    try:
        return TABLES[entity]
    except KeyError:
        raise ValueError(f"unknown entity '{entity}'; one of: {', '.join(TABLES)}") from None


def constraint_fields(name: str) -> tuple[str, tuple[str, ...]] | None:
    """(entity, fields) of a unique constraint, from its name."""
    for t in TABLES.values():
        if name in t.uniques:
            return t.entity, t.uniques[name]
    return None


def constraint_foreign_key(name: str) -> tuple[str, ForeignKey] | None:
    """(referencing entity, foreign key) of a foreign key constraint, from its name."""
    for t in TABLES.values():
        for fk in t.foreign:
            if name == f"{t.entity}_{fk.column}_fkey":
                return t.entity, fk
    return None

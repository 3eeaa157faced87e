"""SQL text and parameters for one entity table, built once from its Table layout."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .errors import ValueTooLong
from .tables import Table, table


def _q(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True)
class Statements:
    table: Table
    columns: tuple[str, ...]  # every column, in parameter order
    insert: str
    update: str
    upsert: str
    select: str

    def upsert_from(self, source: str) -> str:
        """`upsert` for every row of the table `source` (same columns), one statement."""
        names = ", ".join(map(_q, self.columns))
        return (
            f"INSERT INTO {_q(self.table.entity)} ({names}) SELECT {names} FROM {_q(source)}"
            f"{_on_conflict(self.columns)}"
        )

    def params(self, row: dict) -> list:
        """Column values of `row`, in `columns` order; ValueTooLong for a value no index can
        hold."""
        t = self.table
        fks = [(row.get(fk.field) or {}).get("id") for fk in t.foreign]
        indexed = [row.get(c) for c in t.columns]
        tags = row.get("tags")
        _check_indexed(t.entity, t.columns, indexed, tags)
        return [row["id"], row.get("created_at"), row.get("updated_at"), tags, row, *fks, *indexed]


# A btree (unique and lookup columns) or GIN (tags) index entry holds at most about 2.7 kB,
# and PostgreSQL refuses a row past that: a round limit well inside it, in UTF-8 bytes.
MAX_INDEXED_BYTES = 2048


def _too_long(value: object) -> bool:
    # a character is at most 4 bytes: only long strings need encoding to tell
    return (
        isinstance(value, str)
        and len(value) * 4 > MAX_INDEXED_BYTES
        and len(value.encode("utf-8", "surrogatepass")) > MAX_INDEXED_BYTES
    )


def _check_indexed(entity: str, columns: tuple[str, ...], values: list, tags: object) -> None:
    for column, value in zip(columns, values, strict=True):
        if _too_long(value):
            raise ValueTooLong(entity, column, MAX_INDEXED_BYTES)
    if isinstance(tags, list):
        for position, tag in enumerate(tags, start=1):
            if _too_long(tag):
                raise ValueTooLong(entity, "tags", MAX_INDEXED_BYTES, position)


def _on_conflict(columns: tuple[str, ...]) -> str:
    # xmax is 0 on a freshly inserted tuple: tells created from replaced in one round trip.
    return (
        ' ON CONFLICT ("id") DO UPDATE SET '
        + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in columns[1:])
        + ' RETURNING "id"::text AS "id", (xmax = 0) AS "created"'
    )


@cache
def statements(entity: str) -> Statements:
    t = table(entity)
    columns = ("id", "created_at", "updated_at", "tags", "row", *(fk.column for fk in t.foreign), *t.columns)
    names = ", ".join(map(_q, columns))
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    insert = f"INSERT INTO {_q(entity)} ({names}) VALUES ({placeholders})"
    update = (
        f"UPDATE {_q(entity)} SET "
        + ", ".join(f"{_q(c)} = ${i}" for i, c in enumerate(columns[1:], start=2))
        + ' WHERE "id" = $1'
    )
    upsert = insert + _on_conflict(columns)
    select = f'SELECT "row" FROM {_q(entity)}'
    return Statements(t, columns, insert, update, upsert, select)
